"""``pmsync metrics``: earned value, earned schedule, forecasts, budget and team, at any date.

A thin shell over ``pmsync.health``: it refreshes the plan (as ``plan show``
does, so the figures are measured against the project file as it is now),
loads the figures at the status date (``--as-of``, default today in the
configured time zone) and prints them: with ``--project``, every figure of
that project in tables; without, one line per project; with ``--json``, every
figure of the chosen projects. Names from the tools are printed as text,
never as console markup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from pmsync.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    console,
    err_console,
    fail,
    load,
    open_store,
    print_json,
)

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.health.figures import ProjectFigures
    from pmsync.store import Store

DASH = "—"


def _number(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def _day(value: date | None) -> str:
    return DASH if value is None else value.isoformat()


def _share(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.0f}%"


def _pairs(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def print_project(f: ProjectFigures) -> None:
    """Print every figure of one project as tables."""
    h, p, s = f.health, f.health.project, f.health.schedule
    console.print(
        Text(f"{f.key} — {f.name}, status date {h.status_date.isoformat()} ({f.currency})"),
        style="bold",
    )
    eac = f"{_number(p.estimate_at_completion)} ({p.eac_basis.replace('_', ' ')})"
    console.print(
        _pairs(
            "earned value",
            [
                ("BAC budget at completion", _number(p.budget_at_completion)),
                ("PV planned value", _number(p.planned_value)),
                ("EV earned value", _number(p.earned_value)),
                ("AC actual cost", _number(p.actual_cost)),
                ("% complete", _share(p.percent_complete)),
                ("SV schedule variance", _number(p.schedule_variance)),
                ("CV cost variance", _number(p.cost_variance)),
                ("SPI", _number(p.schedule_performance_index)),
                ("CPI", _number(p.cost_performance_index)),
                ("EAC estimate at completion", eac),
                ("EAC (CPI x SPI)", _number(p.eac_at_cpi_and_spi)),
                ("ETC estimate to complete", _number(p.estimate_to_complete)),
                ("VAC variance at completion", _number(p.variance_at_completion)),
                ("TCPI to BAC", _number(p.tcpi_to_bac)),
                ("TCPI to EAC", _number(p.tcpi_to_eac)),
            ],
        )
    )
    if s is not None:
        unit = s.time_unit.replace("_", " ")
        console.print(
            _pairs(
                f"earned schedule ({unit})",
                [
                    ("ES earned schedule", _number(s.earned_schedule, 1)),
                    ("AT actual time", _number(s.actual_time, 0)),
                    ("PD planned duration", _number(s.planned_duration, 0)),
                    ("SV(t)", _number(s.schedule_variance_time, 1)),
                    ("SPI(t)", _number(s.schedule_performance_index_time)),
                    ("IEAC(t)", _number(s.independent_eac_time, 1)),
                    ("TSPI", _number(s.to_complete_schedule_performance_index)),
                    ("planned finish", _day(s.planned_finish)),
                    ("finish at this pace", _day(s.forecast_finish_es)),
                ],
            )
        )
    _print_milestones(f)
    budget = Table(title="budget", title_justify="left")
    for column in ("period", "budget", "spent", "forecast (EAC)"):
        budget.add_column(column, justify="left" if column == "period" else "right")
    for line in f.budget:
        budget.add_row(
            line.label,
            DASH if line.budget is None else f"{line.budget:,.2f}",
            f"{line.spent:,.2f}",
            _number(line.forecast),
        )
    console.print(budget)
    _print_team_and_case(f)


def _print_milestones(f: ProjectFigures) -> None:
    table = Table(title="milestones", title_justify="left")
    for column in (
        "milestone",
        "due",
        "tools' due",
        "baseline",
        "slip",
        "scope",
        "done",
        "open",
        "P50",
        "P85",
        "P95",
        "P(on time)",
        "linear",
    ):
        table.add_column(column)
    for m in f.milestones:
        c = m.forecast
        tools = " + ".join(f"{n} {t}" for t, n in sorted(m.items_by_source.items()))
        table.add_row(
            Text(m.name),
            _day(m.due),
            _day(m.tool_due),
            _day(m.baseline_due),
            DASH if m.slip_days is None else f"{m.slip_days:+d}d",
            Text(f"{m.scope_items}" + (f" ({tools})" if tools else "")),
            str(m.done_items),
            str(c.remaining_items),
            _day(c.forecast_p50),
            _day(c.forecast_p85),
            _day(c.forecast_p95),
            _share(c.probability_on_time),
            _day(c.linear_forecast_finish),
        )
    console.print(table)
    for m in f.milestones:
        if m.forecast.note and m.forecast.remaining_items:
            console.print(Text(f"  {m.name}: {m.forecast.note}"))


def _print_team_and_case(f: ProjectFigures) -> None:
    t, b = f.health.team, f.health.business_case
    if t is not None:
        console.print(
            _pairs(
                "team",
                [
                    ("throughput per week", _number(t.throughput_per_week, 1)),
                    ("cycle time P50 (days)", _number(t.cycle_time_median_days, 1)),
                    ("cycle time P85 (days)", _number(t.cycle_time_p85_days, 1)),
                    ("work in progress", str(t.work_in_progress)),
                    ("overloaded person-weeks", str(t.overloaded_person_weeks)),
                ],
            )
        )
    if b is not None:
        console.print(
            _pairs(
                "business case",
                [
                    ("NPV", _number(b.npv)),
                    ("ROI", _share(b.roi)),
                    ("payback (years)", _number(b.payback_years)),
                    ("discounted payback (years)", _number(b.discounted_payback_years)),
                ],
            )
        )
    for person, hours in f.unrated_hours.items():
        console.print(Text(f"  unrated hours: {person} {hours:.1f} h (no rate in the rate card)"))


def print_portfolio(figures: dict[str, ProjectFigures], as_of: date) -> None:
    """Print one line per project."""
    table = Table(title=f"portfolio at {as_of.isoformat()}", title_justify="left")
    for column in ("project", "% complete", "SPI(t)", "CPI", "AC", "EAC", "VAC", "next milestone"):
        table.add_column(column)
    for key, f in sorted(figures.items()):
        p, s = f.health.project, f.health.schedule
        upcoming = [m for m in f.milestones if m.forecast.remaining_items]
        nxt = min(upcoming, key=lambda m: (m.due or date.max, m.name), default=None)
        label = Text(DASH)
        if nxt is not None:
            label = Text(f"{nxt.name} {_day(nxt.due)}: {_share(nxt.forecast.probability_on_time)}")
        table.add_row(
            Text(key),
            _share(p.percent_complete),
            _number(s.schedule_performance_index_time if s else None),
            _number(p.cost_performance_index),
            _number(p.actual_cost),
            _number(p.estimate_at_completion),
            _number(p.variance_at_completion),
            label,
        )
    console.print(table)


def metrics(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project (all figures).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Status date YYYY-MM-DD; default: today.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every figure as JSON.")] = False,
) -> None:
    """Show earned value, earned schedule, milestone forecasts, budget and team figures."""
    from pmsync.connectors import utc_now
    from pmsync.health.figures import load_figures
    from pmsync.plan import refresh_plan

    config = load(ctx)
    try:
        day = (
            date.fromisoformat(as_of)
            if as_of
            else datetime.now(ZoneInfo(config.settings.timezone)).date()
        )
    except ValueError:
        fail(f"error: --as-of {as_of!r} is not a date (YYYY-MM-DD)", EXIT_USAGE)
    if project is not None and project not in config.projects:
        known = ", ".join(sorted(config.projects)) or "none"
        fail(f"error: no project {project!r} in the configuration (projects: {known})", EXIT_USAGE)
    store = open_store(config)
    problems: dict[str, str] = {}
    try:
        for warning in refresh_plan(store, config, utc_now).warnings:
            err_console.print(f"warning: {warning}", markup=False, highlight=False)
        keys = [project] if project is not None else None
        figures = load_figures(store, config, keys, as_of=day, now=utc_now, problems=problems)
    finally:
        store.close()
    if as_json:
        payload: dict[str, Any] = {
            "as_of": day.isoformat(),
            "projects": [f.as_dict() for _, f in sorted(figures.items())],
            "problems": problems,
        }
        print_json(payload)
    elif project is not None and project in figures:
        print_project(figures[project])
    else:
        print_portfolio(figures, day)
    for key, why in sorted(problems.items()):
        err_console.print(f"error: {key}: {why}", markup=False, highlight=False)
    if problems:
        raise typer.Exit(EXIT_FAILED)


def show_metrics(store: Store, config: Config, now: Callable[[], datetime]) -> None:
    """Print every project's figures today and take the daily snapshot (the demo's last step)."""
    from pmsync.health import load_figures, take_daily_snapshot
    from pmsync.health.snapshot import today

    day = today(config, now)
    problems: dict[str, str] = {}
    print_portfolio(load_figures(store, config, as_of=day, now=now, problems=problems), day)
    for key, why in sorted(problems.items()):
        console.print(Text(f"{key}: no figures: {why}"))
    result = take_daily_snapshot(store, config, now)
    console.print(
        f"daily snapshot of {result.day.isoformat()}: {result.rows} projects, milestones and "
        f"deliverables stored for trends; every figure: pmsync metrics --project KEY "
        f"--as-of {day.isoformat()}",
        markup=False,
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``pmsync metrics`` to ``app``."""
    app.command("metrics")(metrics)
