"""Project health from the store: the metrics of ``pmsync.metrics`` fed with synced data.

``pmsync.metrics`` computes earned value, earned schedule, forecasts, team
figures and the business case from plain inputs and never reads a database;
``pmsync.plan`` keeps the plan and measures cost and progress. This package is
the seam between them: it maps the store onto ``ProjectInputs`` for one
project or the whole portfolio in one set-based pass
(``inputs_from_store``), computes ``ProjectHealth`` at any status date, takes
the daily snapshot that trends and rules read (``snapshot``), assembles
what ``pmsync metrics`` prints (``figures``) and the series the reports' burn
charts draw (``burn``). ``analyse`` reads the store once for the metrics, the
rules, the reports and the snapshot when they run together (``Analysis``).

A status date in the past gives the figures of that day: items created later
do not count, statuses and milestone memberships are taken as they were
(from the status and fix-version history), cost is what was booked up to it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, datetime

from pmsync.config import Config
from pmsync.health.burn import (
    FiscalYearBurn,
    MilestoneBurnup,
    fiscal_year_burn,
    load_burnups,
    load_portfolio_burnups,
)
from pmsync.health.figures import (
    Analysis,
    BudgetLine,
    MilestoneFigures,
    ProjectFigures,
    analyse,
    load_figures,
)
from pmsync.health.inputs_from_store import (
    LoadedProject,
    MilestoneScope,
    Stopwatch,
    Timings,
    load_inputs,
)
from pmsync.health.snapshot import (
    SnapshotResult,
    SnapshotScope,
    StoredSnapshot,
    Trend,
    previous_snapshot,
    snapshot_history,
    take_daily_snapshot,
    trends,
)
from pmsync.metrics import ProjectHealth, project_health
from pmsync.plan.baselines import UnknownProject
from pmsync.processes import collections_paused
from pmsync.store import Store

__all__ = [
    "Analysis",
    "BudgetLine",
    "FiscalYearBurn",
    "LoadedProject",
    "MilestoneBurnup",
    "MilestoneFigures",
    "MilestoneScope",
    "ProjectFigures",
    "SnapshotResult",
    "SnapshotScope",
    "StoredSnapshot",
    "Trend",
    "UnknownProject",
    "analyse",
    "fiscal_year_burn",
    "load_burnups",
    "load_figures",
    "load_inputs",
    "load_portfolio_burnups",
    "load_portfolio_health",
    "load_project_health",
    "previous_snapshot",
    "snapshot_history",
    "take_daily_snapshot",
    "trends",
]


def load_project_health(
    store: Store, config: Config, key: str, *, as_of: date, now: Callable[[], datetime]
) -> ProjectHealth:
    """Return every metric of project ``key`` at the end of ``as_of``."""
    loaded = load_inputs(store, config, [key], as_of=as_of, now=now)
    if key not in loaded:
        raise UnknownProject(f"no project {key!r} in the configuration and the store")
    return project_health(loaded[key].inputs)


@collections_paused()
def load_portfolio_health(
    store: Store,
    config: Config,
    *,
    as_of: date,
    now: Callable[[], datetime],
    keys: Collection[str] | None = None,
    timings: Timings | None = None,
) -> dict[str, ProjectHealth]:
    """Return every metric of every project (or of ``keys``) at the end of ``as_of``.

    ``timings``, if given, receives the wall and CPU seconds per stage (for ``bench/``).
    """
    chosen = sorted(config.projects) if keys is None else sorted(keys)
    loaded = load_inputs(store, config, chosen, as_of=as_of, now=now, timings=timings)
    clock = Stopwatch(timings)
    found = {key: project_health(project.inputs) for key, project in loaded.items()}
    clock.lap("metrics (project_health)")
    return found
