"""What ``pmsync status`` says about the daemons: replicas, next runs, alerts, reports.

``pmsync status`` is another process, often on another machine, so everything
comes from the database: the daemons' ``daemon_instance`` rows (heartbeat and
the schedule each follows) and the leases (which replica runs what right now).
With several replicas, a job's next run is the earliest any live replica has
scheduled (the first to tick takes the lease). With no daemon running, next
runs are what the configuration *would* schedule (cron jobs only: interval
jobs start with a daemon), and ``daemon.running`` says that nothing follows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from pmsync import model
from pmsync.config import Config
from pmsync.connectors import utc_now
from pmsync.daemon.base import DaemonOptions
from pmsync.daemon.jobs import build_jobs
from pmsync.daemon.leases import Leases
from pmsync.daemon.presence import list_instances
from pmsync.store import Store


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _earliest(values: list[str | None]) -> str | None:
    found = [datetime.fromisoformat(v) for v in values if v]
    return min(found).astimezone(UTC).isoformat() if found else None


def open_alerts(store: Store) -> dict[str, Any] | None:
    """Return the open alerts by severity, or None while the alert table is empty."""
    alert = model.Alert
    with store.session(readonly=True) as s:
        if not s.scalar(select(func.count()).select_from(alert)):
            return None
        rows = s.execute(
            select(alert.severity, func.count())
            .where(alert.state != "resolved")
            .group_by(alert.severity)
        ).all()
    by_severity = {severity: count for severity, count in rows}
    return {"open": sum(by_severity.values()), "by_severity": by_severity}


def daemon_status(store: Store, config: Config, now: datetime | None = None) -> dict[str, Any]:
    """Return the daemons, the next run of every job, open alerts and the next reports."""
    now = now or utc_now()
    instances = list_instances(store)
    alive = [i for i in instances if i.alive(now)]
    holders = Leases(store, holder="", ttl=timedelta(0)).holders()
    specs = build_jobs(config, DaemonOptions())
    jobs: dict[str, dict[str, Any]] = {}
    for spec in specs:
        seen = [i.jobs.get(spec.id, {}) for i in alive]
        if alive:
            upcoming = _earliest([s.get("next_run") for s in seen])
        elif isinstance(spec.schedule.trigger, CronTrigger):  # interval jobs start with a daemon
            upcoming = _iso(spec.schedule.trigger.get_next_fire_time(None, now))
        else:
            upcoming = None
        holder = holders.get(spec.id)
        jobs[spec.id] = {
            "kind": spec.kind,
            "schedule": spec.schedule.text,
            "next_run": upcoming,
            "running_on": holder[0] if holder else None,
        }
    reports = []
    for spec in specs:
        if spec.kind != "report":
            continue
        params = dict(spec.params)
        entry = config.projects[params["project"]].communication[params["entry"]]
        reports.append(
            {
                "job": spec.id,
                "project": params["project"],
                "audience": entry.audience,
                "report": entry.report,
                "formats": list(entry.formats),
                "schedule": spec.schedule.text,
                "next_run": jobs[spec.id]["next_run"],
            }
        )
    reports.sort(key=lambda r: r["next_run"] or "")
    return {
        "daemon": {
            "running": bool(alive),
            "replicas": [
                {
                    "id": i.id,
                    "host": i.host,
                    "pid": i.pid,
                    "version": i.version,
                    "started_at": _iso(i.started_at),
                    "heartbeat_at": _iso(i.heartbeat_at),
                    "health_url": i.health_url,
                    "alive": i.alive(now),
                }
                for i in instances
                if i.stopped_at is None
            ],
        },
        "jobs": jobs,
        "alerts": open_alerts(store),
        "next_reports": reports,
    }
