"""What every daemon job shares: its options, the context it runs in, how it ended."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pmsync.connectors import Clock, utc_now

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.daemon.analysis import SharedAnalysis
    from pmsync.daemon.hooks import Hooks
    from pmsync.daemon.metrics import DaemonMetrics
    from pmsync.store import Store

Outcome = Literal["ok", "failed", "stopped", "skipped"]


@dataclass(frozen=True)
class DaemonOptions:
    """Tuning of ``pmsync run`` that is about the process, not the installation."""

    lease_ttl: timedelta = timedelta(seconds=60)
    """How long a lease outlives its holder's last heartbeat (renewed every third of it)."""
    stop_timeout: timedelta = timedelta(seconds=30)
    """How long SIGTERM waits for running jobs to finish their current page."""
    watch_interval: timedelta = timedelta(seconds=5)
    """How often the config files are checked for changes (0: only SIGHUP)."""
    dispatch_interval: timedelta = timedelta(minutes=1)
    """How often pending notifications are dispatched (also right after each check)."""
    meeting_pack_interval: timedelta = timedelta(minutes=15)
    """How often upcoming meetings are looked for to send their packs."""
    cron_grace: timedelta = timedelta(hours=1)
    """How late a cron job (report, snapshot) may still run after a pause or outage."""
    database_wait: timedelta = timedelta(seconds=60)
    """How long to wait at start for a database that does not answer yet."""
    health_host: str | None = None
    """Overrides ``daemon.health.host``."""
    health_port: int | None = None
    """Overrides ``daemon.health.port`` (0 picks a free port)."""
    now: Clock = utc_now
    """The clock given to the sync engine and the hooks (the scheduler keeps wall time)."""

    @property
    def heartbeat(self) -> float:
        """Return the seconds between heartbeats (a third of the lease)."""
        return max(self.lease_ttl.total_seconds() / 3, 0.5)


@dataclass(frozen=True, slots=True)
class JobResult:
    """How one run of a job ended."""

    outcome: Outcome
    detail: str = ""


@dataclass
class JobContext:
    """Everything one run of a job may use."""

    job_id: str
    store: Store
    config: Config
    now: Clock
    stop: threading.Event
    """Set on shutdown or when this run's lease is lost: stop after the current page."""
    metrics: DaemonMetrics
    hooks: Hooks
    run_soon: Callable[[str], None]
    """Ask for another job (by id) to run now: a check after a sync, a dispatch after a check."""
    fire_time: datetime | None = None
    """The scheduled time this run stands for (claimed jobs only)."""
    plan_stale: Callable[[], bool] = lambda: False
    """Tell (once) that the configuration changed since the plan tables were last refreshed."""
    analysis: SharedAnalysis | None = None
    """The daemon's last portfolio measurement, shared by check, snapshot and reports."""

    def sleep(self, seconds: float) -> None:
        """Wait for a retry, but not past a stop request."""
        from pmsync.errors import TransientSourceError

        if self.stop.wait(seconds):
            raise TransientSourceError(
                "the daemon is stopping: retry abandoned, the next run resumes"
            )
