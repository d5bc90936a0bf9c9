"""``pmsync run``: the unattended daemon — scheduling, replicas, health, metrics, logs.

The daemon drives the same functions the CLI calls one at a time (``sync``,
``check``, ``report``) on a schedule taken from the configuration, and is made
to be trusted by an operator who is not watching: it stops cleanly, reloads
its configuration without a restart (refusing an invalid one), tells its
health and metrics over HTTP, logs structured lines without secrets, and, on
PostgreSQL, shares the work with any number of replicas. The modules::

    base.py       options, the context of a job run, its result
    jobs.py       the job table: kinds, triggers from the config
    tasks.py      what each job does (sync, check, dispatch, snapshot, report, packs)
    hooks.py      the capabilities other parts of pmsync provide, found lazily
    leases.py     which replica runs which job (leases and claims in the database)
    presence.py   daemon_instance rows; SQLite's one-daemon lock
    heartbeat.py  lease renewal, published schedule, adopting dead replicas' work
    runner.py     the Daemon: scheduling, executing a run, reload
    lifecycle.py  start and stop, in order
    health.py     /healthz, /readyz, /metrics      metrics.py  the Prometheus metrics
    logs.py       JSON or text logs, secrets masked
    reload.py     watching and validating the configuration
    status.py     what ``pmsync status`` shows about the daemons
"""

from pmsync.daemon.base import DaemonOptions, JobContext, JobResult
from pmsync.daemon.hooks import HOOKS, Hook, Hooks
from pmsync.daemon.jobs import JOB_KINDS, JobKind, JobSpec, build_jobs
from pmsync.daemon.runner import Daemon
from pmsync.daemon.status import daemon_status

__all__ = [
    "HOOKS",
    "JOB_KINDS",
    "Daemon",
    "DaemonOptions",
    "Hook",
    "Hooks",
    "JobContext",
    "JobKind",
    "JobResult",
    "JobSpec",
    "build_jobs",
    "daemon_status",
]
