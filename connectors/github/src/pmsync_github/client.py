"""One GitHub GET at a time, through PyGithub's requester, retried by pmsync.

Why not PyGithub's objects: its ``PaginatedList`` fetches pages lazily, outside
any retry wrapper, and never sends ``If-None-Match``. So the connector asks the
requester for one URL at a time (``Requester.requestJson``, which returns the
status instead of raising, so a 304 is visible as a 304), classifies the answer
with ``pmsync.retry.classify_http`` and maps the JSON itself, keeping the raw
payload. PyGithub still does what it is good at: auth (tokens, and GitHub App
installation tokens, refreshed when they expire), base URLs (Enterprise
``/api/v3``), TLS verification, and headers. Its own retries and throttling
are switched off (``retry=None``, no ``seconds_between_*``); see docs/retries.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import github
from github.GithubException import GithubException

from pmsync.connectors import ConnectorContext, parse_json
from pmsync.errors import FatalSourceError, SourceError, TransientSourceError
from pmsync.retry import classify_http, retrying
from pmsync_github.settings import GitHubSettings

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
_EMPTY_REPOSITORY = "Git Repository is empty"
"""GitHub's 409 message for the commits of a repository without any (a listing of none)."""
USER_AGENT = "pmsync-github"


def github_time(moment: datetime) -> str:
    """Format an aware datetime as GitHub's ``since`` wants it, converted to UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: GitHub's since needs an aware time")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Answer:
    """One GitHub answer: status, headers (lower-case names) and parsed JSON."""

    status: int
    headers: Mapping[str, str]
    data: Any

    @property
    def not_modified(self) -> bool:
        """Tell whether the answer is a 304 (the ETag sent still matches)."""
        return self.status == 304

    @property
    def etag(self) -> str | None:
        """Return the answer's ETag, if any."""
        return self.headers.get("etag")

    @property
    def next_url(self) -> str | None:
        """Return the ``rel="next"`` URL of the ``Link`` header, if any."""
        match = _NEXT.search(self.headers.get("link", ""))
        return match.group(1) if match else None


def classify_github(error: BaseException) -> BaseException | None:
    """Translate PyGithub's exceptions (App token fetch, URL checks) into pmsync's tree."""
    if isinstance(error, GithubException):
        body = json.dumps(error.data) if error.data is not None else ""
        found = classify_http(
            error.status,
            error.headers or {},
            body,
            now=datetime.now(UTC),
            what="GitHub App installation token",
        )
        return found or FatalSourceError(f"GitHub answered {error.status}")
    if isinstance(error, AssertionError):  # PyGithub asserts a URL stays on its host
        return FatalSourceError(f"GitHub request refused by PyGithub: {error}")
    return None


class GitHubClient:
    """Conditional, retried GETs against one GitHub (github.com or Enterprise)."""

    def __init__(self, settings: GitHubSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context
        self.github = github.Github(
            base_url=settings.base_url,
            auth=settings.auth(),
            per_page=settings.per_page,
            retry=None,
            timeout=max(1, round(context.request_timeout)),
            seconds_between_requests=None,
            seconds_between_writes=None,
            verify=str(settings.ca_bundle) if settings.ca_bundle else True,
            user_agent=USER_AGENT,
        )
        self.requester = self.github.requester
        self._prefix = urlparse(settings.base_url).path.rstrip("/")

    def close(self) -> None:
        """Close the connections."""
        self.github.close()

    def _what(self, url: str) -> str:
        path = urlparse(url).path if "://" in url else url
        if self._prefix and path.startswith(self._prefix + "/"):
            path = path[len(self._prefix) :]
        return f"GET {path}"

    def get(
        self, url: str, params: Mapping[str, Any] | None = None, etag: str | None = None
    ) -> Answer:
        """GET ``url`` (a path under base_url, or a ``next`` link), retried; 304 when unchanged."""
        what = self._what(url)
        stats = self.context.stats

        def once() -> Answer:
            headers = {"Accept": "application/vnd.github+json"}
            if etag:
                headers["If-None-Match"] = etag
            stats.requests += 1
            status, answer_headers, body = self.requester.requestJson(
                "GET", url, dict(params) if params else None, headers
            )
            lowered = {k.lower(): v for k, v in answer_headers.items()}
            if status == 409 and _EMPTY_REPOSITORY in (body or ""):
                return Answer(status, lowered, [])  # nothing pushed yet: no commits to list
            error = classify_http(status, lowered, body, now=self.context.now(), what=what)
            if error is not None:
                raise error
            if status == 304:
                return Answer(status, lowered, None)
            try:
                data = parse_json(body) if body else None
            except ValueError as err:
                # a proxy's HTML page or a cut body: worth another try
                raise TransientSourceError(
                    f"{what}: HTTP {status} with a body that is not JSON"
                ) from err
            return Answer(status, lowered, data)

        answer = retrying(once, context=self.context, what=what, classify=classify_github)
        if answer.not_modified:
            stats.not_modified += 1
        return answer

    def get_list(
        self, url: str, params: Mapping[str, Any] | None = None, etag: str | None = None
    ) -> Answer:
        """GET one page of a listing; refuse an answer that is not a JSON array."""
        answer = self.get(url, params, etag)
        if not answer.not_modified and not isinstance(answer.data, list):
            raise FatalSourceError(f"{self._what(url)}: expected a JSON array")
        return answer


def safe(error: SourceError) -> str:
    """Return the one-line text of a classified error."""
    return str(error).splitlines()[0]
