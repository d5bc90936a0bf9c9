"""Prometheus metrics: what this replica did, and the state everyone shares.

Two kinds, on purpose:

* **Counters and histograms of this process** (``pmsync_sync_runs_total``,
  ``pmsync_sync_duration_seconds``, ...): what this replica did since it
  started, one increment per ``sync_run`` row it finished, labelled exactly
  like the row (``source``, ``stream``, ``status``). Summed over replicas they
  give the fleet's totals; a restart resets them, which ``rate()`` handles.
* **Gauges read from the database at scrape time** (last success per source,
  alerts by state, the outbox by status, quarantined records, live replicas):
  the same on every replica, and right even for work another replica did or
  that happened before this process started. Use ``max()`` across replicas.

If the database cannot be read during a scrape, the process metrics are still
served and ``pmsync_database_up`` is 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, or_, select

from pmsync import __version__, model
from pmsync.connectors import utc_now
from pmsync.store import FAILING_RUNS, RunStatus, Store
from pmsync.sync import StreamResult

log = logging.getLogger("pmsync.daemon")
_FINISHED = [s for s in get_args(RunStatus) if s != "running"]
"""The statuses a finished sync run can have: one ``pmsync_sync_runs`` series each."""
RECORD_CHANGES = ("created", "updated", "unchanged", "deleted", "quarantined")
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class DaemonMetrics:
    """Every metric ``/metrics`` serves, in one registry of its own."""

    def __init__(self, store: Callable[[], Store], replica_stale_after: timedelta) -> None:
        self.registry = r = CollectorRegistry(auto_describe=False)
        sync = ["source", "stream"]
        self.sync_runs = Counter(
            "pmsync_sync_runs", "Sync runs finished by this replica.", [*sync, "status"], registry=r
        )
        self.sync_duration = Histogram(
            "pmsync_sync_duration_seconds",
            "Duration of sync runs.",
            sync,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.sync_records = Counter(
            "pmsync_sync_records", "Records handled by sync runs.", [*sync, "change"], registry=r
        )
        self.sync_requests = Counter(
            "pmsync_sync_requests", "HTTP requests made by sync runs.", sync, registry=r
        )
        self.sync_not_modified = Counter(
            "pmsync_sync_not_modified", "Requests answered 304 Not Modified.", sync, registry=r
        )
        self.sync_retries = Counter(
            "pmsync_sync_retries", "Requests retried by sync runs.", sync, registry=r
        )
        self.sync_failures = Counter(
            "pmsync_sync_failures", "Failed sync runs.", [*sync, "error_class"], registry=r
        )
        self.job_runs = Counter(
            "pmsync_job_runs", "Daemon job runs by outcome.", ["job", "outcome"], registry=r
        )
        self.notifications_sent = Counter(
            "pmsync_notifications_sent", "Notifications sent by this replica.", registry=r
        )
        self.notifications_failed = Counter(
            "pmsync_notifications_failed", "Notification attempts that failed.", registry=r
        )
        self.config_reloads = Counter(
            "pmsync_config_reloads", "Configuration reloads.", ["result"], registry=r
        )
        self.config_valid = Gauge(
            "pmsync_config_valid", "1 unless the last configuration reload was refused.", registry=r
        )
        self.config_valid.set(1)
        r.register(_StoreCollector(store, replica_stale_after))

    def prepare(self, streams: dict[str, list[str]]) -> None:
        """Create the series of every configured source and stream at 0."""
        for source, names in streams.items():
            for stream in names:
                for status in _FINISHED:
                    self.sync_runs.labels(source, stream, status)
                for change in RECORD_CHANGES:
                    self.sync_records.labels(source, stream, change)
                self.sync_requests.labels(source, stream)
                self.sync_retries.labels(source, stream)

    def observe_sync(self, result: StreamResult) -> None:
        """Count one finished ``sync_run``."""
        labels = (result.source, result.stream)
        self.sync_runs.labels(*labels, result.status).inc()
        if result.started_at and result.finished_at:
            seconds = (result.finished_at - result.started_at).total_seconds()
            self.sync_duration.labels(*labels).observe(max(seconds, 0.0))
        for change in RECORD_CHANGES:
            self.sync_records.labels(*labels, change).inc(getattr(result, change))
        self.sync_requests.labels(*labels).inc(result.requests)
        self.sync_not_modified.labels(*labels).inc(result.not_modified)
        self.sync_retries.labels(*labels).inc(result.retries)
        if result.status == "failed":
            self.sync_failures.labels(*labels, result.error_class or "unknown").inc()


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


class _StoreCollector(Collector):
    """Gauges computed from the database on each scrape."""

    def __init__(self, store: Callable[[], Store], replica_stale_after: timedelta) -> None:
        self.store = store
        self.stale_after = replica_stale_after

    def collect(self) -> Iterator[Metric]:
        """Yield the shared gauges, or only ``pmsync_database_up 0`` if the database fails."""
        up = GaugeMetricFamily("pmsync_database_up", "1 when the database answered this scrape.")
        info = GaugeMetricFamily("pmsync_build_info", "pmsync version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        try:
            families = list(self._read())
        except Exception as err:
            log.debug("metrics: the database cannot be read: %s", err)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> Iterator[Metric]:
        store = self.store()
        run, source = model.SyncRun, model.Source
        last_ok = GaugeMetricFamily(
            "pmsync_source_last_success_timestamp_seconds",
            "End of the last successful sync run of any stream of the source "
            "(read to its end; partial runs count: the data that could be read flowed).",
            labels=["source"],
        )
        failing = GaugeMetricFamily(
            "pmsync_source_failing",
            "1 when the latest run of some stream of the source failed or skipped a scope.",
            labels=["source"],
        )
        alerts = GaugeMetricFamily(
            "pmsync_alerts", "Alerts by state and severity.", labels=["state", "severity"]
        )
        outbox = GaugeMetricFamily(
            "pmsync_notifications", "Notifications in the outbox by status.", labels=["status"]
        )
        quarantined = GaugeMetricFamily(
            "pmsync_quarantined_records", "Records in quarantine.", labels=["source"]
        )
        replicas = GaugeMetricFamily("pmsync_daemon_replicas", "Daemons with a recent heartbeat.")
        latest = (
            select(run.source_id, run.stream, func.max(run.id).label("id"))
            .where(run.status != "running")
            .group_by(run.source_id, run.stream)
            .subquery()
        )
        with store.session(readonly=True) as s:
            for name, finished in s.execute(
                select(source.name, func.max(run.finished_at))
                .join(run, run.source_id == source.id)
                .where(or_(and_(run.status == "ok", run.error.is_(None)), run.status == "partial"))
                .group_by(source.name)
            ):
                last_ok.add_metric([name], _epoch(finished))
            states: dict[str, bool] = {}
            for name, status in s.execute(
                select(source.name, run.status)
                .select_from(run)
                .join(latest, latest.c.id == run.id)
                .join(source, source.id == run.source_id)
            ):
                states[name] = states.get(name, False) or status in FAILING_RUNS
            for name, is_failing in sorted(states.items()):
                failing.add_metric([name], 1.0 if is_failing else 0.0)
            for state, severity, count in s.execute(
                select(model.Alert.state, model.Alert.severity, func.count()).group_by(
                    model.Alert.state, model.Alert.severity
                )
            ):
                alerts.add_metric([state, severity], count)
            for status, count in s.execute(
                select(model.Notification.status, func.count()).group_by(model.Notification.status)
            ):
                outbox.add_metric([status], count)
            for name, count in s.execute(
                select(source.name, func.count())
                .join(model.Quarantine, model.Quarantine.source_id == source.id)
                .group_by(source.name)
            ):
                quarantined.add_metric([name], count)
            cutoff = utc_now() - self.stale_after
            live = s.scalar(
                select(func.count()).where(
                    model.DaemonInstance.stopped_at.is_(None),
                    model.DaemonInstance.heartbeat_at >= cutoff,
                )
            )
            replicas.add_metric([], live or 0)
        yield from (last_ok, failing, alerts, outbox, quarantined, replicas)
