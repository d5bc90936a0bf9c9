"""The daemon's jobs, declared as a table: what runs, when (from the config), and how.

``JOB_KINDS`` is the whole schedule in one place. Each kind expands into jobs
from the configuration (one ``sync:<source>`` per enabled source, one
``report:<PROJECT>:<n>`` per communication-plan entry, ...), each with its
trigger, and says how replicas share it:

* ``exclusive``: one replica at a time runs the job (a lease on its id);
* ``claimed``: each scheduled run is produced once across replicas (a claim on
  the job id and the scheduled time): reports, the daily snapshot;
* neither: every replica runs it (dispatch, whose outbox rows are claimed with
  ``FOR UPDATE SKIP LOCKED`` by alerting itself).

Every job coalesces missed runs into one and runs at most once at a time per
process; ``misfire_grace`` is how late a run may start after a pause (a
suspended laptop, a long outage) before it is skipped for the next one. For
interval jobs it is the interval (so a wake-up causes exactly one catch-up
run); for cron jobs ``--cron-grace`` (an hour by default: a Monday report
delayed by a reboot is still wanted, a week-old one is not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from pmsync.config import Config, format_duration
from pmsync.daemon import tasks
from pmsync.daemon.base import DaemonOptions, JobResult

SNAPSHOT_CRON = "5 0 * * *"
"""The daily metric snapshot: five past midnight in the installation's time zone."""


@dataclass(frozen=True)
class Schedule:
    """A trigger with the words ``pmsync status`` shows for it."""

    trigger: BaseTrigger = field(compare=False)
    text: str
    misfire_grace: int


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job."""

    id: str
    kind: str
    schedule: Schedule
    run: Callable[..., JobResult] = field(compare=False)
    params: tuple[tuple[str, Any], ...] = ()
    exclusive: bool = False
    claimed: bool = False
    run_at_start: bool = False


Expansion = Iterator[tuple[str, Schedule, dict[str, Any]]]


@dataclass(frozen=True)
class JobKind:
    """A row of the job table: how one kind of job is expanded from the config."""

    name: str
    expand: Callable[[Config, DaemonOptions], Expansion]
    run: Callable[..., JobResult]
    exclusive: bool = False
    claimed: bool = False
    run_at_start: bool = False


def interval(every: timedelta, jitter: timedelta = timedelta(0)) -> Schedule:
    """Return an interval schedule (first run one interval after it is added)."""
    seconds = max(every.total_seconds(), 1.0)
    extra = jitter.total_seconds()
    text = f"every {format_duration(every)}" + (
        f" (jitter {format_duration(jitter)})" if extra else ""
    )
    trigger = IntervalTrigger(seconds=seconds, jitter=extra or None, timezone=UTC)
    return Schedule(trigger, text, max(int(seconds), 1))


def cron(
    expression: str, zone: str, grace: timedelta, jitter: timedelta = timedelta(0)
) -> Schedule:
    """Return a cron schedule evaluated in ``zone`` (as ``config validate`` checked it)."""
    trigger = CronTrigger.from_crontab(expression, timezone=ZoneInfo(zone))
    extra = jitter.total_seconds()
    trigger.jitter = extra or None
    text = f"cron {expression} ({zone})" + (f" (jitter {format_duration(jitter)})" if extra else "")
    return Schedule(trigger, text, max(int(grace.total_seconds()), 1))


def latest_fire(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """Return the last time ``trigger`` fired at or before ``now`` (within ``lookback``)."""
    found = None
    moment = trigger.get_next_fire_time(None, now - lookback)
    for _ in range(100_000):
        if moment is None or moment > now:
            break
        found = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return found


# --- the table --------------------------------------------------------------------------


def _sources(config: Config, options: DaemonOptions) -> Expansion:
    default = config.settings.daemon.sync_interval
    for name, source in config.sources.items():
        if not source.enabled:
            continue
        opts = source.options
        if opts.cron is not None:
            schedule = cron(opts.cron, config.settings.timezone, options.cron_grace, opts.jitter)
        else:
            schedule = interval(opts.interval or default, opts.jitter)
        yield f"sync:{name}", schedule, {"source": name}


def _check(config: Config, options: DaemonOptions) -> Expansion:
    yield "check", interval(config.settings.daemon.check_interval), {}


def _dispatch(config: Config, options: DaemonOptions) -> Expansion:
    yield "dispatch", interval(options.dispatch_interval), {}


def _snapshot(config: Config, options: DaemonOptions) -> Expansion:
    zone = config.settings.timezone
    yield "snapshot", cron(SNAPSHOT_CRON, zone, timedelta(days=1)), {}


def _reports(config: Config, options: DaemonOptions) -> Expansion:
    zone = config.settings.timezone
    for key, project in config.projects.items():
        for index, entry in enumerate(project.communication):
            schedule = cron(entry.schedule, zone, options.cron_grace)
            yield f"report:{key}:{index}", schedule, {"project": key, "entry": index}


def _meeting_packs(config: Config, options: DaemonOptions) -> Expansion:
    if any(p.meetings for p in config.projects.values()):
        yield "meeting-packs", interval(options.meeting_pack_interval), {}


JOB_KINDS: tuple[JobKind, ...] = (
    JobKind("sync", _sources, tasks.sync_source, exclusive=True, run_at_start=True),
    JobKind("check", _check, tasks.check, exclusive=True),
    JobKind("dispatch", _dispatch, tasks.dispatch, run_at_start=True),
    JobKind("snapshot", _snapshot, tasks.snapshot, claimed=True, run_at_start=True),
    JobKind("report", _reports, tasks.report, claimed=True),
    JobKind("meeting-packs", _meeting_packs, tasks.meeting_packs, exclusive=True),
)
"""Every kind of job the daemon runs. A new kind is a new row and a function in ``tasks``."""


def build_jobs(
    config: Config, options: DaemonOptions, kinds: Iterable[JobKind] = JOB_KINDS
) -> list[JobSpec]:
    """Expand the job table against ``config``."""
    return [
        JobSpec(
            id=job_id,
            kind=kind.name,
            schedule=schedule,
            run=kind.run,
            params=tuple(sorted(params.items())),
            exclusive=kind.exclusive,
            claimed=kind.claimed,
            run_at_start=kind.run_at_start,
        )
        for kind in kinds
        for job_id, schedule, params in kind.expand(config, options)
    ]
