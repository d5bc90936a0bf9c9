"""Figures from the store at any status date, on hand-made records, on SQLite and PostgreSQL.

Each test writes a few records the way the sync engine would, refreshes the
plan, and reads the metrics through ``pmsync.health``: what was done, open and
in which milestone on a past day, how progress is measured when a tool has no
story points, what the forecast and the earned value are fed with. The
end-to-end tests on a synced sandbox are in ``test_health_e2e.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pmsync.config import Config
from pmsync.config.projects import Project
from pmsync.config.rules import RulesConfig
from pmsync.config.settings import PmsyncSettings
from pmsync.config.sources import Source, SourceOptions
from pmsync.health import UnknownProject, load_inputs, load_project_health
from pmsync.people import link_people
from pmsync.plan import refresh_plan
from pmsync.records import (
    Page,
    PersonRef,
    Record,
    SourceMilestone,
    WorkItem,
    WorkItemChange,
    Worklog,
)
from pmsync.store import Store

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


def at(day: int, hour: int = 10) -> datetime:
    """Return 10:00 UTC on March ``day``, 2026."""
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def make_config(tmp_path: Path, **extra: Any) -> Config:
    project = {
        "key": "PAY",
        "name": "Payments",
        "start": "2026-03-02",
        "finish": "2026-04-30",
        "budget_at_completion": 10000,
        "progress_by": "story_points",
        "rate_card": [{"role": "developer", "rate": 100, "effective_from": "2026-01-01"}],
        "milestones": [
            {
                "name": name,
                "due": due,
                "match": [
                    {"jira_fix_version": {"source": "jira", "name": name}},
                    {"github_milestone": {"source": "github", "repo": "acme/pay", "title": name}},
                ],
            }
            for name, due in (("1.0", "2026-03-27"), ("1.1", "2026-04-24"))
        ],
        "deliverables": [
            {
                "code": "1",
                "name": "Payments",
                "children": [
                    {
                        "code": "1.1",
                        "name": "Checkout",
                        "planned_start": "2026-03-02",
                        "planned_finish": "2026-03-27",
                        "planned_cost": 4000,
                        "match": [{"epic": "PAY-40"}],
                    },
                    {
                        "code": "1.2",
                        "name": "API",
                        "planned_cost": 6000,  # no dates: spread over the project
                        "match": [{"repository": "acme/pay"}],
                    },
                ],
            }
        ],
        **extra,
    }
    people = [{"id": "ana", "name": "Ana", "role": "developer", "aliases": {"jira": ["acc-ana"]}}]
    return Config(
        config_dir=tmp_path,
        settings=PmsyncSettings.model_validate({"timezone": "UTC", "people": people}),
        sources={n: Source(n, SourceOptions(type=n), None, None) for n in ("jira", "github")},
        projects={"PAY": Project.model_validate(project)},
        project_files={},
        rules=RulesConfig(),
    )


def jira(key: str, status: str, category: str, **kw: Any) -> WorkItem:
    values: dict[str, Any] = {
        "external_id": key,
        "key": key,
        "title": f"work on {key}",
        "container": "PAY",
        "item_type": "Story",
        "status": status,
        "status_category": category,
        "created_at": at(2),
        "updated_at": at(2),
        "epic_key": "PAY-40",
        "story_points": 3.0,
        "milestones": ("101",),
    }
    values.update(kw)
    return WorkItem(**values)


def github(number: int, state: str, **kw: Any) -> WorkItem:
    key = f"acme/pay#{number}"
    values: dict[str, Any] = {
        "external_id": key,
        "key": key,
        "title": f"issue {number}",
        "container": "acme/pay",
        "item_type": "issue",
        "status": state,
        "status_category": "done" if state == "closed" else "todo",
        "created_at": at(2),
        "updated_at": at(2),
        "milestones": ("acme/pay#1",),
    }
    values.update(kw)
    return WorkItem(**values)


def moved(
    item: str, n: int, when: datetime, field: str, before: str | None, after: str | None
) -> WorkItemChange:
    return WorkItemChange(f"{item}-{n}", item, when, field, before, after)


def write(store: Store, source: str, records: Sequence[Record]) -> None:
    store.write_page(source, "test", Page(list(records)), None)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Config:
    """Two Jira stories with a history, two GitHub issues without, one move between versions."""
    write(
        store,
        "jira",
        [
            SourceMilestone(
                external_id="101", name="1.0", container="PAY", due_date=date(2026, 3, 27)
            ),
            SourceMilestone(
                external_id="102", name="1.1", container="PAY", due_date=date(2026, 4, 24)
            ),
            # PAY-1: started on the 3rd, done on the 5th, reopened on the 10th, done on the 12th
            jira("PAY-1", "Done", "done", resolved_at=at(12)),
            moved("PAY-1", 1, at(3), "status", "To Do", "In Progress"),
            moved("PAY-1", 2, at(5), "status", "In Progress", "Done"),
            moved("PAY-1", 3, at(10), "status", "Done", "In Progress"),
            moved("PAY-1", 4, at(12), "status", "In Progress", "Done"),
            # PAY-2: in review (a status no item is in any more) since the 9th; moved to 1.1
            # on the 16th, after the earlier status dates
            jira("PAY-2", "Blocked", "in_progress", milestones=("102",), story_points=5.0),
            moved("PAY-2", 1, at(4), "status", "To Do", "In Review"),
            moved("PAY-2", 2, at(9), "status", "In Review", "Blocked"),
            moved("PAY-2", 3, at(16), "fix_version", "101", None),
            moved("PAY-2", 4, at(16), "fix_version", None, "102"),
            # PAY-3 only appears on the 18th, in 1.1
            jira(
                "PAY-3", "To Do", "todo", created_at=at(18), story_points=None, milestones=("102",)
            ),
        ],
    )
    write(
        store,
        "github",
        [
            SourceMilestone(
                external_id="acme/pay#1",
                name="1.0",
                container="acme/pay",
                due_date=date(2026, 3, 27),
            ),
            github(1, "closed", resolved_at=at(6)),
            github(2, "open"),
        ],
    )
    write(
        store,
        "jira",
        [
            Worklog(str(n), "PAY-1", PersonRef("acc-ana"), at(d), 2 * 3600, at(d))
            for n, d in enumerate((3, 4, 10, 11))
        ],
    )
    cfg = make_config(tmp_path)
    link_people(store, cfg.settings.people, {"jira": "jira", "github": "github"})
    refresh_plan(store, cfg, lambda: NOW)
    return cfg


def scope(store: Store, cfg: Config, day: date) -> dict[str, tuple[int, int, dict[str, int]]]:
    loaded = load_inputs(store, cfg, ["PAY"], as_of=day, now=lambda: NOW)["PAY"]
    return {m.name: (m.items, m.done_items, m.items_by_source) for m in loaded.milestones}


def test_milestones_hold_what_they_held_on_the_status_date(store: Store, world: Config) -> None:
    # today: PAY-2 has moved to 1.1, PAY-3 was added to it; PAY-1 and #1 are done
    assert scope(store, world, date(2026, 3, 20)) == {
        "1.0": (3, 2, {"github": 2, "jira": 1}),
        "1.1": (2, 0, {"jira": 2}),
    }
    # the move on the 16th, and PAY-3 from the 18th
    assert scope(store, world, date(2026, 3, 15))["1.1"] == (0, 0, {})
    assert scope(store, world, date(2026, 3, 16))["1.1"] == (1, 0, {"jira": 1})
    assert scope(store, world, date(2026, 3, 18))["1.1"] == (2, 0, {"jira": 2})
    # on the 11th PAY-2 was still in 1.0, and PAY-1 had been reopened
    assert scope(store, world, date(2026, 3, 11)) == {
        "1.0": (4, 1, {"github": 2, "jira": 2}),
        "1.1": (0, 0, {}),
    }
    # on the 5th PAY-1 was done for the first time; #1 was not closed yet
    assert scope(store, world, date(2026, 3, 5))["1.0"] == (4, 1, {"github": 2, "jira": 2})
    assert scope(store, world, date(2026, 3, 6))["1.0"] == (4, 2, {"github": 2, "jira": 2})


def test_the_forecast_is_fed_the_open_items_of_each_milestone(store: Store, world: Config) -> None:
    loaded = load_inputs(store, world, ["PAY"], as_of=date(2026, 3, 20), now=lambda: NOW)["PAY"]
    plans = {m.name: (m.due, m.remaining_items) for m in loaded.inputs.milestones}
    assert plans == {"1.0": (date(2026, 3, 27), 1), "1.1": (date(2026, 4, 24), 2)}
    health = load_project_health(store, world, "PAY", as_of=date(2026, 3, 20), now=lambda: NOW)
    # done in the last 60 working days: PAY-1 (last done on the 12th) and #1 (the 6th)
    assert sum(health.team.throughput_by_day.values) == 2  # type: ignore[union-attr]
    assert all(m.mean_throughput == pytest.approx(2 / 60) for m in health.milestones)


def test_the_status_history_reaches_the_team_metrics(store: Store, world: Config) -> None:
    loaded = load_inputs(store, world, ["PAY"], as_of=date(2026, 3, 20), now=lambda: NOW)["PAY"]
    team = loaded.inputs.team
    assert team is not None
    changes = team.changes
    statuses = [str(s) for s in changes.to_status]
    # creations (5 items), 4 + 2 Jira status changes, and #1's closing
    assert len(statuses) == 5 + 6 + 1
    # "In Review" and "Blocked" are in progress; a reopened item counts when it is done again
    health = load_project_health(store, world, "PAY", as_of=date(2026, 3, 20), now=lambda: NOW)
    assert health.team is not None
    assert health.team.work_in_progress == 1  # PAY-2
    assert health.team.cycle_time_items == 1  # PAY-1: from the 3rd to the 12th
    assert health.team.cycle_time_median_days == pytest.approx(9.0)
    series = health.team.throughput_by_day
    days = dict(zip(series.days, series.values, strict=True))
    assert days[date(2026, 3, 12)] == 1 and days[date(2026, 3, 5)] == 0
    # a week of bookings against Ana's 40 hours
    loads = {(x.person, x.week): (x.booked_hours, x.capacity_hours) for x in health.team.loads}
    assert loads[("ana", date(2026, 3, 2))] == (4.0, 40.0)
    assert loads[("ana", date(2026, 3, 9))] == (4.0, 40.0)


def test_an_sqlite_without_unixepoch_reads_the_same_times(
    store: Store, world: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.38 has no unixepoch(): the times are read with strftime instead."""

    def measured() -> Any:
        days = [date(2026, 3, d) for d in (5, 6, 11, 16, 18, 20)]
        health = load_project_health(store, world, "PAY", as_of=date(2026, 3, 20), now=lambda: NOW)
        assert health.team is not None
        team = health.team
        return (
            [scope(store, world, d) for d in days],
            list(team.throughput_by_day.values),
            team.cycle_time_median_days,
            sorted((x.person, x.week, x.booked_hours) for x in team.loads),
            health.project.actual_cost,
        )

    now = measured()
    monkeypatch.setattr(store.engine.dialect, "server_version_info", (3, 37, 2))
    assert measured() == now


def test_earned_value_counts_only_what_was_done_and_spent_by_the_status_date(
    store: Store, world: Config
) -> None:
    def figures(day: int) -> tuple[float, float, float, dict[str, float]]:
        loaded = load_inputs(store, world, ["PAY"], as_of=date(2026, 3, day), now=lambda: NOW)
        health = load_project_health(store, world, "PAY", as_of=date(2026, 3, day), now=lambda: NOW)
        p = health.project
        return (
            p.planned_value,
            p.earned_value,
            p.actual_cost,
            dict(loaded["PAY"].inputs.evm.pct_complete),
        )

    pv10, ev10, ac10, pct10 = figures(10)
    pv20, ev20, ac20, pct20 = figures(20)
    # Checkout (PAY-1, PAY-2 by story points; PAY-3 has none): PAY-1 was reopened on the
    # 10th and done again by the 20th
    assert pct10["1.1"] == 0.0 and pct20["1.1"] == pytest.approx(3 / 8)
    # API (GitHub issues, no story points): measured by count, #1 of 2 closed
    assert pct10["1.2"] == pct20["1.2"] == 0.5
    assert ev20 == pytest.approx(4000 * 3 / 8 + 6000 * 0.5)
    assert ev10 == pytest.approx(6000 * 0.5)
    assert (ac10, ac20) == (pytest.approx(600.0), pytest.approx(800.0))  # 2 h x 100 per worklog
    assert pv10 < pv20
    # the undated API package is spread over the project's working days (start to finish)
    working = np.busday_count(date(2026, 3, 2), date(2026, 5, 1))
    elapsed = np.busday_count(date(2026, 3, 2), date(2026, 3, 21))
    checkout = 4000 * np.busday_count(date(2026, 3, 2), date(2026, 3, 21)) / 20
    assert pv20 == pytest.approx(checkout + 6000 * elapsed / working)


def test_a_day_in_the_future_is_measured_at_now(store: Store, world: Config) -> None:
    later = load_project_health(store, world, "PAY", as_of=date(2026, 3, 25), now=lambda: NOW)
    today = load_project_health(store, world, "PAY", as_of=date(2026, 3, 20), now=lambda: NOW)
    assert later.project.earned_value == today.project.earned_value
    assert later.project.planned_value > today.project.planned_value
    assert later.status_date == date(2026, 3, 25)


def test_timings_name_every_stage(store: Store, world: Config) -> None:
    timings: dict[str, tuple[float, float]] = {}
    load_inputs(store, world, ["PAY"], as_of=date(2026, 3, 20), now=lambda: NOW, timings=timings)
    assert set(timings) >= {"work items (load_items)", "cost ledgers", "inputs per project"}
    assert all(wall >= 0 and cpu >= 0 for wall, cpu in timings.values())


def test_a_project_with_nothing_synced_yet_has_figures_not_errors(
    store: Store, tmp_path: Path
) -> None:
    cfg = make_config(tmp_path, milestones=[], deliverables=[])
    refresh_plan(store, cfg, lambda: NOW)
    health = load_project_health(store, cfg, "PAY", as_of=date(2026, 3, 20), now=lambda: NOW)
    p = health.project
    assert (p.budget_at_completion, p.planned_value, p.earned_value, p.actual_cost) == (0, 0, 0, 0)
    assert p.cost_performance_index is None and p.schedule_performance_index is None
    assert health.milestones == () and health.schedule is None
    assert health.team is not None and health.team.throughput_per_day == 0.0
    with pytest.raises(UnknownProject, match="no project 'NOPE'"):
        load_project_health(store, cfg, "NOPE", as_of=date(2026, 3, 20), now=lambda: NOW)


def test_reports_get_the_figures_through_the_metrics_hook(store: Store, world: Config) -> None:
    from pmsync.metrics.reporting import metrics_for_reports
    from pmsync.reports.collect import collect_project
    from pmsync.reports.facts import Unavailable

    plan = world.projects["PAY"]
    unbound = metrics_for_reports().earned_value(plan, date(2026, 3, 20))
    assert (
        isinstance(unbound, Unavailable) and "metrics_for_reports(config, store)" in unbound.reason
    )
    source = metrics_for_reports(world, store, lambda: NOW)
    health = load_project_health(store, world, "PAY", as_of=date(2026, 3, 20), now=lambda: NOW)
    report = collect_project(
        world, store, "PAY", as_of=date(2026, 3, 20), now=lambda: NOW, metrics=source
    )
    ev = report.earned_value
    assert not isinstance(ev, Unavailable)
    assert (ev.pv, ev.ev, ev.ac) == (
        health.project.planned_value,
        health.project.earned_value,
        health.project.actual_cost,
    )
    assert isinstance(report.milestones, tuple)
    rows = {m.name: m for m in report.milestones}
    assert (rows["1.1"].done, rows["1.1"].scope) == (0.0, 2.0)
    assert rows["1.0"].baseline_due is None  # no baseline approved yet
