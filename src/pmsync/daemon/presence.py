"""Who is running: the daemon's row in ``daemon_instance``, and SQLite's one-daemon rule.

Each ``pmsync run`` writes a row at start and refreshes it on every heartbeat
with the schedule it follows (next run of each job), so ``pmsync status`` — a
separate process — can say when each source syncs next and which replicas are
alive, without talking to the daemon. A row whose heartbeat is older than a few
periods belongs to a daemon that died.

On SQLite only one daemon may use a database file: two would each believe they
own every job. The guard is an exclusive ``flock`` on ``<database>.daemon.lock``
next to the file. The kernel drops it when the process dies, even by SIGKILL,
so a restart after a crash is never refused by a stale lock, and a second
daemon learns who holds it from the first one's ``daemon_instance`` row.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, select, update

from pmsync import __version__, model
from pmsync.connectors import Clock, utc_now
from pmsync.errors import PmsyncError
from pmsync.store import Store
from pmsync.upsert import insert_for

_TABLE = model.table_of(model.DaemonInstance)


class AnotherDaemonRunning(PmsyncError):
    """A second daemon tried to start on a SQLite database that already has one."""


def new_instance_id() -> str:
    """Return ``host:pid:random``: unique per process, readable in ``pmsync status``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """A daemon as ``pmsync status`` shows it."""

    id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    beat_seconds: float
    stopped_at: datetime | None
    health_url: str | None
    jobs: dict[str, Any]

    def alive(self, now: datetime) -> bool:
        """Tell whether it still beats (not stopped, no three heartbeats missed)."""
        stale_after = timedelta(seconds=3 * self.beat_seconds + 2)
        return self.stopped_at is None and now - self.heartbeat_at <= stale_after


class Presence:
    """This daemon's ``daemon_instance`` row."""

    def __init__(
        self, store: Store, instance_id: str, beat_seconds: float, *, now: Clock = utc_now
    ) -> None:
        self.store = store
        self.id = instance_id
        self.beat_seconds = beat_seconds
        self.now = now

    def announce(self, health_url: str | None, jobs: dict[str, Any]) -> None:
        """Write this daemon's row at start."""
        now = self.now()
        host, pid = socket.gethostname(), os.getpid()
        with self.store.transaction() as conn:
            conn.execute(
                insert_for(conn, _TABLE).values(
                    id=self.id,
                    host=host,
                    pid=pid,
                    version=__version__,
                    started_at=now,
                    heartbeat_at=now,
                    beat_seconds=self.beat_seconds,
                    health_url=health_url,
                    jobs=jobs,
                )
            )

    def beat(self, jobs: dict[str, Any]) -> None:
        """Refresh the heartbeat and the schedule."""
        with self.store.transaction() as conn:
            conn.execute(
                update(_TABLE)
                .where(_TABLE.c.id == self.id)
                .values(heartbeat_at=self.now(), jobs=jobs)
            )

    def leave(self, jobs: dict[str, Any]) -> None:
        """Mark this daemon stopped (its schedule no longer counts)."""
        now = self.now()
        with self.store.transaction() as conn:
            conn.execute(
                update(_TABLE)
                .where(_TABLE.c.id == self.id)
                .values(heartbeat_at=now, stopped_at=now, jobs=jobs)
            )

    def prune(self, before: datetime) -> None:
        """Forget daemons that stopped or went silent before ``before``."""
        with self.store.transaction() as conn:
            conn.execute(delete(_TABLE).where(_TABLE.c.heartbeat_at < before))


def list_instances(store: Store) -> list[InstanceInfo]:
    """Return every known daemon, the most recently started first."""
    query = select(model.DaemonInstance).order_by(model.DaemonInstance.started_at.desc())
    with store.session(readonly=True) as s:
        return [
            InstanceInfo(
                r.id,
                r.host,
                r.pid,
                r.version,
                r.started_at,
                r.heartbeat_at,
                r.beat_seconds,
                r.stopped_at,
                r.health_url,
                dict(r.jobs or {}),
            )
            for r in s.scalars(query)
        ]


class SqliteGuard:
    """The exclusive lock that makes a SQLite database one daemon's."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".daemon.lock")
        self._file: IO[str] | None = None

    def acquire(self, store: Store, now: Clock = utc_now) -> None:
        """Take the lock, or raise ``AnotherDaemonRunning`` naming the daemon that has it."""
        import fcntl

        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise AnotherDaemonRunning(_refusal(store, now())) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Drop the lock (the kernel does it too when the process ends)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _refusal(store: Store, now: datetime) -> str:
    try:
        alive = [i for i in list_instances(store) if i.alive(now)]
    except Exception:  # the lock is the evidence; the row only adds detail
        alive = []
    who = (
        f" ({alive[0].host} pid {alive[0].pid}, started {alive[0].started_at:%Y-%m-%d %H:%M:%S}Z)"
        if alive
        else ""
    )
    return (
        f"another pmsync daemon is already running on {store.describe()}{who}: "
        "a SQLite database serves one daemon. Stop that one first, or move to "
        "PostgreSQL to run several replicas (docs/operations.md)"
    )
