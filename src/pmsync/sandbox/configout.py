"""Write a complete pmsync configuration that points at a running sandbox.

``pmsync sandbox serve --config-out DIR`` and ``pmsync demo`` use it, so that a
newcomer can try every command without an account anywhere. What it writes is
an ordinary config directory: sources from each installed connector's
``sandbox_settings`` (credentials as ``file:`` references to files under
``secrets/``), people with their aliases in each tool, and one project file per
project of the scenario, whose milestones gather a Jira fix version and the
GitHub milestone of the same name under one milestone: pmsync's unified view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from pmsync.connectors import Connector, load_connectors
from pmsync.sandbox.scenario import Scenario, ScenarioProject

HEADER = """\
# Written by `pmsync sandbox serve --config-out` for the sandbox at {where}.
# An ordinary pmsync configuration: edit it, validate it with
#   pmsync --config {config} config validate
# The reference for every key is docs/configuration.md.
"""

ROLE_NAMES = {"pm": "project_manager"}


def _dump(path: Path, data: Any, header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(header + "\n" + body, encoding="utf-8")


def _money(value: float | Decimal) -> float:
    return float(round(Decimal(str(value)), 2))


def _people(scenario: Scenario) -> list[dict[str, Any]]:
    people = []
    for person in scenario.people:
        aliases: dict[str, list[str]] = {"jira": [person.account_id()]}
        if person.jira_email:
            aliases["jira"].append(person.jira_email)
        if person.github_login:
            aliases["github"] = [person.github_login]
        entry: dict[str, Any] = {
            "id": re.sub(r"[^A-Za-z0-9_.-]", "-", person.id),
            "name": person.name,
            "email": person.email,
            "role": ROLE_NAMES.get(person.role, person.role),
            "aliases": aliases,
            "timezone": person.time_zone,
        }
        if person.role == "sponsor":
            entry["weekly_capacity_hours"] = 0
        people.append(entry)
    return people


def secret_env_name(file_name: str) -> str:
    """Return the environment variable that holds sandbox secret ``file_name``."""
    return "PMSYNC_SANDBOX_" + re.sub(r"[^A-Z0-9]", "_", file_name.upper())


def sandbox_secret_env(
    endpoints: Mapping[str, Any], registry: Mapping[str, type[Connector]] | None = None
) -> dict[str, str]:
    """Return ``{variable: value}`` for every sandbox secret (``secrets="env"`` configs)."""
    registry = load_connectors() if registry is None else registry
    return {
        secret_env_name(name): value
        for connector in registry.values()
        for name, value in connector.sandbox_secrets(endpoints).items()
    }


def _env_references(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("file:secrets/"):
        return "${" + secret_env_name(value[len("file:secrets/") :]) + "}"
    if isinstance(value, dict):
        return {k: _env_references(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_env_references(v) for v in value]
    return value


def _sources(
    endpoints: Mapping[str, Any],
    registry: Mapping[str, type[Connector]],
    config_dir: Path,
    secrets: str,
) -> dict[str, Any]:
    sources: dict[str, Any] = {}
    holidays = [
        name for name in endpoints.get("calendar", {}).get("ics_feeds", {}) if "holiday" in name
    ]
    for name, connector in sorted(registry.items()):
        settings = connector.sandbox_settings(endpoints)
        if settings is None:
            continue
        # Public holidays usually come as a published .ics feed, team calendars
        # through the Google API: give each calendar to one source, never both.
        if name == "ics":
            settings["feeds"] = [f for f in settings["feeds"] if f["name"] in holidays]
        elif name == "gcal" and "calendars" in settings:
            settings["calendars"] = [c for c in settings["calendars"] if "holiday" not in c]
        if secrets == "env":
            settings = _env_references(settings)
        else:
            for file_name, value in connector.sandbox_secrets(endpoints).items():
                secret = config_dir / "secrets" / file_name
                secret.parent.mkdir(parents=True, exist_ok=True)
                secret.write_text(value + "\n", encoding="utf-8")
                secret.chmod(0o600)
        sources[name] = {"type": name, "interval": "1m" if name != "ics" else "1h", **settings}
    return sources


def _milestones(scenario: Scenario, project: ScenarioProject) -> list[dict[str, Any]]:
    jira = next((p for p in scenario.jira.projects if p.key == project.jira_project), None)
    repos = [r for r in scenario.github.repositories if r.full_name in project.github_repositories]
    by_name: dict[str, dict[str, Any]] = {}
    for version in jira.versions if jira else []:
        by_name[version.name] = {
            "name": version.name,
            "due": (version.release_date or project.finish).isoformat(),
            "match": [{"jira_fix_version": {"source": "jira", "name": version.name}}],
        }
    for repo in repos:
        for milestone in repo.milestones:
            entry = by_name.setdefault(
                milestone.title,
                {
                    "name": milestone.title,
                    "due": (
                        milestone.due_on.date() if milestone.due_on else project.finish
                    ).isoformat(),
                    "match": [],
                },
            )
            entry["match"].append(
                {
                    "github_milestone": {
                        "source": "github",
                        "repo": repo.full_name,
                        "title": milestone.title,
                    }
                }
            )
    return sorted(by_name.values(), key=lambda m: (m["due"], m["name"]))


def _deliverables(scenario: Scenario, project: ScenarioProject) -> list[dict[str, Any]]:
    epics = [
        i
        for i in scenario.jira.issues
        if i.project == project.jira_project and i.fields.get("issuetype") == "Epic"
    ][:8]
    leaves = len(epics) + len(project.github_repositories)
    span = (project.finish - project.start).days
    share = _money(Decimal(str(project.budget)) * Decimal("0.9") / max(leaves, 1))
    children: list[dict[str, Any]] = []
    for index, epic in enumerate(epics, start=1):
        start = project.start.toordinal() + span * (index - 1) // (2 * max(len(epics), 1))
        children.append(
            {
                "code": f"1.{index}",
                "name": str(epic.fields.get("summary", epic.key))[:120],
                "owner": re.sub(
                    r"[^A-Za-z0-9_.-]", "-", str(epic.fields.get("assignee") or project.manager)
                ),
                "planned_start": date.fromordinal(start).isoformat(),
                "planned_finish": date.fromordinal(
                    min(start + span // 2, project.finish.toordinal())
                ).isoformat(),
                "planned_cost": share,
                "match": [{"epic": epic.key}],
            }
        )
    for offset, repo in enumerate(project.github_repositories, start=len(epics) + 1):
        children.append(
            {
                "code": f"1.{offset}",
                "name": f"Engineering in {repo}",
                "owner": project.manager,
                "planned_start": project.start.isoformat(),
                "planned_finish": project.finish.isoformat(),
                "planned_cost": share,
                "match": [{"repository": repo}],
            }
        )
    return [{"code": "1", "name": project.name, "owner": project.manager, "children": children}]


def _project(scenario: Scenario, project: ScenarioProject, people: set[str]) -> dict[str, Any]:
    rates = [
        {
            "role": ROLE_NAMES.get(role, role),
            "rate": _money(rate),
            "effective_from": project.start.isoformat(),
        }
        for role, rate in sorted(project.hourly_rates.items())
    ]
    manager = next((p for p in scenario.people if p.id == project.manager), None)
    return {
        "key": project.key,
        "name": project.name,
        "manager": project.manager if project.manager in people else None,
        "sponsor": project.sponsor if project.sponsor in people else None,
        "start": project.start.isoformat(),
        "finish": project.finish.isoformat(),
        "currency": project.currency,
        "budget_at_completion": _money(project.budget),
        "rate_card": rates,
        "progress_by": "story_points",
        "milestones": _milestones(scenario, project),
        "deliverables": _deliverables(scenario, project),
        "communication": [
            {
                "audience": "project team",
                "report": "project",
                "formats": ["html", "md"],
                "schedule": "0 7 * * mon",
                "recipients": [manager.email] if manager else ["pmo@example.com"],
            }
        ],
        "meetings": [
            {
                "kind": "status_meeting",
                "every": "1w",
                "title_patterns": [f"{project.key} weekly status*"],
            },
            {"kind": "milestone_review", "every": "8w", "title_patterns": ["Milestone review*"]},
        ],
    }


def write_config(
    scenario: Scenario,
    endpoints: Mapping[str, Any],
    config_dir: Path,
    *,
    registry: Mapping[str, type[Connector]] | None = None,
    var_dir: Path | None = None,
    secrets: str = "file",
) -> list[Path]:
    """Write a config directory for ``scenario`` served at ``endpoints``; return the files.

    ``secrets="file"`` writes each credential to ``secrets/`` and refers to it
    with ``file:``; ``secrets="env"`` refers to ``${PMSYNC_SANDBOX_...}`` variables
    instead (see ``sandbox_secret_env``), for a config that is committed.
    """
    registry = load_connectors() if registry is None else registry
    config_dir.mkdir(parents=True, exist_ok=True)
    where = ", ".join(f"{k} {v['url']}" for k, v in endpoints.items() if isinstance(v, dict))
    header = HEADER.format(where=where, config=config_dir)
    people = _people(scenario)
    ids = {p["id"] for p in people}
    written = []
    settings = {
        "timezone": "UTC",
        "database": {"var_dir": str(var_dir or (config_dir / "var"))},
        "people": people,
    }
    _dump(config_dir / "pmsync.yaml", settings, header)
    written.append(config_dir / "pmsync.yaml")
    _dump(
        config_dir / "sources.yaml",
        {"sources": _sources(endpoints, registry, config_dir, secrets)},
        header,
    )
    written.append(config_dir / "sources.yaml")
    _dump(config_dir / "rules.yaml", {}, header + "# Built-in thresholds apply.\n")
    written.append(config_dir / "rules.yaml")
    for project in scenario.projects:
        path = config_dir / "projects" / f"{project.key.lower()}.yaml"
        _dump(path, _project(scenario, project, ids), header)
        written.append(path)
    return written
