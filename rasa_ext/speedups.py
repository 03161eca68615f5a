"""Two per-message hot spots of Rasa 3.6, fixed in process (found with pyinstrument, see
bench/README.md "Where the time goes").

1. `Event.resolve_by_type` walks every Event subclass (with `inspect.isabstract`) for every
   event it deserialises, and a tracker is deserialised at least twice per message (tracker
   store, graph runner). Here: a type_name -> class map, built once.
2. `RemoteAction._validate_action_result` calls `jsonschema.validate`, which re-checks the large,
   constant events schema (`check_schema`) on every custom-action call. Here: the validator is
   built and its schema checked once.

Behaviour is unchanged: the same classes are returned, unknown names still go through Rasa's
own lookup (and its error), invalid action results raise the same ValidationError.
`apply()` is idempotent; `rasa_ext.tracker_store` calls it when Rasa imports the tracker store.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Text, Type

import rasa.shared.utils.common
from jsonschema import ValidationError, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event

_original_resolve = Event.resolve_by_type
_event_types: Dict[Text, Type[Event]] = {}
_validator: Any = None


def _resolve_by_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    cls = _event_types.get(type_name)
    if cls is None:
        # (re)build: event classes defined after the last build (custom events) are picked up
        for candidate in rasa.shared.utils.common.all_subclasses(Event):
            _event_types.setdefault(candidate.type_name, candidate)
        cls = _event_types.get(type_name)
    if cls is not None:
        return cls
    return _original_resolve(type_name, default)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    global _validator
    if _validator is None:
        schema = self.action_response_format_spec()
        cls = validators.validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema)
    try:
        _validator.validate(result)
        return True
    except ValidationError as error:
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error


def apply() -> None:
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    RemoteAction._validate_action_result = _validate_action_result


def applied() -> bool:
    return Event.__dict__["resolve_by_type"].__func__ is _resolve_by_type
