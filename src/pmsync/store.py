"""The store: one door to the database for the sync engine, linking, rules and reports.

SQLite is the embedded default (``var/pmsync.db``, WAL so readers never wait for
the writer); PostgreSQL is chosen by URL for production and replicas. What the
store promises:

* ``write_page`` stores a page's records and its cursor in ONE transaction, so a
  crash anywhere resumes from the last stored cursor without loss or duplicates;
* writes are set-based (see ``pmsync.upsert``), unchanged records are not rewritten;
* a database that cannot be used raises ``DatabaseUnreachable`` with one line
  naming the URL (password redacted) and the reason, never a driver traceback;
* the schema is Alembic's: ``upgrade()`` migrates to head with the migrations
  shipped in the package; ``is_current()`` says whether that is needed. A
  database already at head is told by one query, without loading Alembic.

On SQLite, write transactions start with ``BEGIN IMMEDIATE``: two threads that
both read then write would otherwise deadlock on the lock upgrade and fail with
"database is locked" instead of waiting for the busy timeout.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session

from pmsync import model
from pmsync.connectors import Clock, utc_now
from pmsync.errors import DatabaseUnreachable
from pmsync.migrations import HEAD
from pmsync.records import Page
from pmsync.rows import SortedPage, json_dumps
from pmsync.upsert import (
    KINDS,
    KindCounts,
    PageCounts,
    WrittenIdentities,
    insert_for,
    upsert_rows,
    write_records,
)

if TYPE_CHECKING:  # Alembic is imported only to migrate (see upgrade)
    from alembic.config import Config

__all__ = [
    "FAILING_RUNS",
    "FRESH_RUNS",
    "KindCounts",
    "PageCounts",
    "QuarantineEntry",
    "RunInfo",
    "RunStatus",
    "Store",
]

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 16_384
"""Bytes a page of a new SQLite store. A work item keeps its payload (a few KB of
JSON): with SQLite's default 4 KiB most rows spill onto overflow pages, and
every spilled page is one more frame to write to the WAL at commit. 16 KiB holds
such a row on its page; writing new GitHub issues costs a sixth less
(docs/benchmarks.md, section 2). SQLite can only set it before the first table:
a store created with another size keeps it."""
SQLITE_TEMP_CACHE_KIB = 2_000
"""The page cache of a connection's temporary database, as for its main one (SQLite's
default ``cache_size``). Left unset, the temporary database keeps 500 pages, 8 MB at
16 KiB, which each pooled connection that ever held a plan refresh's scratch tables
kept for good; with this bound the refresh takes as long (docs/store.md)."""
ANALYSE_AFTER_ROWS = 1_000
RunStatus = Literal["running", "ok", "partial", "failed"]
"""``partial``: the stream ran to its end but the source refused some scope (``Page.skipped``)."""
FRESH_RUNS: tuple[RunStatus, ...] = ("ok", "partial")
"""Run statuses after which a stream's data is current: a ``partial`` run stored all it could."""
FAILING_RUNS: tuple[RunStatus, ...] = ("failed", "partial")
"""Run statuses that need an admin: a failure, or a scope the source refused."""
_WRITE = "pmsync_write"
_T = TypeVar("_T")
_PG_MIGRATION_LOCK = 0x706D73796E63  # "pmsync": one upgrade at a time across replicas
_VERSION_TABLE = "alembic_version"  # Alembic's default, where it keeps the revision


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A sync run as ``pmsync status`` shows it."""

    id: int
    source: str
    stream: str
    full: bool
    status: str
    started_at: datetime
    finished_at: datetime | None
    pages: int
    created: int
    updated: int
    unchanged: int
    deleted: int
    quarantined: int
    requests: int
    not_modified: int
    retries: int
    error: str | None


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A record that could not be stored, with the reason and the payload."""

    source: str
    stream: str
    record_kind: str
    external_id: str
    reason: str
    payload: Any
    first_at: datetime
    at: datetime
    times: int


def in_memory(url: URL) -> bool:
    """Tell whether ``url`` is an SQLite database in memory: one connection's own, which
    no other connection, thread or process can open."""
    if url.get_backend_name() != "sqlite":
        return False
    return (url.database or "") in ("", ":memory:") or "mode=memory" in str(url)


def redact(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _reason(err: BaseException) -> str:
    inner = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    return lines[0] if lines else type(inner).__name__


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN, not the driver (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # a no-op once a table exists
        cursor.execute(f"PRAGMA temp.cache_size=-{SQLITE_TEMP_CACHE_KIB}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit no longer waits for an fsync (5 ms → 1.7 ms a page, see
        # docs/benchmarks.md). A power cut may drop the last commits, never corrupt the
        # file; each page goes with its cursor, so the next sync fetches them again.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _postgresql_options(url: URL) -> dict[str, str]:
    """Return the connection's ``options`` with PostgreSQL's JIT compilation off,
    unless the URL's own ``options`` set ``jit`` (they are kept either way).

    The server compiles a statement whose estimated cost passes ``jit_above_cost``
    (100,000 by default), which the plan refresh's statements over every work
    item do: about half a second each of a refresh that ran them once. Without
    it the first refresh after a 100k-item sync took 7.0-7.2 s instead of
    7.9-8.2 s, with the same result, and the analysis of 1,000,000 items the
    same (26.9 s from one read against 27.9 s; docs/benchmarks.md, section 1).
    """
    options = _url_options(url)
    if _sets(options, "jit"):
        return {}
    return {"options": f"{options} -c jit=off".strip()}


def _url_options(url: URL) -> str:
    """Return the URL's PostgreSQL ``options`` (the server settings it starts with)."""
    given = url.query.get("options", "")
    return " ".join(given) if isinstance(given, tuple) else given


def _sets(options: str, setting: str) -> bool:
    """Tell whether ``options`` set ``setting`` (``-c name=value`` or ``--name=value``)."""
    return re.search(rf"(-c\s*|--){setting}=", options) is not None


_LZ4 = (
    "SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings"
    " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
)
"""Compress with lz4 where the server can (14 and newer, built with lz4); else do nothing."""


def _wants_lz4(url: URL) -> bool:
    """Tell whether pmsync chooses the compression: unless the URL's ``options`` set it."""
    return not _sets(_url_options(url), "default_toast_compression")


PING_AFTER_IDLE_SECONDS = 10.0
"""PostgreSQL: a pooled connection idle this long is pinged before it is handed out."""

_IDLE_SINCE = "pmsync_idle_since"
"""The key of ``time.monotonic()`` at a pooled connection's last checkin, in its record's info."""


def _prepare_postgresql(engine: Engine, *, lz4: bool) -> None:
    """PostgreSQL: check idle connections before use; compress with lz4 where it can.

    **Ping.** A connection that sat in the pool for ``PING_AFTER_IDLE_SECONDS``
    or more answers a ``SELECT 1`` before it is handed out; one that does not
    is thrown away and another taken (SQLAlchemy's pessimistic disconnect
    handling, by a ``checkout`` event raising ``DisconnectionError``). A
    server restarted while the daemon waited between syncs costs it nothing.
    SQLAlchemy's ``pool_pre_ping`` pinged at every checkout, and a sync
    checks a connection out for every page: a round trip more per page, 6 %
    of the writing threads' time in a 100k-item sync (docs/benchmarks.md,
    section 1). A connection used a moment ago is used as it is; if the
    server went in that moment, the statement fails as it would have failed
    during the page anyway, and SQLAlchemy discards the pool's connections.

    **lz4.** Most work item rows pass the 2 KB at which PostgreSQL
    compresses, and with its default method, pglz, compressing was a tenth
    of the server's CPU in a full sync's writes: 20,000 work items inserted
    in 0.85-0.92 s, against 0.50-0.52 s with lz4, for the same size on disk
    (docs/benchmarks.md, section 1). A session setting, not a column's: a
    page's rows are compressed first in their ``COPY`` stage, a temporary
    table, and the upsert keeps them as they are. Set when a connection
    opens rather than as a startup option, which a server without lz4 would
    refuse, failing every connection.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()
        if lz4:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(_LZ4)
            dbapi_connection.commit()  # a setting made in a rolled-back transaction is undone

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as err:  # whatever the driver raises for a dead connection
            raise DisconnectionError(f"pooled connection did not answer: {err}") from err


def _snapshot(cls: type[_T], row: object, **given: Any) -> _T:
    names = [f.name for f in fields(cls) if f.name not in given]  # type: ignore[arg-type]
    return cls(**given, **{name: getattr(row, name) for name in names})


_PAGE_COUNTS = ("created", "updated", "unchanged", "deleted", "quarantined")


@cache
def _count_page() -> Any:
    """UPDATE sync run ``:run_id`` by one page and its counts (``:add_created`` ...).

    Built once, as the statements of ``pmsync.upsert`` that every page runs are:
    building it cost about 190 µs a page, executing it 15.
    """
    run = model.table_of(model.SyncRun)
    added = {
        name: run.c[name] + bindparam(f"add_{name}", type_=run.c[name].type)
        for name in _PAGE_COUNTS
    }
    return update(run).where(run.c.id == bindparam("run_id")).values(pages=run.c.pages + 1, **added)


class Store:
    """The database of one pmsync installation."""

    def __init__(self, engine: Engine, *, now: Clock = utc_now) -> None:
        self.engine = engine
        self.now = now
        self._writer = engine.execution_options(**{_WRITE: True})
        self._source_ids: dict[str, int] = {}
        self._identities = WrittenIdentities()
        self._grown: dict[str, int] = {}
        """PostgreSQL: rows this store inserted per table since it last analysed it."""
        self._analysed: dict[str, int] = {}

    @classmethod
    def open(cls, url: str | None, *, var_dir: Path, now: Clock = utc_now) -> Store:
        """Connect to ``url`` (default: SQLite ``var_dir/pmsync.db``) and check it answers."""
        if url is None:
            var_dir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{(var_dir / 'pmsync.db').resolve()}"
        shown = redact(url)
        try:
            parsed = make_url(url)
            backend = parsed.get_backend_name()
            if backend not in ("sqlite", "postgresql"):
                raise DatabaseUnreachable(
                    f"cannot use database {shown}: pmsync supports sqlite:/// and "
                    "postgresql+psycopg:// URLs"
                )
            kwargs: dict[str, Any] = {"json_serializer": json_dumps}
            if backend == "postgresql":
                kwargs["connect_args"] = {"connect_timeout": 10, **_postgresql_options(parsed)}
            engine = create_engine(parsed, **kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as err:
            raise DatabaseUnreachable(f"cannot use database {shown}: {_reason(err)}") from err
        if backend == "sqlite":
            _prepare_sqlite(engine)
        else:
            _prepare_postgresql(engine, lz4=_wants_lz4(parsed))
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as err:
            engine.dispose()
            raise DatabaseUnreachable(f"cannot use database {shown}: {_reason(err)}") from err
        return cls(engine, now=now)

    def describe(self) -> str:
        """Return the database URL for people to read (password hidden)."""
        return redact(self.engine.url.render_as_string(hide_password=False))

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # --- schema ---------------------------------------------------------------------

    def _alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
        return cfg

    def upgrade(self) -> None:
        """Migrate the schema to the newest revision (idempotent, safe across replicas).

        A database already at :data:`pmsync.migrations.HEAD` costs one query: every
        command opens the store this way, and Alembic takes longer to import than
        most of them take to run.
        """
        if self.is_current():
            return
        from alembic import command

        cfg = self._alembic_config()
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def current_revisions(self) -> set[str]:
        """Return the revisions the database is at (empty before the first upgrade)."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(_VERSION_TABLE):
                return set()
            return set(conn.scalars(text(f"SELECT version_num FROM {_VERSION_TABLE}")))

    def is_current(self) -> bool:
        """Tell whether the schema is at the newest revision."""
        return self.current_revisions() == {HEAD}

    # --- sessions -----------------------------------------------------------------

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """Yield an ORM session in a transaction: committed on success, rolled back on error."""
        bind = self.engine if readonly else self._writer
        with Session(bind, expire_on_commit=False) as s, s.begin():
            yield s

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield a Core connection in a write transaction."""
        with self._writer.begin() as conn:
            yield conn

    # --- sources and cursors -----------------------------------------------------------

    def source_id(self, name: str, *, kind: str | None = None) -> int:
        """Return the id of source ``name``, creating it on first use."""
        if name in self._source_ids:
            return self._source_ids[name]
        table = model.table_of(model.Source)
        with self.transaction() as conn:
            stmt = insert_for(conn, table).values(name=name, kind=kind, created_at=self.now())
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            found = conn.scalar(select(model.Source.id).where(model.Source.name == name))
        assert found is not None
        self._source_ids[name] = found
        return found

    def get_cursor(self, source: str, stream: str) -> dict[str, Any] | None:
        """Return the stored cursor of ``stream`` (None before the first page)."""
        with self.engine.connect() as conn:
            return conn.scalar(
                select(model.SyncCursor.cursor)
                .join(model.Source, model.Source.id == model.SyncCursor.source_id)
                .where(model.Source.name == source, model.SyncCursor.stream == stream)
            )

    def _set_cursor(
        self, conn: Connection, source_id: int, stream: str, cursor: Mapping[str, Any]
    ) -> None:
        table = model.table_of(model.SyncCursor)
        row = dict(source_id=source_id, stream=stream, cursor=dict(cursor), updated_at=self.now())
        upsert_rows(conn, table, [row], ("source_id", "stream"), ("cursor", "updated_at"))

    # --- writing pages --------------------------------------------------------------

    def write_page(self, source: str, stream: str, page: Page, run_id: int | None) -> PageCounts:
        """Store ``page``'s records, its cursor and the run's counts in one transaction."""
        source_id = self.source_id(source)
        now = self.now()
        identities = self._identities.page()
        with self.transaction() as conn:
            rows = page.rows if isinstance(page, SortedPage) else None
            counts = write_records(
                conn,
                source_id,
                stream,
                page.records if rows is None else rows,
                page.complete_ids,
                page.scope,
                now,
                page.complete_after,
                identities,
            )
            if run_id is not None:
                added = {f"add_{name}": getattr(counts, name) for name in _PAGE_COUNTS}
                conn.execute(_count_page(), {"run_id": run_id, **added})
            if page.cursor is not None:
                self._set_cursor(conn, source_id, stream, page.cursor)
        identities.keep()  # committed: the page's accounts need not be written again for now
        self._analyse_grown_tables(counts)
        return counts

    def _analyse_grown_tables(self, counts: PageCounts) -> None:
        """PostgreSQL: ANALYZE a record table each time this store has doubled it.

        A full sync fills empty tables faster than autovacuum notices: with no
        statistics PostgreSQL looks a page's ids up through the (source, item)
        index and filters the whole source, 88 ms instead of 2 ms a lookup at
        400,000 rows (docs/benchmarks.md), so the sync slows down as it goes.
        Only the lookup's columns are analysed: statistics of the JSON payload
        columns would cost far more and serve no query of the sync.
        """
        if self.engine.dialect.name != "postgresql":
            return
        for kind, kind_counts in counts.kinds.items():
            if not kind_counts.created or kind not in KINDS:
                continue
            table = KINDS[kind].table.name
            grown = self._grown[table] = self._grown.get(table, 0) + kind_counts.created
            if grown >= max(ANALYSE_AFTER_ROWS, self._analysed.get(table, 0)):
                with self.engine.connect() as conn:
                    conn.exec_driver_sql(f'ANALYZE "{table}" (source_id, external_id)')
                    conn.commit()
                self._analysed[table] = self._analysed.get(table, 0) + grown
                self._grown[table] = 0

    # --- sync runs and quarantine ------------------------------------------------------

    def start_run(self, source: str, stream: str, *, full: bool = False) -> int:
        """Record that a pull of ``stream`` starts; return the run id."""
        source_id = self.source_id(source)
        with self.session() as s:
            run = model.SyncRun(source_id=source_id, stream=stream, full=full)
            run.started_at, run.status = self.now(), "running"
            s.add(run)
            s.flush()
            return run.id

    def finish_run(
        self,
        run_id: int,
        *,
        status: RunStatus,
        error: str | None = None,
        requests: int = 0,
        not_modified: int = 0,
        retries: int = 0,
    ) -> None:
        """Record how a run ended, with the connector's request counters."""
        with self.session() as s:
            run = s.get_one(model.SyncRun, run_id)
            run.status = status
            run.finished_at = self.now()
            run.error = error
            run.requests, run.not_modified, run.retries = requests, not_modified, retries

    def list_runs(
        self, *, source: str | None = None, stream: str | None = None, limit: int = 50
    ) -> list[RunInfo]:
        """Return the newest runs first, optionally of one source and stream."""
        run = model.SyncRun
        query = (
            select(run, model.Source.name)
            .join(model.Source, model.Source.id == run.source_id)
            .order_by(run.started_at.desc(), run.id.desc())
            .limit(limit)
        )
        if source is not None:
            query = query.where(model.Source.name == source)
        if stream is not None:
            query = query.where(run.stream == stream)
        with self.session(readonly=True) as s:
            return [_snapshot(RunInfo, r, source=name) for r, name in s.execute(query)]

    def quarantined(self, *, source: str | None = None, limit: int = 100) -> list[QuarantineEntry]:
        """Return quarantined records, the most recent first."""
        q = model.Quarantine
        query = (
            select(q, model.Source.name)
            .join(model.Source, model.Source.id == q.source_id)
            .order_by(q.at.desc(), q.id.desc())
            .limit(limit)
        )
        if source is not None:
            query = query.where(model.Source.name == source)
        with self.session(readonly=True) as s:
            return [_snapshot(QuarantineEntry, e, source=name) for e, name in s.execute(query)]
