"""``pmsync.yaml``: the installation itself (database, daemon, people, receivers).

Everything here is about *this* pmsync, not about one project: where it stores
its data, how the daemon runs, who the people are across tools (so a Jira
account, a GitHub login and a calendar e-mail become one person), and where
alerts and reports can be delivered. Credentials are ``Secret`` references only.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, WithJsonSchema, field_validator

from pmsync.config.meetings import MeetingSettings
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
    pull_processes: bool = Field(
        default=True,
        description="Pull each source in a worker process of its own, for `pmsync sync` too: "
        "the worker pulls and maps while the main process writes, so a large sync uses two "
        "cores. false: pull in a thread of the main process.",
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
    starttls: bool | None = Field(
        default=None,
        description="Upgrade the connection with STARTTLS (default: yes, unless implicit_tls).",
    )
    implicit_tls: bool = Field(
        default=False, description="TLS from the first byte (SMTPS, usually port 465)."
    )
    ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA that signed the server's certificate (private CAs); "
        "relative paths resolve against the config directory.",
    )
    username: str | None = None
    password: Secret | None = None

    @field_validator("implicit_tls")
    @classmethod
    def _one_tls_mode(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("starttls"):
            raise ValueError("set either starttls or implicit_tls, not both")
        return value

    @property
    def uses_starttls(self) -> bool:
        """Tell whether to upgrade the connection with STARTTLS."""
        return not self.implicit_tls if self.starttls is None else self.starttls


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


# --- routing alerts to receivers (Prometheus Alertmanager's route tree) -----------------


def _check_matcher(value: str) -> str:
    from pmsync.alerts.matchers import parse_matcher  # at use: the alerts package imports config

    return str(parse_matcher(value))


Matcher = Annotated[
    str,
    AfterValidator(_check_matcher),
    WithJsonSchema(
        {
            "type": "string",
            "description": "label=value, label!=value, label=~regex or label!~regex "
            "(regexes match the whole value).",
            "examples": ["project=PAY", "severity=~warning|critical"],
        }
    ),
]
LabelName = Annotated[str, Field(pattern=r"^([A-Za-z_][A-Za-z0-9_]*|\.\.\.)$")]


class Route(StrictModel):
    """A branch of the routing tree; unset timers and receivers are the parent's."""

    matchers: list[Matcher] = Field(
        default_factory=list, description="All must match an alert for it to take this route."
    )
    receivers: list[Identifier] | None = None
    group_by: list[LabelName] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    send_resolved: bool | None = None
    continue_: bool = Field(
        default=False,
        alias="continue",
        description="Also try the following sibling routes after this one matched.",
    )
    routes: list[Route] = Field(default_factory=list)


class InhibitRule(StrictModel):
    """A firing ``source`` alert mutes ``target`` alerts that agree on the ``equal`` labels."""

    source: list[Matcher] = Field(min_length=1)
    target: list[Matcher] = Field(min_length=1)
    equal: list[LabelName] = Field(default_factory=list)


class Delivery(StrictModel):
    """How the outbox retries a receiver that fails."""

    timeout: Duration = Field(default=timedelta(seconds=15), description="Per send.")
    retry_initial: Duration = timedelta(seconds=30)
    retry_max: Duration = timedelta(minutes=10)
    give_up_after: Duration = Field(
        default=timedelta(days=1), description="A message still unsent after this is failed."
    )


class Routing(StrictModel):
    """Where alerts go and how often: the root of the route tree and the lifecycle timers."""

    receivers: list[Identifier] = Field(
        default_factory=list, description="Receivers of alerts no sub-route takes."
    )
    group_by: list[LabelName] = Field(default_factory=lambda: ["project"])
    group_wait: Duration = Field(
        default=timedelta(0), description="Before a new group's first message."
    )
    group_interval: Duration = Field(
        default=timedelta(minutes=5), description="Between messages about changes in a group."
    )
    repeat_interval: Duration = Field(
        default=timedelta(days=1), description="Before repeating an unchanged message."
    )
    send_resolved: bool = True
    routes: list[Route] = Field(default_factory=list)
    pending: Duration = Field(
        default=timedelta(minutes=10),
        description="How long a finding must persist before its alert fires (Prometheus 'for').",
    )
    pending_by_rule: dict[str, Duration] = Field(default_factory=dict)
    resolve_after: Duration = Field(
        default=timedelta(0),
        description="How long a finding must be absent before its alert resolves.",
    )
    builtin_inhibit: bool = Field(
        default=True,
        description="critical mutes warning and info on the same subject; "
        "milestone_overdue mutes milestone_slip of the same milestone.",
    )
    inhibit: list[InhibitRule] = Field(default_factory=list)
    report_url: str | None = Field(
        default=None,
        description="Link to a project's report; {project} is replaced by the project key.",
    )
    delivery: Delivery = Delivery()

    @field_validator("report_url")
    @classmethod
    def _report_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("report_url must be an http:// or https:// URL")
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as err:
            raise ValueError(f"report_url: {err} (write {{{{ and }}}} for braces)") from err
        if names - {"project"}:
            raise ValueError("report_url may only contain the placeholder {project}")
        return value

    def receiver_references(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Yield the location and name of every receiver the tree refers to."""
        for index, name in enumerate(self.receivers):
            yield ("routing", "receivers", index), name

        def walk(
            routes: list[Route], loc: tuple[str | int, ...]
        ) -> Iterator[tuple[tuple[str | int, ...], str]]:
            for position, route in enumerate(routes):
                here = (*loc, position)
                for index, name in enumerate(route.receivers or []):
                    yield (*here, "receivers", index), name
                yield from walk(route.routes, (*here, "routes"))

        yield from walk(self.routes, ("routing", "routes"))


class PmsyncSettings(StrictModel):
    """The whole of ``pmsync.yaml``."""

    timezone: TimeZoneName = Field(default="UTC", description="For display and day boundaries.")
    database: DatabaseSettings = DatabaseSettings()
    daemon: DaemonSettings = DaemonSettings()
    people: list[Person] = Field(default_factory=list)
    receivers: dict[Identifier, Receiver] = Field(
        default_factory=dict, description="Named delivery targets for alerts and reports."
    )
    routing: Routing = Field(default_factory=Routing, description="Which alerts go where.")
    meetings: MeetingSettings = Field(
        default_factory=MeetingSettings,
        description="Classifying calendar events, holiday calendars, working days.",
    )

    def routing_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Return every route that names a receiver not defined in ``receivers``."""
        known = ", ".join(sorted(self.receivers)) or "none are defined"
        return [
            (loc, f"unknown receiver {name!r} (receivers defines: {known})")
            for loc, name in self.routing.receiver_references()
            if name not in self.receivers
        ]

    def person(self, person_id: str) -> Person | None:
        """Return the person with id ``person_id``, if any."""
        return self.people_by_id.get(person_id)

    @cached_property
    def people_by_id(self) -> dict[str, Person]:
        """Return the people by id (the first, should an id repeat)."""
        found: dict[str, Person] = {}
        for p in self.people:
            found.setdefault(p.id, p)
        return found
