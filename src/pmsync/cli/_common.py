"""What every CLI command shares: the console, loading config, exit codes, JSON output.

Exit codes (DESIGN.md): 0 ok, 1 the job ran and something failed (a source, a
channel), 2 bad usage or bad configuration. Errors that an admin can fix are
printed as one line each, never as a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from pmsync.errors import ConfigError, ConnectorLoadError, PmsyncError

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.store import Store

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Not on a terminal (logs, pipes, CI) tables keep their full width instead of 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, soft_wrap=True, width=_WIDTH)


@dataclass
class AppState:
    """Options given before the command (``pmsync --config DIR ...``)."""

    config_dir: Path


def state(ctx: typer.Context) -> AppState:
    """Return the app state stored by the root callback."""
    obj = ctx.find_root().obj
    if isinstance(obj, AppState):
        return obj
    return AppState(config_dir=Path(os.environ.get("PMSYNC_CONFIG", "config")))


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    err_console.print(message, markup=False, highlight=False)
    raise typer.Exit(code)


def load(ctx: typer.Context) -> Config:
    """Load and validate the configuration, or exit 2 with one line per problem."""
    from pmsync.config import load_config
    from pmsync.connectors import load_connectors

    try:
        return load_config(state(ctx).config_dir, load_connectors())
    except ConfigError as err:
        for problem in err.problems:
            err_console.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    except ConnectorLoadError as err:
        fail(f"error: {err}")


def open_store(config: Config, *, upgrade: bool = True) -> Store:
    """Open the configured database (migrated to head unless told otherwise)."""
    from pmsync.store import Store

    try:
        store = Store.open(config.database_url, var_dir=config.var_dir)
        if upgrade:
            store.upgrade()
        return store
    except PmsyncError as err:
        fail(f"error: {err}")


def print_json(payload: Any) -> None:
    """Print ``payload`` as JSON on stdout (dates as ISO 8601)."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")
