"""Hot reload: notice a changed configuration, validate it, switch only if it is valid.

An admin edits ``config/*.yaml`` and either sends SIGHUP or just saves: the
daemon polls the files' size and modification time every few seconds (a poll,
not inotify, because config directories are often bind mounts, ConfigMaps or
network shares where change events are unreliable). The new files are loaded
with the same validation as ``pmsync config validate``. If anything is wrong,
the daemon keeps the configuration it runs on, logs every problem as
``file:line: key: message``, and reports not-ready until the files are fixed.

Some settings cannot change under a running process (the database, the health
endpoint): those are noted in the log and take effect at the next restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pmsync.config import Config, load_config
from pmsync.config.loader import PROJECTS_DIR, RULES_FILE, SETTINGS_FILE, SOURCES_FILE
from pmsync.connectors import load_connectors
from pmsync.daemon.jobs import build_jobs
from pmsync.errors import ConfigError, ConnectorLoadError

if TYPE_CHECKING:
    from pmsync.daemon.runner import Daemon

log = logging.getLogger("pmsync.daemon")
Fingerprint = tuple[tuple[str, int, int], ...]


def watched_files(config_dir: Path, config: Config | None) -> list[Path]:
    """Return the files whose change means a new configuration."""
    files = [config_dir / name for name in (SETTINGS_FILE, SOURCES_FILE, RULES_FILE)]
    projects = config_dir / PROJECTS_DIR
    files += sorted([*projects.glob("*.yaml"), *projects.glob("*.yml")])
    if config is not None:
        files += [config.resolve_path(p.costs_csv) for p in config.projects.values() if p.costs_csv]
    return files


def fingerprint(config_dir: Path, config: Config | None) -> Fingerprint:
    """Return (file, mtime, size) of every watched file (missing ones as -1)."""
    found = []
    for path in watched_files(config_dir, config):
        try:
            stat = path.stat()
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
        except OSError:
            found.append((str(path), -1, -1))
    return tuple(found)


@dataclass(frozen=True)
class LoadResult:
    """A configuration, or the problems that stopped it."""

    config: Config | None
    problems: list[str]


def try_load(config_dir: Path, loader: Callable[[Path], Config] | None = None) -> LoadResult:
    """Load and validate ``config_dir``; never raise for a bad configuration."""
    try:
        if loader is not None:
            return LoadResult(loader(config_dir), [])
        return LoadResult(load_config(config_dir, load_connectors()), [])
    except ConfigError as err:
        return LoadResult(None, [str(p) for p in err.problems])
    except ConnectorLoadError as err:
        return LoadResult(None, [str(err)])


def restart_notes(old: Config, new: Config) -> list[str]:
    """Return what changed that only a restart applies."""
    notes = []
    if old.database_url != new.database_url or old.var_dir != new.var_dir:
        notes.append("the database settings changed: they take effect at the next restart")
    if old.settings.daemon.health != new.settings.daemon.health:
        notes.append("daemon.health changed: it takes effect at the next restart")
    return notes


def reload_daemon(daemon: Daemon, why: str) -> bool:
    """Switch ``daemon`` to the configuration on disk if it is valid; log why not otherwise."""
    loaded = try_load(daemon.config.config_dir)
    if loaded.config is None:
        daemon.config_problems = loaded.problems
        daemon.metrics.config_reloads.labels("refused").inc()
        daemon.metrics.config_valid.set(0)
        log.error(
            "configuration reload refused (%s): %d problem(s); still running on the "
            "previous configuration",
            why,
            len(loaded.problems),
            extra={"event": "config_reload", "result": "refused", "problems": loaded.problems},
        )
        for problem in loaded.problems:
            log.error("%s", problem, extra={"event": "config_problem"})
        return False
    new = loaded.config
    notes = restart_notes(daemon.config, new)
    daemon.config = new
    daemon.config_problems = []
    daemon.life.on_new_config(new)
    daemon.hooks.forget_missing()
    daemon.plan_changed.set()
    changes = daemon.apply_jobs(build_jobs(new, daemon.options))
    daemon.run_soon("check")  # rules and alerts on the new plan and thresholds
    daemon.heartbeat.publish()  # `pmsync status` shows the new schedule at once
    daemon.metrics.config_reloads.labels("applied").inc()
    daemon.metrics.config_valid.set(1)
    summary = ", ".join(f"{k}: {', '.join(v)}" for k, v in changes.items() if v) or "same jobs"
    log.info(
        "configuration reloaded (%s): %s",
        why,
        summary,
        extra={"event": "config_reload", "result": "applied", **changes},
    )
    for note in notes:
        log.warning(note, extra={"event": "config_reload_note"})
    return True
