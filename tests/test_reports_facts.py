"""The report contract: facts equal the metrics, JSON matches its golden file and its schema.

Two goldens: the hand-built sample (``pmsync.reports.sample``) and the facts
``collect_project`` produces from a fixed configuration, store and metrics
result at a fixed status date, on SQLite and PostgreSQL. Regenerate them after
an intended change with ``PMSYNC_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from pmsync.config import Config, load_config
from pmsync.connectors import load_connectors
from pmsync.metrics import (
    ActualCostSeries,
    BusinessCaseInputs,
    DeliverablePlan,
    EvmInputs,
    MilestonePlan,
    ProjectHealth,
    ProjectInputs,
    project_health,
)
from pmsync.reports.collect import NoMetrics, collect_project
from pmsync.reports.facts import EarnedValue, ProjectReport, Unavailable
from pmsync.reports.from_metrics import HealthMetrics
from pmsync.reports.render_json import to_data, to_json
from pmsync.reports.sample import sample_project, write_sample_config
from pmsync.reports.schema import report_json_schema
from pmsync.store import Store

GOLDEN = Path(__file__).parent / "golden" / "reports"
AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def check_golden(name: str, text: str) -> None:
    """Compare with the golden file (rewrite it with PMSYNC_UPDATE_GOLDEN=1)."""
    path = GOLDEN / name
    if os.environ.get("PMSYNC_UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8")), f"{name} changed"


def validate(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "$") -> None:
    """A small JSON Schema check: $ref, anyOf/oneOf, enum, type, properties, items."""
    if "$ref" in schema:
        return validate(value, root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root, where)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            errors = []
            for option in schema[key]:
                try:
                    validate(value, option, root, where)
                    return None
                except AssertionError as err:
                    errors.append(str(err))
            raise AssertionError(f"{where}: no option of {key} fits: {errors[:3]}")
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
        return None
    kind = schema.get("type")
    types: dict[str, Any] = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
             "null": type(None), "object": dict, "array": list}  # fmt: skip
    if kind:
        assert isinstance(value, types[kind]), f"{where}: {value!r} is not {kind}"
    if kind == "object" and "properties" in schema:
        assert set(value) == set(schema["required"]), f"{where}: keys {sorted(value)}"
        for name, sub in schema["properties"].items():
            validate(value[name], sub, root, f"{where}.{name}")
    if kind == "object" and "additionalProperties" in schema and "properties" not in schema:
        for name, item in value.items():
            validate(item, schema["additionalProperties"], root, f"{where}.{name}")
    if kind == "array":
        for i, item in enumerate(value):
            validate(item, schema["items"], root, f"{where}[{i}]")
    return None


def test_sample_report_json_is_golden_and_valid() -> None:
    report = sample_project(3)
    text = to_json(report)
    check_golden("sample_project.json", text)
    schema = report_json_schema()
    validate(json.loads(text), schema, schema)


def test_a_missing_section_says_why_instead_of_showing_a_number() -> None:
    data = to_data(Unavailable("earned value needs the metrics"))
    assert data == {"reason": "earned value needs the metrics", "available": False}
    schema = report_json_schema()
    broken = json.loads(to_json(sample_project(1)))
    broken["earned_value"] = {"available": False, "spi": 0.5}
    with pytest.raises(AssertionError):
        validate(broken, schema, schema)


def test_a_series_points_read_as_any_other_facts_do() -> None:
    """A series' points skip the generic walk (most of a report's objects are points): the
    data are the same, for the odd point too (a whole number, an instant, not a number)."""
    from pmsync.reports import render_json
    from pmsync.reports.facts import Point, Series

    day = date(2026, 3, 2)
    odd = Series("AC", "actual", (
        Point(day, 1 / 3), Point(day, 7), Point(NOW, 2.5), Point(day, float("nan")),  # type: ignore[arg-type]
        Point(day, -0.0000004),
    ))  # fmt: skip
    walked = {name: render_json.to_data(getattr(odd, name)) for name in ("name", "style")}
    walked["points"] = [
        {"day": render_json.to_data(p.day), "value": render_json.to_data(p.value)}
        for p in odd.points
    ]
    fast = to_data(odd)
    assert json.dumps(fast) == json.dumps(walked)
    assert fast["points"][0] == {"day": "2026-03-02", "value": 0.333333}
    assert fast["points"][1]["value"] == 7 and type(fast["points"][1]["value"]) is int
    assert fast["points"][2]["day"] == "2026-03-02T07:00:00Z"
    assert (
        to_json(sample_project(3))
        == json.dumps(_walk(sample_project(3)), indent=2, ensure_ascii=False) + "\n"
    )


def test_a_report_pickled_for_the_drawing_processes_comes_back_equal() -> None:
    """Series cross to the worker processes as columns; a point of an odd kind as it is."""
    import pickle

    from pmsync.reports.facts import Point, Series

    report = sample_project(3)
    assert pickle.loads(pickle.dumps(report)) == report
    day = date(2026, 3, 2)
    for series in (
        Series("AC", "actual", (Point(day, 1 / 3), Point(day, 7))),  # type: ignore[arg-type]
        Series("AC", "actual", (Point(day, 1.0), Point(NOW, 2.0))),
        Series("none", "plan", ()),
    ):
        back = pickle.loads(pickle.dumps(series))
        assert back == series
        assert [(type(p.day), type(p.value)) for p in back.points] == [
            (type(p.day), type(p.value)) for p in series.points
        ]


def _walk(value: Any) -> Any:
    """Return the facts as JSON data by the generic walk alone (dataclass fields in order)."""
    import dataclasses

    from pmsync.reports import render_json

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _walk(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_walk(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _walk(v) for k, v in sorted(value.items())}
    return render_json.to_data(value)


def health() -> ProjectHealth:
    """The metrics of the sample project, computed by pmsync.metrics from fixed inputs."""
    evm = EvmInputs(
        status_date=AS_OF,
        deliverables=[
            DeliverablePlan("1", None, None, None, 0.0, "Payments"),
            DeliverablePlan("1.1", "1", date(2026, 1, 5), date(2026, 4, 24), 60000.0, "Gateway"),
            DeliverablePlan("1.2", "1", date(2026, 2, 2), date(2026, 6, 26), 40000.0, "Reports"),
        ],
        pct_complete={"1.1": 0.5, "1.2": 0.1},
        actual_cost_by_day=ActualCostSeries.from_rows([
            ("1.1", date(2026, 1, 10), 10000.0), ("1.1", date(2026, 2, 10), 15000.0),
            ("1.2", date(2026, 2, 20), 6000.0), ("1.2", date(2026, 3, 1), 2000.0),
        ]),
    )  # fmt: skip
    inputs = ProjectInputs(
        "PAY",
        evm,
        milestones=[
            MilestonePlan("Beta", date(2026, 3, 12), 20, [1, 0, 2, 1, 0, 1, 1, 0, 2, 1]),
            MilestonePlan("Launch", date(2026, 6, 20), 40, [1, 0, 2, 1, 0, 1, 1, 0, 2, 1]),
        ],
        business_case=BusinessCaseInputs.from_years(
            0.07, {0: 100000}, {1: 50000, 2: 50000, 3: 50000}
        ),
    )
    return project_health(inputs)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_sample_config(tmp_path / "config"), load_connectors())


def collect(config: Config, store: Store, metrics: Any) -> ProjectReport:
    now: Callable[[], datetime] = lambda: NOW  # noqa: E731
    return collect_project(config, store, "PAY", as_of=AS_OF, now=now, metrics=metrics)


def test_the_facts_of_a_report_equal_the_metrics(config: Config, store: Store) -> None:
    h = health()
    report = collect(config, store, HealthMetrics({"PAY": h}))
    ev = report.earned_value
    assert isinstance(ev, EarnedValue)
    p, s = h.project, h.schedule
    assert s is not None
    assert (ev.bac, ev.pv, ev.ev, ev.ac) == (
        p.budget_at_completion, p.planned_value, p.earned_value, p.actual_cost)  # fmt: skip
    assert (ev.spi, ev.cpi, ev.eac, ev.vac, ev.tcpi_bac) == (
        p.schedule_performance_index, p.cost_performance_index, p.estimate_at_completion,
        p.variance_at_completion, p.tcpi_to_bac)  # fmt: skip
    assert (ev.spi_t, ev.es_days, ev.ieac_t_days) == (
        s.schedule_performance_index_time, s.earned_schedule, s.independent_eac_time)  # fmt: skip
    assert isinstance(report.milestones, tuple)
    forecasts = {m.name: m for m in h.milestones}
    for row in report.milestones:
        assert row.forecast_p85 == forecasts[row.name].forecast_p85
        assert row.probability_on_time == forecasts[row.name].probability_on_time
    assert isinstance(report.wbs, tuple)
    assert [(w.code, w.earned_value) for w in report.wbs] == [
        (d.code, d.earned_value) for d in h.deliverables
    ]
    spi_t = next(k for k in report.key_figures if k.name == "spi_t")
    assert spi_t.value == s.schedule_performance_index_time
    check_golden("collected_pay.json", to_json(report))


def test_without_metrics_every_measured_section_says_it_is_not_available(
    config: Config, store: Store
) -> None:
    report = collect(config, store, NoMetrics())
    for section in (report.earned_value, report.budget):
        assert isinstance(section, Unavailable) and "not installed" in section.reason
    meetings = report.meetings  # not a metric: read from the calendars, and none has synced
    assert isinstance(meetings, Unavailable) and "no calendar has synced" in meetings.reason
    assert all(isinstance(c, Unavailable) for c in report.charts)
    assert isinstance(report.milestones, tuple)  # the plan's dates are still shown ...
    assert all(m.forecast_p85 is None and m.status == "unknown" for m in report.milestones)
    assert report.header.dimensions[0].rag == "grey"  # ... but never judged green
    assert report.header.overall.rag != "green"
    risks = report.risks
    assert not isinstance(risks, Unavailable)
    assert [r.key for r in risks.top] == ["R1", "R2"]  # by exposure: 12,000 then 2,000
    assert risks.overdue_reviews[0].days_overdue == 10
    assert any(d.source == "risk" for d in report.decisions)  # R2 is escalated
    check_golden("collected_pay_without_metrics.json", to_json(report))


def test_the_documented_schema_is_the_one_the_code_writes() -> None:
    documented = Path(__file__).parent.parent / "docs" / "report.schema.json"
    assert json.loads(documented.read_text(encoding="utf-8")) == report_json_schema(), (
        "regenerate docs/report.schema.json (see docs/reports.md)"
    )
