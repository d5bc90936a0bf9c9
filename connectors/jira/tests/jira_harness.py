"""Test harness: a served Jira sandbox, the connector pointed at it, a real store.

Loaded by ``conftest.py`` under the name ``jira_harness`` (pytest runs with
``--import-mode=importlib``, so test modules cannot import siblings by path).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import select

from pmsync import model
from pmsync.connectors import ConnectorContext
from pmsync.sandbox.jira import JiraService
from pmsync.sandbox.scenario import Scenario
from pmsync.sandbox.server import FaultPlan, RunningService, SandboxClock, serve
from pmsync.store import Store
from pmsync_jira import JiraConnector, JiraSettings

_WORLD = Path(__file__).resolve().parents[3] / "tests" / "sandbox" / "jira_world.py"


def load_world() -> ModuleType:
    """Import the sandbox's hand-built Jira world (tests/sandbox/jira_world.py)."""
    spec = importlib.util.spec_from_file_location("jira_world_for_connector", _WORLD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


world = load_world()

_IGNORED = {"id", "source_id", "payload_hash", "first_seen_at", "last_seen_at", "raw", "url"}
TABLES: dict[str, Any] = {
    "work_item": model.WorkItem,
    "work_item_change": model.WorkItemChange,
    "worklog": model.Worklog,
    "source_milestone": model.SourceMilestone,
}


@dataclass
class Site:
    """A running sandbox Jira and the means to point connectors at it."""

    service: JiraService
    running: RunningService
    clock: SandboxClock
    tmp: Path
    waits: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.running.url

    def advance(self, **delta: float) -> None:
        """Move the simulated clock on, as the sandbox's control endpoint does."""
        self.service.on_advance(self.clock.advance(timedelta(**delta)))

    def settings(self, **overrides: Any) -> JiraSettings:
        """Return settings with the sandbox's credentials (the token in a secret file)."""
        token_file = self.tmp / "jira-token"
        token_file.write_text(overrides.pop("token_value", self.service.token))
        values: dict[str, Any] = {
            "url": self.url,
            "token": f"file:{token_file}",
            "projects": ["ALPHA", "BULK"],
        }
        if self.service.cloud:
            values["email"] = self.service.email
        values.update(overrides)
        return JiraSettings(**{k: v for k, v in values.items() if v is not None})

    def connector(self, *, sleep: Callable[[float], None] | None = None, **settings: Any) -> Any:
        """Return a JiraConnector on this site whose clock is the sandbox's."""
        context = ConnectorContext(
            source_name="jira",
            now=self.clock.now,
            request_timeout=10.0,
            sleep=sleep if sleep is not None else self.waits.append,
        )
        return JiraConnector(self.settings(**settings), context)


def start_site(
    tmp: Path,
    scenario: Scenario | None = None,
    *,
    faults: FaultPlan | None = None,
    **options: Any,
) -> Site:
    """Serve a JiraService for ``scenario`` (the hand-built world by default)."""
    scenario = scenario or world.build_world()
    clock = SandboxClock(scenario.clock)
    service = JiraService(scenario, clock, faults, **options)
    return Site(service, serve(service), clock, tmp)


def sync(store: Store, connector: Any, *, full: bool = False, streams: Any = None) -> None:
    """Run the connector's streams into the store, page by page with their cursors."""
    for spec in connector.streams:
        if streams is not None and spec.name not in streams:
            continue
        cursor = None if full else store.get_cursor("jira", spec.name)
        for page in connector.pull(spec.name, cursor, full=full):
            store.write_page("jira", spec.name, page, None)


def live(store: Store, kind: str) -> dict[str, dict[str, Any]]:
    """Return the live rows of a record kind, keyed by external id (no provenance columns)."""
    table = TABLES[kind]
    with store.session(readonly=True) as session:
        rows = session.scalars(select(table).where(table.deleted_at.is_(None))).all()
        return {
            row.external_id: {
                c.name: getattr(row, c.key)
                for c in table.__table__.columns
                if c.name not in _IGNORED
            }
            for row in rows
        }


def snapshot(store: Store) -> dict[str, dict[str, dict[str, Any]]]:
    """Return every live row of every Jira record kind."""
    return {kind: live(store, kind) for kind in TABLES}


def utc(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """Return an instant in January 2026 (UTC)."""
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)
