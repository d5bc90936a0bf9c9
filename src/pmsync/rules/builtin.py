"""The built-in rules: what a PM watches, one row each, on by default.

Every row names the rule (the alert's ``rule`` and its key in ``rules.yaml``,
where its thresholds live, overridable per project), what it is about, what
it reads, how the thresholds judge it, what the alert says and what the PM
could do. The behaviour is in ``declare.walk`` and in one ``observe``
function per rule (``observe_plan``, ``observe_team``). ``docs/rules.md``
describes this table; a test keeps the two in step.
"""

from __future__ import annotations

from pmsync.alerts import Finding
from pmsync.rules import observe_plan as plan
from pmsync.rules import observe_team as team
from pmsync.rules.declare import ANNUAL, AT_LEAST, BELOW, FIXED, WITHIN, BuiltinRule, walk
from pmsync.rules.facts import ProjectFacts

_r = BuiltinRule  # short, so that each entry reads as one row of the table

# fmt: off
BUILTIN_RULES: tuple[BuiltinRule, ...] = (
    # --- schedule -------------------------------------------------------------------------
    _r("milestone_slip", "Milestone slips against its baseline", "milestone",
       "P85 forecast of the milestone (metrics); its due date in the baseline, the project "
       "file and the tools (plan)", AT_LEAST,
       "Milestone {milestone} is {days} days late against its {basis} {reference} ({why})",
       "Agree a new date with the sponsor, or cut or re-plan the scope; start with the "
       "blocked items.", plan.milestone_slip, "days"),
    _r("milestone_overdue", "Milestone overdue", "milestone",
       "due date (plan), open items", AT_LEAST,
       "Milestone {milestone} is {days} days past its due date {due} with {open} items open",
       "Decide with the sponsor: ship what is done, or approve a new date.",
       plan.milestone_overdue, "days"),
    _r("due_probability_low", "Low probability of meeting a due date", "milestone",
       "Monte Carlo probability of finishing by the due date (metrics)", BELOW,
       "Milestone {milestone} has a {chance} chance of being done by {due}",
       "Reduce the milestone's scope or add capacity now, while there is time.",
       plan.due_probability_low, "probability"),
    _r("spi_t_low", "Schedule performance SPI(t) low", "project",
       "earned schedule: SPI(t) = ES / AT (metrics)", BELOW,
       "{name}: SPI(t) is {index}, {behind} {unit} behind the plan",
       "Find the deliverables behind plan and re-plan or add capacity.",
       plan.spi_t_low, "ratio"),
    _r("spi_low", "Schedule performance SPI low (off by default)", "project",
       "earned value: SPI = EV / PV (metrics)", BELOW,
       "{name}: SPI is {index}",
       "Find the deliverables behind plan and re-plan or add capacity.",
       plan.spi_low, "ratio"),
    _r("no_throughput", "No throughput while work is in progress", "project",
       "items finished per working day, work in progress (metrics)", AT_LEAST,
       "{name}: nothing finished for {days} working days with {wip} items in progress",
       "Ask the team what is stuck; finish started work before starting more.",
       plan.no_throughput, "working days"),
    # --- cost -----------------------------------------------------------------------------
    _r("cpi_low", "Cost performance CPI low", "project",
       "earned value: CPI = EV / AC (metrics)", BELOW,
       "{name}: CPI is {index} ({cents} cents of value per unit spent)",
       "Review the rate card, the hours booked and the scope with the team; "
       "update the forecast for the sponsor.", plan.cpi_low, "ratio"),
    _r("eac_over_budget", "Forecast overrun", "project",
       "VAC / BAC: estimate at completion against the budget (metrics)", AT_LEAST,
       "{name}: forecast cost {eac} is {over} % over the budget of {bac}",
       "Tell the sponsor; agree on a budget change or scope cuts.",
       plan.eac_over_budget, "% of BAC"),
    _r("tcpi_unrealistic", "To-complete performance unrealistic", "project",
       "TCPI (BAC) = (BAC - EV) / (BAC - AC) (metrics)", AT_LEAST,
       "{name}: staying in budget would need {needed} for the rest of the work",
       "Stop planning to the original budget: re-baseline with a realistic EAC.",
       plan.tcpi_unrealistic, "ratio"),
    _r("spend_ahead_of_progress", "Spend ahead of progress", "project",
       "AC / BAC against EV / BAC (metrics)", AT_LEAST,
       "{name}: {spent} % of the budget spent for {done} % of the work",
       "Check what the money went to; slow spending until progress catches up.",
       plan.spend_ahead_of_progress, "points"),
    _r("annual_budget_overrun", "Annual budget burning ahead of the year", "project",
       "actual cost in the fiscal year (plan), annual_budgets (project file)", ANNUAL,
       "{name}: {spent} % of the {year} budget spent with {elapsed} % of the year gone",
       "Re-phase spending with finance, or ask for a budget transfer.",
       plan.annual_budget_overrun, "% of the annual budget"),
    # --- scope and plan -------------------------------------------------------------------
    _r("scope_growth", "Scope growth against the baseline", "milestone",
       "milestone scope (items) now and in the baseline (plan)", AT_LEAST,
       "Milestone {milestone}: scope grew {growth} % since the baseline ({then} to {now} items)",
       "Take the new scope to change control, or move it to a later milestone.",
       plan.scope_growth, "%"),
    _r("unapproved_plan_change", "Unapproved plan change", "project",
       "plan changes since the latest baseline (plan)", FIXED,
       "{count} plan change(s) since the baseline are not approved (first: {first})",
       "Review the changes with the sponsor and approve them: pmsync baseline set.",
       plan.unapproved_plan_change),
    # --- the work ------------------------------------------------------------------------
    _r("blocked_items", "Blocked items", "project",
       "open items blocked (status, label or flag) and since when (tools)", AT_LEAST,
       "{count} item(s) blocked for {least}+ days; {oldest} for {days} days",
       "Escalate the blockers; ask the owners what they need.", team.blocked_items, "days"),
    _r("ageing_items", "Ageing work in progress", "project",
       "open items in progress and since when (tools)", AT_LEAST,
       "{count} item(s) in progress for {least}+ days; {oldest} for {days} days",
       "Ask what stops these items; split them or swarm on them.", team.ageing_items, "days"),
    _r("unassigned_near_due", "Unassigned items close to a due date", "milestone",
       "open items without an assignee in a milestone, its due date (tools, plan)", WITHIN,
       "Milestone {milestone} is due {when} with {count} unassigned item(s)",
       "Assign an owner to each item, or move it out of the milestone.",
       team.unassigned_near_due, "days before due"),
    _r("unestimated_near_due", "Unestimated items close to a due date", "milestone",
       "open items without points or estimates (per progress_by) in a milestone", WITHIN,
       "Milestone {milestone} is due {when} with {count} unestimated item(s)",
       "Estimate the items so that progress and the forecast count them.",
       team.unestimated_near_due, "days before due"),
    # --- risks ----------------------------------------------------------------------------
    _r("risk_exposure_high", "Risk exposure above threshold", "project",
       "probability x impact of the open risks (register), the budget", AT_LEAST,
       "{name}: open risk exposure {total} is {pct} % of the budget ({count} risks)",
       "Review the top risks' responses; consider a contingency reserve.",
       team.risk_exposure_high, "% of BAC"),
    _r("risk_review_overdue", "Risk review overdue", "risk",
       "next review date of each open risk (register)", AT_LEAST,
       "The review of risk {risk} ({title}) is {days} days overdue; owner {owner}",
       "Review the risk with its owner and set the next review date.",
       team.risk_review_overdue, "days"),
    # --- people and meetings -----------------------------------------------------------------
    _r("missing_status_meeting", "Meeting missing from the cadence", "meeting",
       "the project's meeting cadence and its calendar events (meetings)", AT_LEAST,
       "No {kind} for {days} days: {missed} missed in a row since {expected}",
       "Put the meeting back on the calendar; tell the team and the sponsor.",
       team.missing_status_meeting, "days"),
    _r("key_people_on_leave", "Key people on leave in a milestone's final days", "person",
       "leave of the manager, deliverable owners and accountable people (calendars)", AT_LEAST,
       "{person} ({role}) is on leave for {pct} % of milestone {milestone}'s final {days} "
       "working days ({first} to {due})",
       "Agree a stand-in and a hand-over before the leave starts.",
       team.key_people_on_leave, "% of the final days"),
    _r("overload", "Person overloaded", "person",
       "hours booked or assigned against hours available this week (metrics, calendars)",
       AT_LEAST, "{person} is booked at {pct} % of capacity in the week of {week}",
       "Re-assign work or move it to a later week.", team.overload, "% of capacity"),
    # --- data -----------------------------------------------------------------------------
    _r("sync_failing", "Source failing", "source",
       "sync runs of the source (store)", AT_LEAST,
       "Source {source} has been failing since {since} ({streams}): {error}",
       "Check the source's credentials and reachability: pmsync config validate --online.",
       team.sync_failing, "days"),
    _r("source_stale", "Source stale", "source",
       "the last successful sync of the source, its sync interval (store, sources.yaml)",
       AT_LEAST, "Data from {source} is stale: {how}",
       "Do not trust this project's figures until the source syncs again; see pmsync status.",
       team.source_stale, "sync intervals"),
)
# fmt: on

BY_NAME: dict[str, BuiltinRule] = {rule.name: rule for rule in BUILTIN_RULES}


def builtin_findings(facts: ProjectFacts) -> list[Finding]:
    """Return what the built-in rules find in one project's facts."""
    return walk(facts, BUILTIN_RULES)


def _defaults(name: str) -> str:
    from pmsync.config.rules import BuiltinRules

    settings = getattr(BuiltinRules(), name).model_dump()
    enabled = settings.pop("enabled")
    text = ", ".join(
        f"`{k}` {v:g}" if isinstance(v, float) else f"`{k}` {v}" for k, v in settings.items()
    )
    return text if enabled else f"off by default ({text})"


def rules_markdown() -> str:
    """Return the table of built-in rules as Markdown (the one in ``docs/rules.md``)."""
    lines = [
        "| rule | what it watches | about | reads | defaults (`rules.yaml`) | fires when |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in BUILTIN_RULES:
        unit = f" ({r.unit})" if r.unit else ""
        lines.append(
            f"| `{r.name}` | {r.title} | {r.subject} | {r.inputs} | {_defaults(r.name)}{unit} "
            f"| {r.judge.fires_when} |"
        )
    return "\n".join(lines) + "\n"
