"""The content module: every answer the assistant gives, with its sources.

Topics live as YAML under ``topics/`` (one file per exercise type, symptom or information topic),
the citations in ``sources.yml`` and the conversational texts in ``responses.yml``. ``load()``
reads and validates all of it; a broken file fails with a ``ContentError`` naming file and field.
"""
from content.model import (
    EXERCISE,
    FACETS,
    INFO,
    SYMPTOM,
    Content,
    ContentError,
    Facet,
    Recommendation,
    Response,
    SafetyAnswer,
    Source,
    Topic,
)
from content.loader import CONTENT_DIR, load

__all__ = [
    "CONTENT_DIR",
    "EXERCISE",
    "FACETS",
    "INFO",
    "SYMPTOM",
    "Content",
    "ContentError",
    "Facet",
    "Recommendation",
    "Response",
    "SafetyAnswer",
    "Source",
    "Topic",
    "load",
]
