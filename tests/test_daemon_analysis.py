"""The daemon measures the portfolio once for its check, snapshot and report jobs, never stale.

``pmsync.daemon.analysis.SharedAnalysis`` keeps the last measurement and hands
it to the next job while the store's mark (sync runs, baselines, plan changes)
and the configuration are the same. These tests run the daemon's own job
functions on a synced sandbox world and compare what they produce with what
the same step gives when it reads the store itself: a kept measurement must
give the same findings, snapshot and reports, and anything that changes the
data (a sync, a baseline set from another process, a reloaded configuration)
must be seen by the next job.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_health_e2e import World

from pmsync import model
from pmsync.daemon import tasks
from pmsync.daemon.analysis import SharedAnalysis
from pmsync.daemon.base import JobContext
from pmsync.daemon.hooks import HOOKS, Hook, Hooks
from pmsync.daemon.metrics import DaemonMetrics
from pmsync.health import load_figures
from pmsync.plan import set_baseline
from pmsync.rules import evaluate_rules
from pmsync.store import Store

NO_DELIVERY = {**HOOKS, "report": Hook("report delivery", "pmsync.not_installed", "send")}
"""The daemon's hooks without e-mail delivery: a report job only writes its files."""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path / "world") as made:
        yield made


class Jobs:
    """The daemon's jobs on one store and config, sharing one ``SharedAnalysis``."""

    def __init__(self, world: World, store: Store) -> None:
        self.world, self.store = world, store
        self.shared = SharedAnalysis()
        self.hooks = Hooks(NO_DELIVERY)
        self.metrics = DaemonMetrics(lambda: store, timedelta(minutes=1))

    def context(self, job_id: str) -> JobContext:
        return JobContext(
            job_id=job_id,
            store=self.store,
            config=self.world.config,
            now=self.world.box.clock.now,
            stop=threading.Event(),
            metrics=self.metrics,
            hooks=self.hooks,
            run_soon=lambda job: None,
            fire_time=self.world.now,
            analysis=self.shared,
        )

    def check(self) -> Any:
        result = tasks.check(self.context("check"))
        assert result.outcome == "ok", result
        return result

    def snapshot(self) -> dict[str, Any]:
        assert tasks.snapshot(self.context("snapshot")).outcome == "ok"
        snap = model.table_of(model.MetricSnapshot)
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(snap.c.scope_id, snap.c.metrics)).all()
        return {scope: metrics for scope, metrics in rows}

    def report(self, project: str) -> dict[str, bytes]:
        result = tasks.report(self.context(f"report:{project}:0"), project, 0)
        assert result.outcome == "ok", result
        out = self.world.config.var_dir / "reports" / "projects" / project
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("report.*"))}


def firing(store: Store) -> set[tuple[str, str]]:
    """The alerts the check left firing: (rule, fingerprint)."""
    alert = model.table_of(model.Alert)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(alert.c.rule, alert.c.fingerprint).where(
                alert.c.state.in_(("pending", "firing"))
            )
        ).all()
    return {(rule, fingerprint) for rule, fingerprint in rows}


def expected_findings(world: World, store: Store) -> set[tuple[str, str]]:
    return {
        (f.rule, f.fingerprint) for f in evaluate_rules(store, world.config, world.box.clock.now)
    }


def test_checks_on_an_unchanged_store_share_one_measurement_and_find_the_same(
    world: World, store: Store
) -> None:
    world.sync(store)
    jobs = Jobs(world, store)
    jobs.check()
    first = firing(store)
    assert first == expected_findings(world, store) and first
    jobs.check()
    jobs.snapshot()
    assert jobs.shared.measured == 1, "the second check and the snapshot took the kept one"
    assert firing(store) == first


def test_a_sync_between_two_checks_is_seen_by_the_second(world: World, store: Store) -> None:
    world.sync(store)
    jobs = Jobs(world, store)
    jobs.check()
    before = firing(store)
    world.box.advance(timedelta(days=20))
    world.sync(store)
    jobs.check()
    assert jobs.shared.measured == 2, "a sync run changes the store's mark"
    after = firing(store)
    assert after == expected_findings(world, store)
    assert after != before, "twenty days of work change what the rules find"


def test_a_baseline_set_by_another_process_reaches_the_next_report_and_snapshot(
    world: World, store: Store, make_store: Any
) -> None:
    world.sync(store)
    jobs = Jobs(world, store)
    jobs.check()
    other = make_store(now=world.box.clock.now)  # as `pmsync baseline` would, beside the daemon
    set_baseline(other, "CRM", note="re-plan", now=world.box.clock.now)
    snapshots = jobs.snapshot()
    assert jobs.shared.measured == 2
    figures = load_figures(store, world.config, ["CRM"], as_of=world.today, now=world.box.clock.now)
    assert figures["CRM"].baseline_version == 1
    assert snapshots["CRM"]["baseline_version"] == 1


def test_a_project_report_takes_a_kept_measurement_but_never_measures_for_itself(
    world: World, store: Store, tmp_path: Path
) -> None:
    world.sync(store)
    alone = Jobs(world, store)
    written = alone.report("PAY")
    assert alone.shared.measured == 0, "one project's report reads only that project"
    assert {"report.html", "report.md"} <= {Path(p).name for p in written}
    jobs = Jobs(world, store)
    jobs.check()
    assert jobs.report("PAY") == written
    assert jobs.shared.measured == 1


def test_a_reloaded_configuration_is_measured_anew(world: World, store: Store) -> None:
    world.sync(store)
    jobs = Jobs(world, store)
    jobs.check()
    spent = jobs.snapshot()["PAY"]["budget"]["life"]["spent"]

    def dearer(doc: dict[str, Any]) -> None:  # the same hours at twice the rates
        for entry in doc["rate_card"]:
            entry["rate"] = float(entry["rate"]) * 2

    world.edit_project("PAY", dearer)  # and a new Config, as a reload gives the daemon
    jobs.check()
    again = jobs.snapshot()["PAY"]["budget"]["life"]["spent"]
    assert jobs.shared.measured == 2
    assert firing(store) == expected_findings(world, store)
    now = world.box.clock.now
    fresh = load_figures(store, world.config, ["PAY"], as_of=world.today, now=now)["PAY"]
    assert again == f"{fresh.budget[-1].spent:.2f}" != spent
