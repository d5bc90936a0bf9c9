"""The sandbox's HTTP machinery: a simulated clock, fault injection, TLS, serving.

Each imitated API (Jira, GitHub, Google Calendar) is a ``Service``: a werkzeug
URL map of handlers over a shared ``Scenario`` seen through a shared
``SandboxClock``. ``serve()`` runs a service on 127.0.0.1 in a background thread
(HTTP/1.1 keep-alive, optional TLS from a throwaway CA), so tests, the demo and
the benchmarks start the same servers in-process that ``pmsync sandbox serve``
runs from the command line.

Every service also answers the sandbox's own control endpoints:

* ``GET /_sandbox/clock`` → ``{"now": ISO}``
* ``POST /_sandbox/advance`` with JSON ``{"days": 1.5}`` (or ``hours``, ``minutes``)
  → moves the shared clock forward; returns the new ``now``
* ``GET /_sandbox/stats`` → requests served per route and faults injected
"""

from __future__ import annotations

import json
import random
import re
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from pmsync.sandbox.scenario import Scenario

# --- the clock ----------------------------------------------------------------------


class SandboxClock:
    """The simulated 'now', shared by every service of one sandbox.

    It starts at the scenario's clock. ``advance()`` moves it; with
    ``days_per_minute`` set it also runs on by itself, that many simulated days
    for each wall-clock minute.
    """

    def __init__(
        self,
        start: datetime,
        days_per_minute: float = 0.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._base = start.astimezone(UTC)
        self._rate = days_per_minute
        self._wall = wall
        self._wall_base = wall()

    def now(self) -> datetime:
        """Return the simulated time."""
        with self._lock:
            if not self._rate:
                return self._base
            minutes = (self._wall() - self._wall_base) / 60.0
            return self._base + timedelta(days=minutes * self._rate)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time."""
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        current = self.now()
        with self._lock:
            self._base = current + delta
            self._wall_base = self._wall()
            return self._base


# --- faults -------------------------------------------------------------------------

FAULT_KINDS = ("429", "429-date", "500", "502", "503", "reset", "slow", "truncated", "malformed")


@dataclass(frozen=True)
class FaultPlan:
    """Which requests fail and how; deterministic for a given seed and request order.

    Spec string (``--faults``): comma-separated ``key=value`` pairs, e.g.
    ``rate=0.1,kinds=429+500+reset,seed=7,paths=/rest/api/3/search/jql+/repos,retry_after=2,slow=1.5``

    * ``rate``: probability that a request gets a fault (0..1)
    * ``kinds``: ``+``-separated subset of ``FAULT_KINDS`` (default: all)
    * ``seed``: random seed (default 0)
    * ``paths``: ``+``-separated path prefixes the faults apply to (default: all
      but the sandbox's own control endpoints)
    * ``retry_after``: seconds sent in ``Retry-After`` (default 1)
    * ``slow``: seconds a ``slow`` response is delayed (default 2)
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    paths: tuple[str, ...] = ()
    retry_after: float = 1.0
    slow_seconds: float = 2.0

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """Parse a ``--faults`` spec; raise ValueError naming the bad part."""
        if not spec:
            return cls()
        values: dict[str, Any] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"fault spec part {part!r} is not key=value")
            if key == "rate":
                values["rate"] = float(value)
                if not 0 <= values["rate"] <= 1:
                    raise ValueError("fault rate must be between 0 and 1")
            elif key == "kinds":
                kinds = tuple(k for k in value.split("+") if k)
                unknown = set(kinds) - set(FAULT_KINDS)
                if unknown:
                    raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
                values["kinds"] = kinds
            elif key == "seed":
                values["seed"] = int(value)
            elif key == "paths":
                values["paths"] = tuple(p for p in value.split("+") if p)
            elif key == "retry_after":
                values["retry_after"] = float(value)
            elif key == "slow":
                values["slow_seconds"] = float(value)
            else:
                raise ValueError(f"unknown fault spec key {key!r}")
        return cls(**values)


class FaultInjector:
    """Draws a fault (or none) for each request, reproducibly."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def draw(self, path: str) -> str | None:
        """Return the fault kind for a request to ``path``, or None."""
        plan = self.plan
        if plan.rate <= 0 or path.startswith("/_sandbox"):
            return None
        if plan.paths and not any(path.startswith(p) for p in plan.paths):
            return None
        with self._lock:
            if self._rng.random() >= plan.rate:
                return None
            kind = self._rng.choice(plan.kinds)
            self.injected[kind] += 1
            return kind


# --- services -----------------------------------------------------------------------

Handler = Callable[..., Response]


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Return a JSON response (compact, UTF-8)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return Response(body, status=status, headers=dict(headers or {}), mimetype="application/json")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def http_date(moment: datetime) -> str:
    """Format ``moment`` as an RFC 7231 HTTP-date."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


class Service:
    """Base of an imitated API: routes, authentication, and the world it serves.

    Subclasses set ``name`` and ``rules`` (werkzeug ``Rule`` objects whose
    endpoint is the name of a handler method taking ``(request, **url_values)``)
    and implement ``authenticate`` (return an error response, or None).
    """

    name = "service"
    rules: tuple[Rule, ...] = ()

    def __init__(self, scenario: Scenario, clock: SandboxClock, faults: FaultPlan | None = None):
        self.scenario = scenario
        self.clock = clock
        self.faults = FaultInjector(faults or FaultPlan())
        self.served: Counter[str] = Counter()
        self._map = Map([r.empty() for r in (*self.rules, *_CONTROL_RULES)], strict_slashes=False)
        self._lock = threading.Lock()

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

    # control endpoints shared by every service
    def sandbox_clock(self, request: Request) -> Response:
        return json_response({"now": self.clock.now().isoformat()})

    def sandbox_advance(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        try:
            delta = timedelta(
                days=float(body.get("days", 0)),
                hours=float(body.get("hours", 0)),
                minutes=float(body.get("minutes", 0)),
            )
            now = self.clock.advance(delta)
        except (TypeError, ValueError) as err:
            return json_response({"message": str(err)}, 400)
        self.on_advance(now)
        return json_response({"now": now.isoformat()})

    def on_advance(self, now: datetime) -> None:
        """Hook: the clock moved (services drop caches here)."""

    def sandbox_stats(self, request: Request) -> Response:
        return json_response({"served": dict(self.served), "faults": dict(self.faults.injected)})

    # WSGI
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except NotFound:
            return self.not_found(request)
        except HTTPException as err:
            return json_response({"message": err.description}, err.code or 500)
        with self._lock:
            self.served[str(endpoint)] += 1
        if not str(endpoint).startswith("sandbox_"):
            fault = self.faults.draw(request.path)
            if fault is not None:
                faulted = self._fault(request, fault, endpoint, values)
                if faulted is not None:
                    return faulted
            refused = self.authenticate(request)
            if refused is not None:
                return refused
        handler: Handler = getattr(self, str(endpoint))
        return handler(request, **values)

    def _fault(
        self, request: Request, kind: str, endpoint: str, values: Mapping[str, Any]
    ) -> Response | None:
        plan = self.faults.plan
        if kind in ("429", "429-date"):
            return self.rate_limited(request, plan.retry_after, kind == "429-date")
        if kind in ("500", "502", "503"):
            return self.error_response(int(kind), "sandbox fault injection")
        if kind == "slow":
            time.sleep(plan.slow_seconds)
            return None
        handler: Handler = getattr(self, endpoint)
        good = handler(request, **values)
        body = good.get_data()
        if kind == "malformed":
            return Response(
                b"<html>502 Bad Gateway</html>" + body[:20], status=200, mimetype="application/json"
            )
        if kind == "truncated":
            return Response(body[: max(1, len(body) // 2)], status=200, mimetype="application/json")
        if kind == "reset":
            return _ResetResponse(body, request.environ.get("werkzeug.socket"))
        return None


class _ResetResponse(Response):
    """Sends half the body, then resets the connection (TCP RST)."""

    def __init__(self, body: bytes, sock: socket.socket | None) -> None:
        super().__init__(self._chunks(body, sock), status=200, mimetype="application/json")
        self.headers["Content-Length"] = str(len(body))

    @staticmethod
    def _chunks(body: bytes, sock: socket.socket | None) -> Iterator[bytes]:
        yield body[: len(body) // 2]
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise ConnectionResetError("sandbox fault injection: connection reset mid-body")


_CONTROL_RULES = (
    Rule("/_sandbox/clock", endpoint="sandbox_clock", methods=["GET"]),
    Rule("/_sandbox/advance", endpoint="sandbox_advance", methods=["POST"]),
    Rule("/_sandbox/stats", endpoint="sandbox_stats", methods=["GET"]),
)


# --- serving ------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """A request handler that does not log every request to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def log_error(self, format: str, *args: Any) -> None:
        return

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error" and "sandbox fault injection" not in (
            message % args if args else message
        ):
            super().log(type, message, *args)


@dataclass
class TLSMaterial:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""

    ca_bundle: Path
    server_context: ssl.SSLContext

    @classmethod
    def create(cls, directory: Path) -> TLSMaterial:
        """Make a CA with trustme, write its bundle to ``directory``, return both."""
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        directory.mkdir(parents=True, exist_ok=True)
        bundle = directory / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        return cls(ca_bundle=bundle, server_context=context)


@dataclass
class RunningService:
    """A service being served on 127.0.0.1 in a background thread."""

    service: Service
    server: BaseWSGIServer
    thread: threading.Thread
    scheme: str = "http"
    prefix: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        """Return the port actually bound (useful with port 0)."""
        return int(self.server.port)

    @property
    def url(self) -> str:
        """Return the base URL clients should use."""
        return f"{self.scheme}://127.0.0.1:{self.port}{self.prefix}"

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
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
    server = make_server(
        "127.0.0.1",
        port,
        service,
        threaded=True,
        request_handler=_QuietHandler,
        ssl_context=tls,
    )
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
