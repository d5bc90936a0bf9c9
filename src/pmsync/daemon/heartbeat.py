"""The heartbeat: keep leases alive, publish the schedule, pick up dead replicas' reports.

Every third of the lease time, in a thread of its own (so a busy job pool
never delays it):

* renew the lease of every running job; a lease found taken by another replica
  (ours expired: the database was unreachable, the process was frozen) stops
  that run after its current page, so two replicas never keep syncing one
  source;
* if the database has not answered for most of a lease time, stop the runs that
  hold leases: the other replicas are about to take them over;
* refresh this daemon's ``daemon_instance`` row (heartbeat, next runs);
* look for claimed scheduled runs (reports, the snapshot) whose holder died
  before finishing them, and run them here.

``/healthz`` reports the process stalled when the heartbeat stops beating.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers import SchedulerNotRunningError

if TYPE_CHECKING:
    from pmsync.daemon.runner import Daemon

log = logging.getLogger("pmsync.daemon")
ORPHAN_HORIZON = timedelta(days=1)


class Heartbeat:
    """The daemon's periodic upkeep thread."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.period = daemon.options.heartbeat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pmsync-heartbeat", daemon=True)
        self._last = time.monotonic()
        self._db_ok = True

    def start(self) -> None:
        """Beat in the background."""
        self._last = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (and wait for the current beat)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.period + 5)

    def alive(self) -> tuple[bool, dict[str, Any]]:
        """Tell ``/healthz`` whether the daemon still beats."""
        d = self.daemon
        silent = time.monotonic() - self._last
        ok = silent <= 3 * self.period + 1 and d.scheduler.running and not self._stop.is_set()
        return ok, {
            "instance": d.instance_id,
            "seconds_since_heartbeat": round(silent, 1),
            "running_jobs": sorted(d.active),
        }

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.beat()

    def beat(self) -> None:
        """Do one round of upkeep; never raise."""
        d = self.daemon
        try:
            self._renew()
            if d.life.presence is not None:
                d.life.presence.beat(d.schedule_info())
            self._adopt_orphans()
        except Exception as err:
            if self._db_ok:
                log.error("heartbeat failing: %s", err, extra={"event": "heartbeat_failing"})
            self._db_ok = False
            self._stop_unrenewed()
        else:
            if not self._db_ok:
                log.warning("heartbeat recovered", extra={"event": "heartbeat_recovered"})
            self._db_ok = True
        self._last = time.monotonic()

    def publish(self) -> None:
        """Write the schedule to this daemon's row now (after a reload)."""
        d = self.daemon
        try:
            if d.life.presence is not None:
                d.life.presence.beat(d.schedule_info())
        except Exception as err:  # the next beat tries again
            log.debug("cannot publish the schedule: %s", err)

    def _renew(self) -> None:
        d = self.daemon
        # Under the daemon's lock: a run that ends meanwhile gives its lease back after this.
        with d._lock:
            held = {job: run for job, run in d.active.items() if run.lease is not None}
            if not held:
                return
            kept = d.leases.renew(run.lease for run in held.values() if run.lease)
            now = time.monotonic()
            for job, run in held.items():
                if run.lease in kept:
                    run.renewed = now
                elif not run.stop.is_set():
                    log.warning(
                        "lease %s was taken over by another replica: stopping %s after its page",
                        run.lease,
                        job,
                        extra={"event": "lease_lost", "job": job},
                    )
                    run.stop.set()

    def _stop_unrenewed(self) -> None:
        d = self.daemon
        limit = d.options.lease_ttl.total_seconds() * 0.8
        now = time.monotonic()
        with d._lock:
            for job, run in d.active.items():
                if run.lease is not None and now - run.renewed > limit and not run.stop.is_set():
                    log.warning(
                        "lease %s could not be renewed: stopping %s after its page",
                        run.lease,
                        job,
                        extra={"event": "lease_lost", "job": job},
                    )
                    run.stop.set()

    def _adopt_orphans(self) -> None:
        d = self.daemon
        now = datetime.now(UTC)
        for orphan in d.leases.orphans(since=now - ORPHAN_HORIZON):
            spec = d.specs.get(orphan.job_id)
            if spec is None or not spec.claimed or d.stopping.is_set():
                continue
            if d.leases.acquire(orphan.name) is not None:
                continue
            log.info(
                "taking over %s scheduled at %s from %s, which stopped before finishing it",
                orphan.job_id,
                orphan.fire_time.isoformat(),
                orphan.holder,
                extra={"event": "job_takeover", "job": orphan.job_id},
            )
            try:
                d.scheduler.add_job(
                    d._execute,
                    trigger="date",
                    run_date=now,
                    args=[orphan.job_id],
                    kwargs={"fire_time": orphan.fire_time, "claimed": orphan.name},
                    id=orphan.name,
                    misfire_grace_time=None,
                    replace_existing=True,
                )
            except SchedulerNotRunningError:
                return
