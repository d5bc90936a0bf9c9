"""The ``pmsync`` command line (typer).

Each command is a thin shell over a function of the core, so that the daemon
(``pmsync run``) and the CLI call exactly the same code. Subcommand groups live in
their own modules; this one assembles them.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from pmsync import __version__
from pmsync.cli import _common
from pmsync.cli._common import EXIT_USAGE, AppState, err_console, fail, load
from pmsync.cli.alerts import register as register_alerts
from pmsync.cli.check import register as register_check
from pmsync.cli.daemon import register as register_daemon
from pmsync.cli.data import register as register_data
from pmsync.cli.demo import demo
from pmsync.cli.meetings import register as register_meetings
from pmsync.cli.metrics import register as register_metrics
from pmsync.cli.plan import register as register_plan
from pmsync.cli.report import register as register_report
from pmsync.cli.sandbox import sandbox_app

app = typer.Typer(
    name="pmsync",
    help="Sync Jira, GitHub and calendars into one project model; check rules; report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Validate the configuration or export its JSON Schema.")
db_app = typer.Typer(help="Database maintenance.")
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pmsync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            envvar="PMSYNC_CONFIG",
            help="Configuration directory.",
            show_default=True,
        ),
    ] = Path("config"),
    log_level: Annotated[str, typer.Option(help="Log level (DEBUG, INFO, WARNING).")] = "WARNING",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """pmsync: the IT project manager's sync daemon."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = AppState(config_dir=config)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the example.")] = Path("config"),
) -> None:
    """Write a commented example configuration that validates."""
    from pmsync.config import write_example
    from pmsync.errors import ConfigError

    try:
        written = write_example(directory)
    except ConfigError as err:
        for problem in err.problems:
            err_console.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as err:
        fail(f"error: {err}")
    for path in written:
        typer.echo(str(path))


@config_app.command("validate")
def config_validate(
    ctx: typer.Context,
    online: Annotated[
        bool, typer.Option(help="Also contact each source: reachable, credentials, permissions.")
    ] = False,
) -> None:
    """Check the configuration; print every problem as file:line: key: message."""
    config = load(ctx)
    problems: list[str] = []
    if online:
        from pmsync.sync import check_sources

        problems = check_sources(config.sources)
        for line in problems:
            err_console.print(line, markup=False, highlight=False)
    if problems:
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"{_common.state(ctx).config_dir}: configuration is valid")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the configuration files, for editors."""
    from pmsync.config import config_json_schema
    from pmsync.connectors import load_connectors

    typer.echo(json.dumps(config_json_schema(load_connectors()), indent=2))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations up to the latest."""
    config = load(ctx)
    store = _common.open_store(config, upgrade=True)
    typer.echo(f"database at {store.describe()} is up to date")


register_data(app)
register_alerts(app)
register_report(app)
register_daemon(app)
register_meetings(app)
register_metrics(app)
register_plan(app)
register_check(app)
app.command("demo")(demo)


def main() -> None:
    """Run the CLI (the ``pmsync`` console script)."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()


__all__ = ["app", "main"]
