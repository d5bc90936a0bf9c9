"""``pmsync run``: start the daemon in the foreground (systemd, a container, a terminal).

The schedule comes from the configuration (``sources.yaml`` intervals and cron,
``daemon.check_interval``, each project's communication plan); the options
here tune the process itself. Logging follows ``daemon.log_format`` and
``daemon.log_level`` (the global ``--log-level`` applies to other commands).
Exit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when running jobs had
to be abandoned at the stop timeout or the migrations failed, 2 when it cannot start (bad
configuration, database unreachable, another daemon on the same SQLite file,
health port taken).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from pmsync.cli._common import EXIT_USAGE, fail, load


def _duration(option: str, value: str) -> timedelta:
    from pmsync.config import parse_duration

    try:
        return parse_duration(value)
    except ValueError as err:
        fail(f"error: {option}: {err}", EXIT_USAGE)


def run(
    ctx: typer.Context,
    lease_ttl: Annotated[
        str, typer.Option(help="How long a dead replica's jobs stay locked (heartbeat: a third).")
    ] = "60s",
    stop_timeout: Annotated[
        str, typer.Option(help="How long a stop waits for running jobs to finish their page.")
    ] = "30s",
    watch_interval: Annotated[
        str,
        typer.Option(help="How often the config files are checked for changes (0: SIGHUP only)."),
    ] = "5s",
    dispatch_interval: Annotated[
        str, typer.Option(help="How often pending notifications are sent (also after each check).")
    ] = "1m",
    meeting_pack_interval: Annotated[
        str, typer.Option(help="How often upcoming meetings are looked for.")
    ] = "15m",
    cron_grace: Annotated[
        str, typer.Option(help="How late a report or snapshot may still run after a pause.")
    ] = "1h",
    database_wait: Annotated[
        str, typer.Option(help="How long to wait at start for the database to answer.")
    ] = "60s",
    health_host: Annotated[str | None, typer.Option(help="Override daemon.health.host.")] = None,
    health_port: Annotated[
        int | None, typer.Option(help="Override daemon.health.port (0: any free port).")
    ] = None,
) -> None:
    """Run the daemon: sync on schedule, check rules, send alerts and reports."""
    from pmsync.daemon import Daemon, DaemonOptions
    from pmsync.processes import PRELOAD, connector_modules, settle_startup, start_fork_server

    options = DaemonOptions(
        lease_ttl=_duration("--lease-ttl", lease_ttl),
        stop_timeout=_duration("--stop-timeout", stop_timeout),
        watch_interval=_duration("--watch-interval", watch_interval),
        dispatch_interval=_duration("--dispatch-interval", dispatch_interval),
        meeting_pack_interval=_duration("--meeting-pack-interval", meeting_pack_interval),
        cron_grace=_duration("--cron-grace", cron_grace),
        database_wait=_duration("--database-wait", database_wait),
        health_host=health_host,
        health_port=health_port,
    )
    if options.lease_ttl < timedelta(seconds=2):
        fail("error: --lease-ttl: at least 2s", EXIT_USAGE)
    config = load(ctx)
    if config.settings.daemon.pull_processes:  # the workers' imports, done once, meanwhile
        start_fork_server([*PRELOAD, *connector_modules()])
    daemon = Daemon(config, options)
    settle_startup()
    raise typer.Exit(daemon.run())


def register(app: typer.Typer) -> None:
    """Add ``pmsync run`` to ``app``."""
    app.command("run")(run)
