"""Every error pmsync raises on purpose, classified by consequence.

::

    PmsyncError
    ├── ConfigError              bad configuration: exit 2, one line per problem
    ├── StoreError               the database cannot be used
    │   └── DatabaseUnreachable  wrong URL, server down, bad credentials
    ├── ConnectorLoadError       an entry point that is not a pmsync connector
    └── SourceError              raised by connectors at their boundary
        ├── TransientSourceError 429, 5xx, timeouts, resets: retried with backoff
        │   └── RateLimited      carries the wait the source asked for
        ├── AuthenticationError  401, 403 that is not a rate limit: never retried
        └── FatalSourceError     other 4xx, unusable answers: that request fails

Connectors translate their library's exceptions into these once, at the
boundary (``raise ... from err``); the rest of pmsync only sees this tree.
"""

from __future__ import annotations

from dataclasses import dataclass


class PmsyncError(Exception):
    """Base of every error pmsync raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in the configuration, located as precisely as known."""

    file: str
    message: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(PmsyncError):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(PmsyncError):
    """The database cannot be used."""


class DatabaseUnreachable(StoreError):
    """The database URL does not lead to a usable database."""


class ConnectorLoadError(PmsyncError):
    """An entry point in ``pmsync.connectors`` did not load a usable connector."""


class SourceError(PmsyncError):
    """A source failed to answer as expected."""


class TransientSourceError(SourceError):
    """A failure worth retrying: rate limits, 5xx, timeouts, dropped connections."""


class RateLimited(TransientSourceError):
    """The source asked to wait ``retry_after`` seconds before the next request."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationError(SourceError):
    """Credentials were refused or lack a permission: retrying cannot help."""


class FatalSourceError(SourceError):
    """The request cannot succeed as sent (other 4xx, an unusable answer)."""
