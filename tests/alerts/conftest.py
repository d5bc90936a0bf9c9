"""Helpers for the alerting tests: a moving clock, configs, findings and REAL servers.

* ``HttpReceiver``: an HTTP server on 127.0.0.1 that records every POST, can be
  told to answer with given status codes, to be slow, or to go down (stopped:
  connections are refused) and come back on the same port. With a secret, it
  verifies the HMAC signature exactly as docs/alerts.md tells receivers to.
* ``smtp_server``: an aiosmtpd server, plain, STARTTLS with AUTH, or implicit
  TLS, with a certificate from a throwaway CA (trustme).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pmsync.alerts import Evidence, EvidenceItem, Finding
from pmsync.config import Config, load_config

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
HOOK_SECRET = "s3cret-signing-key"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


def finding(
    summary: str = "Milestone Beta forecast 12 days late",
    *,
    rule: str = "milestone_slip",
    severity: str = "warning",
    project: str = "PAY",
    kind: str = "milestone",
    subject: str = "Beta",
    **labels: str,
) -> Finding:
    """Return a finding about ``kind`` ``subject`` of ``project``."""
    extra = {kind: subject} if kind in ("milestone", "deliverable", "person", "risk") else {}
    return Finding(
        rule=rule,
        severity=severity,  # type: ignore[arg-type]
        labels={"project": project, "subject_kind": kind, "subject_id": subject, **extra, **labels},
        summary=summary,
        evidence=Evidence(
            {"forecast finish (P85)": "2025-06-12", "days late": 12, "SPI": 0.81},
            (
                EvidenceItem(
                    "Payment gateway", "https://jira.example/browse/PAY-7", "PAY-7", "open"
                ),
            ),
        ),
        action="Agree a new date with the sponsor or cut scope",
    )


@pytest.fixture
def make_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Config]:
    """Write a pmsync.yaml with ``receivers`` and ``routing`` and load it."""
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)

    def build(
        receivers: dict[str, Any], routing: dict[str, Any] | None = None, **top: Any
    ) -> Config:
        directory = tmp_path / "config"
        directory.mkdir(exist_ok=True)
        settings = {
            "timezone": "Europe/Berlin",
            "database": {"var_dir": str(tmp_path / "var")},
            "receivers": receivers,
            "routing": {
                "pending": "0s",
                "group_wait": "0s",
                "report_url": "https://reports.example/{project}/",
                **(routing or {}),
            },
            **top,
        }
        (directory / "pmsync.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))
        return load_config(directory, {})

    return build


# --- a real HTTP receiver ----------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def verify_signature(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """Verify X-Pmsync-Signature as docs/alerts.md tells receivers to."""
    timestamp = headers.get("X-Pmsync-Timestamp", "")
    sent = headers.get("X-Pmsync-Signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(sent, "v1=" + expected.hexdigest())


@dataclass
class HttpReceiver:
    """An HTTP server on loopback that records what it is sent."""

    secret: str | None = None
    clock: Callable[[], datetime] | None = None
    delay: float = 0.0
    script: list[int] = field(default_factory=list)
    """Status codes to answer with, in order; then 200."""
    retry_after: str | None = None
    received: list[Received] = field(default_factory=list)
    rejected: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got = Received(self.path, dict(self.headers.items()), body)
                time.sleep(receiver.delay)
                status, extra = 200, {}
                with receiver._lock:
                    if receiver.script:
                        status = receiver.script.pop(0)
                        if receiver.retry_after:
                            extra["Retry-After"] = receiver.retry_after
                    elif receiver.secret is not None and not verify_signature(
                        receiver.secret,
                        got.headers,
                        body,
                        (receiver.clock or (lambda: datetime.now(UTC)))().timestamp(),
                    ):
                        status = 401
                    (receiver.received if status < 300 else receiver.rejected).append(got)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"invalid_payload")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        # a short poll interval: stop() returns at once, not after up to half a second
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.received]


@pytest.fixture
def http_receiver() -> Iterator[Callable[..., HttpReceiver]]:
    started: list[HttpReceiver] = []

    def start(**options: Any) -> HttpReceiver:
        receiver = HttpReceiver(**options).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


# --- a real SMTP server --------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    ca_file: Path
    controller: Controller


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd: mode ``plain``, ``starttls`` (TLS + AUTH required) or ``implicit``."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)
    running: list[Controller] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"pmsync",
            b"mail-pw",
        )
        return AuthResult(success=ok, handled=False)  # let aiosmtpd answer 535

    def start(mode: str = "plain") -> SmtpServer:
        mailbox = Mailbox()
        port = _free_port()
        kwargs: dict[str, Any] = {}
        if mode == "starttls":
            kwargs = dict(
                tls_context=server_tls,
                require_starttls=True,
                authenticator=authenticator,
                auth_required=True,
            )
        elif mode == "implicit":
            # aiosmtpd only counts STARTTLS as TLS; this connection is TLS from the first byte.
            kwargs = dict(
                ssl_context=server_tls,
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=False,
            )
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        running.append(controller)
        return SmtpServer(mailbox, port, ca_file, controller)

    yield start
    for controller in running:
        controller.stop()
