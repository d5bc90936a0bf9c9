"""The store as the sync engine and an operator see it: idempotent, atomic, lossless."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from pmsync import model
from pmsync.errors import DatabaseUnreachable
from pmsync.ids import ExternalIds
from pmsync.records import (
    CalendarEvent,
    Commit,
    Deletion,
    Page,
    PersonRef,
    PullRequest,
    Quarantined,
    Record,
    SourceMilestone,
    WorkItem,
    WorkItemChange,
    Worklog,
)
from pmsync.store import Store
from pmsync.upsert import among

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
BERLIN = timezone(timedelta(hours=1))


def item(n: int, *, title: str | None = None, container: str = "PAY", **kw: Any) -> WorkItem:
    return WorkItem(
        external_id=str(n),
        key=f"{container}-{n}",
        title=title or f"Item {n}",
        container=container,
        item_type="Story",
        status="In Progress",
        status_category="in_progress",
        created_at=T0,
        updated_at=T0 + timedelta(minutes=n),
        assignee=PersonRef(f"user{n % 7}", f"User {n % 7}"),
        labels=("backend", "q1"),
        **{"custom": {"team": "payments", "n": n}, **kw},
    )


def count(store: Store, table: type[model.Base], **where: Any) -> int:
    with store.session(readonly=True) as s:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(getattr(table, column) == value)
        return s.scalar(query) or 0


def live_ids(store: Store, table: type[model.RecordColumns]) -> set[str]:
    with store.session(readonly=True) as s:
        query = select(table.external_id).where(table.deleted_at.is_(None))
        return set(s.scalars(query))


def write(store: Store, records: Sequence[Record], **page: Any) -> Any:
    return store.write_page("jira", "issues", Page(records, **page), None)


def test_rows_a_pull_worker_made_are_stored_as_the_records_would_be(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker sends rows with their JSON as text only (``rows.sorted_page``); written
    by the store, or by an engine that serialises JSON itself, they store what the
    records store: the same payload, the same hash."""
    import pickle

    from sqlalchemy import create_engine

    import pmsync.upsert
    from pmsync.rows import sorted_page
    from pmsync.upsert import ROW_SPECS, write_records

    raw = {"fields": {"summary": "<script>alert(1)</script>", "labels": ["a", "b"]}, "id": "7"}
    records = [item(1, raw=raw), item(2)]
    source = store.source_id("engine")
    own = create_engine(store.engine.url.render_as_string(hide_password=False))
    try:
        with monkeypatch.context() as fresh, own.begin() as conn:
            # statements compiled for this engine, with its own JSON serializer
            fresh.setattr(pmsync.upsert, "_WRITERS", {})
            fresh.setattr(pmsync.upsert, "_STAGED", {})
            # as across the pipe
            sent = pickle.loads(pickle.dumps(sorted_page(Page(records), ROW_SPECS)))
            counts = write_records(conn, source, "issues", sent.rows, None, None, T0)
    finally:
        own.dispose()
    assert counts.created == 2
    store.write_page("direct", "issues", Page(records), None)
    sent = pickle.loads(pickle.dumps(sorted_page(Page(records), ROW_SPECS)))
    store.write_page("worker", "issues", sent, None)
    wi = model.WorkItem
    with store.session(readonly=True) as s:
        stored = {
            (name, external_id): (payload_hash, raw_value)
            for name, external_id, payload_hash, raw_value in s.execute(
                select(model.Source.name, wi.external_id, wi.payload_hash, wi.raw).join(
                    model.Source, model.Source.id == wi.source_id
                )
            )
        }
    direct = {eid: v for (name, eid), v in stored.items() if name == "direct"}
    assert direct["1"][1] == raw
    for name in ("worker", "engine"):
        assert {eid: v for (n, eid), v in stored.items() if n == name} == direct


def test_writing_the_same_10000_items_twice_keeps_10000_rows(store: Store) -> None:
    items = [item(n) for n in range(10_000)]
    first = write(store, items)  # one big page: statements must chunk, not fail
    assert (first.created, first.updated, first.unchanged) == (10_000, 0, 0)
    again = [write(store, items[i : i + 1000]) for i in range(0, 10_000, 1000)]
    assert sum(c.unchanged for c in again) == 10_000
    assert sum(c.created + c.updated for c in again) == 0
    assert count(store, model.WorkItem) == 10_000
    assert count(store, model.Identity) == 7


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_first_sync_leaves_postgresql_statistics_for_its_lookups(store: Store) -> None:
    """A full sync fills empty tables faster than autovacuum looks at them.

    Without statistics PostgreSQL plans each page's id lookup as if the table
    were empty, and the sync slows down as it grows (docs/store.md): the store
    analyses a table each time it has doubled it, from 1,000 rows on.
    """
    table = model.WorkItem.__tablename__

    def planned_rows() -> float:
        with store.engine.connect() as conn:
            return float(
                conn.exec_driver_sql(
                    "SELECT reltuples FROM pg_class WHERE relname = %s "
                    "AND relnamespace = current_schema()::regnamespace",
                    (table,),
                ).scalar_one()
            )

    write(store, [item(n) for n in range(500)])
    assert planned_rows() < 0  # never analysed: PostgreSQL knows nothing of it yet
    write(store, [item(n) for n in range(500, 1_200)])
    assert planned_rows() == 1_200


def test_changed_records_count_as_updated_and_are_rewritten(store: Store) -> None:
    write(store, [item(1), item(2), item(3)])
    counts = write(store, [item(1), item(2, title="Renamed"), item(4)])
    assert counts.of("work_item").created == 1
    assert counts.of("work_item").updated == 1
    assert counts.of("work_item").unchanged == 1
    with store.session(readonly=True) as s:
        row = s.scalars(select(model.WorkItem).where(model.WorkItem.external_id == "2")).one()
        assert row.title == "Renamed"
        assert row.labels == ["backend", "q1"]
        assert row.custom == {"team": "payments", "n": 2}


class _Forced(dict[Any, bool]):
    """``upsert._MOSTLY_UNCHANGED`` that answers one value for every table, whatever is written."""

    def __init__(self, value: bool) -> None:
        super().__init__()
        self.value = value

    def get(self, key: Any, default: Any = None) -> bool:  # type: ignore[override]
        return self.value

    def __setitem__(self, key: Any, value: bool) -> None:
        pass


def force_write_path(monkeypatch: pytest.MonkeyPatch, mostly_unchanged: bool) -> None:
    """Make PostgreSQL write every page by the lookup (True) or the staged upsert (False)."""
    from pmsync import upsert

    monkeypatch.setattr(upsert, "_MOSTLY_UNCHANGED", _Forced(mostly_unchanged))


def test_pages_of_any_size_share_one_lookup_statement(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's known rows are looked up, and its unchanged rows touched, by one statement
    whatever the page's size. A statement per size had left SQLite's driver keeping
    hundreds of prepared statements, 28 MB in a 100k-item sync (docs/benchmarks.md)."""
    force_write_path(monkeypatch, mostly_unchanged=True)  # PostgreSQL: the lookup, as SQLite
    sql: set[str] = set()

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sql.add(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        first = 0
        for size in (1, 2, 3, 5, 8, 13, 21, 34):
            page = [item(n) for n in range(first, first + size)]
            assert write(store, page).of("work_item").created == size
            assert write(store, page).of("work_item").unchanged == size
            first += size
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)
    lookups = [
        s for s in sql if s.startswith("SELECT work_item.external_id, work_item.payload_hash")
    ]
    touches = [s for s in sql if s.startswith("UPDATE work_item SET last_seen_at")]
    assert (len(lookups), len(touches)) == (1, 1), sorted(sql)
    assert count(store, model.WorkItem) == first


def _sqlite_memory_used() -> Callable[[], int]:
    """Return SQLite's own count of the bytes it holds (``sqlite3_memory_used``), read from
    the library Python's ``sqlite3`` is linked against; skip where it is built in."""
    import ctypes

    maps = Path("/proc/self/maps")
    paths = (
        {line.split()[-1] for line in maps.read_text().splitlines() if "libsqlite3" in line}
        if maps.exists()
        else set()
    )
    if len(paths) != 1:
        pytest.skip("Python's sqlite3 is not linked against a shared libsqlite3 here")
    used = ctypes.CDLL(paths.pop()).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return lambda: int(used())


def test_scratch_tables_keep_a_bounded_cache_on_a_pooled_connection(tmp_path: Path) -> None:
    """The plan refresh fills temporary tables on a pooled connection; whatever it filled,
    the connection keeps at most the store's temporary cache afterwards (SQLite's own
    default kept 500 pages, 8 MB at pmsync's page size, for the life of the connection)."""
    url = f"sqlite:///{tmp_path / 'pmsync.db'}"
    created = Store.open(url, var_dir=tmp_path)
    created.upgrade()
    created.close()
    # As a daemon opens its store: a migration on the same connection would have reset the
    # temporary database's settings, which hid SQLite's default from this test.
    store = Store.open(url, var_dir=tmp_path)
    used = _sqlite_memory_used()
    with store.transaction() as conn:
        before = used()
        conn.exec_driver_sql("CREATE TEMPORARY TABLE scratch (n INTEGER, padding TEXT)")
        conn.exec_driver_sql(  # 30 MB of rows, then an index over them
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 150000)"
            " INSERT INTO scratch SELECT n, printf('%0200d', n) FROM r"
        )
        conn.exec_driver_sql("CREATE INDEX scratch_ix ON scratch (padding)")
        assert conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar() == 150_000
        conn.exec_driver_sql("DROP TABLE scratch")
    kept = used() - before
    store.close()
    assert kept < 3 * 2**20, f"{kept / 2**20:.1f} MB kept"


@pytest.mark.parametrize("values", [[], [2], [1, 3, 99]], ids=["none", "one", "some"])
def test_among_matches_the_listed_values_as_in_does(store: Store, values: list[int]) -> None:
    write(store, [item(n) for n in (1, 2, 3, 4)])
    wi = model.table_of(model.WorkItem)
    with store.session(readonly=True) as s:
        dialect = s.get_bind().dialect.name
        by_id = set(s.scalars(select(wi.c.external_id).where(among(dialect, wi.c.id, "v", values))))
        by_key = set(
            s.scalars(
                select(wi.c.id).where(
                    among(dialect, wi.c.external_id, "v", [str(v) for v in values])
                )
            )
        )
        ids = {row.external_id: row.id for row in s.execute(select(wi.c.external_id, wi.c.id))}
    assert by_id == {external for external, row in ids.items() if row in values}
    assert by_key == {ids[str(v)] for v in values if str(v) in ids}


@pytest.mark.parametrize("mostly_unchanged", [False, True], ids=["upsert-returning", "lookup"])
def test_both_write_paths_count_and_store_the_same(
    store: Store, monkeypatch: pytest.MonkeyPatch, mostly_unchanged: bool
) -> None:
    """PostgreSQL writes a page by one upsert that says what it did, or after a lookup.

    Which one depends on the last page (``upsert._MOSTLY_UNCHANGED``); both must
    count and store the same. SQLite always looks up.
    """
    force_write_path(monkeypatch, mostly_unchanged)
    write(store, [item(n) for n in range(1, 6)])
    write(store, [Deletion("5", "work_item")])
    counts = write(store, [item(1), item(2, title="Renamed"), item(5), item(6)])
    work = counts.of("work_item")
    assert (work.created, work.updated, work.unchanged) == (1, 2, 1)
    assert live_ids(store, model.WorkItem) == {"1", "2", "3", "4", "5", "6"}
    with store.session(readonly=True) as s:
        rows = {r.external_id: r for r in s.scalars(select(model.WorkItem))}
    assert rows["2"].title == "Renamed" and rows["5"].deleted_at is None
    seen = {key: rows[key].last_seen_at for key in ("1", "3")}
    assert seen["1"] > seen["3"], "an unchanged row written again is seen again"


AWKWARD = (
    "tab\there\nnew line\r\n\\N back\\slash \\. <script>alert(1)</script>"
    " \"q\" 'q' \u00e9\U0001f600 \x7f"
)
"""Text that a COPY in text format would misread if it were not escaped."""


@pytest.mark.parametrize("mostly_unchanged", [False, True], ids=["upsert-returning", "lookup"])
def test_awkward_text_is_stored_exactly_by_both_write_paths(
    store: Store, monkeypatch: pytest.MonkeyPatch, mostly_unchanged: bool
) -> None:
    """PostgreSQL stages a page with COPY: tabs, newlines, ``\\N`` and backslashes survive."""
    force_write_path(monkeypatch, mostly_unchanged)
    awkward = replace(
        item(1, title=AWKWARD),
        labels=(AWKWARD, "\\N"),
        custom={"text": AWKWARD, "nested": {"n": None, "t": "\t"}},
    )
    first = write(store, [awkward, item(2)])
    edited = replace(awkward, title=AWKWARD + "!", priority=AWKWARD, raw={"body": AWKWARD})
    second = write(store, [edited, item(2)])
    assert (first.created, second.updated, second.unchanged) == (2, 1, 1)
    with store.session(readonly=True) as s:
        row = s.scalars(select(model.WorkItem).where(model.WorkItem.external_id == "1")).one()
    assert (row.title, row.priority, row.raw) == (AWKWARD + "!", AWKWARD, {"body": AWKWARD})
    assert row.labels == [AWKWARD, "\\N"]
    assert row.custom == {"text": AWKWARD, "nested": {"n": None, "t": "\t"}}


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_role_that_may_not_create_temporary_tables_still_writes(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    """A hardened database revokes ``TEMPORARY`` from ``PUBLIC``: pages go by the lookup then."""
    import uuid

    from sqlalchemy.engine import make_url

    role = f"pmsync_no_temp_{uuid.uuid4().hex[:8]}"
    with store.engine.begin() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.exec_driver_sql(f'CREATE ROLE "{role}"')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        for what in ("TABLES", "SEQUENCES"):
            conn.exec_driver_sql(f'GRANT ALL ON ALL {what} IN SCHEMA "{schema}" TO "{role}"')
        conn.exec_driver_sql(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')
    url = make_url(db_url)
    options = f"{url.query['options']} -crole={role}"
    hardened = Store.open(url.update_query_dict({"options": options}), var_dir=tmp_path / "v")
    try:
        with hardened.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == role
            assert not conn.exec_driver_sql(
                "SELECT has_database_privilege(current_database(), 'TEMPORARY')"
            ).scalar()
        first = write(hardened, [item(1), item(2)])
        second = write(hardened, [item(1, title="Renamed"), item(2), item(3)])
    finally:
        hardened.close()
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f'GRANT TEMPORARY ON DATABASE "{database}" TO PUBLIC')
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')
    assert (first.created, second.created, second.updated, second.unchanged) == (2, 1, 1, 1)
    assert live_ids(store, model.WorkItem) == {"1", "2", "3"}


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_postgresql_pings_only_connections_that_sat_idle_and_replaces_dead_ones(
    db_url: str, make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync writes page after page on a connection it just used: no ping for those.
    A connection left idle is pinged first, and one the server dropped meanwhile
    (a restart between two syncs of the daemon) is replaced without an error."""
    import time

    import pmsync.store

    store = make_store()
    pings: list[object] = []
    ping = store.engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(store.engine.dialect, "do_ping", counted)
    for n in range(3):
        write(store, [item(n)])
    assert pings == []  # each page took the connection the last one had just returned

    monkeypatch.setattr(pmsync.store, "PING_AFTER_IDLE_SECONDS", 0.2)
    with store.engine.connect() as conn:
        backends = {conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()}
    other = make_store()
    with other.engine.connect() as conn:
        for pid in backends:
            conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,))
        conn.commit()
    time.sleep(0.3)
    write(store, [item(3)])  # no error: the dead connection was found and replaced
    assert len(pings) >= 1
    assert count(store, model.WorkItem) == 4


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_postgresql_compresses_long_payloads_with_lz4_unless_the_url_says(
    db_url: str, make_store: Callable[..., Store], tmp_path: Path
) -> None:
    """A payload past PostgreSQL's 2 KB row threshold is compressed with lz4, which
    costs the server about half of pglz's time in a full sync's writes (docs/store.md)."""
    from sqlalchemy.engine import make_url

    store = make_store()
    with store.engine.connect() as conn:
        methods = conn.exec_driver_sql(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
    if not methods or "lz4" not in methods:
        pytest.skip("this PostgreSQL server cannot compress with lz4")

    def compression(store: Store) -> dict[str, str | None]:
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT external_id, pg_column_compression(raw) FROM work_item"
            ).all()
        return {str(external_id): method for external_id, method in rows}

    long = {"description": "The payment provider answers slowly at month end. " * 200}
    write(store, [item(1, raw=long), item(2)])
    assert compression(store) == {"1": "lz4", "2": None}  # a short payload stays as it is

    url = make_url(db_url)
    asked = url.update_query_dict(
        {"options": f"{url.query['options']} -c default_toast_compression=pglz"}
    )
    own = Store.open(asked.render_as_string(hide_password=False), var_dir=tmp_path)
    try:
        write(own, [item(3, raw=long)])
        assert compression(own)["3"] == "pglz"
    finally:
        own.close()


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_postgresql_sessions_run_without_jit_unless_the_url_sets_it(
    db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy.engine import make_url

    def session_settings(url: Any) -> tuple[str, str]:
        store = Store.open(url, var_dir=tmp_path)
        try:
            with store.engine.connect() as conn:
                jit = conn.exec_driver_sql("SHOW jit").scalar()
                schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        finally:
            store.close()
        return str(jit), str(schema)

    url = make_url(db_url)
    schema = url.query["options"].split("search_path=")[1]
    assert session_settings(db_url) == ("off", schema)  # the URL's own options still apply
    asked = url.update_query_dict({"options": f"{url.query['options']} -c jit=on"})
    assert session_settings(asked) == ("on", schema)


def test_the_urls_own_options_are_kept_and_name_jit_only_as_a_setting() -> None:
    from sqlalchemy.engine import make_url

    from pmsync.store import _postgresql_options

    def options(query: str) -> dict[str, str]:
        return _postgresql_options(make_url(f"postgresql+psycopg://u@h/db{query}"))

    assert options("") == {"options": "-c jit=off"}
    assert options("?options=-csearch_path%3Djitters") == {
        "options": "-csearch_path=jitters -c jit=off"
    }
    assert options("?options=-c%20jit%3Don") == {}
    assert options("?options=--jit%3Don") == {}


def test_duplicate_ids_in_one_page_last_one_wins(store: Store) -> None:
    counts = write(store, [item(1, title="old"), item(1, title="new")])
    assert counts.created == 1
    with store.session(readonly=True) as s:
        assert s.scalars(select(model.WorkItem.title)).all() == ["new"]


def test_a_failed_page_leaves_the_committed_pages_and_their_cursor(store: Store) -> None:
    store.write_page("jira", "issues", Page([item(1), item(2)], cursor={"updated": "p1"}), None)

    def explode(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "sync_cursor" in statement:  # the page's rows are already sent by now
            raise RuntimeError("power cut")

    event.listen(store.engine, "before_cursor_execute", explode)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            page = Page([item(2, title="changed"), item(3)], cursor={"updated": "p2"})
            store.write_page("jira", "issues", page, None)
    finally:
        event.remove(store.engine, "before_cursor_execute", explode)

    assert store.get_cursor("jira", "issues") == {"updated": "p1"}
    assert live_ids(store, model.WorkItem) == {"1", "2"}
    with store.session(readonly=True) as s:
        assert s.scalar(select(model.WorkItem.title).where(model.WorkItem.external_id == "2")) == (
            "Item 2"
        )
    # resuming from the stored cursor writes the page in flight exactly once
    page = Page([item(2, title="changed"), item(3)], cursor={"updated": "p2"})
    counts = store.write_page("jira", "issues", page, None)
    assert (counts.created, counts.updated) == (1, 1)
    assert store.get_cursor("jira", "issues") == {"updated": "p2"}


def _identity(store: Store, login: str) -> Any:
    with store.session(readonly=True) as s:
        return s.execute(
            select(
                model.Identity.display_name, model.Identity.email, model.Identity.last_seen_at
            ).where(model.Identity.login == login)
        ).one_or_none()


def _counting_identity_writes(store: Store) -> list[str]:
    seen: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO IDENTITY"):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", spy)
    return seen


def person_item(n: int, who: PersonRef) -> WorkItem:
    return replace(item(n), assignee=who)


def test_accounts_are_written_once_an_hour_unless_their_names_change(
    make_store: Callable[..., Store],
) -> None:
    clock = [T0]
    store = make_store(now=lambda: clock[0])
    writes = _counting_identity_writes(store)
    write(store, [person_item(1, PersonRef("ana", "Ana Lima", "ana@x.example"))])
    assert len(writes) == 1
    # the next pages name her again: nothing to write, her row stays as it was
    clock[0] = T0 + timedelta(minutes=30)
    write(store, [person_item(2, PersonRef("ana", "Ana Lima", "ana@x.example"))])
    write(store, [person_item(3, PersonRef("ana"))])  # a page without her names
    assert len(writes) == 1
    assert _identity(store, "ana") == ("Ana Lima", "ana@x.example", T0)
    # a new name is written at once
    write(store, [person_item(4, PersonRef("ana", "Ana Lima-Souza"))])
    assert len(writes) == 2
    assert _identity(store, "ana") == ("Ana Lima-Souza", "ana@x.example", clock[0])
    # an hour after her last write, a page that names her writes her again
    clock[0] = T0 + timedelta(minutes=95)
    write(store, [person_item(5, PersonRef("ana", "Ana Lima-Souza"))])
    assert len(writes) == 3
    assert _identity(store, "ana") == ("Ana Lima-Souza", "ana@x.example", clock[0])


def test_a_page_rolled_back_leaves_its_accounts_to_be_written_again(store: Store) -> None:
    def explode(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "sync_cursor" in statement:  # the identity was upserted earlier in this transaction
            raise RuntimeError("power cut")

    event.listen(store.engine, "before_cursor_execute", explode)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            page = Page([person_item(1, PersonRef("bo", "Bo Berg"))], cursor={"p": 1})
            store.write_page("jira", "issues", page, None)
    finally:
        event.remove(store.engine, "before_cursor_execute", explode)
    assert _identity(store, "bo") is None
    write(store, [person_item(1, PersonRef("bo", "Bo Berg"))])
    assert _identity(store, "bo") is not None and _identity(store, "bo")[0] == "Bo Berg"


def test_a_page_without_cursor_keeps_the_previous_one(store: Store) -> None:
    assert store.get_cursor("jira", "issues") is None
    write(store, [item(1)], cursor={"at": 1})
    write(store, [item(2)])
    assert store.get_cursor("jira", "issues") == {"at": 1}
    assert store.get_cursor("jira", "worklogs") is None


def test_quarantine_keeps_reason_and_payload_and_the_page_goes_on(store: Store) -> None:
    bad = Quarantined("77", "work_item", "no status in payload", {"key": "PAY-77", "f": [1]})
    counts = write(store, [item(1), bad])
    assert counts.created == 1
    assert counts.of("work_item").quarantined == 1
    write(store, [bad])
    [entry] = store.quarantined(source="jira")
    assert (entry.record_kind, entry.external_id, entry.stream) == ("work_item", "77", "issues")
    assert entry.reason == "no status in payload"
    assert entry.payload == {"key": "PAY-77", "f": [1]}
    assert entry.times == 2
    write(store, [item(77)])  # the connector learnt to map it
    assert store.quarantined() == []


def test_an_unstorable_record_is_quarantined_not_fatal(store: Store) -> None:
    weird = item(5, custom={"when": object()})
    counts = write(store, [item(1), weird])
    assert counts.created == 1
    [entry] = store.quarantined()
    assert entry.external_id == "5"
    assert "not JSON-serialisable" in entry.reason


def test_deletions_mark_rows_and_keep_history(store: Store) -> None:
    write(store, [item(1), item(2)])
    counts = write(store, [Deletion("2", "work_item"), Deletion("404", "work_item")])
    assert counts.of("work_item").deleted == 1
    assert live_ids(store, model.WorkItem) == {"1"}
    assert count(store, model.WorkItem) == 2  # still there for reports
    again = write(store, [item(2)])  # it came back, unchanged
    assert again.updated == 1
    assert live_ids(store, model.WorkItem) == {"1", "2"}


def test_complete_ids_reconcile_deletions_within_the_scope(store: Store) -> None:
    write(store, [item(n, container="PAY") for n in range(1, 5)])
    write(store, [item(n, container="OPS") for n in range(10, 13)])
    counts = write(
        store, [item(1, container="PAY")], complete_ids={"work_item": {"1", "3"}}, scope="PAY"
    )
    assert counts.of("work_item").deleted == 2
    assert live_ids(store, model.WorkItem) == {"1", "3", "10", "11", "12"}
    counts = write(store, [], complete_ids={"work_item": frozenset({"1", "3", "10"})})
    assert counts.deleted == 2  # no scope: the whole stream
    assert live_ids(store, model.WorkItem) == {"1", "3", "10"}


def test_complete_after_keeps_history_before_a_sliding_window(store: Store) -> None:
    def event(n: int, start: datetime) -> CalendarEvent:
        return CalendarEvent(f"cal/e{n}", "cal", "Status", start, start + timedelta(hours=1), T0)

    window_start = T0 + timedelta(days=10)
    write(store, [event(1, T0), event(2, window_start), event(3, window_start + timedelta(1))])
    # a full listing of the window no longer has e3; e1 is simply before the window
    counts = write(
        store,
        [event(2, window_start)],
        complete_ids={"calendar_event": frozenset({"cal/e2"})},
        scope="cal",
        complete_after=window_start,
    )
    assert counts.of("calendar_event").deleted == 1
    assert live_ids(store, model.CalendarEvent) == {"cal/e1", "cal/e2"}


def test_every_record_kind_is_stored_with_its_people(store: Store) -> None:
    alice = PersonRef("alice", "Alice", "alice@example.com")
    records: list[Record] = [
        item(1),
        WorkItemChange("c1", "1", T0, "status", "To Do", "In Progress", alice),
        Worklog("w1", "1", alice, T0, 3600, T0),
        SourceMilestone("v1", "1.0", "PAY", due_date=date(2024, 6, 1)),
        Commit("org/api@abc", "abc", "org/api", "fix", T0, T0, PersonRef("alice")),
        PullRequest("org/api#3", 3, "org/api", "Fix", "open", T0, T0, author=alice),
        CalendarEvent(
            "cal/e1",
            "cal",
            "Status meeting",
            T0,
            T0 + timedelta(hours=1),
            T0,
            attendees=(alice, PersonRef("bob", "Bob")),
        ),
    ]
    counts = write(store, records)
    assert {k: c.created for k, c in counts.kinds.items()} == {
        "work_item": 1, "work_item_change": 1, "worklog": 1, "source_milestone": 1,
        "commit": 1, "pull_request": 1, "calendar_event": 1,
    }  # fmt: skip
    with store.session(readonly=True) as s:
        event_row = s.scalars(select(model.CalendarEvent)).one()
        assert event_row.attendee_logins == ["alice", "bob"]
        assert event_row.ends_at - event_row.starts_at == timedelta(hours=1)
        who = {i.login: (i.display_name, i.email) for i in s.scalars(select(model.Identity))}
    # "alice" without details in the commit does not erase what other records told
    assert who["alice"] == ("Alice", "alice@example.com")
    assert who["bob"] == ("Bob", None)
    assert write(store, records).unchanged == 7


def test_timestamps_come_back_aware_utc(store: Store) -> None:
    berlin = datetime(2024, 3, 1, 10, 30, tzinfo=BERLIN)
    write(store, [item(1, resolved_at=berlin)])
    with store.session(readonly=True) as s:
        row = s.scalars(select(model.WorkItem)).one()
    assert row.resolved_at == berlin
    assert row.resolved_at is not None and row.resolved_at.tzinfo == UTC
    assert row.created_at.tzinfo == UTC and row.first_seen_at.tzinfo == UTC


def test_each_row_keeps_its_own_times_beside_the_pages_shared_now(store: Store) -> None:
    # SQLite's writer remembers its last conversion (the page's one "now" repeats
    # on every row): a time that merely follows another must never take its text.
    items = [  # resolved on the half hour, one hour apart: the same minute, another time
        item(n, resolved_at=(T0 + timedelta(hours=n)).astimezone(BERLIN)) for n in range(1, 60)
    ]
    assert write(store, items).created == 59
    with store.session(readonly=True) as s:
        rows = {int(r.external_id): r for r in s.scalars(select(model.WorkItem))}
    assert {n: r.updated_at for n, r in rows.items()} == {
        n: T0 + timedelta(minutes=n) for n in range(1, 60)
    }
    assert {n: r.resolved_at for n, r in rows.items()} == {
        n: T0 + timedelta(hours=n) for n in range(1, 60)
    }
    assert len({(r.first_seen_at, r.last_seen_at, r.created_at) for r in rows.values()}) == 1


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.session() as s:
        s.add(model.Person(name="Ann", created_at=datetime(2024, 1, 1)))


def test_sync_runs_count_what_their_pages_stored(store: Store) -> None:
    clock = iter(T0 + timedelta(seconds=i) for i in range(100))
    store.now = lambda: next(clock)
    run = store.start_run("jira", "issues", full=True)
    store.write_page("jira", "issues", Page([item(1), item(2)]), run)
    store.write_page("jira", "issues", Page([item(2), item(3)], cursor={"x": 1}), run)
    store.finish_run(run, status="ok", requests=4, not_modified=1, retries=2)
    failed = store.start_run("jira", "worklogs")
    store.finish_run(failed, status="failed", error="HTTP 503 from jira.example.com")
    newest, oldest = store.list_runs(source="jira")
    assert (newest.stream, newest.status, newest.error) == (
        "worklogs",
        "failed",
        "HTTP 503 from jira.example.com",
    )
    assert (oldest.pages, oldest.created, oldest.unchanged, oldest.full) == (2, 3, 1, True)
    assert (oldest.requests, oldest.not_modified, oldest.retries) == (4, 1, 2)
    assert oldest.finished_at is not None and oldest.finished_at > oldest.started_at
    assert store.list_runs(source="github") == []


def test_two_stores_on_one_database_see_each_others_pages(
    make_store: Callable[..., Store],
) -> None:
    first, second = make_store(), make_store()
    first.write_page("jira", "issues", Page([item(1)], cursor={"p": 1}), None)
    counts = second.write_page("jira", "issues", Page([item(1), item(2)], cursor={"p": 2}), None)
    assert (counts.created, counts.unchanged) == (1, 1)
    assert first.get_cursor("jira", "issues") == {"p": 2}


def test_default_database_is_a_sqlite_file_in_var_dir(tmp_path: Path) -> None:
    store = Store.open(None, var_dir=tmp_path / "var")
    try:
        store.upgrade()
        assert store.is_current()
        assert (tmp_path / "var" / "pmsync.db").exists()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 16_384
    finally:
        store.close()


def test_a_store_made_with_4_kib_pages_keeps_them_and_works(tmp_path: Path) -> None:
    # Stores created before pmsync chose 16 KiB pages: SQLite cannot change the
    # size of a WAL database in place, so they must open, migrate and write as they are.
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("PRAGMA page_size=4096")
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("CREATE TABLE kept (note TEXT)")
        old.execute("INSERT INTO kept VALUES ('written by an older pmsync')")
    old.close()
    store = Store.open(f"sqlite:///{path}", var_dir=tmp_path)
    try:
        store.upgrade()
        assert write(store, [item(1), item(2)]).created == 2
        assert live_ids(store, model.WorkItem) == {"1", "2"}
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
            assert conn.exec_driver_sql("SELECT note FROM kept").scalar() == (
                "written by an older pmsync"
            )
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+psycopg://pm:s3cret@127.0.0.1:1/pmsync",
            r"cannot use database postgresql\+psycopg://pm:\*\*\*@127\.0\.0\.1:1/pmsync: .+",
        ),
        ("sqlite:////nonexistent/dir/pmsync.db", r"sqlite:////nonexistent/dir/pmsync.db: .*open"),
        ("mysql://pm:s3cret@db/pmsync", r"pm:\*\*\*@db/pmsync: pmsync supports sqlite"),
        ("not a url at all", r"cannot use database not a url at all: "),
    ],
)
def test_an_unusable_database_is_one_clear_line(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnreachable, match=message) as caught:
        Store.open(url, var_dir=tmp_path)
    text = str(caught.value)
    assert "s3cret" not in text
    assert "\n" not in text


def test_concurrent_writers_wait_for_each_other_instead_of_failing(
    make_store: Callable[..., Store],
) -> None:
    stores = [make_store(), make_store()]

    def sync(store: Store, offset: int) -> None:
        for page in range(15):
            start = offset + page * 20
            records = [item(n) for n in range(start, start + 20)]
            store.write_page(f"jira{offset}", "issues", Page(records, cursor={"p": page}), None)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(sync, s, i * 1000) for i, s in enumerate(stores)]:
            future.result()
    assert count(stores[0], model.WorkItem) == 600
    assert stores[1].get_cursor("jira0", "issues") == {"p": 14}


def test_a_compact_id_set_reconciles_across_read_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full pull's ids as ``ExternalIds``, the stored ids read a few at a time."""
    import pmsync.upsert

    monkeypatch.setattr(pmsync.upsert, "RECONCILE_BATCH", 3)
    write(store, [item(n) for n in range(1, 12)])
    still_there = ExternalIds(str(n) for n in range(1, 12) if n % 4)  # 4 and 8 are gone
    counts = write(store, [], complete_ids={"work_item": still_there}, scope="PAY")
    assert counts.of("work_item").deleted == 2
    assert live_ids(store, model.WorkItem) == {str(n) for n in range(1, 12) if n % 4}
