"""PROTOTYPE (bench only): two Rasa 3.6 hot spots found with pyinstrument, patched in process.

1. `Event.resolve_by_type` walks every Event subclass (with `inspect.isabstract`) for EVERY event
   it deserialises; a tracker is deserialised at least twice per message (tracker store, graph
   runner), so the cost grows with the conversation. Patched: a cached type_name -> class map.
2. `RemoteAction._validate_action_result` calls `jsonschema.validate`, which re-checks the
   (large, constant) events schema on every custom-action call. Patched: the validator is built
   and checked once.

Behaviour is unchanged (same classes, same validation errors). Importing this module applies
the patches; it must be imported in the Rasa server process before messages arrive, e.g. from
a module Rasa already imports (a custom component or tracker store module), or with

    python -c "import bench.rasa_speedups, sys; from rasa.__main__ import main; sys.argv[0] = 'rasa'; main()" run ...
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Text, Type

import rasa.shared.utils.common
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event

_EVENT_TYPES: Dict[Text, Type[Event]] = {}
_original_resolve = Event.resolve_by_type


def _resolve_by_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    cls = _EVENT_TYPES.get(type_name)
    if cls is None:
        for candidate in rasa.shared.utils.common.all_subclasses(Event):
            _EVENT_TYPES.setdefault(candidate.type_name, candidate)
        cls = _EVENT_TYPES.get(type_name)
    if cls is not None:
        return cls
    return _original_resolve(type_name, default)  # the original's fallbacks and error


_validator: Any = None


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    global _validator
    from jsonschema import ValidationError, validators

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
            ". Failed to validate Action server response from API, make sure your response from the "
            "Action endpoint is valid."
        )
        raise error


Event.resolve_by_type = staticmethod(_resolve_by_type)
RemoteAction._validate_action_result = _validate_action_result
