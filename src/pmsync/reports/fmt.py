"""How figures read in every output: money, indices, dates, RAG labels, trend arrows.

HTML, Markdown, e-mail and meeting packs format through these functions only,
so "1.2 M EUR" or "0.93" look the same wherever a PM meets them, and an unknown
value is always an em dash, never "None" or "nan". RAG is given as a word and a
shape as well as a colour, for readers who cannot tell red from green.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from pmsync.reports.facts import Rag, Trend

DASH = "—"
RAG_LABEL: dict[str, str] = {"green": "Green", "amber": "Amber", "red": "Red", "grey": "Unknown"}
RAG_SYMBOL: dict[str, str] = {"green": "●", "amber": "▲", "red": "■", "grey": "○"}
ARROW = {"up": "↑", "down": "↓", "flat": "→", "new": "•", "gone": "∅"}


def _unknown(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def money(value: float | None, currency: str = "") -> str:
    """Return money with thousands separators and no cents (``124,000 EUR``)."""
    if _unknown(value):
        return DASH
    assert value is not None
    text = f"{value:,.0f}"
    return f"{text} {currency}".strip() if currency else text


def ratio(value: float | None) -> str:
    """Return an index such as SPI or CPI with two decimals."""
    return DASH if _unknown(value) else f"{value:.2f}"


def percent(value: float | None, digits: int = 0) -> str:
    """Return a fraction (0.85) as a percentage (``85 %``)."""
    return DASH if _unknown(value) else f"{(value or 0) * 100:.{digits}f} %"


def number(value: float | None, digits: int = 1) -> str:
    """Return a plain number, integers without decimals."""
    if _unknown(value):
        return DASH
    assert value is not None
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"


def days(value: float | int | None) -> str:
    """Return a signed number of days (``+12 d``, ``-3 d``, ``0 d``)."""
    if _unknown(value):
        return DASH
    assert value is not None
    return f"{value:+.0f} d" if value else "0 d"


def day(value: date | None) -> str:
    """Return a date as ``2026-03-02`` (ISO: unambiguous in every country)."""
    return DASH if value is None else value.isoformat()


def instant(value: datetime | None) -> str:
    """Return an instant as ``2026-03-02 07:00 UTC``."""
    return DASH if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def figure_value(value: float | None, unit: str, currency: str = "") -> str:
    """Return a key figure's value by its unit."""
    if unit == "money":
        return money(value, currency)
    if unit == "ratio":
        return ratio(value)
    if unit == "percent":
        return percent(value)
    if unit == "days":
        return days(value)
    return number(value)


def rag_text(rag: Rag | str) -> str:
    """Return the RAG as shape and word (``■ Red``)."""
    return f"{RAG_SYMBOL.get(rag, '?')} {RAG_LABEL.get(rag, rag)}"


def trend_text(trend: Trend) -> str:
    """Return a trend as an arrow and its verdict (``↓ worse``)."""
    return f"{ARROW[trend.direction]} {trend.verdict}"
