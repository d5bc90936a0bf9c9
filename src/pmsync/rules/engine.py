"""The rules engine: facts in, the complete set of current findings out.

``evaluate_rules`` is what ``pmsync check`` and the daemon's check job call
before handing the findings to alerting (``pmsync.alerts.run_check``), which
needs the COMPLETE set at that moment: a finding left out means its alert
resolves. So the engine never drops a rule quietly. A capability that is not
installed (the metrics) is noted and its rules stay silent, as they always
were; anything that fails while gathering propagates, and the check fails
instead of resolving alerts that still hold. ``evaluate_projects`` keeps the
notes and the custom rules that could not be evaluated, for ``pmsync rules
test``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from celpy import celtypes

from pmsync.alerts import Evidence, Finding
from pmsync.alerts.findings import SEVERITY_RANK
from pmsync.config import Config, CustomRule
from pmsync.processes import collections_paused
from pmsync.rules.builtin import builtin_findings
from pmsync.rules.custom import CompiledRule, activation, compile_rule, explain, render_summary
from pmsync.rules.facts import ProjectFacts
from pmsync.rules.fields import deliverable_values, milestone_values, project_values
from pmsync.rules.inputs import Metrics, gather
from pmsync.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectVerdict:
    """What the rules found in one project, and what they could not look at."""

    key: str
    facts: ProjectFacts
    findings: list[Finding]
    skipped: list[str] = field(default_factory=list)
    """Custom rules not evaluated for a subject, and why (an undefined field, ...)."""

    @property
    def notes(self) -> tuple[str, ...]:
        """Return what could not be gathered for the project."""
        return self.facts.notes


def custom_findings(
    facts: ProjectFacts, rules: Collection[tuple[CustomRule, CompiledRule]]
) -> tuple[list[Finding], list[str]]:
    """Return the findings of the custom rules in one project, and what was skipped."""
    found: list[Finding] = []
    skipped: list[str] = []
    project = project_values(facts)
    for rule, compiled in rules:
        if rule.projects and facts.key not in rule.projects:
            continue
        for kind, ident, values in _subjects(facts, compiled.scope, project):
            try:
                result = compiled.program.evaluate(activation(values))
            except Exception as err:  # CELEvalError, or anything the interpreter raises
                skipped.append(f"{rule.name} on {kind} {ident}: {explain(err)}")
                continue
            if not isinstance(result, celtypes.BoolType):
                skipped.append(f"{rule.name} on {kind} {ident}: {explain(result)}")
                continue
            if not result:
                continue
            labels = {"project": facts.key, "subject_kind": kind, "subject_id": ident}
            if kind != "project":
                labels[kind] = ident
            figures = {
                f"{scope}.{name}": values[scope][name]
                for scope, name in compiled.references
                if name in values.get(scope, {})
            }
            found.append(
                Finding(
                    rule=rule.name,
                    severity=rule.severity,
                    labels=labels,
                    summary=render_summary(rule.summary, values),
                    evidence=Evidence(figures),
                    action=rule.action,
                )
            )
    return found, skipped


def _subjects(
    facts: ProjectFacts, scope: str, project: dict[str, object]
) -> list[tuple[str, str, dict[str, dict[str, object]]]]:
    if scope == "milestone":
        return [
            ("milestone", m.name, {"project": project, "milestone": milestone_values(facts, m)})
            for m in facts.milestones
        ]
    if scope == "deliverable":
        nodes = facts.health.deliverables if facts.health else ()
        return [
            (
                "deliverable",
                d.code,
                {"project": project, "deliverable": deliverable_values(facts, d)},
            )
            for d in nodes
        ]
    return [("project", facts.key, {"project": project})]


def compiled_custom(config: Config) -> list[tuple[CustomRule, CompiledRule]]:
    """Return the custom rules with their compiled expressions (checked at config load)."""
    return [(rule, compile_rule(rule.expression)) for rule in config.rules.custom]


def evaluate_projects(
    store: Store,
    config: Config,
    now: Callable[[], datetime],
    *,
    projects: Collection[str] | None = None,
    health: Metrics = None,
) -> dict[str, ProjectVerdict]:
    """Return, per project, what every rule finds now and what could not be evaluated."""
    custom = compiled_custom(config)
    verdicts: dict[str, ProjectVerdict] = {}
    for key, facts in gather(store, config, now, projects=projects, health=health).items():
        found, skipped = custom_findings(facts, custom)
        verdicts[key] = ProjectVerdict(
            key, facts, _unique(builtin_findings(facts) + found), skipped
        )
        for line in skipped:
            log.debug("custom rule skipped: %s", line)
    return verdicts


@collections_paused()
def evaluate_rules(
    store: Store,
    config: Config,
    now: Callable[[], datetime],
    *,
    health: Metrics = None,
) -> list[Finding]:
    """Return the complete set of current findings of every project (for ``run_check``)."""
    verdicts = evaluate_projects(store, config, now, health=health)
    return [finding for verdict in verdicts.values() for finding in verdict.findings]


def _unique(findings: list[Finding]) -> list[Finding]:
    """Return one finding per fingerprint (the most severe), in their order."""
    chosen: dict[str, Finding] = {}
    for f in findings:
        seen = chosen.get(f.fingerprint)
        if seen is None or SEVERITY_RANK[f.severity] > SEVERITY_RANK[seen.severity]:
            chosen[f.fingerprint] = f
    return list(chosen.values())
