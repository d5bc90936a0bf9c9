"""The scenario generator: reproducible, valid, and telling the story it promises."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pmsync.sandbox.generator import BULK_LABEL, generate, main_generate
from pmsync.sandbox.scenario import JiraIssue, Scenario, dump_scenario, load_scenario

SIZE: dict[str, Any] = {"projects": 3, "items": 600}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """A small generated scenario, validated by a round trip through JSON."""
    made = generate(seed=11, **SIZE)
    data = json.loads(json.dumps(made.model_dump(mode="json"), ensure_ascii=False))
    return Scenario.model_validate(data)


def _dump(scenario: Scenario, path: Path) -> bytes:
    dump_scenario(scenario, path)
    return path.read_bytes()


def _at_clock(issue: JiraIssue, now: datetime) -> dict[str, Any]:
    return issue.state_at({**issue.fields, "key": issue.key, "project": issue.project}, now)


def test_same_seed_gives_a_byte_identical_file(tmp_path: Path) -> None:
    first = _dump(generate(seed=5, **SIZE), tmp_path / "a.json")
    second = _dump(generate(seed=5, **SIZE), tmp_path / "b.json")
    assert first == second
    small: dict[str, Any] = {"projects": 2, "items": 120}
    assert _dump(generate(seed=5, **small), tmp_path / "a.yaml") == _dump(
        generate(seed=5, **small), tmp_path / "b.yaml"
    )


def test_different_seed_gives_a_different_world(tmp_path: Path) -> None:
    assert _dump(generate(seed=5, **SIZE), tmp_path / "a.json") != _dump(
        generate(seed=6, **SIZE), tmp_path / "b.json"
    )


def test_dump_load_dump_round_trips_through_validation(tmp_path: Path) -> None:
    text = _dump(generate(seed=3, **SIZE), tmp_path / "a.json")
    loaded = load_scenario(tmp_path / "a.json")
    assert _dump(loaded, tmp_path / "b.json") == text


def test_sizes_follow_the_arguments(scenario: Scenario) -> None:
    threads = [i for r in scenario.github.repositories for i in r.issues]
    commits = [c for r in scenario.github.repositories for c in r.commits]
    events = [e for c in scenario.calendar.calendars for e in c.events]
    assert len(scenario.jira.issues) == 600
    assert len(threads) == 600
    assert len(commits) == pytest.approx(1200, rel=0.05)
    assert len(events) >= 120
    custom = generate(seed=1, projects=2, items=100, github_items=10, commits=50, events=40)
    assert sum(len(r.issues) for r in custom.github.repositories) == 10


def test_people_span_time_zones_and_tool_logins(scenario: Scenario) -> None:
    offsets = {ZoneInfo(p.time_zone).utcoffset(scenario.clock) for p in scenario.people}
    assert timedelta(hours=-8) in offsets
    assert timedelta(hours=5, minutes=30) in offsets
    assert len(scenario.people) >= 12
    assert any(p.jira_email and p.jira_email != p.email for p in scenario.people)
    assert any(p.github_login is None for p in scenario.people)
    assert any(p.github_login and p.id.split(".")[0] not in p.github_login for p in scenario.people)
    roles = Counter(p.role for p in scenario.people)
    assert (
        roles["pm"] == len(scenario.projects)
        and roles["sponsor"] >= 1
        and roles["developer"] >= 3 * len(scenario.projects)
    )


def _throughput_verdicts(scenario: Scenario) -> list[tuple[str, str, bool]]:
    """(project, version, slipping) for each open version, by a plain throughput forecast."""
    now = scenario.clock
    verdicts = []
    for project in scenario.jira.projects:
        states = [
            _at_clock(i, now)
            for i in scenario.jira.issues
            if i.visible_at(now) and _at_clock(i, now)["project"] == project.key
        ]
        finished = 0
        for issue in scenario.jira.issues:
            for change in issue.applied(now):
                recent = change.at > now - timedelta(days=28)
                if recent and change.set.get("status") == "Done" and issue.project == project.key:
                    finished += 1
        per_day = finished / 28
        for version in project.versions:
            if version.release_date is None or version.release_date <= now.date():
                continue
            remaining = sum(
                1
                for s in states
                if version.id in s["fix_versions"]
                and s["status"] != "Done"
                and s["issuetype"] != "Epic"
            )
            if remaining == 0:
                continue
            days_left = (version.release_date - now.date()).days
            verdicts.append((project.key, version.name, remaining > per_day * days_left))
    return verdicts


def test_one_milestone_slips_and_one_is_on_time(scenario: Scenario) -> None:
    verdicts = _throughput_verdicts(scenario)
    assert any(slipping for _, _, slipping in verdicts)
    assert any(not slipping for _, _, slipping in verdicts)


def test_one_project_has_booked_more_than_its_budget(scenario: Scenario) -> None:
    now = scenario.clock
    people = scenario.people_by_id()
    spent: defaultdict[str, float] = defaultdict(float)
    for issue in scenario.jira.issues:
        for worklog in issue.worklogs:
            if worklog.visible_at(now) and worklog.started <= now:
                rates = next(p for p in scenario.projects if p.key == issue.project).hourly_rates
                spent[issue.project] += worklog.seconds / 3600 * rates[people[worklog.author].role]
    over = [p.key for p in scenario.projects if spent[p.key] > p.budget]
    assert len(over) == 1
    assert all(p.budget > 0 for p in scenario.projects)


def test_titles_carry_hostile_and_unicode_text(scenario: Scenario) -> None:
    titles = [i.fields["summary"] for i in scenario.jira.issues]
    titles += [i.title for r in scenario.github.repositories for i in r.issues]
    text = "\n".join(titles)
    for needle in ("<script>alert(1)</script>", '"; DROP TABLE', "@channel", "*bold* <!here>"):
        assert needle in text
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text)
    assert re.search(r"[\U0001F300-\U0001FAFF]", text)
    assert "é" in text and "ü" in text


def test_an_issue_moves_to_another_project_with_a_new_key(scenario: Scenario) -> None:
    moves = [
        (issue, change)
        for issue in scenario.jira.issues
        for change in issue.history
        if "key" in change.set
    ]
    assert moves
    initial_keys = {i.key for i in scenario.jira.issues}
    for issue, change in moves:
        assert change.at > scenario.clock
        assert change.set["project"] != issue.project
        assert change.set["key"].startswith(change.set["project"] + "-")
        assert change.set["key"] not in initial_keys


def test_issues_are_deleted_before_and_after_the_clock(scenario: Scenario) -> None:
    deleted = [i.deleted_at for i in scenario.jira.issues if i.deleted_at]
    assert any(d <= scenario.clock for d in deleted)
    assert any(d > scenario.clock for d in deleted)


def test_a_bulk_edit_gives_150_issues_one_updated_time(scenario: Scenario) -> None:
    stamps = Counter(
        c.at
        for i in scenario.jira.issues
        for c in i.history
        if BULK_LABEL in c.set.get("labels", [])
    )
    ((moment, count),) = stamps.most_common(1)
    assert count >= 150
    same = [
        i for i in scenario.jira.issues if i.visible_at(moment) and i.updated_at(moment) == moment
    ]
    assert len(same) >= 150


def test_updates_land_within_one_minute_and_in_its_last_second(scenario: Scenario) -> None:
    times = {c.at for i in scenario.jira.issues for c in i.history}
    last_second = [t for t in times if t.second == 59 and t.microsecond == 999000]
    assert last_second
    per_minute = Counter(t.replace(second=0, microsecond=0) for t in times)
    assert any(per_minute[t.replace(second=0, microsecond=0)] >= 3 for t in last_second)


def test_the_future_keeps_moving_for_at_least_30_days(scenario: Scenario) -> None:
    now, month = scenario.clock, scenario.clock + timedelta(days=30)
    changes = [c for i in scenario.jira.issues for c in i.history if c.at > now]
    assert any(c.set.get("status") == "Done" and c.at > month for c in changes)
    assert any(c.set.get("status") == "In Progress" for c in changes)
    assert any("fix_versions" in c.set and c.set["fix_versions"] for c in changes)
    assert any(w.created > now for i in scenario.jira.issues for w in i.worklogs)
    repos = scenario.github.repositories
    assert any(c.committed_at > month for r in repos for c in r.commits)
    assert any(
        c.at > now and c.set.get("merged") for r in repos for i in r.issues for c in i.history
    )
    pushed = [
        c
        for p in scenario.jira.projects
        for v in p.versions
        for c in v.history
        if "release_date" in c.set and c.at > now
    ]
    assert pushed
    assert any("due_on" in c.set for r in repos for m in r.milestones for c in m.history)
    events = [e for c in scenario.calendar.calendars for e in c.events]
    assert any(e.created > now for e in events)
    assert any(c.at > now and c.set.get("status") == "cancelled" for e in events for c in e.history)
    assert any(c.at > now and "start" in c.set for e in events for c in e.history)


def test_recurring_meetings_have_a_moved_and_a_cancelled_instance(scenario: Scenario) -> None:
    project_calendars = {p.calendars[0] for p in scenario.projects}
    for calendar in (c for c in scenario.calendar.calendars if c.id in project_calendars):
        series = {e.id: e for e in calendar.events if e.recurrence}
        exceptions = [e for e in calendar.events if e.recurring_event_id in series]
        assert any(e.status == "cancelled" for e in exceptions)
        assert any(e.status == "confirmed" and e.start != e.original_start for e in exceptions)
    leave = [e for c in scenario.calendar.calendars for e in c.events if e.start_date]
    assert any(e.summary.startswith("Annual leave") for e in leave)


def test_github_milestones_mirror_fix_versions(scenario: Scenario) -> None:
    for project, repo_name in ((p, p.github_repositories[0]) for p in scenario.projects):
        jira = next(j for j in scenario.jira.projects if j.key == project.jira_project)
        repo = next(r for r in scenario.github.repositories if r.full_name == repo_name)
        assert {(v.name, v.release_date) for v in jira.versions} == {
            (m.title, m.due_on.date() if m.due_on else None) for m in repo.milestones
        }
        pulls = [i for i in repo.issues if i.pull_request]
        assert all(re.search(rf"\b{project.key}-\d+\b", p.pull_request.head) for p in pulls)  # type: ignore[union-attr]
        assert any("fixes #" in p.body for p in pulls)
        assert any(re.search(rf"\b{project.key}-\d+\b", c.message) for c in repo.commits)


def test_identifiers_are_unique_where_the_apis_require(scenario: Scenario) -> None:
    issues = scenario.jira.issues
    keys = [i.key for i in issues] + [
        c.set["key"] for i in issues for c in i.history if "key" in c.set
    ]
    assert len(keys) == len(set(keys))
    assert len({i.id for i in issues}) == len(issues)
    worklogs = [w.id for i in issues for w in i.worklogs]
    assert len(set(worklogs)) == len(worklogs)
    github_ids: list[int] = []
    for repo in scenario.github.repositories:
        numbers = [i.number for i in repo.issues] + [m.number for m in repo.milestones]
        assert len({i.number for i in repo.issues}) == len(repo.issues)
        assert len(numbers) > 0
        github_ids += [repo.id] + [i.id for i in repo.issues] + [m.id for m in repo.milestones]
        shas = [c.sha for c in repo.commits]
        assert len(set(shas)) == len(shas)
        known = set(shas)
        assert all(p in known for c in repo.commits for p in c.parents)
    assert len(set(github_ids)) == len(github_ids)
    for calendar in scenario.calendar.calendars:
        ids = [e.id for e in calendar.events]
        assert len(set(ids)) == len(ids)


def test_every_referenced_person_exists(scenario: Scenario) -> None:
    people = scenario.people_by_id()
    refs: list[str | None] = []
    for project in scenario.projects:
        refs += [project.manager, project.sponsor]
    for jira_project in scenario.jira.projects:
        refs.append(jira_project.lead)
    for issue in scenario.jira.issues:
        refs += [issue.fields["assignee"], issue.fields["reporter"]]
        refs += [c.author for c in issue.history] + [c.set.get("assignee") for c in issue.history]
        refs += [w.author for w in issue.worklogs]
    github_refs: list[str | None] = []
    for repo in scenario.github.repositories:
        for thread in repo.issues:
            github_refs += [thread.author, *thread.assignees]
        github_refs += [c.author for c in repo.commits]
    for calendar in scenario.calendar.calendars:
        refs.append(calendar.owner)
        for event in calendar.events:
            refs += [event.organizer, *event.attendees]
    assert {r for r in refs + github_refs if r is not None} <= set(people)
    assert all(people[r].github_login for r in github_refs if r is not None)


def test_main_generate_writes_the_file_and_counts_it(tmp_path: Path) -> None:
    out = tmp_path / "world.json"
    summary = main_generate(2, 100, 9, out)
    loaded = load_scenario(out)
    assert summary["jira_issues"] == len(loaded.jira.issues) == 100
    assert summary["github_commits"] == sum(len(r.commits) for r in loaded.github.repositories)
    assert summary["bytes"] == out.stat().st_size


@pytest.mark.parametrize(
    ("projects", "items", "message"),
    [(0, 100, "at least one project"), (3, 20, "too few")],
)
def test_impossible_sizes_are_refused(projects: int, items: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(projects=projects, items=items, seed=1)
