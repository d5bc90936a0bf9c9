"""The reports' metrics hook: ``metrics_for_reports`` gives reports figures from the store.

Reports ask a ``MetricsSource`` for what must be measured
(``pmsync.reports.collect``); ``HealthMetrics`` turns a ``ProjectHealth`` into
report sections. This module backs it with ``pmsync.health``, which maps the
store onto the metrics at the report's status date, and adds what only the
plan knows to each milestone row: its baseline date, how far it moved against
it (the later of its due date, the tools' date and the P85 forecast), its
scope and the items done. It lives here, in ``pmsync.metrics``, because that
is where ``collect.METRICS_HOOK`` looks; nothing in ``pmsync.metrics`` imports
it, so the pure metrics stay free of the store.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import date, datetime

from pmsync.config import Config
from pmsync.config import Project as ProjectPlan
from pmsync.health.figures import Analysis, ProjectFigures, load_figures
from pmsync.metrics.inputs import MetricInputError
from pmsync.metrics.results import ProjectHealth
from pmsync.plan.frames import ItemFrame
from pmsync.reports.collect import MetricsSource, NoMetrics
from pmsync.reports.facts import Budget, EarnedValue, MilestoneRow, Unavailable, WbsRow
from pmsync.reports.from_metrics import HealthMetrics
from pmsync.store import Store

UNBOUND = (
    "the metrics hook was called without the configuration and the store: "
    "call metrics_for_reports(config, store)"
)


class StoreMetrics(HealthMetrics):
    """Report figures computed from the store at each report's status date."""

    def __init__(self, config: Config, store: Store, now: Callable[[], datetime]) -> None:
        self.config, self.store, self.now = config, store, now
        self._figures: dict[tuple[str, date], ProjectFigures | None] = {}
        self.problems: dict[str, str] = {}
        super().__init__(self._health)

    def figures(self, plan: ProjectPlan, as_of: date) -> ProjectFigures | None:
        """Return the project's figures at ``as_of`` (computed once per project and day)."""
        if (plan.key, as_of) not in self._figures:
            found = None
            try:
                figures = load_figures(
                    self.store, self.config, [plan.key], as_of=as_of, now=self.now
                )
                found = figures.get(plan.key)
            except MetricInputError as err:
                self.problems[plan.key] = str(err)
            self._figures[(plan.key, as_of)] = found
        return self._figures[(plan.key, as_of)]

    def prefetch(self, keys: Collection[str], as_of: date, items: ItemFrame | None = None) -> None:
        """Compute the figures of every project of ``keys`` at ``as_of`` in one pass.

        ``load_figures`` reads the store in a fixed number of statements however
        many projects it measures, so a run of many reports asks once rather
        than once per project. A project the metrics refuse is named in
        ``problems``, as it would be alone; if the pass as a whole fails, the
        projects are left to be loaded one by one. ``items``: the projects'
        ``load_items``, if the caller has read them.
        """
        wanted = sorted(k for k in keys if (k, as_of) not in self._figures)
        if len(wanted) < 2:
            return
        if items is not None and len(wanted) != len(set(keys)):
            items = None  # read for other projects than these
        problems: dict[str, str] = {}
        try:
            figures = load_figures(
                self.store,
                self.config,
                wanted,
                as_of=as_of,
                now=self.now,
                problems=problems,
                items=items,
            )
        except MetricInputError:
            return
        self.problems.update(problems)
        for key in wanted:
            self._figures[(key, as_of)] = figures.get(key)

    def adopt(self, analysis: Analysis) -> None:
        """Take every project's figures from ``analysis`` (one read shared with other jobs)."""
        self.problems.update(analysis.problems)
        for key in analysis.keys:
            self._figures[(key, analysis.as_of)] = analysis.figures.get(key)

    def _health(self, plan: ProjectPlan, as_of: date) -> ProjectHealth | None:
        found = self.figures(plan, as_of)
        return None if found is None else found.health

    def milestones(self, plan: ProjectPlan, as_of: date) -> tuple[MilestoneRow, ...] | Unavailable:
        """Return the milestone rows with baseline dates, variance, scope and done items."""
        rows = super().milestones(plan, as_of)
        found = self.figures(plan, as_of)
        if isinstance(rows, Unavailable) or found is None:
            return rows
        by_name = {m.name: m for m in found.milestones}
        filled = []
        for row in rows:
            m = by_name.get(row.name)
            if m is None:
                filled.append(row)
                continue
            latest = max(
                (d for d in (m.due, m.tool_due, m.forecast.forecast_p85) if d is not None),
                default=None,
            )
            variance = (
                (latest - m.baseline_due).days if latest and m.baseline_due is not None else None
            )
            filled.append(
                replace(
                    row,
                    baseline_due=m.baseline_due,
                    variance_days=variance,
                    done=float(m.done_items),
                    scope=float(m.scope_items),
                    # no work item matched: nothing is done, nothing is known
                    status="unknown" if m.scope_items == 0 else row.status,
                )
            )
        return tuple(filled)


class UnboundMetrics(NoMetrics):
    """What reports get from a hook called without config and store: every answer says so."""

    def earned_value(self, plan: ProjectPlan, as_of: date) -> EarnedValue | Unavailable:
        return Unavailable(UNBOUND)

    def milestones(self, plan: ProjectPlan, as_of: date) -> tuple[MilestoneRow, ...] | Unavailable:
        return Unavailable(UNBOUND)

    def wbs(self, plan: ProjectPlan, as_of: date) -> tuple[WbsRow, ...] | Unavailable:
        return Unavailable(UNBOUND)

    def budget(self, plan: ProjectPlan, as_of: date) -> Budget | Unavailable:
        return Unavailable(UNBOUND)


def metrics_for_reports(
    config: Config | None = None,
    store: Store | None = None,
    now: Callable[[], datetime] | None = None,
) -> MetricsSource:
    """Return the reports' metrics source backed by the store (``now``: the store's clock)."""
    if config is None or store is None:
        return UnboundMetrics()
    return StoreMetrics(config, store, now or store.now)
