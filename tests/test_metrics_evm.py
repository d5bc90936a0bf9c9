"""Earned value (PMBOK) against published worked examples, its edge cases and the WBS roll-up."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from pmsync.metrics import (
    ActualCostSeries,
    DeliverablePlan,
    EvmInputs,
    EvmResult,
    MetricInputError,
    earned_value_indicators,
    evm_table,
)

MON = date(2026, 3, 2)  # a Monday


def plan(code: str, start: date, finish: date, cost: float, parent: str | None = None):
    return DeliverablePlan(code, parent, start, finish, cost)


def node(results: tuple[EvmResult, ...], code: str) -> EvmResult:
    return next(r for r in results if r.code == code)


def indicators(bac: float, pv: float, ev: float, ac: float) -> dict[str, float | None]:
    figures = earned_value_indicators(*(np.array([x], dtype=float) for x in (bac, pv, ev, ac)))
    return {k: None if np.isnan(v[0]) else float(v[0]) for k, v in figures.items()}


def test_one_activity_after_week_one_matches_schwalbe() -> None:
    """Schwalbe, *Information Technology Project Management* (Cengage), ch. 7, "Earned value
    calculations for one activity after week one": a web server planned for one week at
    $10,000; after week one $15,000 is spent and the work is half done. Published: EV =
    $5,000, PV = $10,000, AC = $15,000, CV = -$10,000, SV = -$5,000, CPI = 33 %, SPI = 50 %.
    """
    inputs = EvmInputs(
        status_date=date(2026, 3, 6),
        deliverables=[plan("1", MON, date(2026, 3, 6), 10_000)],
        pct_complete={"1": 0.5},
        actual_cost_by_day=ActualCostSeries.from_rows([("1", date(2026, 3, 6), 15_000)]),
    )
    web_server = node(evm_table(inputs), "1")
    assert (web_server.planned_value, web_server.earned_value, web_server.actual_cost) == (
        10_000,
        5_000,
        15_000,
    )
    assert (web_server.cost_variance, web_server.schedule_variance) == (-10_000, -5_000)
    assert web_server.cost_performance_index == pytest.approx(1 / 3)
    assert web_server.schedule_performance_index == pytest.approx(0.5)


def test_one_year_project_matches_schwalbe_exercise() -> None:
    """Schwalbe, ch. 7, exercise 1 (a one-year project), with the worked answer published at
    studylib.net/doc/9750501: PV = $23,000, EV = $20,000, AC = $25,000, BAC = $120,000 give
    CV = -5,000, SV = -3,000, CPI = 0.80, SPI = 0.87 (86.96 %) and EAC = BAC / CPI = 150,000.
    """
    f = indicators(bac=120_000, pv=23_000, ev=20_000, ac=25_000)
    assert (f["cost_variance"], f["schedule_variance"]) == (-5_000, -3_000)
    assert f["cost_performance_index"] == pytest.approx(0.80)
    assert f["schedule_performance_index"] == pytest.approx(0.8696, abs=1e-4)
    assert f["eac_at_current_cpi"] == pytest.approx(150_000)
    assert f["estimate_at_completion"] == pytest.approx(150_000)


def test_time_phased_plan_matches_pra_example() -> None:
    """R package PRA (Govan; after Damnjanovic & Reinschmidt, *Data Analytics for Engineering
    and Construction Project Risk Management*, Springer 2020), functions pv/ev/spi/cpi:
    BAC = 100,000 planned 10 / 20 / 40 / 70 / 100 % cumulative over five periods; at period 3
    with 35 % complete and AC = 36,000 the package prints PV = 40,000, EV = 35,000,
    SPI = 0.875 and CPI = 0.9722222. Periods are weeks here, each a work package of its own.
    """
    increments = [10_000, 10_000, 20_000, 30_000, 30_000]
    weeks = [
        plan(str(i + 1), MON + timedelta(weeks=i), MON + timedelta(weeks=i, days=4), cost)
        for i, cost in enumerate(increments)
    ]
    inputs = EvmInputs(
        status_date=date(2026, 3, 20),  # the end of week 3
        deliverables=weeks,
        pct_complete={"1": 1.0, "2": 1.0, "3": 0.75},  # 35,000 of 100,000 earned
        actual_cost_by_day=ActualCostSeries.from_rows([(None, date(2026, 3, 20), 36_000)]),
    )
    project = evm_table(inputs)[0]
    assert (project.planned_value, project.earned_value) == (40_000, 35_000)
    assert project.percent_complete == pytest.approx(0.35)
    assert project.schedule_performance_index == pytest.approx(0.875)
    assert project.cost_performance_index == pytest.approx(0.9722222, abs=1e-7)
    # PMBOK's third EAC, AC + (BAC - EV) / (CPI x SPI), on the same figures:
    assert project.eac_at_cpi_and_spi == pytest.approx(36_000 + 65_000 / (35 / 36 * 0.875))


def test_eac_and_tcpi_match_pra_reference_examples() -> None:
    """PRA reference pages eac() and tcpi(): BAC = 100,000 at CPI = 0.83 gives EAC (typical)
    = 120,481.9; AC = 63,000 and EV = 35,000 give EAC (atypical) = 128,000 and TCPI to BAC
    = 1.76. (EV = 41,500 and AC = 50,000 are chosen here to make CPI = 0.83.)
    """
    typical = indicators(bac=100_000, pv=50_000, ev=41_500, ac=50_000)
    assert typical["eac_at_current_cpi"] == pytest.approx(120_481.9, abs=0.05)
    atypical = indicators(bac=100_000, pv=50_000, ev=35_000, ac=63_000)
    assert atypical["eac_at_budgeted_rate"] == 128_000
    assert round(atypical["tcpi_to_bac"] or 0, 2) == 1.76


def test_linear_calendar_spread_matches_ms_project_bcws_example() -> None:
    """Microsoft Project, "BCWS fields": a $500 baseline cost spread evenly from June 1 to
    August 1 has a BCWS of $250 on July 1, "since the task should be half done"."""
    inputs = EvmInputs(
        status_date=date(2026, 7, 1),
        deliverables=[plan("1", date(2026, 6, 1), date(2026, 8, 1), 500)],
        pct_complete={},
        spread="calendar_days",
    )
    assert node(evm_table(inputs), "1").planned_value == pytest.approx(250)


@pytest.mark.parametrize(
    ("status", "holidays", "expected"),
    [
        (date(2026, 2, 27), (), 0.0),  # before the start
        (date(2026, 3, 4), (), 300.0),  # Mon..Wed: 3 of 10 working days
        (date(2026, 3, 8), (), 500.0),  # Sunday: flat over the weekend
        (date(2026, 3, 6), (date(2026, 3, 4),), 1000 * 4 / 9),  # a holiday is not worked
        (date(2026, 3, 13), (), 1000.0),  # the finish day
        (date(2026, 6, 1), (), 1000.0),  # long after
    ],
)
def test_planned_value_is_spread_linearly_over_working_days(
    status: date, holidays: tuple[date, ...], expected: float
) -> None:
    inputs = EvmInputs(
        status_date=status,
        deliverables=[plan("1", MON, date(2026, 3, 13), 1000)],
        pct_complete={},
        holidays=holidays,
    )
    assert node(evm_table(inputs), "1").planned_value == pytest.approx(expected)


def test_before_the_start_nothing_is_defined_but_the_budget() -> None:
    f = indicators(bac=1000, pv=0, ev=0, ac=0)
    assert f["schedule_performance_index"] is None and f["cost_performance_index"] is None
    assert f["eac_at_current_cpi"] is None and f["eac_at_cpi_and_spi"] is None
    assert f["estimate_at_completion"] == 1000  # falls back to AC + (BAC - EV)
    assert (f["estimate_to_complete"], f["variance_at_completion"]) == (1000, 0)
    assert f["tcpi_to_bac"] == 1 and f["tcpi_to_eac"] == 1


def test_money_spent_with_nothing_earned_forecasts_at_the_budgeted_rate() -> None:
    f = indicators(bac=1000, pv=200, ev=0, ac=150)
    assert f["cost_performance_index"] == 0 and f["schedule_performance_index"] == 0
    assert f["eac_at_current_cpi"] is None and f["eac_at_cpi_and_spi"] is None
    assert f["estimate_at_completion"] == 1150


def test_value_earned_with_no_cost_booked_leaves_cpi_undefined() -> None:
    f = indicators(bac=1000, pv=200, ev=100, ac=0)
    assert f["cost_performance_index"] is None
    assert f["estimate_at_completion"] == 900


def test_once_the_budget_is_earned_every_estimate_is_the_actual_cost() -> None:
    f = indicators(bac=1000, pv=1000, ev=1000, ac=1200)
    assert f["eac_at_current_cpi"] == f["eac_at_budgeted_rate"] == f["eac_at_cpi_and_spi"] == 1200
    assert (f["estimate_to_complete"], f["variance_at_completion"]) == (0, -200)
    assert f["tcpi_to_bac"] is None and f["tcpi_to_eac"] is None


def test_a_spent_budget_with_work_left_is_flagged_not_given_a_tcpi() -> None:
    f = indicators(bac=1000, pv=900, ev=600, ac=1000)
    assert f["tcpi_to_bac"] is None and f["budget_exhausted"] == 1


def test_tcpi_to_an_eac_at_current_cpi_is_that_cpi() -> None:
    f = indicators(bac=1000, pv=500, ev=400, ac=500)
    assert f["tcpi_to_eac"] == pytest.approx(f["cost_performance_index"])


def test_parents_sum_their_children_and_recompute_indices_from_the_sums() -> None:
    inputs = EvmInputs(
        status_date=date(2026, 3, 13),
        deliverables=[
            DeliverablePlan("1", None, None, None, 0, "Platform"),
            plan("1.1", MON, date(2026, 3, 13), 100, parent="1"),
            plan("1.2", MON, date(2026, 3, 13), 900, parent="1"),
            plan("2", MON, date(2026, 3, 27), 1000),
        ],
        pct_complete={"1.1": 0.5, "1.2": 1.0, "2": 0.25},
        actual_cost_by_day=ActualCostSeries.from_rows(
            [("1.1", MON, 100), ("1.2", MON, 600), ("2", MON, 300), (None, MON, 50)]
        ),
    )
    results = evm_table(inputs)
    platform, project = node(results, "1"), results[0]
    assert (platform.budget_at_completion, platform.earned_value, platform.actual_cost) == (
        1000,
        950,
        700,
    )
    # CPI of 1.1 is 0.5 and of 1.2 is 1.5: the parent's is 950 / 700, not their mean.
    assert platform.cost_performance_index == pytest.approx(950 / 700)
    assert platform.percent_complete == pytest.approx(0.95)
    assert (project.code, project.parent, node(results, "1.1").parent) == ("", None, "1")
    assert project.actual_cost == 1050  # the cost booked on no deliverable counts here
    assert project.earned_value == 1200 and project.budget_at_completion == 2000
    assert project.planned_value == pytest.approx(1000 + 500)


@pytest.mark.parametrize(
    ("deliverables", "pct", "costs", "message"),
    [
        ([plan("1", MON, MON, 1), plan("1", MON, MON, 1)], {}, [], "duplicate WBS codes"),
        ([plan("1.1", MON, MON, 1, parent="9")], {}, [], "parent is not in the WBS"),
        (
            [plan("1", MON, MON, 1, parent="2"), plan("2", MON, MON, 1, parent="1")],
            {},
            [],
            "cycle",
        ),
        ([DeliverablePlan("1", None, None, MON, 10)], {}, [], "need a planned start"),
        ([plan("1", date(2026, 3, 9), MON, 1)], {}, [], "finish before they start"),
        ([plan("1", MON, MON, -5)], {}, [], "finite and >= 0"),
        ([plan("1", MON, MON, 1)], {"1": 1.5}, [], "fraction 0..1"),
        ([plan("1", MON, MON, 1)], {"7": 0.5}, [], "not in the WBS"),
        ([plan("1", MON, MON, 1)], {}, [("7", MON, 10.0)], "not in the plan"),
    ],
)
def test_inconsistent_plans_are_refused_with_the_reason(
    deliverables: list[DeliverablePlan],
    pct: dict[str, float],
    costs: list[tuple[str, date, float]],
    message: str,
) -> None:
    inputs = EvmInputs(MON, deliverables, pct, ActualCostSeries.from_rows(costs))
    with pytest.raises(MetricInputError, match=message):
        evm_table(inputs)


def test_cost_after_the_status_date_is_not_actual_yet() -> None:
    inputs = EvmInputs(
        status_date=date(2026, 3, 4),
        deliverables=[plan("1", MON, date(2026, 3, 13), 1000)],
        pct_complete={"1": 0.3},
        actual_cost_by_day=ActualCostSeries(
            deliverable=np.array(["1", "1"]),
            day=np.array(["2026-03-04", "2026-03-05"], dtype="datetime64[D]"),
            amount=np.array([200.0, 999.0]),
        ),
    )
    assert evm_table(inputs)[0].actual_cost == 200
