"""Extensions of Rasa 3.6 that the Rasa server loads from `endpoints.yml`.

- `tracker_store.WindowedSQLTrackerStore`: Rasa's SQL tracker store (SQLite or PostgreSQL) that
  hands Rasa only the recent part of a long conversation, so a message costs the same at turn
  200 as at turn 1; the database keeps every event.
- `speedups`: fixes for two per-message hot spots of Rasa 3.6 (see bench/README.md for the
  profile), applied when the tracker store module is imported.
"""
