"""What every channel shares: the contract, the error tree, and classifying HTTP answers.

::

    DeliveryError                 the message did not get through
    ├── TransientDeliveryError    5xx, 429, timeouts, refused connections, SMTP 4xx,
    │                             a template that fails: retried with backoff
    └── PermanentDeliveryError    refused credentials, a rejected message, a webhook
                                  that no longer exists: retrying cannot help

A channel renders the outbox payload with the templates, then sends it once;
it never retries itself (the outbox does, with the backoff persisted in the
row) and it classifies its library's errors once, here at the boundary. Error
messages name the host, never a URL: a Slack or Teams webhook URL is a secret.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from pmsync.alerts.templates import Templates, flat
from pmsync.errors import PmsyncError

USER_AGENT = "pmsync-alerts"
_SECRET_PATHS: set[str] = set()


class _HideSecretPaths(logging.Filter):
    """Hide secret webhook paths from urllib3's debug lines (``"POST /services/T/B/X"``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and _SECRET_PATHS:
            record.args = tuple(
                "/<secret path>" if isinstance(a, str) and a in _SECRET_PATHS else a
                for a in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_HideSecretPaths())


class DeliveryError(PmsyncError):
    """A message could not be delivered."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: the receiver is down, slow or asks us to wait."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: refused credentials, a rejected message, a gone webhook."""


class Channel(ABC):
    """Delivers outbox messages to one receiver."""

    def __init__(
        self,
        name: str,
        settings: Any,
        templates: Templates,
        *,
        config_dir: Path,
        timeout: timedelta,
    ) -> None:
        self.name = name
        self.settings = settings
        self.templates = templates
        self.config_dir = config_dir
        self.timeout = timeout.total_seconds()

    @abstractmethod
    def render(self, payload: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
        """Return the message in this channel's format (no secrets in it)."""

    @abstractmethod
    def send(self, message: Any, key: str, at: datetime) -> None:
        """Send ``message`` once; ``key`` is the idempotency key. Raise ``DeliveryError``."""


def host_of(url: str) -> str:
    """Return the host (and port) of ``url``: what errors and logs may show of it."""
    return urlsplit(url).netloc.rpartition("@")[2] or "the receiver"


def _retry_after(value: str | None, at: datetime) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return max(0.0, (when - at).total_seconds())


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    at: datetime,
    *,
    secret_url: bool = False,
) -> requests.Response:
    """POST ``body`` to ``url`` once; return a 2xx answer or raise a classified error."""
    shown = host_of(url)
    if secret_url:
        parts = urlsplit(url)
        _SECRET_PATHS.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    try:
        response = requests.post(
            url,
            data=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout as err:
        raise TransientDeliveryError(f"{shown} did not answer within {timeout:g}s") from err
    except requests.RequestException as err:
        # The exception's text contains the URL (a secret for Slack and Teams): name the host.
        raise TransientDeliveryError(f"cannot reach {shown}: {type(err).__name__}") from err
    status = response.status_code
    if 200 <= status < 300:
        return response
    answer = flat(response.text)[:200]
    said = f"{shown} answered HTTP {status}" + (f": {answer}" if answer else "")
    if status == 429 or status in (408, 425) or status >= 500:
        raise TransientDeliveryError(said, _retry_after(response.headers.get("Retry-After"), at))
    if status in (401, 403):
        raise PermanentDeliveryError(f"{said} (credentials or signature refused)")
    if status in (404, 410):
        raise PermanentDeliveryError(f"{said} (the webhook does not exist any more)")
    if 300 <= status < 400:
        raise PermanentDeliveryError(f"{said} (a redirect: configure the final URL)")
    raise PermanentDeliveryError(f"{said} (the message was rejected)")
