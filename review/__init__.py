"""Conversation review for support staff: reads Rasa's tracker store, keeps its own review_* tables.

Modules: config (settings), db (engines), migrations (review_* schema), sync (summary and search
index from the events table), queries (list, search, transcript, tags, notes, labels), redact
(personal data), auth (accounts, sessions, throttling), audit, exports, retention (purge),
app (the web pages, `python -m review.app`) and cli (`python -m review.cli`).
"""
