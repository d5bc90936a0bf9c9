"""Settings of a ``gcal`` source: credentials, calendars, the expansion window.

Two kinds of credentials, told apart by their keys (each model forbids the
other's): OAuth user credentials (a refresh token obtained once with a consent
screen) or a service account key (calendars shared with the account, or
domain-wide delegation acting as ``subject``). Only the read-only scope is
ever requested.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pmsync.connectors import ConnectorSettings
from pmsync.secrets import Secret

SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_API_ENDPOINT = "https://www.googleapis.com/calendar/v3/"
"""googleapiclient replaces rootUrl + servicePath with this, so it includes the path."""


class OAuthUserCredentials(BaseModel):
    """An OAuth client and a refresh token a user granted (``calendar.readonly``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(min_length=1)
    client_secret: Secret
    refresh_token: Secret
    token_uri: str = DEFAULT_TOKEN_URI


class ServiceAccountCredentials(BaseModel):
    """A service account's JSON key; ``subject`` impersonates a user (domain-wide delegation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_file: Secret
    """A ``file:`` reference to the JSON key (or ``${ENV}`` holding the JSON)."""
    subject: str | None = None
    """The user to act as, with domain-wide delegation; None reads calendars shared with it."""


class GoogleCalendarSettings(ConnectorSettings):
    """Settings of a ``gcal`` source."""

    credentials: OAuthUserCredentials | ServiceAccountCredentials
    api_endpoint: str = DEFAULT_API_ENDPOINT
    calendars: list[str] = Field(default_factory=list)
    """Calendar ids (``team@example.com``, ``...@group.calendar.google.com``, ``primary``)."""
    discover: bool = False
    """Read every calendar of the account's calendar list (reader access or more) instead."""
    expand_past_days: int = Field(default=365, ge=0)
    """Recurring events are expanded from this many days ago (older events drop out) ..."""
    expand_future_days: int = Field(default=180, ge=1)
    """... to this many days ahead; the window slides forward once a day."""
    ca_bundle: Path | None = None
    """A PEM file of CA certificates to trust (a TLS-inspecting proxy, the sandbox)."""
    page_size: int = Field(default=250, ge=1, le=2500)

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint_is_a_folder(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("api_endpoint must be an http(s) URL ending in /calendar/v3/")
        return value if value.endswith("/") else value + "/"

    @field_validator("calendars")
    @classmethod
    def _unique_calendars(cls, value: list[str]) -> list[str]:
        duplicates = sorted({c for c in value if value.count(c) > 1})
        if duplicates:
            raise ValueError(f"calendar ids must be unique; repeated: {duplicates}")
        if any(not c.strip() for c in value):
            raise ValueError("calendar ids must not be empty")
        return value

    @model_validator(mode="after")
    def _calendars_or_discover(self) -> GoogleCalendarSettings:
        if self.discover and self.calendars:
            raise ValueError("give either calendars or discover: true, not both")
        if not self.discover and not self.calendars:
            raise ValueError("give the calendars to read, or discover: true to read them all")
        return self
