"""The few SQL constructs that differ between SQLite and PostgreSQL, in one place.

Linking joins work items with the labels, components and source milestones
kept in their JSON list columns. Both backends can open a JSON list as rows
inside one statement (SQLite ``json_each``, PostgreSQL
``jsonb_array_elements_text``), which is what lets linking stay a handful of
set-based statements whatever the number of items; only the spelling differs,
and it is chosen here. Scratch tables are ``TEMPORARY`` (private to the
connection, gone with the transaction on PostgreSQL, dropped explicitly on
SQLite), so two replicas refreshing at once never see each other's. PostgreSQL
never analyses temporary tables by itself, and without their sizes it may
plan a nested loop over a million items: each one is analysed once filled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Index,
    MetaData,
    Table,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.sql.selectable import TableValuedAlias

from pmsync import model
from pmsync.upsert import MAX_PARAMS, chunked


def elements(conn: Connection, column: ColumnElement[Any]) -> TableValuedAlias:
    """Return the rows of a JSON list column, as a joinable table with a ``value`` column."""
    if conn.dialect.name == "postgresql":
        return func.jsonb_array_elements_text(column).table_valued("value").render_derived()
    return func.json_each(column).table_valued("value")


def contains(conn: Connection, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    """Return whether JSON list ``column`` holds the string ``value`` (a literal or a column)."""
    if conn.dialect.name == "postgresql":
        return func.jsonb_exists(column, value)
    rows = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(rows).where(rows.c.value == value))


def is_empty_list(conn: Connection, column: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return whether JSON list ``column`` is empty."""
    length = "jsonb_array_length" if conn.dialect.name == "postgresql" else "json_array_length"
    return getattr(func, length)(column) == 0


def on_true() -> ColumnElement[bool]:
    """Return the condition of a join that pairs every row (``JOIN f(x) ON true``)."""
    return true()


def most_projects(conn: Connection, chosen: int) -> bool:
    """Tell whether SQLite should read for ``chosen`` projects through the whole table.

    True when they are at least half of the projects in the store (see
    ``in_projects``). PostgreSQL plans by its statistics and is left alone.
    """
    if conn.dialect.name != "sqlite":
        return False
    total = conn.execute(select(func.count()).select_from(model.table_of(model.Project)))
    return chosen * 2 >= int(total.scalar() or 0) > 0


def in_projects(
    column: ColumnElement[Any], project_ids: Iterable[int], *, scan: bool
) -> ColumnElement[bool]:
    """Return ``column IN project_ids``; with ``scan``, kept off the index on ``column``.

    Given an index on the bare column, SQLite looks every row up through it and
    then sorts or joins row by row: for 500 projects of a million items that is
    two to three times slower than reading the table through. ``column + 0`` is
    the same value that no index matches. For a few projects the index is right.
    """
    chosen = list(project_ids)
    return (column + 0).in_(chosen) if scan else column.in_(chosen)


def fetch_array(conn: Connection, statement: Any, dtype: np.dtype[Any]) -> np.ndarray:
    """Run ``statement`` and return its rows as a structured array, without Row objects.

    The driver's tuples go straight into numpy (a million rows in well under a
    second), so the columns must be plain numbers: no NULLs (``coalesce`` them
    and select a flag) and no values that need SQLAlchemy's type processing.
    """
    result = conn.execute(statement)
    try:
        return np.fromiter(cast(Iterable[tuple[Any, ...]], result.cursor), dtype=dtype)
    finally:
        result.close()


def fetch_tuples(conn: Connection, statement: Any) -> list[tuple[Any, ...]]:
    """Run ``statement`` and return its rows as the driver's plain tuples (no Row objects).

    For hundreds of thousands of rows whose columns need no SQLAlchemy type
    processing (text and numbers: select times as ``epoch_seconds``).
    """
    result = conn.execute(statement)
    try:
        return cast(list[tuple[Any, ...]], result.cursor.fetchall()) if result.cursor else []
    finally:
        result.close()


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (plain values, the same keys in each) into ``table``.

    PostgreSQL takes them by ``COPY``: the refresh's first run after a full pull
    inserts tens of thousands of links at once, and one ``INSERT`` a row, even
    pipelined, had the server run an executor for each (37,800 links at 100k
    items: 0.9-1.0 s; docs/plan.md). Elsewhere, statements sized to the
    parameter limit.
    """
    if not rows:
        return
    names = list(rows[0])
    if conn.dialect.name == "postgresql":
        columns = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names)
        into = f"COPY {conn.dialect.identifier_preparer.format_table(table)} ({columns}) FROM STDIN"
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(into) as copy:
                for row in rows:
                    copy.write_row([row[n] for n in names])
        finally:
            cursor.close()
        return
    for chunk in chunked(rows, max(1, MAX_PARAMS // len(names))):
        conn.execute(insert(table), list(chunk))


class Scratch:
    """Temporary tables of one refresh, created on ``conn`` and dropped by ``close``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.metadata = MetaData()
        self.tables: list[Table] = []
        self._unindexed: dict[str, Sequence[str]] = {}

    def table(
        self,
        name: str,
        *columns: Column[Any],
        index: Sequence[str] = (),
        index_when_filled: bool = False,
    ) -> Table:
        """Create the temporary table ``name`` (emptied if it exists) and return it.

        With ``index_when_filled`` its index is built by ``filled``, once the
        rows are in: for millions of rows in no order of the index, growing it
        row by row cost SQLite three to four times sorting them once (the label
        hits of a million items, 9.4 s against 1.6 s to insert and 1.8 s to
        index; docs/plan.md). Nothing may read the table before then.
        """
        table = Table(
            name,
            self.metadata,
            *columns,
            prefixes=["TEMPORARY"],
            postgresql_on_commit="DROP",
        )
        if index and index_when_filled:
            self._unindexed[name] = index
        elif index:
            Index(f"{name}_ix", *(table.c[c] for c in index))
        table.drop(self.conn, checkfirst=True)
        table.create(self.conn)
        self.tables.append(table)
        return table

    def fill(self, table: Table, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``rows`` into ``table`` in statements sized to the parameter limit."""
        batch = list(rows)
        if not batch:
            return 0
        insert_many(self.conn, table, batch)
        self.filled(table)
        return len(batch)

    def filled(self, *tables: Table) -> None:
        """Index the filled ``tables`` as ``table`` was asked to, and give PostgreSQL's
        planner their sizes (it never analyses temporary tables by itself)."""
        for table in tables:
            columns = self._unindexed.pop(table.name, None)
            if columns is not None:
                Index(f"{table.name}_ix", *(table.c[c] for c in columns)).create(self.conn)
        if self.conn.dialect.name == "postgresql":
            for table in tables:
                self.conn.execute(text(f"ANALYZE {table.name}"))

    def close(self) -> None:
        """Drop the tables (PostgreSQL drops them at commit anyway)."""
        for table in reversed(self.tables):
            table.drop(self.conn, checkfirst=True)
        self.tables.clear()
