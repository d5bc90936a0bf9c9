"""The burn-up with its forecast cone, the fiscal-year burn and the meetings, as a PM sees them.

Drawn from hand-built facts (``from_metrics``) and from a store with a plan
but nothing synced: a chart that has data shows it, with alt text that says
what it shows; one that has none says why, instead of an empty frame. The
report of a synced sandbox world is ``test_reports_golden.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pmsync.config import Config, load_config
from pmsync.connectors import load_connectors
from pmsync.health import MilestoneBurnup, fiscal_year_burn
from pmsync.metrics import (
    ActualCostSeries,
    DeliverablePlan,
    EvmInputs,
    ProjectInputs,
    project_health,
)
from pmsync.metrics.reporting import metrics_for_reports
from pmsync.plan import refresh_plan
from pmsync.reports.charts import legend, render_chart
from pmsync.reports.collect import NO_CALENDAR, collect_project
from pmsync.reports.facts import Chart, MilestoneRow, Point, Series, Unavailable
from pmsync.reports.from_metrics import burnup_charts, fiscal_year_chart
from pmsync.reports.render_html import render_html
from pmsync.reports.render_json import to_data
from pmsync.reports.sample import write_sample_config
from pmsync.store import Store

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_sample_config(tmp_path / "config"), load_connectors())


def row(name: str = "Beta", **changes: Any) -> MilestoneRow:
    values: dict[str, Any] = {
        "name": name,
        "baseline_due": None,
        "current_due": date(2026, 3, 12),
        "forecast_p50": date(2026, 3, 20),
        "forecast_p85": date(2026, 4, 3),
        "probability_on_time": 0.12,
        "variance_days": None,
        "status": "at_risk",
        "done": 9.0,
        "scope": 22.0,
        **changes,
    }
    return MilestoneRow(**values)


def history(name: str = "Beta") -> MilestoneBurnup:
    days = tuple(AS_OF - timedelta(days=n) for n in range(20, -1, -1))
    scope = tuple(18 if n < 10 else 22 for n in range(21))
    done = tuple(min(n // 2, 9) for n in range(21))
    return MilestoneBurnup(name, days, scope, done)


def test_a_burn_up_shows_done_scope_due_date_and_the_p50_p85_cone(config: Config) -> None:
    plan = config.projects["PAY"]
    (chart,) = burnup_charts(plan, (row(), row("Launch", status="done")), (history(),))
    assert isinstance(chart, Chart) and chart.id == "burnup-PAY-1" and chart.unit == "items"
    series = {s.name: s for s in chart.series}
    assert [series[n].style for n in ("done", "scope", "P50", "P85")] == [
        "actual", "plan", "cone", "cone"]  # fmt: skip
    # the fan starts at today's done count and reaches the whole scope at P50 and at P85
    assert [(p.day, p.value) for p in series["P50"].points] == [
        (AS_OF, 9.0),
        (date(2026, 3, 20), 22.0),
    ]
    assert [(p.day, p.value) for p in series["P85"].points] == [
        (AS_OF, 9.0),
        (date(2026, 4, 3), 22.0),
    ]
    # the lines keep every change of the daily history, not its flat days
    assert series["scope"].points[-1].day == AS_OF and len(series["scope"].points) < 21
    assert [p.value for p in series["done"].points][-1] == 9.0
    assert (chart.markers[-1].day, chart.marker_labels[-1]) == (date(2026, 3, 12), "due")
    assert chart.alt == (
        "Beta: 9 of 22 items done on 2026-03-02 (scope 18 on 2026-02-10). Forecast: P50 "
        "2026-03-20, P85 2026-04-03; due 2026-03-12, 12% chance of meeting it."
    )
    svg = render_chart(chart)
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert f'<title id="chart-burnup-PAY-1-title">{chart.alt}</title>' in svg
    # the legend beside the drawing names each line, the fan and nothing else
    key = legend(chart)
    assert re.findall(r"</svg>([^<]*)</li>", key) == ["done", "scope", "P50 to P85"]
    assert 'stroke-dasharray="5 2.5"' in key and 'opacity="0.18"' in key  # scope, the fan


def test_a_milestone_without_a_forecast_has_lines_but_no_cone(config: Config) -> None:
    plan = config.projects["PAY"]
    (chart,) = burnup_charts(
        plan, (row(forecast_p50=None, forecast_p85=None, probability_on_time=None),), (history(),)
    )
    assert isinstance(chart, Chart)
    assert {s.style for s in chart.series} == {"actual", "plan"}
    assert "No forecast date could be computed" in chart.alt


def test_without_history_or_open_milestones_the_burn_up_says_why(config: Config) -> None:
    plan = config.projects["PAY"]
    cases = [
        ((), (), "the plan has no milestones"),
        ((row(status="done", done=22.0),), (history(),), "every milestone is done"),
        ((row(), row("Launch")), (), "no work item of PAY has been synced into Beta, Launch"),
    ]
    for rows, burnups, reason in cases:
        (found,) = burnup_charts(plan, rows, burnups)
        assert isinstance(found, Unavailable) and reason in found.reason


def health(config: Config, costs: list[tuple[str, date, float]], status: date = AS_OF) -> Any:
    evm = EvmInputs(
        status_date=status,
        deliverables=[
            DeliverablePlan("1", None, None, None, 0.0, "Payments"),
            DeliverablePlan("1.1", "1", date(2026, 1, 5), date(2026, 4, 24), 60000.0, "Gateway"),
            DeliverablePlan("1.2", "1", date(2026, 2, 2), date(2026, 6, 26), 40000.0, "Reports"),
        ],
        pct_complete={"1.1": 0.5, "1.2": 0.1},
        actual_cost_by_day=ActualCostSeries.from_rows(costs),
    )
    return project_health(ProjectInputs("PAY", evm))


def test_the_fiscal_year_burn_shows_spend_plan_budget_and_forecast(config: Config) -> None:
    plan = config.projects["PAY"]
    h = health(config, [("1.1", date(2025, 12, 20), 5000.0), ("1.1", date(2026, 2, 10), 15000.0),
                        ("1.2", date(2026, 3, 1), 3000.0)])  # fmt: skip
    fy = fiscal_year_burn(h, plan)
    assert (fy.label, fy.start, fy.end, fy.budget) == (
        "FY2026", date(2026, 1, 1), date(2026, 12, 31), 100000.0)  # fmt: skip
    assert fy.spent_to_date == 18000.0  # 2025's 5,000 belongs to FY2025
    assert fy.planned_in_year == pytest.approx(100000.0)  # the whole plan falls in 2026
    # the plan ends in 2026, so all the work left (ETC) is forecast to be paid in 2026
    assert fy.forecast == pytest.approx(18000.0 + h.project.estimate_to_complete)
    chart = fiscal_year_chart(h, plan)
    assert isinstance(chart, Chart) and chart.level == 100000.0
    assert chart.level_label == "FY2026 budget"
    forecast = next(s for s in chart.series if s.style == "forecast")
    assert [p.day for p in forecast.points] == [AS_OF, date(2026, 12, 31)]
    assert chart.alt.startswith("FY2026: EUR 18,000 spent by 2026-03-02")
    assert chart.alt.endswith("annual budget EUR 100,000.")
    assert 'role="img"' in render_chart(chart)


def test_a_fiscal_year_without_budget_or_money_says_so(config: Config) -> None:
    plan = config.projects["PAY"].model_copy(update={"annual_budgets": {}})
    chart = fiscal_year_chart(health(config, [("1.1", date(2026, 2, 10), 100.0)]), plan)
    assert isinstance(chart, Chart) and chart.level is None
    assert chart.alt.endswith("no annual budget is set for FY2026.")
    empty = fiscal_year_chart(health(config, [], status=date(2027, 2, 1)), plan)
    assert isinstance(empty, Unavailable)
    assert empty.reason == "Budget burn for the fiscal year: nothing is planned or spent in FY2027."


def test_a_project_with_no_history_shows_reasons_not_empty_charts(
    config: Config, store: Store
) -> None:
    now: Callable[[], datetime] = lambda: NOW  # noqa: E731
    refresh_plan(store, config, now)  # the plan is stored; nothing was ever synced
    source = metrics_for_reports(config, store, now)
    report = collect_project(config, store, "PAY", as_of=AS_OF, now=now, metrics=source)
    burnup = report.charts[0]
    assert isinstance(burnup, Unavailable)
    assert burnup.reason == (
        "Burn-up per milestone with forecast cone: no work item of PAY has been synced into "
        "Beta, Launch by the status date, so there is no scope history to draw."
    )
    assert isinstance(report.meetings, Unavailable) and report.meetings.reason == NO_CALENDAR
    html = render_html(report)
    assert "Chart not available: Burn-up per milestone with forecast cone: no work item" in html
    assert 'id="chart-burnup-' not in html
    assert "Meetings held and missed not available: no calendar has synced" in html
    assert to_data(report.meetings) == {"reason": NO_CALENDAR, "available": False}
    # the fiscal-year burn needs no history: the plan is enough to draw it
    assert any(isinstance(c, Chart) and c.id == "fy-burn-PAY" for c in report.charts)


def test_before_the_project_starts_the_burn_up_says_so(config: Config, store: Store) -> None:
    now: Callable[[], datetime] = lambda: NOW  # noqa: E731
    refresh_plan(store, config, now)
    source = metrics_for_reports(config, store, now)
    report = collect_project(config, store, "PAY", as_of=date(2025, 12, 1), now=now, metrics=source)
    burnup = report.charts[0]
    assert isinstance(burnup, Unavailable)
    assert "the project starts on 2026-01-05, after the status date" in burnup.reason


def _three_kinds(config: Config) -> tuple[Chart | Unavailable, Chart | Unavailable, Chart]:
    """Return a burn-up with its cone, a fiscal-year burn with its budget, and weekly bars."""
    plan = config.projects["PAY"]
    (burnup,) = burnup_charts(plan, (row(),), (history(),))
    fy = fiscal_year_chart(health(config, [("1.1", date(2026, 2, 10), 15000.0)]), plan)
    weeks = tuple(Point(AS_OF - timedelta(weeks=n), float(n % 4)) for n in range(8, -1, -1))
    bars = Chart("throughput-PAY", "Throughput", "Items done per week.", "items",
                 (Series("done", "bar", weeks),))  # fmt: skip
    return burnup, fy, bars


def test_a_chart_drawn_after_others_is_the_chart_drawn_on_a_fresh_figure(config: Config) -> None:
    """Each thread reuses one figure; what one chart leaves on it never reaches the next."""
    import threading

    burnup, fy, bars = _three_kinds(config)
    bare = Chart("bare-PAY", "Nothing drawn yet", "No points.", "EUR", (Series("PV", "plan", ()),),
                 markers=(Point(AS_OF, 0.0),), marker_labels=("status date",))  # fmt: skip
    charts = [burnup, fy, bars, bare]
    assert all(isinstance(c, Chart) for c in charts)

    def fresh(chart: Any) -> str:  # a new thread draws on a figure of its own, made for it
        found: list[str] = []
        worker = threading.Thread(target=lambda: found.append(render_chart(chart)))
        worker.start()
        worker.join()
        return found[0]

    alone = {c.id: fresh(c) for c in charts}
    for order in (charts, charts[::-1], [bare, burnup, bars, fy, bare]):
        for chart in order:
            assert render_chart(chart) == alone[chart.id], chart.id
    assert "<rect" in legend(bars) and legend(bare) == ""  # PV has no points to name


def test_the_view_fits_the_data_as_matplotlibs_own_plot_fill_and_bar_fit_it(
    config: Config,
) -> None:
    """pmsync adds a chart's lines and fills with their limits known, not searched for in
    their paths: the view must be the one ``plot``, ``fill``, ``bar``, ``axvline`` and
    ``axhline`` give, or every line would be drawn elsewhere."""
    import numpy as np
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    from pmsync.reports import charts as drawing

    burnup, fy, bars = _three_kinds(config)
    high = tuple(Point(p.day, 5.0 + p.value) for p in bars.series[0].points[:4])  # not near 0
    later = Chart("later-PAY", "A marker after the data", "alt", "items",
                  (Series("done", "actual", high),), markers=(Point(AS_OF, 0.0),),
                  marker_labels=("status date",), level=12.0)  # fmt: skip
    for chart in (burnup, fy, bars, later):  # with data: one with none keeps 0 to 1 across
        assert isinstance(chart, Chart)
        render_chart(chart)
        _fig, ax = drawing._figures.by_size[(6.4, 2.6)]  # still holding this chart
        ours = (ax.get_xlim(), ax.get_ylim())
        fresh = Figure(figsize=(6.4, 2.6)).add_subplot()
        for s, _colour in drawing._lines(chart):
            xs, ys = drawing._days(s.points), [p.value for p in s.points]
            if s.style == "bar":
                fresh.bar(xs, ys, width=drawing._BAR_WIDTH)
            else:
                fresh.plot(xs, ys)
        cone = drawing._cone(chart)
        if cone is not None:
            low, high = cone
            xs = np.concatenate([drawing._days(low.points), drawing._days(high.points)[::-1]])
            fresh.fill(xs, [p.value for p in low.points] + [p.value for p in high.points][::-1])
            for edge in cone:
                fresh.plot(drawing._days(edge.points), [p.value for p in edge.points])
        for marker in chart.markers:
            fresh.axvline(float(date2num(marker.day)))
        if chart.level is not None:
            fresh.axhline(chart.level)
        fresh.set_xticks(drawing._date_ticks(chart)[0])  # the dates widen the view, as here
        # matplotlib finds an axvline's x through its transform and back: off by an ulp or so
        theirs = (fresh.get_xlim(), fresh.get_ylim())
        assert np.allclose(theirs, ours, rtol=1e-12, atol=0), (chart.id, theirs, ours)


def test_weekly_bars_stand_on_the_axis_one_per_week_at_its_value() -> None:
    """The bars are one outline, not an artist each: each week's bar is still where it was."""
    import numpy as np
    from matplotlib.dates import date2num

    from pmsync.reports import charts as drawing

    values = [3.0, 0.0, 7.0, 12.0, 5.0]
    weeks = tuple(Point(AS_OF - timedelta(weeks=4 - n), v) for n, v in enumerate(values))
    chart = Chart("throughput-BARS", "Throughput", "Items done per week.", "items",
                  (Series("done", "bar", weeks),))  # fmt: skip
    svg = render_chart(chart)
    _fig, ax = drawing._figures.by_size[(6.4, 2.6)]  # still holding this chart
    assert ax.get_ylim()[0] == 0  # no margin below zero: the bars stand on the x axis
    assert ax.get_ylim()[1] >= 12
    (outline,) = ax.patches
    xy = outline.get_xy()
    for week, value in zip(weeks, values, strict=True):
        centre = float(date2num(week.day))
        bar = xy[(xy[:, 0] >= centre - 2.5) & (xy[:, 0] <= centre + 2.5)]
        assert len(bar) >= 4, week  # its four corners
        assert np.isclose(bar[:, 1].max(), value) and np.isclose(bar[:, 1].min(), 0.0)
        assert np.isclose(bar[:, 0].max() - bar[:, 0].min(), drawing._BAR_WIDTH)
    assert svg.count("<path") < 25  # not one element per bar and edge


def test_the_legend_is_page_text_with_hostile_names_escaped() -> None:
    days = (Point(AS_OF - timedelta(days=7), 1.0), Point(AS_OF, 2.0))
    chart = Chart("evil-PAY", "<b>t</b>", "alt", "items",
                  (Series("<script>alert(1)</script>", "actual", days),
                   Series("Ana & Ben", "actual", days)),
                  level=3.0, level_label="budget <i>")  # fmt: skip
    key = legend(chart)
    assert "<script>" not in key and "&lt;script&gt;alert(1)&lt;/script&gt;" in key
    assert "Ana &amp; Ben" in key and "budget &lt;i&gt;" in key
    # a second line of the same style gets a colour of its own, as in the drawing
    colours = re.findall(r'stroke="(#[0-9a-f]{6})"', key)
    assert len(colours) == 3 and len(set(colours)) == 3
    assert "alert(1)" not in render_chart(chart)  # the names are no longer in the SVG at all


def test_large_amounts_read_in_thousands_and_millions_beside_their_unit() -> None:
    """Six- and seven-digit axis labels once pushed the unit off the chart's left edge."""
    days = [AS_OF - timedelta(days=n) for n in range(40, -1, -1)]
    spent = tuple(Point(d, 32_000.0 * n) for n, d in enumerate(days))
    chart = Chart("cost-BIG", "Cost", "Actual cost.", "EUR", (Series("AC", "actual", spent),))
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", render_chart(chart))
    assert "EUR" in texts
    values = [t for t in texts if t[:1].isdigit() and " " not in t]  # not the dates
    assert "1M" in values and any(t.endswith("k") for t in values), values
    assert not any(len(t) > 5 for t in values), values
    small = Chart("spi-SMALL", "SPI", "SPI(t).", "index",
                  (Series("SPI(t)", "actual", tuple(Point(d, 0.8 + n / 200) for n, d in
                                                     enumerate(days))),))  # fmt: skip
    low = [
        t
        for t in re.findall(r"<text[^>]*>([^<]*)</text>", render_chart(small))
        if t[:1] == "0" and " " not in t
    ]
    assert low and all("k" not in t and "M" not in t for t in low), low


def test_the_svg_is_what_matplotlibs_own_savefig_writes(config: Config) -> None:
    """pmsync draws with a renderer that remembers text metrics; the SVG must not change."""
    import io

    import matplotlib

    from pmsync.reports import charts as drawing

    plan = config.projects["PAY"]
    (burnup,) = burnup_charts(plan, (row(),), (history(),))
    assert isinstance(burnup, Chart)
    for _ in range(2):  # the second time, every text's metrics are remembered
        svg = render_chart(burnup)
        fig, _axes = drawing._figures.by_size[(6.4, 2.6)]  # still holding this chart
        buffer = io.StringIO()
        with matplotlib.rc_context({**drawing._RC, "svg.hashsalt": f"pmsync-{burnup.id}"}):
            fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        assert drawing._accessible(buffer.getvalue(), burnup.alt, burnup.id) == svg


def _marks(svg: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """Return a chart's texts (with where each is), its tick marks and its grid lines' heights."""
    texts = sorted(re.findall(r'<text[^>]*transform="([^"]*)"[^>]*>([^<]*)</text>', svg))
    ticks = sorted(re.findall(r'<use [^>]*x="([^"]*)" y="([^"]*)"', svg))
    grid = re.findall(r'<path d="([^"]*)"[^>]*style="[^"]*stroke: #e0e0e0', svg)
    heights = sorted({y for d in grid for y in re.findall(r"[ML] [\d.]+ ([\d.]+)", d)})
    return texts, ticks, heights


def test_the_axes_marks_are_where_matplotlibs_own_axes_put_them(config: Config) -> None:
    """pmsync draws the ticks, their labels, the grid and the unit itself (a few artists, not
    five per tick); a reader sees the marks matplotlib's axes draw, at the same places."""
    import io

    from matplotlib.dates import date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from pmsync.reports import charts as drawing

    plan = config.projects["PAY"]
    (burnup,) = burnup_charts(plan, (row(),), (history(),))
    fy = fiscal_year_chart(health(config, [("1.1", date(2026, 2, 10), 15000.0)]), plan)
    days = [AS_OF - timedelta(days=n) for n in range(40, -1, -1)]
    big = Chart("cost-BIG", "Cost", "Actual cost.", "EUR",
                (Series("AC", "actual", tuple(Point(d, 32_000.0 * n) for n, d in
                                              enumerate(days))),))  # fmt: skip

    def with_matplotlibs_axes(chart: Any) -> str:  # ticks, grid and unit as matplotlib draws them
        settings: Any = {**drawing._RC, "svg.hashsalt": f"pmsync-{chart.id}"}
        with drawing._settings(settings):
            fig = Figure(figsize=(6.4, 2.6))
            drawing._Canvas(fig)
            ax = fig.add_subplot()
            fig.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.14)
            ax.grid(axis="y", color="#e0e0e0", lw=0.6)
            ax.set_axisbelow(True)
            ax.yaxis.set_tick_params(tick1On=False)
            ax.yaxis.set_major_formatter(FuncFormatter(drawing._short))
            ax.yaxis.set_label_coords(-0.09, 0.5)
            drawing._draw_series(ax, chart)
            for marker, label in zip(chart.markers, chart.marker_labels, strict=False):
                x = float(date2num(marker.day))
                ax.axvline(x, color="#999999", lw=0.8, ls="-.")
                ax.annotate(label, (x, 1), xycoords=("data", "axes fraction"), fontsize=7,
                            ha="left", va="top", rotation=90, color="#555555")  # fmt: skip
            if chart.level is not None:
                ax.axhline(chart.level, color=drawing._LEVEL, lw=0.9, ls="--")
            ax.set_xticks(*drawing._date_ticks(chart))
            ax.set_title(chart.title, fontsize=9, loc="left")
            ax.set_ylabel(chart.unit)
            buffer = io.StringIO()
            fig.canvas.draw_svg(buffer)  # type: ignore[attr-defined]
        return buffer.getvalue()

    for chart in (burnup, fy, big):
        assert isinstance(chart, Chart)
        ours, theirs = _marks(render_chart(chart)), _marks(with_matplotlibs_axes(chart))
        texts, ticks, heights = ours
        assert len(ticks) == 5 and len(heights) >= 4 and chart.unit in [t for _, t in texts]
        assert ours == theirs, chart.id


def test_the_labels_drawn_at_once_are_what_a_text_artist_each_draws() -> None:
    """The axes' labels are one artist with their layout remembered; matplotlib's own text
    artists, laid out afresh, put the same text at the same places in the same style."""
    import io

    import matplotlib

    from pmsync.reports import charts as drawing

    days = [AS_OF - timedelta(days=n) for n in range(40, -1, -1)]
    chart = Chart("cost-LABELS", "Cost $ & <more>", "Actual cost.", "EUR $",
                  (Series("AC", "actual", tuple(Point(d, 1_500.0 * n) for n, d in
                                                enumerate(days))),))  # fmt: skip
    for _ in range(2):  # the second time, every label's layout is remembered
        svg = render_chart(chart)
        fig, ax = drawing._figures.by_size[(6.4, 2.6)]  # still holding this chart
        marks = drawing._figures.marks[(6.4, 2.6)]
        texts = [t for t in marks.labels.texts() if t.get_visible() and t.get_text()]
        assert len(texts) >= 8  # the unit, five dates, the values
        marks.labels.remove()
        try:
            for text in texts:
                ax.add_artist(text)
            buffer = io.StringIO()
            with matplotlib.rc_context({**drawing._RC, "svg.hashsalt": f"pmsync-{chart.id}"}):
                fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            for text in texts:
                text.remove()
                text.set_figure(fig)  # as the labels keep them: drawn by them, not by the axes
            ax.add_artist(marks.labels)
        assert drawing._accessible(buffer.getvalue(), chart.alt, chart.id) == svg
    assert "EUR $" in svg and "Cost $ &amp; &lt;more&gt;" in svg
