"""One sandbox: the Jira, GitHub and Google Calendar imitations over one scenario.

They share one scenario and one simulated clock, so advancing time through any
service moves the whole world. ``Sandbox`` is what the CLI's ``sandbox serve``,
the demo, the end-to-end tests and the benchmarks start. With ``tls_dir`` every
service is served over HTTPS from a throwaway CA whose bundle ``endpoints()``
names; ``warm()`` builds each service's view of the world at the clock up front,
which a world of 100,000 issues takes seconds for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from pmsync.sandbox.scenario import Scenario, paused_gc
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
        with paused_gc():  # indexes of a big world are millions of small objects
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

    def warm(self) -> None:
        """Build every service's view of the world at the clock now, not on first request."""
        from pmsync.sandbox.gcal import CalendarService
        from pmsync.sandbox.github import GitHubService
        from pmsync.sandbox.jira import JiraService

        with paused_gc():
            for service in self.services.values():
                if isinstance(service, JiraService):
                    service.snapshot()
                elif isinstance(service, GitHubService):
                    for index in service.indexes.values():
                        service.view(index)
                elif isinstance(service, CalendarService):
                    now = self.clock.now()
                    for calendar in self.scenario.calendar.calendars:
                        service.snapshot(calendar, now)

    def advance(self, delta: timedelta) -> datetime:
        """Move the simulated clock of every service forward; return the new time."""
        return self.clock.advance(delta)  # each service listens to the clock

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
