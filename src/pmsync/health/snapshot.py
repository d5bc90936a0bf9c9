"""The daily metric snapshot: one row per project, milestone and deliverable and day.

Trends ("SPI(t) fell since last week") and rules that compare with the past
need yesterday's figures as they were computed yesterday, not recomputed
from today's data (statuses get corrected, worklogs are back-dated). So once
a day the daemon stores the figures of every scope in ``metric_snapshot``,
keyed by (scope kind, scope id, day): taking it again the same day replaces
that day's row (an upsert), so the job is idempotent and replicas may race.

Scope ids are readable and stable across plan refreshes: the project key
(``PAY``), the key and milestone name (``PAY/R3 Beta``), the key and WBS code
(``PAY/1.2``). The metrics are the JSON of the figures (``null`` where not
defined): a project's earned value, earned schedule, team summary, budget and
business case; a milestone's plan, scope and forecast; a deliverable's earned
value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pmsync import model
from pmsync.config import Config
from pmsync.health.figures import Analysis, ProjectFigures, load_figures
from pmsync.processes import collections_paused
from pmsync.store import Store
from pmsync.upsert import upsert_rows

TEAM_SUMMARY = (
    "throughput_per_day",
    "throughput_per_week",
    "cycle_time_median_days",
    "cycle_time_p85_days",
    "cycle_time_items",
    "work_in_progress",
    "overloaded_person_weeks",
)


class SnapshotScope(NamedTuple):
    """What a snapshot row is about: ``("milestone", "PAY/R3 Beta")``."""

    kind: str
    id: str


@dataclass(frozen=True)
class SnapshotResult:
    """What one daily snapshot wrote."""

    day: date
    projects: int
    rows: int
    """Scopes written (each replacing that day's row, if any)."""
    problems: dict[str, str] = field(default_factory=dict)
    """Projects whose figures could not be computed, with the reason."""


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """The figures of one scope as stored on one day."""

    scope: SnapshotScope
    day: date
    metrics: dict[str, Any]
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class Trend:
    """A figure now and on an earlier day."""

    name: str
    now: float
    before: float
    before_day: date

    @property
    def change(self) -> float:
        """Return now minus before."""
        return self.now - self.before


def project_metrics(figures: ProjectFigures) -> dict[str, Any]:
    """Return the snapshot of a project: its headline figures, without daily series."""
    h = figures.health
    team = h.team.as_dict() if h.team is not None else {}
    return {
        **h.project.as_dict(),
        **(h.schedule.as_dict() if h.schedule is not None else {}),
        **{name: team.get(name) for name in TEAM_SUMMARY},
        "business_case": None if h.business_case is None else h.business_case.as_dict(),
        "budget": {line.period: line.as_dict() for line in figures.budget},
        "baseline_version": figures.baseline_version,
        "milestone_count": len(figures.milestones),
    }


def snapshot_rows(figures: ProjectFigures) -> list[tuple[SnapshotScope, dict[str, Any]]]:
    """Return the scopes of one project and the metrics stored for each."""
    key = figures.key
    rows = [(SnapshotScope("project", key), project_metrics(figures))]
    rows += [
        (SnapshotScope("milestone", f"{key}/{m.name}"), m.as_dict()) for m in figures.milestones
    ]
    rows += [
        (SnapshotScope("deliverable", f"{key}/{d.code}"), d.as_dict())
        for d in figures.health.deliverables
    ]
    return rows


def today(config: Config, now: Callable[[], datetime]) -> date:
    """Return the current day in the installation's time zone."""
    return now().astimezone(ZoneInfo(config.settings.timezone)).date()


@collections_paused()
def take_daily_snapshot(
    store: Store,
    config: Config,
    now: Callable[[], datetime],
    *,
    day: date | None = None,
    analysis: Analysis | None = None,
) -> SnapshotResult:
    """Store today's figures of every project, milestone and deliverable (idempotent per day).

    ``analysis``: every project's figures at ``day`` if already measured (``analyse``).
    """
    day = day or today(config, now)
    problems: dict[str, str] = {}
    if (
        analysis is not None
        and analysis.as_of == day
        and set(analysis.keys) >= set(config.projects)
    ):
        figures, problems = dict(analysis.figures), dict(analysis.problems)
    else:  # none, or one of another day or of fewer projects: measure here
        figures = load_figures(store, config, as_of=day, now=now, problems=problems)
    computed_at = now()
    rows = [
        {
            "scope_kind": scope.kind,
            "scope_id": scope.id,
            "day": day,
            "metrics": metrics,
            "computed_at": computed_at,
        }
        for project in figures.values()
        for scope, metrics in snapshot_rows(project)
    ]
    with store.transaction() as conn:
        upsert_rows(
            conn,
            model.table_of(model.MetricSnapshot),
            rows,
            ("scope_kind", "scope_id", "day"),
            ("metrics", "computed_at"),
        )
    return SnapshotResult(day, len(figures), len(rows), problems)


def _scope(scope: SnapshotScope | tuple[str, str]) -> SnapshotScope:
    return scope if isinstance(scope, SnapshotScope) else SnapshotScope(*scope)


def snapshot_history(
    store: Store, scope: SnapshotScope | tuple[str, str], first: date, last: date
) -> list[StoredSnapshot]:
    """Return the stored snapshots of one scope from ``first`` to ``last``, oldest first."""
    chosen = _scope(scope)
    table = model.table_of(model.MetricSnapshot)
    with store.session(readonly=True) as session:
        rows: list[Any] = list(
            session.execute(
                select(table.c.day, table.c.metrics, table.c.computed_at)
                .where(
                    table.c.scope_kind == chosen.kind,
                    table.c.scope_id == chosen.id,
                    table.c.day >= first,
                    table.c.day <= last,
                )
                .order_by(table.c.day)
            ).all()
        )
    return [StoredSnapshot(chosen, day, dict(m), at) for day, m, at in rows]


def previous_snapshot(
    store: Store, scope: SnapshotScope | tuple[str, str], as_of: date, days_back: int = 7
) -> StoredSnapshot | None:
    """Return the latest snapshot of a scope taken at least ``days_back`` days before ``as_of``."""
    chosen = _scope(scope)
    table = model.table_of(model.MetricSnapshot)
    with store.session(readonly=True) as session:
        row = session.execute(
            select(table.c.day, table.c.metrics, table.c.computed_at)
            .where(
                table.c.scope_kind == chosen.kind,
                table.c.scope_id == chosen.id,
                table.c.day <= as_of - timedelta(days=days_back),
            )
            .order_by(table.c.day.desc())
            .limit(1)
        ).first()
    return None if row is None else StoredSnapshot(chosen, row[0], dict(row[1]), row[2])


def trends(
    store: Store, scope: SnapshotScope | tuple[str, str], as_of: date, days_back: int = 7
) -> dict[str, Trend]:
    """Return each number of the scope's snapshot on ``as_of`` against ``days_back`` earlier."""
    current = previous_snapshot(store, scope, as_of, 0)
    before = previous_snapshot(store, scope, as_of, days_back)
    if current is None or before is None or current.day == before.day:
        return {}
    return {
        name: Trend(name, float(value), float(before.metrics[name]), before.day)
        for name, value in current.metrics.items()
        if _number(value) and _number(before.metrics.get(name))
    }


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


__all__ = [
    "SnapshotResult",
    "SnapshotScope",
    "StoredSnapshot",
    "Trend",
    "previous_snapshot",
    "snapshot_history",
    "snapshot_rows",
    "take_daily_snapshot",
    "trends",
]
