"""The one place where every connector retries a single request.

Why one place: an unattended daemon must wait as long as a source asks and no
longer than the admin allows, and it must never hammer a source that refused its
credentials. The client libraries pmsync drives each get this wrong in their own
way (``docs/retries.md`` cites their source), so connectors switch their retries
off and wrap every request in :func:`retrying` instead:

* :func:`classify_http` turns a status, headers and body into the error tree of
  ``pmsync.errors`` (Singer SDK style: classify once, at the boundary);
* :func:`retrying` calls a request function through tenacity: transient errors
  are retried with capped exponential backoff and full jitter, a rate limit waits
  at least what the source asked (``Retry-After``, rate-limit reset headers),
  authentication and fatal errors are raised at once, and the total time is
  bounded by ``ConnectorContext.retry_budget``;
* :func:`configure_requests_session` removes urllib3's hidden retries from a
  ``requests.Session`` and gives every request a timeout.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from pmsync.connectors import ConnectorContext, RequestStats
from pmsync.errors import (
    AuthenticationError,
    FatalSourceError,
    RateLimited,
    SourceError,
    TransientSourceError,
)

T = TypeVar("T")

DEFAULT_RATE_LIMIT_WAIT = 60.0
"""Seconds to wait on a rate limit that names no wait (GitHub asks for at least a minute)."""

_RATE_LIMIT_MARKERS = ("secondary rate limit", "rate limit exceeded", "ratelimitexceeded")
_BODY_SCAN_LIMIT = 65536
_DETAIL_LIMIT = 200


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How backoff grows: ``jitter() * min(cap, base * 2**(attempt - 1))`` seconds."""

    base: float = 1.0
    cap: float = 60.0
    max_attempts: int = 10
    jitter: Callable[[], float] = field(default=random.random)
    """Returns a float in [0, 1]; pass ``random.Random(seed).random`` for repeatable waits."""

    def backoff(self, attempt: int) -> float:
        """Return the jittered backoff after failed attempt number ``attempt`` (1-based)."""
        return self.jitter() * min(self.cap, self.base * 2 ** max(attempt - 1, 0))


DEFAULT_POLICY = RetryPolicy()


# --------------------------------------------------------------------------- parsing


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return the seconds a ``Retry-After`` value asks for (RFC 9110 §10.2.3), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return max(float(text), 0.0)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _parse_reset(value: str | None, now: datetime) -> float | None:
    """Seconds until a rate-limit reset: GitHub sends epoch seconds, Jira Cloud ISO 8601."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        when = datetime.fromtimestamp(int(text), UTC)
        # GitHub's reset is a whole second: wait into the next one, as its docs say "after".
        return max((when - now).total_seconds(), 0.0) + 1.0
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _text(body: str | bytes | None) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body[:_BODY_SCAN_LIMIT].decode("utf-8", errors="replace")
    return body[:_BODY_SCAN_LIMIT]


def _detail(text: str) -> str:
    """The source's own one-line explanation (Jira, GitHub, Google JSON shapes), if any."""
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    found: Any = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            found = error.get("message")
        found = found or data.get("message") or data.get("errorMessage")
        messages = data.get("errorMessages")
        if not found and isinstance(messages, list) and messages:
            found = "; ".join(str(m) for m in messages)
        errors = data.get("errors")
        if not found and isinstance(errors, dict) and errors:
            found = "; ".join(f"{k}: {v}" for k, v in errors.items())
    if not found:
        return ""
    one_line = " ".join(str(found).split())
    return one_line[:_DETAIL_LIMIT] + ("…" if len(one_line) > _DETAIL_LIMIT else "")


_URL_SECRETS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_QUERY = re.compile(r"\?[^\s'\")]*")


def redact(text: str) -> str:
    """Strip query strings and ``user:password@`` from URLs in ``text`` (tokens hide there)."""
    return _QUERY.sub("?…", _URL_SECRETS.sub(r"\g<scheme>…@", text))


# --------------------------------------------------------------------------- classification


def classify_http(
    status: int,
    headers: Mapping[str, str],
    body: str | bytes | None = None,
    *,
    now: datetime,
    what: str,
) -> SourceError | None:
    """Return the pmsync error an HTTP answer means, or None when it is a success."""
    if 200 <= status < 300 or status == 304:
        return None
    what = redact(what)
    text = _text(body)
    detail = _detail(text)
    said = f" ({detail})" if detail else ""
    # An HTTP-date is relative to the server's clock: its Date header, when it sent one.
    now = _server_date(headers) or now
    retry_after = parse_retry_after(_header(headers, "Retry-After"), now)
    remaining = (_header(headers, "X-RateLimit-Remaining") or "").strip()
    lowered = text.lower()
    rate_limited = status == 429 or (
        status == 403
        and (
            remaining == "0"
            or retry_after is not None
            or any(marker in lowered for marker in _RATE_LIMIT_MARKERS)
        )
    )
    if rate_limited:
        wait = _rate_limit_wait(headers, retry_after, remaining == "0", now)
        return RateLimited(
            f"{what}: HTTP {status}, rate limited; the source asks to wait {wait:.0f} s{said}",
            retry_after=wait,
        )
    if status in (401, 403):
        kind = "credentials refused" if status == 401 else "permission denied"
        return AuthenticationError(f"{what}: HTTP {status}, {kind}{said}")
    if status == 408 or status >= 500:
        if retry_after is not None:  # Jira sends 503 + Retry-After when a resource limit is hit
            return RateLimited(
                f"{what}: HTTP {status}, the source asks to wait {retry_after:.0f} s{said}",
                retry_after=retry_after,
            )
        return TransientSourceError(f"{what}: HTTP {status}{said}")
    return FatalSourceError(f"{what}: HTTP {status}{said}")


def _server_date(headers: Mapping[str, str]) -> datetime | None:
    value = _header(headers, "Date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _rate_limit_wait(
    headers: Mapping[str, str], retry_after: float | None, exhausted: bool, now: datetime
) -> float:
    """The longest wait the headers ask for; a default when they name none."""
    raw_reset = (_header(headers, "X-RateLimit-Reset") or "").strip()
    reset = _parse_reset(raw_reset, now)
    # GitHub's epoch reset is the primary window's and binds only when it is used up
    # (a secondary limit keeps it, an hour away); Jira's ISO reset is for this 429.
    binding = reset if (exhausted or not raw_reset.isdigit()) else None
    waits = [w for w in (retry_after, binding) if w is not None]
    if not waits:
        delta = parse_retry_after(_header(headers, "RateLimit-Reset"), now)
        if delta is not None:
            waits.append(delta)
    return max(waits) if waits else DEFAULT_RATE_LIMIT_WAIT


def raise_for_response(response: requests.Response, *, now: datetime, what: str) -> None:
    """Raise the pmsync error a ``requests`` response means; return if it is a success."""
    error = classify_http(
        response.status_code, response.headers, response.content, now=now, what=what
    )
    if error is not None:
        raise error


def classify_exception(err: BaseException, *, now: datetime, what: str) -> SourceError | None:
    """Translate a transport-level exception (requests, sockets) into the error tree."""
    what = redact(what)
    name = type(err).__name__
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return classify_http(
            err.response.status_code,
            err.response.headers,
            err.response.content,
            now=now,
            what=what,
        )
    if isinstance(err, requests.exceptions.SSLError) and "certificate" in str(err).lower():
        return FatalSourceError(f"{what}: TLS certificate not accepted ({name})")
    if isinstance(err, requests.Timeout | TimeoutError):
        return TransientSourceError(f"{what}: no answer within the timeout ({name})")
    if isinstance(
        err,
        requests.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError
        | ConnectionError,
    ):
        return TransientSourceError(f"{what}: connection failed ({name}: {redact(str(err))})")
    if isinstance(err, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return FatalSourceError(f"{what}: invalid URL ({name})")
    return None


Classifier = Callable[[BaseException], BaseException | None]


# --------------------------------------------------------------------------- retrying


@dataclass(slots=True)
class _Attempts:
    """What one :func:`retrying` call has spent so far."""

    active: float = 0.0
    waited: float = 0.0
    gave_up: str = ""


def retrying(
    fn: Callable[[], T],
    *,
    context: ConnectorContext,
    what: str,
    classify: Classifier | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> T:
    """Call ``fn`` (one request), retrying transient failures within the retry budget."""
    what = redact(what)
    log = context.logger
    sleep = time.sleep if context.sleep is None else context.sleep
    budget = context.retry_budget
    spent = _Attempts()

    def translate(err: Exception) -> BaseException | None:
        if classify is not None:
            found = classify(err)
            if found is not None:
                return found
        return classify_exception(err, now=context.now(), what=what)

    def attempt() -> T:
        started = time.monotonic()
        try:
            return fn()
        except SourceError:
            raise
        except Exception as err:
            translated = translate(err)
            if translated is None or translated is err:
                raise
            raise translated from err
        finally:
            spent.active += time.monotonic() - started

    def wait(state: RetryCallState) -> float:
        error = _failure(state)
        backoff = policy.backoff(state.attempt_number)
        if isinstance(error, RateLimited):
            return max(error.retry_after, backoff)
        return backoff

    def stop(state: RetryCallState) -> bool:
        error = _failure(state)
        left = budget - spent.active - spent.waited
        if state.attempt_number >= policy.max_attempts:
            spent.gave_up = f"the limit of {policy.max_attempts} attempts is reached"
        elif isinstance(error, RateLimited) and error.retry_after > left:
            spent.gave_up = (
                f"the source asked to wait {error.retry_after:.0f} s, more than the "
                f"{max(left, 0):.0f} s left of the {budget:.0f} s retry budget"
            )
        elif state.upcoming_sleep > left:
            spent.gave_up = f"the {budget:.0f} s retry budget is spent"
        return bool(spent.gave_up)

    def do_sleep(seconds: float) -> None:
        spent.waited += seconds
        context.stats.retries += 1
        context.stats.waited_seconds += seconds
        sleep(seconds)

    def before_sleep(state: RetryCallState) -> None:
        log.debug(
            "%s: %s; retry %d in %.1f s",
            context.source_name,
            _failure(state),
            state.attempt_number,
            state.upcoming_sleep,
        )

    def give_up(state: RetryCallState) -> T:
        error = _failure(state)
        tries = state.attempt_number
        message = (
            f"{error} — gave up: {spent.gave_up} "
            f"({tries} attempt{'s' if tries != 1 else ''}, {spent.waited:.0f} s waited)"
        )
        log.warning("%s: %s", context.source_name, message)
        final: TransientSourceError
        if isinstance(error, RateLimited):
            final = RateLimited(message, retry_after=error.retry_after)
        else:
            final = TransientSourceError(message)
        raise final from error

    retryer = Retrying(
        retry=retry_if_exception_type(TransientSourceError),
        wait=wait,
        stop=stop,
        sleep=do_sleep,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
        reraise=True,
    )
    result: T = retryer(attempt)
    return result


def _failure(state: RetryCallState) -> BaseException:
    assert state.outcome is not None and state.outcome.failed
    error = state.outcome.exception()
    assert error is not None
    return error


# --------------------------------------------------------------------------- requests sessions


class TimeoutHTTPAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` without urllib3 retries that applies a timeout when none is given."""

    __attrs__ = [*HTTPAdapter.__attrs__, "default_timeout"]

    def __init__(self, timeout: float | tuple[float, float], **kwargs: Any) -> None:
        self.default_timeout = timeout
        super().__init__(max_retries=0, **kwargs)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, timeout: Any = None, **kwargs: Any
    ) -> requests.Response:
        """Send ``request``, with the default timeout when the caller gave none."""
        return super().send(
            request, timeout=self.default_timeout if timeout is None else timeout, **kwargs
        )


def configure_requests_session(
    session: requests.Session,
    *,
    timeout: float | tuple[float, float],
    stats: RequestStats | None = None,
) -> requests.Session:
    """Disable urllib3 and library retries on ``session`` and give each request a timeout."""
    for prefix in list(session.adapters) or ["https://", "http://"]:
        old = session.adapters.get(prefix)
        pool: dict[str, Any] = {}
        if isinstance(old, HTTPAdapter):
            pool = {
                "pool_connections": getattr(old, "_pool_connections", 10),
                "pool_maxsize": getattr(old, "_pool_maxsize", 10),
            }
        session.mount(prefix, TimeoutHTTPAdapter(timeout, **pool))
    # jira's ResilientSession runs its own loop around Session.request; zero turns it off.
    if isinstance(getattr(session, "max_retries", None), int):
        session.max_retries = 0  # type: ignore[attr-defined]
    if stats is not None:

        def count(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            stats.requests += 1
            if response.status_code == 304:
                stats.not_modified += 1

        session.hooks.setdefault("response", []).append(count)
    return session
