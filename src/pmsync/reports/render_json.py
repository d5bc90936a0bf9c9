"""JSON output: the facts exactly as collected, for scripts, wikis and the report history.

The JSON is the contract other tools read, so it is plain and stable: objects
with the dataclass field names, dates as ``YYYY-MM-DD``, instants as ISO 8601
UTC with ``Z``, tuples as arrays, floats rounded to 6 significant decimals so
that a golden file does not flicker on the last bit. A section pmsync could not
fill is ``{"available": false, "reason": "..."}``; a filled one that may be
unavailable carries ``"available": true``. The schema is ``schema.py``'s.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, date, datetime
from typing import Any

import orjson

from pmsync.reports.facts import Point, Report


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_FIELDS: dict[type, tuple[str, ...] | None] = {}
"""Each type's dataclass field names in order (None: not a dataclass), read once per type."""


def _field_names(cls: type) -> tuple[str, ...] | None:
    if cls not in _FIELDS:
        is_data = dataclasses.is_dataclass(cls)
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls)) if is_data else None
    return _FIELDS[cls]


def to_data(value: Any) -> Any:
    """Return ``value`` (a facts tree) as JSON-ready Python data."""
    names = _field_names(type(value))
    if names is not None:
        return {name: to_data(getattr(value, name)) for name in names}
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, tuple | list):
        if value and type(value[0]) is Point:  # most of a report's objects are chart points
            return _points(value)
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in sorted(value.items())}
    return value


def _points(points: tuple[Point, ...] | list[Point]) -> list[Any]:
    """Return a series' points as ``to_data`` does, at a fifth of its cost.

    A report holds about two thousand of them; each one through ``to_data`` was
    six calls. The same dicts: a date's ISO day, a float rounded, anything else
    as ``to_data`` makes it (the tests compare both ways).
    """
    return [
        {
            "day": p.day.isoformat() if type(p.day) is date else to_data(p.day),
            "value": round(p.value, 6) if type(p.value) is float else to_data(p.value),
        }
        if type(p) is Point
        else to_data(p)
        for p in points
    ]


def to_json(report: Report, *, indent: int | None = 2) -> str:
    """Return the report's facts as JSON text (UTF-8, keys in contract order).

    orjson writes the two-space indented form several times faster than ``json``
    and the same text; ``json`` takes what orjson refuses (integers beyond 64
    bits). A float that is not a number is ``null``, as JSON has no NaN.
    """
    return dumps(to_data(report), indent=indent)


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """Return ``to_data`` output as JSON text (see ``to_json``)."""
    if indent == 2:
        try:
            return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
        except TypeError:
            pass
    return json.dumps(_finite(data), indent=indent, ensure_ascii=False) + "\n"


def _finite(value: Any) -> Any:
    """Return ``value`` with NaN and infinities as None (``json`` would write ``NaN``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def render_json(report: Report) -> str:
    """Render a report as JSON (the same as ``to_json``)."""
    return to_json(report)
