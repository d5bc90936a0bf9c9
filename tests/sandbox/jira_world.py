"""A small hand-built Jira world for the sandbox's Jira tests, every instant explicit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pmsync.sandbox.scenario import (
    Change,
    JiraIssue,
    JiraProject,
    JiraVersion,
    JiraWorklog,
    JiraWorld,
    Person,
    Scenario,
)

CLOCK = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SHARED_UPDATE = datetime(2026, 1, 6, 9, 30, 15, tzinfo=UTC)
"""The one ``updated`` value the 150 BULK issues share."""


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """Return an instant in January 2026 (UTC)."""
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def build_world() -> Scenario:
    """Return the scenario the Jira tests run against."""
    people = [
        Person(
            id="alice", name="Alice Ng", email="alice@example.com", time_zone="America/Los_Angeles"
        ),
        Person(id="bob", name="Bob Rao", email="bob@example.com", time_zone="Asia/Kolkata"),
    ]
    alpha = JiraProject(
        id="10000",
        key="ALPHA",
        name="Alpha launch",
        lead="alice",
        components=["api"],
        versions=[
            JiraVersion(
                id="20001",
                name="1.0",
                created=at(1),
                release_date=date(2026, 1, 8),
                history=[Change(at=at(8, 17), set={"released": True})],
            ),
            JiraVersion(id="20002", name="2.0", created=at(1), release_date=date(2026, 2, 1)),
            JiraVersion(id="20003", name="0.9", created=at(1), archived=True, released=True),
        ],
    )
    bulk = JiraProject(id="10001", key="BULK", name="Bulk work", lead="bob")
    issues: list[JiraIssue] = []

    def issue(number: int, project: str, created: datetime, **fields: object) -> JiraIssue:
        base = {
            "summary": f"{project} item {number}",
            "issuetype": "Story",
            "status": "To Do",
            "priority": "Medium",
            "reporter": "alice",
            "labels": [],
        }
        base.update(fields)
        made = JiraIssue(
            id=str(30000 + len(issues)),
            key=f"{project}-{number}",
            project=project,
            created=created,
            fields=base,
        )
        issues.append(made)
        return made

    # ALPHA-1: a long history (60 changes) and 25 worklogs, to see truncation
    busy = issue(
        1,
        "ALPHA",
        at(1, 8),
        assignee="alice",
        story_points=5,
        original_estimate=36000,
        fix_versions=["20001"],
        labels=["backend"],
    )
    busy.history = [
        Change(
            at=at(2) + timedelta(minutes=10 * i),
            author="alice",
            set={"status": "In Progress" if i % 2 == 0 else "In Review"},
        )
        for i in range(59)
    ] + [Change(at=at(3, 12), author="bob", set={"status": "Done", "story_points": 8})]
    busy.worklogs = [
        JiraWorklog(
            id=str(40000 + i),
            author="alice",
            created=at(2, 9) + timedelta(hours=i),
            started=at(2, 8) + timedelta(hours=i),
            seconds=1800,
            comment=f"work {i}",
        )
        for i in range(25)
    ]
    # time-zone boundary issues: updated at 10:00 in LA (18:00Z) and 10:00 in Kolkata (04:30Z)
    la = issue(2, "ALPHA", at(1, 9), labels=["tz"])
    la.history = [Change(at=at(5, 18, 0, 30), author="alice", set={"summary": "LA ten"})]
    kol = issue(3, "ALPHA", at(1, 9), labels=["tz"])
    kol.history = [Change(at=at(5, 4, 30, 30), author="bob", set={"summary": "Kolkata ten"})]
    # ALPHA-4 moves to BULK-900 on the 8th (new key, same id)
    moved = issue(4, "ALPHA", at(1, 10), fix_versions=["20002"])
    moved.history = [Change(at=at(8), author="alice", set={"key": "BULK-900", "project": "BULK"})]
    # ALPHA-5 is created in the future, ALPHA-6 is deleted in the future
    issue(5, "ALPHA", at(11, 9), summary="from the future")
    doomed = issue(6, "ALPHA", at(1, 11), fix_versions=["20001"])
    doomed.deleted_at = at(11, 10)
    doomed.worklogs = [
        JiraWorklog(id="41000", author="bob", created=at(2), started=at(2), seconds=3600)
    ]
    # ALPHA-7: a worklog changed on the 9th and another deleted on the 9th
    edited = issue(7, "ALPHA", at(1, 12))
    edited.worklogs = [
        JiraWorklog(
            id="42000",
            author="bob",
            created=at(3),
            started=at(3),
            seconds=600,
            history=[Change(at=at(9, 8), author="bob", set={"seconds": 1200})],
        ),
        JiraWorklog(
            id="42001", author="bob", created=at(3), started=at(3), seconds=600, deleted_at=at(9, 9)
        ),
    ]
    for number in range(1, 151):
        bulk_issue = issue(number, "BULK", at(1, 6), status="In Progress")
        bulk_issue.history = [Change(at=SHARED_UPDATE, author="bob", set={"priority": "High"})]
    return Scenario(
        name="jira-tests",
        clock=CLOCK,
        people=people,
        jira=JiraWorld(projects=[alpha, bulk], issues=issues),
    )
