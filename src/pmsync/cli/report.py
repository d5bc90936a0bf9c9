"""``pmsync report``: write project and portfolio reports into the static site, print the paths."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from pmsync.cli._common import EXIT_USAGE, fail, load, open_store

FORMATS = ("html", "md", "json")


def _formats(value: str) -> list[str]:
    chosen = [f.strip().lower() for f in value.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise typer.BadParameter(f"formats are a comma-separated list of {', '.join(FORMATS)}")
    return chosen


def report(
    ctx: typer.Context,
    project: Annotated[
        list[str] | None, typer.Option("--project", "-p", help="Only this project (repeatable).")
    ] = None,
    portfolio: Annotated[
        bool, typer.Option("--portfolio", help="The portfolio and the project reports it links.")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Comma-separated: html, md, json.")
    ] = "html,md,json",
    out: Annotated[
        Path | None, typer.Option(help="The site folder; default: var_dir/reports.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Status date YYYY-MM-DD; default: today.")
    ] = None,
) -> None:
    """Write reports (default: every project and the portfolio); print each file written."""
    from pmsync.connectors import utc_now
    from pmsync.reports.jobs import generate_reports

    if project and portfolio:
        fail("error: use either --project or --portfolio, not both", EXIT_USAGE)
    formats = _formats(fmt)
    config = load(ctx)
    try:
        day = (
            date.fromisoformat(as_of)
            if as_of
            else datetime.now(ZoneInfo(config.settings.timezone)).date()
        )
    except ValueError:
        fail(f"error: --as-of {as_of!r} is not a date (YYYY-MM-DD)", EXIT_USAGE)
    unknown = [k for k in project or [] if k not in config.projects]
    if unknown:
        known = ", ".join(sorted(config.projects)) or "none"
        fail(f"error: no project {', '.join(unknown)} (configured: {known})", EXIT_USAGE)
    store = open_store(config)
    try:
        written = generate_reports(
            config,
            store,
            out or config.var_dir / "reports",
            as_of=day,
            now=utc_now,
            projects=project or None,
            portfolio=portfolio or not project,
            formats=formats,
        )
    finally:
        store.close()
    for path in written.paths:
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add ``pmsync report`` to ``app``."""
    app.command("report")(report)
