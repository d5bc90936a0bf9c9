"""The HTTP boundary: the ``jira`` library's session, made fit for a daemon.

Why not the library's own methods for everything: ``jira`` retries on its own
(shortening ``Retry-After``, crashing on an HTTP-date, skipping 500/502/504),
sets no timeout, pages Cloud's enhanced search into ``Issue`` objects that lose
nothing but also tell nothing about the cursor, and puts request headers (the
``Authorization`` header included) into ``str(JIRAError)``. So the client is
built by the library (auth, base URL, TLS) with its retries off, every request
goes through ``pmsync.retry.retrying`` one at a time, a ``JIRAError`` is
translated here from its status, headers and body only (and dropped, never
chained), and the JSON stays the source of truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import requests
from jira import JIRA, JIRAError

from pmsync.connectors import ConnectorContext, parse_json
from pmsync.errors import FatalSourceError, SourceError, TransientSourceError
from pmsync.retry import classify_http, configure_requests_session, retrying
from pmsync_jira.settings import JiraSettings

Flavour = Literal["cloud", "datacenter"]


def flavour_of(server_info: Mapping[str, Any]) -> Flavour:
    """Return the flavour ``/serverInfo`` describes (``deploymentType`` Cloud or Server)."""
    return (
        "cloud" if str(server_info.get("deploymentType", "")).lower() == "cloud" else "datacenter"
    )


class JiraClient:
    """One Jira site: GET/POST JSON through the ``jira`` library's session, with retries."""

    def __init__(self, settings: JiraSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context
        self._jira: JIRA | None = None
        self._flavour: Flavour | None = None if settings.flavour == "auto" else settings.flavour

    # --- the library -----------------------------------------------------------------

    @property
    def jira(self) -> JIRA:
        """Return the ``jira`` client (built on first use, the secret read only then)."""
        if self._jira is None:
            self._jira = self._build()
        return self._jira

    def _build(self) -> JIRA:
        s = self.settings
        verify: str | bool = str(s.ca_bundle) if s.ca_bundle else True
        common: dict[str, Any] = {
            "server": s.url,
            "max_retries": 0,
            "timeout": self.context.request_timeout,
            "get_server_info": False,
            "options": {"verify": verify},
        }
        if s.email is None:
            client = JIRA(token_auth=s.token.reveal(), **common)
        else:
            client = JIRA(basic_auth=(s.email, s.token.reveal()), **common)
        session = client._session
        configure_requests_session(session, timeout=self.context.request_timeout)
        # Count into whatever stats object the engine gives the current stream:
        # it replaces context.stats per stream, so the hook must look it up per call.
        session.hooks.setdefault("response", []).append(self._count)
        return client

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        stats = self.context.stats
        stats.requests += 1
        if response.status_code == 304:
            stats.not_modified += 1

    def close(self) -> None:
        """Close the HTTP session."""
        if self._jira is not None:
            self._jira.close()
            self._jira = None

    # --- requests --------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``/rest/api/2/{path}`` and return its JSON, retrying transient failures."""
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST JSON to ``/rest/api/2/{path}`` and return its JSON, with retries."""
        return self._call("POST", path, body=body)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        what = f"{method} /rest/api/2/{path}"

        def attempt() -> Any:
            client = self.jira
            url = client._get_url(path)
            try:
                if method == "GET":
                    response = client._session.get(url, params=dict(params or {}))
                else:
                    response = client._session.post(url, data=json.dumps(body))
            except JIRAError as err:
                # Translated from status, headers and body only, and not chained:
                # str(JIRAError) carries the request's Authorization header.
                raise self._translate(err, what) from None
            try:
                return parse_json(response.content)
            except ValueError:
                raise TransientSourceError(
                    f"{what}: HTTP {response.status_code} with a body that is not JSON"
                ) from None

        return retrying(attempt, context=self.context, what=what)

    def _translate(self, err: JIRAError, what: str) -> SourceError:
        response = err.response
        status = err.status_code
        if response is None or status is None:
            return TransientSourceError(f"{what}: no response")
        found = classify_http(
            status, response.headers, response.content, now=self._server_now(response), what=what
        )
        return found or FatalSourceError(f"{what}: HTTP {status}")

    def _server_now(self, response: requests.Response) -> datetime:
        """Return the answer's ``Date``: an HTTP-date ``Retry-After`` is relative to it.

        Measuring against the server's own clock keeps a skewed local clock (or an
        injected test clock) from shortening or stretching the wait.
        """
        try:
            stamp = parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError, IndexError):
            return self.context.now()
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    # --- what every stream needs -------------------------------------------------------

    def server_time(self) -> datetime:
        """Return Jira's own clock (``/serverInfo`` ``serverTime``), else the local one.

        Change-feed cursors (``/worklog/updated?since=``) are compared with the
        server's clock, so they start from it: a skewed local clock would skip
        or repeat a stretch of changes.
        """
        stamp = self.get("serverInfo").get("serverTime")
        try:
            return datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
        except ValueError:
            return self.context.now()

    def flavour(self) -> Flavour:
        """Return the flavour, asking ``/serverInfo`` once when the settings say ``auto``."""
        if self._flavour is None:
            self._flavour = flavour_of(self.get("serverInfo"))
        return self._flavour

    def remember_flavour(self, flavour: str | None) -> None:
        """Reuse a flavour found by an earlier sync (kept in the cursor) instead of asking."""
        if self._flavour is None and flavour in ("cloud", "datacenter"):
            self._flavour = flavour  # type: ignore[assignment]

    def field_ids(self, names: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
        """Resolve logical → field name to logical → field id via ``/field``; list unknowns."""
        catalogue = self.get("field")
        by_name: dict[str, str] = {}
        for entry in catalogue if isinstance(catalogue, list) else []:
            if isinstance(entry, dict) and entry.get("id") and entry.get("name"):
                by_name.setdefault(str(entry["name"]).casefold(), str(entry["id"]))
                by_name.setdefault(str(entry["id"]).casefold(), str(entry["id"]))
        found: dict[str, str] = {}
        missing: list[str] = []
        for logical, name in names.items():
            field_id = by_name.get(name.casefold())
            if field_id is None:
                missing.append(f"{logical} ({name!r})")
            else:
                found[logical] = field_id
        return found, missing
