"""The settings of a Jira source, validated with the rest of ``sources.yaml``.

Why a model of its own: the two Jira flavours authenticate differently (Cloud:
an account e-mail plus an API token over basic auth; Data Center: a personal
access token as a bearer token), and a wrong combination only shows up as a
401 at three in the morning. Validation says which combination is wrong now.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pmsync.connectors import ConnectorSettings
from pmsync.secrets import Secret

DEFAULT_FIELDS = {"story_points": "Story Points"}
"""Logical field → Jira custom field *name* (resolved to an id through ``/field``)."""

_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,254}$")


class JiraSettings(ConnectorSettings):
    """Where the Jira site is, how to log in, and what to pull from it."""

    url: str
    """The site's base URL: ``https://acme.atlassian.net`` or ``https://jira.acme.internal``."""
    flavour: Literal["auto", "cloud", "datacenter"] = "auto"
    """``auto`` asks ``/serverInfo`` (``deploymentType``) once and remembers the answer."""
    email: str | None = None
    """Cloud only: the e-mail of the account whose API token is ``token``."""
    token: Secret
    """Cloud: the account's API token. Data Center: a personal access token (bearer)."""
    projects: list[str] = Field(default_factory=list)
    """Project keys to pull; with ``jql`` the two are ANDed."""
    jql: str | None = None
    """An extra JQL filter ANDed to the project list (no ORDER BY)."""
    fields: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_FIELDS))
    """Logical name → custom field name; ``story_points`` fills ``WorkItem.story_points``,
    any other name is kept in ``WorkItem.custom``."""
    overlap_minutes: int = Field(default=5, ge=0, le=1440)
    """Re-read issues updated this long before the cursor (index lag, clock skew)."""
    page_size: int = Field(default=100, ge=1, le=100)
    reconcile_every: timedelta = timedelta(hours=6)
    """How often an incremental sync also lists every issue id to find deletions."""
    ca_bundle: Path | None = None
    """A CA bundle for a self-hosted server with a private certificate authority."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("url must start with https:// (or http:// for a local server)")
        if "@" in value.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError("url must not carry credentials; use email and token")
        if value.endswith("/rest/api/2") or value.endswith("/rest/api/3"):
            raise ValueError("url is the site's base URL, without /rest/api/...")
        return value

    @field_validator("projects")
    @classmethod
    def _projects(cls, value: list[str]) -> list[str]:
        keys = [k.strip().upper() for k in value]
        bad = [k for k in keys if not _PROJECT_KEY.match(k)]
        if bad:
            raise ValueError(f"not Jira project keys: {', '.join(bad)} (e.g. PAY, CRM2)")
        return list(dict.fromkeys(keys))

    @field_validator("jql")
    @classmethod
    def _jql(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if re.search(r"\border\s+by\b", value, re.IGNORECASE):
            raise ValueError("jql must not have ORDER BY: pmsync orders by updated itself")
        return value.strip()

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        merged = {**DEFAULT_FIELDS, **value}
        bad = [k for k in merged if not re.match(r"^[a-z][a-z0-9_]*$", k)]
        if bad:
            raise ValueError(f"logical field names must be snake_case: {', '.join(bad)}")
        return merged

    @field_validator("reconcile_every")
    @classmethod
    def _reconcile(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=5):
            raise ValueError("reconcile_every must be at least 5 minutes")
        return value

    @model_validator(mode="after")
    def _auth_and_scope(self) -> JiraSettings:
        if not self.projects and not self.jql:
            raise ValueError("set projects (keys), jql, or both: pmsync never pulls a whole site")
        if self.flavour == "cloud" and not self.email:
            raise ValueError("Jira Cloud needs email together with token (an API token)")
        if self.flavour == "datacenter" and self.email:
            raise ValueError("Jira Data Center uses a personal access token alone: remove email")
        return self

    @property
    def bearer(self) -> bool:
        """Tell whether ``token`` is a Data Center personal access token (no e-mail)."""
        return self.email is None
