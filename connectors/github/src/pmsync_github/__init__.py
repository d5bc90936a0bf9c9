"""pmsync connector for GitHub and GitHub Enterprise Server.

Pulls issues (and pull requests as work items), pull requests with their merge
state, milestones and commits of tracked branches, with PyGithub pointed at a
configurable base URL. Why it is built the way it is:

* every request goes through ``pmsync.retry.retrying`` (PyGithub's own retry and
  throttling are off, its lazy lists are not used), so waits honour
  ``Retry-After`` and rate-limit resets and are bounded and counted;
* listings are incremental (``since``, or newest-first with a stop) and
  conditional (``If-None-Match``): an unchanged repository costs one 304 per
  stream, which GitHub does not count against the rate limit;
* a ``full`` pull reads everything and reports the complete ids per repository,
  so issues deleted or transferred away disappear from pmsync too;
* a repository or a configured branch GitHub refuses (deleted, renamed without a
  redirect, no longer visible to the credentials) is skipped with its reason and
  the other repositories go on (``pmsync.connectors.skip_refused``).

See ``streams`` for the walk of each listing and docs/connectors/github.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pmsync.connectors import (
    Connector,
    ConnectorContext,
    ConnectorSettings,
    StreamSpec,
    skip_refused,
)
from pmsync.errors import SourceError
from pmsync.records import Page
from pmsync_github.links import ReferenceFinder, References
from pmsync_github.settings import GitHubSettings

if TYPE_CHECKING:  # PyGithub loads when a connector is created, not on import
    from pmsync_github.client import GitHubClient

__all__ = ["GitHubConnector", "GitHubSettings", "ReferenceFinder", "References"]

_READ_SCOPES = {"repo", "public_repo"}


class GitHubConnector(Connector):
    """Issues, pull requests, milestones and commits from GitHub repositories."""

    title = "GitHub"
    worker_modules = ("pmsync_github.client", "pmsync_github.streams")
    settings_model = GitHubSettings
    streams = (
        StreamSpec(
            "issues",
            ("work_item", "quarantined"),
            "Issues and pull requests as work items (key owner/repo#n).",
        ),
        StreamSpec(
            "pull_requests",
            ("pull_request", "quarantined"),
            "Pull requests with merge state, refs and milestone.",
        ),
        StreamSpec(
            "milestones",
            ("source_milestone", "quarantined"),
            "Every milestone, open and closed, on every pass; due_on is the planned date.",
        ),
        StreamSpec(
            "commits",
            ("commit", "quarantined"),
            "Commits of the tracked branches (the default branch unless configured).",
        ),
    )
    settings: GitHubSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        import pmsync_github.streams  # noqa: F401  PyGithub with it: loaded now, one at a time

        super().__init__(settings, context)
        self._client: GitHubClient | None = None

    @property
    def client(self) -> GitHubClient:
        """Return the client, created (and the secret read) at first use."""
        if self._client is None:
            from pmsync_github.client import GitHubClient

            self._client = GitHubClient(self.settings, self.context)
        return self._client

    @classmethod
    def sandbox_settings(cls, endpoints: Mapping[str, Any]) -> dict[str, Any] | None:
        """Point at the sandbox's GitHub imitation and its repositories."""
        service = endpoints.get("github")
        if not service or not service.get("repositories"):
            return None
        settings: dict[str, Any] = {
            "base_url": service["url"],
            "token": "file:secrets/github-token",
            "repositories": list(service["repositories"]),
        }
        if "ca_bundle" in endpoints:
            settings["ca_bundle"] = endpoints["ca_bundle"]
        return settings

    @classmethod
    def sandbox_secrets(cls, endpoints: Mapping[str, Any]) -> dict[str, str]:
        """Return the sandbox token for ``secrets/github-token``."""
        service = endpoints.get("github") or {}
        return {"github-token": service["token"]} if "token" in service else {}

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()

    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        """Yield pages of ``stream`` for each repository; complete ids per repository when full."""
        from pmsync_github.streams import CursorBook, StreamWalker

        self.stream(stream)
        walker = StreamWalker(self.client, self.settings)
        walk: Callable[[str, CursorBook, bool], Iterator[Page]] = getattr(walker, stream)
        book = CursorBook(cursor)
        for repo in self.settings.repositories:  # one repository refused: skip it, go on
            yield from skip_refused(repo, walk(repo, book, full))

    def check(self) -> list[str]:
        """Probe the token (``/user`` and its scopes) and each repository; one line per problem."""
        from pmsync_github.client import safe

        problems: list[str] = []
        try:
            client = self.client
        except (ValueError, OSError) as err:  # an unreadable secret or a bad PEM key
            return [f"credentials cannot be used: {err}"]
        if self.settings.token is not None:
            try:
                answer = client.get("/user")
            except SourceError as err:
                return [f"token: {safe(err)}"]
            scopes = answer.headers.get("x-oauth-scopes")
            if scopes is not None:  # fine-grained tokens send no scopes header
                granted = {s.strip() for s in scopes.split(",") if s.strip()}
                if not granted & _READ_SCOPES:
                    problems.append(
                        "token: classic token without the 'repo' or 'public_repo' scope "
                        f"(it has: {', '.join(sorted(granted)) or 'none'})"
                    )
        for repo in self.settings.repositories:
            try:
                answer = client.get(f"/repos/{repo}")
            except SourceError as err:
                if "HTTP 404" in str(err):
                    problems.append(
                        f"repository {repo}: not found, or the credentials cannot read it"
                    )
                else:
                    problems.append(f"repository {repo}: {safe(err)}")
                continue
            permissions = (answer.data or {}).get("permissions") or {}
            if permissions and not permissions.get("pull", True):
                problems.append(f"repository {repo}: no read (pull) permission")
        return problems
