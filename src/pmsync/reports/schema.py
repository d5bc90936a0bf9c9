"""The JSON Schema of report JSON, derived from the facts dataclasses.

Deriving it (rather than writing it by hand) means the schema cannot drift from
what ``to_json`` writes: a field added to ``facts.py`` appears in both. Each
dataclass becomes a definition under ``$defs``; its docstring becomes the
description, so the schema documents itself. ``docs/reports.md`` shows it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from typing import Any

from pmsync.reports import facts

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    date: {"type": "string", "format": "date"},
    datetime: {"type": "string", "format": "date-time"},
}


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        _define(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema(arg, defs) for arg in typing.get_args(tp)]}
    if origin is tuple:
        return {"type": "array", "items": _schema(typing.get_args(tp)[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(typing.get_args(tp)[1], defs)}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _define(cls: type, defs: dict[str, Any]) -> None:
    if cls.__name__ in defs:
        return
    defs[cls.__name__] = {}  # placeholder: breaks recursion
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    defs[cls.__name__] = {
        "type": "object",
        "description": (cls.__doc__ or "").strip(),
        "properties": {f.name: _schema(hints[f.name], defs) for f in fields},
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }


def report_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a project or portfolio report."""
    defs: dict[str, Any] = {}
    project = _schema(facts.ProjectReport, defs)
    portfolio = _schema(facts.PortfolioReport, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pmsync report",
        "description": "A project status report or the portfolio report (see kind).",
        "oneOf": [project, portfolio],
        "$defs": defs,
    }
