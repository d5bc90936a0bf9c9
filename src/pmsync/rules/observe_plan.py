"""What the schedule, cost and scope rules observe in a project's facts.

One function per built-in rule, each returning the observations the rule's
thresholds then judge (``declare.walk``). They read the metrics
(``ProjectHealth``) and the plan against its baseline, never the store. A
figure the metrics leave undefined (CPI before any cost, a forecast without
throughput) is not observed: the rule stays silent rather than guess.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from typing import Any

from pmsync.alerts import EvidenceItem
from pmsync.rules.declare import Observation
from pmsync.rules.facts import ItemFact, MilestoneFacts, ProjectFacts

MAX_ITEMS = 25
"""Items listed as evidence per finding (the report has the rest)."""


def money(value: float | None, currency: str) -> str:
    """Return an amount as people read it: ``12,345 EUR``."""
    return "n/a" if value is None else f"{value:,.0f} {currency}"


def evidence(items: tuple[ItemFact, ...], detail: str = "") -> tuple[EvidenceItem, ...]:
    """Return up to ``MAX_ITEMS`` items, longest in their state first, as evidence."""
    chosen = sorted(items, key=lambda i: (-i.days, i.key))[:MAX_ITEMS]
    return tuple(i.evidence(detail.format(days=i.days, status=i.status) or None) for i in chosen)


def _milestone(m: MilestoneFacts, value: float | None, **words: Any) -> Observation:
    extra = words.pop("figures", {})
    figures: dict[str, Any] = {
        "due": m.due,
        "baseline due": m.baseline_due,
        "due in the tools": m.tool_due,
        "open items": m.open_items,
    }
    f = m.forecast
    if f is not None:
        figures |= {
            "forecast P50": f.forecast_p50,
            "forecast P85": f.forecast_p85,
            "probability on time": None
            if f.probability_on_time is None
            else round(f.probability_on_time, 2),
        }
    blocked = {i.key for i in m.blocked}
    items = evidence(m.blocked, "blocked for {days} days") + evidence(
        tuple(i for i in m.remaining if i.key not in blocked), "{status}"
    )
    return Observation(
        "milestone",
        m.name,
        value,
        words={"milestone": m.name, **words},
        figures=figures | extra,
        items=items[:MAX_ITEMS],
        labels={"milestone": m.name},
    )


def _open(facts: ProjectFacts) -> Iterator[MilestoneFacts]:
    return (m for m in facts.milestones if not m.done and m.open_items > 0)


def milestone_slip(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Days a milestone's P85 forecast, or its moved date, lies past its baseline date."""
    for m in _open(facts):
        reference = m.reference_due
        if reference is None:
            continue
        p85 = m.forecast.forecast_p85 if m.forecast else None
        late = [d for d in ((p85 - reference).days if p85 else None, m.slip_days) if d is not None]
        if not late or max(late) <= 0:
            continue
        basis = "baseline date" if m.baseline_due else "due date"
        why = (
            f"P85 forecast {p85}"
            if p85 and (p85 - reference).days == max(late)
            else f"its date moved {m.slip_days} days since the baseline"
        )
        yield _milestone(
            m, max(late), days=max(late), basis=basis, reference=reference, why=why,
            figures={"days late": max(late), "moved since baseline (days)": m.slip_days},
        )  # fmt: skip


def milestone_overdue(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Days past a milestone's due date while work is still open."""
    for m in _open(facts):
        if m.due is not None and m.due < facts.today:
            days = (facts.today - m.due).days
            yield _milestone(m, days, days=days, due=m.due, open=m.open_items)


def due_probability_low(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """The Monte Carlo probability of finishing a milestone by its due date."""
    for m in _open(facts):
        f = m.forecast
        if f is None or f.probability_on_time is None or m.due is None or m.due < facts.today:
            continue
        yield _milestone(m, f.probability_on_time, chance=f"{f.probability_on_time:.0%}", due=m.due)


def scope_growth(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Growth of a milestone's scope (items) since the baseline, in percent."""
    for m in facts.milestones:
        growth = m.scope_growth_pct
        if m.done or growth is None or growth <= 0:
            continue
        yield _milestone(
            m, growth, growth=f"{growth:.0f}", then=m.baseline_scope_items, now=m.scope_items,
            figures={"scope in the baseline": m.baseline_scope_items, "scope now": m.scope_items},
        )  # fmt: skip


def _project(
    facts: ProjectFacts, value: float | None, figures: dict[str, Any], **words: Any
) -> Observation:
    return Observation(
        "project", facts.key, value, words={"name": facts.name, **words}, figures=figures
    )


def _evm_figures(facts: ProjectFacts) -> dict[str, Any]:
    if facts.health is None:
        return {}
    p, c = facts.health.project, facts.currency
    return {
        "BAC": money(p.budget_at_completion, c),
        "PV": money(p.planned_value, c),
        "EV": money(p.earned_value, c),
        "AC": money(p.actual_cost, c),
        "CPI": _round(p.cost_performance_index),
        "SPI": _round(p.schedule_performance_index),
        "EAC": money(p.estimate_at_completion, c),
        "VAC": money(p.variance_at_completion, c),
    }


def _round(value: float | None, places: int = 2) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, places)


def spi_t_low(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """SPI(t): schedule earned per day spent (earned schedule)."""
    s = facts.health.schedule if facts.health else None
    if s is None or s.schedule_performance_index_time is None:
        return
    value = s.schedule_performance_index_time
    yield _project(
        facts, value,
        {"SPI(t)": _round(value), "ES": _round(s.earned_schedule, 1),
         "AT": _round(s.actual_time, 1), "SV(t)": _round(s.schedule_variance_time, 1),
         "forecast finish (ES)": s.forecast_finish_es, "planned finish": s.planned_finish},
        index=f"{value:.2f}", behind=f"{-s.schedule_variance_time:.1f}", unit=s.time_unit,
    )  # fmt: skip


def spi_low(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """SPI = EV / PV."""
    p = facts.health.project if facts.health else None
    if p is not None and p.schedule_performance_index is not None:
        value = p.schedule_performance_index
        yield _project(facts, value, _evm_figures(facts), index=f"{value:.2f}")


def cpi_low(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """CPI = EV / AC."""
    p = facts.health.project if facts.health else None
    if p is not None and p.cost_performance_index is not None:
        value = p.cost_performance_index
        yield _project(facts, value, _evm_figures(facts), index=f"{value:.2f}",
                       cents=f"{value * 100:.0f}")  # fmt: skip


def eac_over_budget(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Forecast overrun: -VAC / BAC in percent (EAC above BAC)."""
    p = facts.health.project if facts.health else None
    if p is None or p.budget_at_completion <= 0 or p.variance_at_completion >= 0:
        return
    over = -100.0 * p.variance_at_completion / p.budget_at_completion
    figures = _evm_figures(facts) | {"EAC basis": p.eac_basis, "overrun %": round(over, 1)}
    yield _project(
        facts, over, figures, over=f"{over:.0f}",
        eac=money(p.estimate_at_completion, facts.currency),
        bac=money(p.budget_at_completion, facts.currency),
    )  # fmt: skip


def tcpi_unrealistic(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """TCPI (BAC): the cost efficiency the rest of the work needs to stay in budget."""
    p = facts.health.project if facts.health else None
    if p is None or (p.percent_complete or 0) >= 1:
        return
    if p.budget_exhausted:
        yield _project(facts, math.inf, _evm_figures(facts), needed="more than the budget left")
    elif p.tcpi_to_bac is not None:
        figures = _evm_figures(facts) | {"TCPI (BAC)": _round(p.tcpi_to_bac)}
        yield _project(facts, p.tcpi_to_bac, figures, needed=f"a CPI of {p.tcpi_to_bac:.2f}")


def spend_ahead_of_progress(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Budget spent (AC / BAC) minus work done (EV / BAC), in percentage points."""
    p = facts.health.project if facts.health else None
    if p is None or p.budget_at_completion <= 0:
        return
    spent = 100.0 * p.actual_cost / p.budget_at_completion
    done = 100.0 * (p.percent_complete or 0.0)
    if spent > done:
        figures = _evm_figures(facts) | {"% spent": round(spent, 1), "% complete": round(done, 1)}
        yield _project(facts, spent - done, figures, spent=f"{spent:.0f}", done=f"{done:.0f}")


def annual_budget_overrun(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """A fiscal year's spend as % of its budget, and how far it runs ahead of the year."""
    fy = facts.fiscal_year
    if fy is None or fy.spent_pct is None:
        return
    elapsed = fy.elapsed_pct(facts.today)
    yield _project(
        facts, fy.spent_pct,
        {"fiscal year": f"FY{fy.year} ({fy.start} to {fy.end})",
         "annual budget": money(fy.budget, facts.currency),
         "spent": money(fy.spent, facts.currency), "% spent": round(fy.spent_pct, 1),
         "% of the year gone": round(elapsed, 1)},
        year=f"FY{fy.year}", spent=f"{fy.spent_pct:.0f}", elapsed=f"{elapsed:.0f}",
        ahead_points=fy.spent_pct - elapsed,
    )  # fmt: skip


def unapproved_plan_change(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Plan changes since the latest baseline that nobody approved yet."""
    changes = facts.unapproved_changes
    if not changes:
        return
    items = tuple(
        EvidenceItem(
            f"{c.subject} {c.field}: {c.from_value or '-'} -> {c.to_value or '-'}",
            detail=f"seen {c.detected_at:%Y-%m-%d}, against baseline v{c.baseline_version}",
        )
        for c in changes[-25:]
    )
    first = changes[0]
    yield Observation(
        "project", facts.key, len(changes),
        words={"count": len(changes), "first": f"{first.subject} {first.field}"},
        figures={"unapproved changes": len(changes), "baseline": f"v{first.baseline_version}"},
        items=items,
    )  # fmt: skip


def no_throughput(facts: ProjectFacts, settings: Any) -> Iterator[Observation]:
    """Working days since an item was last finished, while work is in progress."""
    team = facts.health.team if facts.health else None
    if team is None or team.work_in_progress <= 0:
        return
    values = team.throughput_by_day.values
    idle = next((i for i, v in enumerate(reversed(values)) if v > 0), len(values))
    last: date | None = team.throughput_by_day.days[-idle - 1] if idle < len(values) else None
    yield _project(
        facts, idle,
        {"working days without a finished item": idle, "work in progress": team.work_in_progress,
         "last item finished": last, "throughput per week": _round(team.throughput_per_week, 1)},
        days=idle, wip=team.work_in_progress,
    )  # fmt: skip
