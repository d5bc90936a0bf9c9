"""Finish the Jira side: the future's edits, keys and ids, releases, then the models.

The edits here are the ones incremental sync must survive: deletions, issues
moved to another project (new key, same id), descoping into the next release,
a pushed due date, several updates inside one minute and in its last second, and
a bulk edit that gives well over a page of issues the same ``updated`` time.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from pmsync.sandbox.generator.base import Counters, ItemPlan, ProjectPlan, build, change
from pmsync.sandbox.generator.jira import Draft
from pmsync.sandbox.scenario import Change, JiraIssue, JiraProject, JiraVersion, JiraWorld

BULK_LABEL = "q2-replan"
BULK_MINIMUM = 150


def _alive(draft: Draft, at: datetime) -> bool:
    return draft.plan.created < at and (draft.deleted_at is None or draft.deleted_at > at)


def plan_future_edits(
    rng: random.Random,
    plans: list[ProjectPlan],
    drafts: list[tuple[list[Draft], list[Draft]]],
    clock: datetime,
) -> None:
    """Choose deletions, cross-project moves and descoping; record them on the drafts."""
    for plan, (_, items) in zip(plans, drafts, strict=True):
        pool = items[45:] if len(items) > 60 else items[len(items) // 2 :]
        chosen = rng.sample(pool, min(len(pool), max(3, len(items) // 300)))
        old = [d for d in chosen if d.plan.created < clock - timedelta(days=12)]
        for draft in chosen:
            if old and draft is old[0]:
                draft.deleted_at = draft.plan.created + timedelta(days=rng.uniform(1, 10))
            else:
                start = max(clock, draft.plan.created)
                draft.deleted_at = start + timedelta(days=rng.uniform(1, 40))
            draft.plan.deleted_at = draft.deleted_at
        if len(plans) > 1:
            backlog = [
                d
                for d in items
                if d.plan.started is None and d.plan.created < clock and d.deleted_at is None
            ]
            target = plans[(plan.index + 1) % len(plans)]
            for draft in rng.sample(backlog, min(len(backlog), 1 + len(items) // 2000)):
                draft.moved = (clock + timedelta(days=rng.uniform(3, 20)), target.key, "")
        _descope(rng, plan, items, clock)


def _descope(rng: random.Random, plan: ProjectPlan, items: list[Draft], clock: datetime) -> None:
    """Move unstarted work of the current release into the next one."""
    current = plan.current_version
    if current + 1 >= len(plan.versions):
        return
    pushed = plan.versions[current].pushed
    when = pushed[0] if pushed else clock + timedelta(days=10, hours=3)
    candidates = [
        d
        for d in items
        if d.plan.version == current
        and (d.plan.started is None or d.plan.started > when)
        and d.deleted_at is None
        and d.moved is None
        and d.plan.issuetype != "Epic"
    ]
    count = max(1, len(candidates) // 4) if plan.slipping else min(3, len(candidates))
    following = plan.versions[current + 1]
    for draft in rng.sample(candidates, min(count, len(candidates))):
        draft.history.append((when, plan.manager, {"fix_versions": [following.jira_id]}))
        draft.plan.moved_version = (when, current + 1)


def number_issues(
    plans: list[ProjectPlan], drafts: list[tuple[list[Draft], list[Draft]]], counters: Counters
) -> None:
    """Give keys per project and ids globally, both in creation order, as Jira does."""
    entries: list[list[tuple[datetime, int, int, Draft]]] = [[] for _ in plans]
    every: list[Draft] = []
    seq = 0
    for plan, (epics, items) in zip(plans, drafts, strict=True):
        for draft in epics + items:
            seq += 1
            entries[plan.index].append((draft.plan.created, 0, seq, draft))
            every.append(draft)
            if draft.moved:
                target = next(p for p in plans if p.key == draft.moved[1])
                entries[target.index].append((draft.moved[0], 1, seq, draft))
    for plan, rows in zip(plans, entries, strict=True):
        rows.sort(key=lambda row: (row[0], row[2]))
        for number, (at, moved_in, _, draft) in enumerate(rows, start=1):
            key = f"{plan.key}-{number}"
            if not moved_in:
                draft.plan.key = key
                continue
            assert draft.moved is not None
            draft.moved = (at, plan.key, key)
            source = plans[draft.plan.project]
            draft.history.append(
                (
                    at,
                    source.manager,
                    {
                        "key": key,
                        "project": plan.key,
                        "fix_versions": [],
                        "parent": None,
                        "components": [],
                    },
                )
            )
    for draft in sorted(every, key=lambda d: d.plan.created):
        counters.jira_issue += 1
        draft.plan.id = str(counters.jira_issue)
    for draft in every:
        for worklog in draft.worklogs:
            counters.jira_worklog += 1
            worklog.id = str(counters.jira_worklog)
    for epics, items in drafts:
        for draft in items:
            if draft.epic is not None:
                draft.fields["parent"] = epics[draft.epic].plan.key


def edge_case_edits(
    rng: random.Random,
    plans: list[ProjectPlan],
    drafts: list[tuple[list[Draft], list[Draft]]],
    clock: datetime,
) -> datetime:
    """Add same-minute and last-second updates and a bulk edit; return the bulk edit time."""
    every = [d for epics, items in drafts for d in epics + items]
    minute = (clock + timedelta(days=1)).replace(hour=14, minute=37, second=0, microsecond=0)
    before = clock.replace(second=0, microsecond=0) - timedelta(seconds=1)
    moments = [
        minute,
        minute + timedelta(seconds=30),
        minute + timedelta(seconds=59, microseconds=999000),
        before.replace(microsecond=999000),
    ]
    for at in moments:
        alive = [d for d in every if _alive(d, at)]
        for draft in rng.sample(alive, min(3, len(alive))):
            draft.history.append((at, plans[draft.plan.project].manager, {"priority": "High"}))
    bulk_at = (clock + timedelta(days=2)).replace(hour=16, minute=0, second=0, microsecond=0)
    alive = [d for d in every if _alive(d, bulk_at)]
    size = min(len(alive), max(BULK_MINIMUM, len(alive) // 20))
    for draft in rng.sample(alive, size):
        labels = [*draft.fields["labels"], BULK_LABEL]
        draft.history.append((bulk_at, plans[0].manager, {"labels": labels}))
    # One worklog deleted and one corrected after the clock, per project.
    for _, items in drafts:
        future = [w for d in items for w in d.worklogs if w.created > clock]
        if len(future) >= 2:
            deleted, corrected = rng.sample(future, 2)
            deleted.deleted_at = deleted.created + timedelta(hours=20)
            corrected.history = [
                build(
                    Change,
                    at=corrected.created + timedelta(hours=4),
                    author=corrected.author,
                    set={"seconds": corrected.seconds + 1800},
                )
            ]
    return bulk_at


def _versions(plan: ProjectPlan, items: list[Draft], horizon: datetime) -> list[JiraVersion]:
    """Build fix versions, released when their last item is done, as the PM would."""
    members: list[list[ItemPlan]] = [[] for _ in plan.versions]
    for draft in items:
        gone = draft.deleted_at is not None and draft.deleted_at < horizon
        if draft.moved is None and not gone:
            moved = draft.plan.moved_version
            members[moved[1] if moved else draft.plan.version].append(draft.plan)
    created = datetime.combine(plan.start - timedelta(days=3), time(10), UTC)
    out = []
    for version, team_items in zip(plan.versions, members, strict=True):
        history: list[Change] = []
        dones = [p.done for p in team_items]
        if all(dones):
            finished = max((d for d in dones if d), default=None)
            day = finished.date() + timedelta(days=1) if finished else version.due
            released = datetime.combine(day, time(15), UTC)
            if released < horizon:
                version.released_at = released
                values: dict[str, object] = {"released": True}
                if day > version.due:
                    values["release_date"] = day.isoformat()
                history.append(change(released, plan.manager, values))
                archived = released + timedelta(days=21)
                if plan.index == 0 and version.index == 0 and archived < horizon:
                    version.archived_at = archived
                    history.append(change(archived, plan.manager, {"archived": True}))
        if version.pushed:
            at, due = version.pushed
            history.append(change(at, plan.manager, {"release_date": due.isoformat()}))
        history.sort(key=lambda c: c.at)
        out.append(
            build(
                JiraVersion,
                created=created,
                history=history,
                deleted_at=None,
                id=version.jira_id,
                name=version.name,
                description=f"{plan.name}: release {version.index + 1}",
                start_date=version.starts,
                release_date=version.due,
                released=False,
                archived=False,
            )
        )
    return out


def build_world(
    plans: list[ProjectPlan],
    drafts: list[tuple[list[Draft], list[Draft]]],
    horizon: datetime,
) -> JiraWorld:
    """Turn the drafts into the scenario's Jira models (unvalidated, for speed)."""
    projects, issues = [], []
    for plan, (epics, items) in zip(plans, drafts, strict=True):
        projects.append(
            build(
                JiraProject,
                id=str(10000 + plan.index),
                key=plan.key,
                name=plan.name,
                lead=plan.lead,
                versions=_versions(plan, items, horizon),
                components=sorted({c for d in epics for c in d.fields["components"]}),
            )
        )
        for draft in epics + items:
            draft.history.sort(key=lambda change: change[0])
            issues.append(
                build(
                    JiraIssue,
                    created=draft.plan.created,
                    history=[change(at, author, values) for at, author, values in draft.history],
                    deleted_at=draft.deleted_at,
                    id=draft.plan.id,
                    key=draft.plan.key,
                    project=plan.key,
                    fields=draft.fields,
                    worklogs=draft.worklogs,
                )
            )
    issues.sort(key=lambda issue: int(issue.id))
    return build(JiraWorld, projects=projects, issues=issues)
