"""``pmsync.yaml``: the installation itself (database, daemon, people, receivers).

Everything here is about *this* pmsync, not about one project: where it stores
its data, how the daemon runs, who the people are across tools (so a Jira
account, a GitHub login and a calendar e-mail become one person), and where
alerts and reports can be delivered. Credentials are ``Secret`` references only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator

from pmsync.config.types import (
    Duration,
    Email,
    Identifier,
    StrictModel,
    TimeZoneName,
)
from pmsync.secrets import Secret


class DatabaseSettings(StrictModel):
    """Where pmsync keeps its data: SQLite under ``var_dir`` unless ``url`` is set."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://pmsync@db/pmsync. "
        "None: SQLite file pmsync.db under var_dir. PMSYNC_DATABASE_URL overrides it.",
    )
    password: Secret | None = Field(
        default=None, description="Database password as a secret reference (not in the URL)."
    )
    var_dir: str = Field(
        default="var",
        description="Directory for the SQLite file, reports and state; "
        "relative paths resolve against the config directory.",
    )

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError as err:
            raise ValueError("not a database URL (e.g. postgresql+psycopg://user@host/db)") from err
        if url.password:
            # The value is never echoed: it holds the password we are refusing.
            raise ValueError(
                "the URL contains a password: remove it and set database.password "
                "to a secret reference (${ENV_VAR} or file:/path)"
            )
        return value


class HealthEndpoint(StrictModel):
    """The daemon's health and Prometheus metrics HTTP endpoint."""

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)
    enabled: bool = True


class DaemonSettings(StrictModel):
    """How ``pmsync run`` behaves."""

    health: HealthEndpoint = HealthEndpoint()
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: text on a terminal, JSON lines otherwise."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    sync_interval: Duration = Field(
        default=timedelta(minutes=15),
        description="Default interval between syncs of a source without its own schedule.",
    )
    check_interval: Duration = Field(
        default=timedelta(minutes=5), description="How often rules are evaluated."
    )


class Person(StrictModel):
    """Someone pmsync should recognise across tools."""

    id: Identifier
    name: str = Field(min_length=1)
    email: Email | None = None
    role: str | None = Field(default=None, description="Matched by role entries of rate cards.")
    aliases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per source name or connector type: the accounts of this person "
        "(jira: [accountId or e-mail], github: [login], gcal: [e-mail]).",
    )
    weekly_capacity_hours: float = Field(default=40, ge=0, le=168)
    timezone: TimeZoneName | None = Field(default=None, description="Default: the global one.")


class EmailReceiver(StrictModel):
    """Deliver by SMTP."""

    type: Literal["email"]
    to: list[Email] = Field(min_length=1)
    sender: Email = Field(description="The From address.")
    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: Secret | None = None


class SlackReceiver(StrictModel):
    """Post to a Slack incoming webhook."""

    type: Literal["slack"]
    webhook_url: Secret


class TeamsReceiver(StrictModel):
    """Post to a Microsoft Teams incoming webhook (workflow URL)."""

    type: Literal["teams"]
    webhook_url: Secret


class WebhookReceiver(StrictModel):
    """POST JSON to any URL, signed with HMAC-SHA256 when ``signing_secret`` is set."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    signing_secret: Secret | None = None
    headers: dict[str, str] = Field(default_factory=dict)


Receiver = Annotated[
    EmailReceiver | SlackReceiver | TeamsReceiver | WebhookReceiver,
    Field(discriminator="type"),
]


class PmsyncSettings(StrictModel):
    """The whole of ``pmsync.yaml``."""

    timezone: TimeZoneName = Field(default="UTC", description="For display and day boundaries.")
    database: DatabaseSettings = DatabaseSettings()
    daemon: DaemonSettings = DaemonSettings()
    people: list[Person] = Field(default_factory=list)
    receivers: dict[Identifier, Receiver] = Field(
        default_factory=dict, description="Named delivery targets for alerts and reports."
    )

    def person(self, person_id: str) -> Person | None:
        """Return the person with id ``person_id``, if any."""
        return next((p for p in self.people if p.id == person_id), None)
