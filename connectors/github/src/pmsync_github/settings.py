"""The settings of a ``github`` source, validated with the rest of the configuration.

Why a module of its own: the settings are the admin's interface (``sources.yaml``)
and the JSON Schema editors see, so every rule about them (which auth, which
repositories, which patterns) is checked here, before any request is made.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from pmsync.connectors import ConnectorSettings
from pmsync.secrets import Secret

if TYPE_CHECKING:
    import github

REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
DEFAULT_KEY_PATTERNS = [r"\b[A-Z][A-Z0-9]+-\d+\b"]
DEFAULT_ISSUE_REF_PATTERN = (
    r"(?<![\w/])(?:(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+))?#(?P<number>\d+)\b"
)
DEFAULT_CLOSING_PATTERN = (
    r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+"
    r"(?P<ref>(?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?#\d+)"
)


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"{pattern!r} is not a regular expression: {err}") from err
    return pattern


class GitHubSettings(ConnectorSettings):
    """Settings of a ``github`` source (github.com or GitHub Enterprise Server)."""

    base_url: str = "https://api.github.com"
    """The REST API root: ``https://api.github.com`` or ``https://HOST/api/v3``."""
    token: Secret | None = None
    """A classic or fine-grained personal access token (reference, never the value)."""
    app_id: int | None = None
    """GitHub App id, for App installation auth (with ``private_key`` and ``installation_id``)."""
    private_key: Secret | None = None
    """The App's PEM private key (reference)."""
    installation_id: int | None = None
    repositories: list[str] = Field(min_length=1)
    """``owner/repo`` names."""
    branches: dict[str, list[str]] = Field(default_factory=dict)
    """Branches whose commits are pulled, per repository; others: the default branch."""
    key_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_KEY_PATTERNS))
    """Regexes finding Jira keys in titles, bodies, messages and branch names."""
    issue_ref_pattern: str = DEFAULT_ISSUE_REF_PATTERN
    """Regex finding GitHub issue references (``#12``, ``org/repo#12``); groups repo, number."""
    closing_pattern: str = DEFAULT_CLOSING_PATTERN
    """Regex finding closing references (``fixes #12``); group ``ref``."""
    ca_bundle: Path | None = None
    """A PEM bundle to trust instead of the system's (self-signed Enterprise servers)."""
    per_page: int = Field(default=100, ge=1, le=100)
    overlap_seconds: float = Field(default=60.0, ge=0)
    """How far before the last seen update an incremental pull starts again."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("base_url must be an http(s) URL such as https://HOST/api/v3")
        return value.rstrip("/")

    @field_validator("repositories")
    @classmethod
    def _owner_repo(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not REPOSITORY.match(r)]
        if bad:
            raise ValueError(f"repositories must be owner/repo; not: {bad}")
        lowered = [r.lower() for r in value]
        repeated = sorted({r for r in value if lowered.count(r.lower()) > 1})
        if repeated:
            raise ValueError(f"repositories repeated: {repeated}")
        return value

    @field_validator("key_patterns")
    @classmethod
    def _key_patterns(cls, value: list[str]) -> list[str]:
        return [_compiles(p) for p in value]

    @field_validator("issue_ref_pattern")
    @classmethod
    def _issue_ref(cls, value: str) -> str:
        groups = re.compile(_compiles(value)).groupindex
        if "number" not in groups:
            raise ValueError("issue_ref_pattern needs a named group 'number' (and may have 'repo')")
        return value

    @field_validator("closing_pattern")
    @classmethod
    def _closing(cls, value: str) -> str:
        if "ref" not in re.compile(_compiles(value)).groupindex:
            raise ValueError("closing_pattern needs a named group 'ref'")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> GitHubSettings:
        app = (self.app_id, self.private_key, self.installation_id)
        if self.token is not None and any(v is not None for v in app):
            raise ValueError("give either token or app_id/private_key/installation_id, not both")
        if self.token is None and not all(v is not None for v in app):
            raise ValueError(
                "give a token, or all of app_id, private_key and installation_id "
                "(GitHub App installation auth)"
            )
        unknown = sorted(set(self.branches) - set(self.repositories))
        if unknown:
            raise ValueError(f"branches names repositories not in repositories: {unknown}")
        return self

    def auth(self) -> github.Auth.Auth:
        """Return PyGithub's auth object, reading the secret now (at use)."""
        import github  # here, not on import: validating a configuration needs no client

        if self.token is not None:
            return github.Auth.Token(self.token.reveal())
        assert self.app_id is not None and self.private_key is not None
        assert self.installation_id is not None
        app = github.Auth.AppAuth(self.app_id, self.private_key.reveal())
        return app.get_installation_auth(self.installation_id)
