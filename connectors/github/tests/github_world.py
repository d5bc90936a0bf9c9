"""A small GitHub world for the connector tests, served by the real sandbox in-process."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pmsync.connectors import ConnectorContext
from pmsync.records import Page, Record
from pmsync.sandbox.github import SANDBOX_TOKEN, GitHubService
from pmsync.sandbox.scenario import (
    Change,
    GitHubCommit,
    GitHubIssue,
    GitHubMilestone,
    GitHubPullRef,
    GitHubRepository,
    GitHubWorld,
    Person,
    Scenario,
)
from pmsync.sandbox.server import FaultPlan, RunningService, SandboxClock, serve
from pmsync_github import GitHubConnector, GitHubSettings

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
STREAMS = ("issues", "pull_requests", "milestones", "commits")


def repository(full_name: str, rid: int, issues: int) -> GitHubRepository:
    """Return a repository with milestones, issues, pull requests and commits on two branches."""
    milestones = [
        GitHubMilestone(
            number=1,
            id=rid * 10 + 1,
            title="Beta",
            created=T0,
            due_on=T0 + timedelta(days=20),
            creator="ana",
            # closed late, inside the window the tests advance through
            history=[Change(at=NOW + timedelta(days=1), set={"state": "closed"})],
        ),
        GitHubMilestone(
            number=2, id=rid * 10 + 2, title="GA", created=T0, due_on=T0 + timedelta(days=60)
        ),
    ]
    items = []
    for n in range(1, issues + 1):
        created = T0 + timedelta(hours=5 * n)
        history = []
        if n % 3 == 0:
            history.append(Change(at=created + timedelta(days=2), set={"state": "closed"}))
        if n % 7 == 0:  # changes in the simulated future
            history.append(Change(at=NOW + timedelta(days=2), set={"labels": ["later"]}))
        pull = GitHubPullRef(head=f"PAY-{n}-feature") if n % 5 == 0 else None
        if pull is not None and n % 10 == 0:
            history.append(Change(at=created + timedelta(days=1), set={"merged": True}))
        items.append(
            GitHubIssue(
                number=n,
                id=rid * 1000 + n,
                title=f"PAY-{n} item {n} fixes #{max(n - 1, 1)}",
                body="Closes #1 and relates to acme/other#4",
                author="ana" if n % 2 else "raj",
                created=created,
                history=history,
                labels=["bug"] if n % 4 == 0 else [],
                assignees=["raj"] if n % 6 == 0 else [],
                milestone=1 if n % 2 else 2,
                pull_request=pull,
                deleted_at=NOW + timedelta(days=1) if n == 4 else None,
            )
        )
    items.append(  # created in the simulated future
        GitHubIssue(
            number=issues + 1,
            id=rid * 1000 + issues + 1,
            title="new",
            author="ana",
            created=NOW + timedelta(days=1),
        )
    )
    commits = []
    for i in range(30):
        branch = "main" if i % 3 else "release"
        moment = T0 + timedelta(hours=7 * i)
        commits.append(
            GitHubCommit(
                sha=f"{rid:04x}{i:036x}",
                branch=branch,
                message=f"PAY-{i}: change {i}\n\nfixes #{i + 1}",
                author="ana" if i % 2 else "zoe",
                authored_at=moment - timedelta(minutes=5),
                committed_at=moment,
            )
        )
    commits.append(
        GitHubCommit(
            sha=f"{rid:04x}{99:036x}",
            message="late commit",
            author="raj",
            authored_at=NOW + timedelta(days=1),
            committed_at=NOW + timedelta(days=1),
        )
    )
    return GitHubRepository(
        id=rid,
        full_name=full_name,
        created=T0 - timedelta(days=1),
        milestones=milestones,
        issues=items,
        commits=commits,
    )


def scenario(issues: int = 45) -> Scenario:
    """Return two repositories of ``issues`` issues each, the clock at NOW."""
    people = [
        Person(id="ana", name="Ana Lima", email="ana@example.com", github_login="ana-gh"),
        Person(id="raj", name="Raj Iyer", email="raj@example.com", github_login="rajiyer"),
        Person(id="zoe", name="Zoë No-GitHub", email="zoe@example.com"),
    ]
    return Scenario(
        clock=NOW,
        people=people,
        github=GitHubWorld(
            repositories=[repository("acme/pay", 7, issues), repository("acme/web", 8, issues)]
        ),
    )


@dataclass
class Harness:
    """A served sandbox, a connector's settings, the cursors and a store of records."""

    scenario: Scenario
    clock: SandboxClock
    service: GitHubService
    running: RunningService
    settings: GitHubSettings
    cursors: dict[str, Any] = field(default_factory=dict)
    store: dict[tuple[str, str], Record] = field(default_factory=dict)
    waits: list[float] = field(default_factory=list)

    def context(self) -> ConnectorContext:
        return ConnectorContext("github", now=self.clock.now, sleep=self.waits.append)

    def pull(
        self, stream: str, *, full: bool = False, context: ConnectorContext | None = None
    ) -> list[Page]:
        """Pull one stream like the engine: store records, deletions and cursors."""
        connector = GitHubConnector(self.settings, context or self.context())
        try:
            pages = list(connector.pull(stream, self.cursors.get(stream), full=full))
        finally:
            connector.close()
        for page in pages:
            for record in page.records:
                self.store[(record.kind, record.external_id)] = record
            if page.cursor is not None:
                self.cursors[stream] = page.cursor
            for kind, ids in (page.complete_ids or {}).items():
                for key in [k for k in self.store if k[0] == kind]:
                    container = getattr(self.store[key], "container", None) or getattr(
                        self.store[key], "repository", None
                    )
                    if container == page.scope and key[1] not in ids:
                        del self.store[key]
        return pages

    def sync(self, *, full: bool = False) -> ConnectorContext:
        """Pull every stream with one context and return it (its stats)."""
        context = self.context()
        for stream in STREAMS:
            self.pull(stream, full=full, context=context)
        return context

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.service.on_advance(self.clock.now())

    def of(self, kind: str) -> dict[str, Record]:
        return {k[1]: r for k, r in self.store.items() if k[0] == kind}


def start(
    world: Scenario,
    faults: FaultPlan | None = None,
    *,
    enterprise: bool = False,
    **settings: Any,
) -> Harness:
    """Serve ``world`` and return a harness whose settings point at it."""
    clock = SandboxClock(world.clock)
    service = GitHubService(world, clock, faults, enterprise=enterprise)
    running = serve(service, prefix="/api/v3" if enterprise else "")
    values: dict[str, Any] = {
        "base_url": running.url,
        "token": "${PMSYNC_TEST_GITHUB_TOKEN}",
        "repositories": [r.full_name for r in world.github.repositories],
        **settings,
    }
    return Harness(world, clock, service, running, GitHubSettings.model_validate(values))


def records_by_id(pages: Iterator[Page] | list[Page]) -> dict[str, Record]:
    return {r.external_id: r for page in pages for r in page.records}


def token_env(monkeypatch: Any, value: str = SANDBOX_TOKEN) -> None:
    monkeypatch.setenv("PMSYNC_TEST_GITHUB_TOKEN", value)


def as_dicts(records: Mapping[str, Record]) -> dict[str, Any]:
    return {k: repr(v) for k, v in records.items()}
