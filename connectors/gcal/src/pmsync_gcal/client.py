"""The Calendar API client: google-api-python-client over httplib2, retried by pmsync.

Why this module exists: every retry decision must go through
``pmsync.retry.retrying`` (which honours ``Retry-After`` and the retry budget),
while the libraries each hide their own. So:

* every request is executed with ``num_retries=0`` (googleapiclient would sleep
  ``rand() * 2**n`` and ignore ``Retry-After``), and the discovery document is
  the static one shipped with the library (no network fetch, no hidden retry);
* httplib2 gets the source's timeout and CA bundle, and counts every request
  (token refreshes included) into ``context.stats.requests``;
* the token endpoint is called through :class:`_TokenRequest`, which raises the
  classified pmsync error on 429/5xx instead of letting google-auth sleep and
  retry by itself;
* ``AuthorizedHttp`` refreshes the access token once on a 401; a second 401 is
  an ``AuthenticationError``;
* :func:`classify` translates ``HttpError``, google-auth and transport errors
  into the ``pmsync.errors`` tree, with 410 as :class:`SyncTokenExpired`.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from pmsync.connectors import Clock, ConnectorContext, RequestStats
from pmsync.errors import (
    AuthenticationError,
    FatalSourceError,
    SourceError,
    TransientSourceError,
)
from pmsync.retry import classify_http, retrying
from pmsync.secrets import SecretResolutionError
from pmsync_gcal.errors import EventNotFound, SyncTokenExpired
from pmsync_gcal.settings import (
    SCOPE,
    GoogleCalendarSettings,
    OAuthUserCredentials,
    ServiceAccountCredentials,
)

T = TypeVar("T")


class _CountingHttp(httplib2.Http):
    """``httplib2.Http`` that counts each request it sends."""

    def __init__(self, stats: Callable[[], RequestStats], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stats = stats

    def request(self, *args: Any, **kwargs: Any) -> Any:
        """Send one request, counting it."""
        self._stats().requests += 1
        return super().request(*args, **kwargs)


class _TokenRequest(google_auth_httplib2.Request):
    """The token endpoint transport: a retryable answer raises pmsync's error at once."""

    def __init__(self, http: httplib2.Http, now: Clock) -> None:
        super().__init__(http)
        self._now = now

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        """Call the token endpoint; raise a ``TransientSourceError`` on 429, 5xx, rate limits."""
        kwargs.pop("timeout", None)  # httplib2 has the timeout; passing one only warns
        response = super().__call__(url, method, **kwargs)
        if response.status != 200:
            error = classify_http(
                response.status,
                dict(response.headers),
                response.data,
                now=self._now(),
                what=f"{method} token endpoint",
            )
            if isinstance(error, TransientSourceError):
                raise error
        return response


def build_credentials(settings: GoogleCalendarSettings) -> Any:
    """Return google-auth credentials (read-only scope); secrets are read now."""
    creds = settings.credentials
    try:
        if isinstance(creds, OAuthUserCredentials):
            return oauth2_credentials.Credentials(
                token=None,
                refresh_token=creds.refresh_token.reveal(),
                client_id=creds.client_id,
                client_secret=creds.client_secret.reveal(),
                token_uri=creds.token_uri,
                scopes=[SCOPE],
            )
        assert isinstance(creds, ServiceAccountCredentials)
        try:
            info = json.loads(creds.key_file.reveal())
        except ValueError as err:
            line = getattr(err, "lineno", "?")
            raise AuthenticationError(
                f"service account key {creds.key_file} is not JSON (line {line})"
            ) from None
        try:
            return service_account.Credentials.from_service_account_info(
                info, scopes=[SCOPE], subject=creds.subject
            )
        except (ValueError, KeyError, TypeError) as err:
            # google-auth names the missing field; the key itself never appears in the message
            raise AuthenticationError(
                f"service account key {creds.key_file} is not a usable key: {type(err).__name__}"
                f"{': ' + str(err) if isinstance(err, KeyError) else ''}"
            ) from None
    except SecretResolutionError as err:
        raise AuthenticationError(str(err)) from err


def classify(err: BaseException, *, now: Clock, what: str) -> SourceError | None:
    """Translate a googleapiclient, google-auth or httplib2 error into the pmsync tree."""
    if isinstance(err, HttpError):
        status = int(err.resp.status)
        if status == 410:
            return SyncTokenExpired(f"{what}: HTTP 410, the sync token is no longer valid")
        headers = {str(k): str(v) for k, v in dict(err.resp).items()}
        if status == 404:
            return EventNotFound(f"{what}: HTTP 404, not found (or not shared with this account)")
        return classify_http(status, headers, err.content, now=now(), what=what)
    if isinstance(err, google.auth.exceptions.RefreshError):
        detail = str(err.args[0]) if err.args else type(err).__name__
        if getattr(err, "retryable", False):
            return TransientSourceError(f"{what}: token refresh failed ({detail})")
        return AuthenticationError(f"{what}: the token endpoint refused the credentials ({detail})")
    if isinstance(err, google.auth.exceptions.TransportError):
        return TransientSourceError(f"{what}: token endpoint unreachable ({err})")
    if isinstance(err, ssl.SSLCertVerificationError):
        return FatalSourceError(f"{what}: TLS certificate not accepted ({err.verify_message})")
    if isinstance(err, httplib2.HttpLib2Error | http.client.HTTPException | OSError):
        return TransientSourceError(f"{what}: connection failed ({type(err).__name__}: {err})")
    if isinstance(err, ValueError):  # a body googleapiclient could not decode at all
        return TransientSourceError(f"{what}: unusable answer ({type(err).__name__})")
    return None


class CalendarClient:
    """A Calendar v3 service built on demand, each request executed once inside ``retrying``."""

    def __init__(self, settings: GoogleCalendarSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context
        self._http: _CountingHttp | None = None
        self._authed: google_auth_httplib2.AuthorizedHttp | None = None
        self._service: Any = None

    def _build(self) -> Any:
        if self._service is not None:
            return self._service
        ca = str(self.settings.ca_bundle) if self.settings.ca_bundle else None
        # The engine replaces context.stats per stream, so read it at each request.
        http = _CountingHttp(
            lambda: self.context.stats, timeout=self.context.request_timeout, ca_certs=ca
        )
        http.redirect_codes = http.redirect_codes - {308}
        authed = google_auth_httplib2.AuthorizedHttp(
            build_credentials(self.settings), http=http, max_refresh_attempts=1
        )
        authed._request = _TokenRequest(http, self.context.now)
        self._service = build(
            "calendar",
            "v3",
            http=authed,
            static_discovery=True,
            cache_discovery=False,
            num_retries=0,
            client_options={"api_endpoint": self.settings.api_endpoint},
        )
        self._http, self._authed = http, authed
        return self._service

    def call(self, make: Callable[[Any], Any], what: str) -> Any:
        """Execute ``make(service)`` (an ``HttpRequest``) once per attempt, within the budget."""

        def attempt() -> Any:
            answer = make(self._build()).execute(num_retries=0)
            if isinstance(answer, str | bytes):
                # googleapiclient hands a 2xx body that is not JSON back as its text
                # (JsonModel.deserialize): a proxy's error page, a cut body. Try again.
                raise TransientSourceError(f"{what}: an answer that is not JSON")
            return answer

        return retrying(
            attempt,
            context=self.context,
            what=what,
            classify=lambda err: classify(err, now=self.context.now, what=what),
        )

    def refresh_token(self) -> None:
        """Obtain a fresh access token (``check()`` uses it to test the credentials)."""
        self._build()
        assert self._authed is not None
        authed = self._authed

        def attempt() -> None:
            authed.credentials.refresh(authed._request)

        retrying(
            attempt,
            context=self.context,
            what="token refresh",
            classify=lambda err: classify(err, now=self.context.now, what="token refresh"),
        )

    def close(self) -> None:
        """Close httplib2's connections."""
        if self._http is not None:
            for connection in list(self._http.connections.values()):
                connection.close()
            self._http.connections.clear()
        self._service = self._http = self._authed = None
