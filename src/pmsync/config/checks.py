"""Checks that need more than one value: uniqueness, references, plan coherence.

pydantic validates the shape of each value; what remains is whether the values
agree with each other (a WBS code used twice, a deliverable finishing before it
starts, an owner who is not in ``people``, a selector naming a source that does
not exist). Each check returns ``(loc, message)`` pairs with the ``loc`` of the
offending key, so the loader can point at its exact line like any other error.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from pmsync.config.meeting_rules import BUILTIN_NAMES
from pmsync.config.meetings import check_meeting_settings, check_project_calendars
from pmsync.config.projects import Deliverable, Project
from pmsync.config.rules import BuiltinRules, RulesConfig
from pmsync.config.settings import PmsyncSettings
from pmsync.config.yamlsrc import format_loc

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]


@dataclass(frozen=True)
class Known:
    """Names defined elsewhere in the configuration that a project may refer to."""

    people: Collection[str] | None
    """None when pmsync.yaml is invalid: references are then not checked."""
    sources: Collection[str]
    receivers: Collection[str] | None


def _names(values: Collection[str] | None) -> str:
    return ", ".join(sorted(values)) if values else "none are defined"


def check_settings(settings: PmsyncSettings) -> Found:
    """Return duplicate person ids, accounts claimed twice and routes to unknown receivers."""
    found: Found = []
    seen: dict[str, int] = {}
    owners: dict[tuple[str, str], str] = {}
    for index, person in enumerate(settings.people):
        if person.id in seen:
            found.append(
                (
                    ("people", index, "id"),
                    f"person id {person.id!r} is already used by people[{seen[person.id]}]",
                )
            )
        seen.setdefault(person.id, index)
        for tool, accounts in person.aliases.items():
            for position, account in enumerate(accounts):
                claim = (tool, account.lower())
                if claim in owners and owners[claim] != person.id:
                    found.append(
                        (
                            ("people", index, "aliases", tool, position),
                            f"{tool} account {account!r} is already an alias of {owners[claim]!r}",
                        )
                    )
                owners.setdefault(claim, person.id)
    found.extend(settings.routing_problems())
    found.extend(check_meeting_settings(settings.meetings, set(seen), BUILTIN_NAMES))
    return found


def _person(found: Found, loc: Loc, value: str | None, known: Known) -> None:
    if value is not None and known.people is not None and value not in known.people:
        found.append(
            (loc, f"unknown person {value!r} (people in pmsync.yaml: {_names(known.people)})")
        )


def _source(found: Found, loc: Loc, value: str | None, known: Known) -> None:
    if value is not None and value not in known.sources:
        found.append(
            (loc, f"unknown source {value!r} (sources.yaml defines: {_names(known.sources)})")
        )


def _walk_wbs(
    nodes: list[Deliverable], loc: Loc, parent_code: str | None = None
) -> Iterator[tuple[Loc, Deliverable, str | None]]:
    for index, node in enumerate(nodes):
        here = (*loc, index)
        yield here, node, parent_code
        yield from _walk_wbs(node.children, (*here, "children"), node.code)


def _check_wbs(project: Project, known: Known) -> Found:
    found: Found = []
    seen: dict[str, Loc] = {}
    planned = Decimal(0)
    for loc, node, parent_code in _walk_wbs(project.deliverables, ("deliverables",)):
        if node.code in seen:
            where = format_loc(seen[node.code])
            found.append(
                ((*loc, "code"), f"WBS code {node.code!r} is used twice (also at {where})")
            )
        seen.setdefault(node.code, loc)
        if parent_code is not None and not node.code.startswith(parent_code + "."):
            found.append(
                (
                    (*loc, "code"),
                    f"WBS code {node.code!r} must extend its parent's code "
                    f"{parent_code!r} (e.g. {parent_code}.1)",
                )
            )
        if node.children and node.planned_cost is not None:
            found.append(
                (
                    (*loc, "planned_cost"),
                    "set planned_cost on the leaves (work packages); "
                    "a parent's cost is the sum of its children",
                )
            )
        if node.planned_cost is not None and (
            node.planned_start is None or node.planned_finish is None
        ):
            found.append(
                (
                    (*loc, "planned_cost"),
                    "planned_cost needs planned_start and planned_finish "
                    "(planned value is spread between them)",
                )
            )
        if node.planned_start and node.planned_finish and node.planned_finish < node.planned_start:
            found.append(((*loc, "planned_finish"), "planned_finish is before planned_start"))
        for key in ("planned_start", "planned_finish"):
            day = getattr(node, key)
            if day is not None and not project.start <= day <= project.finish:
                found.append(
                    (
                        (*loc, key),
                        f"{day} is outside the project ({project.start} to {project.finish})",
                    )
                )
        planned += node.planned_cost or 0
        _person(found, (*loc, "owner"), node.owner, known)
        if node.raci is not None:
            for role in ("responsible", "consulted", "informed"):
                for position, person in enumerate(getattr(node.raci, role)):
                    _person(found, (*loc, "raci", role, position), person, known)
            _person(found, (*loc, "raci", "accountable"), node.raci.accountable, known)
    if planned > project.budget_at_completion:
        found.append(
            (
                ("budget_at_completion",),
                f"the deliverables plan {planned} {project.currency}, more than the budget at "
                f"completion {project.budget_at_completion} (planned value cannot exceed BAC)",
            )
        )
    return found


def check_project(project: Project, known: Known) -> Found:
    """Return every disagreement inside one project and with the rest of the config."""
    found: Found = []
    if project.finish < project.start:
        found.append((("finish",), f"finish {project.finish} is before start {project.start}"))
    _person(found, ("manager",), project.manager, known)
    _person(found, ("sponsor",), project.sponsor, known)
    first_fy, last_fy = (
        project.fiscal_year_of(project.start),
        project.fiscal_year_of(project.finish),
    )
    for year in project.annual_budgets:
        if not first_fy <= year <= last_fy:
            found.append(
                (
                    ("annual_budgets", year),
                    f"fiscal year {year} is outside the project (FY{first_fy} to FY{last_fy})",
                )
            )
    rates: set[tuple[str, str, Any]] = set()
    for index, entry in enumerate(project.rate_card):
        who = ("person", entry.person) if entry.person else ("role", entry.role or "")
        if (*who, entry.effective_from) in rates:
            found.append(
                (
                    (("rate_card", index, "effective_from")),
                    f"a second rate for {who[0]} {who[1]!r} from {entry.effective_from}",
                )
            )
        rates.add((*who, entry.effective_from))
        _person(found, ("rate_card", index, "person"), entry.person, known)
    names: set[str] = set()
    for index, milestone in enumerate(project.milestones):
        if milestone.name in names:
            found.append(
                (("milestones", index, "name"), f"milestone {milestone.name!r} is defined twice")
            )
        names.add(milestone.name)
        if not project.start <= milestone.due <= project.finish:
            found.append(
                (
                    ("milestones", index, "due"),
                    f"{milestone.due} is outside the project ({project.start} to {project.finish})",
                )
            )
        for position, selector in enumerate(milestone.match):
            for kind in ("jira_fix_version", "github_milestone", "jql"):
                value = getattr(selector, kind)
                if value is not None:
                    _source(
                        found,
                        ("milestones", index, "match", position, kind, "source"),
                        value.source,
                        known,
                    )
    found.extend(_check_wbs(project, known))
    risk_ids: set[str] = set()
    for index, risk in enumerate(project.risks):
        if risk.id in risk_ids:
            found.append((("risks", index, "id"), f"risk id {risk.id!r} is used twice"))
        risk_ids.add(risk.id)
        _person(found, ("risks", index, "owner"), risk.owner, known)
    for index, issues in enumerate(project.risk_issues):
        _source(found, ("risk_issues", index, "source"), issues.source, known)
    for index, plan in enumerate(project.communication):
        for position, name in enumerate(plan.receivers):
            if known.receivers is not None and name not in known.receivers:
                found.append(
                    (
                        ("communication", index, "receivers", position),
                        f"unknown receiver {name!r} "
                        f"(pmsync.yaml defines: {_names(known.receivers)})",
                    )
                )
    for index, meeting in enumerate(project.meetings):
        _source(found, ("meetings", index, "source"), meeting.source, known)
    found.extend(
        check_project_calendars(project.calendars, project.team, known.people, known.sources)
    )
    return found


def check_rules(rules: RulesConfig, project_keys: Collection[str]) -> Found:
    """Return overrides for unknown projects and merged thresholds that contradict."""
    found: Found = []
    layers: list[tuple[Loc, str | None]] = [(("builtin",), None)]
    for key in rules.projects:
        key = str(key)
        if key not in project_keys:
            found.append(
                (("projects", key), f"unknown project {key!r} (projects: {_names(project_keys)})")
            )
        else:
            layers.append((("projects", key), key))
    for loc, layer in layers:
        try:
            BuiltinRules.model_validate(rules.effective_layers(layer))
        except ValidationError as err:
            for error in err.errors():
                found.append(
                    ((*loc, *error["loc"][:1]), error["msg"].removeprefix("Value error, "))
                )
    for index, rule in enumerate(rules.custom):
        for position, key in enumerate(rule.projects):
            if key not in project_keys:
                found.append((("custom", index, "projects", position), f"unknown project {key!r}"))
    names = [rule.name for rule in rules.custom]
    for index, name in enumerate(names):
        if name in names[:index]:
            found.append((("custom", index, "name"), f"custom rule {name!r} is defined twice"))
    return found
