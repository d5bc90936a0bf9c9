"""Decide the story: the people, each project's team, pace and release plan.

Each team finishes work at a steady rate (its throughput); a project's releases
are cut from that flow of work, so whether a milestone is on time is decided
here, by where its due date sits against the date its last item will be done.
The clock falls part-way through one release of every project, which gives the
scenario a past to sync and a future to advance into.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta

from pmsync.sandbox.generator import text
from pmsync.sandbox.generator.base import (
    EMAIL_DOMAIN,
    Counters,
    ProjectPlan,
    VersionPlan,
    WorkDays,
    build,
)
from pmsync.sandbox.scenario import Person

BASE_RATES = {"developer": 95.0, "lead": 120.0, "qa": 80.0, "pm": 110.0, "sponsor": 150.0}
HOURS_PER_ITEM = 12.0
"""Average booked hours per work item, used to size teams."""
BERLIN, KOLKATA, LOS_ANGELES = 2, 1, 0


def split(total: int, parts: int, rng: random.Random) -> list[int]:
    """Split ``total`` into ``parts`` uneven positive shares (largest remainder)."""
    weights = [rng.uniform(0.7, 1.3) for _ in range(parts)]
    scale = total / sum(weights)
    shares = [int(w * scale) for w in weights]
    order = sorted(range(parts), key=lambda i: shares[i] - weights[i] * scale)
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


class PeopleFactory:
    """Invent people with unique ids, e-mails and GitHub logins."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: list[Person] = []
        self._ids: set[str] = set()
        self._logins: set[str] = set()

    def _unique(self, base: str, taken: set[str], sep: str) -> str:
        value, n = base, 1
        while value in taken:
            n += 1
            value = f"{base}{sep}{n}"
        taken.add(value)
        return value

    def make(self, role: str, region: int | None = None, odd_login: bool = False) -> str:
        """Create a person with ``role`` (in ``region`` if given) and return the id."""
        rng = self.rng
        region = rng.randrange(len(text.REGIONS)) if region is None else region
        tz, firsts, lasts = text.REGIONS[region]
        (first, first_ascii), (last, last_ascii) = rng.choice(firsts), rng.choice(lasts)
        family_first = tz in ("Asia/Tokyo", "Asia/Shanghai")
        name = f"{last}{first}" if family_first else f"{first} {last}"
        person_id = self._unique(f"{first_ascii}.{last_ascii}", self._ids, "")
        jira_email = None
        if len(self.people) == 1 or rng.random() < 0.15:
            jira_email = rng.choice(
                (
                    f"{first_ascii[0]}.{last_ascii}@corp.{EMAIL_DOMAIN}",
                    f"{person_id}.ext@partner.example",
                )
            )
        has_github = {"pm": 0.3, "sponsor": 0.0, "qa": 0.7}.get(role, 0.95)
        login = None
        if odd_login or rng.random() < has_github:
            if odd_login or rng.random() < 0.2:
                base = rng.choice(text.ODD_LOGINS)
            else:
                base = rng.choice((f"{first_ascii}{last_ascii}", f"{first_ascii[0]}{last_ascii}"))
            login = self._unique(base, self._logins, "-")
        self.people.append(
            build(
                Person,
                id=person_id,
                name=name,
                email=f"{person_id}@{EMAIL_DOMAIN}",
                time_zone=tz,
                role=role,
                jira_account_id=None,
                jira_email=jira_email,
                github_login=login,
            )
        )
        return person_id


def _start_for(clock: datetime, offset: float, closed: frozenset[date]) -> date:
    """Return the first working day such that ``clock`` is ``offset`` working days in."""
    day, remaining = clock.date(), int(offset)
    while remaining > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5 and day not in closed:
            remaining -= 1
    return day


def plan_projects(
    rng: random.Random,
    projects: int,
    items: int,
    clock: datetime,
    closed: frozenset[date],
    counters: Counters,
) -> tuple[list[Person], list[ProjectPlan]]:
    """Return the people and a plan per project (team, pace, releases)."""
    factory = PeopleFactory(rng)
    sponsors = [factory.make("sponsor") for _ in range(math.ceil(projects / 3))]
    sizes = split(items, projects, rng)
    plans: list[ProjectPlan] = []
    for p, size in enumerate(sizes):
        key, name, repo = text.PROJECT_THEMES[p % len(text.PROJECT_THEMES)]
        if p >= len(text.PROJECT_THEMES):
            cycle = p // len(text.PROJECT_THEMES) + 1
            key, name, repo = f"{key}{cycle}", f"{name} {cycle}", f"{repo}-{cycle}"
        on_time = p == 0 and projects > 1
        slipping = p == (1 if projects > 1 else 0)
        overspending = p == min(2, projects - 1)
        epics = max(2, size // 20)
        work = size - epics
        planned_days = rng.randint(150, 190)
        throughput = work / planned_days
        load = throughput * HOURS_PER_ITEM * (1.8 if overspending else 1.0)
        developers = min(300, max(3, math.ceil(load / 6.0)))
        manager = factory.make("pm", BERLIN if p == 0 else None)
        lead = factory.make("lead", KOLKATA if p == 0 else None)
        team = [lead]
        for d in range(developers):
            first = p == 0 and d == 0
            team.append(factory.make("developer", LOS_ANGELES if first else None, first))
        team.append(factory.make("qa"))

        count = 5 if work >= 25 else 3
        shares = [rng.uniform(0.8, 1.2) for _ in range(count)]
        bounds = [0.0]
        for share in shares:
            bounds.append(bounds[-1] + share / sum(shares) * planned_days)
        current = count // 2 if (on_time or slipping) else rng.randint(1, count - 2)
        where = 0.4 if on_time else 0.3 if slipping else rng.uniform(0.2, 0.7)
        clock_offset = bounds[current] + where * (bounds[current + 1] - bounds[current])
        start = _start_for(clock, clock_offset, closed)
        workdays = WorkDays(start, closed)
        clock_offset = workdays.index_of(clock.date()) + 0.0
        plan = ProjectPlan(
            index=p,
            key=key,
            name=name,
            repo=repo,
            calendar_id=f"c_{key.lower()}.{rng.getrandbits(40):010x}@group.calendar.google.com",
            manager=manager,
            sponsor=sponsors[p // 3],
            lead=lead,
            team=team,
            start=start,
            workdays=workdays,
            items=size,
            throughput=throughput,
            clock_offset=clock_offset,
            current_version=current,
            on_time=on_time,
            slipping=slipping,
            overspending=overspending,
            currency="USD" if p % 4 == 3 else "EUR",
            hourly_rates={
                role: round(rate * rng.uniform(0.9, 1.1) / 5) * 5
                for role, rate in BASE_RATES.items()
            },
        )
        plan.versions = _versions(rng, plan, bounds, counters)
        plan.finish = workdays.day(int(max(v.finish_offset for v in plan.versions)) + 10)
        plan.finish = max(plan.finish, max(v.due for v in plan.versions) + timedelta(days=7))
        plans.append(plan)
    return factory.people, plans


def _versions(
    rng: random.Random, plan: ProjectPlan, bounds: list[float], counters: Counters
) -> list[VersionPlan]:
    """Cut the project's flow of work into releases with due dates."""
    days = plan.workdays
    themes = list(text.MILESTONE_THEMES)
    versions: list[VersionPlan] = []
    # In the slipping project the plan from the current release on is optimistic:
    # due dates sit well before the date the team's pace will finish the work.
    shortfall = 0.6 * (bounds[plan.current_version + 1] - plan.clock_offset)
    for k in range(len(bounds) - 1):
        finish = bounds[k + 1]
        if plan.slipping and k >= plan.current_version:
            due = days.day(int(finish - shortfall))
        else:
            due = days.day(int(finish) + rng.randint(4, 7))
        counters.jira_version += 1
        version = VersionPlan(
            index=k,
            name=f"R{k + 1} {themes[k % len(themes)]}",
            jira_id=str(counters.jira_version),
            starts=days.day(int(bounds[k])),
            due=due,
            finish_offset=finish,
        )
        if plan.slipping and k == plan.current_version:
            when = datetime.combine(days.day(int(plan.clock_offset) + 5), time(14), UTC)
            version.pushed = (when, days.day(int(finish - shortfall / 3)))
        versions.append(version)
    return versions
