"""End to end: a generated sandbox world, synced for real, then the plan refreshed.

Every expected figure here is computed from the *scenario* (what the tools
hold), never from pmsync's own tables, so the tests check linking, costing
and baselining against an independent answer. Each test runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner
from worlds import SandboxWorld

from pmsync import model
from pmsync.cli import app
from pmsync.plan import (
    cost_ledgers,
    load_items,
    plan_variance,
    plan_variances,
    progress_by_milestone,
    progress_by_source,
    refresh_plan,
    set_baseline,
)
from pmsync.plan.baselines import plan_changes
from pmsync.sandbox.configout import ROLE_NAMES
from pmsync.sandbox.generator.base import build
from pmsync.sandbox.scenario import GitHubCommit, GitHubIssue, GitHubMilestone, GitHubPullRef
from pmsync.store import Store

HOSTILE = "[bold]Launch[/bold] <script>alert(1)</script> [red]x"


class World(SandboxWorld):
    """Two generated projects served by the sandbox, with the config an admin would get."""

    def __init__(self, root: Path, edit: Callable[[Any], Any] | None = None) -> None:
        super().__init__(root, projects=2, items=120, seed=5, edit=edit)

    def sync(self, store: Store, **options: Any) -> Any:
        """Sync (which refreshes the plan), then refresh again: that must find nothing new."""
        super().sync(store, **options)
        again = refresh_plan(store, self.config, self.box.clock.now)
        assert not again.changed, again
        return again

    # --- the scenario, as of the clock ----------------------------------------------

    def versions(self, project: str) -> dict[str, dict[str, Any]]:
        jira = next(p for p in self.scenario.jira.projects if p.key == project)
        return {
            v.id: v.state_at({"name": v.name, "release_date": v.release_date}, self.now)
            for v in jira.versions
            if v.visible_at(self.now)
        }

    def github_issues(self, project: str) -> list[dict[str, Any]]:
        repo = self.repository(project)
        return [
            {"issue": i, **i.state_at({"milestone": i.milestone, "title": i.title}, self.now)}
            for i in repo.issues
            if i.visible_at(self.now) and i.pull_request is None
        ]

    def github_milestones(self, project: str) -> dict[int, dict[str, Any]]:
        return {
            m.number: m.state_at({"title": m.title, "due_on": m.due_on}, self.now)
            for m in self.repository(project).milestones
            if m.visible_at(self.now)
        }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path / "world") as made:
        yield made


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world the tests only read (``synced``, in conftest, syncs it once per backend)."""
    with World(tmp_path_factory.mktemp("plan") / "world") as made:
        yield made


def _day(value: Any) -> date:
    assert value is not None
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if isinstance(value, datetime) else value


def expected_scope(world: World, project: str) -> dict[str, dict[str, Any]]:
    """Milestone name → items and points per tool, from the scenario."""
    versions = world.versions(project)
    found: dict[str, dict[str, Any]] = {}
    for issue in world.jira_issues(project):
        if issue["issuetype"] == "Epic":
            continue
        for vid in issue.get("fix_versions") or []:
            entry = found.setdefault(versions[vid]["name"], {"jira": 0, "github": 0, "points": 0.0})
            entry["jira"] += 1
            entry["points"] += float(issue.get("story_points") or 0)
    milestones = world.github_milestones(project)
    for issue in world.github_issues(project):
        if issue["milestone"] is not None:
            title = milestones[issue["milestone"]]["title"]
            entry = found.setdefault(title, {"jira": 0, "github": 0, "points": 0.0})
            entry["github"] += 1
    return found


def milestone_rows(store: Store, project: str) -> dict[str, Any]:
    ms, pr = model.Milestone, model.Project
    with store.session(readonly=True) as s:
        rows = s.scalars(select(ms).join(pr, pr.id == ms.project_id).where(pr.key == project))
        return {m.name: m for m in rows}


def test_a_milestone_fed_from_jira_and_github_shows_their_combined_scope(
    shared: World, synced: Store
) -> None:
    world, store = shared, synced
    for project in ("PAY", "CRM"):
        expected = expected_scope(world, project)
        both = [n for n, e in expected.items() if e["jira"] and e["github"]]
        assert both, "the scenario must have milestones fed from both tools"
        rows = milestone_rows(store, project)
        with store.session(readonly=True) as s:
            frame = load_items(s.connection(), world.config, [project])
        ids = {name: row.id for name, row in rows.items()}
        progress = progress_by_milestone(frame, ids.values(), "story_points")
        for name, entry in expected.items():
            row = rows[name]
            assert row.origin == "plan"
            assert (row.scope_items, row.scope_points) == (
                entry["jira"] + entry["github"],
                entry["points"],
            ), name
            assert progress[row.id].items == entry["jira"] + entry["github"]
            by_tool = progress_by_source(frame, row.id, "story_points")
            with store.session(readonly=True) as s:
                names = dict(s.execute(select(model.Source.id, model.Source.name)).all())
            counts = {names[sid]: p.items for sid, p in by_tool.items()}
            assert counts == {t: entry[t] for t in ("jira", "github") if entry[t]}, name


def test_the_cost_from_worklogs_equals_the_hand_computed_figure(
    world: World, make_store: Callable[..., Store]
) -> None:
    people = {p.id: p for p in world.scenario.people}
    logs = [
        (people[w.author], w.state_at({"seconds": w.seconds, "started": w.started}, world.now))
        for issue in world.jira_issues("PAY")
        for w in issue["issue"].worklogs
        if w.visible_at(world.now)
    ]
    days = sorted(_day(state["started"]) for _, state in logs)
    change = days[len(days) // 2]  # the developer rate changes mid-project
    busiest = max(
        (p for p, _ in logs if p.role == "developer"),
        key=lambda p: sum(1 for q, _ in logs if q is p),
    )
    own = re.sub(r"[^A-Za-z0-9_.-]", "-", busiest.id)
    start = world.config.projects["PAY"].start

    def rates(data: dict[str, Any]) -> None:
        data["rate_card"] = [
            {"role": "developer", "rate": 90.5, "effective_from": start.isoformat()},
            {"role": "developer", "rate": 110, "effective_from": change.isoformat()},
            {"role": "lead", "rate": 125, "effective_from": start.isoformat()},
            {"role": "qa", "rate": 80, "effective_from": start.isoformat()},
            {"role": "project_manager", "rate": 105, "effective_from": start.isoformat()},
            {"person": own, "rate": 150.25, "effective_from": start.isoformat()},
        ]

    world.edit_project("PAY", rates)
    store = make_store()
    world.sync(store)

    def rate(person: Any, day: date) -> Decimal:
        if person is busiest:
            return Decimal("150.25")
        role = ROLE_NAMES.get(person.role, person.role)
        if role == "developer":
            return Decimal("110") if day >= change else Decimal("90.5")
        return {"lead": Decimal(125), "qa": Decimal(80), "project_manager": Decimal(105)}[role]

    expected = sum(
        (
            Decimal(state["seconds"]) / 3600 * rate(person, _day(state["started"]))
            for person, state in logs
        ),
        Decimal(0),
    )
    with store.session(readonly=True) as s:
        ledger = cost_ledgers(s.connection(), world.config, ["PAY"])["PAY"]
    assert ledger.unrated_hours() == {}
    assert ledger.total() == Decimal(expected).quantize(Decimal("0.01"))
    assert ledger.hours == pytest.approx(sum(state["seconds"] for _, state in logs) / 3600)
    mine = sum(
        (Decimal(st["seconds"]) / 3600 * Decimal("150.25") for p, st in logs if p is busiest),
        Decimal(0),
    )
    assert ledger.by_person()[own] == Decimal(mine).quantize(Decimal("0.01"))
    others = [p for p, st in logs if p is not busiest and p.role == "developer"]
    assert any(_day(st["started"]) < change for p, st in logs if p in others)
    assert any(_day(st["started"]) >= change for p, st in logs if p in others)


def _slipping(world: World) -> tuple[str, date, datetime, date]:
    """Return (name, release date before, when pushed, pushed date) of CRM's pushed version."""
    jira = next(p for p in world.scenario.jira.projects if p.key == "CRM")
    for version in jira.versions:
        for change in version.history:
            if (
                "release_date" in change.set
                and change.at > world.now
                and "released" not in change.set
            ):
                return (
                    version.name,
                    version.state_at({"release_date": version.release_date}, world.now)[
                        "release_date"
                    ],
                    change.at,
                    date.fromisoformat(change.set["release_date"]),
                )
    raise AssertionError("the slipping project pushes a due date after the clock")


def test_a_baseline_then_a_moved_due_date_shows_the_variance_and_a_flagged_change(
    world: World, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    world.sync(store)
    name, before, pushed_at, pushed = _slipping(world)
    baseline = set_baseline(store, "CRM", note="approved at kick-off", now=world.box.clock.now)
    assert baseline.version == 1
    was = {n: m.scope_items for n, m in milestone_rows(store, "CRM").items()}

    world.box.advance(pushed_at - world.now + timedelta(days=2))
    world.edit_project("CRM", lambda d: d["milestones"][-1].update(due=d["finish"]))
    world.sync(store)
    with store.session(readonly=True) as s:
        variance = plan_variance(s.connection(), "CRM")
        changes = plan_changes(s.connection(), "CRM")
    assert_variances_read_together_are_those_read_one_by_one(world, store)
    moved = next(m for m in variance.milestones if m.name == name)
    assert (moved.baseline_due, moved.tool_due) == (_day(before), pushed)
    assert moved.tool_shift_days == (pushed - _day(before)).days > 0
    assert moved.slip_days == moved.tool_shift_days
    flagged = {(c.subject, c.field): c for c in changes}
    tool_due = flagged[(f"milestone:{name}", "tool_due")]
    assert (tool_due.from_value, tool_due.to_value) == (str(_day(before)), pushed.isoformat())
    assert tool_due.unapproved and tool_due.baseline_version == 1
    last = world.config.projects["CRM"].milestones[-1]
    assert flagged[(f"milestone:{last.name}", "due")].to_value == last.due.isoformat()
    # the PM moved unstarted work to the next release: the scope change is recorded too
    now = {n: m.scope_items for n, m in milestone_rows(store, "CRM").items()}
    assert now[name] < was[name]
    assert flagged[(f"milestone:{name}", "scope_items")].to_value == str(now[name])
    assert all(c.unapproved for c in changes)

    second = set_baseline(store, "CRM", note="re-plan", now=world.box.clock.now)
    assert second.approved_changes == len(changes)
    with store.session(readonly=True) as s:
        after = plan_variance(s.connection(), "CRM")
    assert after.unapproved_changes == ()
    assert next(m for m in after.milestones if m.name == name).tool_shift_days == 0
    assert_variances_read_together_are_those_read_one_by_one(world, store)


def assert_variances_read_together_are_those_read_one_by_one(world: World, store: Store) -> None:
    """The analysis and the rules read every project's variance at once: the same answers."""
    keys = sorted(world.config.projects)
    with store.session(readonly=True) as s:
        each = {key: plan_variance(s.connection(), key) for key in keys}
        together = plan_variances(s.connection(), [*keys, "NOT-SYNCED"])
    assert together == each  # the project not in the store is left out
    assert any(v.baseline is not None for v in together.values())


def test_moving_an_item_between_fix_versions_moves_it_between_milestones(
    world: World, make_store: Callable[..., Store]
) -> None:
    store = make_store()

    def expected() -> dict[str, set[str]]:
        versions = world.versions("CRM")
        found: dict[str, set[str]] = {}
        for issue in world.jira_issues("CRM"):
            for vid in issue.get("fix_versions") or []:
                found.setdefault(versions[vid]["name"], set()).add(issue["key"])
        return found

    def stored() -> dict[str, set[str]]:
        mi, wi, ms, src = model.MilestoneItem, model.WorkItem, model.Milestone, model.Source
        with store.session(readonly=True) as s:
            rows = s.execute(
                select(ms.name, wi.key)
                .join(mi, mi.milestone_id == ms.id)
                .join(wi, wi.id == mi.work_item_id)
                .join(src, src.id == wi.source_id)
                .where(src.name == "jira", wi.container == "CRM")
            ).all()
        found: dict[str, set[str]] = {}
        for milestone, key in rows:
            found.setdefault(milestone, set()).add(key)
        return found

    world.sync(store)
    first = stored()
    assert first == expected()
    _, _, pushed_at, _ = _slipping(world)
    world.box.advance(pushed_at - world.now + timedelta(days=1))
    world.sync(store)
    second = stored()
    assert second == expected()
    moved = {k for n in first for k in first[n] - second.get(n, set())}
    assert moved, "the PM moves unstarted work to the next release after the clock"


def _add_links_and_hostile_milestone(scenario: Any) -> int:
    repo = next(r for r in scenario.github.repositories if r.full_name == "acme/payments-api")
    author = next(p.id for p in scenario.people if p.github_login)
    at = scenario.clock - timedelta(days=1)
    repo.commits.append(
        build(
            GitHubCommit,
            sha="f" * 40,
            branch=repo.default_branch,
            message="PAY-12: reconcile the ledger rounding",
            author=author,
            authored_at=at,
            committed_at=at,
        )
    )
    issue = next(i for i in repo.issues if i.pull_request is None and i.created < at)
    number = max(i.number for i in repo.issues) + 1
    repo.milestones.append(
        build(
            GitHubMilestone,
            created=at,
            number=max(m.number for m in repo.milestones) + 1,
            id=990001,
            title=HOSTILE,
            due_on=scenario.clock + timedelta(days=30),
        )
    )
    hostile_number = repo.milestones[-1].number
    repo.issues.append(
        build(
            GitHubIssue,
            created=at,
            number=number,
            id=990002,
            title="Ledger rounding",
            author=author,
            body=f"Rounds to the cent.\n\nfixes #{issue.number}",
            pull_request=build(GitHubPullRef, head="feature/ledger-rounding"),
        )
    )
    repo.issues.append(
        build(
            GitHubIssue,
            created=at,
            number=number + 1,
            id=990003,
            title="[bold]not bold[/bold] in an issue",
            author=author,
            milestone=hostile_number,
        )
    )
    return issue.number  # the issue the pull request fixes


@pytest.fixture
def linked_world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path / "world", edit=_add_links_and_hostile_milestone) as made:
        yield made


def test_a_commit_naming_pay_12_and_a_pr_fixing_an_issue_are_linked(
    linked_world: World, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    linked_world.sync(store)
    fixed = f"acme/payments-api#{linked_world.edited}"
    wl, wi, commit, pull = model.WorkItemLink, model.WorkItem, model.Commit, model.PullRequest
    with store.session(readonly=True) as s:
        by_commit = s.execute(
            select(wl.relation, wi.key)
            .join(wi, wi.id == wl.work_item_id)
            .join(commit, commit.id == wl.from_id)
            .where(wl.from_kind == "commit", commit.sha == "f" * 40)
        ).all()
        by_pull = s.execute(
            select(wl.relation, wi.key)
            .join(wi, wi.id == wl.work_item_id)
            .join(pull, pull.id == wl.from_id)
            .where(wl.from_kind == "pull_request", pull.title == "Ledger rounding")
        ).all()
    assert [tuple(r) for r in by_commit] == [("mentions", "PAY-12")]
    assert [tuple(r) for r in by_pull] == [("fixes", fixed)]


def test_milestones_only_in_the_tools_appear_with_their_dates_and_scope(
    world: World, make_store: Callable[..., Store]
) -> None:
    dropped = world.config.projects["PAY"].milestones[-1].name
    world.edit_project("PAY", lambda d: d["milestones"].pop())
    store = make_store()
    world.sync(store)
    row = milestone_rows(store, "PAY")[dropped]
    version = next(v for v in world.versions("PAY").values() if v["name"] == dropped)
    github = next(m for m in world.github_milestones("PAY").values() if m["title"] == dropped)
    assert row.origin == "tool"
    assert row.due_date == max(_day(version["release_date"]), _day(github["due_on"]))
    entry = expected_scope(world, "PAY")[dropped]
    assert row.scope_items == entry["jira"] + entry["github"]


def test_refreshing_twice_changes_nothing(shared: World, synced: Store) -> None:
    world, store = shared, synced
    # the store was synced (which refreshed the plan) and refreshed again, finding nothing
    first = refresh_plan(store, world.config, world.box.clock.now)
    assert not first.changed, first
    assert first.items_in_projects > 0 and first.milestones == 10

    def dump() -> dict[str, list[tuple[str, ...]]]:
        tables = (
            "project",
            "milestone",
            "deliverable",
            "milestone_item",
            "work_item_link",
            "work_item",
            "source_milestone",
            "plan_change",
            "risk",
            "cost_entry",
        )
        with store.session(readonly=True) as s:
            return {
                t: sorted(
                    tuple(map(str, r)) for r in s.execute(select(model.Base.metadata.tables[t]))
                )
                for t in tables
            }

    before = dump()
    again = refresh_plan(store, world.config, world.box.clock.now)
    assert not again.changed, again
    assert dump() == before


def test_plan_show_and_baselines_on_the_command_line(
    linked_world: World, make_store: Callable[..., Store], db_url: str
) -> None:
    store = make_store()

    def edit(data: dict[str, Any]) -> None:
        data["deliverables"][0]["children"][0]["name"] = "[red]Checkout[/red]"
        data["milestones"] = [m for m in data["milestones"] if m["name"] != HOSTILE]

    linked_world.edit_project("PAY", edit)  # the hostile milestone is left to the tools
    linked_world.sync(store)
    runner = CliRunner()
    env = {"PMSYNC_DATABASE_URL": db_url, "COLUMNS": "400"}
    base = ["--config", str(linked_world.config_dir)]

    shown = runner.invoke(app, [*base, "plan", "show", "--project", "PAY"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "[bold]Launch[/bold]" in shown.output  # a tool's title, printed literally
    assert "<script>alert(1)</script>" in shown.output
    assert "[red]Checkout[/red]" in shown.output
    assert "only in the tools" in shown.output

    as_json = runner.invoke(app, [*base, "plan", "show", "--project", "PAY", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    view = json.loads(as_json.stdout)
    hostile = next(m for m in view["milestones"] if m["name"] == HOSTILE)
    assert hostile["origin"] == "tool" and hostile["progress"]["items"] == 1
    assert view["deliverables"][1]["name"] == "[red]Checkout[/red]"
    assert Decimal(view["actual_cost"]) > 0

    made = runner.invoke(
        app, [*base, "baseline", "set", "--project", "PAY", "--note", "[i]go[/i]"], env=env
    )
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, [*base, "baseline", "show", "--project", "PAY", "--json"], env=env)
    payload = json.loads(listed.stdout)
    assert [(b["version"], b["note"]) for b in payload["baselines"]] == [(1, "[i]go[/i]")]
    assert payload["variance"]["baseline_version"] == 1
    table = runner.invoke(app, [*base, "baseline", "show"], env=env)
    assert table.exit_code == 0 and "[i]go[/i]" in table.output

    unknown = runner.invoke(app, [*base, "plan", "show", "--project", "NOPE"], env=env)
    assert unknown.exit_code == 2
    assert "no project 'NOPE'" in unknown.output
