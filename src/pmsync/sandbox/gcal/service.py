"""The Google Calendar v3 imitation: OAuth token endpoint, calendarList, events, .ics.

Built from Google's documentation so that a connector that works here works
against Google: ``googleapiclient.discovery.build("calendar", "v3",
client_options={"api_endpoint": url + "/calendar/v3/"})`` with
``google.oauth2.credentials.Credentials`` whose ``token_uri`` is ``url + "/token"``.

Sync tokens carry the clock reading of the listing they end; an incremental
listing returns what changed after it. They expire after ``sync_token_ttl`` of
simulated time (Google does not say when; weeks in practice) and
``invalidate_sync_tokens()`` drops all of them, which is how tests provoke
``410 fullSyncRequired``. Page tokens pin the clock reading of the first page,
so a listing stays consistent while the clock runs and nothing is missed.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from pmsync.sandbox.gcal.api import (
    ApiError,
    EventsQuery,
    decode_token,
    encode_token,
    etag,
    google_error,
    parse_bool,
    parse_int,
    render_calendar_entry,
    render_event,
    sync_gone,
    wanted,
)
from pmsync.sandbox.gcal.events import (
    CalendarSnapshot,
    CalendarTimeline,
    EventView,
    build_snapshot,
    rfc3339,
)
from pmsync.sandbox.gcal.ics import build_feed
from pmsync.sandbox.scenario import Calendar, Person, Scenario
from pmsync.sandbox.server import FaultPlan, SandboxClock, Service, http_date, json_response

DEFAULT_CLIENT_ID = "pmsync-sandbox.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "pmsync-sandbox-secret"
DEFAULT_REFRESH_TOKEN = "1//pmsync-sandbox-refresh-token"
SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
ACCESS_TOKEN_SECONDS = 3599
_ROLES = ("freeBusyReader", "reader", "writer", "owner")
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class CalendarService(Service):
    """Google Calendar API v3 over the scenario's calendars, as of the sandbox clock."""

    name = "calendar"
    rules = (
        Rule("/token", endpoint="token", methods=["POST"]),
        Rule("/calendar/v3/users/me/calendarList", endpoint="calendar_list", methods=["GET"]),
        Rule(
            "/calendar/v3/users/me/calendarList/<calendar_id>",
            endpoint="calendar_list_entry",
            methods=["GET"],
        ),
        Rule("/calendar/v3/calendars/<calendar_id>", endpoint="calendar_get", methods=["GET"]),
        Rule(
            "/calendar/v3/calendars/<calendar_id>/events", endpoint="events_list", methods=["GET"]
        ),
        Rule(
            "/calendar/v3/calendars/<calendar_id>/events/<event_id>",
            endpoint="events_get",
            methods=["GET"],
        ),
        Rule(
            "/calendar/ical/<calendar_id>/public/basic.ics", endpoint="ical_feed", methods=["GET"]
        ),
    )

    def __init__(
        self,
        scenario: Scenario,
        clock: SandboxClock,
        faults: FaultPlan | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        sync_token_ttl: timedelta = timedelta(days=30),
        expansion_days: int = 730,
    ) -> None:
        super().__init__(scenario, clock, faults)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.sync_token_ttl = sync_token_ttl
        self.base_url: str | None = None
        """Where the service is served; ``bind_base_url`` sets it after ``serve()``."""
        self._horizon = scenario.clock + timedelta(days=expansion_days)
        self._calendars = {c.id: c for c in scenario.calendar.calendars}
        self._timelines = {c.id: CalendarTimeline(c) for c in scenario.calendar.calendars}
        self._people: dict[str, Person] = scenario.people_by_id()
        self._tokens: dict[str, float] = {}
        self._generation = 0
        self._rate_limit_turn = 0
        self._snapshots: OrderedDict[tuple[str, int], CalendarSnapshot] = OrderedDict()
        self._state_lock = threading.RLock()

    # --- the harness's hooks -------------------------------------------------------

    def bind_base_url(self, url: str) -> None:
        """Learn the URL the service is served at, for absolute ``token_uri``."""
        self.base_url = url.rstrip("/")

    def credentials(self) -> dict[str, str]:
        """Return OAuth user credentials for ``google.oauth2.credentials.Credentials``."""
        base = self.base_url or ""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "token_uri": f"{base}/token",
            "api_endpoint": f"{base}/calendar/v3/",
        }

    def authenticate(self, request: Request) -> Response | None:
        """Refuse API calls without a live access token from ``/token`` (Google's 401)."""
        if request.path == "/token" or request.path.startswith("/calendar/ical/"):
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._state_lock:
            expires = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or expires < time.monotonic():
            response = google_error(
                401,
                "authError",
                "Invalid Credentials",
                location="Authorization",
                location_type="header",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
            return response
        return None

    def not_found(self, request: Request) -> Response:
        """Return Google's 404."""
        return google_error(404, "notFound", "Not Found")

    def error_response(self, status: int, message: str) -> Response:
        """Return Google's error body for a 5xx (or any) status."""
        reason = {500: "backendError", 502: "badGateway", 503: "backendError"}.get(status, "error")
        return google_error(status, reason, message)

    def rate_limited(self, request: Request, retry_after: float, http_date_form: bool) -> Response:
        """Answer as Google does when over quota: 403 or 429, in turn, reason in the body."""
        with self._state_lock:
            turn = self._rate_limit_turn
            self._rate_limit_turn += 1
        if turn % 3 == 0:
            return google_error(
                403, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits"
            )
        if turn % 3 == 1:
            return google_error(
                403, "userRateLimitExceeded", "User Rate Limit Exceeded", domain="usageLimits"
            )
        response = google_error(
            429, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits"
        )
        response.headers["Retry-After"] = (
            http_date(datetime.now(UTC) + timedelta(seconds=retry_after))
            if http_date_form
            else str(int(max(retry_after, 1)))
        )
        return response

    def on_advance(self, now: datetime) -> None:
        """Forget snapshots of epochs the clock has left (tokens pin what they need)."""
        with self._state_lock:
            while len(self._snapshots) > 2 * max(1, len(self._calendars)):
                self._snapshots.popitem(last=False)

    def invalidate_sync_tokens(self) -> None:
        """Make every sync token issued so far answer 410 fullSyncRequired."""
        with self._state_lock:
            self._generation += 1

    # --- OAuth -----------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        """Exchange a refresh token (or a service account's JWT) for an access token."""
        form = request.form
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if form.get("client_id") != self.client_id or (
                form.get("client_secret") != self.client_secret
            ):
                return json_response(
                    {
                        "error": "invalid_client",
                        "error_description": "The OAuth client was not found.",
                    },
                    401,
                )
            if form.get("refresh_token") != self.refresh_token:
                return json_response(
                    {"error": "invalid_grant", "error_description": "Bad Request"}, 400
                )
        elif grant == _JWT_GRANT:
            assertion = form.get("assertion", "")
            if assertion.count(".") != 2 or not all(assertion.split(".")):
                return json_response(
                    {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400
                )
        else:
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Invalid grant_type: {grant}",
                },
                400,
            )
        access = "ya29.sandbox-" + secrets.token_urlsafe(32)
        with self._state_lock:
            self._tokens[access] = time.monotonic() + ACCESS_TOKEN_SECONDS
        return json_response(
            {
                "access_token": access,
                "expires_in": ACCESS_TOKEN_SECONDS,
                "token_type": "Bearer",
                "scope": form.get("scope") or SCOPE,
            },
            headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
        )

    # --- calendars -------------------------------------------------------------------

    def _calendar(self, calendar_id: str) -> Calendar:
        if calendar_id == "primary":
            calendar_id = self._primary_id()
        calendar = self._calendars.get(calendar_id)
        if calendar is None:
            raise ApiError(404, "notFound", "Not Found")
        return calendar

    def _primary_id(self) -> str:
        calendars = self.scenario.calendar.calendars
        owned = [c for c in calendars if c.access_role == "owner"]
        return (owned or calendars)[0].id if calendars else ""

    def _entry(self, calendar: Calendar) -> dict[str, Any]:
        entry = render_calendar_entry(calendar, self.scenario.clock)
        if calendar.id == self._primary_id():
            entry["primary"] = True
        return entry

    def calendar_list(self, request: Request) -> Response:
        """``calendarList.list``: paged, with a sync token on the last page."""
        try:
            args = request.args
            sync = args.get("syncToken")
            if sync is not None and ({"minAccessRole", "showOwnOrganizationOnly"} & args.keys()):
                raise ApiError(
                    400, "badRequest", "Sync token cannot be used with other request restrictions."
                )
            parse_bool(args, "showDeleted")
            size = parse_int(args, "maxResults", 100, 250)
            entries = [self._entry(c) for c in self.scenario.calendar.calendars]
            now = self.clock.now()
            if sync is not None:
                self._sync_since(sync, "calendarList", now)
                entries = []  # calendars never change in a scenario
            minimum = args.get("minAccessRole")
            if minimum is not None:
                if minimum not in _ROLES:
                    raise ApiError(400, "invalid", f"Invalid value '{minimum}'.")
                rank = _ROLES.index(minimum)
                entries = [e for e in entries if _ROLES.index(e["accessRole"]) >= rank]
            offset = self._page_offset(args.get("pageToken"), "calendarList")
        except ApiError as err:
            return err.response()
        body: dict[str, Any] = {
            "kind": "calendar#calendarList",
            "etag": etag(now),
            "items": entries[offset : offset + size],
        }
        if offset + size < len(entries):
            body["nextPageToken"] = encode_token({"k": "calendarList", "o": offset + size})
        else:
            body["nextSyncToken"] = self._sync_token("calendarList", now)
        return json_response(body)

    def calendar_list_entry(self, request: Request, calendar_id: str) -> Response:
        """``calendarList.get``."""
        try:
            return json_response(self._entry(self._calendar(calendar_id)))
        except ApiError as err:
            return err.response()

    def calendar_get(self, request: Request, calendar_id: str) -> Response:
        """``calendars.get``."""
        try:
            calendar = self._calendar(calendar_id)
        except ApiError as err:
            return err.response()
        body = {
            "kind": "calendar#calendar",
            "etag": etag(self.scenario.clock - timedelta(days=365)),
            "id": calendar.id,
            "summary": calendar.summary,
            "timeZone": calendar.time_zone,
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
        }
        if calendar.description:
            body["description"] = calendar.description
        return json_response(body)

    # --- tokens ----------------------------------------------------------------------

    def _sync_token(self, scope: str, as_of: datetime) -> str:
        micros = int(as_of.timestamp() * 1_000_000)
        return encode_token({"k": "sync", "s": scope, "t": micros, "g": self._generation})

    def _sync_since(self, token: str, scope: str, now: datetime) -> datetime:
        """Return the clock reading a sync token stands for, or raise 410."""
        payload = decode_token(token)
        if not payload or payload.get("k") != "sync" or payload.get("s") != scope:
            raise sync_gone()
        if payload.get("g") != self._generation:
            raise sync_gone()
        since = datetime.fromtimestamp(payload["t"] / 1_000_000, UTC)
        if since > now or now - since > self.sync_token_ttl:
            raise sync_gone()
        return since

    def _page_offset(self, token: str | None, scope: str) -> int:
        if token is None:
            return 0
        payload = decode_token(token)
        if not payload or payload.get("k") != scope or not isinstance(payload.get("o"), int):
            raise ApiError(400, "invalid", "Invalid page token value.", location="pageToken")
        return int(payload["o"])

    # --- events ----------------------------------------------------------------------

    def snapshot(self, calendar: Calendar, at: datetime) -> CalendarSnapshot:
        """Return ``calendar`` as of ``at``, built once per epoch."""
        epoch = self._timelines[calendar.id].epoch(at)
        key = (calendar.id, epoch)
        with self._state_lock:
            cached = self._snapshots.get(key)
            if cached is not None:
                self._snapshots.move_to_end(key)
                return cached
            snapshot = build_snapshot(calendar, epoch, at, self._horizon)
            self._snapshots[key] = snapshot
            while len(self._snapshots) > 4 * max(1, len(self._calendars)) + 4:
                self._snapshots.popitem(last=False)
            return snapshot

    def events_list(self, request: Request, calendar_id: str) -> Response:
        """``events.list``: full or incremental, paged, nextSyncToken on the last page only."""
        try:
            calendar = self._calendar(calendar_id)
            query = EventsQuery.parse(request.args, calendar.time_zone)
            now = self.clock.now()
            scope = f"events:{calendar.id}"
            offset = 0
            as_of = now
            if query.page_token is not None:
                payload = decode_token(query.page_token)
                if (
                    not payload
                    or payload.get("k") != scope
                    or payload.get("f") != query.filter_key()
                    or not isinstance(payload.get("o"), int)
                ):
                    raise ApiError(
                        400, "invalid", "Invalid page token value.", location="pageToken"
                    )
                offset = payload["o"]
                as_of = datetime.fromtimestamp(payload["t"] / 1_000_000, UTC)
            since = None
            if query.sync_token is not None:
                since = self._sync_since(query.sync_token, scope, now)
            snapshot = self.snapshot(calendar, as_of)
            items = self._results(snapshot, query, since)
        except ApiError as err:
            return err.response()
        start = self.shifted(request, (calendar.id, query.filter_key()), offset)
        page = items[start : start + query.max_results]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": etag(snapshot.last_change if snapshot.events else as_of),
            "summary": calendar.summary,
            "description": calendar.description,
            "updated": rfc3339(snapshot.last_change if snapshot.events else calendar_created(self)),
            "timeZone": calendar.time_zone,
            "accessRole": calendar.access_role,
            "defaultReminders": [],
            "items": page,
        }
        if start + query.max_results < len(items):
            body["nextPageToken"] = encode_token(
                {
                    "k": scope,
                    "o": offset + query.max_results,
                    "t": int(as_of.timestamp() * 1_000_000),
                    "f": query.filter_key(),
                }
            )
        else:
            body["nextSyncToken"] = self._sync_token(scope, as_of)
        return json_response(body)

    def _results(
        self, snapshot: CalendarSnapshot, query: EventsQuery, since: datetime | None
    ) -> list[dict[str, Any]]:
        key = (query.filter_key(), since)
        with self._state_lock:
            cached = snapshot.results.get(key)
        if cached is not None:
            return cached
        views = snapshot.instances() if query.single_events else snapshot.events
        chosen = [v for v in views if wanted(v, query, since)]
        if query.order_by == "startTime":
            chosen.sort(key=lambda v: (v.begins, v.id))
        elif query.order_by == "updated":
            chosen.sort(key=lambda v: (v.updated, v.id))
        items = [self._render(snapshot, v, query.time_zone) for v in chosen]
        with self._state_lock:
            snapshot.results[key] = items
            while len(snapshot.results) > 64:
                snapshot.results.pop(next(iter(snapshot.results)))
        return items

    def _render(self, snapshot: CalendarSnapshot, view: EventView, zone: str) -> dict[str, Any]:
        key = (view.id, zone)
        rendered = snapshot.rendered.get(key)
        if rendered is None:
            rendered = render_event(view, snapshot.calendar.id, zone, self._people)
            snapshot.rendered[key] = rendered
        return rendered

    def events_get(self, request: Request, calendar_id: str, event_id: str) -> Response:
        """``events.get`` of an event or of one instance of a series."""
        try:
            calendar = self._calendar(calendar_id)
            zone = request.args.get("timeZone", calendar.time_zone)
            snapshot = self.snapshot(calendar, self.clock.now())
            views = snapshot.instances() if "_" in event_id else snapshot.events
            for view in (*snapshot.events, *views):
                if view.id == event_id:
                    return json_response(self._render(snapshot, view, zone))
            raise ApiError(404, "notFound", "Not Found")
        except ApiError as err:
            return err.response()

    # --- the published feed ----------------------------------------------------------

    def ical_feed(self, request: Request, calendar_id: str) -> Response:
        """The calendar as public iCalendar, with ETag, Last-Modified and 304s."""
        calendar = self._calendars.get(calendar_id)
        if calendar is None:
            return Response("Not Found", status=404, mimetype="text/html")
        snapshot = self.snapshot(calendar, self.clock.now())
        with self._state_lock:
            cached = snapshot.feeds.get("basic")
        if cached is None:
            cached = build_feed(snapshot, self._people)
            with self._state_lock:
                snapshot.feeds["basic"] = cached
        body, tag = cached
        modified = snapshot.last_change.replace(microsecond=0)
        headers = {
            "ETag": tag,
            "Last-Modified": http_date(modified),
            "Cache-Control": "no-cache, must-revalidate",
        }
        match = request.headers.get("If-None-Match")
        if match is not None:
            fresh = tag in [m.strip() for m in match.split(",")] or match.strip() == "*"
        else:
            since = request.if_modified_since
            fresh = since is not None and modified <= since
        if fresh:
            return Response(status=304, headers=headers)
        return Response(
            body,
            headers=headers,
            mimetype="text/calendar",
            content_type="text/calendar; charset=UTF-8",
        )


def calendar_created(service: CalendarService) -> datetime:
    """Return when the scenario's calendars notionally came to be (a year before its start)."""
    return service.scenario.clock - timedelta(days=365)
