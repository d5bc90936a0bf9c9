"""Health and metrics over HTTP, for systemd watchdogs, Kubernetes probes and Prometheus.

Three endpoints on ``daemon.health.host:port`` (127.0.0.1 by default: nothing
here is meant for the outside world):

* ``/healthz``: the process is alive and its scheduler ticks (the heartbeat ran
  recently). 503 means "restart me".
* ``/readyz``: the daemon can do its job: the database answers, its schema is
  at the newest migration, and the configuration on disk is valid (after a
  refused reload it keeps running on the previous configuration, but is not
  ready until the files are fixed). 503 names the failing check.
* ``/metrics``: Prometheus text format (see ``metrics.py``).

Bodies are small JSON documents so a person with ``curl`` reads them too.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from pmsync.store import Store

log = logging.getLogger("pmsync.daemon")


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness condition."""

    name: str
    ok: bool
    detail: str


def _reason(err: BaseException) -> str:
    inner = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    return lines[0] if lines else type(inner).__name__


def readiness(store: Store, config_problems: Sequence[str]) -> list[Check]:
    """Check the database, the migrations and the configuration."""
    checks: list[Check] = []
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks.append(Check("database", True, store.describe()))
    except SQLAlchemyError as err:
        checks.append(Check("database", False, f"{store.describe()} unreachable: {_reason(err)}"))
        checks.append(Check("migrations", False, "unknown: the database is unreachable"))
    else:
        try:
            current = store.is_current()
            detail = (
                "at the newest revision"
                if current
                else (
                    f"behind: the database is at {sorted(store.current_revisions()) or 'nothing'}; "
                    "run `pmsync db upgrade` or restart the daemon"
                )
            )
            checks.append(Check("migrations", current, detail))
        except SQLAlchemyError as err:
            checks.append(Check("migrations", False, f"cannot be read: {_reason(err)}"))
    if config_problems:
        detail = (
            f"the configuration on disk is invalid ({len(config_problems)} problem(s), first: "
            f"{config_problems[0]}); running on the previous one"
        )
        checks.append(Check("config", False, detail))
    else:
        checks.append(Check("config", True, "valid"))
    return checks


class HealthServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` served from a background thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        alive: Callable[[], tuple[bool, dict[str, Any]]],
        ready: Callable[[], list[Check]],
        registry: CollectorRegistry,
        scrub: Callable[[str], str] = lambda s: s,
    ) -> None:
        self.alive, self.ready, self.registry, self.scrub = alive, ready, registry, scrub
        self._server: BaseWSGIServer = make_server(host, port, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pmsync-health", daemon=True
        )

    @property
    def url(self) -> str:
        """Return the base URL (with the port actually bound)."""
        host, port = self._server.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{shown}:{port}"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def _json(self, status: int, payload: dict[str, Any]) -> Response:
        body = self.scrub(json.dumps(payload, indent=1, default=str))
        return Response(body, status=status, mimetype="application/json")

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self._route(request.path)
        except Exception as err:  # a probe must answer, even about its own failure
            log.exception("health endpoint %s failed", request.path)
            response = self._json(500, {"error": self.scrub(str(err))})
        return response(environ, start_response)

    def _route(self, path: str) -> Response:
        if path == "/healthz":
            ok, details = self.alive()
            return self._json(200 if ok else 503, {"status": "ok" if ok else "stalled", **details})
        if path == "/readyz":
            checks = self.ready()
            ready = all(c.ok for c in checks)
            payload = {
                "ready": ready,
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
            }
            return self._json(200 if ready else 503, payload)
        if path == "/metrics":
            return Response(generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST)
        return self._json(
            404, {"error": "not found", "endpoints": ["/healthz", "/readyz", "/metrics"]}
        )
