"""Reports of many projects: read once for all of them and drawn in parallel, the same files.

``generate_reports`` reads what the reports of a run share in one pass
(``collect.prepare``: every project's figures, burn-up histories, alerts,
freshness) and hands rendering to worker processes; a synced sandbox world of
three projects shows that neither changes a byte of what is written, against
the same reports made one project at a time in this process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pmsync import model
from pmsync.config import Config, load_config
from pmsync.connectors import load_connectors
from pmsync.health import analyse, burn, load_burnups, load_portfolio_burnups
from pmsync.plan import refresh_plan
from pmsync.records import Page, WorkItemChange
from pmsync.reports import jobs
from pmsync.reports.jobs import generate_reports
from pmsync.sandbox.app import Sandbox
from pmsync.sandbox.configout import write_config
from pmsync.sandbox.generator import generate
from pmsync.store import Store
from pmsync.sync import sync_configured

STATUS_DATE = date(2026, 3, 6)
CLOCK = datetime(2026, 3, 6, 23, 59, tzinfo=UTC)


class World:
    """Three projects served by the sandbox and synced into SQLite."""

    def __init__(self, root: Path) -> None:
        self.box = Sandbox(generate(projects=3, items=90, seed=11, clock=CLOCK)).start()
        config_dir = root / "config"
        write_config(self.box.scenario, self.box.endpoints(), config_dir, var_dir=root / "var")
        self.config: Config = load_config(config_dir, load_connectors())
        self.store = Store.open(
            f"sqlite:///{root / 'pmsync.db'}", var_dir=root / "var", now=self.box.clock.now
        )
        self.store.upgrade()
        report = sync_configured(
            self.config, self.store, now=self.box.clock.now, sleep=lambda s: None
        )
        assert report.ok, [(r.source, r.stream, r.error) for r in report.results if r.error]
        refresh_plan(self.store, self.config, self.box.clock.now)
        self.move_between_versions()

    def move_between_versions(self) -> None:
        """Give an item of each project a fix-version history: moved in from another version."""
        sm, mi, wi = model.SourceMilestone, model.MilestoneItem, model.WorkItem
        with self.store.session(readonly=True) as s:
            jira = s.scalar(select(model.Source.id).where(model.Source.name == "jira"))
            versions = s.execute(
                select(sm.container, sm.external_id, sm.milestone_id)
                .where(sm.milestone_id.is_not(None), sm.source_id == jira)
                .order_by(sm.container, sm.external_id)
            ).all()
            held = s.execute(
                select(wi.container, wi.external_id, mi.milestone_id)
                .join(mi, mi.work_item_id == wi.id)
                .where(wi.source_id == jira)
                .order_by(wi.container, wi.external_id)
            ).all()
        changes: list[WorkItemChange] = []
        for container in sorted({v.container for v in versions}):
            own = [v for v in versions if v.container == container]
            item = next(h for h in held if h.container == container)
            now_in = next(v.external_id for v in own if v.milestone_id == item.milestone_id)
            before = next(v.external_id for v in own if v.milestone_id != item.milestone_id)
            when = CLOCK - timedelta(days=9)
            changes += [
                WorkItemChange(f"mv-{item.external_id}-1", item.external_id, when,
                               "fix_version", before, None),
                WorkItemChange(f"mv-{item.external_id}-2", item.external_id, when,
                               "fix_version", None, now_in),
            ]  # fmt: skip
        self.store.write_page("jira", "test", Page(changes), None)

    def close(self) -> None:
        self.store.close()
        self.box.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("world"))
    yield made
    made.close()


def files(out: Path) -> dict[str, bytes]:
    """Return every project report file of a site (history pages and index excluded)."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted((out / "projects").rglob("report.*"))
    }


def test_the_burn_ups_of_all_projects_at_once_are_each_projects_own(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = sorted(world.config.projects)
    alone = {k: load_burnups(world.store, world.config, k, as_of=STATUS_DATE) for k in keys}
    assert sum(len(b) for b in alone.values()) > len(keys)  # several milestones each
    for chunk in (10**9, 1):  # every project in one group of items; each in its own
        monkeypatch.setattr(burn, "CHUNK_ITEMS", chunk)
        together = load_portfolio_burnups(world.store, world.config, keys, as_of=STATUS_DATE)
        assert together == alone
    # the report job reads the fix-version history once for all its parts
    moves = burn.read_fix_version_moves(world.store, keys)
    assert len(moves) and len(set(moves[:, 0].tolist())) > 1  # items moved between versions
    for part in ([keys[0]], keys[1:]):
        given = load_portfolio_burnups(world.store, world.config, part, as_of=STATUS_DATE,
                                       moves=moves)  # fmt: skip
        assert given == {k: alone[k] for k in part}
    unmoved = load_portfolio_burnups(world.store, world.config, keys, as_of=STATUS_DATE,
                                     moves=moves[:0])  # fmt: skip
    assert all(unmoved[k] != alone[k] for k in keys)  # each project's history has a move


def test_reports_written_together_in_workers_equal_reports_written_one_by_one(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = sorted(world.config.projects)
    now = lambda: CLOCK  # noqa: E731
    with world.store.session() as s:  # plan changes: in the report's period, and after it
        first = s.scalars(select(model.Project).order_by(model.Project.key)).first()
        assert first is not None
        for subject, at in (("in the period", CLOCK - timedelta(days=2)),
                            ("after the status date", CLOCK + timedelta(hours=1))):  # fmt: skip
            s.add(model.PlanChange(project_id=first.id, subject=subject, field="finish",
                                   from_value="2026-05-01", to_value="2026-06-01",
                                   detected_at=at))  # fmt: skip
    one_by_one = tmp_path / "alone"
    for key in keys:  # one project per run: nothing shared, drawn in this process
        generate_reports(world.config, world.store, one_by_one, as_of=STATUS_DATE, now=now,
                         projects=[key], portfolio=False)  # fmt: skip
    together = tmp_path / "together"
    monkeypatch.setattr(jobs, "PROJECTS_PER_PASS", (1, 2))  # measured in two parts: 1, then 2
    written = generate_reports(
        world.config, world.store, together, as_of=STATUS_DATE, now=now, workers=2
    )
    assert set(written.projects) == set(keys)
    assert files(together) == files(one_by_one)
    changes = [[c.subject for c in r.changes.plan_changes] for r in written.projects.values()]
    assert sorted(changes) == [[], [], ["in the period"]]
    assert (together / "portfolio" / STATUS_DATE.isoformat() / "portfolio.html").is_file()
    assert all(p.is_file() for p in written.paths)
    # measured beforehand (as the daemon does): a small first part, then all the rest at once
    measured = tmp_path / "measured"
    analysis = analyse(world.store, world.config, as_of=STATUS_DATE, now=now)
    parts: list[list[str]] = []
    real_prepare = jobs.prepare

    def prepare(config: Config, store: Store, part: list[str], **kwargs: Any) -> Any:
        parts.append(list(part))
        return real_prepare(config, store, part, **kwargs)

    monkeypatch.setattr(jobs, "prepare", prepare)
    monkeypatch.setattr(jobs, "PROJECTS_PER_PASS", (1, 1))
    generate_reports(world.config, world.store, measured, as_of=STATUS_DATE, now=now, workers=2,
                     analysis=analysis)  # fmt: skip
    assert parts == []  # parts of one project each (1, 1, then the rest): no shared read
    assert files(measured) == files(one_by_one)
    monkeypatch.setattr(jobs, "PROJECTS_PER_PASS", (1, 5))
    again = tmp_path / "measured-again"
    generate_reports(world.config, world.store, again, as_of=STATUS_DATE, now=now, workers=2,
                     analysis=analysis)  # fmt: skip
    assert parts == [keys[1:]]  # the first part, of one project, is collected without a prepare
    assert files(again) == files(one_by_one)


def test_worker_processes_only_pay_for_many_projects() -> None:
    assert jobs._parts(list("abcdefg"), 2, 3) == [["a", "b"], ["c", "d", "e"], ["f", "g"]]
    assert jobs._parts(list("abcdefghij"), 2, 3, 10) == [["a", "b"], ["c", "d", "e"],
                                                         list("fghij")]  # fmt: skip
    assert jobs._parts(list("abc"), 5) == [["a", "b", "c"]]
    assert jobs._parts([], 10, 50) == []
    assert jobs.workers_for(1) == 1
    assert jobs.workers_for(jobs.PARALLEL_FROM - 1) == 1
    assert jobs.workers_for(jobs.PARALLEL_FROM) == min(os.cpu_count() or 1, jobs.PARALLEL_FROM)
    assert jobs.workers_for(3, workers=8) == 3
    assert jobs.workers_for(50, workers=0) == 1
