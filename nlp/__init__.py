"""The project's own spaCy pipeline and the custom Rasa NLU components that use it."""
