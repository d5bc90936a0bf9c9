"""A status report of a synced sandbox world: golden JSON, and its facts equal the metrics.

A small fixed scenario (one project, seed 5, its clock at 23:59 UTC on Friday
2026-03-06) is served by the sandbox, synced for real into SQLite, and
reported with ``pmsync report --as-of 2026-03-06``: the same path a PM takes.
The JSON is compared with ``tests/golden/reports/sandbox_pay.json`` after the
normalisation ``normalise`` explains; regenerate it after an intended change
with ``PMSYNC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_reports_golden.py``.

Independently of the golden, the key figures of the report are compared with
what ``pmsync metrics --json`` prints for the same store and date (PV, EV, AC,
SPI, CPI, EAC, each milestone's P50 / P85 and scope), and the burn-up, the
fiscal-year burn and the meetings with the health and meetings layers: a
report must show the metrics, never figures of its own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pmsync.cli import app
from pmsync.config import Config, load_config
from pmsync.connectors import load_connectors
from pmsync.health import fiscal_year_burn, load_burnups, load_project_health
from pmsync.meetings import project_cadences
from pmsync.plan import refresh_plan
from pmsync.sandbox.app import Sandbox
from pmsync.sandbox.configout import write_config
from pmsync.sandbox.generator import generate
from pmsync.store import Store
from pmsync.sync import sync_configured

GOLDEN = Path(__file__).parent / "golden" / "reports" / "sandbox_pay.json"
STATUS_DATE = date(2026, 3, 6)
CLOCK = datetime(2026, 3, 6, 23, 59, tzinfo=UTC)
"""The sandbox's (stopped) clock: every source synced a minute before the end of the
status date, so the report sees them fresh (each syncs every minute)."""
ANNUAL_BUDGETS = {2025: 9000, 2026: 30000}


class SyncedWorld:
    """The fixed scenario, served by the sandbox, synced into SQLite with its config on disk."""

    def __init__(self, root: Path) -> None:
        self.scenario = generate(projects=1, items=60, seed=5, clock=CLOCK)
        self.box = Sandbox(self.scenario).start()
        self.config_dir = root / "config"
        write_config(self.scenario, self.box.endpoints(), self.config_dir, var_dir=root / "var")
        pay = self.config_dir / "projects" / "pay.yaml"
        data = yaml.safe_load(pay.read_text(encoding="utf-8"))
        data["annual_budgets"] = ANNUAL_BUDGETS  # the generator sets none: the FY line needs one
        pay.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
        self.config: Config = load_config(self.config_dir, load_connectors())
        self.url = f"sqlite:///{root / 'pmsync.db'}"
        self.store = Store.open(self.url, var_dir=root / "var", now=self.box.clock.now)
        self.store.upgrade()
        report = sync_configured(
            self.config, self.store, now=self.box.clock.now, sleep=lambda s: None
        )
        assert report.ok, [(r.source, r.stream, r.error) for r in report.results if r.error]
        refresh_plan(self.store, self.config, self.box.clock.now)

    def cli(self, *args: str) -> str:
        """Run ``pmsync`` on this world's config and database; return what it printed."""
        env = {"PMSYNC_DATABASE_URL": self.url, "COLUMNS": "250"}
        result = CliRunner().invoke(app, ["--config", str(self.config_dir), *args], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    def close(self) -> None:
        self.store.close()
        self.box.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncedWorld]:
    made = SyncedWorld(tmp_path_factory.mktemp("golden"))
    yield made
    made.close()


@pytest.fixture(scope="module")
def site(world: SyncedWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site ``pmsync report`` writes for PAY at the status date (JSON, HTML, Markdown)."""
    out = tmp_path_factory.mktemp("site")
    world.cli("report", "--project", "PAY", "--as-of", STATUS_DATE.isoformat(), "--out", str(out))
    return out / "projects" / "PAY" / STATUS_DATE.isoformat()


@pytest.fixture(scope="module")
def report(site: Path) -> dict[str, Any]:
    return json.loads((site / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def metrics(world: SyncedWorld) -> dict[str, Any]:
    """What ``pmsync metrics --json`` prints for PAY at the status date."""
    printed = world.cli("metrics", "--project", "PAY", "--json", "--as-of", STATUS_DATE.isoformat())
    payload = json.loads(printed)
    assert payload["problems"] == {}
    (project,) = payload["projects"]
    return dict(project)


def normalise(report: dict[str, Any]) -> dict[str, Any]:
    """Return the report with what differs between two runs of the same data replaced.

    Only one value depends on when the test runs: ``header.generated_at``, the
    wall-clock time of ``pmsync report`` (the CLI's clock is the real one). Every
    other figure is a function of the scenario and the status date: the metrics
    and the freshness are taken at the end of the status date, which lies before
    the real now, and the sandbox's clock is stopped. Ports (the sandbox listens on
    free ones) never reach a report, and nothing else is rewritten.
    """
    found = json.loads(json.dumps(report))
    found["header"]["generated_at"] = "<generated_at>"
    return found


def test_the_report_json_equals_the_golden_file(report: dict[str, Any]) -> None:
    text = json.dumps(normalise(report), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    assert not re.search(r"127\.0\.0\.1:\d+", text), "a sandbox port reached the report"
    if os.environ.get("PMSYNC_UPDATE_GOLDEN") or not GOLDEN.exists():
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert json.loads(text) == json.loads(GOLDEN.read_text(encoding="utf-8")), (
        "the report changed: if that was intended, regenerate with PMSYNC_UPDATE_GOLDEN=1"
    )


def test_the_key_figures_of_the_report_equal_pmsync_metrics(
    report: dict[str, Any], metrics: dict[str, Any]
) -> None:
    ev, shown = report["earned_value"], metrics["earned_value"]
    assert ev["available"] is True
    pairs = {
        "bac": "budget_at_completion",
        "pv": "planned_value",
        "ev": "earned_value",
        "ac": "actual_cost",
        "spi": "schedule_performance_index",
        "cpi": "cost_performance_index",
        "eac": "estimate_at_completion",
        "etc": "estimate_to_complete",
        "vac": "variance_at_completion",
    }
    for name, metric in pairs.items():
        assert shown[metric] is not None, metric
        assert ev[name] == pytest.approx(shown[metric], abs=1e-6), name
    schedule = metrics["earned_schedule"]
    assert ev["spi_t"] == pytest.approx(schedule["schedule_performance_index_time"], abs=1e-6)
    rows = {m["name"]: m for m in report["milestones"]}
    assert set(rows) == {m["name"] for m in metrics["milestones"]}
    forecast = [m for m in metrics["milestones"] if m["forecast_p50"]]
    assert forecast, "the scenario must have a milestone with a forecast"
    for m in metrics["milestones"]:
        row = rows[m["name"]]
        assert (row["forecast_p50"], row["forecast_p85"]) == (m["forecast_p50"], m["forecast_p85"])
        assert row["probability_on_time"] == pytest.approx(m["probability_on_time"], abs=1e-6)
        assert (row["done"], row["scope"]) == (m["done_items"], m["scope_items"])
    lines = {b["period"]: b for b in report["budget"]["lines"]}
    spent = {p: float(b["spent"]) for p, b in metrics["budget"].items()}
    assert {p: lines[p]["spent"] for p in spent} == pytest.approx(spent, abs=0.01)
    assert lines["fiscal_year"]["budget"] == ANNUAL_BUDGETS[2026]
    assert lines["life"]["forecast"] == pytest.approx(shown["estimate_at_completion"], abs=1e-6)


def charts_of(report: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [c for c in report["charts"] if c.get("id", "").startswith(prefix)]


def test_each_open_milestone_has_a_burn_up_whose_cone_is_its_forecast(
    world: SyncedWorld, report: dict[str, Any]
) -> None:
    rows = {m["name"]: m for m in report["milestones"]}
    history = {b.name: b for b in load_burnups(world.store, world.config, "PAY", as_of=STATUS_DATE)}
    charts = charts_of(report, "burnup-PAY-")
    expected = [r for r in report["milestones"] if r["status"] != "done" and r["scope"]]
    assert [c["title"] for c in charts] == [f"{r['name']}: burn-up" for r in expected]
    assert not [c for c in report["charts"] if "Burn-up" in c.get("reason", "")]
    for chart in charts:
        row = rows[chart["title"].removesuffix(": burn-up")]
        series = {s["name"]: s for s in chart["series"]}
        done, scope = series["done"]["points"], series["scope"]["points"]
        b = history[row["name"]]
        # the lines are the health layer's daily history, ending on the status date ...
        assert done[-1] == {"day": STATUS_DATE.isoformat(), "value": row["done"]}
        assert scope[-1] == {"day": STATUS_DATE.isoformat(), "value": row["scope"]}
        assert (done[0]["day"], scope[0]["value"]) == (b.days[0].isoformat(), b.scope[0])
        daily = dict(zip((d.isoformat() for d in b.days), b.scope, strict=True))
        assert all(daily[p["day"]] == p["value"] for p in scope)
        # ... and the cone fans out from today's done count to the scope at P50 and P85
        if row["forecast_p85"]:
            assert series["P50"]["style"] == series["P85"]["style"] == "cone"
            for name, finish in (("P50", row["forecast_p50"]), ("P85", row["forecast_p85"])):
                assert series[name]["points"] == [
                    {"day": STATUS_DATE.isoformat(), "value": row["done"]},
                    {"day": finish, "value": row["scope"]},
                ]
            assert f"P50 {row['forecast_p50']}, P85 {row['forecast_p85']}" in chart["alt"]
        assert f"{row['done']:.0f} of {row['scope']:.0f} items done" in chart["alt"]
        if row["current_due"]:
            assert chart["markers"][-1]["day"] == row["current_due"]
    assert any("P85" in {s["name"] for s in c["series"]} for c in charts), "no cone drawn"


def test_the_fiscal_year_burn_is_the_health_layers(
    world: SyncedWorld, report: dict[str, Any]
) -> None:
    (chart,) = charts_of(report, "fy-burn-PAY")
    health = load_project_health(
        world.store, world.config, "PAY", as_of=STATUS_DATE, now=world.box.clock.now
    )
    fy = fiscal_year_burn(health, world.config.projects["PAY"])
    assert (fy.label, fy.start, fy.end) == ("FY2026", date(2026, 1, 1), date(2026, 12, 31))
    series = {s["name"]: s["points"] for s in chart["series"]}
    assert series["spent (AC)"][0]["day"] == "2026-01-01"
    close = lambda v: pytest.approx(v, abs=1e-6)  # noqa: E731  (the JSON keeps 6 decimals)
    assert series["spent (AC)"][-1] == {"day": "2026-03-06", "value": close(fy.spent_to_date)}
    assert series["planned (PV)"][-1] == {"day": "2026-12-31", "value": close(fy.planned_in_year)}
    assert series["forecast"] == [
        {"day": "2026-03-06", "value": close(fy.spent_to_date)},
        {"day": "2026-12-31", "value": close(fy.forecast)},
    ]
    assert (chart["level"], chart["level_label"]) == (30000.0, "FY2026 budget")
    line = next(b for b in report["budget"]["lines"] if b["period"] == "fiscal_year")
    assert line["spent"] == pytest.approx(fy.spent_to_date, abs=1e-6)
    assert line["forecast"] == pytest.approx(fy.forecast, abs=1e-6)
    assert fy.spent_to_date > 0 and fy.forecast > fy.spent_to_date
    assert "FY2026: EUR" in chart["alt"] and "annual budget EUR 30,000" in chart["alt"]


def test_the_meetings_are_those_held_and_missed_against_the_cadence(
    world: SyncedWorld, report: dict[str, Any]
) -> None:
    meetings = report["meetings"]
    assert meetings["available"] is True
    plan = world.config.projects["PAY"]
    end = datetime(2026, 3, 7, tzinfo=UTC)  # the end of the status date (UTC config)
    cadences = project_cadences(world.store, world.config, "PAY", plan.start, STATUS_DATE, end)
    assert [c["kind"] for c in meetings["cadence"]] == [c.kind for c in cadences]
    for row, cadence in zip(meetings["cadence"], cadences, strict=True):
        assert (row["held"], row["missed"]) == (cadence.held, len(cadence.missed))
        assert row["every_days"] == cadence.every // timedelta(days=1)
    status = next(c for c in meetings["cadence"] if c["kind"] == "status_meeting")
    assert status["held"] > 0 and status["last_held"] <= STATUS_DATE.isoformat()
    assert sum(c["held"] for c in meetings["cadence"]) == len(meetings["held"])
    assert all(m["attendees"] for m in meetings["held"])


def test_the_html_shows_the_new_charts_and_meetings_instead_of_not_available(
    site: Path, report: dict[str, Any]
) -> None:
    html = (site / "report.html").read_text(encoding="utf-8")
    assert "not available" not in html.split('id="charts"')[1].split("</section>")[0]
    for chart in charts_of(report, "burnup-") + charts_of(report, "fy-burn-"):
        title = f'<title id="chart-{chart["id"]}-title">'
        assert title in html, chart["id"]
        alt = html.split(title, 1)[1].split("</title>", 1)[0]
        assert alt == chart["alt"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert f"<figcaption>{alt}</figcaption>" in html
    assert "P50 to P85" in html  # the cone's legend entry
    meetings = html.split('<section id="meetings">')[1].split("</section>")[0]
    assert "not available" not in meetings and "status meeting" in meetings
    markdown = (site / "report.md").read_text(encoding="utf-8")
    assert "| status meeting | 7 d |" in markdown


def test_a_milestone_no_work_item_matches_is_not_reported_done(
    world: SyncedWorld, tmp_path: Path
) -> None:
    """Nothing matched is not the same as everything finished: the status stays unknown."""
    import shutil
    import sqlite3

    from pmsync.metrics.reporting import StoreMetrics

    config_dir = tmp_path / "config"
    shutil.copytree(world.config_dir, config_dir)
    pay = config_dir / "projects" / "pay.yaml"
    data = yaml.safe_load(pay.read_text(encoding="utf-8"))
    data["milestones"].append(
        {"name": "Parking lot", "due": "2026-06-30", "match": [{"label": "no-such-label"}]}
    )
    pay.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    config = load_config(config_dir, load_connectors())
    with (
        sqlite3.connect(world.url.removeprefix("sqlite:///")) as source,
        sqlite3.connect(tmp_path / "copy.db") as copy,
    ):
        source.backup(copy)  # the world's store stays as the other tests expect it
    store = Store.open(
        f"sqlite:///{tmp_path / 'copy.db'}", var_dir=tmp_path / "var", now=world.box.clock.now
    )
    try:
        refresh_plan(store, config, world.box.clock.now)
        rows = StoreMetrics(config, store, world.box.clock.now).milestones(
            config.projects["PAY"], STATUS_DATE
        )
    finally:
        store.close()
    assert isinstance(rows, tuple)
    by_name = {row.name: row for row in rows}
    assert by_name["Parking lot"].scope == 0
    assert by_name["Parking lot"].status == "unknown"
    assert any(row.status != "unknown" for row in rows)  # the others are measured
