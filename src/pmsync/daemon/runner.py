"""``pmsync run``: the process that keeps everything current, and stops cleanly.

Life of a daemon:

1. open the database (waiting a while for one that is still starting), take
   SQLite's one-daemon lock, apply the migrations;
2. schedule the job table (``jobs.py``) on an APScheduler ``BackgroundScheduler``
   (jobs in a thread pool, missed runs coalesced, one instance per job), start
   the health endpoint and the heartbeat;
3. in the main thread, wait for signals: SIGTERM/SIGINT stop, SIGHUP (or a
   changed config file) reloads;
4. on stop: no new runs; running syncs finish the page in flight (the engine
   checks the stop event between pages) and record their run; leases are
   released; if something still runs after ``stop_timeout`` the process exits
   anyway (status 1) and the next start, or another replica, resumes it.

Each run goes through ``_execute``: lease or claim (see ``leases.py``), the
job's function, then release, metrics and the job's last outcome for
``pmsync status``. Job failures are logged on transitions ("failing" once,
"recovered" once); sync failures are already logged so by the engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler

from pmsync.config import Config
from pmsync.daemon.analysis import SharedAnalysis
from pmsync.daemon.base import DaemonOptions, JobContext, JobResult
from pmsync.daemon.heartbeat import Heartbeat
from pmsync.daemon.hooks import Hooks
from pmsync.daemon.jobs import JobSpec, build_jobs, latest_fire
from pmsync.daemon.leases import Leases
from pmsync.daemon.lifecycle import Lifecycle
from pmsync.daemon.metrics import DaemonMetrics
from pmsync.daemon.presence import new_instance_id
from pmsync.daemon.reload import fingerprint, reload_daemon

log = logging.getLogger("pmsync.daemon")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass
class ActiveRun:
    """A job running in this process."""

    stop: threading.Event = field(default_factory=threading.Event)
    lease: str | None = None
    renewed: float = field(default_factory=time.monotonic)


class Daemon:
    """One ``pmsync run`` process."""

    def __init__(self, config: Config, options: DaemonOptions | None = None) -> None:
        self.config = config
        self.options = options or DaemonOptions()
        self.instance_id = new_instance_id()
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.hooks = Hooks()
        stale = timedelta(seconds=self.options.heartbeat * 3)
        self.metrics = DaemonMetrics(lambda: self.life.store, stale)
        self.config_problems: list[str] = []
        self.specs: dict[str, JobSpec] = {}
        self.active: dict[str, ActiveRun] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self._rerun: set[str] = set()
        self._failing: set[str] = set()
        self._lock = threading.Lock()
        self.plan_changed = threading.Event()
        """Set at start and by each applied reload: the next check refreshes the plan."""
        self.plan_changed.set()
        self.analysis = SharedAnalysis()
        """The last portfolio measurement, handed to the next job while the store is unchanged."""
        self.life = Lifecycle(self)
        workers = min(max(len(build_jobs(config, self.options)) + 4, 4), 32)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.heartbeat = Heartbeat(self)

    @property
    def leases(self) -> Leases:
        """Return this daemon's leases (the store is open)."""
        return self.life.leases

    # --- running ------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the exit status."""
        status = self.life.start()
        if status != EXIT_OK:
            return status
        self._install_signals()
        watch = self.options.watch_interval.total_seconds()
        seen = fingerprint(self.config.config_dir, self.config)
        next_watch = time.monotonic() + watch
        while not self.stopping.wait(0.25):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload("SIGHUP")
                seen = fingerprint(self.config.config_dir, self.config)
            elif watch > 0 and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + watch
                now_seen = fingerprint(self.config.config_dir, self.config)
                if now_seen != seen:
                    self.reload("the configuration files changed")
                    seen = fingerprint(self.config.config_dir, self.config)
        return self.life.stop()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())

    def start_scheduler(self) -> None:
        """Schedule the job table and start ticking."""
        self.apply_jobs(build_jobs(self.config, self.options))
        self.scheduler.start()

    # --- the job table --------------------------------------------------------------------

    def apply_jobs(self, specs: list[JobSpec]) -> dict[str, list[str]]:
        """Make the scheduler follow ``specs``: add, remove and reschedule jobs."""
        wanted = {s.id: s for s in specs}
        changes: dict[str, list[str]] = {"added": [], "removed": [], "rescheduled": []}
        for job_id in [j for j in self.specs if j not in wanted]:
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(job_id)
            changes["removed"].append(job_id)
        for job_id, spec in wanted.items():
            old = self.specs.get(job_id)
            grace = spec.schedule.misfire_grace
            if old is None:
                extra: dict[str, Any] = {}
                if spec.run_at_start:
                    extra["next_run_time"] = datetime.now(UTC)
                self.scheduler.add_job(
                    self._execute,
                    trigger=spec.schedule.trigger,
                    args=[job_id],
                    id=job_id,
                    name=job_id,
                    misfire_grace_time=grace,
                    coalesce=True,
                    max_instances=1,
                    replace_existing=True,
                    **extra,
                )
                changes["added"].append(job_id)
            elif old.schedule != spec.schedule:
                self.scheduler.modify_job(job_id, misfire_grace_time=grace)
                self.scheduler.reschedule_job(job_id, trigger=spec.schedule.trigger)
                changes["rescheduled"].append(job_id)
        self.specs = wanted
        self.metrics.prepare(
            {
                name: [s.name for s in source.connector.streams]
                for name, source in self.config.sources.items()
                if source.enabled and source.connector is not None
            }
        )
        return changes

    def run_soon(self, job_id: str) -> None:
        """Run ``job_id`` now (or right after its current run ends)."""
        if self.stopping.is_set() or job_id not in self.specs:
            return
        with self._lock:
            if job_id in self.active:
                self._rerun.add(job_id)
                return
        with contextlib.suppress(JobLookupError, SchedulerNotRunningError):
            self.scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    def schedule_info(self) -> dict[str, Any]:
        """Return each job's schedule, next run and last outcome (for ``pmsync status``)."""
        info: dict[str, Any] = {}
        for job_id, spec in self.specs.items():
            job = self.scheduler.get_job(job_id)
            upcoming = getattr(job, "next_run_time", None) if job is not None else None
            info[job_id] = {
                "kind": spec.kind,
                "schedule": spec.schedule.text,
                "params": dict(spec.params),
                "next_run": upcoming.isoformat() if upcoming else None,
                "running": job_id in self.active,
                **self.last.get(job_id, {}),
            }
        return info

    def _on_missed(self, event: JobExecutionEvent) -> None:
        log.info(
            "job %s missed its run of %s (the daemon was paused or busy): skipped",
            event.job_id,
            event.scheduled_run_time,
            extra={"event": "job_missed", "job": event.job_id},
        )

    # --- one run ----------------------------------------------------------------------

    def _execute(
        self, job_id: str, fire_time: datetime | None = None, claimed: str | None = None
    ) -> None:
        spec = self.specs.get(job_id)
        if spec is None or self.stopping.is_set():
            return
        with self._lock:
            if job_id in self.active:
                return
            run = self.active[job_id] = ActiveRun()
        if self.stopping.is_set():
            run.stop.set()
        started = datetime.now(UTC)
        result = JobResult("skipped")
        try:
            result, fire_time = self._take(spec, run, fire_time, claimed)
            if run.lease is not None or not (spec.exclusive or spec.claimed):
                result = self._call(spec, run, fire_time)
        except Exception as err:
            result = JobResult("failed", f"{type(err).__name__}: {err}")
            self._note_failure(spec, result, exc_info=True)
        finally:
            self._give_back(spec, run, result)
            self.metrics.job_runs.labels(job_id, result.outcome).inc()
            self.last[job_id] = {
                "last_run": started.isoformat(),
                "last_outcome": result.outcome,
                "last_detail": result.detail,
            }
            with self._lock:
                self.active.pop(job_id, None)
                again = job_id in self._rerun
                self._rerun.discard(job_id)
            if again:
                self.run_soon(job_id)

    def _take(
        self, spec: JobSpec, run: ActiveRun, fire_time: datetime | None, claimed: str | None
    ) -> tuple[JobResult, datetime | None]:
        """Take the job's lease or claim its scheduled run; set ``run.lease`` when won."""
        if spec.exclusive:
            other = self.leases.acquire(spec.id)
            if other is None:
                run.lease = spec.id
            return JobResult("skipped", f"running on {other}"), fire_time
        if not spec.claimed:
            return JobResult("skipped"), fire_time
        if claimed is not None:
            other = self.leases.acquire(claimed)
            name = claimed
        else:
            lookback = timedelta(seconds=spec.schedule.misfire_grace + 60)
            fire_time = latest_fire(spec.schedule.trigger, datetime.now(UTC), lookback)
            if fire_time is None:
                return JobResult("skipped", "no scheduled time to claim"), None
            name = f"{spec.id}@{fire_time.isoformat()}"
            other = self.leases.claim(name, spec.id, fire_time)
        if other is None:
            run.lease = name
        return JobResult("skipped", f"produced by {other}"), fire_time

    def _call(self, spec: JobSpec, run: ActiveRun, fire_time: datetime | None) -> JobResult:
        ctx = JobContext(
            job_id=spec.id,
            store=self.life.store,
            config=self.config,
            now=self.options.now,
            stop=run.stop,
            metrics=self.metrics,
            hooks=self.hooks,
            run_soon=self.run_soon,
            fire_time=fire_time,
            plan_stale=self._take_plan_change,
            analysis=self.analysis,
        )
        params = dict(spec.params)
        if spec.kind == "sync":
            params["holder"] = self.instance_id
        result = spec.run(ctx, **params)
        if result.outcome == "failed":
            self._note_failure(spec, result)
        elif result.outcome == "ok" and spec.id in self._failing:
            self._failing.discard(spec.id)
            if spec.kind != "sync":  # the engine logs a source's recovery itself
                log.warning("job %s recovered", spec.id, extra={"event": "job_recovered"})
        return result

    def _take_plan_change(self) -> bool:
        with self._lock:
            changed = self.plan_changed.is_set()
            self.plan_changed.clear()
        return changed

    def _note_failure(self, spec: JobSpec, result: JobResult, exc_info: bool = False) -> None:
        if spec.id in self._failing:
            log.debug("job %s still failing: %s", spec.id, result.detail)
            return
        self._failing.add(spec.id)
        if spec.kind != "sync" or exc_info:  # the engine logs a source's failure itself
            log.error(
                "job %s failing: %s",
                spec.id,
                result.detail,
                exc_info=exc_info,
                extra={"event": "job_failing", "job": spec.id},
            )

    def _give_back(self, spec: JobSpec, run: ActiveRun, result: JobResult) -> None:
        with self._lock:  # the heartbeat renews under this lock: never a released lease
            name, run.lease = run.lease, None
        if name is None:
            return
        try:
            if spec.claimed and result.outcome != "stopped":
                self.leases.finish(name)  # a failed report is not retried in a loop
            else:
                self.leases.release(name)
        except Exception as err:  # it expires by itself
            log.warning("cannot release lease %s: %s", name, err)

    def reload(self, why: str) -> bool:
        """Load the configuration again; switch to it only if it is valid."""
        return reload_daemon(self, why)

    def exit_now(self, status: int) -> None:
        """Leave the process at once (after a stop timeout: threads may still be running)."""
        logging.shutdown()
        os._exit(status)
