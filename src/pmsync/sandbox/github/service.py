"""The GitHub REST API v3 imitation: routes, token auth, rate limits, ETags, paging.

Built from GitHub's REST documentation, so a client that works here should
work against github.com and GitHub Enterprise Server:

* token auth (``Authorization: token|Bearer``, or Basic with the token as the
  password); no credentials is allowed at 60 requests an hour, a wrong token is
  401 "Bad credentials";
* the primary rate limit per token (or per client address) in a one-hour
  wall-clock window, with ``X-RateLimit-*`` headers on every answer; exhausted
  → 403 with ``X-RateLimit-Remaining: 0``; ``/rate_limit`` does not count;
* a weak ``ETag`` on every 200 and ``If-None-Match`` → 304 without a body,
  which does not spend the limit when the request was authenticated;
* ``Link`` paging (``per_page`` ≤ 100, default 30) with prev/next/last/first;
* the injected secondary limit (fault ``429``) → 403 with ``Retry-After`` in
  seconds, and (fault ``429-date``) → 429 with an HTTP-date ``Retry-After``.

With ``enterprise=True`` every route lives under ``/api/v3`` (serve it with
``prefix="/api/v3"``), as on GitHub Enterprise Server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pmsync.sandbox.github.items import ValidationFailed
from pmsync.sandbox.github.payloads import DOCS, People, Urls, stable_id
from pmsync.sandbox.github.world import RepoIndex, RepoView
from pmsync.sandbox.scenario import Scenario, paused_gc
from pmsync.sandbox.server import (
    FaultPlan,
    SandboxClock,
    Service,
    http_date,
    json_response,
    kept_json,
)

SANDBOX_TOKEN = "ghp_sandbox0000000000000000000000000000"
SCOPES = "repo, read:org, read:user"
UNAUTHENTICATED_LIMIT = 60
WINDOW_SECONDS = 3600
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"

_REPO_ROUTES = {
    "": "get_repo",
    "/issues": "list_issues",
    "/issues/<int:number>": "get_issue",
    "/pulls": "list_pulls",
    "/pulls/<int:number>": "get_pull",
    "/milestones": "list_milestones",
    "/milestones/<int:number>": "get_milestone",
    "/commits": "list_commits",
    "/commits/<path:sha>": "get_commit",
}
_PLAIN_ROUTES = {
    "/": "root",
    "/user": "get_user",
    "/user/repos": "list_user_repos",
    "/users/<login>": "get_named_user",
    "/orgs/<org>": "get_org",
    "/orgs/<org>/repos": "list_org_repos",
    "/rate_limit": "get_rate_limit",
}


@dataclass
class RateBucket:
    """One identity's primary rate limit in the current hour window."""

    limit: int
    used: int = 0
    reset: int = 0

    @property
    def remaining(self) -> int:
        """Return the requests left in this window."""
        return max(self.limit - self.used, 0)

    def as_json(self) -> dict[str, int]:
        """Return the rate object of ``/rate_limit``."""
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset": self.reset,
        }


class GitHubMachinery(Service):
    """What every GitHub route shares: auth, rate limits, views, ETags, paging."""

    name = "github"

    def __init__(
        self,
        scenario: Scenario,
        clock: SandboxClock,
        faults: FaultPlan | None = None,
        *,
        enterprise: bool = False,
        token: str = SANDBOX_TOKEN,
        rate_limit: int = 5000,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.prefix = "/api/v3" if enterprise else ""
        self.rules = self._make_rules(self.prefix)
        super().__init__(scenario, clock, faults)
        self.enterprise = enterprise
        self.token = token
        self.limit_per_hour = rate_limit
        self._wall = wall
        self.people = People(scenario.people)
        self.indexes = {r.full_name.lower(): RepoIndex(r) for r in scenario.github.repositories}
        self.by_id = {idx.repo.id: idx for idx in self.indexes.values()}
        self._views: dict[int, RepoView] = {}
        self.commit_json: dict[Any, orjson.Fragment] = {}
        """Commits as listings sent them (JSON); commits never change, so kept across time."""
        self._view_lock = threading.Lock()
        self._buckets: dict[str, RateBucket] = {}
        self._rate_lock = threading.Lock()
        logins = [p.github_login for p in scenario.people if p.github_login]
        self.login = logins[0] if logins else "sandbox-bot"

    @staticmethod
    def _make_rules(prefix: str) -> tuple[Rule, ...]:
        rules = [
            Rule(prefix + path, endpoint=ep, methods=["GET"]) for path, ep in _PLAIN_ROUTES.items()
        ]
        for suffix, endpoint in _REPO_ROUTES.items():
            rules.append(
                Rule(f"{prefix}/repos/<owner>/<repo>{suffix}", endpoint=endpoint, methods=["GET"])
            )
            rules.append(
                Rule(
                    f"{prefix}/repositories/<int:repo_id>{suffix}",
                    endpoint=endpoint,
                    methods=["GET"],
                )
            )
        if prefix:
            for name in ("clock", "advance", "stats"):
                method = "POST" if name == "advance" else "GET"
                rules.append(
                    Rule(f"{prefix}/_sandbox/{name}", endpoint=f"sandbox_{name}", methods=[method])
                )
        return tuple(rules)

    def credentials(self) -> dict[str, str]:
        """Return the token clients should send."""
        return {"token": self.token}

    # --- errors ----------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        """Return GitHub's error shape."""
        return json_response(
            {"message": message, "documentation_url": DOCS, "status": str(status)}, status
        )

    def not_found(self, request: Request) -> Response:
        """Return GitHub's 404."""
        return self.error_response(404, "Not Found")

    def rate_limited(self, request: Request, retry_after: float, http_date_form: bool) -> Response:
        """Return the secondary rate limit answer (403 seconds form, 429 date form)."""
        seconds = max(int(retry_after), 1)
        response = self.error_response(
            429 if http_date_form else 403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again. If you reach out to GitHub Support for help, please include the "
            "request ID 0000:0000:SANDBOX.",
        )
        response.headers["Retry-After"] = (
            http_date(datetime.now(UTC) + timedelta(seconds=seconds))
            if http_date_form
            else str(seconds)
        )
        return response

    def invalid(self, err: ValidationFailed) -> Response:
        return json_response(
            {
                "message": "Validation Failed",
                "errors": [err.error],
                "documentation_url": DOCS,
                "status": "422",
            },
            422,
        )

    # --- auth and the primary rate limit ---------------------------------------------

    def _credential(self, request: Request) -> str | None:
        """Return the presented token ('' for none) or None when the header is malformed."""
        header = request.headers.get("Authorization", "")
        if not header:
            return ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer"):
            return value.strip()
        if scheme.lower() == "basic" and request.authorization is not None:
            return request.authorization.password or ""
        return None

    def _bucket(self, key: str, limit: int) -> RateBucket:
        now = int(self._wall())
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.reset:
            bucket = RateBucket(limit=limit, reset=now + WINDOW_SECONDS)
            self._buckets[key] = bucket
        return bucket

    def _dispatch(self, request: Request) -> Response:
        path = request.path[len(self.prefix) :] if request.path.startswith(self.prefix) else ""
        if path.startswith("/_sandbox") or request.path.startswith("/_sandbox"):
            return super()._dispatch(request)
        token = self._credential(request)
        authenticated = bool(token) and token == self.token
        key = f"token:{token}" if authenticated else f"ip:{request.remote_addr}"
        limit = self.limit_per_hour if authenticated else UNAUTHENTICATED_LIMIT
        with self._rate_lock:
            bucket = self._bucket(key, limit)
            exhausted = bucket.remaining <= 0
        if token is None or (token and not authenticated):
            response = self.error_response(401, "Bad credentials")
        elif path.rstrip("/") == "/rate_limit":
            response = super()._dispatch(request)
        elif exhausted:
            who = (
                f"user ID {stable_id('user:' + self.login.lower())}."
                if authenticated
                else f"{request.remote_addr}. (But here's the good news: Authenticated requests "
                "get a higher rate limit. Check out the documentation for more details.)"
            )
            response = json_response(
                {"message": f"API rate limit exceeded for {who}", "documentation_url": RATE_DOCS},
                403,
            )
        else:
            response = super()._dispatch(request)
        if self.limit_per_hour <= 0:
            return response  # rate limiting disabled, as GHES ships by default
        counts = path.rstrip("/") != "/rate_limit" and not exhausted
        if response.status_code == 304 and authenticated:
            counts = False
        with self._rate_lock:
            if counts:
                bucket.used += 1
            response.headers.update(
                {
                    "X-RateLimit-Limit": str(bucket.limit),
                    "X-RateLimit-Remaining": str(bucket.remaining),
                    "X-RateLimit-Reset": str(bucket.reset),
                    "X-RateLimit-Used": str(bucket.used),
                    "X-RateLimit-Resource": "core",
                }
            )
        response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        response.headers["X-GitHub-Api-Version-Selected"] = "2022-11-28"
        if authenticated:
            response.headers["X-OAuth-Scopes"] = SCOPES
            response.headers["X-Accepted-OAuth-Scopes"] = "repo"
        return response

    # --- views, urls, answers ----------------------------------------------------------

    def on_advance(self, now: datetime) -> None:
        """Drop the views: the world moved."""
        with self._view_lock:
            self._views.clear()

    def view(self, index: RepoIndex) -> RepoView:
        """Return the repository's visible state at the clock (cached until it changes)."""
        now = self.clock.now()
        with self._view_lock:
            cached = self._views.get(index.repo.id)
            if cached is not None and cached.valid_at(now):
                return cached
            with paused_gc():
                view = RepoView.build(index, now)
            self._views[index.repo.id] = view
            return view

    def urls(self, request: Request) -> Urls:
        web = request.host_url.rstrip("/")
        return Urls(api=web + self.prefix, web=web)

    def repo_index(
        self, owner: str | None, repo: str | None, repo_id: int | None
    ) -> RepoIndex | None:
        if repo_id is not None:
            return self.by_id.get(repo_id)
        return self.indexes.get(f"{owner}/{repo}".lower())

    def answer(
        self,
        request: Request,
        payload: Any,
        last_modified: datetime | None = None,
        links: str | None = None,
    ) -> Response:
        """Return a 200 with a weak ETag, or a bodiless 304 when the client's tag matches."""
        response = json_response(payload)
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        etag = 'W/"' + hashlib.sha256(response.get_data()).hexdigest() + '"'
        headers = {
            "ETag": etag,
            "Cache-Control": "private, max-age=60, s-maxage=60",
            "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
        }
        if last_modified is not None:
            headers["Last-Modified"] = http_date(last_modified)
        if links:
            headers["Link"] = links
        sent = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
        unchanged = etag in sent or etag[2:] in sent or "*" in sent
        since = request.if_modified_since
        if not unchanged and last_modified is not None and since is not None and not sent[0]:
            unchanged = last_modified.replace(microsecond=0) <= since
        if unchanged:
            response = Response(status=304)
        response.headers.update(headers)
        return response

    def page(
        self,
        request: Request,
        rows: Sequence[Any],
        render: Callable[[Any], Any],
        kept: tuple[dict[Any, orjson.Fragment], Callable[[Any], Any]] | None = None,
        cursor: Callable[[Any], int] | None = None,
    ) -> Response:
        """Answer one page of ``rows`` with GitHub's ``Link`` header.

        With ``kept`` (a cache and a row's key in it) each row is encoded once
        and joined as kept JSON after that (``kept_json``). With ``cursor`` (a
        row's stable number) the listing pages as GitHub's issue lists do: the
        ``Link`` header's next and prev URLs carry ``after`` / ``before``
        cursors instead of page numbers, and a deep ``page=`` is refused
        (``DEEP_PAGE_OFFSET``).
        """
        per_page = int_arg(request.args, "per_page", 30)
        per_page = 30 if per_page < 1 else min(per_page, 100)
        page = max(int_arg(request.args, "page", 1), 1)
        total = len(rows)
        listing = tuple(
            sorted(
                (k, v)
                for k, v in request.args.items(multi=True)
                if k not in ("page", "after", "before")
            )
        )
        if cursor is not None:
            try:
                offset = self._cursor_offset(request, rows, cursor, page, per_page)
            except _DeepPage:
                return self.error_response(422, DEEP_PAGE_MESSAGE)
            except ValueError:
                return self.error_response(422, "Invalid cursor.")
            start = self.shifted(request, listing, offset)
            chunk = rows[start : start + per_page]
            links = self._cursor_links(request, rows, cursor, start, len(chunk))
        else:
            start = self.shifted(request, listing, (page - 1) * per_page)
            chunk = rows[start : start + per_page] if page <= total else []
            links = self._page_links(request, page, max((total + per_page - 1) // per_page, 1))
        if kept is None:
            payload = [render(row) for row in chunk]
        else:
            cache, key = kept
            payload = [kept_json(cache, key(row), partial(render, row)) for row in chunk]
        return self.answer(request, payload, links=", ".join(links) or None)

    @staticmethod
    def _link(request: Request, rel: str, **changes: str) -> str:
        query = MultiDict(request.args)
        for name in ("page", "after", "before"):
            query.pop(name, None)
        for name, value in changes.items():
            query[name] = value
        target = urlencode(list(query.items(multi=True)), quote_via=quote)
        return f'<{request.base_url}?{target}>; rel="{rel}"'

    def _page_links(self, request: Request, page: int, last: int) -> list[str]:
        links = []
        if page > 1:
            links.append(self._link(request, "prev", page=str(min(page - 1, last))))
        if page < last:
            links.append(self._link(request, "next", page=str(page + 1)))
            links.append(self._link(request, "last", page=str(last)))
        if page > 1:
            links.append(self._link(request, "first", page="1"))
        return links

    @staticmethod
    def _cursor_offset(
        request: Request, rows: Sequence[Any], cursor: Callable[[Any], int], page: int, per: int
    ) -> int:
        """Return where the page starts: after or before a cursor's row, or at ``page``."""
        after, before = request.args.get("after"), request.args.get("before")
        if after or before:
            number, offset = _decode_cursor(after or before or "")
            # the row the cursor names, where it is now (rows may have moved); else its offset
            if offset < len(rows) and cursor(rows[offset]) == number:
                at = offset  # nothing moved: no search
            else:
                found = next((i for i, row in enumerate(rows) if cursor(row) == number), None)
                at = offset if found is None else found
            return at + 1 if after else max(at - per, 0)
        if (page - 1) * per >= DEEP_PAGE_OFFSET:
            raise _DeepPage
        return (page - 1) * per

    def _cursor_links(
        self,
        request: Request,
        rows: Sequence[Any],
        cursor: Callable[[Any], int],
        start: int,
        n: int,
    ) -> list[str]:
        links = []
        if start > 0 and n:
            links.append(
                self._link(request, "prev", before=_encode_cursor(cursor(rows[start]), start))
            )
        if start + n < len(rows) and n:
            end = start + n - 1
            links.append(self._link(request, "next", after=_encode_cursor(cursor(rows[end]), end)))
        return links


DEEP_PAGE_OFFSET = 9_900
"""Issue lists refuse ``page`` from this offset on: ``page=100&per_page=100`` is
reported answered with 422 (github.com/google/go-github issue 3565, 2025), while
the ``Link`` header's cursors page on. GitHub documents no exact threshold."""
DEEP_PAGE_MESSAGE = (
    "Pagination with the page parameter is not supported for large datasets, "
    "please use cursor based pagination (after/before)"
)


class _DeepPage(Exception):
    """A ``page=`` beyond what an issue list pages by number."""


def _encode_cursor(number: int, offset: int) -> str:
    """Return an opaque cursor naming a row (its number) and where it was (its offset)."""
    return base64.urlsafe_b64encode(f"cursor:v2:{number}:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[int, int]:
    """Return the row number and offset a cursor names (ValueError when it is not one)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise ValueError(text) from err
    kind, version, number, offset = [*raw.split(":"), "", "", "", ""][:4]
    if (kind, version) != ("cursor", "v2") or not number.isdigit() or not offset.isdigit():
        raise ValueError(text)
    return int(number), int(offset)


def int_arg(args: Any, name: str, default: int) -> int:
    try:
        return int(args.get(name, default))
    except (TypeError, ValueError):
        return default
