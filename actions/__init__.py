"""The rasa-sdk action server: thin actions that read the tracker and answer from the content module."""
