"""``sources.yaml``: the connections, each validated by its own connector's model.

An entry mixes two kinds of keys. The common ones (``type``, ``enabled``,
``interval``, ``cron``, ``jitter``, ``full_every``, ``status_map``) mean the
same for every source and are defined here; every other key belongs to the
connector named by ``type`` and is validated by that connector's
``settings_model``, looked up in the registry of installed connectors. So the
core never knows a Jira setting, yet a typo in one is reported at its line.

A source whose type is not installed is an error, unless it is disabled: then
its settings are kept unvalidated, so an example or a staged entry can sit in
the file before its connector is installed (see docs/configuration.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from pmsync.config.types import CronExpression, Duration, Identifier, StatusCategory, StrictModel
from pmsync.connectors import Connector

Loc = tuple[str | int, ...]
Registry = Mapping[str, type[Connector]]


class SourceOptions(StrictModel):
    """The keys every source entry shares, whatever its connector."""

    type: str = Field(min_length=1, description="The connector: an installed entry-point name.")
    enabled: bool = True
    interval: Duration | None = Field(
        default=None, description="Time between syncs; default daemon.sync_interval."
    )
    cron: CronExpression | None = Field(default=None, description="Instead of interval.")
    jitter: Duration = Field(
        default=timedelta(0), description="Random delay added to each run, to spread load."
    )
    full_every: Duration = Field(
        default=timedelta(days=1),
        description="How often a full sync reconciles deletions.",
    )
    status_map: dict[str, StatusCategory] = Field(
        default_factory=dict, description="Raw status to todo/in_progress/done, for this source."
    )

    @model_validator(mode="after")
    def _one_schedule(self) -> SourceOptions:
        if self.interval is not None and self.cron is not None:
            raise ValueError("set either interval or cron, not both")
        return self


COMMON_KEYS = frozenset(SourceOptions.model_fields)


class SourcesFile(StrictModel):
    """The shape of ``sources.yaml`` before each entry's connector is known."""

    sources: dict[Identifier, dict[str, Any]] = Field(
        default_factory=dict, description="Source name to its entry."
    )


@dataclass(frozen=True)
class Source:
    """A validated source entry: common options plus the connector's own settings."""

    name: str
    options: SourceOptions
    settings: BaseModel | None
    """The connector's validated settings; None for a disabled, uninstalled type."""
    connector: type[Connector] | None
    raw_settings: dict[str, Any] = field(default_factory=dict, repr=False)
    """The connector's keys as written; only kept (unvalidated) when not installed."""

    @property
    def type(self) -> str:
        """Return the connector type (entry-point name)."""
        return self.options.type

    @property
    def enabled(self) -> bool:
        """Return whether the daemon and ``pmsync sync`` use this source."""
        return self.options.enabled


def _errors(err: ValidationError, prefix: Loc) -> list[tuple[Loc, str, str]]:
    return [((*prefix, *e["loc"]), e["type"], e["msg"]) for e in err.errors()]


def validate_sources(
    data: Any, registry: Registry
) -> tuple[dict[str, Source], list[tuple[Loc, str, str]]]:
    """Validate the data of ``sources.yaml``; return the sources and (loc, type, msg) errors."""
    try:
        file = SourcesFile.model_validate(data)
    except ValidationError as err:
        return {}, _errors(err, ())
    sources: dict[str, Source] = {}
    errors: list[tuple[Loc, str, str]] = []
    for name, entry in file.sources.items():
        prefix: Loc = ("sources", name)
        common = {k: v for k, v in entry.items() if k in COMMON_KEYS}
        rest = {k: v for k, v in entry.items() if k not in COMMON_KEYS}
        try:
            options = SourceOptions.model_validate(common)
        except ValidationError as err:
            errors.extend(_errors(err, prefix))
            options = None
        kind = entry.get("type")
        connector = registry.get(kind) if isinstance(kind, str) else None
        if connector is None:
            if isinstance(kind, str) and kind and entry.get("enabled", True) is not False:
                installed = ", ".join(sorted(registry)) or "none"
                errors.append(
                    (
                        (*prefix, "type"),
                        "unknown_type",
                        f"no connector {kind!r} is installed (installed: {installed}); "
                        "install it or set enabled: false",
                    )
                )
            if options is not None and not errors_for(errors, prefix):
                sources[name] = Source(name, options, None, None, rest)
            continue
        try:
            settings = connector.settings_model.model_validate(rest)
        except ValidationError as err:
            errors.extend(_errors(err, prefix))
            continue
        if options is not None:
            sources[name] = Source(name, options, settings, connector)
    return sources, errors


def errors_for(errors: list[tuple[Loc, str, str]], prefix: Loc) -> bool:
    """Return whether any error lies under ``prefix``."""
    return any(loc[: len(prefix)] == prefix for loc, _, _ in errors)
