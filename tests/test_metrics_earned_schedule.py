"""Earned schedule (Lipke) against published examples, flat PV periods and the PD cap."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from pmsync.metrics import (
    ActualCostSeries,
    DeliverablePlan,
    EvmInputs,
    earned_schedule,
    earned_schedule_periods,
    plan_arrays,
)

MON = date(2026, 3, 2)  # a Monday


def es(curve: list[float], ev: float) -> float:
    return float(earned_schedule_periods(np.array(curve, float), np.array([len(curve)]), [ev])[0])


def test_es_counts_whole_periods_then_interpolates_as_in_lipkes_concept_figure() -> None:
    """Lipke, "Schedule is Different" (The Measurable News, 2003), as drawn in "Earned
    Schedule Concept" (earnedschedule.com): at the end of July (AT = 7) all the PV through May
    is earned and part of June, so ES = 5 + (EV - PV(May)) / (PV(June) - PV(May)),
    SV(t) = ES - AT and SPI(t) = ES / AT. The monthly PV figures below are ours.
    """
    cumulative_pv = [100, 250, 450, 700, 1000, 1300, 1600, 1900, 2150, 2350, 2500]  # Jan..Nov
    earned = es(cumulative_pv, 1150)
    assert earned == pytest.approx(5 + (1150 - 1000) / (1300 - 1000))  # 5.5 months
    assert earned - 7 == pytest.approx(-1.5)  # SV(t): a month and a half late
    assert earned / 7 == pytest.approx(0.7857, abs=1e-4)  # SPI(t)


def test_es_on_the_pra_curve_reads_the_delay_in_periods() -> None:
    """PRA's plan (10 / 20 / 40 / 70 / 100 % of 100,000 over five periods, 35 % earned at
    period 3, SPI = 0.875): by Lipke's rule ES = 2 + (35,000 - 20,000) / (40,000 - 20,000)
    = 2.75 periods, SPI(t) = 2.75 / 3 and IEAC(t) = PD / SPI(t) = 5 / 0.9167 = 5.45 periods.
    """
    earned = es([10_000, 20_000, 40_000, 70_000, 100_000], 35_000)
    assert earned == pytest.approx(2.75)
    assert 5 / (earned / 3) == pytest.approx(5.4545, abs=1e-4)


@pytest.mark.parametrize(
    ("curve", "ev", "expected"),
    [
        ([10, 20, 20, 20, 30], 20, 2.0),  # flat PV: the earliest time PV reached EV
        ([10, 20, 20, 20, 30], 25, 4.5),  # past the flat span, into the next rising period
        ([10, 20, 20, 20, 30], 15, 1.5),
        ([0, 0, 10, 20], 5, 2.5),  # nothing planned in the first two periods
        ([10, 20, 30], 0, 0.0),  # nothing earned
        ([10, 20, 30], 30, 3.0),  # EV = BAC: ES = PD
        ([10, 20, 30], 30.000001, 3.0),  # rounding above BAC is capped at PD
        ([10, 10, 10], 10, 1.0),  # all the value planned in the first period
    ],
)
def test_es_takes_the_earliest_time_pv_reaches_ev_and_is_capped_at_pd(
    curve: list[float], ev: float, expected: float
) -> None:
    assert es(curve, ev) == pytest.approx(expected)


def test_many_plans_at_once_give_what_each_gives_alone() -> None:
    curves = [[10, 20, 20, 20, 30], [100, 250, 450], [0, 0, 10, 20]]
    evs = [25.0, 300.0, 5.0]
    together = earned_schedule_periods(
        np.concatenate([np.array(c, float) for c in curves]),
        np.array([len(c) for c in curves]),
        np.array(evs),
    )
    assert together == pytest.approx([es(c, e) for c, e in zip(curves, evs, strict=True)])


def ten_day_plan(status: date, ev_share: float, spread: str = "working_days") -> EvmInputs:
    return EvmInputs(
        status_date=status,
        deliverables=[DeliverablePlan("1", None, MON, date(2026, 3, 13), 1000)],
        pct_complete={"1": ev_share},
        actual_cost_by_day=ActualCostSeries.empty(),
        spread=spread,  # type: ignore[arg-type]
    )


def test_a_late_project_in_working_days_with_its_forecast_finish() -> None:
    inputs = ten_day_plan(date(2026, 3, 9), 0.4)  # Monday of week 2: AT = 6, ES = 4
    result = earned_schedule(plan_arrays(inputs), 400, inputs.status_date)
    assert result is not None
    assert (result.planned_duration, result.actual_time, result.earned_schedule) == (10, 6, 4)
    assert result.schedule_variance_time == -2
    assert result.schedule_performance_index_time == pytest.approx(4 / 6)
    assert result.independent_eac_time == pytest.approx(15)
    assert result.forecast_finish_es == date(2026, 3, 20)  # the 15th working day
    assert result.to_complete_schedule_performance_index == pytest.approx(6 / 4)
    assert result.time_unit == "working_days"


def test_spi_in_money_forgets_a_late_finish_and_spi_in_time_does_not() -> None:
    inputs = ten_day_plan(date(2026, 3, 19), 1.0)  # done on working day 14 of a 10-day plan
    result = earned_schedule(plan_arrays(inputs), 1000, inputs.status_date)
    assert result is not None
    assert result.earned_schedule == 10 and result.actual_time == 14
    assert result.schedule_performance_index_time == pytest.approx(10 / 14)
    assert result.independent_eac_time == pytest.approx(14)
    assert result.to_complete_schedule_performance_index is None  # the planned finish passed


def test_before_the_start_spi_t_is_undefined() -> None:
    inputs = ten_day_plan(date(2026, 2, 27), 0.0)
    result = earned_schedule(plan_arrays(inputs), 0, inputs.status_date)
    assert result is not None
    assert (result.actual_time, result.earned_schedule) == (0, 0)
    assert result.schedule_performance_index_time is None
    assert result.independent_eac_time is None and result.forecast_finish_es is None


def test_calendar_days_count_the_weekend() -> None:
    inputs = ten_day_plan(date(2026, 3, 9), 0.5, spread="calendar_days")
    result = earned_schedule(plan_arrays(inputs), 500, inputs.status_date)
    assert result is not None
    assert result.time_unit == "calendar_days"
    assert (result.planned_duration, result.actual_time) == (12, 8)
    assert result.earned_schedule == pytest.approx(6)


def test_no_costed_plan_has_no_earned_schedule() -> None:
    inputs = EvmInputs(MON, [DeliverablePlan("1", None, None, None)], {})
    assert earned_schedule(plan_arrays(inputs), 0, MON) is None


def test_weekends_inside_a_plan_do_not_count_as_periods() -> None:
    two_weeks = [
        DeliverablePlan(
            str(i), None, MON + timedelta(weeks=i), MON + timedelta(weeks=i, days=4), 500
        )
        for i in range(2)
    ]
    inputs = EvmInputs(date(2026, 3, 10), two_weeks, {"0": 1.0})
    result = earned_schedule(plan_arrays(inputs), 500, inputs.status_date)
    assert result is not None
    assert (result.planned_duration, result.earned_schedule, result.actual_time) == (10, 5, 7)
