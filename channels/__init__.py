"""Chat channels: the web widget's socket.io, REST for servers, Telegram and Slack.

- ``channels.credentials`` decides which channels are live from the settings (environment /
  ``.env``) and writes the credentials file Rasa is started with.
- ``channels.socketio.SocketIOInput``: session ids made and signed by the server.
- ``channels.rest.RestInput``: a trusted server-side interface behind a bearer token.
- ``channels.telegram.TelegramInput`` and ``channels.slack.SlackInput`` are Rasa's channels with
  the webhook requests authenticated (Telegram's secret token header; Slack's signing secret with
  replay protection), repeated deliveries dropped, and the platform API base URL configurable.
- ``channels.conversations``: conversation ids prefixed by channel (``telegram:<chat id>``), and
  the cache of requests already seen (in memory, or Redis in the scale-out set-up).
"""
