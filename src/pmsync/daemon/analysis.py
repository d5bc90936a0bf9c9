"""One measurement of the portfolio, shared by the daemon's jobs while the store is unchanged.

The check job (every ``daemon.check_interval`` and after each sync), the
daily snapshot and the portfolio report each need every project measured:
the items, their status history and the cost ledgers read and the metrics
computed (``pmsync.health.analyse``). With 500 projects and a million items
that is about 20 seconds of reading and computing each time
(docs/benchmarks.md, section 6). Most checks find the store as the last one
left it, so the daemon keeps the last ``Analysis`` and hands it to the next
job that asks for the same status date while the store's *mark* is the same:

* the newest sync run and when the last one finished (``sync_run``: any
  source, this daemon, a replica or ``pmsync sync``; a run that starts or
  ends changes it, a failed one too),
* the newest baseline (``pmsync baseline``) and plan change (a plan refresh
  that changed the plan records one),
* and the configuration: a reload gives a new ``Config``, which measures anew.

Every record reaches the store through a sync run, and the plan through the
configuration, so a kept analysis is never used for data it has not seen,
with one bound: the plan refresh and the linking that follow a sync write
after its runs have finished, so an analysis made in those seconds can miss
the links of that sync's new items until the next sync run starts (at most
one sync interval). A project report takes a kept analysis when one is valid
and otherwise reads its one project; it never measures the whole portfolio
for itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from pmsync import model

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.health import Analysis
    from pmsync.store import Store

log = logging.getLogger("pmsync.daemon")


def store_mark(store: Store) -> tuple[Any, ...]:
    """Return what changes whenever the data an analysis reads may have changed (one query)."""
    run = model.table_of(model.SyncRun)
    baseline = model.table_of(model.Baseline)
    change = model.table_of(model.PlanChange)
    newest = select(
        select(func.max(run.c.id)).scalar_subquery(),
        select(func.max(run.c.finished_at)).scalar_subquery(),
        select(func.max(baseline.c.id)).scalar_subquery(),
        select(func.max(change.c.id)).scalar_subquery(),
    )
    with store.engine.connect() as conn:
        return tuple(conn.execute(newest).one())


@dataclass(frozen=True)
class _Kept:
    config: Config
    mark: tuple[Any, ...]
    analysis: Analysis


class SharedAnalysis:
    """The daemon's last portfolio measurement, handed out while it still holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: _Kept | None = None
        self.measured = 0
        """How many analyses were made (the rest of the asks were served from the kept one)."""

    def measure(
        self, store: Store, config: Config, as_of: date, now: Callable[[], datetime]
    ) -> Analysis | None:
        """Return every project measured at ``as_of``: the kept analysis if valid, else a new one.

        None when the metrics are not installed (the jobs then read as they always did).
        """
        try:
            from pmsync.health import analyse
        except ImportError:
            return None
        mark = store_mark(store)  # before measuring: a change while it runs makes the next ask new
        found = self._valid(config, as_of, mark)
        if found is not None:
            return found
        analysis = analyse(store, config, as_of=as_of, now=now)
        with self._lock:
            self._kept = _Kept(config, mark, analysis)
            self.measured += 1
        log.debug("portfolio measured at %s for the daemon's jobs", as_of)
        return analysis

    def kept(self, store: Store, config: Config, as_of: date) -> Analysis | None:
        """Return the kept analysis if it is valid for ``as_of``; never measure."""
        with self._lock:
            if self._kept is None:
                return None
        return self._valid(config, as_of, store_mark(store))

    def _valid(self, config: Config, as_of: date, mark: tuple[Any, ...]) -> Analysis | None:
        with self._lock:
            kept = self._kept
        if kept is None or kept.config is not config or kept.mark != mark:
            return None
        if kept.analysis.as_of != as_of or not set(config.projects) <= set(kept.analysis.keys):
            return None
        return kept.analysis
