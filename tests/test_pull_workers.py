"""Sources pulled in worker processes store what a pull in a thread stores.

What a user would notice if this went wrong: records, cursors or request
counts that differ from a sync without workers, a source error reported as
something else, a killed worker losing pages or leaving the next sync
stuck, a stopped daemon leaving a worker behind, log lines of the pull lost.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import logging
import os
import pickle
import signal
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from worlds import SandboxWorld

from pmsync import model
from pmsync.connectors import ConnectorContext, FixedClock, no_sleep
from pmsync.errors import AuthenticationError, RateLimited
from pmsync.ids import ExternalIds
from pmsync.processes import fork_server
from pmsync.pull_workers import (
    WorkerConnector,
    _portable_error,
    portable,
    receive_message,
    send_message,
)
from pmsync.records import Page
from pmsync.rows import DumpedJSON, SortedPage, sort_records, sorted_page
from pmsync.sandbox.faults import FaultPlan
from pmsync.store import Store
from pmsync.sync import StreamResult, SyncReport, sync_configured
from pmsync.upsert import KINDS, ROW_SPECS

JIRA_SEARCH = ("/rest/api/2/search/jql", "/rest/api/3/search/jql")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxWorld]:
    with SandboxWorld(tmp_path_factory.mktemp("world"), projects=2, items=150) as world:
        yield world


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[WorkerConnector]:
    """Every ``WorkerConnector`` the test creates, to reach its process."""
    made: list[WorkerConnector] = []
    create = WorkerConnector.__init__

    def spy(self: WorkerConnector, *args: Any, **kwargs: Any) -> None:
        create(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(WorkerConnector, "__init__", spy)
    return made


def reference_store(tmp_path: Path, name: str) -> Store:
    """A second store, on SQLite, to compare with the one under test (either backend)."""
    store = Store.open(f"sqlite:///{tmp_path / name}.db", var_dir=tmp_path / f"{name}-var")
    store.upgrade()
    return store


def plain(value: Any) -> Any:
    """A value as both backends give it back (PostgreSQL's datetimes are aware)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def contents(store: Store) -> dict[str, Any]:
    """What a PM's reports are made of: items, worklogs, events, milestones."""
    with store.engine.connect() as conn:

        def rows(entity: type, *columns: str) -> list[tuple[Any, ...]]:
            table = model.table_of(entity)
            picked = [table.c[c] for c in columns]
            return sorted(tuple(plain(v) for v in r) for r in conn.execute(sa.select(*picked)))

        return {
            "items": rows(model.WorkItem, "external_id", "title", "status", "updated_at"),
            "worklogs": rows(model.Worklog, "external_id", "seconds"),
            "events": rows(model.CalendarEvent, "external_id", "title"),
            "milestones": rows(model.SourceMilestone, "external_id", "name"),
            # every column a record wrote, through its hash, and the payloads as stored
            "hashes": sorted(
                (table.name, *r)
                for table in (kind.table for kind in KINDS.values())
                for r in conn.execute(sa.select(table.c.external_id, table.c.payload_hash))
            ),
            "raw": rows(model.WorkItem, "external_id", "raw"),
        }


def cursors(store: Store, world: SandboxWorld) -> dict[tuple[str, str], Any]:
    found = {}
    for name, source in world.config.sources.items():
        assert source.connector is not None
        for spec in source.connector.streams:
            found[(name, spec.name)] = store.get_cursor(name, spec.name)
    return found


def by_stream(results: list[StreamResult]) -> dict[tuple[str, str], tuple[str, int, int]]:
    return {(r.source, r.stream): (r.status, r.requests, r.pages) for r in results}


def test_a_sync_in_worker_processes_stores_what_a_sync_in_threads_does(
    world: SandboxWorld,
    make_store: Callable[..., Store],
    workers: list[WorkerConnector],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    in_threads, in_workers = reference_store(tmp_path, "threads"), make_store()
    threads = world.sync(in_threads, full=True)
    assert not workers
    import pmsync.upsert

    made_here: list[int] = []
    sort = pmsync.upsert.sort_records

    def counted(records: Any, specs: Any, predump: bool = False) -> Any:
        made_here.extend(1 for _ in records)
        return sort(records, specs, predump)

    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="urllib3"),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(pmsync.upsert, "sort_records", counted)
        processes = world.sync(in_workers, full=True, pull_processes=True)
    assert sorted(w.context.source_name for w in workers) == sorted(world.config.sources)
    stored = contents(in_workers)
    assert all(stored.values()), {k: len(v) for k, v in stored.items()}
    assert stored == contents(in_threads)
    assert cursors(in_workers, world) == cursors(in_threads, world)
    assert by_stream(processes.results) == by_stream(threads.results)
    in_threads.close()
    # The pull ran elsewhere, and what it logged reached this process's handlers.
    pids = {w._process.pid for w in workers}
    assert {r.process for r in caplog.records if r.process != os.getpid()} <= pids
    assert any(r.process in pids and r.name.startswith("urllib3") for r in caplog.records)
    assert all(w._process.exitcode == 0 for w in workers)  # closed, not killed
    # A source pulled alone: its worker is the bottleneck, so it leaves the rows to this process.
    made_here.clear()
    alone = reference_store(tmp_path, "alone")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pmsync.upsert, "sort_records", counted)
        report = world.sync(alone, full=True, only=["github"], pull_processes=True)
    assert len(made_here) == read(report) > 100
    alone.close()


def read(report: SyncReport) -> int:
    """The records a sync's pages carried: each is made into a row once, here or in a worker."""
    return sum(r.created + r.updated + r.unchanged for r in report.results)


def test_while_other_sources_pull_their_workers_make_the_rows_of_a_whole_history(
    tmp_path: Path, make_store: Callable[..., Store], workers: list[WorkerConnector]
) -> None:
    # Every request waits a little, and pages are small: the sources pull side by side for
    # many pages, as in a new store's first sync.
    slow = FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=0.02)
    with SandboxWorld(tmp_path, projects=2, items=150, faults=slow) as world:
        sources = world.read("sources.yaml")
        sources["sources"]["jira"]["page_size"] = 10
        sources["sources"]["github"]["per_page"] = 10
        world.write("sources.yaml", sources)
        world.reload()
        store, reference = make_store(), reference_store(tmp_path, "reference")
        world.sync(reference, only=["jira", "github"])
        pages: list[tuple[str, bool]] = []  # (stream, its rows made by a worker)
        write_page = Store.write_page

        def spy(self: Store, source: str, stream: str, page: Page, run_id: int | None) -> Any:
            if self is store and (page.records or isinstance(page, SortedPage)):
                pages.append((f"{source}/{stream}", isinstance(page, SortedPage)))
            return write_page(self, source, stream, page, run_id)

        def as_the_daemon_does() -> None:
            """Each source a job of its own, in a thread of its own, at the same time."""
            with ThreadPoolExecutor(2) as pool:
                jobs = [
                    pool.submit(world.sync, store, only=[name], pull_processes=True)
                    for name in ("jira", "github")
                ]
                for job in jobs:
                    job.result()

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Store, "write_page", spy)
            as_the_daemon_does()  # no --full: from no cursor, each stream's whole history
            assert sorted(w.context.source_name for w in workers) == ["github", "jira"]
            by_worker = [stream for stream, sorted_there in pages if sorted_there]
            # The workers made the rows of most pages; this process of each stream's first.
            assert len(by_worker) > len(pages) / 2
            firsts = {stream: sorted_there for stream, sorted_there in reversed(pages)}
            assert not any(firsts.values())
            assert contents(store) == contents(reference)
            # A month later the pulls start from cursors: the rows are made here, as a worker
            # would make them slower than this process, which waits for it.
            world.box.advance(timedelta(days=30))
            world.sync(reference, only=["jira", "github"])
            pages.clear()
            as_the_daemon_does()
            assert len(pages) > len(firsts)  # several pages for some streams
            assert not any(sorted_there for _, sorted_there in pages)
            assert contents(store) == contents(reference)


def test_an_incremental_sync_in_workers_reads_only_what_changed(
    world: SandboxWorld, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    world.sync(store, full=True, pull_processes=True)
    again = world.sync(store, pull_processes=True)
    assert again.results and all(r.created == 0 and r.updated == 0 for r in again.results)
    assert sum(r.requests for r in again.results) < 3 * len(again.results)


def test_a_source_error_in_the_worker_keeps_its_class_and_message(
    world: SandboxWorld, make_store: Callable[..., Store], tmp_path: Path
) -> None:
    secrets = world.root / "config" / "secrets"
    token = next(p for p in secrets.iterdir() if "github" in p.name and "token" in p.name)
    kept = token.read_text()
    token.write_text("not-the-token")
    try:
        threads = world.sync_raw(reference_store(tmp_path, "threads"), only=["github"])
        processes = world.sync_raw(make_store(), only=["github"], pull_processes=True)
    finally:
        token.write_text(kept)
    assert [r.error_class for r in processes.results] == ["authentication"]
    assert [r.error for r in processes.results] == [r.error for r in threads.results]


def test_a_killed_worker_fails_its_stream_and_the_next_sync_resumes(
    tmp_path: Path, make_store: Callable[..., Store], workers: list[WorkerConnector]
) -> None:
    # Each Jira search answers after 0.3 s: the worker is inside one when it is killed.
    slow = FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=0.3, paths=JIRA_SEARCH)
    with SandboxWorld(tmp_path, projects=2, items=60, faults=slow) as world:
        sources = world.read("sources.yaml")
        sources["sources"]["jira"]["page_size"] = 10  # the issues stream has several pages
        world.write("sources.yaml", sources)
        world.reload()
        store, reference = make_store(), reference_store(tmp_path, "reference")
        whole = world.sync(reference, full=True, only=["jira"])
        issue_pages = next(r.pages for r in whole.results if r.stream == "issues")
        killed: list[int] = []

        def kill_after_first_page(result: StreamResult) -> None:
            if (result.stream, result.pages) == ("issues", 1) and not killed:
                pid = workers[0]._process.pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        first = world.sync_raw(
            store, only=["jira"], full=True, pull_processes=True, on_page=kill_after_first_page
        )
        failed = [r for r in first.results if r.status == "failed"]
        assert [(r.stream, r.error_class) for r in failed] == [("issues", "transient")]
        assert failed[0].error is not None
        assert "pull worker ended unexpectedly (signal 9)" in failed[0].error
        # The pages before the kill are stored. The worker reads ahead, so on a slow
        # machine the page it had sent whole before it died is stored as well.
        stored = failed[0].pages
        assert 1 <= stored < issue_pages
        # The source's other streams went on in a new worker.
        assert [r.status for r in first.results if r is not failed[0]] == ["ok"] * 3
        assert workers[0]._process.pid != killed[0] and workers[0]._process.exitcode == 0
        second = world.sync(store, only=["jira"], pull_processes=True)
        resumed = next(r for r in second.results if r.stream == "issues")
        assert resumed.pages == issue_pages - stored  # from the last stored page on
        assert contents(store) == contents(reference)


def test_stopping_the_pass_ends_the_worker(
    world: SandboxWorld, make_store: Callable[..., Store], workers: list[WorkerConnector]
) -> None:
    import threading

    stop = threading.Event()

    def stop_at_first_page(result: StreamResult) -> None:
        stop.set()

    report = world.sync_raw(
        make_store(),
        only=["jira"],
        full=True,
        pull_processes=True,
        stop=stop,
        on_page=stop_at_first_page,
    )
    assert [r.error for r in report.results] == [
        "stopped before the end of the stream; the next sync resumes"
    ]
    assert workers and all(w._process.exitcode is not None for w in workers)


def test_a_clock_that_cannot_be_pickled_keeps_the_source_in_this_process(
    world: SandboxWorld, make_store: Callable[..., Store], workers: list[WorkerConnector]
) -> None:
    report = sync_configured(
        world.config,
        make_store(),
        only=["github"],
        now=lambda: world.now,
        pull_processes=True,
    )
    assert report.ok and report.results
    assert workers == []
    assert portable(ConnectorContext("x", now=lambda: datetime.now())) is None


def test_without_a_fork_server_the_sources_pull_in_this_process(
    world: SandboxWorld,
    make_store: Callable[..., Store],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import pmsync.pull_workers

    def no_server(preload: Any = ()) -> Any:
        raise ValueError("cannot find context for 'forkserver'")  # as on Windows

    monkeypatch.setattr(pmsync.pull_workers, "fork_server", no_server)
    report = world.sync(make_store(), only=["github"], pull_processes=True)
    assert report.results and all(r.pages > 0 for r in report.results)
    assert "source github pulls in this process: no worker process (ValueError" in caplog.text


def test_a_token_set_after_the_fork_server_started_reaches_the_worker(
    world: SandboxWorld,
    make_store: Callable[..., Store],
    workers: list[WorkerConnector],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """``pmsync demo`` puts the sandbox's tokens in its environment once the sandbox is up,
    and the fork server that workers come from may have started before that."""
    import shutil

    from pmsync.config import load_config
    from pmsync.connectors import load_connectors
    from pmsync.processes import connector_modules, start_fork_server

    start_fork_server(connector_modules())
    config_dir = shutil.copytree(world.root / "config", tmp_path / "config")
    sources = config_dir / "sources.yaml"
    by_file = "token: file:secrets/github-token"
    assert by_file in sources.read_text()
    sources.write_text(sources.read_text().replace(by_file, "token: ${PMSYNC_TEST_LATE_TOKEN}"))
    token = (config_dir / "secrets" / "github-token").read_text().strip()
    monkeypatch.setenv("PMSYNC_TEST_LATE_TOKEN", token)
    config = load_config(config_dir, load_connectors())
    report = sync_configured(
        config,
        make_store(),
        only=["github"],
        now=FixedClock(world.now),
        sleep=no_sleep,
        pull_processes=True,
    )
    assert [w.context.source_name for w in workers] == ["github"]
    assert [r.error for r in report.results if r.error] == []
    assert report.results and all(r.created > 0 for r in report.results)


def test_errors_cross_the_pipe_with_their_kind() -> None:
    limited = _portable_error(RateLimited("slow down", retry_after=30.0))
    assert isinstance(limited, RateLimited) and limited.retry_after == 30.0
    refused = pickle.loads(pickle.dumps(_portable_error(AuthenticationError("401 Bad token"))))
    assert type(refused) is AuthenticationError and str(refused) == "401 Bad token"

    class Local(Exception):  # a connector bug whose class the parent cannot import
        pass

    try:
        raise Local("boom")
    except Local as err:
        crossed = pickle.loads(pickle.dumps(_portable_error(err)))
    assert type(crossed) is RuntimeError and str(crossed) == "Local: boom"
    assert "in the pull worker" in crossed.__notes__[0] and "raise Local" in crossed.__notes__[0]


def across_the_pipe(value: Any) -> Any:
    """``value`` as the engine receives it from a pull worker: the same pipe, sent by a thread."""
    here, there = Pipe()
    sender = threading.Thread(target=send_message, args=(there, value))
    sender.start()
    try:
        return receive_message(here)
    finally:
        sender.join()
        here.close()
        there.close()


def as_written(sorted_rows: Any) -> tuple[Any, ...]:
    """A page's rows, deletions, quarantined records and people, JSON values as written."""

    def value(v: Any) -> Any:
        return v.text if type(v) is DumpedJSON else v

    rows = {
        kind: {eid: {k: value(v) for k, v in row.items()} for eid, row in by_id.items()}
        for kind, by_id in sorted_rows.rows.items()
    }
    return rows, sorted_rows.deletions, sorted_rows.quarantined, sorted_rows.people


def test_every_record_a_connector_yields_crosses_the_pipe_unchanged(world: SandboxWorld) -> None:
    from pmsync.records import RECORD_TYPES, Page, PersonRef, WorkItem
    from pmsync.sync import make_connector

    seen: set[type] = set()
    for name, source in world.config.sources.items():
        context = ConnectorContext(name, now=FixedClock(world.now), sleep=no_sleep)
        connector = make_connector(source, context)
        try:
            for spec in connector.streams:
                for page in connector.pull(spec.name, None, full=True):
                    again = across_the_pipe(page)
                    assert type(again) is Page
                    assert again.records == page.records and again.cursor == page.cursor
                    assert [type(r) for r in again.records] == [type(r) for r in page.records]
                    for kind, ids in (page.complete_ids or {}).items():
                        assert again.complete_ids is not None
                        assert set(again.complete_ids[kind]) == set(ids)
                    seen.update(type(r) for r in page.records)
                    if page.records:  # made into rows in the worker, as the store makes them
                        rows = across_the_pipe(sorted_page(page, ROW_SPECS))
                        assert type(rows) is SortedPage and rows.rows is not None
                        assert rows.records == () and rows.cursor == page.cursor
                        here = sort_records(page.records, ROW_SPECS, True)
                        assert as_written(rows.rows) == as_written(here)
        finally:
            connector.close()
    assert len(seen) >= 6, seen  # items, changes, worklogs, milestones, commits, PRs, events

    # A subclass made elsewhere keeps its own fields; a frozen record stays frozen.
    from dataclasses import FrozenInstanceError, dataclass

    @dataclass(frozen=True, slots=True)
    class Ticket(WorkItem):
        severity: str = "high"

    ticket = Ticket(
        external_id="T-1",
        key="T-1",
        title="<script>alert(1)</script>",
        container="ops",
        item_type="incident",
        status="open",
        status_category="todo",
        created_at=FixedClock(world.now)(),
        updated_at=FixedClock(world.now)(),
        assignee=PersonRef("ann"),
    )
    copied = copy.deepcopy(ticket)
    assert copied == ticket and type(copied) is Ticket and copied.severity == "high"
    with pytest.raises(FrozenInstanceError):
        copied.title = "changed"  # type: ignore[misc]
    assert set(RECORD_TYPES) >= seen


def _commit_ids(count: int) -> ExternalIds:
    """The ids of a full commits pull, as a connector gathers them (never asked about)."""
    ids = ExternalIds(f"acme/pay@{hashlib.sha1(str(n).encode()).hexdigest()}" for n in range(count))
    ids.add("acme/pay@not-a-sha")
    return ids


def _send_the_last_page_of_a_full_pull(conn: Any, count: int) -> None:
    page = Page([], cursor={"sha": "abc"}, complete_ids={"commit": _commit_ids(count)})
    send_message(conn, ("page", page, (1, 0, 0, 0)))
    conn.close()


def test_a_full_pulls_ids_cross_the_pipe_once_and_sorted() -> None:
    """The ids a full pull's last page carries (at a million items, 480,000 commit SHAs)
    reach the engine as the arrays the worker packed: the engine holds them once, and
    neither copies nor sorts them again (that moment was a full sync's peak of memory)."""
    count = 200_000
    context = fork_server(["pmsync.pull_workers"])
    here, there = context.Pipe()
    worker = context.Process(target=_send_the_last_page_of_a_full_pull, args=(there, count))
    worker.start()
    there.close()
    importlib.import_module("numpy")  # the engine has it loaded (the plan refresh uses it)
    tracemalloc.start()  # what this process holds from here on is the receiving end's
    try:
        kind, page, stats = receive_message(here)
        ids = page.complete_ids["commit"]
        assert len(ids) == count + 1  # the engine's first question
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        worker.join(30)
        here.close()
    assert (kind, stats, page.cursor) == ("page", (1, 0, 0, 0), {"sha": "abc"})
    assert ids == _commit_ids(count)
    packed = count * 20  # bytes: a SHA packs into 20
    assert peak < 2 * packed, f"{peak / packed:.1f} times the packed ids"
