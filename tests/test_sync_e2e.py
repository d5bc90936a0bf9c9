"""End to end: the sandbox, every bundled connector, the engine and the store.

Each test generates a world, serves it with the sandbox, writes the config an
admin would get from ``pmsync sandbox serve --config-out``, and syncs it into
SQLite and PostgreSQL. "The same data" always means: the same live rows, with
the same content hash, of every record table, as a clean full sync of the same
world at the same simulated time.
"""

from __future__ import annotations

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

from pmsync import model
from pmsync.config import Config, load_config
from pmsync.connectors import load_connectors
from pmsync.sandbox.app import Sandbox
from pmsync.sandbox.configout import write_config
from pmsync.sandbox.generator import generate
from pmsync.sandbox.server import FaultPlan
from pmsync.store import Store
from pmsync.sync import SyncReport, sync_configured

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


class World:
    """A generated scenario served by the sandbox, with a config pointing at it."""

    def __init__(
        self, root: Path, faults: FaultPlan | None = None, seed: int = 5, items: int = 120
    ) -> None:
        self.scenario = generate(projects=2, items=items, seed=seed)
        self.box = Sandbox(self.scenario, faults=faults or FaultPlan()).start()
        self.root = root
        self.config_dir = root / "config"
        write_config(self.scenario, self.box.endpoints(), self.config_dir, var_dir=root / "var")
        self.config: Config = load_config(self.config_dir, load_connectors())

    def sync(self, store: Store, **options: Any) -> SyncReport:
        options.setdefault("sleep", lambda seconds: None)
        options.setdefault("now", self.box.clock.now)  # the simulated world's time
        report = sync_configured(self.config, store, **options)
        assert report.ok, [(r.source, r.stream, r.error) for r in report.results if r.error]
        return report


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "world")
    yield made
    made.box.stop()


def test_a_full_sync_stores_exactly_the_scenario(
    world: World, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    world.sync(store, full=True)
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
    world: World, make_store: Callable[..., Store]
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
    world: World, make_store: Callable[..., Store]
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
    faulty = World(tmp_path / "faulty", faults=plan)
    clean_world = World(tmp_path / "clean")
    try:
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
    finally:
        faulty.box.stop()
        clean_world.box.stop()


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, make_store: Callable[..., Store], db_url: str
) -> None:
    world = World(tmp_path / "world", items=300)
    try:
        check_sigkill_trials(world, make_store, db_url)
    finally:
        world.box.stop()


def latest_run_id(store: Store) -> int:
    with store.session(readonly=True) as s:
        return int(s.scalar(select(func.max(model.SyncRun.id))) or 0)


def pages_stored(store: Store, *, after_run: int) -> int:
    """Pages committed by the sync runs newer than ``after_run``."""
    with store.session(readonly=True) as s:
        total = s.scalar(select(func.sum(model.SyncRun.pages)).where(model.SyncRun.id > after_run))
    return int(total or 0)


def check_sigkill_trials(world: World, make_store: Callable[..., Store], db_url: str) -> None:
    """Kill 20 syncs at random points, then check the next sync ends like a clean run."""
    store = make_store()
    env = {**os.environ, "PMSYNC_DATABASE_URL": db_url}
    rng = random.Random(20)
    command = [sys.executable, "-m", "pmsync", "--config", str(world.config_dir), "sync"]
    subprocess.run([*command, "--full"], env=env, check=True, capture_output=True)
    full_pages = pages_stored(store, after_run=0)
    killed = 0
    for trial in range(20):
        # Kill after a random number of committed pages, so every kill lands mid-sync
        # however fast or loaded the machine is.
        mode = [] if trial % 4 == 3 else ["--full"]  # full passes also reconcile deletions
        target = rng.randint(1, max(1, full_pages - 1))
        last_run = latest_run_id(store)
        process = subprocess.Popen(
            [*command, *mode],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        while process.poll() is None and pages_stored(store, after_run=last_run) < target:
            time.sleep(0.01)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        _, err = process.communicate(timeout=60)
        assert process.returncode in (0, -signal.SIGKILL), err
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
    assert runs["running"] >= 10  # the killed runs are visible as never finished
