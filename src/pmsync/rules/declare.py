"""How a built-in rule is declared, and the one function that walks the declarations.

Each rule is a frozen ``BuiltinRule``: its name (the alert's ``rule`` and its
key in ``rules.yaml``), what it is about, what it reads, how its thresholds
judge it (``Judge``), the one-line summary and the suggested action as
templates, and an ``observe`` function that turns a project's facts into
observations: a subject, the number the thresholds judge, the figures and the
items behind it. ``walk`` runs a table of them over one project; everything
one rule does differently from another is in its row (``builtin.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from pmsync.alerts import Evidence, EvidenceItem, Finding, Severity
from pmsync.rules.facts import ProjectFacts


@dataclass(frozen=True, slots=True)
class Observation:
    """What a rule saw about one subject, before the thresholds judge it."""

    subject_kind: str
    subject_id: str
    value: float | None
    """The number the thresholds judge (None: nothing to judge)."""
    words: Mapping[str, Any] = field(default_factory=dict)
    """Values for the summary and action templates."""
    figures: Mapping[str, Any] = field(default_factory=dict)
    items: tuple[EvidenceItem, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels besides project and subject: ``milestone``, ``person``, ``risk``, ``source``."""


def levels(settings: BaseModel) -> tuple[float | None, float | None]:
    """Return the (warning, critical) thresholds of a rule's settings, whatever their unit."""
    data = settings.model_dump()
    warning = next((v for k, v in data.items() if k.startswith("warning")), None)
    critical = next((v for k, v in data.items() if k.startswith("critical")), None)
    return warning, critical


@dataclass(frozen=True, slots=True)
class Judge:
    """How thresholds turn an observation's value into a severity."""

    fires_when: str
    """For people: ``value below warning / critical``."""
    decide: Callable[[Observation, Any], Severity | None]


def _below(seen: Observation, settings: Any) -> Severity | None:
    warning, critical = levels(settings)
    value = seen.value
    if value is None or warning is None or critical is None:
        return None
    return "critical" if value < critical else "warning" if value < warning else None


def _at_least(seen: Observation, settings: Any) -> Severity | None:
    warning, critical = levels(settings)
    value = seen.value
    if value is None or warning is None or critical is None:
        return None
    return "critical" if value >= critical else "warning" if value >= warning else None


def _within(seen: Observation, settings: Any) -> Severity | None:
    warning, critical = levels(settings)
    value = seen.value
    if value is None or warning is None or critical is None:
        return None
    return "critical" if value <= critical else "warning" if value <= warning else None


def _fixed(seen: Observation, settings: Any) -> Severity | None:
    severity: Severity = settings.severity
    return None if seen.value is None else severity


def _annual(seen: Observation, settings: Any) -> Severity | None:
    found = _at_least(seen, settings)
    ahead = seen.words.get("ahead_points")
    if found is None and isinstance(ahead, float | int) and ahead >= settings.ahead_pct:
        return "warning"
    return found


BELOW = Judge("the value falls below warning / critical", _below)
AT_LEAST = Judge("the value reaches warning / critical", _at_least)
WITHIN = Judge("the due date is within warning / critical days (nearer is worse)", _within)
FIXED = Judge("the condition holds; severity as configured", _fixed)
ANNUAL = Judge(
    "spend reaches warning_pct / critical_pct of the annual budget, or runs ahead of the "
    "year's elapsed share by ahead_pct points (warning)",
    _annual,
)


@dataclass(frozen=True, slots=True)
class BuiltinRule:
    """One built-in rule, declared."""

    name: str
    title: str
    subject: str
    """What an alert of it is about: project, milestone, person, risk, meeting, source."""
    inputs: str
    """What it reads, for people (docs, ``pmsync rules list``)."""
    judge: Judge
    summary: str
    """A ``str.format`` template over the observation's words."""
    action: str
    observe: Callable[[ProjectFacts, Any], Iterable[Observation]]
    unit: str = ""
    """The unit of the thresholds, for people: ``days``, ``%``, ``ratio``."""


def _text(template: str, words: Mapping[str, Any]) -> str:
    return template.format_map(words)


def walk(facts: ProjectFacts, table: Iterable[BuiltinRule]) -> list[Finding]:
    """Return what the built-in rules of ``table`` find in one project's facts."""
    found: list[Finding] = []
    for rule in table:
        settings = getattr(facts.thresholds, rule.name)
        if not settings.enabled:
            continue
        warning, critical = levels(settings)
        for seen in rule.observe(facts, settings):
            severity = rule.judge.decide(seen, settings)
            if severity is None:
                continue
            words = {"project": facts.key, "name": facts.name, "severity": severity, **seen.words}
            thresholds = (
                {"warning at": warning, "critical at": critical}
                if warning is not None and critical is not None
                else {}
            )
            found.append(
                Finding(
                    rule=rule.name,
                    severity=severity,
                    labels={
                        "project": facts.key,
                        "subject_kind": seen.subject_kind,
                        "subject_id": seen.subject_id,
                        **seen.labels,
                    },
                    summary=_text(rule.summary, words),
                    evidence=Evidence({**_finite(seen.figures), **thresholds}, tuple(seen.items)),
                    action=_text(rule.action, words),
                )
            )
    return found


def _finite(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Return the figures without the ones that are not known (None) or not finite."""
    return {
        name: value
        for name, value in figures.items()
        if value is not None and not (isinstance(value, float) and not math.isfinite(value))
    }
