"""The business case: NPV, ROI and payback of the costs and benefits per year.

Conventions, as in Schwalbe's *Information Technology Project Management*
(Figure 4-5) and most business-case templates: year 0 is the year the project
starts and is not discounted; the amounts of year ``t`` are discounted by
``(1 + rate) ** t``. NPV = discounted benefits - discounted costs. ROI =
NPV / discounted costs (``simple_roi`` is the same on undiscounted sums).
Payback is the time until the cumulative net flow (undiscounted for
``payback_years``, discounted for ``discounted_payback_years``) is no longer
negative, with the flows of a year taken to arrive evenly over that year, so a
project that recovers 140,000 out of 148,800 in year 1 pays back after 0.94
years; it is ``None`` if the case never pays back. A company whose templates
discount the first year as well (a spreadsheet's NPV function) puts 0 in year
0 and starts its flows in year 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pmsync.metrics.inputs import BusinessCaseInputs, MetricInputError
from pmsync.metrics.results import BusinessCaseResult


def discount_factors(rate: float, years: int) -> npt.NDArray[np.float64]:
    """Return 1 / (1 + rate) ** t for t = 0 .. years - 1."""
    if not rate > -1:
        raise MetricInputError(f"a discount rate must be above -100 %, not {rate}")
    return np.power(1.0 + rate, -np.arange(years, dtype=np.float64))


def npv(rate: float, net_flows: npt.ArrayLike) -> float:
    """Return the net present value of yearly net flows (year 0 first, not discounted)."""
    flows = np.asarray(net_flows, dtype=np.float64)
    return float(flows @ discount_factors(rate, len(flows)))


def payback_years(net_flows: npt.ArrayLike) -> float | None:
    """Return when the cumulative net flow stops being negative, in (fractional) years."""
    flows = np.asarray(net_flows, dtype=np.float64)
    cumulative = np.cumsum(flows)
    recovered = np.flatnonzero(cumulative >= -1e-9)
    if not len(recovered):
        return None
    year = int(recovered[0])
    if year == 0:
        return 0.0
    # The deficit at the start of ``year`` is recovered evenly through that year.
    return year - 1 + float(-cumulative[year - 1] / flows[year])


def business_case(case: BusinessCaseInputs) -> BusinessCaseResult:
    """Return NPV, ROI and payback of the case."""
    costs = np.asarray(case.costs_by_year, dtype=np.float64)
    benefits = np.asarray(case.benefits_by_year, dtype=np.float64)
    if costs.shape != benefits.shape or costs.ndim != 1:
        raise MetricInputError("costs and benefits need one amount per year, the same years")
    if not (np.isfinite(costs).all() and np.isfinite(benefits).all()):
        raise MetricInputError("costs and benefits must be finite amounts")
    factor = discount_factors(case.discount_rate, len(costs))
    discounted_costs = float(costs @ factor)
    discounted_benefits = float(benefits @ factor)
    total_costs, total_benefits = float(costs.sum()), float(benefits.sum())
    net = benefits - costs
    return BusinessCaseResult(
        discount_rate=case.discount_rate,
        total_costs=total_costs,
        total_benefits=total_benefits,
        discounted_costs=discounted_costs,
        discounted_benefits=discounted_benefits,
        npv=discounted_benefits - discounted_costs,
        roi=(discounted_benefits - discounted_costs) / discounted_costs
        if discounted_costs > 0
        else None,
        simple_roi=(total_benefits - total_costs) / total_costs if total_costs > 0 else None,
        payback_years=payback_years(net),
        discounted_payback_years=payback_years(net * factor),
    )
