"""End to end: a generated sandbox world synced for real, then its metrics read from the store.

The generator builds a story with known answers (``sandbox/generator/plan.py``):
PAY's current release is comfortably on time, CRM's needs about twice the
days it has left, MOB has booked more hours than its budget pays for. Every
expected figure is computed from the *scenario* (what the tools hold) or
from that story, never from pmsync's own tables. Each test runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner
from worlds import SandboxWorld

from pmsync import model
from pmsync.cli import app
from pmsync.daemon.hooks import Hooks, accepted_arguments
from pmsync.health import (
    load_figures,
    load_inputs,
    load_portfolio_health,
    load_project_health,
    previous_snapshot,
    snapshot_history,
    take_daily_snapshot,
    trends,
)
from pmsync.metrics.reporting import metrics_for_reports
from pmsync.plan import refresh_plan, set_baseline
from pmsync.sandbox.configout import ROLE_NAMES
from pmsync.store import Store
from pmsync.sync import SyncReport


class World(SandboxWorld):
    """Three generated projects served by the sandbox, with the config an admin would get."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, projects=3, items=180, seed=5)

    @property
    def today(self) -> date:
        return self.now.date()  # the generated config's time zone is UTC

    def sync(self, store: Store, **options: Any) -> SyncReport:
        report = super().sync(store, **options)
        refresh_plan(store, self.config, self.box.clock.now)
        return report

    # --- the scenario, as of the clock ----------------------------------------------

    def milestone_scope(self, project: str) -> dict[str, dict[str, int]]:
        """Milestone name → items per tool and open items, from the scenario."""
        jira = next(p for p in self.scenario.jira.projects if p.key == project)
        names = {
            v.id: v.state_at({"name": v.name}, self.now)["name"]
            for v in jira.versions
            if v.visible_at(self.now)
        }
        found: dict[str, dict[str, int]] = {}
        for issue in self.jira_issues(project):
            if issue["issuetype"] == "Epic":
                continue
            for vid in issue.get("fix_versions") or []:
                entry = found.setdefault(names[vid], {"jira": 0, "github": 0, "open": 0})
                entry["jira"] += 1
                entry["open"] += issue["status"] != "Done"
        repo = self.repository(project)
        titles = {
            m.number: m.state_at({"title": m.title}, self.now)["title"]
            for m in repo.milestones
            if m.visible_at(self.now)
        }
        for thread in repo.issues:
            if not thread.visible_at(self.now) or thread.pull_request is not None:
                continue
            state = thread.state_at(
                {"milestone": thread.milestone, "state": thread.state}, self.now
            )
            if state["milestone"] is not None:
                entry = found.setdefault(
                    titles[state["milestone"]], {"jira": 0, "github": 0, "open": 0}
                )
                entry["github"] += 1
                entry["open"] += state["state"] != "closed"
        return found

    def labour_cost(self, project: str, until: date) -> Decimal:
        """Hours booked on the project's issues up to ``until`` x the role's rate in its file."""
        people = {p.id: p for p in self.scenario.people}
        rates = {
            entry.role: entry.rate
            for entry in self.config.projects[project].rate_card
            if entry.role
        }
        total = Decimal(0)
        for issue in self.jira_issues(project):
            for log in issue["issue"].worklogs:
                if not log.visible_at(self.now):
                    continue
                state = log.state_at({"seconds": log.seconds, "started": log.started}, self.now)
                started = state["started"]
                day = (
                    date.fromisoformat(started[:10]) if isinstance(started, str) else started.date()
                )
                if day <= until:
                    role = people[log.author].role
                    rate = rates[ROLE_NAMES.get(role, role)]
                    total += Decimal(state["seconds"]) / 3600 * rate
        return total


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world the tests only read (``synced``, in conftest, syncs it once per backend)."""
    with World(tmp_path_factory.mktemp("health") / "world") as made:
        yield made


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A world of this test's own, for tests that move its clock or edit its config."""
    with World(tmp_path / "world") as made:
        yield made


def current_milestone(health: Any, today: date) -> Any:
    """The first milestone still due with work left: the release the team is on."""
    ahead = [m for m in health.milestones if m.due and m.due >= today and m.remaining_items]
    return min(ahead, key=lambda m: m.due)


def test_a_milestone_fed_from_jira_and_github_shows_the_combined_scope_in_the_forecast(
    shared: World, synced: Store
) -> None:
    store = synced
    loaded = load_inputs(
        store, shared.config, ["PAY", "CRM"], as_of=shared.today, now=shared.box.clock.now
    )
    for key in ("PAY", "CRM"):
        expected = shared.milestone_scope(key)
        both = [name for name, e in expected.items() if e["jira"] and e["github"]]
        assert both, "the scenario must have milestones fed from both tools"
        project = loaded[key]
        scopes = {m.name: m for m in project.milestones}
        remaining = {m.name: m.remaining_items for m in project.inputs.milestones}
        for name, entry in expected.items():
            tools = {t: entry[t] for t in ("jira", "github") if entry[t]}
            assert scopes[name].items_by_source == tools, name
            assert scopes[name].items == entry["jira"] + entry["github"], name
            assert remaining[name] == entry["open"], name
        health = load_project_health(
            store, shared.config, key, as_of=shared.today, now=shared.box.clock.now
        )
        forecasts = {m.name: m for m in health.milestones}
        assert all(forecasts[n].remaining_items == expected[n]["open"] for n in both)


def test_the_actual_cost_from_worklogs_equals_the_hand_computed_figure(
    shared: World, synced: Store
) -> None:
    store = synced
    past = shared.today - timedelta(days=40)
    for key in ("PAY", "MOB"):
        for day in (shared.today, past):
            health = load_project_health(
                store, shared.config, key, as_of=day, now=shared.box.clock.now
            )
            expected = shared.labour_cost(key, day)
            assert expected > 0
            assert health.project.actual_cost == pytest.approx(float(expected), abs=0.01), (
                key,
                day,
            )
    figures = load_figures(
        store, shared.config, ["PAY"], as_of=shared.today, now=shared.box.clock.now
    )
    life = next(line for line in figures["PAY"].budget if line.period == "life")
    assert abs(life.spent - shared.labour_cost("PAY", shared.today)) <= Decimal("0.005")


def test_the_slipping_milestone_is_far_less_likely_on_time_than_the_on_time_one(
    shared: World, synced: Store
) -> None:
    store = synced
    health = load_portfolio_health(
        store, shared.config, as_of=shared.today, now=shared.box.clock.now
    )
    on_time = current_milestone(health["PAY"], shared.today)
    slipping = current_milestone(health["CRM"], shared.today)
    assert on_time.trials >= 10_000 and slipping.trials >= 10_000
    assert on_time.probability_on_time >= 0.8, on_time
    assert slipping.probability_on_time <= 0.2, slipping
    assert slipping.forecast_p50 > slipping.due and on_time.forecast_p85 <= on_time.due
    # the linear cross-check agrees: the slipping release is late at the team's average pace
    assert slipping.linear_forecast_finish > slipping.due


def test_the_overspending_project_shows_a_cpi_below_one_and_a_negative_vac(
    shared: World, synced: Store
) -> None:
    store = synced
    figures = load_figures(store, shared.config, as_of=shared.today, now=shared.box.clock.now)
    mob = figures["MOB"]
    p = mob.health.project
    budget = shared.config.projects["MOB"].budget_at_completion
    assert Decimal(str(p.actual_cost)) > budget  # booked hours x rates beyond the budget
    assert p.cost_performance_index is not None and p.cost_performance_index < 1
    assert p.variance_at_completion < 0
    assert p.budget_exhausted  # AC is past the planned cost of the whole WBS, work remains
    others = [f.health.project.cost_performance_index for k, f in figures.items() if k != "MOB"]
    assert all(cpi is not None and p.cost_performance_index < cpi for cpi in others)
    life = next(line for line in mob.budget if line.period == "life")
    assert life.spent > life.budget  # type: ignore[operator]


def test_snapshots_are_one_row_per_scope_and_day_and_a_week_of_them_gives_trends(
    shared: World, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    shared.sync(store)
    clock = shared.box.clock.now
    first = take_daily_snapshot(store, shared.config, clock)
    later = lambda: clock() + timedelta(hours=3)  # noqa: E731
    again = take_daily_snapshot(store, shared.config, later)
    assert first.day == again.day == shared.today and first.rows == again.rows > 3
    table = model.MetricSnapshot
    with store.session(readonly=True) as s:
        per_scope = s.execute(
            select(
                table.scope_kind, table.scope_id, func.count(), func.max(table.computed_at)
            ).group_by(table.scope_kind, table.scope_id)
        ).all()
    assert len(per_scope) == first.rows
    assert all(n == 1 and at == later() for _, _, n, at in per_scope)
    kinds = {kind for kind, *_ in per_scope}
    assert kinds == {"project", "milestone", "deliverable"}
    assert ("milestone", "CRM/R3 Beta") in {(k, i) for k, i, *_ in per_scope}

    # a week of daily snapshots (taken for each past day: the figures of that day)
    week = [shared.today - timedelta(days=n) for n in range(7, 0, -1)]
    for day in week:
        take_daily_snapshot(store, shared.config, clock, day=day)
    history = snapshot_history(store, ("project", "CRM"), week[0], shared.today)
    assert [s.day for s in history] == [*week, shared.today]
    before = previous_snapshot(store, ("project", "CRM"), shared.today)
    assert before is not None and before.day == week[0]
    health = load_project_health(store, shared.config, "CRM", as_of=week[0], now=clock)
    assert before.metrics["earned_value"] == pytest.approx(health.project.earned_value)
    assert before.metrics["actual_cost"] == pytest.approx(health.project.actual_cost)
    change = trends(store, ("project", "CRM"), shared.today)
    assert change["planned_value"].change > 0 and change["planned_value"].before_day == week[0]
    today = load_project_health(store, shared.config, "CRM", as_of=shared.today, now=clock)
    assert change["planned_value"].change == pytest.approx(
        today.project.planned_value - health.project.planned_value
    )
    assert change["actual_cost"].now == pytest.approx(today.project.actual_cost)
    # scope added during the week can lower the share done, so EV may fall: it is what it was
    assert change["earned_value"].change == pytest.approx(
        today.project.earned_value - health.project.earned_value
    )

    # the daemon finds the snapshot hook and calls it with what it offers
    hook = Hooks().get("snapshot")
    assert hook is take_daily_snapshot
    offered = {"store": store, "config": shared.config, "now": later, "day": shared.today}
    result = hook(**accepted_arguments(hook, offered))
    assert result.rows == first.rows


def test_pmsync_metrics_prints_the_figures_at_any_status_date(
    shared: World, make_store: Callable[..., Store], db_url: str
) -> None:
    store = make_store()
    shared.sync(store)
    runner = CliRunner()
    env = {"PMSYNC_DATABASE_URL": db_url, "COLUMNS": "250"}
    base = ["--config", str(shared.config_dir), "metrics", "--project", "CRM"]
    today, past = shared.today.isoformat(), (shared.today - timedelta(days=30)).isoformat()

    def figures(day: str) -> dict[str, Any]:
        shown = runner.invoke(app, [*base, "--json", "--as-of", day], env=env)
        assert shown.exit_code == 0, shown.output
        payload = json.loads(shown.stdout)
        assert payload["as_of"] == day and payload["problems"] == {}
        (project,) = payload["projects"]
        return project

    now, then = figures(today), figures(past)
    expected = load_figures(
        store, shared.config, ["CRM"], as_of=shared.today, now=shared.box.clock.now
    )
    health = expected["CRM"].health
    ev = now["earned_value"]
    assert ev["cost_performance_index"] == pytest.approx(health.project.cost_performance_index)
    assert ev["actual_cost"] == pytest.approx(health.project.actual_cost)
    for name in ("planned_value", "earned_value", "estimate_at_completion", "tcpi_to_bac"):
        assert ev[name] == pytest.approx(getattr(health.project, name)), name
    assert now["earned_schedule"]["schedule_performance_index_time"] == pytest.approx(
        health.schedule.schedule_performance_index_time  # type: ignore[union-attr]
    )
    shown = {m["name"]: m for m in now["milestones"]}
    for m in health.milestones:
        assert shown[m.name]["probability_on_time"] == m.probability_on_time
        assert shown[m.name]["forecast_p85"] == (
            m.forecast_p85.isoformat() if m.forecast_p85 else None
        )
    assert set(now["budget"]) == {"month", "fiscal_year", "life"}
    assert now["team"]["throughput_per_week"] is not None
    # a month earlier: less planned, less done
    assert then["status_date"] == past
    assert then["earned_value"]["planned_value"] < ev["planned_value"]
    done = lambda p: sum(m["done_items"] for m in p["milestones"])  # noqa: E731
    assert done(then) < done(now)

    table = runner.invoke(app, [*base, "--as-of", today], env=env)
    assert table.exit_code == 0, table.output
    assert (
        "earned value" in table.output
        and "R3 Beta" in table.output
        and "P(on time)" in table.output
    )
    portfolio = runner.invoke(
        app, ["--config", str(shared.config_dir), "metrics", "--as-of", today], env=env
    )
    assert portfolio.exit_code == 0 and all(k in portfolio.output for k in ("PAY", "CRM", "MOB"))
    bad = runner.invoke(app, [*base, "--as-of", "last friday"], env=env)
    assert bad.exit_code == 2 and "not a date" in bad.output
    unknown = runner.invoke(
        app, ["--config", str(shared.config_dir), "metrics", "--project", "NOPE"], env=env
    )
    assert unknown.exit_code == 2 and "no project 'NOPE'" in unknown.output


def test_a_baseline_then_a_moved_due_date_shows_the_variance_in_the_metrics(
    world: World, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    world.sync(store)
    jira = next(p for p in world.scenario.jira.projects if p.key == "CRM")
    pushes = [
        (version, change)
        for version in jira.versions
        for change in version.history
        if "release_date" in change.set and change.at > world.now and "released" not in change.set
    ]
    assert pushes, "the slipping project pushes a release after the clock"
    version, push = pushes[0]
    name = version.name
    before = version.state_at({"release_date": version.release_date}, world.now)["release_date"]
    before = date.fromisoformat(str(before)[:10])
    pushed = date.fromisoformat(str(push.set["release_date"])[:10])
    set_baseline(store, "CRM", note="kick-off", now=world.box.clock.now)

    world.box.advance(push.at - world.now + timedelta(days=2))
    world.edit_project("CRM", lambda d: d["milestones"][-1].update(due=d["finish"]))
    world.sync(store)
    figures = load_figures(store, world.config, ["CRM"], as_of=world.today, now=world.box.clock.now)
    crm = figures["CRM"]
    assert crm.baseline_version == 1
    moved = next(m for m in crm.milestones if m.name == name)
    assert (moved.baseline_due, moved.tool_due) == (before, pushed)
    assert moved.slip_days == (pushed - before).days > 0
    last = crm.milestones[-1]
    planned = world.config.projects["CRM"].milestones[-1]
    assert last.due == planned.due and last.baseline_due is not None
    assert last.slip_days == (planned.due - last.baseline_due).days > 0
    # the reports' hook shows the same baseline and the variance against it
    source = metrics_for_reports(world.config, store, world.box.clock.now)
    rows = source.milestones(world.config.projects["CRM"], world.today)
    assert isinstance(rows, tuple)
    row = next(r for r in rows if r.name == name)
    assert row.baseline_due == before and row.variance_days is not None
    assert row.variance_days >= (pushed - before).days
    assert (row.done, row.scope) == (float(moved.done_items), float(moved.scope_items))
