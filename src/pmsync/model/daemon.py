"""The daemon's own bookkeeping: who is running, and who holds which job.

``pmsync run`` keeps no state outside the database, so that ``pmsync status``
(another process, maybe on another machine) can show what the daemons are doing
and so that replicas on PostgreSQL can share the work:

* ``daemon_instance``: one row per daemon process, with a heartbeat and the
  schedule it will follow (next run per job), written every few seconds;
* ``daemon_lease``: a lease on a job (``sync:jira``: one replica at a time,
  expiring when its holder stops renewing it) or a claim on one scheduled run
  of a job (``report:PAY:0@2026-03-02T07:00:00+00:00``: done once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pmsync.model.base import Base


class DaemonInstance(Base):
    """A ``pmsync run`` process: its heartbeat and the schedule it follows."""

    __tablename__ = "daemon_instance"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    """``host:pid:random``, also the holder name of its leases."""
    host: Mapped[str]
    pid: Mapped[int]
    version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime] = mapped_column(index=True)
    beat_seconds: Mapped[float]
    """Seconds between heartbeats: three missed beats mean the daemon is gone."""
    stopped_at: Mapped[datetime | None]
    health_url: Mapped[str | None] = mapped_column(Text)
    jobs: Mapped[dict[str, Any]]
    """Per job id: its trigger, next run, last run and how that ended."""


class DaemonLease(Base):
    """A lease on a job, or the claim on one scheduled run of it (``fire_time`` set)."""

    __tablename__ = "daemon_lease"
    name: Mapped[str] = mapped_column(primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    job_id: Mapped[str | None]
    fire_time: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
