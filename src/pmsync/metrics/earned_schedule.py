"""Earned schedule (Walt Lipke, 2003): schedule performance measured in time, not money.

SV and SPI in money converge to 0 and 1 at the end of every project, however
late; earned schedule asks instead *when* the value earned so far was planned
to be earned. With cumulative planned value ``PV_1 .. PV_PD`` at the end of
each period of the plan (PV_0 = 0 at its start), Lipke's ES = C + I, where C
is the number of whole periods already earned and I = (EV - PV_C) /
(PV_{C+1} - PV_C) the linear share of the next one. Where the PV curve is
flat (a holiday, a pause between work packages) and EV equals its level, ES is
the *earliest* time the plan reached that value: the work earned was planned
by then. ES is capped at the planned duration PD, reached when EV = BAC.

Periods are the working days of the plan (or calendar days when the plan is
spread over calendar days): AT counts them from the first planned start up to
and including the status date, PD up to the last planned finish. Then
SV(t) = ES - AT, SPI(t) = ES / AT, IEAC(t) = PD / SPI(t) and
TSPI = (PD - ES) / (PD - AT) (Lipke & Henderson, *Earned Schedule Training*, 2006).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import numpy.typing as npt

from pmsync.metrics.evm import PlanArrays, planned_value_curve
from pmsync.metrics.results import EarnedScheduleResult
from pmsync.metrics.workdays import CALENDAR_DAYS, to_date

Floats = npt.NDArray[np.float64]


def earned_schedule_periods(
    planned_value: Floats, periods: npt.NDArray[np.int64], earned_value: Floats
) -> Floats:
    """Return ES for many plans at once (``planned_value`` holds each plan's periods in turn).

    ``planned_value`` is cumulative PV at the end of each period, the plans one
    after another; ``periods`` says how many belong to each plan and
    ``earned_value`` is each plan's EV. Every plan needs at least one period.
    """
    periods = np.asarray(periods, dtype=np.int64)
    ev = np.asarray(earned_value, dtype=np.float64)
    if (periods < 1).any():
        raise ValueError("every plan needs at least one period")
    first = np.concatenate([[0], np.cumsum(periods)[:-1]])
    plan_of = np.repeat(np.arange(len(periods)), periods)
    # C: the periods whose cumulative PV is still below EV (so PV_{C+1} >= EV).
    whole = np.add.reduceat((planned_value < ev[plan_of]).astype(np.int64), first)
    capped = whole >= periods
    before = np.where(whole > 0, planned_value[first + np.maximum(whole - 1, 0)], 0.0)
    after = planned_value[first + np.minimum(whole, periods - 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(after > before, (ev - before) / (after - before), 0.0)
    es = np.where(capped, periods, whole + share.clip(0.0, 1.0))
    return np.where(ev > 0, es, 0.0).astype(np.float64)


def earned_schedule(
    plan: PlanArrays, earned_value: float, status_date: date
) -> EarnedScheduleResult | None:
    """Return the project's earned schedule at the status date (``None`` without a costed plan)."""
    days, curve = planned_value_curve(plan)
    if not len(days):
        return None
    working = plan.calendar.is_working(days)
    if not working.any():
        return None
    per_period = curve[working]
    per_period[-1] = curve[-1]  # anything due on a closing non-working day counts on the last
    pd = len(per_period)
    es = float(earned_schedule_periods(per_period, np.array([pd]), np.array([earned_value]))[0])
    start = days[working][0]
    at = float(max(int(plan.calendar.count(start, np.datetime64(status_date, "D") + 1)), 0))
    spi_t = es / at if at > 0 else None
    ieac = pd / spi_t if spi_t else None
    finish = None
    if ieac is not None and math.isfinite(ieac):
        finish = to_date(plan.calendar.add(start, max(math.ceil(ieac - 1e-9), 1) - 1))
    return EarnedScheduleResult(
        time_unit="calendar_days" if plan.calendar == CALENDAR_DAYS else "working_days",
        project_start=to_date(start),
        planned_finish=to_date(days[-1]),
        planned_duration=float(pd),
        actual_time=at,
        earned_schedule=es,
        schedule_variance_time=es - at,
        schedule_performance_index_time=spi_t,
        independent_eac_time=ieac,
        to_complete_schedule_performance_index=(pd - es) / (pd - at) if at < pd else None,
        forecast_finish_es=finish,
    )
