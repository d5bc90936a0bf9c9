"""Charts as inline SVG: matplotlib (Agg, no pyplot state) for charts, plain SVG for sparklines.

A report must open anywhere, offline, with nothing fetched: each chart is an
``<svg>`` element inside the HTML, its text kept as text (``svg.fonttype:
none``) so it stays small, searchable and styled by the page's fonts. Every SVG
gets ``role="img"`` and a ``<title>`` holding the chart's alt text, so a screen
reader hears what a sighted reader sees. Output is deterministic (fixed hash
salt, no date metadata), which keeps golden files and report diffs stable.
Sparklines are hundreds per portfolio page, so they are a hand-written
polyline rather than a matplotlib figure: the same look at a fraction of the cost.
A chart's legend is HTML beside its SVG (``legend``), each name with a small
swatch of its line: page text that wraps and never covers the data.

Speed: a report from the store draws about eight charts, and most of a chart's
cost in matplotlib is building the figure, the axes and their ticks rather than
drawing the data. Each thread therefore keeps one figure per size and, for
every chart, removes the previous chart's artists and resets what a chart sets
(limits, x ticks) instead of building a new one. Text metrics and
each font's height are kept across charts (``_Renderer``): matplotlib keeps
them per renderer, and each SVG gets a new one. The SVG is byte for byte what
a fresh figure and matplotlib's own ``savefig`` give
(``tests/test_reports_charts.py`` checks both). Each artist costs more to lay
out and write than its data, so a chart has few: a throughput chart's bars
are one outline, not a rectangle each, the y axis has its grid but no tick
marks beside it, and the axes' marks (ticks, labels, grid, unit) are a few
artists of pmsync's own (``_Marks``), not matplotlib's five per tick, at the
places matplotlib's axes would put them (the tests compare). Their labels are
one artist (``_Labels``) that keeps each label's layout for the process, and the
renderer keeps each font's style attribute: the same texts in the same font,
chart after chart, written as matplotlib writes them (the tests compare).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from html import escape
from typing import Any, Literal, cast

import matplotlib
import numpy as np

matplotlib.use("Agg")

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import (
    FigureCanvasSVG,
    RendererSVG,
    _generate_css,
    _generate_transform,
    _short_float_fmt,
)
from matplotlib.colors import rgb2hex, to_rgba
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.font_manager import (
    FontManager,
    FontProperties,
    font_family_aliases,
    fontManager,
    get_font,
    weight_dict,
)
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN, MarkerStyle
from matplotlib.patches import Polygon
from matplotlib.text import Text
from matplotlib.transforms import ScaledTranslation
from matplotlib.typing import LineStyleType

from pmsync.reports.facts import Chart, Series

COLOURS = {
    "actual": "#1f5fbf",
    "plan": "#6b6b6b",
    "forecast": "#b35900",
    "cone": "#b35900",
    "bar": "#1f5fbf",
}
"""Colour-blind-safe pairs (blue / orange / grey); styles also differ by dash."""
_EXTRA = ["#1f5fbf", "#2e8540", "#b35900", "#6b6b6b", "#7a3e9d"]
_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "pmsync",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titley": 1.02,
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
}
_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')


@contextmanager
def _settings(settings: dict[str, Any]) -> Iterator[None]:
    """Apply matplotlib ``settings`` for the block, then put back the values they replaced.

    ``matplotlib.rc_context`` copies and restores all of its 300-odd settings
    on each use (0.15 ms, 2 % of a chart); a chart changes only these few.
    """
    params: Any = matplotlib.rcParams
    saved = {key: params[key] for key in settings}
    params.update(settings)
    try:
        yield
    finally:
        params.update(saved)


def _text(value: str) -> str:
    """Return ``value`` safe for matplotlib text ('$' would start mathtext)."""
    return value.replace("\\", "\\\\").replace("$", r"\$")


_UNIX_DAY = date(1970, 1, 1).toordinal()


def _days(points: tuple) -> Any:
    """Return the points' days as matplotlib's date numbers (an array).

    Through day ordinals: numpy turns a list of ``date`` objects into
    ``datetime64`` one object at a time, eight times slower for a chart's series.
    """
    ordinals = np.fromiter((p.day.toordinal() for p in points), np.int64, len(points))
    return date2num((ordinals - _UNIX_DAY).astype("datetime64[D]"))


_BAR_WIDTH = 5.0
"""A bar's width in days (a week's bar, with a gap to the next)."""


def _bars(xs: Any, ys: list[float]) -> tuple[Any, Any]:
    """Return the outline of bars centred on ``xs``, all in one polygon along the baseline.

    One filled path instead of a rectangle artist for each bar (what ``bar``
    makes): a throughput chart has one bar a week, and each artist costs
    matplotlib more to lay out and write than the path of all of them.
    """
    half = _BAR_WIDTH / 2
    heights = np.asarray(ys, dtype=float)
    left, right, zero = xs - half, xs + half, np.zeros_like(heights)
    outline_x = np.column_stack([left, left, right, right]).ravel()
    outline_y = np.column_stack([zero, heights, heights, zero]).ravel()
    return outline_x, outline_y


_DASHES: dict[str, Literal["-", "--", ":"]] = {"actual": "-", "plan": "--", "forecast": ":"}
"""matplotlib's line style of each series style (and, in ``_SVG_DASHES``, the legend's)."""
_SVG_DASHES: dict[str, str] = {"-": "", "--": "5 2.5", ":": "1.5 2"}
_LEVEL = "#a00000"


def _lines(chart: Chart) -> list[tuple[Series, str]]:
    """Return the series drawn as lines or bars (the cone aside), each with its colour."""
    return [
        (s, COLOURS[s.style] if s.style != "actual" or i == 0 else _EXTRA[i % len(_EXTRA)])
        for i, s in enumerate(chart.series)
        if s.style != "cone" and s.points
    ]


def _cone(chart: Chart) -> tuple[Series, Series] | None:
    """Return the forecast fan's two edges (P50, P85) when the chart has both."""
    cones = [s for s in chart.series if s.style == "cone"]
    if len(cones) == 2 and cones[0].points and cones[1].points:
        return cones[0], cones[1]
    return None


def _draw_series(ax: Axes, chart: Chart) -> None:
    for s, colour in _lines(chart):
        xs, ys = _days(s.points), [p.value for p in s.points]
        if s.style == "bar":
            shape = _fill(ax, *_bars(xs, ys), colour)
            shape.sticky_edges.y.append(0)  # bars stand on the axis, as ``bar`` keeps them
        else:
            _line(ax, xs, ys, _DASHES[s.style], colour, 1.6)
    cone = _cone(chart)
    if cone is not None:
        low, high = cone
        _fill(
            ax,
            np.concatenate([_days(low.points), _days(high.points)[::-1]]),
            [p.value for p in low.points] + [p.value for p in high.points][::-1],
            COLOURS["cone"],
            alpha=0.18,
        )
        for edge in cone:  # the fan's two edges: the P50 and the P85 line
            _line(ax, _days(edge.points), [p.value for p in edge.points], ":", COLOURS["cone"], 0.9)
    ax.autoscale()  # fit the axes to what was added (``_add`` leaves them as they were)


def _fill(ax: Axes, xs: Any, ys: Any, colour: str, alpha: float | None = None) -> Polygon:
    """Add a filled outline: what ``ax.fill`` makes, without parsing its arguments."""
    xy = np.column_stack([xs, ys])
    shape = Polygon(xy, closed=True, color=colour, lw=0, alpha=alpha)
    # as ``add_patch``: a patch without a finite point widens nothing
    _add(ax, shape, xy if np.isfinite(xy).any() else xy[:0])
    return shape


def _line(
    ax: Axes, xs: Any, ys: list[float], style: LineStyleType, colour: str, width: float
) -> None:
    """Add a line: what ``ax.plot`` makes, without parsing its arguments for each line."""
    _add(
        ax,
        Line2D(xs, ys, linestyle=style, color=colour, linewidth=width),
        np.column_stack([np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)]),
    )


def _add(ax: Axes, artist: Any, xy: Any, *, along: bool = True, across: bool = True) -> None:
    """Add a line or patch to the axes, its data's limits widened by ``xy``'s points.

    What ``add_line`` and ``add_patch`` do, but for how they find the limits: they
    ask the artist's transform which axes its data is in, then walk its path (a
    patch's segment by segment, as Bezier curves); pmsync knows both, so the data
    limits grow by the points themselves: ``along`` the x axis, ``across`` for y
    (an ``axvline``'s x only). The same bounds (the tests compare the limits with
    matplotlib's own ``plot``, ``fill``, ``bar`` and ``axvline``); adding a chart's
    data and markers took 2.0 ms, now 1.5.
    """
    ax.add_artist(artist)
    artist._set_in_autoscale(True)  # as ``add_line``: its sticky edges count in autoscale
    if len(xy):
        ax.dataLim.update_from_data_xy(
            xy, ax.ignore_existing_data_limits, updatex=along, updatey=across
        )
        ax.ignore_existing_data_limits = False


_DATES, _VALUES = 5, 12
"""Labels on the x axis, and the most on the y axis (``AutoLocator``: at most 9 intervals)."""


def _date_ticks(chart: Chart, count: int = _DATES) -> tuple[list[float], list[str]]:
    """Return ``count`` evenly spread dates over the chart's span, as positions and labels."""
    days = [p.day for s in chart.series for p in s.points] + [m.day for m in chart.markers]
    if not days:
        return [], []
    first, last = min(days), max(days)
    span = (last - first).days
    # a span of a few days has fewer dates than ``count``: each is labelled once
    ticks = sorted({first + timedelta(days=round(span * i / (count - 1))) for i in range(count)})
    fmt = "%d %b" if span <= 120 else "%b %Y"
    return [float(date2num(t)) for t in ticks], [t.strftime(fmt) for t in ticks]


_Layout = tuple[str, float, float]
_layouts: dict[tuple[Any, ...], _Layout] = {}
"""Each label's line and its offset from its anchor, by text, font, alignment and rotation."""


class _Labels(Artist):
    """The axes' labels (dates, values, unit), drawn as one artist: what each ``Text`` draws.

    matplotlib draws a text artist by laying it out again (lines, metrics, alignment,
    rotation), then writing it; a chart's dozen labels are the same few texts in the
    same font chart after chart. This artist draws each visible label as
    ``Text.draw`` does, with the layout of each text, font, alignment and rotation
    worked out once per process; the SVG is the same (the tests compare it with
    matplotlib's own ``savefig``, which draws through ``Text``'s layout). What
    ``Text.draw`` does for what these labels never have (a link, a clip, a box,
    path effects, TeX, more than one line) is left out; a label of more lines
    raises.
    """

    def __init__(self, texts: Callable[[], list[Text]]) -> None:
        super().__init__()
        self.texts = texts
        self.set_zorder(Text.zorder)

    def draw(self, renderer: Any) -> None:
        if not self.get_visible():
            return
        height = renderer.get_canvas_width_height()[1]
        text: Any  # its layout's private parts are read, as ``Text.draw`` reads them
        for text in self.texts():
            if not text.get_visible() or not text.get_text():
                continue
            renderer.open_group("text", text.get_gid())
            line, dx, dy = _layout(text, renderer)
            posx, posy = text.get_transform().transform((text._x, text._y))
            gc = renderer.new_gc()
            gc.set_foreground(to_rgba(text.get_color()), isRGBA=True)
            gc.set_alpha(text.get_alpha())
            gc.set_antialiased(text._antialiased)
            clean, ismath = text._preprocess_math(line)
            y = dy + posy
            renderer.draw_text(
                gc, dx + posx, height - y if renderer.flipy() else y, clean,
                text.get_fontproperties(), text.get_rotation(), ismath=ismath, mtext=text,
            )  # fmt: skip
            gc.restore()
            renderer.close_group("text")
        self.stale = False


def _layout(text: Text, renderer: Any) -> _Layout:
    """Return a one-line label's line and its offset from its anchor, as ``Text`` lays it out."""
    key = (
        text.get_text(), text.get_fontproperties(), text.get_horizontalalignment(),
        text.get_verticalalignment(), text.get_rotation(), text.get_rotation_mode(),
        text.get_figure(root=True).dpi,  # type: ignore[union-attr]
    )  # fmt: skip
    found = _layouts.get(key)
    if found is None:
        _, info, _ = text._get_layout(renderer)  # type: ignore[attr-defined]
        if len(info) != 1:
            raise ValueError(f"an axis label has one line, not {len(info)}: {text.get_text()!r}")
        ((line, _, (dx, dy)),) = info
        if len(_layouts) >= 50_000:  # the labels of a few thousand charts: stay bounded
            _layouts.clear()
        found = _layouts[(key[0], key[1].copy(), *key[2:])] = (line, dx, dy)
    return found


_TICK = 3.5
"""A tick mark's length, and the gap between it and its label, in points (matplotlib's)."""


class _Marks:
    """The marks of a figure's axes: dates with tick marks below, values with grid lines beside.

    matplotlib's own axes draw each tick as five artists (mark, grid line, label
    and the hidden ones of the far side), set up and laid out again on each draw:
    half of a chart's time. These are the same marks at the same places, with the
    same values (the y axis's ``AutoLocator``) and labels, as one line of tick
    marks, one line of grid lines and a text each. They are made with the figure
    and moved for every chart, as matplotlib keeps its ticks.
    """

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        self.figure = cast(Figure, ax.get_figure(root=True))  # the labels draw for it, not the axes
        points = self.figure.dpi_scale_trans
        along, across = ax.get_xaxis_transform(), ax.get_yaxis_transform()
        self.below = along + ScaledTranslation(0, -2 * _TICK / 72, points)
        self.beside = across + ScaledTranslation(-2 * _TICK / 72, 0, points)
        self.ticks = Line2D(
            [], [], transform=along, linestyle="None", marker=MarkerStyle(TICKDOWN),
            markersize=_TICK, markeredgewidth=0.8, color="black", clip_on=False,
        )  # fmt: skip
        self.grid = Line2D([], [], transform=across, color="#e0e0e0", linewidth=0.6, zorder=0.5)
        self.unit = Text(
            -0.09, 0.5, "", transform=ax.transAxes, rotation=90, rotation_mode="anchor",
            ha="center", va="bottom", clip_on=False,
        )  # fmt: skip
        self.unit.set_figure(self.figure)
        self.dates: list[Text] = []
        self.values: list[Text] = []
        self.labels = _Labels(lambda: [self.unit, *self.dates, *self.values])
        self.artists: set[Any] = set()
        # ``add_artist``, not ``add_line``: the marks must not widen the data's limits
        for artist in (self.grid, self.ticks, self.labels):
            self._add(artist)
        # All texts made now, before any chart's: a reused figure then draws its artists
        # in the order a new one does, and the SVG is the same.
        self._place(self.dates, [((0.0, 0.0), "")] * _DATES, self._date)
        self._place(self.values, [((0.0, 0.0), "")] * _VALUES, self._value)
        self.clear()

    def _add(self, artist: Any) -> None:
        self.ax.add_artist(artist)
        self.artists.add(artist)

    def clear(self) -> None:
        """Show no marks (before the next chart's data limits are computed)."""
        self.ticks.set_data([], [])
        self.grid.set_data([], [])
        for text in [*self.dates, *self.values, self.unit]:
            text.set_visible(False)

    def draw(self, chart: Chart) -> None:
        """Place the marks for ``chart``, whose data, markers and level are on the axes."""
        ax = self.ax
        xs, labels = _date_ticks(chart)
        if xs:
            low, high = ax.get_xlim()
            if xs[0] < low or xs[-1] > high:  # as ``set_xticks``: the view grows to show them
                ax.set_xlim(min(low, xs[0]), max(high, xs[-1]))
            self.ticks.set_data(xs, [0.0] * len(xs))
        dates = [((x, 0.0), label) for x, label in zip(xs, labels, strict=True)]
        self._place(self.dates, dates, self._date)
        low, high = sorted(ax.get_ylim())
        slack = (high - low) * 1e-10  # what matplotlib allows a tick on the view's edge
        ys = [float(y) for y in ax.yaxis.get_major_locator()() if low - slack <= y <= high + slack]
        if ys:  # one path: a segment across the axes at each value
            across = [v for y in ys for v in (y, y, np.nan)]
            self.grid.set_data([0.0, 1.0, np.nan] * len(ys), across)
        self._place(self.values, [((0.0, y), _short(y)) for y in ys], self._value)
        self.unit.set_text(_text(chart.unit))
        self.unit.set_visible(bool(chart.unit))

    def _place(
        self,
        texts: list[Text],
        places: list[tuple[tuple[float, float], str]],
        make: Callable[[], Text],
    ) -> None:
        """Show ``texts`` with these labels at these places (``make`` one more if need be)."""
        while len(texts) < len(places):
            texts.append(make())
            texts[-1].set_figure(self.figure)
        for text, (xy, label) in zip(texts, places, strict=False):
            text.set_position(xy)
            text.set_text(label)
            text.set_visible(True)

    def _date(self) -> Text:
        """Return a date label: centred below its tick mark."""
        return Text(0, 0, "", transform=self.below, ha="center", va="top", clip_on=False)

    def _value(self) -> Text:
        """Return a value label: right-aligned beside its grid line."""
        return Text(
            0, 0, "", transform=self.beside, ha="right", va="center_baseline", clip_on=False
        )


def _short(value: float, _: object = None) -> str:
    """Return an axis value with k or M for thousands and millions (``400k``, ``1.25M``)."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


_TextKey = tuple[str, FontProperties, Any]
_text_metrics: dict[_TextKey, tuple[float, float, float]] = {}
"""Width, height and descent of each text drawn, by text, font and kind (a few hundred)."""


class _Renderer(RendererSVG):
    """matplotlib's SVG renderer, remembering what each text measures across charts.

    matplotlib caches text metrics per renderer, and ``savefig`` makes a new
    renderer for every chart, so every tick label and title of
    every chart was laid out by FreeType again: a fifth of a chart's time. The
    SVG renderer's metrics depend on nothing but the text, the font and mathtext
    or not (``TextToPath`` at 72 dpi), so they are kept for the process.
    """

    def get_text_width_height_descent(
        self, s: str, prop: FontProperties, ismath: Any
    ) -> tuple[float, float, float]:
        key = (s, prop, ismath)
        found = _text_metrics.get(key)
        if found is None:
            if len(_text_metrics) >= 50_000:  # ids and dates differ per chart: stay bounded
                _text_metrics.clear()
            width, height, descent = super().get_text_width_height_descent(s, prop, ismath)
            found = _text_metrics[(s, prop.copy(), ismath)] = (width, height, descent)
        return found

    def _get_font_height_metrics(self, prop: FontProperties) -> tuple[Any, Any, Any]:
        """Return a font's ascent, descent and line gap at 72 dpi, read once per font.

        matplotlib 3.11 asks a renderer that has this method before it reads the
        font's tables for every text drawn (``Text._get_layout``); None leaves it
        to do so. Read as it does, so the SVG is the same (the tests compare).
        """
        found = _font_heights.get(prop)
        if found is None:
            found = _font_heights[prop.copy()] = _font_height(prop)
        return found

    def _draw_text_as_text(
        self, gc: Any, x: float, y: float, s: str, prop: FontProperties, angle: float,
        ismath: Any, mtext: Text | None = None,
    ) -> None:  # fmt: skip
        """Write a text as matplotlib does, its font's style attribute made once per process.

        matplotlib spells out each text's font (the family list expanded from the
        settings, quoted and deduplicated) for every text of every chart; here the
        style of each font, colour and alignment is kept. Mathtext goes to matplotlib.
        """
        if ismath:
            super()._draw_text_as_text(gc, x, y, s, prop, angle, ismath, mtext)
            return
        attrib: dict[str, str] = {}
        rgba = gc.get_rgb()
        alpha = gc.get_alpha() if gc.get_forced_alpha() else rgba[3]
        if mtext and (angle == 0 or mtext.get_rotation_mode() == "anchor"):
            # the anchor point and its alignment, as matplotlib 3.11 writes them
            ax, ay = mtext.get_transform().transform(mtext.get_unitless_position())
            ay = self.height - ay
            angle_rad = np.deg2rad(angle)
            dir_vert = np.array([np.sin(angle_rad), np.cos(angle_rad)])
            v_offset = np.dot(dir_vert, [(x - ax), (y - ay)])
            ax = ax + v_offset * dir_vert[0]
            ay = ay + v_offset * dir_vert[1]
            attrib["style"] = _text_style(prop, tuple(rgba), alpha, mtext.get_horizontalalignment())
            attrib["x"] = _short_float_fmt(ax)
            attrib["y"] = _short_float_fmt(ay)
            attrib["transform"] = _generate_transform([("rotate", (-angle, ax, ay))])
        else:
            attrib["style"] = _text_style(prop, tuple(rgba), alpha, None)
            attrib["transform"] = _generate_transform(
                [("translate", (x, y)), ("rotate", (-angle,))]
            )
        self.writer.element("text", s, attrib=attrib)


_text_styles: dict[tuple[Any, ...], str] = {}
_ANCHORS = {"left": "start", "right": "end", "center": "middle"}


def _text_style(prop: FontProperties, rgba: Any, alpha: float, ha: str | None) -> str:
    """Return the ``style`` of a text in this font, colour and alignment (None: unaligned),
    as matplotlib's SVG renderer writes it (made once per process)."""
    key = (prop, rgba, alpha, ha)
    found = _text_styles.get(key)
    if found is not None:
        return found
    font: dict[str, str] = {}
    if prop.get_style() != "normal":
        font["font-style"] = prop.get_style()
    if prop.get_variant() != "normal":
        font["font-variant"] = prop.get_variant()
    weight: Any = prop.get_weight()
    weight = weight_dict.get(weight, weight)
    if weight != 400:
        font["font-weight"] = f"{weight}"
    font["font-size"] = f"{_short_float_fmt(prop.get_size())}px"
    font["font-family"] = ", ".join(dict.fromkeys(_family_names(prop)))
    if prop.get_stretch() != "normal":
        font["font-stretch"] = str(prop.get_stretch())
    if ha is not None:
        font["text-anchor"] = _ANCHORS[ha]
    colour = {}
    if rgb2hex(rgba) != "#000000":
        colour["fill"] = rgb2hex(rgba)
    if alpha != 1:
        colour["opacity"] = _short_float_fmt(alpha)
    found = _text_styles[(prop.copy(), rgba, alpha, ha)] = _generate_css({**font, **colour})
    return found


def _family_names(prop: FontProperties) -> Iterator[str]:
    """Yield the font's family names as matplotlib's SVG renderer lists them (generic names
    after the configured fonts they stand for; only specific names quoted)."""

    def sans(name: str) -> str:
        return "sans-serif" if name in ["sans", "sans serif"] else name

    manager: Any = FontManager  # its alias expansion, which the SVG renderer uses, is private
    for entry in prop.get_family():
        generic = sans(entry)
        names = (
            [sans(n) for n in manager._expand_aliases(generic)]
            if generic in font_family_aliases
            else []
        )
        for name in [*names, generic]:
            yield name if name in font_family_aliases else repr(name)


def _font_height(prop: FontProperties) -> tuple[Any, Any, Any]:
    font: Any = get_font(fontManager._find_fonts_by_props(prop))  # FT2Font's tables, untyped here
    for table_name, gap, ascent, descent in (
        ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
        ("hhea", "lineGap", "ascent", "descent"),
    ):
        table = font.get_sfnt_table(table_name)
        if table is None:
            continue
        scale = prop.get_size_in_points() / font.get_sfnt_table("head")["unitsPerEm"]
        return table[ascent] * scale, -table[descent] * scale, table[gap] * scale
    return None, None, None


_font_heights: dict[FontProperties, tuple[Any, Any, Any]] = {}


class _Canvas(FigureCanvasSVG):
    """An SVG canvas drawing with ``_Renderer``; what ``savefig`` does for SVG, minus the file."""

    def draw_svg(self, out: io.StringIO) -> None:
        """Write the figure as SVG to ``out`` (without the metadata block's date and creator)."""
        fig = self.figure
        dpi, fig.dpi = fig.dpi, 72
        try:
            width, height = fig.get_size_inches()
            renderer = MixedModeRenderer(
                fig,
                width,
                height,
                dpi,
                _Renderer(
                    width * 72,
                    height * 72,
                    out,
                    image_dpi=dpi,
                    metadata={"Date": None, "Creator": None},
                ),
            )
            fig.draw(renderer)  # type: ignore[arg-type]  # it hands calls on, as in print_svg
            renderer.finalize()
        finally:
            fig.dpi = dpi


_figures = threading.local()
"""Per thread: (width, height) → the figure and axes charts of that size are drawn on."""


def _axes(width: float, height: float) -> tuple[Figure, Axes]:
    """Return this thread's figure of that size with empty axes, ready for a new chart.

    Called inside the charts' settings (``_settings``): the figure is built with those
    settings the first time and keeps them. What a chart adds (lines, patches,
    texts, x ticks, data limits) is removed or reset here; what every
    chart shares (margins, the y grid) is set once.
    """
    kept: dict[tuple[float, float], tuple[Figure, Axes]] | None = getattr(_figures, "by_size", None)
    if kept is None:
        kept = _figures.by_size = {}
        _figures.marks = {}
    if (width, height) not in kept:
        fig = Figure(figsize=(width, height), dpi=72)  # as drawn to SVG: no dpi change per chart
        _Canvas(fig)
        ax = fig.add_subplot()
        fig.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.14)
        # matplotlib's axes draw each tick as five artists: ``_Marks`` draws them instead
        ax.xaxis.set_visible(False)
        ax.yaxis.set_visible(False)
        kept[(width, height)] = (fig, ax)
        _figures.marks[(width, height)] = _Marks(ax)
        return fig, ax
    fig, ax = kept[(width, height)]
    marks = _figures.marks[(width, height)]
    for artist in [*ax.lines, *ax.patches, *ax.texts, *ax.collections]:
        if artist not in marks.artists:
            artist.remove()
    marks.clear()
    ax.containers.clear()
    ax.relim()
    ax.set_xlim(0, 1, auto=True)  # as a new axes starts: a chart with no data keeps them
    ax.set_ylim(0, 1, auto=True)
    return fig, ax


def _marker_lines(ax: Axes, chart: Chart) -> None:
    """Draw the chart's dated markers as vertical lines: what ``axvline`` draws, as one path."""
    xs = [float(date2num(marker.day)) for marker in chart.markers]
    if not xs:
        return
    low, high = ax.get_xbound()
    line = Line2D(
        [v for x in xs for v in (x, x, np.nan)],
        [0.0, 1.0, np.nan] * len(xs),
        transform=ax.get_xaxis_transform(which="grid"),
        color="#999999",
        linewidth=0.8,
        linestyle="-.",
    )
    # its x widens the data's limits, as an ``axvline``'s does
    _add(ax, line, np.column_stack([xs, np.zeros(len(xs))]), across=False)
    if min(xs) < low or max(xs) > high:  # and, as there, the view is fitted again
        ax.autoscale(axis="x")


def render_chart(chart: Chart, *, width: float = 6.4, height: float = 2.6) -> str:
    """Return ``chart`` as an accessible inline ``<svg>`` element."""
    settings: Any = {**_RC, "svg.hashsalt": f"pmsync-{chart.id}"}
    with _settings(settings):
        fig, ax = _axes(width, height)
        _draw_series(ax, chart)
        _marker_lines(ax, chart)
        for marker, label in zip(chart.markers, chart.marker_labels, strict=False):
            x = float(date2num(marker.day))
            ax.annotate(
                _text(label),
                (x, 1),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                ha="left",
                va="top",
                rotation=90,
                color="#555555",
            )
        if chart.level is not None:
            ax.axhline(chart.level, color=_LEVEL, lw=0.9, ls="--")
        _figures.marks[(width, height)].draw(chart)
        ax.set_title(_text(chart.title), fontsize=9, loc="left")
        buffer = io.StringIO()
        fig.canvas.draw_svg(buffer)  # type: ignore[attr-defined]
    return _accessible(buffer.getvalue(), chart.alt, chart.id)


def _accessible(svg: str, alt: str, chart_id: str) -> str:
    svg = _METADATA.sub("", _PROLOG.sub("", svg, count=1), count=1)
    svg = _SIZE.sub(r'<svg\1 class="chart" preserveAspectRatio="xMinYMin meet"', svg, count=1)
    title_id = f"chart-{chart_id}-title"
    head, rest = svg.split(">", 1)
    return (
        f'{head} role="img" aria-labelledby="{escape(title_id)}">'
        f'<title id="{escape(title_id)}">{escape(alt)}</title>{rest}'
    )


def legend(chart: Chart) -> str:
    """Return the chart's legend as an HTML list, to show beside its ``<svg>`` ('' if none).

    The legend is page text rather than part of the drawing: it never covers
    the lines (matplotlib's placed inside the axes could), it wraps on a narrow
    screen and reads as text, and laying it out was a quarter of a chart's
    cost in matplotlib. Each name has a small swatch drawn like its line: the
    same colour and dash, a band for the forecast fan, a block for bars.
    """
    entries = []
    for s, colour in _lines(chart):
        if s.style == "bar":
            swatch = f'<rect x="2" y="1" width="18" height="8" fill="{colour}"/>'
        else:
            swatch = _swatch_line(colour, 1.6, _SVG_DASHES[_DASHES[s.style]])
        entries.append((s.name, swatch))
    cone = _cone(chart)
    if cone is not None:
        band = f'<rect x="1" y="1" width="20" height="8" fill="{COLOURS["cone"]}" opacity="0.18"/>'
        entries.append((f"{cone[0].name} to {cone[1].name}", band))
    if chart.level is not None:
        entries.append((chart.level_label or "level", _swatch_line(_LEVEL, 0.9, "5 2.5")))
    if not entries:
        return ""
    items = "".join(
        f'<li><svg width="22" height="10" viewBox="0 0 22 10" aria-hidden="true">{swatch}</svg>'
        f"{escape(name)}</li>"
        for name, swatch in entries
    )
    return f'<ul class="legend">{items}</ul>'


def _swatch_line(colour: str, width: float, dashes: str) -> str:
    dash = f' stroke-dasharray="{dashes}"' if dashes else ""
    return f'<line x1="1" y1="5" x2="21" y2="5" stroke="{colour}" stroke-width="{width}"{dash}/>'


def sparkline(series: Series | None, *, width: int = 96, height: int = 22) -> str:
    """Return a tiny inline SVG line of ``series`` (empty string without two points)."""
    if series is None or len(series.points) < 2:
        return ""
    values = [p.value for p in series.points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    start, end = series.points[0].day, series.points[-1].day
    days = max((end - start).days, 1)

    def xy(day: date, value: float) -> str:
        x = (day - start).days / days * (width - 4) + 2
        y = height - 2 - (value - low) / span * (height - 4)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(p.day, p.value) for p in series.points)
    alt = f"{series.name}: {values[0]:.2f} to {values[-1]:.2f} from {start} to {end}"
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(alt)}"><title>{escape(alt)}</title>'
        f'<polyline fill="none" stroke="{COLOURS["actual"]}" stroke-width="1.5" '
        f'points="{line}"/></svg>'
    )
