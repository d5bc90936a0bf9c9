"""The sandbox's HTTP harness: a simulated clock, the service base class, TLS, serving.

Each imitated API (Jira, GitHub, Google Calendar) is a ``Service``: a werkzeug
URL map of handlers over a shared ``Scenario`` seen through a shared
``SandboxClock``. ``serve()`` runs a service on 127.0.0.1 in a background thread
(HTTP/1.1 keep-alive, optional TLS from a throwaway CA; see ``httpd``), so tests,
the demo and the benchmarks start in-process the same servers that
``pmsync sandbox serve`` runs from the command line. Fault injection is decided
in ``faults`` and applied here, in one place for every service.

Every service also answers the sandbox's own control endpoints (no credentials,
never faulted):

* ``GET /_sandbox/clock`` → ``{"now": ISO}``
* ``POST /_sandbox/advance`` with JSON ``{"days": 1.5}`` (or ``hours``,
  ``minutes``, or ``{"to": ISO}``) → moves the shared clock forward; returns the
  new ``now``
* ``GET /_sandbox/stats`` → requests served per route and per status, faults
  applied per kind
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import orjson
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from pmsync.sandbox.faults import (
    BODY_KINDS,
    FAULT_KINDS,
    STATUS_KINDS,
    Fault,
    FaultInjector,
    FaultPlan,
    ResetConnection,
    malformed,
    truncated,
)
from pmsync.sandbox.httpd import SandboxHTTPServer
from pmsync.sandbox.scenario import Scenario

__all__ = [
    "FAULT_KINDS",
    "FaultInjector",
    "FaultPlan",
    "RunningService",
    "SandboxClock",
    "Service",
    "TLSMaterial",
    "http_date",
    "json_response",
    "serve",
    "valid_token",
]

# --- the clock ----------------------------------------------------------------------


class SandboxClock:
    """The simulated 'now', shared by every service of one sandbox.

    It starts at the scenario's clock. ``advance()`` moves it and tells every
    listener (each service subscribes, to drop what the move made stale); with
    ``days_per_minute`` set it also runs on by itself, that many simulated days
    for each minute of ``wall`` time.
    """

    def __init__(
        self,
        start: datetime,
        days_per_minute: float = 0.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if days_per_minute < 0:
            raise ValueError("days_per_minute must not be negative")
        self._lock = threading.Lock()
        self._base = start.astimezone(UTC)
        self._rate = days_per_minute
        self._wall = wall
        self._wall_base = wall()
        self._listeners: list[Callable[[datetime], None]] = []

    @property
    def days_per_minute(self) -> float:
        """Return how many simulated days pass per wall-clock minute (0: stopped)."""
        return self._rate

    def now(self) -> datetime:
        """Return the simulated time."""
        with self._lock:
            return self._now()

    def _now(self) -> datetime:
        if not self._rate:
            return self._base
        minutes = (self._wall() - self._wall_base) / 60.0
        return self._base + timedelta(days=minutes * self._rate)

    def subscribe(self, listener: Callable[[datetime], None]) -> None:
        """Call ``listener(now)`` after every ``advance``."""
        with self._lock:
            self._listeners.append(listener)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta``, tell the listeners, return the new time."""
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._base = self._now() + delta
            self._wall_base = self._wall()
            now, listeners = self._base, list(self._listeners)
        for listener in listeners:
            listener(now)
        return now

    def advance_to(self, moment: datetime) -> datetime:
        """Move the clock forward to ``moment`` (an aware time not in the past)."""
        if moment.tzinfo is None:
            raise ValueError("the time to advance to needs a time zone")
        return self.advance(moment.astimezone(UTC) - self.now())


# --- responses ----------------------------------------------------------------------

Handler = Callable[..., Response]
_ORJSON = orjson.OPT_NON_STR_KEYS


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Return a JSON response (compact, UTF-8)."""
    body = encode_json(payload)
    return Response(body, status=status, headers=dict(headers or {}), mimetype="application/json")


def encode_json(payload: Any) -> bytes:
    """Return ``payload`` as compact UTF-8 JSON (``orjson.Fragment`` parts are kept JSON)."""
    try:
        return orjson.dumps(payload, option=_ORJSON)
    except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits
        return json.dumps(
            payload, ensure_ascii=False, separators=(",", ":"), default=_json_default
        ).encode()


def kept_json(
    cache: dict[Any, orjson.Fragment], key: Any, make: Callable[[], Any]
) -> orjson.Fragment:
    """Return the JSON of ``make()`` kept in ``cache`` under ``key`` (encoded once).

    A listing page of 100 items is several hundred KB of JSON: encoded again on
    every request it costs milliseconds, joined from kept parts well under one.
    The caller owns ``cache`` and drops it when what it renders changes.
    """
    found = cache.get(key)
    if found is None:
        found = cache[key] = orjson.Fragment(encode_json(make()))
    return found


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def http_date(moment: datetime) -> str:
    """Format ``moment`` as an RFC 7231 HTTP-date."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


_ENDPOINT = "pmsync.sandbox.endpoint"
_SHIFT = "pmsync.sandbox.shift"
_SHIFT_MEMORY = 1024


# --- services -----------------------------------------------------------------------


class Service:
    """Base of an imitated API: routes, authentication, faults, and the world it serves.

    Subclasses set ``name`` and ``rules`` (werkzeug ``Rule`` objects whose
    endpoint is the name of a handler method taking ``(request, **url_values)``)
    and implement ``authenticate`` (return an error response, or None). A
    handler that pages a listing asks ``shifted()`` where its page starts, so
    the ``shift`` fault can move it.
    """

    name = "service"
    rules: tuple[Rule, ...] = ()

    def __init__(self, scenario: Scenario, clock: SandboxClock, faults: FaultPlan | None = None):
        self.scenario = scenario
        self.clock = clock
        self.faults = FaultInjector(faults or FaultPlan())
        self.served: Counter[str] = Counter()
        """API requests per route (endpoint name; ``not_found``, ``method_not_allowed``)."""
        self.statuses: Counter[int] = Counter()
        """API answers per HTTP status."""
        self._map = Map([r.empty() for r in (*self.rules, *_CONTROL_RULES)], strict_slashes=False)
        self._lock = threading.Lock()
        self._shifts: dict[Hashable, int] = {}
        clock.subscribe(self.on_advance)

    def credentials(self) -> dict[str, str]:
        """Return the credentials a client should use (printed by ``serve``)."""
        return {}

    def authenticate(self, request: Request) -> Response | None:
        """Return an error response when the request's credentials are refused."""
        return None

    def not_found(self, request: Request) -> Response:
        """Return this API's 404 shape."""
        return json_response({"message": "Not Found"}, 404)

    def error_response(self, status: int, message: str) -> Response:
        """Return this API's error shape for ``status`` (used by fault injection)."""
        return json_response({"message": message}, status)

    def rate_limited(self, request: Request, retry_after: float, http_date_form: bool) -> Response:
        """Return this API's rate-limit answer."""
        value = (
            http_date(datetime.now(UTC) + timedelta(seconds=retry_after))
            if http_date_form
            else str(int(max(retry_after, 0)) or 1)
        )
        response = self.error_response(429, "Too Many Requests")
        response.headers["Retry-After"] = value
        return response

    def on_advance(self, now: datetime) -> None:
        """Hook: the clock moved (services drop caches here)."""

    def shifted(self, request: Request, listing: Hashable, offset: int) -> int:
        """Return where a page of ``listing`` starts: ``offset``, moved by ``shift`` faults.

        A first page (offset 0) starts the listing afresh. On a later page a
        ``shift`` fault moves the listing by one item for this page and the
        pages after it, as a concurrent edit would: -1 shows the previous
        page's last item again, +1 skips one item.
        """
        key = (request.path, listing)
        drawn = int(request.environ.get(_SHIFT, 0))
        with self._lock:
            if offset <= 0:
                self._shifts.pop(key, None)
                return offset
            moved = self._shifts.get(key, 0) + drawn
            if drawn:
                if len(self._shifts) >= _SHIFT_MEMORY:
                    self._shifts.clear()
                self._shifts[key] = moved
        if drawn:
            self.faults.record("shift")
        return max(offset + moved, 0)

    # --- control endpoints shared by every service -------------------------------------

    def sandbox_clock(self, request: Request) -> Response:
        """Answer the simulated time."""
        return json_response(
            {"now": self.clock.now().isoformat(), "days_per_minute": self.clock.days_per_minute}
        )

    def sandbox_advance(self, request: Request) -> Response:
        """Move the shared clock forward by days/hours/minutes, or to a time."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            body = {}
        try:
            if "to" in body:
                now = self.clock.advance_to(datetime.fromisoformat(str(body["to"])))
            else:
                delta = timedelta(
                    days=float(body.get("days", 0)),
                    hours=float(body.get("hours", 0)),
                    minutes=float(body.get("minutes", 0)),
                )
                now = self.clock.advance(delta)
        except (TypeError, ValueError, OverflowError) as err:
            return json_response({"message": str(err)}, 400)
        return json_response({"now": now.isoformat()})

    def sandbox_stats(self, request: Request) -> Response:
        """Answer what was served and which faults were applied."""
        with self._lock:
            served, statuses = dict(self.served), {str(k): v for k, v in self.statuses.items()}
        return json_response(
            {
                "served": served,
                "statuses": statuses,
                "requests": sum(served.values()),
                "faults": dict(self.faults.injected),
            }
        )

    # --- WSGI ------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        matched = self._match(request)
        environ[_ENDPOINT] = matched
        response = self._dispatch(request)
        if isinstance(matched, tuple):
            endpoint = matched[0]
        else:
            endpoint = "not_found" if matched is None else "method_not_allowed"
        if not endpoint.startswith("sandbox_"):
            with self._lock:
                self.served[endpoint] += 1
                self.statuses[response.status_code] += 1
        return response(environ, start_response)

    def _match(self, request: Request) -> tuple[str, dict[str, Any]] | HTTPException | None:
        if _ENDPOINT in request.environ:
            found: tuple[str, dict[str, Any]] | HTTPException | None = request.environ[_ENDPOINT]
            return found
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except NotFound:
            return None
        except HTTPException as err:
            return err
        return str(endpoint), dict(values)

    def _dispatch(self, request: Request) -> Response:
        matched = self._match(request)
        if matched is None:
            return self.not_found(request)
        if isinstance(matched, HTTPException):
            return json_response({"message": matched.description}, matched.code or 500)
        endpoint, values = matched
        handler: Handler = getattr(self, endpoint)
        if endpoint.startswith("sandbox_"):
            return handler(request, **values)
        fault = self.faults.draw(request.path)
        if fault is not None and fault.kind in STATUS_KINDS:
            self.faults.record(fault.kind)
            return self._status_fault(request, fault)
        refused = self.authenticate(request)
        if refused is not None:
            return refused
        if fault is not None and fault.kind == "slow":
            self.faults.record("slow")
            time.sleep(fault.rule.slow_seconds)
        elif fault is not None and fault.kind == "shift":
            request.environ[_SHIFT] = fault.shift
        response = handler(request, **values)
        if fault is not None and fault.kind in BODY_KINDS:
            self.faults.record(fault.kind)
            return _spoiled(response, fault.kind)
        return response

    def _status_fault(self, request: Request, fault: Fault) -> Response:
        if fault.kind in ("429", "429-date"):
            return self.rate_limited(request, fault.rule.retry_after, fault.kind == "429-date")
        return self.error_response(int(fault.kind), "sandbox fault injection")


def _spoiled(response: Response, kind: str) -> Response:
    """Return ``response`` with its body cut short, replaced, or reset mid-way."""
    body = response.get_data()
    headers = response.headers.copy()
    if kind == "reset":
        spoiled = Response(_reset_after_half(body), status=response.status_code, headers=headers)
        spoiled.headers["Content-Length"] = str(len(body))
        return spoiled
    data = truncated(body) if kind == "truncated" else malformed(body)
    headers.pop("Content-Length", None)
    return Response(data, status=response.status_code, headers=headers)


def _reset_after_half(body: bytes) -> Iterator[bytes]:
    yield body[: len(body) // 2]
    raise ResetConnection("sandbox fault injection: connection reset mid-body")


_CONTROL_RULES = (
    Rule("/_sandbox/clock", endpoint="sandbox_clock", methods=["GET"]),
    Rule("/_sandbox/advance", endpoint="sandbox_advance", methods=["POST"]),
    Rule("/_sandbox/stats", endpoint="sandbox_stats", methods=["GET"]),
)


# --- serving ------------------------------------------------------------------------


@dataclass
class TLSMaterial:
    """A throwaway CA and a server certificate for 127.0.0.1, ::1 and localhost."""

    ca_bundle: Path
    server_context: ssl.SSLContext

    @classmethod
    def create(cls, directory: Path) -> TLSMaterial:
        """Make a CA with trustme, write its bundle to ``directory``, return both."""
        import trustme

        ca = trustme.CA(organization_name="pmsync sandbox")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        directory.mkdir(parents=True, exist_ok=True)
        bundle = directory / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        return cls(ca_bundle=bundle.resolve(), server_context=context)


@dataclass
class RunningService:
    """A service being served on 127.0.0.1 in a background thread."""

    service: Service
    server: SandboxHTTPServer
    thread: threading.Thread
    scheme: str = "http"
    prefix: str = ""

    @property
    def port(self) -> int:
        """Return the port actually bound (useful with port 0)."""
        return self.server.port

    @property
    def url(self) -> str:
        """Return the base URL clients should use."""
        return f"{self.scheme}://127.0.0.1:{self.port}{self.prefix}"

    def stop(self) -> None:
        """Stop serving, close open connections and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(
    service: Service,
    port: int = 0,
    tls: ssl.SSLContext | None = None,
    prefix: str = "",
) -> RunningService:
    """Serve ``service`` on 127.0.0.1:``port`` in a daemon thread and return it."""
    server = SandboxHTTPServer(service, port, tls)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name=f"sandbox-{service.name}", daemon=True
    )
    thread.start()
    return RunningService(
        service=service,
        server=server,
        thread=thread,
        scheme="https" if tls else "http",
        prefix=prefix,
    )


_PAGE_TOKEN = re.compile(r"^[A-Za-z0-9_\-=]+$")


def valid_token(token: str) -> bool:
    """Tell whether an opaque page/sync token has a plausible shape."""
    return bool(_PAGE_TOKEN.match(token))
