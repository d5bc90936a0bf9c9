"""The demo's inbox: a local SMTP server and a webhook receiver that print what arrives.

``pmsync demo`` fires real alerts on the sandbox and delivers them through the
real channels, so the committed ``config/pmsync.yaml`` routes them to an
e-mail receiver on 127.0.0.1:8025 and a webhook on 127.0.0.1:8026. This module
starts both (``aiosmtpd``, and an HTTP server on loopback that checks the
HMAC signature when the receiver has a secret), then after each check prints
the messages that came in: for an e-mail its subject, recipients and first
lines; for a webhook call its title and alerts. Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller

from pmsync.cli._common import console
from pmsync.config import Config
from pmsync.config.settings import EmailReceiver, WebhookReceiver
from pmsync.store import Store

LOOPBACK = ("127.0.0.1", "localhost")
SHOWN = 12
"""State changes printed per check (the rest: ``pmsync alerts list``)."""


@dataclass
class Arrival:
    """One message the inbox received."""

    channel: str
    receiver: str
    title: str
    lines: list[str] = field(default_factory=list)


class _Mailbox:
    def __init__(self, receiver: str, arrived: Callable[[Arrival], None]) -> None:
        self.receiver, self.arrived = receiver, arrived

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        text = message.get_body(preferencelist=("plain",))
        body = text.get_content() if text is not None else ""
        lines = [f"to: {', '.join(envelope.rcpt_tos)}"]
        lines += [line for line in body.splitlines() if line.strip()][1:7]
        self.arrived(Arrival("e-mail", self.receiver, str(message["Subject"]), lines))
        return "250 Message accepted"


def _hook_handler(
    receiver: str, secret: bytes | None, arrived: Callable[[Arrival], None]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            signed = "unsigned"
            if secret is not None:
                stamp = self.headers.get("X-Pmsync-Timestamp", "")
                mac = hmac.new(secret, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
                good = hmac.compare_digest(self.headers.get("X-Pmsync-Signature", ""), "v1=" + mac)
                signed = "signature verified" if good else "BAD SIGNATURE"
            payload = json.loads(raw)
            lines = [f"{payload['status']}, {signed}"] + [
                f"{a['status']} {a['severity']} {a['rule']}: {a['summary']}"
                for a in payload.get("alerts", [])
            ]
            arrived(Arrival("webhook", receiver, payload.get("title", ""), lines))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class DemoInbox:
    """Local servers for the configured e-mail and webhook receivers on loopback."""

    def __init__(self, config: Config) -> None:
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._controllers: list[Controller] = []
        self._servers: list[ThreadingHTTPServer] = []
        self.config = config

    def _arrived(self, arrival: Arrival) -> None:
        with self._lock:
            self.arrivals.append(arrival)

    def start(self) -> DemoInbox:
        """Start a server for each loopback e-mail or webhook receiver; return self."""
        for name, receiver in sorted(self.config.settings.receivers.items()):
            if isinstance(receiver, EmailReceiver) and receiver.smtp_host in LOOPBACK:
                controller = Controller(
                    _Mailbox(name, self._arrived), hostname="127.0.0.1", port=receiver.smtp_port
                )
                controller.start()
                self._controllers.append(controller)
            elif isinstance(receiver, WebhookReceiver):
                url = urlsplit(receiver.url)
                if url.hostname not in LOOPBACK or url.port is None:
                    continue
                secret = receiver.signing_secret
                key = secret.reveal().encode() if secret is not None else None
                handler = _hook_handler(name, key, self._arrived)
                server = ThreadingHTTPServer(("127.0.0.1", url.port), handler)
                threading.Thread(target=server.serve_forever, daemon=True).start()
                self._servers.append(server)
        return self

    def stop(self) -> None:
        """Stop every server the inbox started."""
        for controller in self._controllers:
            controller.stop()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def take(self) -> list[Arrival]:
        """Return what arrived since the last call."""
        with self._lock:
            taken, self.arrivals = self.arrivals, []
        return taken


def check_and_show(
    store: Store, config: Config, now: Callable[[], datetime], inbox: DemoInbox
) -> None:
    """Run one check (rules, alerts, delivery) and print what it changed and what arrived."""
    from pmsync.alerts import run_check
    from pmsync.rules import evaluate_rules

    findings = evaluate_rules(store, config, now)
    report = run_check(store, config, findings, now)
    states: dict[str, int] = {}
    for t in report.changes.transitions:
        states[t.after] = states.get(t.after, 0) + 1
    moved = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no change"
    console.print(
        f"{len(findings)} findings; alerts: {moved}; "
        f"notifications: {len(report.dispatch.sent)} sent, "
        f"{len(report.dispatch.retrying) + len(report.dispatch.failed)} failed",
        highlight=False,
    )
    changes = report.changes.transitions
    for t in changes[:SHOWN]:
        line = f"  {t.before or 'new'} -> {t.after}: {t.labels.get('project', '')} {t.rule}"
        console.print(f"{line}: {t.summary}", markup=False, highlight=False)
    if len(changes) > SHOWN:
        more = len(changes) - SHOWN
        console.print(f"  ... and {more} more (pmsync alerts list)", highlight=False)
    arrived = inbox.take()
    if not arrived:
        console.print("nothing arrived (nothing new to say)", highlight=False)
    for a in arrived:
        console.print(f"[{a.channel} to {a.receiver}] {a.title}", markup=False, highlight=False)
        for line in a.lines[:8]:
            console.print(f"    {line}", markup=False, highlight=False)
