"""Chat channels beyond REST and socket.io: Telegram and Slack.

- ``channels.credentials`` decides which channels are live from the settings (environment /
  ``.env``) and writes the credentials file Rasa is started with.
- ``channels.telegram.TelegramInput`` and ``channels.slack.SlackInput`` are Rasa's channels with
  the webhook requests authenticated (Telegram's secret token header; Slack's signing secret with
  replay protection) and the platform API base URL configurable.
"""
