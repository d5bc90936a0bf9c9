"""Set-based writing of one page of records (the engine of ``Store.write_page``).

A page may hold thousands of records, and the daemon writes pages all day, so
nothing here issues one statement per record. Per table and page:

1. one ``SELECT external_id, payload_hash, deleted_at`` for the page's ids;
2. new and changed rows (hash differs, or the row was marked deleted) go into
   one ``INSERT .. ON CONFLICT (source_id, external_id) DO UPDATE`` executed
   with the list of rows (the driver's ``executemany``, one prepared statement);
   unchanged rows only get ``last_seen_at`` bumped by one ``UPDATE``.

A page's ids go into the lookup and the update as one parameter (``among``),
so each is one statement whatever the page's size. The upsert's rows are cut
into chunks only where the backend's bind-parameter limit forces it (SQLite
32766, PostgreSQL 65535). Within a page the last record for
an id wins, a ``Deletion`` included, so the upsert never sees a duplicate key.
The columns of each kind are declared in ``KINDS``; the mapping (``pmsync.rows``) walks them.
"""

from __future__ import annotations

import json
import operator
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    MetaData,
    ScalarResult,
    Table,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from pmsync import model
from pmsync.errors import StoreError
from pmsync.ids import ExternalIds
from pmsync.records import PersonRef, Quarantined, Record
from pmsync.rows import (
    RowSpec,
    SortedRows,
    json_dumps,
    sort_records,
    strip_nul,
    undumped,
)

MAX_PARAMS = 30_000
"""Bind parameters per statement: under SQLite's 32766 and PostgreSQL's 65535."""
RECONCILE_BATCH = 20_000
"""Stored ids read at a time when a full pull reconciles deletions."""


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How one record kind maps onto its table."""

    table: Table
    row: RowSpec
    """What making a record into a row needs of ``table`` (``pmsync.rows``)."""
    scope_column: str | None
    """The column ``Page.scope`` is matched against when reconciling deletions."""
    time_column: str | None = None
    """The column ``Page.complete_after`` is compared with (calendar events' start)."""


def _spec(
    cls: type[model.RecordColumns],
    scope: str | None,
    renames: Mapping[str, str] | None = None,
    person_lists: tuple[str, ...] = (),
    time_column: str | None = None,
) -> KindSpec:
    table = model.table_of(cls)
    # Plain strings: a table's name is SQLAlchemy's ``quoted_name``, which would bring
    # SQLAlchemy into a pull worker with the pickled spec.
    columns = frozenset(str(column.key) for column in table.c)
    row = RowSpec(str(table.name), columns, dict(renames or {}), person_lists)
    return KindSpec(table, row, scope, time_column)


KINDS: dict[str, KindSpec] = {
    "work_item": _spec(model.WorkItem, "container"),
    "work_item_change": _spec(model.WorkItemChange, "item_external_id"),
    "worklog": _spec(model.Worklog, "item_external_id"),
    "source_milestone": _spec(model.SourceMilestone, "container"),
    "commit": _spec(model.Commit, "repository"),
    "pull_request": _spec(model.PullRequest, "repository"),
    "calendar_event": _spec(
        model.CalendarEvent,
        "calendar_id",
        {"start": "starts_at", "end": "ends_at", "attendees": "attendee_logins"},
        ("attendees",),
        "starts_at",
    ),
}
"""Record kind → table; ``Page.scope`` matches ``scope_column`` (see docs/store.md)."""

ROW_SPECS: dict[str, RowSpec] = {kind: spec.row for kind, spec in KINDS.items()}
"""Record kind → what ``pmsync.rows`` needs of its table (a pull worker gets a copy)."""


@dataclass(slots=True)
class KindCounts:
    """What writing did to the rows of one record kind."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0

    def add(self, other: KindCounts) -> None:
        """Add ``other``'s counts to these."""
        for name in _COUNT_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_COUNT_NAMES = ("created", "updated", "unchanged", "deleted", "quarantined")


@dataclass(slots=True)
class PageCounts:
    """Counts per record kind for one page (or, added up, for a run), with totals."""

    kinds: dict[str, KindCounts] = field(default_factory=dict)

    def of(self, kind: str) -> KindCounts:
        """Return the counts of ``kind`` (created empty on first use)."""
        return self.kinds.setdefault(kind, KindCounts())

    def _total(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.kinds.values())

    @property
    def created(self) -> int:
        """Rows inserted, all kinds."""
        return self._total("created")

    @property
    def updated(self) -> int:
        """Rows whose content changed (or that came back after a deletion), all kinds."""
        return self._total("updated")

    @property
    def unchanged(self) -> int:
        """Rows seen again with the same content, all kinds."""
        return self._total("unchanged")

    @property
    def deleted(self) -> int:
        """Rows marked deleted, all kinds."""
        return self._total("deleted")

    @property
    def quarantined(self) -> int:
        """Records put in quarantine, all kinds."""
        return self._total("quarantined")

    def add(self, other: PageCounts) -> None:
        """Add ``other``'s counts to these."""
        for kind, counts in other.kinds.items():
            self.of(kind).add(counts)

    def totals(self) -> dict[str, int]:
        """Return the totals by count name."""
        return {name: self._total(name) for name in _COUNT_NAMES}


def insert_for(conn: Connection, table: Table) -> Any:
    """Return the dialect's ``insert`` (with ``on_conflict_*``) for ``table``."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise StoreError(f"pmsync supports SQLite and PostgreSQL, not {name}")


def among(
    dialect: str, column: ColumnElement[Any], name: str, values: Sequence[Any] | None = None
) -> ColumnElement[bool]:
    """Return ``column IN values``, the values bound as one parameter ``name``.

    SQLAlchemy binds a parameter per value of an ``IN`` list, so every new
    number of values is a new statement: SQLite's driver prepares it and keeps
    it (128 a connection, each with its values), and a 100k-item sync, whose
    pages hold any number of changes and worklogs, ended with 28 MB of them in
    its four connections (docs/benchmarks.md, section 4). One parameter makes
    one statement whatever the number: a JSON list read by ``json_each`` on
    SQLite, an array compared with ``= ANY`` on PostgreSQL; both use the index
    on ``column``. ``values``: bound now; None: passed when executed.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(name, values, type_=postgresql.ARRAY(column.type)))
    listed = func.json_each(bindparam(name, values, type_=JSON)).table_valued("value")
    return column.in_(select(listed.c.value))


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Yield ``items`` in slices of at most ``size``."""
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


_UPSERTS: dict[tuple[Any, ...], Any] = {}


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update_columns: Iterable[str],
    set_extra: Callable[[Any], Mapping[str, Any]] | None = None,
) -> None:
    """Insert ``rows``; on a conflict on ``keys``, update ``update_columns``.

    Executed as one statement with a list of parameters, compiled once, which
    the driver runs as ``executemany`` (SQLite: one prepared statement stepped
    per row; psycopg: pipelined). No ``RETURNING``: it would switch SQLAlchemy
    to multi-row ``VALUES`` batches, measured 2x slower on PostgreSQL and
    slower on SQLite (docs/benchmarks.md), for ids nothing reads. The
    statement is built once per table and column set (``set_extra`` must be a
    module-level function: it is part of the cache key), since building
    ``excluded`` for thirty columns on every page cost more than compiling.
    """
    if not rows:
        return
    update_columns = tuple(update_columns)
    cache_key = (conn.dialect.name, table, tuple(keys), update_columns, set_extra)
    upsert = _UPSERTS.get(cache_key)
    if upsert is None:
        stmt = insert_for(conn, table)
        set_ = {c: stmt.excluded[c] for c in update_columns}
        if set_extra is not None:
            set_.update(set_extra(stmt))
        upsert = stmt.on_conflict_do_update(index_elements=list(keys), set_=set_)
        _UPSERTS[cache_key] = upsert
    writer = _writer(conn, upsert, table, tuple(rows[0]))
    if writer is None:
        conn.execute(upsert, list(rows))
        return
    conn.exec_driver_sql(writer[0], _driver_params(writer, rows))


_Writer = tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...], bool]


def _driver_params(writer: _Writer, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Return ``rows`` as the driver's parameters for ``writer``'s statement, converted."""
    values = _driver_rows(writer, rows)
    if writer[2]:  # positional
        return list(values)
    names = [n for n, _ in writer[1]]
    return [dict(zip(names, v, strict=True)) for v in values]


def _driver_rows(writer: _Writer, rows: Sequence[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """Return ``rows`` as tuples of converted values, in ``writer``'s parameter order."""
    _, plan, _ = writer
    names = [n for n, _ in plan]
    # Column by column, so the loops run in C and only converted values cost a call;
    # converted whole (not lazily, row by row), so a column of one shared value
    # (a page's ``now``) meets the converter's memory of its last value.
    columns: list[Any] = list(zip(*map(operator.itemgetter(*names), rows), strict=True))
    for index, (_, convert) in enumerate(plan):
        if convert is not None:
            columns[index] = list(map(convert, columns[index]))
    return zip(*columns, strict=True)


_WRITERS: dict[tuple[Any, ...], _Writer | None] = {}


def _writer(conn: Connection, upsert: Any, table: Table, keys: tuple[str, ...]) -> _Writer | None:
    """Return the compiled SQL and a converter per parameter for rows with ``keys`` (cached).

    SQLAlchemy's own executemany converts every value through two or three layers
    of calls per row (a third of a page's write time for 30 columns); here each
    parameter gets one converter, and the driver gets plain values. None when a
    parameter is not a row value (then SQLAlchemy runs the statement itself).
    """
    cache_key = (conn.dialect.name, upsert, keys)
    if cache_key in _WRITERS:
        return _WRITERS[cache_key]
    dialect = conn.dialect
    compiled = upsert.compile(dialect=dialect, column_keys=list(keys))
    names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
    writer: _Writer | None = None
    if set(names) <= set(keys) and all(n in table.c for n in names):
        processors = compiled._bind_processors
        plan = tuple((n, _fast_converter(table.c[n], dialect) or processors.get(n)) for n in names)
        writer = (compiled.string, plan, bool(compiled.positional))
    _WRITERS[cache_key] = writer
    return writer


def _fast_converter(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """Return a one-call converter where SQLAlchemy's chain is slow, else None."""
    if isinstance(column.type, model.UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_utc
    return None


_LAST_UTC: tuple[datetime | None, str | None] = (None, None)
"""The last time ``_sqlite_utc`` converted, and its text (one tuple: threads swap it whole)."""


def _sqlite_utc(value: datetime | None) -> str | None:
    """Convert like ``UTCDateTime`` + SQLite's ``DATETIME`` in one step (same text).

    A page's rows share one ``now`` (``first_seen_at``, ``last_seen_at``), and
    ``_driver_params`` converts a column at a time: the last conversion, kept,
    answers all but one of those calls (two of a change record's three times).
    """
    global _LAST_UTC
    last = _LAST_UTC
    if value is last[0]:
        return last[1]
    if value is None:
        return None
    original = value
    if value.tzinfo is not UTC:  # records hold UTC already; anything else is converted
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (the store needs aware times)")
        value = value.astimezone(UTC)
    text = value.isoformat(" ", "microseconds")[:-6]  # without "+00:00"
    _LAST_UTC = (original, text)
    return text


def _write_kind(
    conn: Connection, source_id: int, spec: KindSpec, rows: dict[str, dict[str, Any]], now: datetime
) -> KindCounts:
    postgres, path = conn.dialect.name == "postgresql", (source_id, spec.table.name)
    if postgres and rows and not _MOSTLY_UNCHANGED.get(path, False):
        found = _write_kind_returning(conn, source_id, spec, rows, now)
        if found is not None:
            _MOSTLY_UNCHANGED[path] = 2 * found.unchanged > len(rows)
            return found
    table, counts = spec.table, KindCounts()
    ids = list(rows)
    existing: dict[str, tuple[str, datetime | None]] = {}
    lookup = _known_rows(table, conn.dialect.name)
    for chunk in chunked(ids, MAX_PARAMS):
        known = conn.execute(lookup, {"of_source": source_id, "ids": chunk})
        existing.update((r.external_id, (r.payload_hash, r.deleted_at)) for r in known)
    to_write: list[dict[str, Any]] = []
    unchanged: list[str] = []
    for external_id, row in rows.items():
        before = existing.get(external_id)
        if before is None:
            counts.created += 1
        elif before[0] != row["payload_hash"] or before[1] is not None:
            counts.updated += 1
        else:
            counts.unchanged += 1
            unchanged.append(external_id)
            continue
        to_write.append(_stored_row(row, source_id, external_id, now))
    update_columns = _updated_columns(table)
    upsert_rows(conn, table, to_write, ("source_id", "external_id"), update_columns)
    for chunk in chunked(unchanged, MAX_PARAMS):
        conn.execute(
            _seen_again(table, conn.dialect.name),
            {"of_source": source_id, "ids": chunk, "now": now},
        )
    if postgres:
        _MOSTLY_UNCHANGED[path] = 2 * counts.unchanged > len(rows)
    return counts


# Statements a page runs every time, built once. Building one (its clauses, its
# cache key) cost 50-190 µs, about ten times executing it: an empty page took
# 516 µs to write with them built anew, 136 µs now (docs/store.md).
# The source is bound as ``of_source``: an UPDATE may not name a parameter after
# one of its columns, and the lookup and the update share the name.


@cache
def _known_rows(table: Table, dialect: str) -> Any:
    """SELECT the id, hash and deletion of the rows of ``:of_source`` among ``:ids``."""
    return select(table.c.external_id, table.c.payload_hash, table.c.deleted_at).where(
        table.c.source_id == bindparam("of_source"),
        among(dialect, table.c.external_id, "ids"),
    )


@cache
def _seen_again(table: Table, dialect: str) -> Any:
    """UPDATE ``last_seen_at`` to ``:now`` for the rows of ``:of_source`` among ``:ids``."""
    return (
        update(table)
        .where(
            table.c.source_id == bindparam("of_source"),
            among(dialect, table.c.external_id, "ids"),
        )
        .values(last_seen_at=bindparam("now", type_=table.c.last_seen_at.type))
    )


def _stored_row(
    row: dict[str, Any], source_id: int, external_id: str, now: datetime
) -> dict[str, Any]:
    """Return a record's row as written: live, seen now (``first_seen_at`` kept on update)."""
    return {
        **row,
        "source_id": source_id,
        "external_id": external_id,
        "deleted_at": None,
        "first_seen_at": now,
        "last_seen_at": now,
    }


_MOSTLY_UNCHANGED: dict[tuple[int, str], bool] = {}
"""PostgreSQL, per source and table: whether its last page was mostly unchanged rows.

Pages of new or changed rows go fastest through one upsert that says what it
did (``_write_kind_returning``); pages of unchanged rows (a full sync of a
known source) through the lookup of known hashes, which spares each row its
upsert. The next page usually looks like the last, so the last one chooses;
either way the rows and the counts are the same."""


def _write_kind_returning(
    conn: Connection, source_id: int, spec: KindSpec, rows: dict[str, dict[str, Any]], now: datetime
) -> KindCounts | None:
    """PostgreSQL: COPY a kind's rows into a stage, then one upsert from it that says what it did.

    ``INSERT .. SELECT`` from the stage ``ON CONFLICT DO UPDATE .. WHERE`` the
    hash differs or the row was deleted leaves an unchanged row alone;
    ``RETURNING xmax = 0`` tells a created row from an updated one, and a row not
    returned is unchanged (its ``last_seen_at`` is then bumped, as on SQLite).
    On PostgreSQL this replaces the lookup ``SELECT`` of known ids and hashes,
    which cost as much as the upsert itself (docs/benchmarks.md, section 5).

    Why a stage: one ``INSERT`` per row, even pipelined by psycopg, has the
    server start an executor per row; ``COPY`` streams a page's rows and one
    statement upserts them all: a page of new rows in about a tenth less time
    (docs/benchmarks.md, section 5). The stage is a temporary table of the kind's columns
    (``ON COMMIT DELETE ROWS``, created if missing in the same transaction, so
    a pooler that hands out server sessions per transaction still works), and
    the upsert empties it as it reads it (``DELETE .. RETURNING`` in a CTE).
    None when the statement cannot take the rows as plain values, or when the
    role may not create temporary tables (a database that revoked ``TEMPORARY``
    from ``PUBLIC``): the lookup path writes the page then.
    """
    if not _may_stage(conn):
        return None
    table, counts = spec.table, KindCounts()
    to_write = [_stored_row(row, source_id, eid, now) for eid, row in rows.items()]
    staged = _staged_upsert(conn, table, tuple(to_write[0]))
    if staged is None:
        return None
    create, copy_into, upsert, writer = staged
    written: set[str] = set()
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(create)
        with cursor.copy(copy_into) as copy:
            for values in _driver_rows(writer, to_write):
                copy.write_row(values)
        cursor.execute(upsert)
        for external_id, inserted in cursor.fetchall():
            written.add(external_id)
            if inserted:
                counts.created += 1
            else:
                counts.updated += 1
    finally:
        cursor.close()
    unchanged = [external_id for external_id in rows if external_id not in written]
    counts.unchanged = len(unchanged)
    for chunk in chunked(unchanged, MAX_PARAMS):
        conn.execute(
            _seen_again(table, conn.dialect.name),
            {"of_source": source_id, "ids": chunk, "now": now},
        )
    return counts


_Staged = tuple[str, str, str, _Writer]


def _may_stage(conn: Connection) -> bool:
    """Tell whether this session's role may create temporary tables (asked once a connection)."""
    info = conn.connection.info
    may = info.get("pmsync_may_stage")
    if may is None:
        may = info["pmsync_may_stage"] = bool(
            conn.exec_driver_sql(
                "SELECT has_database_privilege(current_database(), 'TEMPORARY')"
            ).scalar()
        )
    return bool(may)


def _staged_upsert(conn: Connection, table: Table, keys: tuple[str, ...]) -> _Staged | None:
    """Return the SQL that stages rows with ``keys`` for ``table`` and upserts them (cached).

    The CREATE of the stage, its COPY, the upsert from it, and the converters
    of the values (the same as the plain upsert's parameters). None when a
    value needs more than a converter (then the lookup path writes the page).
    """
    cache_key = (table, keys)
    if cache_key in _STAGED:
        return _STAGED[cache_key]
    plain = postgresql.insert(table)
    writer = _writer(conn, plain, table, keys)
    staged: _Staged | None = None
    if writer is not None:
        names = [name for name, _ in writer[1]]
        quote = conn.dialect.identifier_preparer.quote
        stage = f"pmsync_stage_{table.name}_{zlib.crc32(' '.join(names).encode()):08x}"
        columns = ", ".join(quote(n) for n in names)
        create = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(stage)} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {conn.dialect.identifier_preparer.format_table(table)} "
            "WITH NO DATA"
        )
        holding = Table(stage, MetaData(), *(Column(n, table.c[n].type) for n in names))
        emptied = delete(holding).returning(*holding.c).cte("pmsync_staged")
        stmt = postgresql.insert(table).from_select(names, select(*emptied.c))
        upsert = stmt.on_conflict_do_update(
            index_elements=["source_id", "external_id"],
            set_={name: stmt.excluded[name] for name in _updated_columns(table)},
            where=table.c.payload_hash.is_distinct_from(stmt.excluded.payload_hash)
            | table.c.deleted_at.is_not(None),
        ).returning(table.c.external_id, literal_column("xmax = 0"))
        sql = str(upsert.compile(dialect=conn.dialect))
        staged = (create, f"COPY {quote(stage)} ({columns}) FROM STDIN", sql, writer)
    _STAGED[cache_key] = staged
    return staged


_STAGED: dict[tuple[Table, tuple[str, ...]], _Staged | None] = {}


@cache
def _updated_columns(table: Table) -> tuple[str, ...]:
    """Return the columns an upsert of a record's row overwrites (not its identity or links)."""
    kept = {"id", "source_id", "external_id", "first_seen_at"} | _LINK_COLUMNS
    return tuple(c.name for c in table.c if c.name not in kept)


_LINK_COLUMNS = {
    # written by linking after each sync, never by the records themselves
    "project_id",
    "deliverable_id",
    "milestone_id",
    "meeting_kind",
    "meeting_rule",
    "project_link",
    "person_ids",
    "away_person_ids",
}


def _mark_deleted(
    conn: Connection, source_id: int, table: Table, ids: Sequence[str], now: datetime
) -> int:
    # A deletion is a change linking must see, as the upsert's rewrite of a row is.
    values: dict[str, Any] = {"deleted_at": now}
    for mark in ("link_fingerprint", "link_state"):
        if mark in table.c:
            values[mark] = None
    deleted = 0
    for chunk in chunked(ids, MAX_PARAMS):
        result = conn.execute(
            update(table)
            .where(
                table.c.source_id == source_id,
                among(conn.dialect.name, table.c.external_id, "ids", chunk),
                table.c.deleted_at.is_(None),
            )
            .values(values)
        )
        deleted += result.rowcount
    return deleted


def _reconcile(
    conn: Connection,
    source_id: int,
    spec: KindSpec,
    still_there: AbstractSet[str],
    scope: str | None,
    now: datetime,
    complete_after: datetime | None = None,
) -> int:
    """Mark deleted what the store has in ``scope`` and ``still_there`` lacks.

    The stored ids are read in batches, so a scope of hundreds of thousands of
    ids is never held twice (``still_there`` is the other copy).
    """
    table = spec.table
    query = select(table.c.external_id).where(
        table.c.source_id == source_id, table.c.deleted_at.is_(None)
    )
    if scope is not None:
        assert spec.scope_column is not None
        query = query.where(table.c[spec.scope_column] == scope)
    if complete_after is not None:
        if spec.time_column is None:
            raise StoreError(f"{spec.table.name} has no time to reconcile from a date on")
        query = query.where(table.c[spec.time_column] >= complete_after)
    gone: list[str] = []
    stored: ScalarResult[str] = conn.execute(
        query.execution_options(yield_per=RECONCILE_BATCH)
    ).scalars()
    for present in stored.partitions():
        if isinstance(still_there, ExternalIds):
            gone.extend(still_there.missing(present))
        else:
            gone.extend(eid for eid in present if eid not in still_there)
    return _mark_deleted(conn, source_id, table, gone, now)


def _quarantine(
    conn: Connection,
    source_id: int,
    stream: str,
    entries: Iterable[Quarantined],
    now: datetime,
) -> None:
    table = model.table_of(model.Quarantine)
    rows = [
        {
            "source_id": source_id,
            "stream": stream,
            "record_kind": q.record_kind,
            "external_id": q.external_id,
            "reason": q.reason,
            "payload": _safe_payload(q.payload),
            "first_at": now,
            "at": now,
            "times": 1,
        }
        for q in entries
    ]
    upsert_rows(
        conn,
        table,
        rows,
        ("source_id", "record_kind", "external_id"),
        ("stream", "reason", "payload", "at"),
        _count_again,
    )


def _count_again(stmt: Any) -> Mapping[str, Any]:
    table = model.table_of(model.Quarantine)
    return {"times": table.c.times + 1}


def _keep_known_names(stmt: Any) -> Mapping[str, Any]:
    table = model.table_of(model.Identity)
    return {
        "display_name": func.coalesce(stmt.excluded.display_name, table.c.display_name),
        "email": func.coalesce(stmt.excluded.email, table.c.email),
    }


@cache
def _quarantine_probe() -> Any:
    table = model.table_of(model.Quarantine)
    return select(table.c.id).where(table.c.source_id == bindparam("source_id")).limit(1)


def _any_quarantined(conn: Connection, source_id: int) -> bool:
    return conn.scalar(_quarantine_probe(), {"source_id": source_id}) is not None


def _release_from_quarantine(
    conn: Connection, source_id: int, kind: str, ids: Sequence[str]
) -> None:
    # A record that now maps (a fixed connector, a corrected payload) leaves quarantine.
    table = model.table_of(model.Quarantine)
    for chunk in chunked(ids, MAX_PARAMS):
        conn.execute(
            delete(table).where(
                table.c.source_id == source_id,
                table.c.record_kind == kind,
                among(conn.dialect.name, table.c.external_id, "ids", chunk),
            )
        )


def _safe_payload(payload: Any) -> Any:
    try:
        return strip_nul(json.loads(json_dumps(payload)))
    except (TypeError, ValueError):
        return {"unserialisable": repr(payload)}


IDENTITY_REFRESH = timedelta(hours=1)
"""How long an identity a store wrote is not written again with the same names."""


class WrittenIdentities:
    """The identities (source, login) one store has written, with their names and when.

    Every page names its people, and the same few hundred accounts come back
    page after page: a full sync of 28,700 GitHub records upserted 9,045
    identity rows for 340 accounts, one statement a page, 0.7 of 9.3 s on
    PostgreSQL. A page now writes only the accounts this store has not
    written in the last ``IDENTITY_REFRESH`` with the same display name and
    e-mail (a name it lacks counts as the same, as the upsert keeps the known
    one). So ``identity.last_seen_at`` is the last time a page named the
    account, to within an hour. Accounts are remembered only once their page
    is committed (``IdentityPage.keep``): a page rolled back is written again.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[int, str], tuple[str | None, str | None, datetime]] = {}
        self._lock = threading.Lock()

    def page(self) -> IdentityPage:
        """Return what one page's transaction writes, to ``keep`` once it is committed."""
        return IdentityPage(self)

    def _unwritten(
        self, source_id: int, people: Mapping[str, PersonRef], now: datetime
    ) -> dict[str, PersonRef]:
        fresh: dict[str, PersonRef] = {}
        for login, person in people.items():
            known = self._known.get((source_id, login))
            if (
                known is None
                or now - known[2] >= IDENTITY_REFRESH
                or now < known[2]
                or (person.display_name is not None and person.display_name != known[0])
                or (person.email is not None and person.email != known[1])
            ):
                fresh[login] = person
        return fresh

    def _keep(self, source_id: int, people: Iterable[PersonRef], now: datetime) -> None:
        with self._lock:
            for person in people:
                known = self._known.get((source_id, person.login))
                name = person.display_name or (known[0] if known else None)
                email = person.email or (known[1] if known else None)
                self._known[(source_id, person.login)] = (name, email, now)


class IdentityPage:
    """The identities one page writes: chosen in its transaction, kept after its commit."""

    def __init__(self, written: WrittenIdentities) -> None:
        self._written = written
        self._staged: list[tuple[int, list[PersonRef], datetime]] = []

    def unwritten(
        self, source_id: int, people: Mapping[str, PersonRef], now: datetime
    ) -> dict[str, PersonRef]:
        """Return the people of ``people`` this store has to write now."""
        fresh = self._written._unwritten(source_id, people, now)
        self._staged.append((source_id, list(fresh.values()), now))
        return fresh

    def keep(self) -> None:
        """Remember what this page wrote: call once its transaction is committed."""
        for source_id, people, now in self._staged:
            self._written._keep(source_id, people, now)
        self._staged.clear()


IDENTITY_LOCK = 0x706D7065
"""PostgreSQL's transaction-level advisory lock (with the schema) over ``identity`` rows.

Linking people (``pmsync.people.link_people``) updates every source's
identities in one transaction, while another source's sync may be writing
pages that upsert that source's identities. Both lock the rows they touch, in
orders of their own, and two syncs at once (the daemon's per-source jobs) met
in a deadlock that failed one of them. Whoever writes identity rows takes this
lock first, so they take turns; the pages that write identities are few (an
account is written at most once an hour), and take it as late as they can.
"""


_LOCK_IDENTITIES = text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))")


def lock_identities(conn: Connection) -> None:
    """Wait for ``IDENTITY_LOCK`` on PostgreSQL; held until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_IDENTITIES, {"k": IDENTITY_LOCK})


def _upsert_identities(
    conn: Connection, source_id: int, people: Mapping[str, PersonRef], now: datetime
) -> None:
    if not people:
        return
    lock_identities(conn)
    table = model.table_of(model.Identity)
    rows = [
        {
            "source_id": source_id,
            "login": p.login,
            "display_name": p.display_name,
            "email": p.email,
            "first_seen_at": now,
            "last_seen_at": now,
        }
        for p in people.values()
    ]
    upsert_rows(
        conn,
        table,
        rows,
        ("source_id", "login"),
        ("last_seen_at",),
        _keep_known_names,
    )


def write_records(
    conn: Connection,
    source_id: int,
    stream: str,
    records: Sequence[Record] | SortedRows,
    complete_ids: Mapping[str, AbstractSet[str]] | None,
    scope: str | None,
    now: datetime,
    complete_after: datetime | None = None,
    identities: IdentityPage | None = None,
) -> PageCounts:
    """Write a page's records on ``conn`` (inside the caller's transaction); return counts.

    With ``identities``, only the people it says are unwritten get an identity
    upsert; the caller keeps them once the transaction is committed.
    """
    counts = PageCounts()
    # Pre-serialised JSON needs the store's serializer (an engine made elsewhere has its own).
    predump = getattr(conn.dialect, "_json_serializer", None) is json_dumps
    if isinstance(records, SortedRows):  # made into rows by a pull worker (``sorted_page``)
        page = records if predump else undumped(records)
    else:
        page = sort_records(records, ROW_SPECS, predump)
    for kind, ids in page.deletions.items():
        if ids and kind not in KINDS:
            for external_id in ids:
                reason = f"deletion of unknown record kind {kind!r}"
                page.quarantined[(kind, external_id)] = Quarantined(external_id, kind, reason)
    unknown = sorted(set(complete_ids or {}) - set(KINDS))
    if unknown:
        raise StoreError(f"complete_ids names record kinds the store does not keep: {unknown}")
    if scope is not None:
        unscoped = sorted(k for k in complete_ids or {} if KINDS[k].scope_column is None)
        if unscoped:
            raise StoreError(f"record kinds {unscoped} cannot be reconciled within a scope")
    # Nearly always nothing of the source is in quarantine: one cheap look spares
    # a DELETE with every id of the page for each kind.
    held = bool(page.rows) and _any_quarantined(conn, source_id)
    for kind, rows in page.rows.items():
        counts.of(kind).add(_write_kind(conn, source_id, KINDS[kind], rows, now))
        if held:
            _release_from_quarantine(conn, source_id, kind, list(rows))
    for kind, ids in page.deletions.items():
        if kind in KINDS and ids:
            counts.of(kind).deleted += _mark_deleted(
                conn, source_id, KINDS[kind].table, sorted(ids), now
            )
    for kind, still_there in (complete_ids or {}).items():
        counts.of(kind).deleted += _reconcile(
            conn, source_id, KINDS[kind], still_there, scope, now, complete_after
        )
    _quarantine(conn, source_id, stream, page.quarantined.values(), now)
    for kind, _ in page.quarantined:
        counts.of(kind).quarantined += 1
    # Last, so the identity lock (``IDENTITY_LOCK``) is held from here to the commit only.
    people = (
        page.people if identities is None else identities.unwritten(source_id, page.people, now)
    )
    _upsert_identities(conn, source_id, people, now)
    return counts
