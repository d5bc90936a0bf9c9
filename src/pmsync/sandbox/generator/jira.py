"""Render each project's flow of work as Jira: fix versions, epics, issues, worklogs.

Work items are laid on the team's working-day axis in the order the team will
finish them, one every ``1 / throughput`` days with a little jitter; each item
walks To Do → In Progress → (Blocked →) In Review → Done around its finish
position, and its assignee books worklogs on the days it is in progress. Items
whose steps fall after the clock carry them as future history, so advancing the
sandbox's clock moves them on. Keys and ids are given in creation order, as Jira
gives them.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pmsync.sandbox.generator import text
from pmsync.sandbox.generator.base import ItemPlan, ProjectPlan, raw
from pmsync.sandbox.scenario import JiraWorklog, Person

HOUR = 3600
POINTS = (1, 2, 3, 5, 8, 13)
POINT_WEIGHTS = (2, 4, 5, 4, 2, 1)
SPECIAL_TITLES = text.HOSTILE_TITLES + text.UNICODE_TITLES

History = list[tuple[datetime, str | None, dict[str, Any]]]


@dataclass(slots=True)
class Draft:
    """An issue under construction: its plan, fields at creation and timed changes."""

    plan: ItemPlan
    fields: dict[str, Any]
    history: History = field(default_factory=list)
    worklogs: list[JiraWorklog] = field(default_factory=list)
    epic: int | None = None
    deleted_at: datetime | None = None
    moved: tuple[datetime, str, str] | None = None
    """(when, new project key, new key)."""


@dataclass
class Ledger:
    """Labour cost booked per project: by the clock and by the end of the scenario."""

    by_clock: list[float]
    total: list[float]
    planned: list[float]


def _title(rng: random.Random, project: int, position: int) -> str:
    if project == 0 and position % 2 == 1 and position // 2 < len(SPECIAL_TITLES):
        return SPECIAL_TITLES[position // 2]
    if position == 3 or rng.random() < 0.002:
        return SPECIAL_TITLES[(project + position) % len(SPECIAL_TITLES)]
    return text.work_title(rng)


def draft_project(
    rng: random.Random,
    plan: ProjectPlan,
    people: dict[str, Person],
    clock: datetime,
    horizon: datetime,
    ledger: Ledger,
) -> tuple[list[Draft], list[Draft]]:
    """Return (epics, work items) of one project, keys and ids not yet given."""
    days, p = plan.workdays, plan.index
    epic_count = max(2, plan.items // 20)
    work = plan.items - epic_count
    bounds = [0.0] + [v.finish_offset for v in plan.versions]
    components = list(rng.sample(text.COMPONENTS, 4))
    factor = (1.5, 2.1) if plan.overspending else (0.7, 1.3)
    rates = plan.hourly_rates
    reporters = [plan.manager, plan.lead, plan.team[-1]]
    developers = plan.team[:-1]
    epics: list[Draft] = []
    for e in range(epic_count):
        summary = f"{rng.choice(text.EPIC_THEMES)} — {text.MILESTONE_THEMES[e % 6].lower()}"
        fields: dict[str, Any] = {
            "summary": summary,
            "issuetype": "Epic",
            "status": "To Do",
            "priority": "Medium",
            "assignee": plan.lead,
            "reporter": plan.manager,
            "labels": [],
            "components": [components[e % len(components)]],
            "fix_versions": [],
            "story_points": None,
            "original_estimate": None,
            "remaining_estimate": None,
            "due_date": None,
            "parent": None,
            "description": f"Epic {e + 1} of {plan.name}.",
            "resolution": None,
        }
        item = ItemPlan(p, "", "", "Epic", summary, 0, plan.lead, clock, None, None, None)
        epics.append(Draft(item, fields))

    items: list[Draft] = []
    for i in range(work):
        finish = (i + 0.5 + rng.gauss(0, 1.5)) / plan.throughput
        version = min(
            max(bisect.bisect_right(bounds, (i + 0.5) / plan.throughput) - 1, 0),
            len(plan.versions) - 1,
        )
        roll = rng.random()
        issuetype = "Story" if roll < 0.55 else "Task" if roll < 0.8 else "Bug"
        points = None
        if (issuetype == "Story" and rng.random() > 0.1) or (issuetype == "Task" and roll < 0.68):
            points = rng.choices(POINTS, POINT_WEIGHTS)[0]
        hours = points * 4 * rng.uniform(0.7, 1.3) if points else rng.uniform(2, 16)
        estimate = max(1, round(hours * 4)) * 900
        cycle = min(20.0, 0.4 + hours / 6 * rng.uniform(0.6, 1.6))
        start_at = max(0.05, finish - cycle)
        review_at = finish - (finish - start_at) * rng.uniform(0.15, 0.35)
        assignee = rng.choice(developers) if issuetype != "Bug" or roll < 0.9 else plan.team[-1]
        tz = people[assignee].time_zone
        started, reviewed, done = (days.at(x, tz) for x in (start_at, review_at, finish))
        reporter = rng.choice(reporters)
        wait = rng.expovariate(1 / 8)
        at = start_at - wait
        if rng.random() < 0.85:
            # Most of a release's scope is groomed before the release starts.
            at = min(at, bounds[version] - rng.uniform(0, 10))
        created = days.at(max(0.01 + rng.random() * 0.5, at), people[reporter].time_zone)
        if created >= horizon:
            created = days.at(rng.uniform(0.01, plan.clock_offset + 20), people[reporter].time_zone)
        created = min(created, started - timedelta(hours=1))
        title = _title(rng, p, i)
        epic = None if rng.random() < 0.1 else min(int(i * epic_count / work), epic_count - 1)
        version_plan = plan.versions[version]
        fields = {
            "summary": title,
            "issuetype": issuetype,
            "status": "To Do",
            "priority": rng.choice(text.PRIORITIES),
            "assignee": assignee if rng.random() < 0.6 else None,
            "reporter": reporter,
            "labels": rng.sample(text.LABELS, rng.choice((0, 1, 1, 2))),
            "components": [epics[epic].fields["components"][0]] if epic is not None else [],
            "fix_versions": [version_plan.jira_id],
            "story_points": points,
            "original_estimate": estimate,
            "remaining_estimate": estimate,
            "due_date": version_plan.due.isoformat() if rng.random() < 0.3 else None,
            "parent": None,
            "description": "Acceptance criteria agreed in refinement.",
            "resolution": None,
        }
        history: History = []
        item = ItemPlan(p, "", "", issuetype, title, version, assignee, created, None, None, None)
        draft = Draft(item, fields, history, epic=epic)
        items.append(draft)
        if issuetype == "Bug" and rng.random() < 0.03:
            closed = created + timedelta(days=rng.uniform(1, 6))
            if closed < horizon:
                history.append((closed, reporter, {"status": "Done", "resolution": "Won't Do"}))
            continue
        if started >= horizon:
            continue
        item.started = started
        if fields["assignee"] is None:
            history.append(
                (max(created, started - timedelta(hours=3)), plan.lead, {"assignee": assignee})
            )
        history.append((started, assignee, {"status": "In Progress"}))
        worker = assignee
        if rng.random() < 0.1 and reviewed < horizon:
            blocked = started + (reviewed - started) * 0.3
            history.append((blocked, worker, {"status": "Blocked"}))
            history.append(
                (started + (reviewed - started) * 0.7, worker, {"status": "In Progress"})
            )
        handover = None
        if rng.random() < 0.08:
            handover = started + (reviewed - started) * 0.5
            worker = rng.choice(developers)
            history.append((handover, plan.lead, {"assignee": worker}))
        # Worklogs on the days the item was in progress, each lowering the remaining estimate.
        booked = hours * rng.uniform(*factor)
        sessions = max(1, min(6, round(booked / 4)))
        remaining = estimate
        span = max(review_at - start_at, 0.05)
        for s in range(sessions):
            author = assignee
            at = start_at + span * (s + 0.2) / sessions
            when = days.at(at, tz)
            if handover is not None and when >= handover:
                author = worker
            seconds = max(900, round(booked / sessions * 4) * 900)
            logged = when + timedelta(seconds=seconds + rng.randint(0, 2 * HOUR))
            logged = min(logged, done - timedelta(minutes=5))
            if logged >= horizon or logged <= when:
                break
            draft.worklogs.append(
                raw(
                    JiraWorklog,
                    {
                        "created": logged,
                        "history": [],
                        "deleted_at": None,
                        "id": "",
                        "author": author,
                        "started": when,
                        "seconds": seconds,
                        "comment": rng.choice(text.WORKLOG_COMMENTS),
                    },
                )
            )
            cost = seconds / HOUR * rates.get(people[author].role, rates["developer"])
            ledger.total[p] += cost
            if when <= clock:
                ledger.by_clock[p] += cost
            remaining = max(0, remaining - seconds)
            history.append((logged, author, {"remaining_estimate": remaining}))
        ledger.planned[p] += estimate / HOUR * rates["developer"]
        if reviewed >= horizon:
            continue
        item.reviewed = reviewed
        history.append((reviewed, worker, {"status": "In Review"}))
        if done >= horizon:
            continue
        item.done = done
        history.append(
            (done, worker, {"status": "Done", "resolution": "Done", "remaining_estimate": 0})
        )
        if issuetype == "Bug" and rng.random() < 0.05 and done + timedelta(days=3) < horizon:
            history.append(
                (done + timedelta(days=1), reporter, {"status": "In Progress", "resolution": None})
            )
            history.append(
                (done + timedelta(days=3), worker, {"status": "Done", "resolution": "Done"})
            )
    _epic_lifecycles(epics, items, plan, horizon)
    return epics, items


def _epic_lifecycles(
    epics: list[Draft], items: list[Draft], plan: ProjectPlan, horizon: datetime
) -> None:
    """Create each epic before its first child, start it with it, close it with the last."""
    children: list[list[Draft]] = [[] for _ in epics]
    for item in items:
        if item.epic is not None:
            children[item.epic].append(item)
    start = plan.workdays.at(0.0, "UTC")
    for epic, kids in zip(epics, children, strict=True):
        if not kids:
            epic.plan.created = start
            continue
        epic.plan.created = min(k.plan.created for k in kids) - timedelta(hours=1)
        starts = [k.plan.started for k in kids if k.plan.started]
        if starts:
            epic.history.append((min(starts), plan.lead, {"status": "In Progress"}))
        dones = [k.plan.done for k in kids]
        if all(dones):
            last = max(d for d in dones if d) + timedelta(hours=2)
            if last < horizon:
                epic.history.append((last, plan.lead, {"status": "Done", "resolution": "Done"}))
