"""The facet vocabulary (facets.yml): words that say which facet of a topic a message asks about."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

import yaml

from content.model import FACETS, ContentError

# The general answer (summary and benefits) needs no words: it is what a message gets by default.
ASKED_FACETS = tuple(f for f in FACETS if f not in ("summary", "benefits"))


def load(path: Path) -> Dict[str, Tuple[str, ...]]:
    """facet -> phrases, in the file's order (its priority); each phrase belongs to one facet."""
    where = str(path)
    if not path.is_file():
        raise ContentError(where, "(file)", "file is missing")
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ContentError(where, "(file)", f"not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ContentError(where, "(file)", "must be a mapping")
    facets: Dict[str, Tuple[str, ...]] = {}
    owner: Dict[str, str] = {}
    for facet, phrases in data.items():
        if facet not in ASKED_FACETS:
            raise ContentError(where, str(facet), f"unknown facet (known: {', '.join(ASKED_FACETS)})")
        if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise ContentError(where, facet, "must be a non-empty list of phrases")
        normalised = tuple(" ".join(p.lower().split()) for p in phrases)
        for phrase in normalised:
            if owner.setdefault(phrase, facet) != facet:
                raise ContentError(where, facet, f"'{phrase}' is also a phrase of '{owner[phrase]}'")
        facets[facet] = normalised
    return facets
