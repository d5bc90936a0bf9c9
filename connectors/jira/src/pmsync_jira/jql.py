"""JQL for incremental pulls, and paging through a search on either flavour.

Why epoch milliseconds: Jira reads a JQL date such as ``"2026/01/05 10:00"`` in
the *searching user's* time zone (``/myself`` ``timeZone``) and only to the
minute, so a cursor written as a wall-clock string shifts by hours for a bot
account set to Los Angeles or Kolkata. A number in JQL date clauses is epoch
milliseconds, an absolute instant that no profile setting moves. The overlap
window still covers index lag and second-level truncation; idempotent upserts
make re-reading harmless.

Why two pagers: Jira Cloud removed ``/search`` (410 Gone) in favour of
``/search/jql`` with an opaque ``nextPageToken`` and no total; Data Center has
only ``/search`` with ``startAt``/``total``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pmsync.errors import FatalSourceError
from pmsync_jira.client import Flavour, JiraClient
from pmsync_jira.settings import JiraSettings

ORDER = "ORDER BY updated ASC, id ASC"
"""Oldest change first, so a page's cursor never passes an issue not yet delivered."""

ID_PAGE = {"cloud": 5000, "datacenter": 1000}
"""The most ids one search page returns when only ids are asked for."""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scope(settings: JiraSettings) -> str:
    """Return the JQL condition for the configured projects and filter."""
    parts = []
    if settings.projects:
        parts.append(f"project in ({', '.join(_quote(k) for k in settings.projects)})")
    if settings.jql:
        parts.append(f"({settings.jql})")
    return " AND ".join(parts)


def updated_since(settings: JiraSettings, since_ms: int) -> str:
    """Return the JQL of issues updated at or after ``since_ms``, oldest first."""
    return f"{scope(settings)} AND updated >= {int(since_ms)} {ORDER}"


def everything(settings: JiraSettings) -> str:
    """Return the JQL of every issue in scope, oldest change first."""
    return f"{scope(settings)} {ORDER}"


def among(settings: JiraSettings, ids: Sequence[str]) -> str:
    """Return the JQL of the issues among ``ids`` that are in scope."""
    return f"{scope(settings)} AND id in ({', '.join(str(int(i)) for i in ids)})"


def search(
    client: JiraClient,
    flavour: Flavour,
    jql: str,
    *,
    fields: Sequence[str],
    expand: Sequence[str] = (),
    page_size: int,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the pages of issues (raw JSON) a search returns, in the search's order."""
    if flavour == "cloud":
        yield from _search_cloud(client, jql, fields, expand, page_size)
    else:
        yield from _search_dc(client, jql, fields, expand, page_size)


def _issues(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("issues"), list):
        raise FatalSourceError(f"{what}: the answer has no issues list")
    return [i for i in body["issues"] if isinstance(i, dict)]


def _search_cloud(
    client: JiraClient, jql: str, fields: Sequence[str], expand: Sequence[str], size: int
) -> Iterator[list[dict[str, Any]]]:
    token: str | None = None
    seen_tokens: set[str] = set()
    while True:
        body: dict[str, Any] = {"jql": jql, "maxResults": size, "fields": list(fields)}
        if expand:
            body["expand"] = ",".join(expand)
        if token:
            body["nextPageToken"] = token
        answer = client.post("search/jql", body)
        yield _issues(answer, "POST /search/jql")
        token = answer.get("nextPageToken")
        # isLast is authoritative when present; some answers omit it (JRACLOUD-92184).
        if answer.get("isLast") is True or not token:
            return
        if token in seen_tokens:
            raise FatalSourceError("POST /search/jql: the same nextPageToken came back twice")
        seen_tokens.add(token)


def _search_dc(
    client: JiraClient, jql: str, fields: Sequence[str], expand: Sequence[str], size: int
) -> Iterator[list[dict[str, Any]]]:
    start = 0
    while True:
        body: dict[str, Any] = {
            "jql": jql,
            "startAt": start,
            "maxResults": size,
            "fields": list(fields),
        }
        if expand:
            body["expand"] = list(expand)
        answer = client.post("search", body)
        issues = _issues(answer, "POST /search")
        yield issues
        start += len(issues)
        total = answer.get("total")
        if not issues or (isinstance(total, int) and start >= total):
            return
