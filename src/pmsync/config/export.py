"""What leaves the config package: JSON Schema, a redacted dump, the init example.

The JSON Schema is generated from the same pydantic models the loader uses, so
an editor can never accept what ``pmsync config validate`` refuses (except the
cross-file checks a schema cannot express). The dump is for ``--json`` output
and support requests: secrets appear as their reference (``${JIRA_TOKEN}``) at
most, and the settings of a source whose connector is not installed, which
could not be validated, appear with their values masked.
"""

from __future__ import annotations

import copy
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, create_model
from pydantic.json_schema import models_json_schema

from pmsync.config.loader import Config
from pmsync.config.projects import Project
from pmsync.config.rules import RulesConfig
from pmsync.config.settings import PmsyncSettings
from pmsync.config.sources import Registry, SourceOptions
from pmsync.errors import ConfigError, ConfigProblem
from pmsync.secrets import REDACTED

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
FILE_DEFINITIONS = {
    "pmsync.yaml": "PmsyncSettings",
    "sources.yaml": "SourcesFile",
    "projects/*.yaml": "Project",
    "rules.yaml": "RulesConfig",
}


def _source_model(name: str, connector_settings: type[BaseModel]) -> type[BaseModel]:
    """Return a model of one complete sources.yaml entry for connector ``name``."""
    fields: dict[str, Any] = {
        field: (info.annotation, info)
        for field, info in SourceOptions.model_fields.items()
        if field != "type"
    }
    fields["type"] = (Literal[name], ...)
    title = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
    return create_model(
        f"{title}Source",
        __base__=connector_settings,
        __doc__=f"A source of type {name!r}: the common keys plus the connector's settings.",
        **fields,
    )


def config_json_schema(registry: Registry | None = None) -> dict[str, Any]:
    """Return one JSON Schema (draft 2020-12) describing every config file.

    ``$defs`` holds a definition per file kind (see ``FILE_DEFINITIONS``) and
    ``properties`` maps each file name to it; an editor is pointed at e.g.
    ``schema.json#/$defs/Project``. With a registry, each installed connector
    gets a ``<Type>Source`` definition and source entries must match one.
    """
    connectors = dict(sorted((registry or {}).items()))
    per_type = {name: _source_model(name, c.settings_model) for name, c in connectors.items()}
    models: list[type[BaseModel]] = [PmsyncSettings, SourceOptions, Project, RulesConfig]
    models += per_type.values()
    _, top = models_json_schema([(m, "validation") for m in models], ref_template="#/$defs/{model}")
    defs: dict[str, Any] = top["$defs"]
    if connectors:
        entry: dict[str, Any] = {
            "oneOf": [{"$ref": f"#/$defs/{m.__name__}"} for m in per_type.values()]
        }
    else:
        entry = copy.deepcopy(defs["SourceOptions"])
        entry["additionalProperties"] = True
        entry["description"] = "The common keys; the connector named by type validates the rest."
    defs["SourcesFile"] = {
        "title": "sources.yaml",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "sources": {
                "type": "object",
                "description": "Source name to its entry.",
                "propertyNames": {"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                "additionalProperties": entry,
            }
        },
    }
    for file_name, definition in FILE_DEFINITIONS.items():
        defs[definition].setdefault("title", file_name)
        defs[definition]["x-pmsync-file"] = file_name
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "pmsync configuration",
        "description": "The files of a pmsync config directory. Each property is a file; "
        "point an editor at #/$defs/<definition> for one file.",
        "type": "object",
        "properties": {f: {"$ref": f"#/$defs/{d}"} for f, d in FILE_DEFINITIONS.items()},
        "$defs": dict(sorted(defs.items())),
    }


def redacted_dump(config: Config) -> dict[str, Any]:
    """Return the configuration as JSON-ready data without any secret value."""
    sources: dict[str, Any] = {}
    for name, source in config.sources.items():
        entry = source.options.model_dump(mode="json")
        if source.settings is not None:
            entry.update(source.settings.model_dump(mode="json"))
        else:
            # Not validated, so we cannot know which values are secrets: mask them all.
            entry.update({key: REDACTED for key in source.raw_settings})
            entry["validated"] = False
        sources[name] = entry
    return {
        "config_dir": str(config.config_dir),
        "pmsync": config.settings.model_dump(mode="json"),
        "sources": sources,
        "projects": {key: p.model_dump(mode="json") for key, p in config.projects.items()},
        "project_files": {key: str(p) for key, p in config.project_files.items()},
        "rules": config.rules.model_dump(mode="json", exclude_none=True),
    }


def _template_files(root: Traversable, prefix: Path = Path()) -> list[tuple[Path, Traversable]]:
    found: list[tuple[Path, Traversable]] = []
    for item in sorted(root.iterdir(), key=lambda t: t.name):
        if item.name.startswith((".", "__")):
            continue
        if item.is_dir():
            found.extend(_template_files(item, prefix / item.name))
        else:
            found.append((prefix / item.name, item))
    return found


def write_example(dest_dir: Path) -> list[Path]:
    """Write the commented example configuration into ``dest_dir``; never overwrite.

    Raises ``ConfigError`` naming every file that already exists (nothing is written).
    """
    dest_dir = Path(dest_dir)
    template = _template_files(files("pmsync") / "init_template")
    existing = [dest_dir / rel for rel, _ in template if (dest_dir / rel).exists()]
    if existing:
        raise ConfigError(
            [
                ConfigProblem(str(p), "already exists; pmsync init never overwrites a file")
                for p in existing
            ]
        )
    written = []
    for rel, source in template:
        target = dest_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        written.append(target)
    return written
