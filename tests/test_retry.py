"""The retry policy every connector shares: what is retried, how long it waits, when it stops.

Waits are recorded by an injected sleep (nothing really sleeps) except in the
tests against a real local HTTP server, which keep their timeouts at 0.2 s.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pmsync.connectors import ConnectorContext
from pmsync.errors import (
    AuthenticationError,
    FatalSourceError,
    RateLimited,
    SourceError,
    TransientSourceError,
)
from pmsync.retry import (
    DEFAULT_RATE_LIMIT_WAIT,
    RetryPolicy,
    classify_http,
    configure_requests_session,
    parse_retry_after,
    retrying,
)

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
WHAT = "GET /rest/api/3/search/jql"
NO_JITTER = RetryPolicy(jitter=lambda: 1.0)  # backoff exactly base * 2**(n-1), capped


def http_date(delta: float) -> str:
    return format_datetime(NOW + timedelta(seconds=delta), usegmt=True)


def epoch(delta: float) -> str:
    return str(int((NOW + timedelta(seconds=delta)).timestamp()))


class Sleeps(list[float]):
    """A fake sleep that records what it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_context(budget: float = 300.0, timeout: float = 30.0) -> tuple[ConnectorContext, Sleeps]:
    sleeps = Sleeps()
    context = ConnectorContext(
        source_name="jira-main",
        now=lambda: NOW,
        retry_budget=budget,
        request_timeout=timeout,
        sleep=sleeps,
    )
    return context, sleeps


class Source:
    """A request function that fails with the given errors, then answers ``"ok"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def answer(status: int, headers: dict[str, str] | None = None, body: str = "") -> SourceError:
    error = classify_http(status, headers or {}, body, now=NOW, what=WHAT)
    assert error is not None
    return error


# --------------------------------------------------------------------------- classification

GITHUB_SECONDARY = json.dumps(
    {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
        "before you try again.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
    }
)
GITHUB_PRIMARY = json.dumps({"message": "API rate limit exceeded for user ID 1."})
GITHUB_NO_ACCESS = json.dumps({"message": "Resource not accessible by integration"})
GOOGLE_403 = json.dumps(
    {
        "error": {
            "errors": [{"domain": "usageLimits", "reason": "%s", "message": "Rate Limit Exceeded"}],
            "code": 403,
            "message": "Rate Limit Exceeded",
        }
    }
)
GOOGLE_FORBIDDEN = json.dumps(
    {
        "error": {
            "errors": [{"domain": "global", "reason": "forbidden", "message": "Forbidden"}],
            "code": 403,
            "message": "Forbidden",
        }
    }
)
JIRA_BAD_JQL = json.dumps({"errorMessages": ["Field 'sprintx' does not exist."], "errors": {}})

CLASSIFICATION = [
    # (status, headers, body) -> error class, wait asked (None: not a rate limit)
    pytest.param(200, {}, "", None, None, id="200 ok"),
    pytest.param(304, {"ETag": '"abc"'}, "", None, None, id="304 not modified"),
    pytest.param(429, {"Retry-After": "30"}, "", RateLimited, 30.0, id="429 seconds"),
    pytest.param(429, {"retry-after": http_date(120)}, "", RateLimited, 120.0, id="429 date"),
    pytest.param(429, {}, "", RateLimited, DEFAULT_RATE_LIMIT_WAIT, id="429 no hint"),
    pytest.param(
        429,
        {"X-RateLimit-Reset": (NOW + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%MZ")},
        "",
        RateLimited,
        (NOW.replace(second=0) + timedelta(minutes=5) - NOW).total_seconds(),
        id="429 jira ISO reset",
    ),
    pytest.param(429, {"RateLimit-Reset": "7"}, "", RateLimited, 7.0, id="429 RateLimit-Reset"),
    pytest.param(
        429,
        {"Retry-After": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(600)},
        "",
        RateLimited,
        601.0,
        id="429 longest of Retry-After and exhausted reset",
    ),
    pytest.param(
        403,
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(600)},
        GITHUB_PRIMARY,
        RateLimited,
        601.0,
        id="403 github primary",
    ),
    pytest.param(
        403, {"Retry-After": "45"}, GITHUB_SECONDARY, RateLimited, 45.0, id="403 github secondary"
    ),
    pytest.param(
        403,
        {"X-RateLimit-Remaining": "14", "X-RateLimit-Reset": epoch(3000)},
        GITHUB_SECONDARY,
        RateLimited,
        DEFAULT_RATE_LIMIT_WAIT,
        id="403 github secondary without Retry-After waits a minute, not the primary reset",
    ),
    pytest.param(
        403, {}, GOOGLE_403 % "rateLimitExceeded", RateLimited, 60.0, id="403 google rate"
    ),
    pytest.param(
        403, {}, GOOGLE_403 % "userRateLimitExceeded", RateLimited, 60.0, id="403 google user"
    ),
    pytest.param(401, {}, "", AuthenticationError, None, id="401"),
    pytest.param(403, {}, GITHUB_NO_ACCESS, AuthenticationError, None, id="403 github no access"),
    pytest.param(403, {}, GOOGLE_FORBIDDEN, AuthenticationError, None, id="403 google forbidden"),
    pytest.param(408, {}, "", TransientSourceError, None, id="408"),
    pytest.param(500, {}, "", TransientSourceError, None, id="500"),
    pytest.param(502, {}, "<html>bad gateway</html>", TransientSourceError, None, id="502"),
    pytest.param(504, {}, "", TransientSourceError, None, id="504"),
    pytest.param(503, {"Retry-After": "20"}, "", RateLimited, 20.0, id="503 with Retry-After"),
    pytest.param(400, {}, JIRA_BAD_JQL, FatalSourceError, None, id="400 bad JQL"),
    pytest.param(404, {}, "", FatalSourceError, None, id="404"),
    pytest.param(410, {}, "", FatalSourceError, None, id="410 gone"),
]


@pytest.mark.parametrize(("status", "headers", "body", "expected", "wait"), CLASSIFICATION)
def test_an_http_answer_is_classified_by_consequence(
    status: int,
    headers: dict[str, str],
    body: str,
    expected: type[SourceError] | None,
    wait: float | None,
) -> None:
    error = classify_http(status, headers, body, now=NOW, what=WHAT)
    if expected is None:
        assert error is None
        return
    assert type(error) is expected
    assert WHAT in str(error) and str(status) in str(error)
    if wait is None:
        assert not isinstance(error, RateLimited)
    else:
        assert isinstance(error, RateLimited)
        assert error.retry_after == pytest.approx(wait, abs=0.001)


def test_the_source_explanation_is_kept_and_bodies_as_bytes_work() -> None:
    error = classify_http(400, {}, JIRA_BAD_JQL.encode(), now=NOW, what=WHAT)
    assert isinstance(error, FatalSourceError)
    assert "Field 'sprintx' does not exist." in str(error)


def test_an_error_message_never_carries_a_credential() -> None:
    what = "GET https://bot:s3cr3t@jira.example.com/rest/api/3/myself?access_token=tok123"
    error = classify_http(401, {"WWW-Authenticate": "Basic"}, "", now=NOW, what=what)
    assert isinstance(error, AuthenticationError)
    assert "401" in str(error) and "jira.example.com/rest/api/3/myself" in str(error)
    assert "s3cr3t" not in str(error) and "tok123" not in str(error)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("-3", 0.0),
        (http_date(90), 90.0),
        (http_date(-90), 0.0),
        ("Fri, 14 Mar 2025 09:30:00 GMT", 187.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_http_date(value: str | None, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


# --------------------------------------------------------------------------- retrying


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "7"}, {"Retry-After": http_date(93)}],
    ids=["seconds", "http-date"],
)
def test_a_rate_limit_waits_exactly_what_the_source_asked(headers: dict[str, str]) -> None:
    context, sleeps = make_context()
    asked = parse_retry_after(headers["Retry-After"], NOW)
    source = Source(answer(429, headers))
    assert retrying(source, context=context, what=WHAT, policy=NO_JITTER) == "ok"
    assert sleeps == [asked]  # the 1 s backoff is shorter, so the source's wait wins
    assert context.stats.retries == 1 and context.stats.waited_seconds == asked


def test_a_rate_limit_is_never_waited_shorter_even_when_backoff_is_random() -> None:
    for seed in range(20):
        context, sleeps = make_context()
        source = Source(*[answer(429, {"Retry-After": "3"}) for _ in range(5)])
        policy = RetryPolicy(jitter=random.Random(seed).random)
        retrying(source, context=context, what=WHAT, policy=policy)
        assert len(sleeps) == 5 and min(sleeps) >= 3.0


def test_5xx_is_retried_with_growing_capped_waits_until_it_succeeds() -> None:
    context, sleeps = make_context()
    failures = [answer(s) for s in (500, 502, 503, 502, 500, 503)]
    source = Source(*failures)
    policy = RetryPolicy(base=1.0, cap=8.0, jitter=lambda: 1.0)
    assert retrying(source, context=context, what=WHAT, policy=policy) == "ok"
    assert source.calls == 7
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert context.stats.retries == 6 and context.stats.waited_seconds == 31.0


def test_jitter_is_full_and_repeatable_with_a_seed() -> None:
    def run(seed: int) -> list[float]:
        context, sleeps = make_context()
        source = Source(*[answer(503) for _ in range(6)])
        retrying(
            source,
            context=context,
            what=WHAT,
            policy=RetryPolicy(jitter=random.Random(seed).random),
        )
        return list(sleeps)

    first = run(42)
    assert first == run(42) and first != run(43)
    assert all(0 <= wait <= min(60.0, 2 ** (n - 1)) for n, wait in enumerate(first, start=1))


@pytest.mark.parametrize(
    "failure",
    [answer(401), answer(403, {}, GITHUB_NO_ACCESS), answer(404), answer(400, {}, JIRA_BAD_JQL)],
    ids=["401", "403 not a rate limit", "404", "400"],
)
def test_authentication_and_fatal_errors_are_raised_at_once(failure: SourceError) -> None:
    context, sleeps = make_context()
    source = Source(failure)
    with pytest.raises(type(failure)) as raised:
        retrying(source, context=context, what=WHAT)
    assert raised.value is failure
    assert source.calls == 1 and sleeps == [] and context.stats.retries == 0


def test_when_the_budget_is_spent_it_gives_up_with_a_clear_error() -> None:
    context, sleeps = make_context(budget=10.0)
    last = answer(503)
    source = Source(*[answer(503) for _ in range(3)], last, answer(503))
    with pytest.raises(TransientSourceError, match=r"HTTP 503.*10 s retry budget is spent") as e:
        retrying(source, context=context, what=WHAT, policy=NO_JITTER)
    assert sleeps == [1.0, 2.0, 4.0]  # the next wait (8 s) would pass the 10 s budget
    assert source.calls == 4 and e.value.__cause__ is last
    assert context.stats.retries == 3 and context.stats.waited_seconds == 7.0


def test_a_retry_after_beyond_the_budget_gives_up_without_sleeping() -> None:
    context, sleeps = make_context(budget=300.0)
    source = Source(answer(429, {"Retry-After": "3600"}))
    with pytest.raises(
        RateLimited,
        match=r"asked to wait 3600 s, more than the 300 s left.*\(1 attempt, 0 s waited\)",
    ) as e:
        retrying(source, context=context, what=WHAT)
    assert sleeps == [] and source.calls == 1
    assert e.value.retry_after == 3600.0  # the scheduler can still honour it


def test_attempts_are_bounded_even_when_waits_are_tiny() -> None:
    context, sleeps = make_context()
    source = Source(*[answer(502) for _ in range(50)])
    with pytest.raises(
        TransientSourceError, match=r"limit of 4 attempts is reached \(4 attempts, \d+ s waited\)"
    ):
        retrying(source, context=context, what=WHAT, policy=RetryPolicy(max_attempts=4))
    assert source.calls == 4 and len(sleeps) == 3


class LibraryError(Exception):
    """Stands in for JIRAError / GithubException / HttpError: a status and headers."""

    def __init__(self, status: int, headers: dict[str, str], body: str = "") -> None:
        super().__init__(f"HTTP {status} Authorization: Bearer tok123")
        self.status, self.headers, self.body = status, headers, body


def library_classifier(err: BaseException) -> SourceError | None:
    if isinstance(err, LibraryError):
        return classify_http(err.status, err.headers, err.body, now=NOW, what=WHAT)
    return None


def test_library_exceptions_are_translated_once_keeping_the_cause() -> None:
    context, sleeps = make_context()
    throttled = LibraryError(429, {"Retry-After": "2"})
    refused = LibraryError(401, {})
    source = Source(throttled, requests.ConnectionError("reset"), refused)
    with pytest.raises(AuthenticationError) as raised:
        retrying(source, context=context, what=WHAT, classify=library_classifier, policy=NO_JITTER)
    assert raised.value.__cause__ is refused
    assert sleeps == [2.0, 2.0]  # Retry-After 2 s, then backoff 2 s for the reset
    assert "tok123" not in str(raised.value)


def test_an_unknown_exception_is_not_retried_or_disguised() -> None:
    context, sleeps = make_context()
    source = Source(KeyError("fields"))
    with pytest.raises(KeyError):
        retrying(source, context=context, what=WHAT)
    assert source.calls == 1 and sleeps == []


def test_retries_log_at_debug_and_the_give_up_once_at_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context, _ = make_context(budget=5.0)
    what = "GET https://jira.example.com/rest/api/3/search/jql?token=tok123"
    source = Source(*[LibraryError(503, {}) for _ in range(10)])

    def classifier(err: BaseException) -> SourceError | None:
        assert isinstance(err, LibraryError)
        return classify_http(err.status, err.headers, now=NOW, what=what)

    with caplog.at_level(logging.DEBUG, logger="pmsync.connector"), pytest.raises(SourceError):
        retrying(source, context=context, what=what, classify=classifier, policy=NO_JITTER)
    levels = Counter(r.levelno for r in caplog.records)
    assert levels == {logging.DEBUG: 2, logging.WARNING: 1}
    assert "gave up" in caplog.records[-1].getMessage()
    assert all("tok123" not in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- a real HTTP server


class Handler(BaseHTTPRequestHandler):
    """``/flaky`` resets mid-body the first time; ``/slow`` answers after 1 s; ``/500``;
    ``/repos/...`` answers 502, 502, then the repository."""

    hits: Counter[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.hits[self.path] += 1
        if self.path == "/flaky" and self.hits[self.path] == 1:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"issues": [')
            self.wfile.flush()
            # SO_LINGER 0: close with a TCP RST, as a dropped proxy connection does
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if self.path == "/slow":
            time.sleep(1.0)
        status = 500 if self.path == "/500" else 200
        body = b'{"issues": []}'
        if self.path.startswith("/repos/"):  # a GitHub repository behind a flaky gateway
            status = 200 if self.hits[self.path] % 3 == 0 else 502
            repo = {"id": 1, "name": "portal", "full_name": "acme/portal"}
            body = json.dumps(repo if status == 200 else {"message": "Bad Gateway"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[SimpleNamespace]:
    hits: Counter[str] = Counter()
    handler = type("CountingHandler", (Handler,), {"hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}", hits=hits)
    finally:
        httpd.shutdown()
        httpd.server_close()


def get_json(session: requests.Session, url: str) -> Callable[[], Any]:
    def fetch() -> Any:
        response = session.get(url)
        response.raise_for_status()
        return response.json()

    return fetch


def test_a_connection_reset_mid_body_is_retried_and_succeeds(server: SimpleNamespace) -> None:
    context, sleeps = make_context()
    session = configure_requests_session(requests.Session(), timeout=0.2, stats=context.stats)
    fetch = get_json(session, f"{server.url}/flaky")
    assert retrying(fetch, context=context, what="GET /flaky", policy=NO_JITTER) == {"issues": []}
    assert server.hits["/flaky"] == 2 and sleeps == [1.0]
    assert context.stats.requests == 2 and context.stats.retries == 1


def test_the_timeout_is_applied_to_requests_that_set_none(server: SimpleNamespace) -> None:
    session = configure_requests_session(requests.Session(), timeout=0.2)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        session.get(f"{server.url}/slow")  # no timeout= here: the session's applies
    assert time.monotonic() - started < 0.9  # the server answers only after 1 s

    context, _ = make_context(budget=0.0)
    with pytest.raises(TransientSourceError, match="GET /slow: no answer within the timeout"):
        retrying(get_json(session, f"{server.url}/slow"), context=context, what="GET /slow")


def test_urllib3_retries_mounted_by_a_library_are_removed(server: SimpleNamespace) -> None:
    session = requests.Session()
    hidden = Retry(total=3, status_forcelist=[500], backoff_factor=0, raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=hidden))
    assert session.get(f"{server.url}/500", timeout=1).status_code == 500
    assert server.hits["/500"] == 4  # urllib3 retried three times, unseen and uncounted

    configure_requests_session(session, timeout=0.2)
    assert session.get(f"{server.url}/500").status_code == 500
    assert server.hits["/500"] == 5  # one request, one answer: pmsync decides


# --------------------------------------------------------------------------- why not the libraries'


@pytest.fixture
def jira_sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Record the waits jira.resilientsession would sleep, at the top of its jitter."""
    from jira import resilientsession

    sleeps = Sleeps()
    monkeypatch.setattr(resilientsession, "time", SimpleNamespace(sleep=sleeps))
    monkeypatch.setattr(resilientsession, "random", SimpleNamespace(uniform=lambda a, b: b))
    return sleeps


@responses.activate
def test_jira_resilient_session_shortens_a_long_retry_after(jira_sleeps: Sleeps) -> None:
    from jira.resilientsession import ResilientSession

    url = "https://jira.example.com/rest/api/2/serverInfo"
    responses.get(url, status=429, headers={"Retry-After": "600"})
    responses.get(url, json={"version": "9.12.0"})
    session = ResilientSession(max_retries=1)
    assert session.get(url).status_code == 200
    assert jira_sleeps == [60.0]  # asked for 600 s, waited at most min(60, 2 * 600)


@responses.activate
def test_jira_resilient_session_crashes_on_an_http_date_retry_after(jira_sleeps: Sleeps) -> None:
    from jira.resilientsession import ResilientSession

    url = "https://jira.example.com/rest/api/2/serverInfo"
    responses.get(url, status=503, headers={"Retry-After": http_date(30)})
    with pytest.raises(ValueError, match="invalid literal for int"):
        ResilientSession(max_retries=1).get(url)


@responses.activate
def test_jira_resilient_session_does_not_retry_502(jira_sleeps: Sleeps) -> None:
    from jira.exceptions import JIRAError
    from jira.resilientsession import ResilientSession

    url = "https://jira.example.com/rest/api/2/serverInfo"
    responses.get(url, status=502)
    responses.get(url, json={"version": "9.12.0"})
    with pytest.raises(JIRAError):
        ResilientSession(max_retries=3).get(url)
    assert len(responses.calls) == 1 and jira_sleeps == []


@responses.activate
def test_a_configured_jira_session_leaves_the_wait_to_pmsync(jira_sleeps: Sleeps) -> None:
    from jira.exceptions import JIRAError
    from jira.resilientsession import ResilientSession

    url = "https://jira.example.com/rest/api/2/serverInfo"
    responses.get(url, status=429, headers={"Retry-After": "600"})
    responses.get(url, json={"version": "9.12.0"})
    session = configure_requests_session(ResilientSession(max_retries=3), timeout=5.0)

    def jira_classifier(err: BaseException) -> SourceError | None:
        if isinstance(err, JIRAError) and err.response is not None:
            r = err.response
            return classify_http(r.status_code, r.headers, r.content, now=NOW, what=WHAT)
        return None

    context, sleeps = make_context(budget=900.0)
    result = retrying(
        lambda: session.get(url).json(), context=context, what=WHAT, classify=jira_classifier
    )
    assert result == {"version": "9.12.0"}
    assert jira_sleeps == [] and sleeps == [600.0]  # pmsync waited the whole 600 s
    assert responses.calls[0].request.req_kwargs["timeout"] == 5.0  # type: ignore[attr-defined]


def test_pygithub_default_retry_repeats_5xx_without_any_backoff(
    server: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import github
    from urllib3.util import retry as urllib3_retry

    slept = Sleeps()
    monkeypatch.setattr(urllib3_retry, "time", SimpleNamespace(sleep=slept))
    gh = github.Github(base_url=server.url, seconds_between_requests=None)
    assert gh.get_repo("acme/portal").full_name == "acme/portal"
    assert server.hits["/repos/acme/portal"] == 3 and slept == []  # two 502s, no wait at all

    server.hits.clear()
    gh = github.Github(base_url=server.url, retry=None, seconds_between_requests=None)
    with pytest.raises(github.GithubException) as raised:
        gh.get_repo("acme/portal").full_name  # noqa: B018 - the attribute fetches the repo
    assert raised.value.status == 502 and server.hits["/repos/acme/portal"] == 1
