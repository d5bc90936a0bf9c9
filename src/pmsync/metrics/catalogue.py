"""The metric catalogue: every figure pmsync computes, declared once.

Rules reference these names (a custom rule says
``schedule_performance_index_time < 0.9``), reports label their columns with
the symbols and units, and ``docs/metrics.md`` is checked against this table,
so a figure cannot exist in one place and be missing in another. Each entry
says what the figure means in the PM's words, its formula, its unit, whether
higher is better (``None``: neither, e.g. a budget or a date), where it is
defined and when it is left undefined (``None`` in the results).
"""

from __future__ import annotations

from dataclasses import dataclass

PMBOK = "PMI, PMBOK Guide, 6th ed. (2017), 7.4.2.2 and Table 7-1"
PMBOK_EAC = "PMI, PMBOK Guide, 6th ed. (2017), 7.4.2.2 (EAC forecasts)"
LIPKE = "Lipke, 'Schedule is Different', The Measurable News, March 2003"
LIPKE_TRAINING = "Lipke & Henderson, 'Earned Schedule Training', EVA-11, 2006"
PRACTICE_STANDARD = "PMI, Practice Standard for Earned Value Management, 2nd ed. (2011), App. D"
MONTE_CARLO = "Magennis, 'Forecasting and Simulating Software Development Projects' (2011)"
FLOW = "Vacanti, 'Actionable Agile Metrics for Predictability' (2015)"
SCHWALBE = "Schwalbe, 'Information Technology Project Management', 8th ed. (2016), Fig. 4-5"

EVM_LEVELS = ("project", "deliverable")


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure: its name in rules and results, and what it means."""

    name: str
    symbol: str
    meaning: str
    formula: str
    unit: str
    higher_is_better: bool | None
    source: str
    subjects: tuple[str, ...]
    undefined_when: str = ""


_m = Metric  # short, so that each entry reads as one row of the table

# Positional fields: name, symbol, meaning, formula, unit, higher_is_better, source, subjects.
# fmt: off
CATALOGUE: tuple[Metric, ...] = (
    # --- earned value (PMBOK) ---------------------------------------------------------
    _m("budget_at_completion", "BAC", "The approved budget for all the work.",
       "sum of planned costs", "currency", None, PMBOK, EVM_LEVELS),
    _m("planned_value", "PV", "The budget of the work planned to be done by the status date.",
       "planned cost x share of its working days elapsed", "currency", None, PMBOK, EVM_LEVELS),
    _m("earned_value", "EV", "The budget of the work actually done.",
       "BAC x fraction complete", "currency", True, PMBOK, EVM_LEVELS),
    _m("actual_cost", "AC", "What the work done so far has cost.",
       "sum of costs dated up to the status date", "currency", None, PMBOK, EVM_LEVELS),
    _m("percent_complete", "% complete", "How much of the budgeted work is done.",
       "EV / BAC", "fraction", True, PMBOK, EVM_LEVELS, undefined_when="BAC = 0"),
    _m("schedule_variance", "SV", "Value of work ahead (+) or behind (-) the plan.",
       "EV - PV", "currency", True, PMBOK, EVM_LEVELS),
    _m("cost_variance", "CV", "Under (+) or over (-) budget for the work done.",
       "EV - AC", "currency", True, PMBOK, EVM_LEVELS),
    _m("schedule_performance_index", "SPI", "Work done per unit of work planned.",
       "EV / PV", "ratio", True, PMBOK, EVM_LEVELS, undefined_when="PV = 0 (nothing planned yet)"),
    _m("cost_performance_index", "CPI", "Value earned per unit of money spent.",
       "EV / AC", "ratio", True, PMBOK, EVM_LEVELS, undefined_when="AC = 0 (no cost booked yet)"),
    _m("estimate_at_completion", "EAC", "The expected total cost: EAC at current CPI, or at the "
       "budgeted rate while CPI is undefined (see eac_basis).",
       "BAC / CPI, else AC + (BAC - EV)", "currency", False, PMBOK_EAC, EVM_LEVELS),
    _m("eac_at_current_cpi", "EAC (CPI)", "Total cost if the rest costs what the work so far did.",
       "BAC / CPI", "currency", False, PMBOK_EAC, EVM_LEVELS,
       undefined_when="EV = 0 or AC = 0, until the work is done (then AC)"),
    _m("eac_at_budgeted_rate", "EAC (budget)", "Total cost if the rest costs what was budgeted.",
       "AC + (BAC - EV)", "currency", False, PMBOK_EAC, EVM_LEVELS),
    _m("eac_at_cpi_and_spi", "EAC (CPI x SPI)",
       "Total cost if cost and schedule pressure both carry on.",
       "AC + (BAC - EV) / (CPI x SPI)", "currency", False, PMBOK_EAC, EVM_LEVELS,
       undefined_when="CPI or SPI undefined or 0, until the work is done (then AC)"),
    _m("estimate_to_complete", "ETC", "The expected cost of the work remaining.",
       "EAC - AC", "currency", False, PMBOK, EVM_LEVELS),
    _m("variance_at_completion", "VAC", "Expected under (+) or over (-) spend at the end.",
       "BAC - EAC", "currency", True, PMBOK, EVM_LEVELS),
    _m("tcpi_to_bac", "TCPI (BAC)", "Cost efficiency the rest needs to finish within budget.",
       "(BAC - EV) / (BAC - AC)", "ratio", False, PMBOK, EVM_LEVELS,
       undefined_when="the work is done, or the budget is spent (budget_exhausted)"),
    _m("tcpi_to_eac", "TCPI (EAC)", "Cost efficiency the rest needs to finish at the EAC.",
       "(BAC - EV) / (EAC - AC)", "ratio", False, PMBOK, EVM_LEVELS,
       undefined_when="the work is done, or ETC <= 0"),
    _m("budget_exhausted", "budget exhausted", "The budget is spent but work remains.",
       "AC >= BAC and EV < BAC", "flag", False, PMBOK, EVM_LEVELS),
    # --- earned schedule (Lipke) ------------------------------------------------------
    _m("planned_duration", "PD", "Working days from the first planned start to the last finish.",
       "working days of the plan", "working days", None, LIPKE, ("project",)),
    _m("actual_time", "AT", "Working days from the planned start to the status date.",
       "working days elapsed", "working days", None, LIPKE, ("project",)),
    _m("earned_schedule", "ES", "How far into the plan the work done was due.",
       "C + (EV - PV_C) / (PV_C+1 - PV_C), earliest time, capped at PD", "working days", True,
       LIPKE, ("project",)),
    _m("schedule_variance_time", "SV(t)", "Working days ahead (+) or behind (-) the plan.",
       "ES - AT", "working days", True, LIPKE, ("project",)),
    _m("schedule_performance_index_time", "SPI(t)", "Schedule earned per day spent.",
       "ES / AT", "ratio", True, LIPKE, ("project",), undefined_when="AT = 0 (not started)"),
    _m("independent_eac_time", "IEAC(t)", "Expected total duration at the current pace.",
       "PD / SPI(t)", "working days", False, PRACTICE_STANDARD, ("project",),
       undefined_when="SPI(t) undefined or 0"),
    _m("to_complete_schedule_performance_index", "TSPI",
       "Schedule efficiency the rest needs to finish on the planned date.",
       "(PD - ES) / (PD - AT)", "ratio", False, LIPKE_TRAINING, ("project",),
       undefined_when="AT >= PD (the planned finish has passed)"),
    _m("forecast_finish_es", "finish (ES)", "The finish date IEAC(t) points to.",
       "planned start + IEAC(t) working days", "date", False, LIPKE, ("project",),
       undefined_when="IEAC(t) undefined"),
    # --- milestone forecasts ----------------------------------------------------------
    _m("remaining_items", "remaining", "Work items of the milestone not done yet.",
       "count of open items", "items", False, MONTE_CARLO, ("milestone",)),
    _m("mean_throughput", "throughput", "Items finished per working day in the history.",
       "items done / working days (zero days included)", "items per day", True, MONTE_CARLO,
       ("milestone",), undefined_when="no history"),
    _m("forecast_p50", "P50", "Finish date reached in half of the simulated futures.",
       "50th percentile of 10,000+ throughput simulations", "date", False, MONTE_CARLO,
       ("milestone",), undefined_when="no throughput, or beyond the five-year horizon"),
    _m("forecast_p85", "P85", "Finish date reached in 85 % of the simulated futures.",
       "85th percentile of the simulations", "date", False, MONTE_CARLO, ("milestone",),
       undefined_when="no throughput, or beyond the five-year horizon"),
    _m("forecast_p95", "P95", "Finish date reached in 95 % of the simulated futures.",
       "95th percentile of the simulations", "date", False, MONTE_CARLO, ("milestone",),
       undefined_when="no throughput, or beyond the five-year horizon"),
    _m("probability_on_time", "P(on time)", "Chance of finishing by the due date.",
       "share of simulations done by the due date", "probability", True, MONTE_CARLO,
       ("milestone",), undefined_when="no due date, no throughput, or nothing left"),
    _m("linear_forecast_finish", "finish (linear)", "Finish date at the average pace.",
       "remaining / mean throughput, with leave", "date", False, MONTE_CARLO, ("milestone",),
       undefined_when="no throughput"),
    # --- team -------------------------------------------------------------------------
    _m("throughput_per_day", "throughput/day", "Items finished per working day in the window.",
       "items done / working days", "items per day", True, FLOW, ("team",)),
    _m("throughput_per_week", "throughput/week", "Items finished per week in the window.",
       "throughput per day x working days per week", "items per week", True, FLOW, ("team",)),
    _m("cycle_time_median_days", "cycle time P50", "Typical time from start to done.",
       "median of (done - first in progress)", "days", False, FLOW, ("team",),
       undefined_when="no item finished in the window"),
    _m("cycle_time_p85_days", "cycle time P85", "85 % of items finish within this time.",
       "85th percentile (nearest rank)", "days", False, FLOW, ("team",),
       undefined_when="no item finished in the window"),
    _m("cycle_time_items", "items timed", "Items finished in the window with a cycle time.",
       "count", "items", None, FLOW, ("team",)),
    _m("work_in_progress", "WIP", "Items in progress at the end of the status date.",
       "count of items in_progress", "items", False, FLOW, ("team",)),
    _m("load", "load", "A person's booked hours over the hours they can work that week.",
       "booked hours / capacity hours", "ratio", False, FLOW, ("person",),
       undefined_when="capacity is 0 (overloaded if anything is booked)"),
    _m("overloaded_person_weeks", "overloaded", "Person-weeks booked above capacity.",
       "count of load > 1", "count", False, FLOW, ("team",)),
    # --- business case ----------------------------------------------------------------
    _m("npv", "NPV", "What the case is worth today.",
       "sum of (benefits - costs) / (1 + rate)^year, year 0 undiscounted", "currency", True,
       SCHWALBE, ("business_case",)),
    _m("roi", "ROI", "Return on the discounted costs.",
       "(discounted benefits - discounted costs) / discounted costs", "fraction", True,
       SCHWALBE, ("business_case",), undefined_when="no costs"),
    _m("simple_roi", "ROI (undiscounted)", "Return on the costs, not discounted.",
       "(benefits - costs) / costs", "fraction", True, SCHWALBE, ("business_case",),
       undefined_when="no costs"),
    _m("payback_years", "payback", "Years until the benefits have repaid the costs.",
       "first year cumulative net flow >= 0, interpolated", "years", False, SCHWALBE,
       ("business_case",), undefined_when="never pays back"),
    _m("discounted_payback_years", "discounted payback", "Payback on discounted flows.",
       "as payback, on discounted flows", "years", False, SCHWALBE, ("business_case",),
       undefined_when="never pays back"),
)
# fmt: on

BY_NAME: dict[str, Metric] = {metric.name: metric for metric in CATALOGUE}


def metric(name: str) -> Metric:
    """Return the catalogue entry of a metric; raise ``KeyError`` naming the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {sorted(BY_NAME)}") from None


def catalogue_markdown() -> str:
    """Return the catalogue as a Markdown table (the one in ``docs/metrics.md``)."""
    better = {True: "higher", False: "lower", None: "—"}
    lines = [
        "| name | symbol | what it says | formula | unit | better | undefined when | source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in CATALOGUE:
        lines.append(
            f"| `{m.name}` | {m.symbol} | {m.meaning} | {m.formula} | {m.unit} | "
            f"{better[m.higher_is_better]} | {m.undefined_when or '—'} | {m.source} |"
        )
    return "\n".join(lines) + "\n"
