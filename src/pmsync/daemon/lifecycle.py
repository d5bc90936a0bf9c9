"""Starting and stopping a daemon: the order matters, so it is written down once here.

Start: logging (secrets masked) → database (waiting for it a while) → SQLite's
one-daemon lock → migrations → leases of dead holders (SQLite) → scheduler →
``daemon_instance`` row → health endpoint → heartbeat. Any failure before the
scheduler runs ends the process with status 2 and one line saying why.

Stop: no new runs → running jobs told to stop after their page → wait up to
``stop_timeout`` → heartbeat stopped → row marked stopped → endpoint closed →
database closed → lock released.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from pmsync import __version__
from pmsync.config import Config
from pmsync.daemon.health import HealthServer, readiness
from pmsync.daemon.leases import Leases
from pmsync.daemon.logs import Scrubbed, configure_logging, secret_values, set_level
from pmsync.daemon.presence import AnotherDaemonRunning, Presence, SqliteGuard
from pmsync.errors import DatabaseUnreachable, PmsyncError
from pmsync.store import Store, in_memory

if TYPE_CHECKING:
    from pmsync.daemon.runner import Daemon

log = logging.getLogger("pmsync.daemon")
KEEP_HISTORY = timedelta(days=30)


def _secrets(config: Config) -> set[str]:
    values = secret_values(config)
    url = config.database_url
    if url:
        password = make_url(url).password
        if password:
            values.add(str(password))
    return values


class Lifecycle:
    """The resources a daemon holds between start and stop."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.formatter: Scrubbed | None = None
        self._store: Store | None = None
        self._leases: Leases | None = None
        self.presence: Presence | None = None
        self.guard: SqliteGuard | None = None
        self.health: HealthServer | None = None

    @property
    def store(self) -> Store:
        """Return the open store."""
        assert self._store is not None, "the daemon has not started"
        return self._store

    @property
    def leases(self) -> Leases:
        """Return the leases of this daemon."""
        assert self._leases is not None, "the daemon has not started"
        return self._leases

    def on_new_config(self, config: Config) -> None:
        """Apply what a reload changes here: secrets to mask, the log level."""
        if self.formatter is not None:
            self.formatter.set_secrets(_secrets(config))
        set_level(config.settings.daemon.log_level)

    # --- start ----------------------------------------------------------------------------

    def start(self) -> int:
        """Acquire everything and start ticking; return 0, or 2 with the reason logged."""
        d = self.daemon
        settings = d.config.settings.daemon
        self.formatter = configure_logging(
            settings.log_format, settings.log_level, _secrets(d.config)
        )
        try:
            self._store = self._open_store()
            if self.store.engine.dialect.name == "sqlite":
                self._guard_sqlite()
        except (PmsyncError, OSError) as err:
            log.error("cannot start: %s", err, extra={"event": "daemon_refused"})
            self._close_store()
            return 2
        try:
            self.store.upgrade()
        except Exception as err:  # a failed migration is rolled back; say so and stop
            log.error("cannot start: the database migrations failed: %s", err, exc_info=True)
            self._close_store()
            return 1
        ttl = d.options.lease_ttl
        self._leases = Leases(self.store, d.instance_id, ttl)
        self.presence = Presence(self.store, d.instance_id, d.options.heartbeat)
        if self.guard is not None:
            self.leases.expire_others()  # we hold the file: every other holder is dead
        horizon = self.store.now() - KEEP_HISTORY
        self.leases.prune(horizon)
        self.presence.prune(horizon)
        try:
            self.health = self._start_health()
        except OSError as err:
            host, port = self._health_address()
            log.error(
                "cannot start: the health endpoint cannot listen on %s:%s: %s", host, port, err
            )
            self._close_store()
            return 2
        d.start_scheduler()
        url = self.health.url if self.health else None
        self.presence.announce(url, d.schedule_info())
        d.heartbeat.start()
        log.info(
            "daemon %s started (pmsync %s): database %s, %d jobs, health %s",
            d.instance_id,
            __version__,
            self.store.describe(),
            len(d.specs),
            url or "disabled",
            extra={"event": "daemon_started", "instance": d.instance_id, "jobs": sorted(d.specs)},
        )
        return 0

    def _open_store(self) -> Store:
        d = self.daemon
        deadline = time.monotonic() + d.options.database_wait.total_seconds()
        said = False
        while True:
            try:
                return Store.open(
                    d.config.database_url, var_dir=d.config.var_dir, now=d.options.now
                )
            except DatabaseUnreachable as err:
                if time.monotonic() >= deadline or d.stopping.is_set():
                    raise
                if not said:
                    log.warning("%s; waiting for it", err, extra={"event": "database_wait"})
                    said = True
                d.stopping.wait(2.0)

    def _guard_sqlite(self) -> None:
        url = self.store.engine.url
        if in_memory(url) or not url.database:
            return
        self.guard = SqliteGuard(Path(url.database))
        try:
            self.guard.acquire(self.store)
        except AnotherDaemonRunning:
            self.guard = None
            raise

    def _health_address(self) -> tuple[str, int]:
        d = self.daemon
        health = d.config.settings.daemon.health
        host = d.options.health_host or health.host
        port = health.port if d.options.health_port is None else d.options.health_port
        return host, port

    def _start_health(self) -> HealthServer | None:
        d = self.daemon
        if not d.config.settings.daemon.health.enabled and d.options.health_port is None:
            return None
        host, port = self._health_address()
        server = HealthServer(
            host,
            port,
            alive=d.heartbeat.alive,
            ready=lambda: readiness(self.store, d.config_problems),
            registry=d.metrics.registry,
            scrub=self.formatter.scrub if self.formatter else (lambda s: s),
        )
        server.start()
        return server

    # --- stop --------------------------------------------------------------------------------

    def stop(self) -> int:
        """Stop within ``stop_timeout``; return 0, or 1 when jobs had to be abandoned."""
        d = self.daemon
        timeout = d.options.stop_timeout.total_seconds()
        with d._lock:
            running = list(d.active)
            for run in d.active.values():
                run.stop.set()
        log.info(
            "stopping: %s",
            f"waiting up to {timeout:g} s for {', '.join(running)}" if running else "nothing runs",
            extra={"event": "daemon_stopping", "running": running},
        )
        d.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + timeout
        while d.active and time.monotonic() < deadline:
            time.sleep(0.05)
        left = list(d.active)
        d.heartbeat.stop()
        try:
            if self.presence is not None:
                self.presence.leave(d.schedule_info())
        except Exception as err:
            log.warning("cannot record the stop in the database: %s", err)
        if self.health is not None:
            self.health.stop()
        if left:
            log.error(
                "still running after %g s: %s; exiting anyway, the next run resumes them",
                timeout,
                ", ".join(left),
                extra={"event": "daemon_stopped", "abandoned": left},
            )
            d.exit_now(1)
        self._close_store()
        log.info("daemon %s stopped", d.instance_id, extra={"event": "daemon_stopped"})
        return 0

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
        if self.guard is not None:
            self.guard.release()
            self.guard = None
