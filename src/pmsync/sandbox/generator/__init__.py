"""Generate realistic sandbox scenarios from a seed and a size.

``pmsync sandbox generate`` calls ``main_generate``; tests, the demo and the
benchmarks call ``generate``. The same arguments always give the same scenario
(only ``random.Random(seed)`` is used, never the wall clock), and the story is
built to be checked: one project's current milestone is comfortably on time,
another's cannot be finished by its due date at the team's pace, a third has
booked more hours than its budget pays for. Models are built with
``model_construct`` (no validation) so 100,000 issues take seconds; the tests
validate the output at small sizes.
"""

from __future__ import annotations

import gc
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pmsync.sandbox.generator.base import DEFAULT_CLOCK, FUTURE_DAYS, Counters, build, holidays
from pmsync.sandbox.generator.calendar import build_calendars, leave_calendar_id
from pmsync.sandbox.generator.github import build_repository
from pmsync.sandbox.generator.jira import Ledger, draft_project
from pmsync.sandbox.generator.jira_world import (
    BULK_LABEL,
    build_world,
    edge_case_edits,
    number_issues,
    plan_future_edits,
)
from pmsync.sandbox.generator.plan import plan_projects
from pmsync.sandbox.scenario import (
    FORMAT_VERSION,
    CalendarWorld,
    GitHubWorld,
    Scenario,
    ScenarioProject,
    dump_scenario,
)

__all__ = ["BULK_LABEL", "DEFAULT_CLOCK", "FUTURE_DAYS", "generate", "main_generate", "summarize"]


def _proportional(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder)."""
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: -(total * weights[i] % whole))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _budget(spent_by_clock: float, spent_total: float, planned: float, overspending: bool) -> float:
    if overspending:
        # Approved before the team's real burn rate was known: already exceeded.
        return float(max(10, int(spent_by_clock * 0.85) // 1000 * 1000))
    return float(-(-max(planned * 1.35, spent_total * 1.25) // 1000) * 1000)


def generate(
    *,
    projects: int,
    items: int,
    seed: int,
    clock: datetime | None = None,
    github_items: int | None = None,
    commits: int | None = None,
    events: int | None = None,
) -> Scenario:
    """Return a realistic scenario of ``items`` Jira issues over ``projects`` projects."""
    # Millions of small acyclic objects: the cyclic collector would rescan them
    # over and over for nothing, doubling the run time at 100,000 items.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(projects, items, seed, clock, github_items, commits, events)
    finally:
        if collecting:
            gc.enable()


def _generate(
    projects: int,
    items: int,
    seed: int,
    clock: datetime | None,
    github_items: int | None,
    commits: int | None,
    events: int | None,
) -> Scenario:
    if projects < 1:
        raise ValueError("a scenario needs at least one project")
    if items < 10 * projects:
        raise ValueError(f"{items} items is too few for {projects} projects (10 per project)")
    if clock is not None and clock.tzinfo is None:
        raise ValueError("clock must be timezone-aware")
    rng = random.Random(seed)
    now = (clock or DEFAULT_CLOCK).astimezone(UTC)
    horizon = now + timedelta(days=FUTURE_DAYS)
    holiday_list = holidays(range(now.year - 1, now.year + 2))
    closed = frozenset(day for day, _, company in holiday_list if company)
    counters = Counters()
    people, plans = plan_projects(rng, projects, items, now, closed, counters)
    by_id = {person.id: person for person in people}
    ledger = Ledger([0.0] * projects, [0.0] * projects, [0.0] * projects)
    drafts = [draft_project(rng, plan, by_id, now, horizon, ledger) for plan in plans]
    plan_future_edits(rng, plans, drafts, now)
    number_issues(plans, drafts, counters)
    edge_case_edits(rng, plans, drafts, now)
    jira = build_world(plans, drafts, horizon)

    weights = [plan.items for plan in plans]
    threads = _proportional(items if github_items is None else github_items, weights)
    shas = _proportional(2 * items if commits is None else commits, weights)
    repositories = [
        build_repository(
            rng,
            plan,
            [draft.plan for draft in work],
            threads[plan.index],
            shas[plan.index],
            by_id,
            horizon,
            counters,
        )
        for plan, (_, work) in zip(plans, drafts, strict=True)
    ]
    target_events = items // 5 if events is None else events
    calendars = build_calendars(rng, plans, by_id, now, horizon, holiday_list, target_events)
    leave = leave_calendar_id(calendars)
    portfolio = [
        build(
            ScenarioProject,
            key=plan.key,
            name=plan.name,
            manager=plan.manager,
            sponsor=plan.sponsor,
            jira_project=plan.key,
            github_repositories=[repositories[plan.index].full_name],
            calendars=[plan.calendar_id, leave, calendars[-1].id],
            start=plan.start,
            finish=plan.finish,
            currency=plan.currency,
            budget=_budget(
                ledger.by_clock[plan.index],
                ledger.total[plan.index],
                ledger.planned[plan.index],
                plan.overspending,
            ),
            hourly_rates=plan.hourly_rates,
        )
        for plan in plans
    ]
    return build(
        Scenario,
        version=FORMAT_VERSION,
        name=f"generated: {projects} projects, {items} items, seed {seed}",
        seed=seed,
        clock=now,
        people=people,
        projects=portfolio,
        jira=jira,
        github=build(GitHubWorld, repositories=repositories),
        calendar=build(CalendarWorld, calendars=calendars),
    )


def summarize(scenario: Scenario) -> dict[str, int]:
    """Return counts per kind of thing in ``scenario``."""
    repos = scenario.github.repositories
    threads = [issue for repo in repos for issue in repo.issues]
    pulls = sum(1 for issue in threads if issue.pull_request is not None)
    return {
        "people": len(scenario.people),
        "projects": len(scenario.projects),
        "jira_issues": len(scenario.jira.issues),
        "jira_worklogs": sum(len(issue.worklogs) for issue in scenario.jira.issues),
        "jira_versions": sum(len(p.versions) for p in scenario.jira.projects),
        "github_repositories": len(repos),
        "github_issues": len(threads) - pulls,
        "github_pull_requests": pulls,
        "github_milestones": sum(len(repo.milestones) for repo in repos),
        "github_commits": sum(len(repo.commits) for repo in repos),
        "calendars": len(scenario.calendar.calendars),
        "calendar_events": sum(len(c.events) for c in scenario.calendar.calendars),
    }


def main_generate(projects: int, items: int, seed: int, out: Path) -> dict[str, Any]:
    """Generate a scenario, write it to ``out`` (.json or .yaml) and return a summary."""
    scenario = generate(projects=projects, items=items, seed=seed)
    collecting = gc.isenabled()
    gc.disable()  # as in generate(): serialising builds millions of short-lived dicts
    try:
        dump_scenario(scenario, out)
    finally:
        if collecting:
            gc.enable()
    return {"bytes": out.stat().st_size, **summarize(scenario)}
