"""The content module: every answer the assistant gives, with its sources.

Topics live as YAML under ``topics/`` (one file per exercise type, symptom, information topic or
common question), the citations in ``sources.yml``, the evidence levels in ``evidence.yml`` and
the conversational texts in ``responses.yml``. ``load()``
reads and validates all of it; a broken file fails with a ``ContentError`` naming file and field.
"""
from content.model import (
    CAUTION,
    EMERGENCY,
    EXERCISE,
    FACETS,
    FAQ,
    INFO,
    SYMPTOM,
    Content,
    ContentError,
    EvidenceLevel,
    Facet,
    Recommendation,
    Response,
    SafetyAnswer,
    Source,
    Topic,
)
from content.loader import CONTENT_DIR, load

__all__ = [
    "CAUTION",
    "CONTENT_DIR",
    "EMERGENCY",
    "EXERCISE",
    "FACETS",
    "FAQ",
    "INFO",
    "SYMPTOM",
    "Content",
    "ContentError",
    "EvidenceLevel",
    "Facet",
    "Recommendation",
    "Response",
    "SafetyAnswer",
    "Source",
    "Topic",
    "load",
]
