"""``pmsync sync`` and ``pmsync status``: pulling the sources and seeing how it went."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from pmsync.cli._common import EXIT_FAILED, console, err_console, fail, load, open_store, print_json

if TYPE_CHECKING:
    from pmsync.sync import SyncReport


def _progress_enabled(as_json: bool) -> bool:
    return sys.stderr.isatty() and not as_json


def sync(
    ctx: typer.Context,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    full: Annotated[bool, typer.Option(help="Re-read everything and reconcile deletions.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Pull every enabled source once; exit 1 when a source failed.

    A repository, branch, project or calendar the source refuses is skipped and
    named on stderr; the rest is stored and the exit status stays 0.
    """
    from pmsync.processes import connector_modules, settle_startup, start_fork_server
    from pmsync.sync import StreamResult, sync_configured

    config = load(ctx)
    if config.settings.daemon.pull_processes:
        start_fork_server(connector_modules())  # its imports overlap the store's opening
    store = open_store(config)
    settle_startup()
    try:
        if _progress_enabled(as_json):
            from rich.progress import Progress, SpinnerColumn, TextColumn

            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task("syncing", total=None)

                def on_page(result: StreamResult) -> None:
                    progress.update(
                        task,
                        description=f"{result.source}/{result.stream}: {result.pages} pages, "
                        f"{result.created + result.updated + result.unchanged} records",
                    )

                report = sync_configured(config, store, only=source, full=full, on_page=on_page)
        else:
            report = sync_configured(config, store, only=source, full=full)
    except KeyError as err:
        fail(f"error: {err.args[0]}")
    finally:
        store.close()
    if as_json:
        print_json({"ok": report.ok, "runs": [r.as_dict() for r in report.results]})
    else:
        print_sync_report(report)
    for line in report.skipped:  # read as far as the source let us: exit 0, but say what not
        err_console.print(f"skipped {line}", markup=False)
    if not report.ok:
        err_console.print(f"failed: {', '.join(report.failed_sources)}", markup=False)
        raise typer.Exit(EXIT_FAILED)


_STATUS_STYLE = {"ok": "{}", "partial": "[yellow]{}[/yellow]"}
"""How each run status is shown; anything else (``failed``) is red."""


def print_sync_report(report: SyncReport, title: str = "sync") -> None:
    """Print one row per source and stream with the figures of its run."""
    table = Table(title=title)
    for column in (
        "source",
        "stream",
        "status",
        "pages",
        "created",
        "updated",
        "unchanged",
        "deleted",
        "quarantined",
        "requests",
        "304s",
        "retries",
    ):
        table.add_column(column, justify="left" if column in ("source", "stream") else "right")
    for r in report.results:
        table.add_row(
            r.source,
            r.stream,
            _STATUS_STYLE.get(r.status, "[red]{}[/red]").format(r.status),
            *(
                str(v)
                for v in (
                    r.pages,
                    r.created,
                    r.updated,
                    r.unchanged,
                    r.deleted,
                    r.quarantined,
                    r.requests,
                    r.not_modified,
                    r.retries,
                )
            ),
        )
    console.print(table)
    for r in report.results:
        if r.error:
            err_console.print(f"{r.source}/{r.stream}: {r.error}", markup=False)


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show each source's last and next sync, quarantined records, alerts, next reports."""
    from pmsync.daemon import daemon_status

    config = load(ctx)
    store = open_store(config)
    try:
        runs = store.list_runs(limit=500)
        quarantined = store.quarantined(limit=50)
        daemon = daemon_status(store, config)
    finally:
        store.close()
    latest: dict[tuple[str, str], Any] = {}
    for run in runs:
        latest.setdefault((run.source, run.stream), run)
    sources: list[dict[str, Any]] = [
        {
            "name": name,
            "type": src.type,
            "enabled": src.enabled,
            **_next_sync(daemon["jobs"].get(f"sync:{name}")),
            "streams": [
                _run_json(latest[(name, spec.name)])
                for spec in (src.connector.streams if src.connector else ())
                if (name, spec.name) in latest
            ],
        }
        for name, src in config.sources.items()
    ]
    payload = {
        "database": store.describe(),
        "sources": sources,
        "daemon": daemon["daemon"],
        "alerts": daemon["alerts"],
        "next_reports": daemon["next_reports"],
        "quarantined": [
            {
                "source": q.source,
                "stream": q.stream,
                "kind": q.record_kind,
                "external_id": q.external_id,
                "reason": q.reason,
                "at": q.at.isoformat(),
                "times": q.times,
            }
            for q in quarantined
        ],
    }
    if as_json:
        print_json(payload)
        return
    console.print(f"database: {payload['database']}", markup=False)
    print_daemon(daemon)
    table = Table(title="sources")
    for column in (
        "source",
        "type",
        "stream",
        "last run",
        "status",
        "records",
        "next run",
        "error",
    ):
        table.add_column(column)
    for src in sources:
        upcoming = src["next_run"] or "-"
        if not src["streams"]:
            table.add_row(
                src["name"],
                src["type"],
                "-",
                "never",
                "-",
                "-",
                upcoming,
                "" if src["enabled"] else "disabled",
            )
        for run in src["streams"]:
            table.add_row(
                src["name"],
                src["type"],
                run["stream"],
                run["started_at"],
                run["status"],
                str(run["created"] + run["updated"] + run["unchanged"]),
                upcoming,
                run["error"] or "",
            )
    console.print(table)
    if quarantined:
        q_table = Table(title="quarantined records")
        for column in ("source", "kind", "id", "reason"):
            q_table.add_column(column)
        for q in quarantined:
            q_table.add_row(q.source, q.record_kind, q.external_id, q.reason)
        console.print(q_table)


def _next_sync(job: dict[str, Any] | None) -> dict[str, Any]:
    if job is None:
        return {"schedule": None, "next_run": None, "running_on": None}
    return {k: job[k] for k in ("schedule", "next_run", "running_on")}


def print_daemon(daemon: dict[str, Any]) -> None:
    """Print the daemons, the open alerts and the next reports (``pmsync status``)."""
    replicas = [r for r in daemon["daemon"]["replicas"] if r["alive"]]
    who = ", ".join(f"{r['host']} pid {r['pid']}" for r in replicas)
    console.print(f"daemon: {who if replicas else 'not running'}", markup=False)
    alerts = daemon["alerts"]
    if alerts is not None:
        detail = ", ".join(f"{n} {sev}" for sev, n in sorted(alerts["by_severity"].items()))
        console.print(f"open alerts: {alerts['open']}" + (f" ({detail})" if detail else ""))
    if daemon["next_reports"]:
        table = Table(title="next reports")
        for column in ("project", "audience", "report", "schedule", "next run"):
            table.add_column(column)
        for r in daemon["next_reports"]:
            table.add_row(
                r["project"], r["audience"], r["report"], r["schedule"], r["next_run"] or "-"
            )
        console.print(table)


def _run_json(run: Any) -> dict[str, Any]:
    return {
        "stream": run.stream,
        "status": run.status,
        "full": run.full,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "pages": run.pages,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "deleted": run.deleted,
        "quarantined": run.quarantined,
        "requests": run.requests,
        "not_modified": run.not_modified,
        "retries": run.retries,
        "error": run.error,
    }


def register(app: typer.Typer) -> None:
    """Add the data commands to ``app``."""
    app.command("sync")(sync)
    app.command("status")(status)
