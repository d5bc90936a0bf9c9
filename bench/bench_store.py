"""Store: pmsync's upsert against a plain ``executemany`` insert of the same rows.

The records are real: the Jira connector (issues with their changelogs, and
worklogs) and the GitHub connector (commits) pull them from a sandbox once, and
the pages are kept in memory. Then, per backend:

* **upsert, new**: ``Store.write_page`` on every page into an empty database (all
  rows created): mapping records to rows, hashing, one SELECT of known hashes,
  one multi-row ``INSERT .. ON CONFLICT DO UPDATE``, the cursor, the run's counts;
* **upsert, unchanged**: the same pages again (every row known, only
  ``last_seen_at`` bumped): what the daemon does most of the day;
* **upsert, changed**: every record with a new title or message (every row rewritten);
* **upsert of the same rows**: the rows ``write_page`` makes, mapped and hashed
  beforehand (as executemany's are), written by the store's write path alone;
* **executemany**: the rows ``write_page`` produced, inserted with the driver's
  ``cursor.executemany`` and a prepared ``INSERT`` into an empty database, one
  transaction per page. Its time includes converting the values for the driver
  (the same SQLAlchemy type processors), not mapping records into rows: what
  the cheapest possible writer of exactly these rows would spend.

Ratio = pmsync's rows/s ÷ executemany's rows/s (goal ≥ 0.7x).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    FULL,
    VAR,
    SandboxProcess,
    Stopwatch,
    backends,
    console,
    database,
    fmt,
    quick,
    ratio,
    show,
)

SOURCE = "bench"


def collect_pages(config_dir: Path, now: datetime) -> list[Any]:
    """Pull Jira issues and worklogs and GitHub commits from the sandbox into memory."""
    from pmsync.config import load_config
    from pmsync.connectors import ConnectorContext, load_connectors
    from pmsync.sync import make_connector

    config = load_config(config_dir, load_connectors())
    pages: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for source, streams in (("jira", ("issues", "worklogs")), ("github", ("commits",))):
        context = ConnectorContext(source_name=source, now=lambda: now)
        connector = make_connector(config.sources[source], context)
        try:
            for stream in streams:
                for page in connector.pull(stream, None, full=True):
                    # a record read twice (paging overlap) is kept once: executemany needs that
                    records = [r for r in page.records if (r.kind, r.external_id) not in seen]
                    seen.update((r.kind, r.external_id) for r in records)
                    if records:
                        pages.append(
                            dataclasses.replace(
                                page, records=records, complete_ids=None, scope=None
                            )
                        )
        finally:
            connector.close()
    return pages


def changed(pages: Sequence[Any]) -> list[Any]:
    """Return the pages with every record's text edited (so every row is rewritten)."""
    out = []
    for page in pages:
        records = []
        for record in page.records:
            if hasattr(record, "title"):
                record = dataclasses.replace(record, title=record.title + " (edited)")
            elif hasattr(record, "message"):
                record = dataclasses.replace(record, message=record.message + " (edited)")
            elif hasattr(record, "to_value"):
                record = dataclasses.replace(record, to_value=(record.to_value or "") + "!")
            elif hasattr(record, "comment"):
                record = dataclasses.replace(record, comment=(record.comment or "") + "!")
            records.append(record)
        out.append(dataclasses.replace(page, records=records))
    return out


def upsert(url: str, pages: Sequence[Any], passes: Sequence[Sequence[Any]]) -> list[float]:
    """Write ``pages`` once per pass with ``Store.write_page``; return seconds per pass."""
    from pmsync.store import Store

    store = Store.open(url, var_dir=VAR)
    store.upgrade()
    run = store.start_run(SOURCE, "bench")
    seconds = []
    try:
        for batch in passes:
            with Stopwatch() as watch:
                for page in batch:
                    store.write_page(SOURCE, "bench", page, run)
            seconds.append(watch.seconds)
    finally:
        store.close()
    return seconds


def upsert_ready_rows(url: str, pages: Sequence[Any]) -> float:
    """Time the store's write path alone on rows already mapped and hashed.

    The same ``_write_kind`` ``write_page`` runs (one SELECT of known ids and
    hashes, then ``INSERT .. ON CONFLICT DO UPDATE``), one transaction per page,
    into an empty database: exactly the rows executemany inserts, so the ratio
    is the price of upserting rather than inserting.
    """
    from pmsync.rows import sort_records
    from pmsync.store import Store
    from pmsync.upsert import KINDS, ROW_SPECS, PageCounts, _write_kind

    ready = [sort_records(page.records, ROW_SPECS, True).rows for page in pages]
    store = Store.open(url, var_dir=VAR)
    store.upgrade()
    source_id = store.source_id(SOURCE)
    now = datetime.now(UTC)
    try:
        with Stopwatch() as watch:
            for kinds in ready:
                counts = PageCounts()
                with store.transaction() as conn:
                    for kind, rows in kinds.items():
                        counts.of(kind).add(_write_kind(conn, source_id, KINDS[kind], rows, now))
                store._analyse_grown_tables(counts)  # as write_page does (PostgreSQL)
    finally:
        store.close()
    return watch.seconds


def rows_of(pages: Sequence[Any], now: datetime) -> list[dict[str, list[dict[str, Any]]]]:
    """Return, per page, the rows per table ``write_page`` would insert."""
    from pmsync.rows import sort_records
    from pmsync.upsert import KINDS, ROW_SPECS

    out = []
    for page in pages:
        sorted_page = sort_records(page.records, ROW_SPECS)
        tables: dict[str, list[dict[str, Any]]] = {}
        for kind, rows in sorted_page.rows.items():
            tables[KINDS[kind].table.name] = [
                {
                    **row,
                    "source_id": 1,
                    "external_id": eid,
                    "deleted_at": None,
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for eid, row in rows.items()
            ]
        out.append(tables)
    return out


def executemany(url: str, page_rows: Sequence[dict[str, list[dict[str, Any]]]]) -> float:
    """Insert the rows with the driver's executemany, one transaction per page; return seconds."""
    from sqlalchemy import insert

    from pmsync import model
    from pmsync.store import Store
    from pmsync.upsert import _fast_converter

    store = Store.open(url, var_dir=VAR)
    store.upgrade()
    store.source_id(SOURCE)
    engine = store.engine
    dialect = engine.dialect
    tables = {t.name: t for t in model.Base.metadata.tables.values()}
    prepared: dict[str, tuple[str, list[str], list[Any]]] = {}
    raw = engine.raw_connection()
    try:
        with Stopwatch() as watch:
            for tables_rows in page_rows:
                cursor = raw.cursor()
                if dialect.name == "sqlite":  # the store's connections leave BEGIN to the caller
                    cursor.execute("BEGIN IMMEDIATE")
                for name, rows in tables_rows.items():
                    if name not in prepared:
                        table = tables[name]
                        compiled = insert(table).compile(dialect=dialect, column_keys=list(rows[0]))
                        # the statement's own parameter order (qmark) or names (pyformat)
                        columns = list(compiled.positiontup or compiled.binds)
                        # the store's own converters: the cheapest correct ones
                        processors = [
                            _fast_converter(table.c[c], dialect)
                            or table.c[c].type._cached_bind_processor(dialect)
                            for c in columns
                        ]
                        prepared[name] = (str(compiled), columns, processors)
                    sql, columns, processors = prepared[name]
                    pairs = list(zip(columns, processors, strict=True))
                    params: list[Any]
                    if dialect.positional:
                        params = [
                            tuple(p(row[c]) if p is not None else row[c] for c, p in pairs)
                            for row in rows
                        ]
                    else:
                        params = [
                            {c: p(row[c]) if p is not None else row[c] for c, p in pairs}
                            for row in rows
                        ]
                    cursor.executemany(sql, params)
                raw.commit()
                cursor.close()
    finally:
        raw.close()
        store.close()
    return watch.seconds


def main(argv: Sequence[str]) -> None:
    """Measure upsert vs executemany on SQLite and PostgreSQL; print the table."""
    size = FULL.scaled(0.01 if quick(argv) else 0.1)
    root = VAR / "store"
    shutil.rmtree(root, ignore_errors=True)
    console.rule(f"store: upsert vs executemany ({size.label} scenario)")
    with SandboxProcess(size, root) as box:
        now = datetime.fromisoformat(box.clock())
        pages = collect_pages(box.config_dir, now)
    edited = changed(pages)
    page_rows = rows_of(pages, datetime.now(UTC))
    count = sum(len(rows) for tables in page_rows for rows in tables.values())
    rows = []
    for backend in backends():
        with database(backend, root) as url:
            new, same, edit = upsert(url, pages, [pages, pages, edited])
        with database(backend, root) as url:
            plain = executemany(url, page_rows)
        with database(backend, root) as url:
            ready = upsert_ready_rows(url, pages)
        base = count / plain
        rows.append([backend, "executemany (baseline)", fmt(plain, 2), fmt(base, 0), "1.00x"])
        rows.append(
            [
                backend,
                "upsert of the same rows, all new",
                fmt(ready, 2),
                fmt(count / ready, 0),
                ratio(count / ready, base),
            ]
        )
        for label, seconds in (
            ("upsert, all new", new),
            ("upsert, all unchanged", same),
            ("upsert, all changed", edit),
        ):
            rate = count / seconds
            rows.append([backend, label, fmt(seconds, 2), fmt(rate, 0), ratio(rate, base)])
    show(
        f"Store: {count:,} rows in {len(pages)} pages (work items, changes, worklogs, commits)",
        ["database", "writer", "seconds", "rows/s", "vs executemany"],
        rows,
        "goal: upsert ≥ 0.7x executemany's rows/s. 'upsert of the same rows' is the "
        "write path alone (rows mapped and hashed beforehand, as executemany's are); "
        "'upsert, ...' is `Store.write_page` from records: mapping, hashing and writing.",
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
