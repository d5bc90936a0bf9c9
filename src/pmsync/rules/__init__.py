"""The rules engine: from the store and the plan to findings, for alerting.

The modules behind this surface::

    facts.py          ProjectFacts: what the rules read about one project (frozen)
    inputs.py         gather: the facts of every project, in set-based queries
    items.py          open items: blocked, ageing, unassigned, unestimated
    sources.py        freshness of every source, and which projects it feeds
    declare.py        BuiltinRule, Judge, Observation and ``walk``
    builtin.py        BUILTIN_RULES: the table of built-in rules
    observe_plan.py   what the schedule, cost and scope rules observe
    observe_team.py   what the work, people, risk, meeting and data rules observe
    fields.py         the fields custom rules read (project.*, milestone.*, deliverable.*)
    custom.py         CEL expressions: checked at config load, evaluated safely
    engine.py         evaluate_rules (the complete set of findings), evaluate_projects

``evaluate`` is ``evaluate_rules`` under the name the daemon's hook looks for.
Names are imported lazily: ``pmsync.config`` checks custom rules with
``pmsync.rules.custom`` while it is itself being imported. See docs/rules.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "BUILTIN_RULES": "pmsync.rules.builtin",
    "BuiltinRule": "pmsync.rules.declare",
    "CompiledRule": "pmsync.rules.custom",
    "ExpressionError": "pmsync.rules.custom",
    "FIELDS": "pmsync.rules.fields",
    "ProjectFacts": "pmsync.rules.facts",
    "ProjectVerdict": "pmsync.rules.engine",
    "builtin_findings": "pmsync.rules.builtin",
    "check_expression": "pmsync.rules.custom",
    "compile_rule": "pmsync.rules.custom",
    "custom_findings": "pmsync.rules.engine",
    "evaluate_projects": "pmsync.rules.engine",
    "evaluate_rules": "pmsync.rules.engine",
    "gather": "pmsync.rules.inputs",
}

__all__ = sorted([*_EXPORTS, "evaluate"])


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        name = "evaluate_rules"
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pmsync.rules' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
