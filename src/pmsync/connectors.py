"""The connector contract and the registry of installed connectors.

A connector turns one external system into pages of unified records
(``pmsync.records``). It knows nothing about the database, projects or rules.
Each bundled connector is its own distribution under ``connectors/`` and
registers its ``Connector`` subclass under the entry-point group
``pmsync.connectors``; the core finds it there and never imports it by name::

    [project.entry-points."pmsync.connectors"]
    jira = "pmsync_jira:JiraConnector"

What a connector declares:

* ``settings_model``: a pydantic model of its settings (the keys of its entry in
  ``sources.yaml`` besides the common ones), validated with the rest of the config;
* ``streams``: the streams it offers, each with the record kinds it yields;

and what it does: ``pull(stream, cursor, full=...)`` yields ``Page`` objects whose
cursor is valid once the page's records are stored. ``check()`` probes the source
for ``pmsync config validate --online``.
"""

from __future__ import annotations

import inspect
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict

from pmsync.errors import ConnectorLoadError, FatalSourceError
from pmsync.records import RECORD_TYPES, Page

ENTRY_POINT_GROUP = "pmsync.connectors"
Clock = Callable[[], datetime]
_RECORD_KINDS = frozenset(t.kind for t in RECORD_TYPES)


def parse_json(body: bytes | str) -> Any:
    """Parse a response body as connectors should: orjson, else the standard library.

    A search page of 100 Jira issues with changelogs is about 600 KB; orjson
    parses it several times faster than ``json``, which the client libraries use.
    It refuses integers beyond 64 bits, which JSON allows: those few bodies go to
    ``json``. Bad JSON raises ``ValueError`` either way.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def skip_refused(scope: str, pages: Iterable[Page]) -> Iterator[Page]:
    """Yield the pages of one scope; if the source refuses the scope, end it with a note.

    A refusal is a ``FatalSourceError``: a repository deleted or no longer
    visible (GitHub answers 404 for both), a configured branch deleted, a project
    or a calendar gone. Retrying cannot help and the stream's other scopes are not
    concerned, so the scope ends with a ``Page(skipped=reason)`` and the connector
    goes on with the next one; the engine reports the run as ``partial``. Pages
    the scope yielded before the refusal stand (their cursors were valid), and a
    skipped scope reports no ``complete_ids``, so a full pull deletes nothing of
    it. Transient and authentication errors still end the stream: the next pass
    retries the one, and the other would refuse every scope alike.
    """
    try:
        yield from pages
    except FatalSourceError as err:
        yield Page(records=(), scope=scope, skipped=str(err).splitlines()[0])


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FixedClock:
    """A clock that stands at one instant: a simulated world's now for one sync pass.

    A class, not a closure, so that a pull worker can receive it pickled
    (``pmsync.pull_workers``); the demo and the tests sync their sandbox with it.
    """

    at: datetime

    def __call__(self) -> datetime:
        return self.at


def no_sleep(seconds: float) -> None:
    """Retry at once: for a sandbox, whose waits are nobody's rate limit."""


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A stream a connector offers and the record kinds it yields."""

    name: str
    record_kinds: tuple[str, ...]
    description: str = ""


@dataclass(slots=True)
class RequestStats:
    """Counters a connector's HTTP layer fills in for the sync run."""

    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    waited_seconds: float = 0.0


@dataclass(slots=True)
class ConnectorContext:
    """What the engine gives a connector: its name, a clock, limits and counters."""

    source_name: str
    now: Clock = utc_now
    request_timeout: float = 30.0
    """Seconds for one HTTP request (connect + read)."""
    retry_budget: float = 300.0
    """Seconds one request may spend retrying before the failure is reported."""
    stats: RequestStats = field(default_factory=RequestStats)
    sleep: Callable[[float], None] | None = None
    """Injected sleep for retries (tests pass a fake); None means ``time.sleep``."""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("pmsync.connector"))


class Connector(ABC):
    """Base of every connector. Subclasses declare, then implement ``pull``."""

    settings_model: ClassVar[type[ConnectorSettings]]
    streams: ClassVar[tuple[StreamSpec, ...]]
    title: ClassVar[str] = ""
    """A human name for docs and messages (``Jira``, ``GitHub``)."""
    worker_modules: ClassVar[tuple[str, ...]] = ()
    """Modules creating the connector imports (its client library): the fork server that
    starts pull workers loads them once, so no worker imports them again."""

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    @abstractmethod
    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        """Yield pages of ``stream`` changed since ``cursor`` (everything when ``full``).

        On a full pull the last page carries ``complete_ids`` so the engine can
        reconcile deletions.
        """

    @classmethod
    def sandbox_settings(cls, endpoints: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return settings pointing this connector at a running pmsync sandbox.

        ``endpoints`` is ``Sandbox.endpoints()``: each service's ``url`` and
        credentials. Secrets must be returned as references (``${ENV}`` or
        ``file:``) together with ``sandbox_secrets()``. The contract suite, the
        demo and ``sandbox serve --config-out`` use it; None means the sandbox
        has no imitation of this connector's source.
        """
        return None

    @classmethod
    def sandbox_secrets(cls, endpoints: Mapping[str, Any]) -> dict[str, str]:
        """Return ``{file name: secret value}`` the settings of ``sandbox_settings`` refer to."""
        return {}

    def check(self) -> list[str]:
        """Probe the source (reachable, credentials, permissions); return problems."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release connections."""

    def stream(self, name: str) -> StreamSpec:
        """Return the spec of stream ``name``; raise ``KeyError`` naming the streams."""
        for spec in self.streams:
            if spec.name == name:
                return spec
        raise KeyError(f"no stream {name!r}; streams are {[s.name for s in self.streams]}")


def _describe(ep: EntryPoint) -> str:
    dist = f" (distribution {ep.dist.name})" if ep.dist is not None else ""
    return f"entry point '{ep.name} = {ep.value}' in group {ENTRY_POINT_GROUP}{dist}"


def validate_connector_class(obj: object, where: str) -> type[Connector]:
    """Return ``obj`` if it is a usable connector class, else raise ``ConnectorLoadError``."""
    if not (inspect.isclass(obj) and issubclass(obj, Connector)):
        raise ConnectorLoadError(
            f"{where} loads {obj!r}, which is not a pmsync connector "
            "(a subclass of pmsync.connectors.Connector)"
        )
    if inspect.isabstract(obj):
        raise ConnectorLoadError(f"{where} loads {obj.__name__}, which does not implement pull()")
    model = getattr(obj, "settings_model", None)
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        raise ConnectorLoadError(f"{where}: {obj.__name__}.settings_model is not a pydantic model")
    streams = getattr(obj, "streams", ())
    if not streams or not all(isinstance(s, StreamSpec) for s in streams):
        raise ConnectorLoadError(f"{where}: {obj.__name__}.streams must be a tuple of StreamSpec")
    for spec in streams:
        unknown = set(spec.record_kinds) - _RECORD_KINDS
        if unknown:
            raise ConnectorLoadError(
                f"{where}: stream {spec.name!r} declares unknown record kinds {sorted(unknown)}"
            )
    return obj


def load_connectors(
    eps: list[EntryPoint] | None = None,
) -> dict[str, type[Connector]]:
    """Load every installed connector by entry point, checking what each one loads."""
    found = list(entry_points(group=ENTRY_POINT_GROUP)) if eps is None else eps
    registry: dict[str, type[Connector]] = {}
    for ep in sorted(found, key=lambda e: e.name):
        where = _describe(ep)
        try:
            obj = ep.load()
        except Exception as err:  # an import error in a plugin must not be a traceback
            raise ConnectorLoadError(f"{where} failed to import: {err}") from err
        if ep.name in registry:
            raise ConnectorLoadError(f"{where}: a connector named {ep.name!r} is already installed")
        registry[ep.name] = validate_connector_class(obj, where)
    return registry
