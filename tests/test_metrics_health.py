"""``project_health`` computes every figure from plain inputs; the catalogue names them all."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pmsync.metrics import (
    CATALOGUE,
    ActualCostSeries,
    BusinessCaseInputs,
    DeliverablePlan,
    EvmInputs,
    EvmResult,
    ForecastSettings,
    MilestonePlan,
    PersonWeekHours,
    ProjectInputs,
    StatusChanges,
    TeamInputs,
    catalogue_markdown,
    evm_table,
    metric,
    project_health,
)
from pmsync.metrics.results import (
    BusinessCaseResult,
    EarnedScheduleResult,
    MilestoneForecast,
    PersonWeekLoad,
    TeamHealth,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
MON = date(2026, 3, 2)
STATUS = date(2026, 3, 20)


def inputs(seed: int = 0) -> ProjectInputs:
    done = [
        (f"PAY-{i}", datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(days=i // 2), status)
        for i in range(30)
        for status in ("in_progress", "done")
    ]
    return ProjectInputs(
        key="PAY",
        evm=EvmInputs(
            status_date=STATUS,
            deliverables=[
                DeliverablePlan("1", None, None, None, 0, "Payments"),
                DeliverablePlan("1.1", "1", MON, date(2026, 3, 13), 10_000, "API"),
                DeliverablePlan("1.2", "1", date(2026, 3, 16), date(2026, 4, 3), 20_000, "UI"),
            ],
            pct_complete={"1.1": 1.0, "1.2": 0.2},
            actual_cost_by_day=ActualCostSeries.from_rows(
                [("1.1", MON + timedelta(days=d), 1_200) for d in range(12)]
                + [(None, date(2026, 3, 18), 500)]
            ),
        ),
        milestones=[
            MilestonePlan("Beta", date(2026, 4, 3), 12),
            MilestonePlan("GA", date(2026, 4, 30), 40),
        ],
        forecast=ForecastSettings(seed=seed, history_working_days=15),
        team=TeamInputs(
            changes=StatusChanges.from_rows(done),
            capacity_hours=[PersonWeekHours("ana", date(2026, 3, 16), 32)],
            booked_hours=[PersonWeekHours("ana", date(2026, 3, 16), 36)],
            window_working_days=15,
        ),
        business_case=BusinessCaseInputs(0.08, [30_000, 5_000, 5_000], [0, 40_000, 40_000]),
    )


def test_project_health_computes_every_part_from_plain_inputs() -> None:
    health = project_health(inputs())
    assert health.project == evm_table(inputs().evm)[0]
    assert [d.code for d in health.deliverables] == ["1", "1.1", "1.2"]
    assert health.project.actual_cost == 12 * 1_200 + 500
    assert health.schedule is not None and health.schedule.earned_schedule == pytest.approx(13)
    beta, ga = health.milestones
    assert beta.forecast_p50 and ga.forecast_p50 and beta.forecast_p50 < ga.forecast_p50
    assert beta.mean_throughput == pytest.approx(30 / 15)  # from the team's history
    assert health.team is not None and health.team.overloaded_person_weeks == 1
    assert health.business_case is not None and health.business_case.npv > 0
    assert health.cost_curve.planned_value.values[-1] == 30_000
    assert health.cost_curve.actual_cost.days[-1] == STATUS


def test_the_same_inputs_and_seed_give_the_same_figures() -> None:
    assert project_health(inputs(seed=3)).as_dict() == project_health(inputs(seed=3)).as_dict()


def test_as_dict_is_plain_json_without_nan_or_infinity() -> None:
    snapshot = project_health(inputs()).as_dict()
    text = json.dumps(snapshot, allow_nan=False)
    assert '"status_date": "2026-03-20"' in text
    assert snapshot["project"]["code"] == "" and snapshot["milestones"][0]["name"] == "Beta"


IDENTITY = {"code", "name", "parent", "eac_basis", "time_unit", "project_start", "planned_finish",
            "due", "trials", "note", "person", "week", "capacity_hours", "booked_hours",
            "overloaded", "discount_rate", "total_costs", "total_benefits", "discounted_costs",
            "discounted_benefits", "throughput_by_day", "throughput_by_week",
            "work_in_progress_by_day", "loads"}  # fmt: skip


@pytest.mark.parametrize(
    "result",
    [
        EvmResult,
        EarnedScheduleResult,
        MilestoneForecast,
        TeamHealth,
        PersonWeekLoad,
        BusinessCaseResult,
    ],
)
def test_every_figure_in_the_results_is_in_the_catalogue(result: type) -> None:
    names = {f.name for f in fields(result)} - IDENTITY
    assert names <= {m.name for m in CATALOGUE}, names - {m.name for m in CATALOGUE}


def test_every_catalogued_figure_is_documented_with_its_formula_and_source() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert catalogue_markdown() in docs, "regenerate the table in docs/metrics.md"
    for entry in CATALOGUE:
        assert entry.formula and entry.source and entry.unit and entry.meaning
        assert metric(entry.name) is entry


def test_an_unknown_metric_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="schedule_performance_index"):
        metric("spi")
