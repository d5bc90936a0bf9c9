"""A generic JSON webhook, signed with HMAC-SHA256 so the receiver knows it is from us.

The request (documented in docs/alerts.md with a verification recipe)::

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <uuid>            the same on every retry of this message
    X-Pmsync-Timestamp: <unix seconds> when this attempt was signed
    X-Pmsync-Signature: v1=<hex>       HMAC-SHA256(secret, "<timestamp>." + raw body)

Signing the timestamp with the body lets a receiver refuse replays (reject
timestamps older than a few minutes) as well as forgeries. The body is the
outbox payload plus the rendered ``title`` and ``text``; it is "HTML-safe" JSON
(``<``, ``>`` and ``&`` written as ``\\u003c`` …, as Go's encoder does), so a
receiver that pastes it into a web page cannot be scripted by an issue title.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pmsync.alerts.channels.base import Channel, post
from pmsync.config.settings import WebhookReceiver

FORMAT_VERSION = "1"


def html_safe_json(value: Any) -> bytes:
    """Return ``value`` as compact UTF-8 JSON with ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode("utf-8")
    )


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Pmsync-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(
        secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256
    )
    return "v1=" + digest.hexdigest()


class WebhookChannel(Channel):
    """POSTs alerts as signed JSON."""

    settings: WebhookReceiver

    def render(self, payload: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        """Return the JSON document (version 1)."""
        return {
            "version": FORMAT_VERSION,
            **payload,
            "title": context["title"],
            "text": self.templates.render("text", context),
        }

    def send(self, message: dict[str, Any], key: str, at: datetime) -> None:
        """Sign and POST the document; ``key`` goes in ``Idempotency-Key`` and ``id``."""
        body = html_safe_json({"id": key, **message})
        timestamp = str(int(at.timestamp()))
        headers = {
            **self.settings.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Pmsync-Timestamp": timestamp,
        }
        if self.settings.signing_secret is not None:
            headers["X-Pmsync-Signature"] = signature(
                self.settings.signing_secret.reveal(), timestamp, body
            )
        post(self.settings.url, body, headers, self.timeout, at)
