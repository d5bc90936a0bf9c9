"""``JiraService``: Jira Cloud (REST v2/v3) or Data Center over HTTP, from a scenario.

Cloud answers ``/search/jql`` with ``nextPageToken``/``isLast`` and no total and
answers the removed ``/search`` with 410 Gone; Data Center answers ``/search``
with ``startAt``/``total`` and has no ``/search/jql``. Cloud takes basic auth
(e-mail + API token), Data Center a bearer personal access token. Errors use
Jira's ``{"errorMessages": [...], "errors": {}}`` shape.
"""

from __future__ import annotations

import base64
import binascii
import threading
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pmsync.sandbox.jira import changelog, fields, jql, payloads, search
from pmsync.sandbox.jira.common import BadRequest, NotFound, int_param, jira_error
from pmsync.sandbox.jira.handlers import JiraMetadataHandlers
from pmsync.sandbox.jira.worklogs import WorklogFeeds
from pmsync.sandbox.jira.world import JiraData, Snapshot, numeric_id
from pmsync.sandbox.scenario import Person, Scenario, paused_gc
from pmsync.sandbox.server import (
    FaultPlan,
    SandboxClock,
    Service,
    encode_json,
    http_date,
    json_response,
)

SANDBOX_TOKEN = "ATATT-sandbox-pmsync-0123456789abcdef"
"""The API token (Cloud) or personal access token (Data Center) the sandbox accepts."""

SEARCH_CAP = 100
"""Cloud caps a search page at 100 issues when fields are requested..."""
SEARCH_CAP_IDS = 5000
"""...and at 5000 when only ids or keys are."""
DC_SEARCH_CAP = 1000
CLOUD_EMBEDDED_HISTORIES = 40
"""Cloud search embeds only the 40 most recent histories of each issue."""
CHANGELOG_PAGE = 100

_API = "<any('2','3','latest'):api>"


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(f"/rest/api/{_API}{path}", endpoint=endpoint, methods=list(methods))


class JiraService(JiraMetadataHandlers, Service):
    """Jira Cloud or Data Center, as the ``jira`` library and plain HTTP clients see it."""

    name = "jira"
    rules = (
        _rule("/search/jql", "search_jql", ("GET", "POST")),
        _rule("/search", "search", ("GET", "POST")),
        _rule("/issue/<id_or_key>", "issue"),
        _rule("/issue/<id_or_key>/changelog", "issue_changelog"),
        _rule("/issue/<id_or_key>/worklog", "issue_worklogs"),
        _rule("/worklog/updated", "worklogs_updated"),
        _rule("/worklog/deleted", "worklogs_deleted"),
        _rule("/worklog/list", "worklog_list", ("POST",)),
        _rule("/project", "projects"),
        _rule("/project/search", "project_search"),
        _rule("/project/<key>", "project"),
        _rule("/project/<key>/versions", "project_versions"),
        _rule("/project/<key>/version", "project_version_page"),
        _rule("/field", "field"),
        _rule("/myself", "myself"),
        _rule("/serverInfo", "server_info"),
    )

    def __init__(
        self,
        scenario: Scenario,
        clock: SandboxClock,
        faults: FaultPlan | None = None,
        *,
        flavour: Literal["cloud", "datacenter"] = "cloud",
        email: str = "pmsync-bot@example.com",
        token: str = SANDBOX_TOKEN,
        user_time_zone: str = "UTC",
    ) -> None:
        super().__init__(scenario, clock, faults)
        if flavour not in ("cloud", "datacenter"):
            raise ValueError(f"unknown Jira flavour {flavour!r}: cloud or datacenter")
        self.flavour = flavour
        self.email = email
        self.token = token
        self.zone = ZoneInfo(user_time_zone)
        self.data = JiraData(scenario)
        self.bot = Person(id="pmsync-bot", name="pmsync bot", email=email, time_zone=user_time_zone)
        self._world_lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._feeds: WorklogFeeds | None = None
        self._worklog_ids = {str(numeric_id(w)): w for w in self.data.worklog_owner}

    @property
    def cloud(self) -> bool:
        """Tell whether this is the Cloud flavour."""
        return self.flavour == "cloud"

    def credentials(self) -> dict[str, str]:
        """Return ``{"email", "token"}`` (Cloud) or ``{"token"}`` (Data Center PAT)."""
        return {"email": self.email, "token": self.token} if self.cloud else {"token": self.token}

    # --- the hooks of Service --------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        """Refuse requests without this flavour's credentials, as Jira does."""
        header = request.headers.get("Authorization", "")
        if self.cloud:
            scheme, _, value = header.partition(" ")
            try:
                decoded = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if scheme.lower() == "basic" and decoded == f"{self.email}:{self.token}":
                return None
            challenge = 'Basic realm="protected-area"'
        else:
            if header == f"Bearer {self.token}":
                return None
            challenge = f'OAuth realm="{request.host_url.rstrip("/")}"'
        return jira_error(
            401,
            "You are not authenticated. Authentication required to perform this operation.",
            headers={"WWW-Authenticate": challenge},
        )

    def not_found(self, request: Request) -> Response:
        """Answer an unknown resource as Jira's REST layer does."""
        return json_response({"message": f"null for uri: {request.url}", "status-code": 404}, 404)

    def error_response(self, status: int, message: str) -> Response:
        """Return Jira's error shape."""
        return jira_error(status, message)

    def rate_limited(self, request: Request, retry_after: float, http_date_form: bool) -> Response:
        """Answer 429 as Jira Cloud does: Retry-After plus the X-RateLimit headers."""
        seconds = max(int(retry_after), 1)
        reset = datetime.now(UTC) + timedelta(seconds=seconds)
        headers = {
            "Retry-After": http_date(reset) if http_date_form else str(seconds),
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"),
            "X-RateLimit-NearLimit": "true",
            "RateLimit-Reason": "jira-burst-based",
        }
        return jira_error(429, "Rate limit exceeded.", headers=headers)

    def on_advance(self, now: datetime) -> None:
        """Bring the snapshot forward at once, so the next request does not pay for it."""
        with self._world_lock:
            self.snapshot()

    # --- shared helpers --------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Return the world as of the clock (built once, then moved forward incrementally)."""
        with self._world_lock:
            now = self.clock.now()
            snap = self._snapshot
            if snap is None or now < snap.now:
                with paused_gc():  # 100,000 issue views: nothing for the collector to find
                    snap = self._snapshot = Snapshot(self.data, now)
            elif now > snap.now:
                snap.advance(now)
            return snap

    def feeds(self) -> WorklogFeeds:
        """Return the worklog feeds (built on first use)."""
        with self._world_lock:
            if self._feeds is None:
                self._feeds = WorklogFeeds(self.data)
            return self._feeds

    def context(self, request: Request, api: str) -> payloads.Context:
        """Return the payload context for this request."""
        version = "2" if api == "latest" else api
        return payloads.Context(
            base=request.host_url.rstrip("/"),
            api=version,
            zone=self.zone,
            cloud=self.cloud,
            data=self.data,
        )

    def _guarded(self, work: Callable[[], Response]) -> Response:
        try:
            with self._world_lock:
                return work()
        except BadRequest as err:
            return jira_error(400, err.message)
        except jql.JqlError as err:
            return jira_error(400, str(err))

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise BadRequest(
                    "Invalid request payload. Refer to the REST API documentation and try again."
                )
            return body
        params: dict[str, Any] = {k: request.args.get(k) for k in request.args}
        params["fields"] = request.args.getlist("fields")
        return params

    @staticmethod
    def _list(value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value]

    def _expand(self, params: dict[str, Any]) -> set[str]:
        return {e.strip() for item in self._list(params.get("expand")) for e in item.split(",")}

    # --- search ----------------------------------------------------------------------

    def search_jql(self, request: Request, api: str) -> Response:
        """Answer the enhanced search (Cloud): nextPageToken and isLast, no total."""
        if not self.cloud:
            return self.not_found(request)

        def work() -> Response:
            params = self._params(request)
            text = str(params.get("jql") or "")
            query = jql.parse(text)
            if query.where is None:
                raise BadRequest(
                    "Unbounded JQL queries are not allowed here. Please add a "
                    "search restriction to your query."
                )
            wanted = fields.select(
                self._list(params.get("fields")), self.data.story_points_field, "id"
            )
            expand = self._expand(params)
            light = wanted is not None and not wanted and "changelog" not in expand
            cap = SEARCH_CAP_IDS if light else SEARCH_CAP
            size = min(max(int_param(params.get("maxResults"), "maxResults", 50), 0), cap)
            offset = self._decode_token(params.get("nextPageToken"), text)
            ctx = self.context(request, api)
            snap = self.snapshot()
            ordered = search.run(query, text, self.data, snap, self.zone, snap.now)
            start = self.shifted(request, text, offset)
            page = ordered[start : start + size]
            issues = self._render(page, snap, ctx, wanted, expand, CLOUD_EMBEDDED_HISTORIES)
            result: dict[str, Any] = {"issues": issues}
            if start + size < len(ordered) and size:
                result["nextPageToken"] = self._encode_token(offset + size, text)
                result["isLast"] = False
            else:
                result["isLast"] = True
            return json_response(result)

        return self._guarded(work)

    def search(self, request: Request, api: str) -> Response:
        """Answer the old search: 410 Gone on Cloud, startAt/total paging on Data Center."""
        if self.cloud:
            return jira_error(
                410,
                "The requested API has been removed. Please migrate to the "
                f"/rest/api/{'3' if api == '3' else '2'}/search/jql API. A full migration "
                "guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
            )

        def work() -> Response:
            params = self._params(request)
            text = str(params.get("jql") or "")
            query = jql.parse(text)
            wanted = fields.select(
                self._list(params.get("fields")), self.data.story_points_field, "*navigable"
            )
            start = max(int_param(params.get("startAt"), "startAt", 0), 0)
            size = min(max(int_param(params.get("maxResults"), "maxResults", 50), 0), DC_SEARCH_CAP)
            ctx = self.context(request, api)
            snap = self.snapshot()
            ordered = search.run(query, text, self.data, snap, self.zone, snap.now)
            begin = self.shifted(request, text, start)
            issues = self._render(
                ordered[begin : begin + size], snap, ctx, wanted, self._expand(params), None
            )
            return json_response(
                {
                    "expand": "schema,names",
                    "startAt": start,
                    "maxResults": size,
                    "total": len(ordered),
                    "issues": issues,
                }
            )

        return self._guarded(work)

    def _render(
        self,
        page: list[int],
        snap: Snapshot,
        ctx: payloads.Context,
        wanted: set[str] | None,
        expand: set[str],
        cap: int | None,
    ) -> list[Any]:
        with_changelog = "changelog" in expand
        with_transitions = "transitions" in expand
        shape = (
            *(ctx.base, ctx.api, ctx.zone.key, ctx.cloud),
            None if wanted is None else frozenset(wanted),
            with_changelog,
            with_transitions,
            cap,
        )
        issues: list[Any] = []
        for index in page:
            kept = snap.encoded_issue(index, shape)
            if kept is not None:
                issues.append(kept)
                continue
            view = snap.views[index]
            issue = payloads.issue_json(view, snap, ctx, wanted)
            if with_transitions:
                issue["transitions"] = payloads.transitions_json(view.status, ctx)
            if with_changelog:
                issue["changelog"] = changelog.embedded(view, ctx, cap)
            issues.append(snap.remember_encoded(index, shape, encode_json(issue)))
        return issues

    @staticmethod
    def _encode_token(offset: int, text: str) -> str:
        raw = f"{offset}:{zlib.crc32(text.encode()):08x}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: Any, text: str) -> int:
        if not token:
            return 0
        try:
            padded = str(token) + "=" * (-len(str(token)) % 4)
            offset, _, check = base64.urlsafe_b64decode(padded).decode().partition(":")
            if check != f"{zlib.crc32(text.encode()):08x}":
                raise ValueError("token of another query")
            return int(offset)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadRequest("The provided next page token is invalid or expired.") from None

    # --- issues ----------------------------------------------------------------------

    def _issue_or_404(self, id_or_key: str) -> Any:
        view = self.snapshot().find(id_or_key)
        if view is None:
            raise NotFound("Issue does not exist or you do not have permission to see it.")
        return view

    def issue(self, request: Request, api: str, id_or_key: str) -> Response:
        """Answer GET issue (all fields by default; a former key finds a moved issue)."""

        def work() -> Response:
            view = self._issue_or_404(id_or_key)
            snap = self.snapshot()
            ctx = self.context(request, api)
            wanted = fields.select(
                request.args.getlist("fields"), self.data.story_points_field, "*all"
            )
            cap = 100 if self.cloud else None
            return json_response(
                self._render(
                    [view.index], snap, ctx, wanted, self._expand(dict(request.args)), cap
                )[0]
            )

        return self._not_found_guard(work)

    def issue_changelog(self, request: Request, api: str, id_or_key: str) -> Response:
        """Page through an issue's whole changelog, oldest first (Cloud)."""
        if not self.cloud:
            return self.not_found(request)

        def work() -> Response:
            view = self._issue_or_404(id_or_key)
            ctx = self.context(request, api)
            start = max(int_param(request.args.get("startAt"), "startAt", 0), 0)
            size = min(
                max(int_param(request.args.get("maxResults"), "maxResults", 100), 1), CHANGELOG_PAGE
            )
            every = changelog.histories(view, ctx)
            last = start + size >= len(every)
            url = f"{ctx.rest}/issue/{view.key}/changelog"
            result: dict[str, Any] = {"self": f"{url}?maxResults={size}&startAt={start}"}
            if not last:
                result["nextPage"] = f"{url}?maxResults={size}&startAt={start + size}"
            result.update(
                {
                    "maxResults": size,
                    "startAt": start,
                    "total": len(every),
                    "isLast": last,
                    "values": every[start : start + size],
                }
            )
            return json_response(result)

        return self._not_found_guard(work)

    def _not_found_guard(self, work: Callable[[], Response]) -> Response:
        try:
            return self._guarded(work)
        except NotFound as err:
            return jira_error(404, str(err))
