"""End to end: the rules on a synced sandbox, through the alert lifecycle, on both backends.

The scenario generator tells a story: of two projects, the second (CRM)
slips (its current release is due well before the team's pace will finish
it, and Jira pushes its date a week after the clock) and overspends (its team
books nearly twice the hours per item). Synced for real, with the plan
refreshed and a baseline approved, the rules must say so: a slip or a low
chance of meeting a due date for CRM, and CPI low or a forecast overrun; PAY,
on time, no slip. Then the sandbox's clock moves past the push: the moved
release is an unapproved plan change (a new alert fires) and something that
held a week earlier no longer does (its alert resolves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from worlds import SandboxWorld

from pmsync.alerts import list_alerts, run_check
from pmsync.plan import set_baseline
from pmsync.rules import evaluate_projects, evaluate_rules
from pmsync.store import Store

SLIPPING = OVERSPENDING = "CRM"
ON_TIME = "PAY"


class World(SandboxWorld):
    """Two generated projects served by the sandbox, with a config pointing at it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, projects=2, items=120, seed=5)
        settings = self.read("pmsync.yaml")
        settings["routing"] = {"pending": "0s"}  # fire at the first check: no receivers needed
        self.write("pmsync.yaml", settings)
        self.reload()

    def pushed_at(self) -> datetime:
        """Return when Jira pushes the slipping project's current release (after the clock)."""
        jira = next(p for p in self.scenario.jira.projects if p.key == SLIPPING)
        return min(
            change.at
            for version in jira.versions
            for change in version.history
            if "release_date" in change.set and change.at > self.now
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path / "world") as made:
        yield made


def rules_of(findings: list[Any], project: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for f in findings:
        if f.labels["project"] == project:
            found.setdefault(f.rule, []).append(f)
    return found


def test_the_sandbox_story_fires_then_moves_on(
    world: World, make_store: Callable[..., Store]
) -> None:
    store = make_store(now=world.box.clock.now)
    world.sync(store, full=True)
    for key in world.config.projects:
        set_baseline(store, key, note="approved at kick-off", now=world.box.clock.now)

    verdicts = evaluate_projects(store, world.config, world.box.clock.now)
    assert all(v.notes == () for v in verdicts.values()), {k: v.notes for k, v in verdicts.items()}
    first = [f for v in verdicts.values() for f in v.findings]
    slipping = rules_of(first, SLIPPING)
    late = slipping.get("milestone_slip", []) + slipping.get("due_probability_low", [])
    assert late, f"{SLIPPING} fires {sorted(slipping)}"
    assert all(f.labels["subject_kind"] == "milestone" for f in late)
    assert any("forecast P85" in f.evidence.figures for f in late)
    overspending = rules_of(first, OVERSPENDING)
    cost = overspending.get("cpi_low", []) + overspending.get("eac_over_budget", [])
    assert cost, f"{OVERSPENDING} fires {sorted(overspending)}"
    assert {f.severity for f in cost} <= {"warning", "critical"}
    on_time = rules_of(first, ON_TIME)
    assert not {"milestone_slip", "due_probability_low"} & set(on_time), sorted(on_time)
    assert "source_stale" not in {f.rule for f in first}  # just synced
    for finding in first:
        assert finding.summary and finding.action and finding.evidence.figures

    run_check(store, world.config, first, world.box.clock.now)
    firing = {a.fingerprint for a in list_alerts(store, states=("firing",))}
    assert firing == {f.fingerprint for f in first}

    world.box.advance(world.pushed_at() - world.now + timedelta(days=1))
    world.sync(store)
    later = evaluate_rules(store, world.config, world.box.clock.now)
    changed = rules_of(later, SLIPPING).get("unapproved_plan_change")
    assert changed, "the release Jira moved is a plan change nobody approved"
    assert any("tool_due" in item.title for item in changed[0].evidence.items)
    report = run_check(store, world.config, later, world.box.clock.now)
    moves = {(t.rule, t.labels.get("project"), t.after) for t in report.changes.transitions}
    assert ("unapproved_plan_change", SLIPPING, "firing") in moves
    assert any(after == "resolved" for _, _, after in moves), sorted(moves)
