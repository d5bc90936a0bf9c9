"""Red / amber / green: one judgement per dimension, each with its reason in one sentence.

The thresholds are the rules engine's own (``rules.yaml``, per project), so a
report never calls green what an alert calls critical. Each dimension is judged
from the figures (worst finding wins) and from the firing alerts of the rules
that belong to it; the overall RAG is the worst dimension. Two guards keep a
report honest: a dimension without figures is grey ("not known"), never green;
and on stale data nothing is green (it becomes amber, saying which source is
stale), because a project cannot be shown healthy on data nobody refreshed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pmsync.config.rules import BuiltinRules
from pmsync.reports.facts import (
    AlertRow,
    Changes,
    Dimension,
    EarnedValue,
    MilestoneRow,
    Rag,
    RagStatus,
    Risks,
    SourceFreshness,
    Unavailable,
)

RANK: dict[Rag, int] = {"green": 0, "grey": 1, "amber": 2, "red": 3}
DIMENSIONS: tuple[Dimension, ...] = ("schedule", "cost", "scope", "risk")

RULE_DIMENSION: dict[str, Dimension] = {
    "milestone_slip": "schedule",
    "milestone_overdue": "schedule",
    "due_probability_low": "schedule",
    "spi_low": "schedule",
    "spi_t_low": "schedule",
    "no_throughput": "schedule",
    "blocked_items": "schedule",
    "ageing_items": "schedule",
    "unassigned_near_due": "schedule",
    "key_people_on_leave": "schedule",
    "cpi_low": "cost",
    "eac_over_budget": "cost",
    "forecast_overrun": "cost",
    "tcpi_unrealistic": "cost",
    "spend_ahead_of_progress": "cost",
    "annual_budget_overrun": "cost",
    "scope_growth": "scope",
    "unapproved_plan_change": "scope",
    "risk_exposure_high": "risk",
    "risk_review_overdue": "risk",
}
"""Which dimension a firing alert of each built-in rule counts against."""

RISK_EXPOSURE_PCT = (5.0, 15.0)
"""Open risk exposure as % of BAC that turns the risk dimension amber, red."""


@dataclass(frozen=True)
class Finding:
    """A candidate judgement; the worst one of a dimension is its RAG."""

    rag: Rag
    reason: str


def worst(findings: Sequence[Finding]) -> Finding:
    """Return the worst finding (the first of equals, so order states priority)."""
    return max(findings, key=lambda f: RANK[f.rag])


def _schedule(ev: EarnedValue | Unavailable, milestones: object, rules: BuiltinRules) -> list:
    found: list[Finding] = []
    index = None
    if isinstance(ev, EarnedValue):
        index, name = (ev.spi_t, "SPI(t)") if ev.spi_t is not None else (ev.spi, "SPI")
    if index is not None:
        if index < rules.spi_low.critical:
            found.append(Finding("red", f"{name} is {index:.2f}, below {rules.spi_low.critical}."))
        elif index < rules.spi_low.warning:
            found.append(Finding("amber", f"{name} is {index:.2f}, below {rules.spi_low.warning}."))
        else:
            found.append(Finding("green", f"{name} is {index:.2f}: on or ahead of plan."))
    if isinstance(milestones, tuple):
        for m in milestones:
            found.extend(_milestone(m, rules))
    return found


def _milestone(m: MilestoneRow, rules: BuiltinRules) -> list[Finding]:
    found: list[Finding] = []
    slip = m.variance_days
    if m.status == "late":
        found.append(Finding("red", f"Milestone {m.name} is past its due date and not done."))
    if slip is not None and slip >= rules.milestone_slip.critical_days:
        found.append(Finding("red", f"Milestone {m.name} is {slip} days behind its baseline."))
    elif slip is not None and slip >= rules.milestone_slip.warning_days:
        found.append(Finding("amber", f"Milestone {m.name} is {slip} days behind its baseline."))
    p = m.probability_on_time
    if p is not None and m.status != "done":
        if p < rules.due_probability_low.critical:
            found.append(Finding("red", f"Milestone {m.name} has a {p:.0%} chance to be on time."))
        elif p < rules.due_probability_low.warning:
            found.append(
                Finding("amber", f"Milestone {m.name} has a {p:.0%} chance to be on time.")
            )
    return found


def _cost(ev: EarnedValue | Unavailable, rules: BuiltinRules) -> list[Finding]:
    if not isinstance(ev, EarnedValue) or ev.cpi is None:
        return []
    found: list[Finding] = []
    if ev.cpi < rules.cpi_low.critical:
        found.append(Finding("red", f"CPI is {ev.cpi:.2f}, below {rules.cpi_low.critical}."))
    elif ev.cpi < rules.cpi_low.warning:
        found.append(Finding("amber", f"CPI is {ev.cpi:.2f}, below {rules.cpi_low.warning}."))
    if ev.eac is not None and ev.bac > 0:
        over = (ev.eac / ev.bac - 1) * 100
        limits = rules.eac_over_budget
        if over >= limits.critical_pct:
            found.append(Finding("red", f"Forecast cost is {over:.0f} % over budget."))
        elif over >= limits.warning_pct:
            found.append(Finding("amber", f"Forecast cost is {over:.0f} % over budget."))
    if not found:
        found.append(Finding("green", f"CPI is {ev.cpi:.2f} and the forecast is within budget."))
    return found


def _scope(milestones: object, changes: Changes | Unavailable) -> list[Finding]:
    found: list[Finding] = []
    if isinstance(changes, Changes):
        open_changes = [c for c in changes.plan_changes if not c.approved]
        if open_changes:
            c = open_changes[0]
            found.append(
                Finding(
                    "amber", f"{len(open_changes)} unapproved plan change(s), e.g. {c.subject}."
                )
            )
        else:
            found.append(Finding("green", "No unapproved change of plan or scope."))
    return found


def _risk(risks: Risks | Unavailable, bac: float | None, rules: BuiltinRules) -> list:
    if not isinstance(risks, Risks):
        return []
    found: list[Finding] = []
    for r in risks.overdue_reviews:
        days = r.days_overdue or 0
        rag: Rag = "red" if days >= rules.risk_review_overdue.critical_days else "amber"
        found.append(Finding(rag, f"The review of risk {r.key} is {days} days overdue."))
    if bac:
        pct = risks.total_exposure / bac * 100
        if pct >= RISK_EXPOSURE_PCT[1]:
            found.append(Finding("red", f"Open risk exposure is {pct:.0f} % of the budget."))
        elif pct >= RISK_EXPOSURE_PCT[0]:
            found.append(Finding("amber", f"Open risk exposure is {pct:.0f} % of the budget."))
    if not found:
        found.append(Finding("green", f"{risks.open_count} open risks, all reviewed on time."))
    return found


def _from_alerts(alerts: object, dimension: Dimension) -> list[Finding]:
    if not isinstance(alerts, tuple):
        return []
    found: list[Finding] = []
    for a in alerts:
        if (
            isinstance(a, AlertRow)
            and RULE_DIMENSION.get(a.rule) == dimension
            and a.severity in ("critical", "warning")
        ):
            found.append(Finding("red" if a.severity == "critical" else "amber", a.summary))
    return found


def judge(
    *,
    earned_value: EarnedValue | Unavailable,
    milestones: object,
    risks: Risks | Unavailable,
    alerts: object,
    changes: Changes | Unavailable,
    freshness: Sequence[SourceFreshness],
    rules: BuiltinRules,
) -> tuple[RagStatus, tuple[RagStatus, ...]]:
    """Return the overall RAG and one per dimension, each with its reason."""
    bac = earned_value.bac if isinstance(earned_value, EarnedValue) else None
    by_dimension: dict[Dimension, list[Finding]] = {
        "schedule": _schedule(earned_value, milestones, rules),
        "cost": _cost(earned_value, rules),
        "scope": _scope(milestones, changes),
        "risk": _risk(risks, bac, rules),
    }
    stale = [f for f in freshness if f.stale]
    dims: list[RagStatus] = []
    for dim in DIMENSIONS:
        findings = by_dimension[dim] + _from_alerts(alerts, dim)
        chosen = worst(findings) if findings else Finding("grey", f"No {dim} figures available.")
        dims.append(_unless_stale(RagStatus(dim, chosen.rag, chosen.reason), stale))
    top = max(dims, key=lambda d: RANK[d.rag])
    if top.rag == "green":
        overall = RagStatus("overall", "green", "Schedule, cost, scope and risk are on track.")
    else:
        overall = RagStatus("overall", top.rag, f"{top.dimension.capitalize()}: {top.reason}")
    return _unless_stale(overall, stale), tuple(dims)


def _unless_stale(status: RagStatus, stale: Sequence[SourceFreshness]) -> RagStatus:
    if status.rag != "green" or not stale:
        return status
    names = ", ".join(s.source for s in stale)
    return RagStatus(status.dimension, "amber", f"Data from {names} is stale; {status.reason}")


def risk_score(overall: RagStatus, dims: Sequence[RagStatus], critical: int, warning: int) -> float:
    """Return how much a project needs attention: RAG ranks first, then alert counts."""
    return RANK[overall.rag] * 100 + sum(RANK[d.rag] for d in dims) * 10 + critical * 2 + warning
