"""The plan side of the model: what the PM planned, and the synced work linked to it.

``refresh_plan`` is the one entry point the sync calls: it loads the project
files into the plan tables, gathers tool milestones under unified ones, links
work items to milestones, projects and deliverables, links commits and pull
requests to the work items they name, keeps the risk register and records
plan changes. The rest are readers for metrics, reports and the CLI:
``load_items`` (items as arrays), ``cost_ledgers`` (actual cost),
the ``progress_by_*`` functions and ``scope_history``, ``set_baseline`` /
``list_baselines`` / ``plan_variance``, and ``project_plan`` (the roll-up
``pmsync plan show`` prints).

Names are imported lazily: ``pmsync.config`` validates JQL selectors with
``pmsync.plan.jql`` while it is itself being imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PlanRefresh": "pmsync.plan.refresh",
    "refresh_plan": "pmsync.plan.refresh",
    "ItemFrame": "pmsync.plan.frames",
    "load_items": "pmsync.plan.frames",
    "CostLedger": "pmsync.plan.costs",
    "cost_ledgers": "pmsync.plan.costs",
    "Progress": "pmsync.plan.progress",
    "ScopeSeries": "pmsync.plan.progress",
    "progress_by_deliverable": "pmsync.plan.progress",
    "progress_by_milestone": "pmsync.plan.progress",
    "progress_by_source": "pmsync.plan.progress",
    "scope_history": "pmsync.plan.progress",
    "BaselineInfo": "pmsync.plan.baselines",
    "PlanVariance": "pmsync.plan.baselines",
    "list_baselines": "pmsync.plan.baselines",
    "plan_variance": "pmsync.plan.baselines",
    "plan_variances": "pmsync.plan.baselines",
    "set_baseline": "pmsync.plan.baselines",
    "RiskEntry": "pmsync.plan.risks",
    "risk_register": "pmsync.plan.risks",
    "ProjectPlanView": "pmsync.plan.view",
    "project_plan": "pmsync.plan.view",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pmsync.plan' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
