"""Sandbox worlds for the end-to-end tests.

A world is a scenario from the generator, served in-process by the sandbox
(Jira, GitHub and Google Calendar on free ports on 127.0.0.1), with the
configuration an admin gets from ``pmsync sandbox serve --config-out``
written under ``root/config`` and loaded. Tests sync it into stores of their
own and compute what they expect from the *scenario* (what the tools hold),
never from pmsync's tables.

``tests/conftest.py`` puts this folder on ``sys.path`` (pytest runs with
``--import-mode=importlib``), so test modules ``from worlds import ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from pmsync import model
from pmsync.config import Config, load_config
from pmsync.connectors import FixedClock, load_connectors, no_sleep
from pmsync.sandbox.app import Sandbox
from pmsync.sandbox.configout import write_config
from pmsync.sandbox.faults import FaultInjector
from pmsync.sandbox.generator import generate
from pmsync.sandbox.scenario import GitHubRepository, Scenario
from pmsync.sandbox.server import FaultPlan
from pmsync.store import Store
from pmsync.sync import SyncReport, sync_configured
from pmsync.upsert import insert_for

SANDBOX_SECRETS = (
    "PMSYNC_SANDBOX_JIRA_TOKEN",
    "PMSYNC_SANDBOX_GITHUB_TOKEN",
    "PMSYNC_SANDBOX_GCAL_CLIENT_SECRET",
    "PMSYNC_SANDBOX_GCAL_REFRESH_TOKEN",
)
"""The environment variables the committed ``config/sources.yaml`` reads its secrets from."""


def store_projects(store: Store, config: Config) -> None:
    """Store the configured projects' rows, as the plan refresh (``pmsync.plan``) does."""
    table = model.table_of(model.Project)
    with store.transaction() as conn:
        for project in config.projects.values():
            values = {"key": project.key, "name": project.name, "updated_at": store.now()}
            stmt = insert_for(conn, table).values(**values)
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))


class SandboxWorld:
    """A generated scenario served by the sandbox, with the config written for it.

    ``edit`` changes the scenario before it is served (its result is kept as
    ``edited``); Use it
    as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        root: Path,
        *,
        projects: int = 2,
        items: int = 120,
        seed: int = 5,
        faults: FaultPlan | None = None,
        days_per_minute: float = 0.0,
        edit: Callable[[Scenario], Any] | None = None,
    ) -> None:
        self.root = root
        self.scenario: Scenario = generate(projects=projects, items=items, seed=seed)
        self.edited = edit(self.scenario) if edit is not None else None
        self.box = Sandbox(
            self.scenario, faults=faults or FaultPlan(), days_per_minute=days_per_minute
        ).start()
        self.endpoints: dict[str, Any] = self.box.endpoints()
        self.config_dir = root / "config"
        write_config(self.scenario, self.endpoints, self.config_dir, var_dir=root / "var")
        self.config: Config = self.reload()

    def __enter__(self) -> SandboxWorld:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.box.stop()

    # --- the configuration --------------------------------------------------------------

    def reload(self) -> Config:
        """Load the config files again (after an edit) and return the config."""
        self.config = load_config(self.config_dir, load_connectors())
        return self.config

    def read(self, name: str) -> Any:
        """Return a config file (``pmsync.yaml``, ``projects/pay.yaml``, ...) as data."""
        return yaml.safe_load((self.config_dir / name).read_text(encoding="utf-8"))

    def write(self, name: str, data: Any) -> None:
        """Write a config file; ``self.config`` is left as it was (see ``reload``)."""
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        (self.config_dir / name).write_text(text, encoding="utf-8")

    def edit_project(self, key: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Change a project's file as an admin would, then reload the config."""
        name = f"projects/{key.lower()}.yaml"
        data = self.read(name)
        change(data)
        self.write(name, data)
        self.reload()

    # --- syncing --------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The sandbox's simulated time."""
        return self.box.clock.now()

    def sync(self, store: Store, **options: Any) -> SyncReport:
        """Sync every configured source on the sandbox's clock; every run must succeed."""
        report = self.sync_raw(store, **options)
        assert report.ok, [(r.source, r.stream, r.error) for r in report.results if r.error]
        return report

    def sync_raw(self, store: Store, **options: Any) -> SyncReport:
        """Sync as ``sync`` does and return the report, failed runs included.

        With ``pull_processes=True`` the sources pull in worker processes, on a
        clock that stands at the sandbox's now (the sandbox's own clock stays here).
        """
        if options.get("pull_processes"):
            options.setdefault("now", FixedClock(self.now))
        options.setdefault("sleep", no_sleep)
        options.setdefault("now", self.box.clock.now)
        options.setdefault("pull_processes", False)
        return sync_configured(self.config, store, **options)

    def end_faults(self) -> None:
        """The outage is over: from now on every service answers without injected faults."""
        for service in self.box.services.values():
            service.faults = FaultInjector(FaultPlan())

    # --- the scenario, as of the clock ------------------------------------------------------

    def jira_issues(self, project: str) -> list[dict[str, Any]]:
        """The project's visible Jira issues: their fields now, with ``issue`` the spec."""
        found = []
        for issue in self.scenario.jira.issues:
            if not issue.visible_at(self.now):
                continue
            state = issue.state_at(
                {"key": issue.key, "project": issue.project, **issue.fields}, self.now
            )
            if state["project"] == project:
                found.append({"issue": issue, **state})
        return found

    def repository(self, project: str) -> GitHubRepository:
        """The project's (first) GitHub repository."""
        spec = next(p for p in self.scenario.projects if p.key == project)
        full_name = spec.github_repositories[0]
        return next(r for r in self.scenario.github.repositories if r.full_name == full_name)
