"""What a report derives from its own sections: key figures, the header, trends, decisions.

These are judgements over facts already collected, not new measurements: the
key figures are copies of earned-value numbers, trends compare them with the
previous report's JSON, decisions are read off unapproved plan changes,
escalated risks, milestones that will miss their date and critical alerts, and
the portfolio rows summarise project reports. Keeping them here lets hand-built
facts and collected facts go through the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pmsync.config.rules import BuiltinRules
from pmsync.reports import rag
from pmsync.reports.facts import (
    AlertRow,
    Better,
    Changes,
    Decision,
    EarnedValue,
    Header,
    KeyFigure,
    MilestoneRow,
    PortfolioReport,
    PortfolioRow,
    ProjectReport,
    Risks,
    Series,
    SourceFreshness,
    Trend,
    Unavailable,
)

FLAT = 0.005
"""Relative change below which a figure counts as unchanged."""


def key_figures(
    ev: EarnedValue | Unavailable, risks: Risks | Unavailable, alerts: object
) -> tuple[KeyFigure, ...]:
    """Return the headline figures (None where the section is unavailable)."""
    e = ev if isinstance(ev, EarnedValue) else None
    over = (e.eac / e.bac - 1) if e and e.eac is not None and e.bac else None
    done = (e.ev / e.bac) if e and e.bac else None
    return (
        KeyFigure("spi_t", "SPI(t)", e.spi_t if e else None, "ratio", "higher"),
        KeyFigure("cpi", "CPI", e.cpi if e else None, "ratio", "higher"),
        KeyFigure("percent_complete", "Complete", done, "percent", "higher"),
        KeyFigure("ac", "Actual cost", e.ac if e else None, "money", "neither"),
        KeyFigure("eac", "EAC", e.eac if e else None, "money", "lower"),
        KeyFigure("eac_over_bac", "EAC over BAC", over, "percent", "lower"),
        KeyFigure(
            "risk_exposure",
            "Risk exposure",
            risks.total_exposure if isinstance(risks, Risks) else None,
            "money",
            "lower",
        ),
        KeyFigure(
            "open_alerts",
            "Open alerts",
            float(len(alerts)) if isinstance(alerts, tuple) else None,
            "count",
            "lower",
        ),
    )


def build_header(
    *,
    key: str,
    name: str,
    manager: str | None,
    sponsor: str | None,
    currency: str,
    period_start: date,
    status_date: date,
    generated_at: datetime,
    earned_value: EarnedValue | Unavailable,
    milestones: object,
    risks: Risks | Unavailable,
    alerts: object,
    changes: Changes | Unavailable,
    freshness: Sequence[SourceFreshness],
    rules: BuiltinRules,
    objectives: tuple[str, ...] = (),
) -> Header:
    """Return the report header with its RAG judgements."""
    overall, dims = rag.judge(
        earned_value=earned_value,
        milestones=milestones,
        risks=risks,
        alerts=alerts,
        changes=changes,
        freshness=freshness,
        rules=rules,
    )
    return Header(
        project_key=key,
        project_name=name,
        manager=manager,
        sponsor=sponsor,
        currency=currency,
        period_start=period_start,
        status_date=status_date,
        generated_at=generated_at,
        overall=overall,
        dimensions=dims,
        stale=any(f.stale for f in freshness),
        objectives=objectives,
    )


def _verdict(better: Better, direction: str) -> str:
    if direction == "flat":
        return "same"
    if better == "neither" or direction not in ("up", "down"):
        return "unknown"
    return "better" if (direction == "up") == (better == "higher") else "worse"


def trends(figures: Iterable[KeyFigure], previous: Mapping[str, Any] | None) -> tuple[Trend, ...]:
    """Return each key figure against the previous report's JSON (arrows and verdicts)."""
    if previous is None:
        return ()
    before = {f.get("name"): f.get("value") for f in previous.get("key_figures", [])}
    found: list[Trend] = []
    for f in figures:
        old = before.get(f.name)
        old = float(old) if isinstance(old, int | float) else None
        if old is None and f.value is None:
            continue
        if old is None:
            direction = "new"
        elif f.value is None:
            direction = "gone"
        elif abs(f.value - old) <= FLAT * max(abs(old), 1e-9):
            direction = "flat"
        else:
            direction = "up" if f.value > old else "down"
        found.append(Trend(f.name, f.label, old, f.value, direction, _verdict(f.better, direction)))  # type: ignore[arg-type]
    return tuple(found)


def decisions(
    milestones: object, risks: Risks | Unavailable, alerts: object, changes: Changes | Unavailable
) -> tuple[Decision, ...]:
    """Return what needs a decision: unapproved changes, late milestones, escalations."""
    found: list[Decision] = []
    if isinstance(changes, Changes):
        for c in changes.plan_changes:
            if not c.approved:
                what = f"{c.subject} {c.field} {c.old or '—'} → {c.new or '—'}"
                found.append(
                    Decision(
                        f"Approve or reject: {what}", "Not in the approved baseline.", "plan_change"
                    )
                )
    if isinstance(milestones, tuple):
        for m in milestones:
            if isinstance(m, MilestoneRow) and m.status in ("late", "at_risk"):
                why = (
                    f"P85 forecast {m.forecast_p85} is after the due date {m.current_due}."
                    if m.forecast_p85 and m.current_due and m.forecast_p85 > m.current_due
                    else f"The milestone is {m.status.replace('_', ' ')}."
                )
                found.append(
                    Decision(f"Re-plan or cut scope: {m.name}", why, "milestone", m.current_due)
                )
    if isinstance(risks, Risks):
        for r in risks.top:
            if r.response == "escalate" and r.status not in ("closed", "occurred"):
                found.append(Decision(f"Escalated risk: {r.title}", f"Risk {r.key}.", "risk"))
    if isinstance(alerts, tuple):
        for a in alerts:
            if isinstance(a, AlertRow) and a.severity == "critical" and a.suggested_action:
                found.append(Decision(a.suggested_action, a.summary, "alert"))
    return tuple(found)


def portfolio_row(
    report: ProjectReport, *, href: str | None = None, sparkline: Series | None = None
) -> PortfolioRow:
    """Return a project's line on the portfolio page."""
    h = report.header
    alerts = report.alerts if isinstance(report.alerts, tuple) else ()
    critical = sum(1 for a in alerts if a.severity == "critical")
    warning = sum(1 for a in alerts if a.severity == "warning")
    upcoming = (
        [m for m in report.milestones if m.status != "done"]
        if isinstance(report.milestones, tuple)
        else []
    )
    return PortfolioRow(
        project_key=h.project_key,
        project_name=h.project_name,
        manager=h.manager,
        currency=h.currency,
        overall=h.overall,
        dimensions=h.dimensions,
        stale=h.stale,
        key_figures=report.key_figures,
        next_milestone=upcoming[0] if upcoming else None,
        critical_alerts=critical,
        warning_alerts=warning,
        risk_score=rag.risk_score(h.overall, h.dimensions, critical, warning),
        sparkline=sparkline,
        report_href=href,
    )


def build_portfolio(
    rows: Iterable[PortfolioRow],
    *,
    status_date: date,
    generated_at: datetime,
    freshness: tuple[SourceFreshness, ...],
) -> PortfolioReport:
    """Return the portfolio report: every project, most at risk first."""
    ordered = sorted(rows, key=lambda r: (-r.risk_score, r.project_key))
    counts: dict[str, int] = {
        name: sum(1 for r in ordered if r.overall.rag == name) for name in rag.RANK
    }
    return PortfolioReport(
        status_date=status_date,
        generated_at=generated_at,
        projects=tuple(ordered),
        freshness=freshness,
        rag_counts=counts,
    )
