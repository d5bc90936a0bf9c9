"""The fields a custom rule can read: ``project.*``, ``milestone.*``, ``deliverable.*``.

A custom rule names figures the way the rest of pmsync does: the metric names
of the catalogue (``pmsync.metrics.catalogue``: ``cost_performance_index``,
``forecast_p85``) plus what the rules engine gathers (blocked items, risk
exposure, slip against the baseline). ``FIELDS`` declares every one with its
type and meaning (``docs/rules.md`` lists them; the expression checker
refuses any other name), and ``*_values`` read them from the facts. A figure
that is not defined is left out, so ``has(project.cost_performance_index)``
tells whether it is known, and a rule that reads it without ``has`` simply
does not fire.

Numbers are CEL ``double``s, dates ISO text (``"2026-03-31"``: they compare
in order), flags ``bool``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields as dataclass_fields
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pmsync.metrics.catalogue import BY_NAME
from pmsync.metrics.results import (
    BusinessCaseResult,
    EarnedScheduleResult,
    EvmResult,
    MilestoneForecast,
)

if TYPE_CHECKING:  # the facts import alerting, meetings and the plan: not needed to check rules
    from pmsync.rules.facts import MilestoneFacts, ProjectFacts

Kind = Literal["number", "text", "date", "flag"]
SCOPES = ("project", "milestone", "deliverable")

_TYPE_OF: dict[str, Kind] = {"date": "date", "flag": "flag"}


def _catalogue(names: Iterable[str]) -> dict[str, tuple[Kind, str]]:
    found: dict[str, tuple[Kind, str]] = {}
    for name in names:
        if name in BY_NAME:
            m = BY_NAME[name]
            found[name] = (_TYPE_OF.get(m.unit, "number"), f"{m.meaning} ({m.symbol})")
    return found


_EVM = [f.name for f in dataclass_fields(EvmResult) if f.name in BY_NAME]
_SCHEDULE = [f.name for f in dataclass_fields(EarnedScheduleResult) if f.name in BY_NAME]
_FORECAST = [f.name for f in dataclass_fields(MilestoneForecast) if f.name in BY_NAME]
_BUSINESS = [f.name for f in dataclass_fields(BusinessCaseResult) if f.name in BY_NAME]
_TEAM = [
    "throughput_per_day", "throughput_per_week", "cycle_time_median_days",
    "cycle_time_p85_days", "cycle_time_items", "work_in_progress", "overloaded_person_weeks",
]  # fmt: skip

FIELDS: dict[str, dict[str, tuple[Kind, str]]] = {
    "project": {
        "key": ("text", "The project key."),
        "name": ("text", "The project name."),
        "status_date": ("date", "The day of the check, in the configured time zone."),
        **_catalogue(_EVM + _SCHEDULE + _TEAM + _BUSINESS),
        "spent_pct": ("number", "Actual cost as % of the budget (AC / BAC x 100)."),
        "blocked_items": ("number", "Open items blocked now."),
        "longest_blocked_days": ("number", "Days the longest-blocked item has been blocked."),
        "oldest_in_progress_days": ("number", "Days the oldest item has been in progress."),
        "days_without_throughput": ("number", "Working days since an item was last finished."),
        "milestones_overdue": ("number", "Milestones past their due date with open work."),
        "open_risks": ("number", "Risks open or monitored."),
        "risk_exposure": ("number", "Sum of probability x impact of the open risks."),
        "risk_exposure_pct": ("number", "Open risk exposure as % of the budget."),
        "overdue_risk_reviews": ("number", "Open risks past their next review date."),
        "unapproved_plan_changes": ("number", "Plan changes since the baseline not approved."),
        "missed_meetings": ("number", "Meetings of the cadence missed in a row, up to now."),
        "stale_sources": ("number", "Sources of the project with no recent successful sync."),
        "failing_sources": ("number", "Sources of the project whose sync fails."),
        "fiscal_year_spent_pct": ("number", "Spend of the current fiscal year, % of its budget."),
        "fiscal_year_elapsed_pct": ("number", "Share of the current fiscal year gone, in %."),
    },
    "milestone": {
        "name": ("text", "The milestone name."),
        "origin": ("text", "plan (in the project file) or tool (only in the tools)."),
        "due": ("date", "Its due date (the project file's)."),
        "baseline_due": ("date", "Its due date in the latest baseline."),
        "tool_due": ("date", "Its date in the tools (fix version, GitHub milestone)."),
        "slip_days": ("number", "How far its date moved since the baseline, in days."),
        "days_late": ("number", "P85 forecast minus the baseline (else planned) due date, days."),
        "days_to_due": ("number", "Days from the status date to the due date (negative: past)."),
        "scope_items": ("number", "Items in scope now."),
        "baseline_scope_items": ("number", "Items in scope in the baseline."),
        "scope_growth_pct": ("number", "Scope growth since the baseline, in %."),
        "open_items": ("number", "Items not done yet."),
        "blocked_items": ("number", "Open items blocked now."),
        "unassigned_items": ("number", "Open items nobody is assigned to."),
        "unestimated_items": ("number", "Open items without points or estimates."),
        **_catalogue(_FORECAST),
    },
    "deliverable": {
        "code": ("text", "The WBS code."),
        "name": ("text", "The deliverable name."),
        "owner": ("text", "The owner's person id."),
        **_catalogue(_EVM),
    },
}
"""Every field per scope: its type and its meaning."""


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _known(values: Mapping[str, Any], scope: str) -> dict[str, Any]:
    wanted = FIELDS[scope]
    return {k: _plain(v) for k, v in values.items() if k in wanted and v is not None}


def _from(result: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(result, name) for name in names} if result is not None else {}


def project_values(facts: ProjectFacts) -> dict[str, Any]:
    """Return the ``project.*`` fields of a project that are defined now."""
    h = facts.health
    values: dict[str, Any] = {"key": facts.key, "name": facts.name, "status_date": facts.today}
    if h is not None:
        values |= _from(h.project, _EVM) | _from(h.schedule, _SCHEDULE)
        values |= _from(h.team, _TEAM) | _from(h.business_case, _BUSINESS)
        if h.project.budget_at_completion > 0:
            values["spent_pct"] = 100 * h.project.actual_cost / h.project.budget_at_completion
        if h.team is not None:
            counts = h.team.throughput_by_day.values
            values["days_without_throughput"] = next(
                (i for i, v in enumerate(reversed(counts)) if v > 0), len(counts)
            )
    open_risks = [r for r in facts.risks if r.status in ("open", "monitoring")]
    exposure = sum(r.exposure or 0.0 for r in open_risks)
    budget = facts.budget_at_completion
    values |= {
        "blocked_items": len(facts.blocked),
        "longest_blocked_days": max((i.days for i in facts.blocked), default=0),
        "oldest_in_progress_days": max((i.days for i in facts.in_progress), default=0),
        "milestones_overdue": sum(
            1 for m in facts.milestones if m.open_items and m.due and m.due < facts.today
        ),
        "open_risks": len(open_risks),
        "risk_exposure": exposure,
        "risk_exposure_pct": 100 * exposure / budget if budget else None,
        "overdue_risk_reviews": sum(
            1 for r in open_risks if r.review_date and r.review_date < facts.today
        ),
        "unapproved_plan_changes": len(facts.unapproved_changes),
        "missed_meetings": sum(_missed_in_a_row(c, facts) for c in facts.cadences),
        "stale_sources": sum(
            1 for s in facts.sources
            if s.last_success is None or facts.now - s.last_success > 2 * s.interval
        ),
        "failing_sources": sum(1 for s in facts.sources if s.failing_since is not None),
    }  # fmt: skip
    if facts.fiscal_year is not None:
        values["fiscal_year_spent_pct"] = facts.fiscal_year.spent_pct
        values["fiscal_year_elapsed_pct"] = facts.fiscal_year.elapsed_pct(facts.today)
    return _known(values, "project")


def _missed_in_a_row(cadence: Any, facts: ProjectFacts) -> int:
    count = 0
    for slot in reversed([s for s in cadence.slots if s.expected_at <= facts.now]):
        if not slot.missed:
            break
        count += 1
    return count


def milestone_values(facts: ProjectFacts, m: MilestoneFacts) -> dict[str, Any]:
    """Return the ``milestone.*`` fields of one milestone that are defined now."""
    values: dict[str, Any] = {
        "name": m.name, "origin": m.origin, "due": m.due, "baseline_due": m.baseline_due,
        "tool_due": m.tool_due, "slip_days": m.slip_days, "scope_items": m.scope_items,
        "baseline_scope_items": m.baseline_scope_items, "scope_growth_pct": m.scope_growth_pct,
        "open_items": m.open_items, "blocked_items": len(m.blocked),
        "unassigned_items": len(m.unassigned), "unestimated_items": len(m.unestimated),
        "days_to_due": (m.due - facts.today).days if m.due else None,
    }  # fmt: skip
    values |= _from(m.forecast, _FORECAST)
    p85 = m.forecast.forecast_p85 if m.forecast else None
    if p85 is not None and m.reference_due is not None:
        values["days_late"] = (p85 - m.reference_due).days
    return _known(values, "milestone")


def deliverable_values(facts: ProjectFacts, evm: EvmResult) -> dict[str, Any]:
    """Return the ``deliverable.*`` fields of one WBS node that are defined now."""
    values = {"code": evm.code, "name": evm.name, "owner": facts.deliverable_owners.get(evm.code)}
    return _known(values | _from(evm, _EVM), "deliverable")


def fields_markdown(scope: str) -> str:
    """Return the fields of one scope as a Markdown table (the ones in ``docs/rules.md``)."""
    lines = ["| field | type | meaning |", "| --- | --- | --- |"]
    lines += [
        f"| `{scope}.{name}` | {kind} | {text} |" for name, (kind, text) in FIELDS[scope].items()
    ]
    return "\n".join(lines) + "\n"
