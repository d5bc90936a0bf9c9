"""End to end: the sandbox, every bundled connector, the engine and the store.

Each test generates a world, serves it with the sandbox, writes the config an
admin would get from ``pmsync sandbox serve --config-out``, and syncs it into
SQLite and PostgreSQL. "The same data" always means: the same live rows, with
the same content hash, of every record table, as a clean full sync of the same
world at the same simulated time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from worlds import SandboxWorld

from pmsync import model
from pmsync.sandbox.server import FaultPlan
from pmsync.store import Store

Snapshot = dict[str, dict[str, str]]


def snapshot(store: Store) -> Snapshot:
    """Every live record row, by kind: external id → content hash."""
    found: Snapshot = {}
    with store.session(readonly=True) as s:
        for kind, cls in model.RECORD_TABLES.items():
            table = model.table_of(cls)
            rows = s.execute(
                select(table.c.external_id, table.c.payload_hash).where(
                    table.c.deleted_at.is_(None)
                )
            )
            found[kind] = {str(eid): str(digest) for eid, digest in rows}
    return found


def counted(store: Store, cls: type[Any], source: str) -> int:
    with store.session(readonly=True) as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(cls)
                .join(model.Source, model.Source.id == cls.source_id)
                .where(model.Source.name == source, cls.deleted_at.is_(None))
            )
            or 0
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SandboxWorld]:
    with SandboxWorld(tmp_path / "world") as made:
        yield made


def test_a_full_sync_stores_exactly_the_scenario(
    world: SandboxWorld, make_store: Callable[..., Store], caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store()
    with caplog.at_level(logging.INFO, logger="pmsync.sync"):
        report = world.sync(store, full=True)
    # the steps after the pull are timed, in the report and in the log
    assert list(report.after_pull) == ["people", "plan", "meetings"]
    assert all(seconds >= 0 for seconds in report.after_pull.values())
    [logged] = [r for r in caplog.records if getattr(r, "event", None) == "sync_after_pull"]
    assert logged.getMessage().startswith("after the pull: people ")
    assert list(vars(logged)["duration_s"]) == ["people", "plan", "meetings"]
    assert vars(logged)["sources"] == ["gcal", "github", "ics", "jira"]
    now = world.box.clock.now()
    scenario = world.scenario
    visible_issues = [i for i in scenario.jira.issues if i.visible_at(now)]
    assert counted(store, model.WorkItem, "jira") == len(visible_issues)
    github_items = [i for r in scenario.github.repositories for i in r.issues if i.visible_at(now)]
    assert counted(store, model.WorkItem, "github") == len(github_items)
    on_default_branches = {  # what the GitHub source is configured to follow
        c.sha
        for r in scenario.github.repositories
        for c in r.commits
        if c.committed_at <= now and c.branch == r.default_branch
    }
    assert counted(store, model.Commit, "github") == len(on_default_branches)
    assert counted(store, model.CalendarEvent, "gcal") > 0
    # one issue, field by field, against the scenario as of the clock
    sample = visible_issues[len(visible_issues) // 2]
    state = sample.state_at(sample.fields, now)
    with store.session(readonly=True) as s:
        row = s.scalars(select(model.WorkItem).where(model.WorkItem.external_id == sample.id)).one()
    assert row.key == state.get("key", sample.key)
    assert row.title == state["summary"]
    assert row.status == state["status"]
    assert row.updated_at == sample.updated_at(now)
    assignee = state.get("assignee")
    expected = scenario.person(assignee).account_id() if assignee else None
    assert row.assignee_login == expected


def test_incremental_sync_after_days_equals_a_clean_full_sync(
    world: SandboxWorld, make_store: Callable[..., Store]
) -> None:
    incremental = make_store()
    world.sync(incremental, full=True)
    world.box.advance(timedelta(days=4))
    report = world.sync(incremental)
    assert sum(r.created + r.updated + r.deleted for r in report.results) > 0
    clean = make_store()
    world.sync(clean, full=True)
    assert snapshot(incremental) == snapshot(clean)


def test_an_unchanged_sync_costs_one_request_per_stream_and_304s_on_github(
    world: SandboxWorld, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    world.sync(store, full=True)
    world.sync(store)  # settles the overlap windows
    report = world.sync(store)
    sources = world.config.sources
    repositories = len(world.scenario.github.repositories)
    expected = {  # requests an unchanged pass may make, per source and stream
        ("jira", "versions"): len(world.scenario.jira.projects),  # re-read whole: deletions
        ("gcal", "events"): len(sources["gcal"].settings.calendars) + 1,  # + token refresh
        ("ics", "events"): len(sources["ics"].settings.feeds),
    }
    for run in report.results:
        assert run.created + run.updated + run.deleted == 0, run
        if run.source == "github":
            assert run.requests == run.not_modified == repositories, run
        else:
            assert run.requests <= expected.get((run.source, run.stream), 1), run
        if run.source == "ics":
            assert run.not_modified == run.requests, run


@pytest.mark.slow
def test_ten_percent_faults_end_with_the_same_data(
    tmp_path: Path, make_store: Callable[..., Store]
) -> None:
    plan = FaultPlan.parse(
        "rate=0.1,kinds=429+429-date+500+502+503+reset+truncated+malformed,seed=9,retry_after=2"
    )
    with (
        SandboxWorld(tmp_path / "faulty", faults=plan) as faulty,
        SandboxWorld(tmp_path / "clean") as clean_world,
    ):
        waits: list[float] = []
        store = make_store()
        report = faulty.sync(store, full=True, sleep=waits.append)
        assert sum(r.retries for r in report.results) > 0
        injected = sum(sum(s.faults.injected.values()) for s in faulty.box.services.values())
        assert injected > 0
        rate_limited = [w for w in waits if w >= 2]
        assert rate_limited, "no Retry-After was honoured"
        clean = make_store()
        clean_world.sync(clean, full=True)
        assert snapshot(store) == snapshot(clean)


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, make_store: Callable[..., Store], db_url: str
) -> None:
    with SandboxWorld(tmp_path / "world", items=300) as world:
        check_sigkill_trials(world, make_store, db_url, tmp_path)


def latest_run_id(store: Store) -> int:
    with store.session(readonly=True) as s:
        return int(s.scalar(select(func.max(model.SyncRun.id))) or 0)


def runs_left_running(store: Store, *, after_run: int) -> int:
    """Sync runs newer than ``after_run`` still marked running (their process died)."""
    with store.session(readonly=True) as s:
        found = s.scalar(
            select(func.count())
            .select_from(model.SyncRun)
            .where(model.SyncRun.id > after_run, model.SyncRun.status == "running")
        )
    return int(found or 0)


def pages_stored(store: Store, *, after_run: int) -> int:
    """Pages committed by the sync runs newer than ``after_run``."""
    with store.session(readonly=True) as s:
        total = s.scalar(select(func.sum(model.SyncRun.pages)).where(model.SyncRun.id > after_run))
    return int(total or 0)


class ForkedCli:
    """``pmsync`` commands, each in a process of its own, forked from one that has imported
    pmsync and its connectors already (``tests/forked_cli.py``): a trial costs the command,
    not Python's start. Each child is killed, and reports its exit, like a subprocess."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        script = Path(__file__).with_name("forked_cli.py")
        self.logs = logs
        self.process = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.runs = 0

    def _answer(self, word: str) -> int:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        assert line and line[0] == word, f"forked_cli.py answered {line!r}"
        return int(line[1])

    def start(self, *args: str) -> int:
        """Start ``pmsync *args``; return its process id."""
        assert self.process.stdin is not None
        self.runs += 1
        request = {"args": list(args), "stderr": str(self.stderr)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer("pid")

    @property
    def stderr(self) -> Path:
        """The file the latest command writes its stderr to."""
        return self.logs / f"run-{self.runs}.err"

    def wait(self) -> int:
        """Wait for the latest command to end; return its exit status (-9: SIGKILL)."""
        return self._answer("exit")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def running(pid: int) -> bool:
    """Tell whether process ``pid`` has not been reaped yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def check_sigkill_trials(
    world: SandboxWorld, make_store: Callable[..., Store], db_url: str, logs: Path
) -> None:
    """Kill 20 syncs at random points, then check the next sync ends like a clean run."""
    store = make_store()
    env = {**os.environ, "PMSYNC_DATABASE_URL": db_url}
    rng = random.Random(20)
    config = ["--config", str(world.config_dir)]
    command = [sys.executable, "-m", "pmsync", *config, "sync"]
    subprocess.run([*command, "--full"], env=env, check=True, capture_output=True)
    full_pages = pages_stored(store, after_run=0)
    killed = 0
    cli = ForkedCli(env, logs)
    try:
        for trial in range(20):
            # Kill after a random number of committed pages, so every kill lands mid-sync
            # however fast or loaded the machine is.
            mode = [] if trial % 4 == 3 else ["--full"]  # full passes also reconcile deletions
            target = rng.randint(1, max(1, full_pages - 1))
            last_run = latest_run_id(store)
            pid = cli.start(*config, "sync", *mode)
            while running(pid) and pages_stored(store, after_run=last_run) < target:
                time.sleep(0.002)  # a page can take a few ms: a late kill lands after the last
            if running(pid):
                with contextlib.suppress(ProcessLookupError):  # it may end meanwhile
                    os.kill(pid, signal.SIGKILL)
            code = cli.wait()
            assert code in (0, -signal.SIGKILL), cli.stderr.read_text(errors="replace")
            # a kill lands mid-sync when it leaves a run unfinished (one that lands in the
            # plan refresh after the last page leaves none, and proves less)
            killed += code == -signal.SIGKILL and runs_left_running(store, after_run=last_run) > 0
    finally:
        cli.close()
    assert killed >= 10, "the kills must land mid-sync to mean anything"
    world.sync(store)
    clean = make_store()
    world.sync(clean, full=True)
    mine, theirs = snapshot(store), snapshot(clean)
    differences = {k: len(set(mine[k].items()) ^ set(theirs[k].items())) for k in mine}
    assert mine == theirs, differences
    with store.session(readonly=True) as s:
        runs = defaultdict(int)
        for (status,) in s.execute(select(model.SyncRun.status)):
            runs[status] += 1
    assert runs["running"] >= killed  # the killed runs are visible as never finished
