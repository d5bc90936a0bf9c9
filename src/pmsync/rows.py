"""Records made into the store's rows: columns, canonical JSON, payload hashes.

This is the half of writing a page that is pure work of the records alone,
apart from the half that talks to the database (``pmsync.upsert``). A pull
worker runs it too (``pmsync.pull_workers``: it makes the rows of a whole
history beside the writer), so it imports neither SQLAlchemy nor the model:
what it needs of a table, its name and its columns, comes as a ``RowSpec``
(``pmsync.upsert.ROW_SPECS``, which a worker receives when it starts). A
worker used to import ``pmsync.upsert`` for this, and with it SQLAlchemy and
the model: 0.27 s of a worker's CPU in every first sync (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import json
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from pmsync.records import Deletion, Page, PersonRef, Quarantined, Record


@dataclass(frozen=True, slots=True)
class RowSpec:
    """What making a record into a row needs of its table (``pmsync.upsert.KindSpec.row``)."""

    table: str
    columns: frozenset[str]
    renames: Mapping[str, str] = field(default_factory=dict)
    """Record field → column, where they differ (``start`` → ``starts_at``)."""
    person_lists: tuple[str, ...] = ()
    """Fields holding ``tuple[PersonRef, ...]``, stored as a list of logins."""


def json_default(value: Any) -> Any:
    """Serialise the non-JSON values records may carry (dates, decimals, sets)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


class DumpedJSON:
    """A JSON column value that ``record_row`` already serialised (for the hash).

    ``json_dumps``, the engine's ``json_serializer``, writes ``text`` as it is:
    a raw payload is serialised once per write, not once for the hash and again
    for the column.
    """

    __slots__ = ("text", "value")

    def __init__(self, value: Any, text: str) -> None:
        self.value, self.text = value, text

    def __reduce__(self) -> tuple[Any, ...]:
        # Across a pull worker's pipe the text alone: it is what the column gets, and
        # a raw payload's text pickles and unpickles far faster than its dicts and lists.
        return (_dumped, (self.text,))


def _dumped(text: str) -> DumpedJSON:
    return DumpedJSON(None, text)


def json_dumps(value: Any) -> str:
    """Dump JSON the way the store does (the engine's ``json_serializer``)."""
    if type(value) is DumpedJSON:
        return value.text
    return canonical_json(value)


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
"""Sorted keys; dataclasses go to ``json_default`` (which refuses them) as with ``json``."""


def canonical_json(value: Any) -> str:
    """Return ``value`` as compact sorted-key JSON: what ``payload_hash`` is the SHA-256 of.

    orjson writes it about ten times faster than the standard library, which
    made hashing an eighth of a sync's CPU time. What orjson cannot write (an
    integer beyond 64 bits) falls back to ``json`` with the same separators, so a
    row still gets one stable text; dates, decimals and sets go through
    ``json_default`` either way.
    """
    try:
        return orjson.dumps(value, default=json_default, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(
            value, default=json_default, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )


_SLOT = f"\ue000{uuid.uuid4().hex}"
"""Stands in for a pre-serialised value inside the row's JSON, then is replaced by it."""


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def strip_nul(value: Any) -> Any:
    # PostgreSQL refuses NUL in text and JSONB; SQLite would keep it. Same data on both.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class _Plan:
    """How the fields of one record type become the columns of one table."""

    fetch: Callable[[Record], tuple[Any, ...]]
    """Reads every plain field at once (``operator.attrgetter``)."""
    columns: tuple[str, ...]
    persons: tuple[tuple[str, str], ...]
    """(field, ``*_login`` column) of the ``PersonRef | None`` fields."""
    lists: tuple[tuple[str, str], ...]
    """(field, column) of the ``tuple[PersonRef, ...]`` fields (stored as logins)."""


_PLANS: dict[tuple[type[Record], str], _Plan] = {}


def _plan(cls: type[Record], spec: RowSpec) -> _Plan:
    """Return how to map records of ``cls`` onto ``spec``'s table (worked out once).

    Per record type, not per record: ``dataclasses.fields``, the column lookups
    and a Python loop over thirty fields cost more than the mapping itself.
    """
    key = (cls, spec.table)
    plan = _PLANS.get(key)
    if plan is None:
        plain: list[tuple[str, str]] = []
        persons: list[tuple[str, str]] = []
        lists: list[tuple[str, str]] = []
        for f in fields(cls):
            if f.name == "external_id":
                continue
            name = spec.renames.get(f.name, f.name)
            if f.name in spec.person_lists:
                lists.append((f.name, name))
            elif f"{name}_login" in spec.columns:
                persons.append((f.name, f"{name}_login"))
            else:
                plain.append((f.name, name))
        getter = operator.attrgetter(*(a for a, _ in plain), "external_id")
        plan = _PLANS[key] = _Plan(getter, tuple(c for _, c in plain), tuple(persons), tuple(lists))
    return plan


def record_row(
    record: Record, spec: RowSpec, predump: bool = False
) -> tuple[dict[str, Any], list[PersonRef]]:
    """Map ``record`` to its column values (with ``payload_hash``) and the people in it.

    Tuples and mappings are left as they are: JSON columns serialise them (with
    ``json_dumps``) exactly as the hash does, so walking every raw payload to
    copy it into lists and dicts first would be wasted work. With ``predump``,
    mapping values (raw payloads, custom fields) are serialised once, sorted,
    and kept as ``DumpedJSON`` for the column; the hash is the same either way.
    """
    plan = _plan(type(record), spec)
    values = plan.fetch(record)
    row = dict(zip(plan.columns, values, strict=False))  # the getter's last value is the id
    people: list[PersonRef] = []
    if PersonRef in map(type, values):  # a person in a field without a ``*_login`` column
        for name, value in list(row.items()):
            if isinstance(value, PersonRef):
                del row[name]
                row[f"{name}_login"] = value.login
                people.append(value)
    for attribute, column in plan.persons:
        value = getattr(record, attribute)
        if value is not None:
            people.append(value)
            value = value.login
        row[column] = value
    for attribute, column in plan.lists:
        refs = getattr(record, attribute)
        people.extend(refs)
        row[column] = [p.login for p in refs]
    dumped, texts = _canonical(row, predump)
    if "\x00" in dumped or "\\u0000" in dumped:
        row = strip_nul(_plain(row))
        dumped, texts = _canonical(row, False)
    for name, text in texts.items():
        row[name] = DumpedJSON(row[name], text)
    row["payload_hash"] = hashlib.sha256(dumped.encode()).hexdigest()
    return row, people


_NOT_MAPPINGS = frozenset({str, int, float, bool, type(None), tuple, list, datetime, date})


def _canonical(row: dict[str, Any], predump: bool) -> tuple[str, dict[str, str]]:
    """Return the row's sorted-key JSON, and the JSON of its mapping values when ``predump``.

    Sorted-key JSON without indentation writes a nested value exactly as it
    writes that value alone, so the row is dumped with a placeholder for each
    mapping, and each placeholder replaced by the mapping's own JSON.
    """
    big = (
        [
            name
            for name, value in row.items()
            if type(value) is dict
            or (type(value) not in _NOT_MAPPINGS and isinstance(value, Mapping))
        ]
        if predump
        else []
    )
    if not big:
        return canonical_json(row), {}
    texts = {name: canonical_json(row[name]) for name in big}
    shadow = dict(row)
    for index, name in enumerate(big):
        shadow[name] = f"{_SLOT}{index}"
    dumped = canonical_json(shadow)
    for index, name in enumerate(big):
        dumped = dumped.replace(f'"{_SLOT}{index}"', texts[name], 1)
    return dumped, texts


@dataclass(slots=True)
class SortedRows:
    """A page's records made into rows per kind, with its deletions, quarantine and people."""

    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deletions: dict[str, set[str]] = field(default_factory=dict)
    quarantined: dict[tuple[str, str], Quarantined] = field(default_factory=dict)
    people: dict[str, PersonRef] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SortedPage(Page):
    """A page whose records a pull worker already made into rows (``sorted_page``).

    The writer then only writes them. Making a record's row and hash is
    pure work of the record alone, and was a fifth of the writing process's
    CPU (docs/benchmarks.md, section 1); done in the worker, it runs beside
    the writer instead of in its turn, and a row with its payload as text
    crosses the pipe faster than the record with the payload's dicts.
    ``records`` is empty; ``rows`` holds what ``sort_records`` makes.
    """

    rows: SortedRows | None = None


def sorted_page(page: Page, specs: Mapping[str, RowSpec]) -> Page:
    """Return ``page`` with its records made into rows, as the store would (for a worker)."""
    if not page.records:
        return page
    given = {f.name: getattr(page, f.name) for f in fields(Page)}
    return SortedPage(
        **{**given, "records": ()}, rows=sort_records(page.records, specs, predump=True)
    )


def undumped(page: SortedRows) -> SortedRows:
    """Return ``page`` with its pre-serialised JSON values parsed again (another serializer)."""
    for rows in page.rows.values():
        for row in rows.values():
            for name, value in row.items():
                if type(value) is DumpedJSON:
                    row[name] = json.loads(value.text)
    return page


def sort_records(
    records: Iterable[Record], specs: Mapping[str, RowSpec], predump: bool = False
) -> SortedRows:
    """Make ``records`` into rows per kind, as the store writes them (an id's last wins).

    A record that cannot be made into a row (a kind without a table, a value no
    column takes) is quarantined with the reason; the page goes on.
    """
    out = SortedRows()
    for record in records:
        if isinstance(record, Deletion):
            out.rows.get(record.record_kind, {}).pop(record.external_id, None)
            out.deletions.setdefault(record.record_kind, set()).add(record.external_id)
            continue
        if isinstance(record, Quarantined):
            out.quarantined[(record.record_kind, record.external_id)] = record
            continue
        spec = specs.get(record.kind)
        try:
            if spec is None:
                raise ValueError(f"the store has no table for record kind {record.kind!r}")
            row, people = record_row(record, spec, predump)
        except (TypeError, ValueError) as err:
            reason = f"cannot store {record.kind} {record.external_id}: {err}"
            out.quarantined[(record.kind, record.external_id)] = Quarantined(
                record.external_id, record.kind, reason, repr(record)
            )
            continue
        out.deletions.get(record.kind, set()).discard(record.external_id)
        out.rows.setdefault(record.kind, {})[record.external_id] = row
        for person in people:
            known = out.people.get(person.login)
            out.people[person.login] = PersonRef(
                person.login,
                person.display_name or (known.display_name if known else None),
                person.email or (known.email if known else None),
            )
    return out
