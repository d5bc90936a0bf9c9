"""One sandbox: the Jira, GitHub and Google Calendar imitations over one scenario.

They share one scenario and one simulated clock, so advancing time through any
service moves the whole world. ``Sandbox`` is what the CLI's ``sandbox serve``,
the demo, the end-to-end tests and the benchmarks start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from pmsync.sandbox.scenario import Scenario
from pmsync.sandbox.server import (
    FaultPlan,
    RunningService,
    SandboxClock,
    Service,
    TLSMaterial,
    serve,
)

SERVICES = ("jira", "github", "calendar")


def _feed_name(calendar_id: str) -> str:
    """Return a feed name (letters, digits, ``_.@-``) for a calendar id."""
    return re.sub(r"[^A-Za-z0-9_.@\-]", "-", calendar_id)


@dataclass
class Sandbox:
    """The imitated services of one scenario; ``start()`` serves them on 127.0.0.1."""

    scenario: Scenario
    faults: FaultPlan = field(default_factory=FaultPlan)
    days_per_minute: float = 0.0
    jira_flavour: Literal["cloud", "datacenter"] = "cloud"
    jira_user_time_zone: str = "UTC"
    github_enterprise: bool = False
    tls_dir: Path | None = None
    running: dict[str, RunningService] = field(default_factory=dict)
    tls: TLSMaterial | None = None

    def __post_init__(self) -> None:
        self.clock = SandboxClock(self.scenario.clock, self.days_per_minute)
        self.services: dict[str, Service] = self._build()

    def _build(self) -> dict[str, Service]:
        from pmsync.sandbox.gcal import CalendarService
        from pmsync.sandbox.github import GitHubService
        from pmsync.sandbox.jira import JiraService

        return {
            "jira": JiraService(
                self.scenario,
                self.clock,
                self.faults,
                flavour=self.jira_flavour,
                user_time_zone=self.jira_user_time_zone,
            ),
            "github": GitHubService(
                self.scenario, self.clock, self.faults, enterprise=self.github_enterprise
            ),
            "calendar": CalendarService(self.scenario, self.clock, self.faults),
        }

    def start(self, ports: dict[str, int] | None = None) -> Sandbox:
        """Serve every service (port 0, or the given ones) and return self."""
        ports = ports or {}
        context = None
        if self.tls_dir is not None:
            self.tls = TLSMaterial.create(self.tls_dir)
            context = self.tls.server_context
        for name, service in self.services.items():
            prefix = "/api/v3" if name == "github" and self.github_enterprise else ""
            self.running[name] = serve(service, ports.get(name, 0), context, prefix)
            bind = getattr(service, "bind_base_url", None)
            if callable(bind):
                bind(self.running[name].url)
        return self

    def endpoints(self) -> dict[str, Any]:
        """Return each service's base URL, credentials and what it holds (``serve`` prints it)."""
        result: dict[str, Any] = {}
        for name, running in self.running.items():
            result[name] = {"url": running.url, **running.service.credentials()}
        world = self.scenario
        if "jira" in result:
            result["jira"]["flavour"] = self.jira_flavour
            result["jira"]["projects"] = [p.key for p in world.jira.projects]
        if "github" in result:
            result["github"]["repositories"] = [r.full_name for r in world.github.repositories]
        if "calendar" in result:
            base = result["calendar"]["url"]
            ids = [c.id for c in world.calendar.calendars]
            result["calendar"]["calendars"] = ids
            result["calendar"]["ics_feeds"] = {
                _feed_name(i): f"{base}/calendar/ical/{quote(i, safe='')}/public/basic.ics"
                for i in ids
            }
        if self.tls is not None:
            result["ca_bundle"] = str(self.tls.ca_bundle)
        return result

    def advance(self, delta: timedelta) -> None:
        """Move the simulated clock of every service forward."""
        now = self.clock.advance(delta)
        for service in self.services.values():
            service.on_advance(now)

    def stop(self) -> None:
        """Stop serving."""
        for running in self.running.values():
            running.stop()
        self.running.clear()

    def __enter__(self) -> Sandbox:
        return self.start() if not self.running else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
