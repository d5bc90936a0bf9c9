"""Leases: which replica runs which job, decided in the database, surviving a SIGKILL.

Every replica schedules every job; at each tick a replica first takes the job's
lease, and only the holder runs it. Two kinds of rows in ``daemon_lease``:

* a **lease** on a job (``sync:jira``, ``check``): held while the job runs,
  renewed by the holder's heartbeat, released at the end. A holder that dies
  stops renewing, the lease expires after ``ttl``, and the next replica whose
  tick comes takes it over: a dead replica's work moves within one interval
  (plus ``ttl``).
* a **claim** on one scheduled run (``report:PAY:0@2026-03-02T07:00:00+00:00``):
  the first replica to insert it produces the report; the row stays, marked
  done, so no other replica produces it again. A claim whose holder died before
  marking it done expires like a lease and is picked up by ``orphans()``.

Why not PostgreSQL advisory locks: ``pg_try_advisory_lock`` belongs to a
database *session*, and the store talks through a connection pool. A lock
taken on one pooled connection is released (or silently kept) when that
connection is recycled, pre-pinged after a network blip, or returned to the
pool; holding a dedicated connection per running job would work but ties
correctness to connection lifetimes that nobody sees. A lease row with an
expiry is visible (``pmsync status`` shows the holder), works the same on
SQLite and PostgreSQL, and dies with its holder by time, not by connection.
The price: replicas' clocks must agree to well within ``ttl`` (use NTP), and a
holder frozen for longer than ``ttl`` can briefly overlap its successor; the
heartbeat stops a run whose lease it failed to renew, after its current page.

Acquiring is one ``INSERT .. ON CONFLICT DO UPDATE .. WHERE expired OR mine``:
PostgreSQL serialises concurrent upserts on the row and re-checks the WHERE on
the newest version; SQLite serialises writers (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from pmsync import model
from pmsync.connectors import Clock, utc_now
from pmsync.store import Store
from pmsync.upsert import insert_for

_TABLE = model.table_of(model.DaemonLease)


@dataclass(frozen=True, slots=True)
class Orphan:
    """A claimed scheduled run whose holder stopped before finishing it."""

    name: str
    job_id: str
    fire_time: datetime
    holder: str


class Leases:
    """The leases and claims of one daemon instance (``holder``)."""

    def __init__(self, store: Store, holder: str, ttl: timedelta, *, now: Clock = utc_now) -> None:
        self.store = store
        self.holder = holder
        self.ttl = ttl
        self.now = now

    def acquire(self, name: str) -> str | None:
        """Take or renew lease ``name``; return None when held, else the other holder."""
        now = self.now()
        with self.store.transaction() as conn:
            stmt = insert_for(conn, _TABLE).values(
                name=name, holder=self.holder, acquired_at=now, expires_at=now + self.ttl
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name"],
                    set_={
                        "holder": stmt.excluded.holder,
                        "acquired_at": stmt.excluded.acquired_at,
                        "expires_at": stmt.excluded.expires_at,
                        "done_at": None,
                    },
                    where=(_TABLE.c.expires_at <= now) | (_TABLE.c.holder == self.holder),
                )
            )
            holder = conn.scalar(select(_TABLE.c.holder).where(_TABLE.c.name == name))
        return None if holder == self.holder else str(holder)

    def claim(self, name: str, job_id: str, fire_time: datetime) -> str | None:
        """Claim one scheduled run; return None when won, else who claimed it first."""
        now = self.now()
        with self.store.transaction() as conn:
            stmt = insert_for(conn, _TABLE).values(
                name=name,
                holder=self.holder,
                acquired_at=now,
                expires_at=now + self.ttl,
                job_id=job_id,
                fire_time=fire_time,
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            holder = conn.scalar(select(_TABLE.c.holder).where(_TABLE.c.name == name))
        return None if holder == self.holder else str(holder)

    def renew(self, names: Iterable[str]) -> set[str]:
        """Extend the leases named that are still ours; return those we still hold."""
        wanted = list(names)
        if not wanted:
            return set()
        now = self.now()
        mine = (_TABLE.c.holder == self.holder) & _TABLE.c.name.in_(wanted)
        with self.store.transaction() as conn:
            conn.execute(update(_TABLE).where(mine).values(expires_at=now + self.ttl))
            return set(conn.scalars(select(_TABLE.c.name).where(mine)))

    def release(self, name: str) -> None:
        """Give lease ``name`` back at once (its next holder need not wait for expiry)."""
        with self.store.transaction() as conn:
            conn.execute(
                update(_TABLE)
                .where(_TABLE.c.name == name, _TABLE.c.holder == self.holder)
                .values(expires_at=self.now())
            )

    def finish(self, name: str) -> None:
        """Mark claim ``name`` done: nobody produces that scheduled run again."""
        with self.store.transaction() as conn:
            conn.execute(
                update(_TABLE)
                .where(_TABLE.c.name == name, _TABLE.c.holder == self.holder)
                .values(done_at=self.now())
            )

    def orphans(self, since: datetime) -> list[Orphan]:
        """Return claims of runs scheduled after ``since`` that expired undone."""
        lease = model.DaemonLease
        query = select(lease.name, lease.job_id, lease.fire_time, lease.holder).where(
            lease.fire_time.is_not(None),
            lease.fire_time >= since,
            lease.done_at.is_(None),
            lease.expires_at < self.now(),
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Orphan(n, j, f, h) for n, j, f, h in rows if j is not None and f is not None]

    def holders(self) -> dict[str, tuple[str, datetime]]:
        """Return the unexpired leases (not claims): name → (holder, expires_at)."""
        lease = model.DaemonLease
        query = select(lease.name, lease.holder, lease.expires_at).where(
            lease.fire_time.is_(None), lease.expires_at > self.now()
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {name: (holder, expires) for name, holder, expires in rows}

    def expire_others(self) -> int:
        """Expire every lease of another holder (SQLite: they are dead, we hold the file)."""
        with self.store.transaction() as conn:
            result = conn.execute(
                update(_TABLE)
                .where(_TABLE.c.holder != self.holder, _TABLE.c.done_at.is_(None))
                .values(expires_at=self.now() - timedelta(seconds=1))
            )
        return int(result.rowcount or 0)

    def prune(self, before: datetime) -> None:
        """Delete claims of runs scheduled before ``before`` and long-expired leases."""
        with self.store.transaction() as conn:
            conn.execute(
                delete(_TABLE).where(
                    (_TABLE.c.fire_time < before)
                    | (_TABLE.c.fire_time.is_(None) & (_TABLE.c.expires_at < before))
                )
            )
