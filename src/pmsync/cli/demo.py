"""``pmsync demo``: the main job, end to end, on the embedded defaults.

It starts the sandbox (Jira, GitHub and Google Calendar imitations) on the
ports the committed ``config/sources.yaml`` points at, hands the sandbox's
credentials to that configuration through the environment variables it
references, and then runs exactly what the daemon runs, one step at a time,
into a fresh SQLite database under ``--out``: a full sync, an incremental sync
after simulated days pass, an unchanged sync, and the status. After each sync
it checks the rules and delivers the alerts to a local SMTP server and a
webhook receiver it starts itself (``demo_inbox``), printing what arrived.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pmsync.cli._common import console, fail, load, open_store, state
from pmsync.cli.data import print_sync_report
from pmsync.cli.metrics import show_metrics

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.store import Store

DEMO_PORT = 8801
"""Jira on 8801, GitHub on 8802, Google Calendar on 8803 (see config/sources.yaml)."""
DEMO_SEED = 7


def write_reports(store: Store, config: Config, now: Callable[[], datetime], out: Path) -> Path:
    """Write every project's report and the portfolio into ``out``; return its index."""
    from pmsync.reports.jobs import generate_reports

    written = generate_reports(config, store, out, as_of=now().date(), now=now)
    for path in written.paths:
        if path.suffix == ".html":
            console.print(f"  {path}", highlight=False)
    return out / "index.html"


def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Where the demo writes its database and reports.")] = (
        Path("var/demo")
    ),
    port: Annotated[
        int, typer.Option(help="First sandbox port (Jira; GitHub +1, Calendar +2).")
    ] = DEMO_PORT,
    days: Annotated[float, typer.Option(help="Simulated days between the two syncs.")] = 3.0,
) -> None:
    """Run sandbox + sync + status on the committed config; print what happened."""
    from pmsync.cli.demo_inbox import DemoInbox, check_and_show
    from pmsync.connectors import FixedClock
    from pmsync.plan import set_baseline
    from pmsync.sandbox.app import Sandbox
    from pmsync.sandbox.configout import sandbox_secret_env
    from pmsync.sandbox.generator import generate
    from pmsync.sync import SyncReport, sync_configured

    out.mkdir(parents=True, exist_ok=True)
    database = out / "pmsync.db"
    for stale in (database, out / "pmsync.db-wal", out / "pmsync.db-shm"):
        stale.unlink(missing_ok=True)
    os.environ["PMSYNC_DATABASE_URL"] = f"sqlite:///{database.resolve()}"

    scenario = generate(projects=3, items=300, seed=DEMO_SEED)
    box = Sandbox(scenario)
    try:
        box.start({"jira": port, "github": port + 1, "calendar": port + 2})
    except OSError as err:
        fail(f"error: the sandbox cannot listen on ports {port}-{port + 2}: {err}")
    try:
        endpoints = box.endpoints()
        os.environ.update(sandbox_secret_env(endpoints))
        console.rule("pmsync demo")
        for name in ("jira", "github", "calendar"):
            console.print(f"sandbox {name}: {endpoints[name]['url']}", highlight=False)
        console.print(
            f"scenario: seed {DEMO_SEED}, {len(scenario.projects)} projects, "
            f"{len(scenario.jira.issues)} Jira issues, "
            f"{sum(len(r.issues) for r in scenario.github.repositories)} GitHub issues and PRs, "
            f"{sum(len(r.commits) for r in scenario.github.repositories)} commits, "
            f"{sum(len(c.events) for c in scenario.calendar.calendars)} events; "
            f"clock {box.clock.now():%Y-%m-%d %H:%M} UTC",
            highlight=False,
        )
        config = load(ctx)
        store = open_store(config)
        inbox = DemoInbox(config).start()
        try:
            console.rule("1. full sync")
            # the simulated world's clock is the engine's clock, as real time is in production
            now = box.clock.now
            store.now = now  # sync runs are stamped in simulated time too: freshness agrees

            def sync(full: bool = False) -> SyncReport:
                # Each pass on the simulated now; the sources pull in worker processes,
                # as in production (a clock of the sandbox's own cannot cross to them).
                return sync_configured(config, store, full=full, now=FixedClock(now()))

            print_sync_report(sync(full=True), "first sync")
            for key in sorted(config.projects):  # the sponsors approve the plans as they stand
                set_baseline(store, key, note="approved at kick-off (demo)", now=now)
            console.rule("check: rules fire, alerts go out by e-mail and webhook")
            check_and_show(store, config, now, inbox)
            box.advance(timedelta(days=days))
            console.rule(f"2. {days:g} simulated days later: incremental sync")
            print_sync_report(sync(), "incremental sync")
            console.rule("check: what changed fires or resolves")
            check_and_show(store, config, now, inbox)
            console.rule("3. nothing changed: conditional requests")
            print_sync_report(sync(), "unchanged sync")
            console.rule("check: nothing new, nothing sent")
            check_and_show(store, config, now, inbox)
            console.rule("4. metrics: earned value, forecasts, the daily snapshot")
            show_metrics(store, config, now)
            console.rule("5. status reports: the static site")
            site = write_reports(store, config, now, out / "site")
        finally:
            inbox.stop()
            store.close()
    finally:
        box.stop()
    console.rule("done")
    console.print(f"config:   {state(ctx).config_dir}", highlight=False)
    console.print(f"database: {database}", highlight=False)
    console.print(f"reports:  {site}", highlight=False)
    console.print(
        f"try:      PMSYNC_DATABASE_URL=sqlite:///{database} "
        f".venv/bin/pmsync --config {state(ctx).config_dir} status",
        highlight=False,
    )
