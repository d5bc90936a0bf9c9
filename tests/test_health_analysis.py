"""One read of the store for metrics, rules, reports and the snapshot: the same answers.

``pmsync.health.analyse`` measures every project once; the rules
(``evaluate_rules(health=...)``), the reports (``generate_reports(analysis=...)``)
and the daily snapshot take that measurement instead of reading the store
again. A generated sandbox world synced for real shows that each gives exactly
what it gives when it reads the store itself, and that an analysis of another
day is refused rather than reported as today's. Each test runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_health_e2e import World

from pmsync import model
from pmsync.health import analyse, load_figures, take_daily_snapshot
from pmsync.reports.jobs import generate_reports
from pmsync.rules import evaluate_rules
from pmsync.rules.items import read_open_items
from pmsync.store import Store


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world the tests only read (``synced``, in conftest, syncs it once per backend)."""
    with World(tmp_path_factory.mktemp("analysis") / "world") as made:
        yield made


def report_files(out: Path) -> dict[str, bytes]:
    """Every report a site holds (JSON, Markdown and HTML), by its path in the site."""
    found = [*out.rglob("report.*"), *out.rglob("portfolio.*")]
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(found)
        if ".summary." not in p.name  # what the history pages read, checked apart
    }


def test_one_analysis_gives_the_figures_each_project_gets_when_measured_alone(
    shared: World, synced: Store
) -> None:
    measured = analyse(synced, shared.config, as_of=shared.today, now=shared.box.clock.now)
    assert set(measured.figures) == set(shared.config.projects)
    assert measured.problems == {}
    for key in shared.config.projects:
        alone = load_figures(
            synced, shared.config, [key], as_of=shared.today, now=shared.box.clock.now
        )
        assert measured.figures[key].as_dict() == alone[key].as_dict()
        assert measured.ledgers[key].total(until=shared.today) == alone[key].budget[-1].spent
    assert len(measured.items) > 0


def test_what_a_worker_process_reads_beside_gives_the_same_figures_and_findings(
    shared: World, synced: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a large store a worker process reads the status history and the rules' open items
    while this one reads and measures the rest: the same figures, the same findings."""
    from pmsync.health import parallel

    now = shared.box.clock.now
    here = analyse(synced, shared.config, as_of=shared.today, now=now)
    assert here.open_items is None  # a small store: everything read here
    taken: list[tuple[str, Any]] = []
    take = parallel.Pending.take

    def spy(pending: Any) -> Any:
        taken.append((pending._what, take(pending)))
        return taken[-1][1]

    monkeypatch.setattr(parallel.Pending, "take", spy)
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)  # this world counts as large
    elsewhere = analyse(synced, shared.config, as_of=shared.today, now=now)
    read = {what: got for what, got in taken if got is not None}
    assert set(read) == {"status history", "open items"}, "the worker read both"
    assert len(read["status history"].rows) > 0 and read["open items"].items
    assert elsewhere.open_items is read["open items"]
    with synced.session(readonly=True) as s:  # pickled across, field by field the same
        conn = s.connection()
        keys = sorted(shared.config.projects)
        assert read["open items"] == read_open_items(
            conn, shared.config, parallel._project_ids(conn, keys)
        )
    item = next(iter(read["open items"].items.values()))
    item = replace(item, blocked_days=3, progress_days=4, fact=replace(item.fact, days=5))
    assert pickle.loads(pickle.dumps(item)) == item
    assert {k: f.as_dict() for k, f in elsewhere.figures.items()} == {
        k: f.as_dict() for k, f in here.figures.items()
    }
    alone = evaluate_rules(synced, shared.config, now)  # reads the open items itself
    given = evaluate_rules(synced, shared.config, now, health=elsewhere)
    assert alone, "the generated story trips rules (the slipping and the overspending project)"
    assert sorted((f.fingerprint, f.summary) for f in given) == sorted(
        (f.fingerprint, f.summary) for f in alone
    )


def test_projects_measured_by_the_worker_process_have_the_same_figures(
    shared: World, synced: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once its reads are done, the worker measures chunks of projects from the back of the
    list while this process measures from the front: each project's figures are the same."""
    from pmsync.health import figures, parallel

    now = shared.box.clock.now
    here = analyse(synced, shared.config, as_of=shared.today, now=now)
    idle, health = parallel.ReadsBeside.idle, parallel.ReadsBeside.health
    handed: list[list[str]] = []

    def reads_done(beside: Any) -> bool:  # wait for the worker's reads, however long they take
        for _ in range(1200):
            if idle(beside):
                return True
            time.sleep(0.1)
        return False

    def spy(beside: Any, chunk: Any) -> Any:
        handed.append([key for key, _ in chunk])
        return health(beside, chunk)

    monkeypatch.setattr(parallel.ReadsBeside, "idle", reads_done)
    monkeypatch.setattr(parallel.ReadsBeside, "health", spy)
    monkeypatch.setattr(figures, "HEALTH_CHUNK", 1)  # a chunk a project
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)  # this world counts as large
    elsewhere = analyse(synced, shared.config, as_of=shared.today, now=now)
    keys = sorted(shared.config.projects)
    assert len(keys) > 1 and handed, "the worker measured at least one project"
    assert handed[0] == [keys[-1]], "from the back of the list"
    assert len(handed) < len(keys), "this process measured from the front"
    assert {k: f.as_dict() for k, f in elsewhere.figures.items()} == {
        k: f.as_dict() for k, f in here.figures.items()
    }
    assert list(elsewhere.figures) == list(here.figures)


def test_the_rules_from_one_analysis_find_exactly_what_a_check_finds(
    shared: World, synced: Store
) -> None:
    now = shared.box.clock.now
    alone = evaluate_rules(synced, shared.config, now)
    measured = analyse(synced, shared.config, as_of=shared.today, now=now)
    given = evaluate_rules(synced, shared.config, now, health=measured)
    assert alone, "the generated story trips rules (the slipping and the overspending project)"
    assert sorted((f.fingerprint, f.summary) for f in given) == sorted(
        (f.fingerprint, f.summary) for f in alone
    )


def test_the_reports_from_one_analysis_are_the_same_files(
    shared: World, synced: Store, tmp_path: Path
) -> None:
    now = shared.box.clock.now
    measured = analyse(synced, shared.config, as_of=shared.today, now=now)
    config = shared.config
    alone = generate_reports(config, synced, tmp_path / "alone", as_of=shared.today, now=now)
    given = generate_reports(
        config, synced, tmp_path / "given", as_of=shared.today, now=now, analysis=measured
    )
    assert len(alone.projects) == len(given.projects) == len(config.projects)
    first, second = report_files(tmp_path / "alone"), report_files(tmp_path / "given")
    assert len(first) == 3 * (len(config.projects) + 1)  # html, md, json; projects + portfolio
    assert first == second
    one = generate_reports(
        config, synced, tmp_path / "one", as_of=shared.today, now=now, projects=["CRM"],
        portfolio=False, analysis=measured,
    )  # fmt: skip
    assert set(one.projects) == {"CRM"}
    crm = {k: v for k, v in first.items() if k.startswith("projects/CRM/")}
    assert len(crm) == 3
    assert report_files(tmp_path / "one") == crm


def test_the_snapshot_from_one_analysis_stores_the_same_rows(
    shared: World, make_store: Any
) -> None:
    store = make_store(now=shared.box.clock.now)
    shared.sync(store)
    now = shared.box.clock.now

    def rows() -> dict[tuple[str, str], Any]:
        snap = model.table_of(model.MetricSnapshot)
        with store.engine.connect() as conn:
            found = conn.execute(select(snap.c.scope_kind, snap.c.scope_id, snap.c.metrics))
            return {(kind, ident): metrics for kind, ident, metrics in found}

    alone = take_daily_snapshot(store, shared.config, now, day=shared.today)
    before = rows()
    measured = analyse(store, shared.config, as_of=shared.today, now=now)
    given = take_daily_snapshot(store, shared.config, now, day=shared.today, analysis=measured)
    assert (given.projects, given.rows) == (alone.projects, alone.rows) == (3, len(before))
    assert rows() == before


def test_an_analysis_of_another_day_or_of_fewer_projects_is_not_used(
    shared: World, synced: Store, tmp_path: Path
) -> None:
    """What the figures were yesterday never passes for today's: each reads the store instead."""
    now = shared.box.clock.now
    week_ago = shared.today - timedelta(days=7)
    old = analyse(synced, shared.config, as_of=week_ago, now=now)
    fresh = analyse(synced, shared.config, as_of=shared.today, now=now)
    changed = [
        k for k in fresh.figures
        if old.figures[k].health.project.as_dict() != fresh.figures[k].health.project.as_dict()
    ]  # fmt: skip
    assert changed, "a week of work moves the earned value of some project"
    today = evaluate_rules(synced, shared.config, now)
    partial = analyse(synced, shared.config, ["PAY"], as_of=shared.today, now=now)
    for stale in (old, partial):
        found = evaluate_rules(synced, shared.config, now, health=stale)
        assert sorted(f.summary for f in found) == sorted(f.summary for f in today)
    config = shared.config
    made = generate_reports(config, synced, tmp_path / "a", as_of=shared.today, now=now)
    given = generate_reports(
        config, synced, tmp_path / "b", as_of=shared.today, now=now, analysis=old
    )
    assert {k: r.earned_value for k, r in given.projects.items()} == {
        k: r.earned_value for k, r in made.projects.items()
    }
    assert report_files(tmp_path / "a") == report_files(tmp_path / "b")
