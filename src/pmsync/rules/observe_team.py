"""What the work, people, risk, meeting and data rules observe in a project's facts.

One function per built-in rule, as in ``observe_plan``: items blocked or
ageing, work near a due date with nobody on it or no estimate, risks, the
meeting cadence, key people away when a milestone needs them, overloaded
people, and whether the data itself can be trusted (a source failing or
stale).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from pmsync.alerts import EvidenceItem
from pmsync.rules.declare import Observation
from pmsync.rules.facts import ItemFact, MilestoneFacts, ProjectFacts
from pmsync.rules.observe_plan import evidence, money

OPEN_RISK = frozenset({"open", "monitoring"})


def _items(
    facts: ProjectFacts, items: tuple[ItemFact, ...], least: int, what: str
) -> Iterator[Observation]:
    """Observe the items at least ``least`` days in a state, the oldest deciding."""
    chosen = tuple(i for i in items if i.days >= least)
    if not chosen:
        return
    oldest = max(chosen, key=lambda i: (i.days, i.key))
    yield Observation(
        "project", facts.key, oldest.days,
        words={"count": len(chosen), "least": least, "oldest": oldest.key,
               "days": oldest.days, "title": oldest.title},
        figures={f"items {what} {least}+ days": len(chosen), "longest (days)": oldest.days},
        items=evidence(chosen, what + " for {days} days ({status})"),
    )  # fmt: skip


def blocked_items(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Open items blocked for at least ``warning_days``; the longest decides."""
    return _items(facts, facts.blocked, settings.warning_days, "blocked")


def ageing_items(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Items in progress for at least ``warning_days``; the oldest decides."""
    return _items(facts, facts.in_progress, settings.warning_days, "in progress")


def _near_due(
    facts: ProjectFacts, pick: str, what: str
) -> Iterator[tuple[MilestoneFacts, Observation]]:
    for m in facts.milestones:
        items: tuple[ItemFact, ...] = getattr(m, pick)
        if m.done or m.due is None or not items:
            continue
        days = (m.due - facts.today).days
        yield m, Observation(
            "milestone", m.name, days,
            words={"milestone": m.name, "count": len(items), "due": m.due,
                   "when": f"in {days} days" if days >= 0 else f"{-days} days ago"},
            figures={"due": m.due, "days to due": days, f"{what} items": len(items),
                     "open items": m.open_items},
            items=evidence(items, "{status}"),
            labels={"milestone": m.name},
        )  # fmt: skip


def unassigned_near_due(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Unassigned open items in a milestone, judged by the days left to its due date."""
    return (seen for _, seen in _near_due(facts, "unassigned", "unassigned"))


def unestimated_near_due(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Open items without points (or estimates) in a milestone close to its due date."""
    return (seen for _, seen in _near_due(facts, "unestimated", "unestimated"))


def risk_exposure_high(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Exposure (probability x impact) of the open risks as % of the budget."""
    budget = facts.budget_at_completion
    if facts.health is not None and facts.health.project.budget_at_completion > 0:
        budget = budget or facts.health.project.budget_at_completion
    risks = [r for r in facts.risks if r.status in OPEN_RISK and r.exposure]
    if not budget or not risks:
        return
    total = sum(r.exposure or 0.0 for r in risks)
    pct = 100.0 * total / budget
    top = sorted(risks, key=lambda r: -(r.exposure or 0.0))
    yield Observation(
        "project", facts.key, pct,
        words={"pct": f"{pct:.0f}", "total": money(total, facts.currency), "count": len(risks)},
        figures={"open risk exposure": money(total, facts.currency),
                 "budget": money(budget, facts.currency), "% of budget": round(pct, 1),
                 "open risks": len(risks)},
        items=tuple(
            EvidenceItem(r.title, r.url, r.key,
                         f"exposure {money(r.exposure, facts.currency)}, owner {r.owner or '-'}")
            for r in top[:10]
        ),
    )  # fmt: skip


def risk_review_overdue(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Days past the next review date of each open risk."""
    for r in facts.risks:
        if r.status not in OPEN_RISK or r.review_date is None or r.review_date >= facts.today:
            continue
        days = (facts.today - r.review_date).days
        yield Observation(
            "risk", r.key, days,
            words={"risk": r.key, "title": r.title, "days": days, "owner": r.owner or "nobody"},
            figures={"review was due": r.review_date, "days overdue": days,
                     "exposure": money(r.exposure, facts.currency) if r.exposure else None,
                     "owner": r.owner},
            items=(EvidenceItem(r.title, r.url, r.key, f"review due {r.review_date}"),),
            labels={"risk": r.key},
        )  # fmt: skip


def missing_status_meeting(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Days since the expected time of the meetings missed in a row, up to now."""
    for cadence in facts.cadences:
        past = [s for s in cadence.slots if s.expected_at <= facts.now]
        streak = []
        for slot in reversed(past):
            if not slot.missed:
                break
            streak.append(slot)
        if not streak:
            continue
        first = streak[-1]
        days = first.days_overdue(facts.now) or 0
        kind = cadence.kind.replace("_", " ")
        yield Observation(
            "meeting", cadence.kind, days,
            words={"kind": kind, "missed": len(streak), "days": days,
                   "expected": f"{first.expected_at:%Y-%m-%d}"},
            figures={"missed in a row": len(streak), "first missed was expected": first.expected_at,
                     "every (days)": cadence.every // timedelta(days=1),
                     "outcomes": ", ".join(s.outcome for s in reversed(streak))},
            items=tuple(
                EvidenceItem(m.title, m.url, None, "cancelled" if m.cancelled else None)
                for s in streak for m in s.meetings
            )[:10],
            labels={"meeting": cadence.kind},
        )  # fmt: skip


def key_people_on_leave(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Share of a milestone's final working days each key person is on leave."""
    for m in facts.milestones:
        if m.done or not m.final_days or m.due is None or m.due < facts.today:
            continue
        for away in m.key_people_away:
            yield Observation(
                "person", away.person, away.away_pct,
                words={"person": away.name, "role": away.role, "milestone": m.name,
                       "pct": f"{away.away_pct:.0f}", "days": len(m.final_days),
                       "first": m.final_days[0], "due": m.due},
                figures={"away (%)": round(away.away_pct), "days away": len(away.days_away),
                         "final days": f"{m.final_days[0]} to {m.final_days[-1]}",
                         "open items": m.open_items},
                items=evidence(m.blocked, "blocked for {days} days"),
                labels={"person": away.person, "milestone": m.name},
            )  # fmt: skip


def overload(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """A person's load (booked over available hours) in the week of the status date."""
    team = facts.health.team if facts.health else None
    if team is None:
        return
    monday = facts.today - timedelta(days=facts.today.weekday())
    for load in team.loads:
        if load.week != monday:
            continue
        pct = math.inf if load.load is None and load.overloaded else 100.0 * (load.load or 0.0)
        yield Observation(
            "person", load.person, pct,
            words={"person": facts.people.get(load.person, load.person),
                   "pct": "∞" if math.isinf(pct) else f"{pct:.0f}",
                   "week": load.week},
            figures={"booked hours": round(load.booked_hours, 1),
                     "available hours": round(load.capacity_hours, 1)},
            labels={"person": load.person},
        )  # fmt: skip


def sync_failing(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Days a source's sync has been failing (0 from the first failed run)."""
    for s in facts.sources:
        if s.failing_since is None:
            continue
        days = (facts.now - s.failing_since) // timedelta(days=1)
        yield Observation(
            "source", s.name, days,
            words={"source": s.name, "since": f"{s.failing_since:%Y-%m-%d %H:%M} UTC",
                   "streams": ", ".join(s.failing_streams), "error": s.error or "failed"},
            figures={"failing since": s.failing_since, "streams": ", ".join(s.failing_streams),
                     "last good sync": s.last_success, "error": s.error},
            labels={"source": s.name},
        )  # fmt: skip


def source_stale(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Sync intervals since a source's last successful sync (never: infinitely many)."""
    for s in facts.sources:
        age = None if s.last_success is None else facts.now - s.last_success
        intervals = math.inf if age is None else age / s.interval
        yield Observation(
            "source", s.name, intervals,
            words={"source": s.name,
                   "how": "it has never synced successfully" if age is None or not s.last_success
                   else f"no successful sync for {_age(age)} "
                        f"(last: {s.last_success:%Y-%m-%d %H:%M} UTC)"},
            figures={"last good sync": s.last_success or "never",
                     "sync interval": _age(s.interval),
                     "intervals missed": None if age is None else round(intervals, 1)},
            labels={"source": s.name},
        )  # fmt: skip


def _age(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"
