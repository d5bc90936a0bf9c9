"""Load a config directory into one validated ``Config``, or report every problem.

The admin's loop is: edit, run ``pmsync config validate``, fix. So the loader
never stops at the first problem: it parses every file, validates each with its
model, cross-checks the files against each other (people, sources, receivers,
projects), reads the costs CSVs and checks that every secret reference in use
resolves, then raises one ``ConfigError`` listing all problems, each located as
``file:line: key.path: message``. Messages never echo a value given where a
secret belongs (it may be a token pasted by mistake), nor pydantic's ``input``.
"""

from __future__ import annotations

import difflib
import inspect
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pmsync.config.checks import Known, check_project, check_rules, check_settings
from pmsync.config.costs import CostEntry, read_costs_csv
from pmsync.config.projects import Project
from pmsync.config.rules import RulesConfig
from pmsync.config.settings import PmsyncSettings
from pmsync.config.sources import (
    COMMON_KEYS,
    Registry,
    Source,
    SourcesFile,
    validate_sources,
)
from pmsync.config.yamlsrc import Loc, YamlDocument, read_yaml
from pmsync.errors import ConfigError, ConfigProblem
from pmsync.secrets import SecretRef, SecretResolutionError

SETTINGS_FILE = "pmsync.yaml"
SOURCES_FILE = "sources.yaml"
RULES_FILE = "rules.yaml"
PROJECTS_DIR = "projects"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration of one pmsync installation."""

    config_dir: Path
    settings: PmsyncSettings
    sources: dict[str, Source]
    projects: dict[str, Project]
    """Projects by key."""
    project_files: dict[str, Path]
    """The file each project was read from, by key."""
    rules: RulesConfig

    def resolve_path(self, value: str) -> Path:
        """Return ``value`` as a path, relative ones resolved against the config dir."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.config_dir / path

    @property
    def var_dir(self) -> Path:
        """Return the directory for the SQLite file, reports and state."""
        return self.resolve_path(self.settings.database.var_dir)

    @property
    def database_url(self) -> str | None:
        """Return the database URL to use, or None for SQLite under ``var_dir``.

        ``PMSYNC_DATABASE_URL`` wins over the config. The password secret is
        revealed here, at use: log the URL only through the store's redaction.
        """
        from sqlalchemy.engine import make_url

        if os.environ.get("PMSYNC_DATABASE_URL"):
            return os.environ["PMSYNC_DATABASE_URL"]
        database = self.settings.database
        if database.url is None or database.password is None:
            return database.url
        url = make_url(database.url).set(password=database.password.reveal())
        return url.render_as_string(hide_password=False)

    def costs(self, project_key: str) -> list[CostEntry]:
        """Read the non-labour costs of a project (empty without a costs_csv)."""
        project = self.projects[project_key]
        if project.costs_csv is None:
            return []
        codes = {d.code for d in project.all_deliverables()}
        return read_costs_csv(self.resolve_path(project.costs_csv), deliverable_codes=codes)


# --- locating and wording pydantic errors ---------------------------------------------


def _expand(tp: Any) -> Iterator[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _expand(typing.get_args(tp)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            yield from _expand(arg)
    else:
        yield tp


def _allowed_keys(root: type[BaseModel], loc: Loc) -> list[str]:
    """Return the keys allowed in the mapping that holds ``loc[-1]`` (best effort)."""
    candidates: list[Any] = [root]
    for part in loc[:-1]:
        following: list[Any] = []
        for tp in (t for c in candidates for t in _expand(c)):
            origin, args = typing.get_origin(tp), typing.get_args(tp)
            if inspect.isclass(tp) and issubclass(tp, BaseModel) and part in tp.model_fields:
                following.append(tp.model_fields[str(part)].annotation)
            elif origin in (list, tuple) and isinstance(part, int) and args:
                following.append(args[0])
            elif origin is dict and len(args) == 2:
                following.append(args[1])
        candidates = following or candidates  # a union tag: stay where we are
    keys: set[str] = set()
    for tp in (t for c in candidates for t in _expand(c)):
        if inspect.isclass(tp) and issubclass(tp, BaseModel):
            keys.update(f.alias or n for n, f in tp.model_fields.items())
    return sorted(keys)


def _message(error_type: str, msg: str, loc: Loc, allowed: list[str]) -> str:
    if error_type == "missing":
        return "required key is missing"
    if error_type == "extra_forbidden":
        unknown = str(loc[-1]) if loc else "?"
        close = difflib.get_close_matches(unknown, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown key{hint}{listing}"
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _problems(
    doc: YamlDocument, err: ValidationError, root: type[BaseModel], prefix: Loc = ()
) -> list[ConfigProblem]:
    found = []
    for error in err.errors():
        loc: Loc = (*prefix, *error["loc"])
        allowed = (
            _allowed_keys(root, tuple(error["loc"])) if error["type"] == "extra_forbidden" else []
        )
        found.append(doc.problem(loc, _message(error["type"], error["msg"], loc, allowed)))
    return found


def _validate(doc: YamlDocument, model: type[BaseModel], problems: list[ConfigProblem]) -> Any:
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        problems.extend(_problems(doc, err, model))
        return None


# --- secrets ---------------------------------------------------------------------------


def _secrets(value: Any, loc: Loc) -> Iterator[tuple[Loc, SecretRef]]:
    if isinstance(value, SecretRef):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from _secrets(getattr(value, name), (*loc, info.alias or name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secrets(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secrets(item, (*loc, index))


def _check_secrets(
    doc: YamlDocument, value: Any, loc: Loc, config_dir: Path, problems: list[ConfigProblem]
) -> None:
    for where, ref in _secrets(value, loc):
        if ref._base_dir is None:
            # pydantic builds the ref without context; relative files live beside the config.
            ref._base_dir = config_dir
        try:
            ref.check()
        except SecretResolutionError as err:
            problems.append(doc.problem(where, str(err)))


# --- the loader --------------------------------------------------------------------------


def load_config(config_dir: Path, registry: Registry) -> Config:
    """Load and validate ``config_dir``; raise ``ConfigError`` listing every problem."""
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        what = "is not a directory" if config_dir.exists() else "does not exist"
        raise ConfigError(
            [ConfigProblem(str(config_dir), f"configuration directory {what} (see pmsync init)")]
        )
    problems: list[ConfigProblem] = []

    def read(relative: str, required: bool) -> YamlDocument | None:
        path = config_dir / relative
        if not path.exists():
            if required:
                problems.append(ConfigProblem(str(path), "file is missing (see pmsync init)"))
            return None
        doc, found = read_yaml(path, str(path))
        problems.extend(found)
        return doc

    settings_doc = read(SETTINGS_FILE, required=True)
    settings = PmsyncSettings()
    validated = _validate(settings_doc, PmsyncSettings, problems) if settings_doc else None
    if settings_doc is not None and validated is not None:
        settings = validated
        problems.extend(settings_doc.problem(loc, m) for loc, m in check_settings(settings))
        _check_secrets(settings_doc, settings, (), config_dir, problems)

    sources: dict[str, Source] = {}
    sources_doc = read(SOURCES_FILE, required=False)
    if sources_doc is not None:
        sources, errors = validate_sources(sources_doc.data, registry)
        for loc, error_type, msg in errors:
            allowed: list[str] = []
            if error_type == "extra_forbidden" and len(loc) < 3:
                allowed = _allowed_keys(SourcesFile, loc)
            elif error_type == "extra_forbidden":
                entry = sources_doc.data["sources"][loc[1]]
                connector = registry.get(entry.get("type"))
                if connector is not None:
                    allowed = _allowed_keys(connector.settings_model, loc[2:])
                    allowed = sorted({*allowed, *COMMON_KEYS}) if len(loc) == 3 else allowed
            problems.append(sources_doc.problem(loc, _message(error_type, msg, loc, allowed)))
        for name, source in sources.items():
            if source.enabled and source.settings is not None:
                _check_secrets(
                    sources_doc, source.settings, ("sources", name), config_dir, problems
                )

    known = Known(
        people={p.id for p in settings.people} if validated is not None else None,
        sources=set(sources) | _names_in(sources_doc),
        receivers=set(settings.receivers) if validated is not None else None,
    )
    projects: dict[str, Project] = {}
    failed_keys: set[str] = set()
    project_files: dict[str, Path] = {}
    project_dir = config_dir / PROJECTS_DIR
    files = sorted([*project_dir.glob("*.yaml"), *project_dir.glob("*.yml")])
    for path in files:
        doc = read(str(path.relative_to(config_dir)), required=True)
        if doc is None:
            continue
        project = _validate(doc, Project, problems)
        if project is None:
            if isinstance(doc.data, dict) and isinstance(doc.data.get("key"), str):
                failed_keys.add(doc.data["key"])  # rules may still name it: not "unknown"
            continue
        if project.key in projects:
            problems.append(
                doc.problem(
                    ("key",),
                    f"project key {project.key!r} is already used by {project_files[project.key]}",
                )
            )
            continue
        projects[project.key] = project
        project_files[project.key] = path
        problems.extend(doc.problem(loc, m) for loc, m in check_project(project, known))
        if project.costs_csv is not None:
            problems.extend(_check_costs(doc, project, config_dir))

    rules = RulesConfig()
    rules_doc = read(RULES_FILE, required=False)
    if rules_doc is not None:
        validated_rules = _validate(rules_doc, RulesConfig, problems)
        if validated_rules is not None:
            rules = validated_rules
            found = check_rules(rules, {*projects, *failed_keys})
            problems.extend(rules_doc.problem(loc, m) for loc, m in found)

    if problems:
        raise ConfigError(_in_file_order(problems))
    return Config(config_dir, settings, sources, projects, project_files, rules)


def _in_file_order(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """Return problems grouped by file (files in reading order), by line within a file."""
    order = {name: i for i, name in enumerate(dict.fromkeys(p.file for p in problems))}
    return sorted(problems, key=lambda p: (order[p.file], p.line or 0))


def _names_in(doc: YamlDocument | None) -> set[str]:
    # Sources that failed validation still exist: do not report them again as unknown.
    if (
        doc is None
        or not isinstance(doc.data, dict)
        or not isinstance(doc.data.get("sources"), dict)
    ):
        return set()
    return {str(name) for name in doc.data["sources"]}


def _check_costs(doc: YamlDocument, project: Project, config_dir: Path) -> list[ConfigProblem]:
    assert project.costs_csv is not None
    relative = Path(project.costs_csv).expanduser()
    path = relative if relative.is_absolute() else config_dir / relative
    if not path.is_file():
        return [doc.problem(("costs_csv",), f"costs file {path} does not exist")]
    codes = {d.code for d in project.all_deliverables()}
    try:
        read_costs_csv(path, display=str(path), deliverable_codes=codes)
    except ConfigError as err:
        return list(err.problems)
    return []
