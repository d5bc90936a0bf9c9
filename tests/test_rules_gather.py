"""The rules on facts gathered from a small store, on SQLite and PostgreSQL.

A project with one milestone, a handful of items written the way the sync
engine writes them (with their status history), a risk register, a baseline
followed by new scope, and sync runs of two sources: one failing, one stale.
The metrics are left out (``health={}``) so that every finding here comes from
what the gather layer reads in the store; the metric rules are proven in
``test_rules_builtin.py`` and on the synced sandbox in ``test_rules_e2e.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pmsync import model
from pmsync.config import Config
from pmsync.config.projects import Project
from pmsync.config.rules import RulesConfig
from pmsync.config.settings import PmsyncSettings
from pmsync.config.sources import Source, SourceOptions
from pmsync.plan import refresh_plan, set_baseline
from pmsync.records import Page, PersonRef, Record, WorkItem, WorkItemChange
from pmsync.rules import evaluate_projects
from pmsync.rules import items as rules_items
from pmsync.rules.items import load_open_items
from pmsync.store import Store

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def at(days: float = 0) -> Callable[[], datetime]:
    return lambda: T0 + timedelta(days=days)


def config(tmp_path: Path) -> Config:
    plan = {
        "key": "PAY",
        "name": "Payments platform",
        "start": "2025-11-01",
        "finish": "2026-12-31",
        "budget_at_completion": 100000,
        "progress_by": "story_points",
        "milestones": [{"name": "Beta", "due": "2026-03-12", "match": [{"label": "beta"}]}],
        "risks": [
            {"id": "R1", "title": "Certification slips", "probability": 0.02,
             "impact": 10000, "next_review": "2026-02-27"},
        ],
    }  # fmt: skip
    return Config(
        config_dir=tmp_path,
        settings=PmsyncSettings.model_validate({"timezone": "UTC"}),
        sources={
            name: Source(name, SourceOptions(type=name), None, None) for name in ("jira", "github")
        },
        projects={"PAY": Project.model_validate(plan)},
        project_files={},
        rules=RulesConfig(),
    )


def issue(key: str, status: str, category: str, **kw: Any) -> WorkItem:
    values: dict[str, Any] = {
        "external_id": key,
        "key": key,
        "title": f"Work on {key}",
        "container": "PAY",
        "item_type": "Story",
        "status": status,
        "status_category": category,
        "created_at": T0 - timedelta(days=30),
        "updated_at": T0 - timedelta(days=1),
        "url": f"https://jira.example/browse/{key}",
        "labels": ("beta",),
        **kw,
    }
    return WorkItem(**values)


def moved(key: str, days_ago: float, before: str, after: str) -> WorkItemChange:
    return WorkItemChange(
        external_id=f"{key}-{before}-{after}",
        item_external_id=key,
        at=T0 - timedelta(days=days_ago),
        field="status",
        from_value=before,
        to_value=after,
    )


def write(store: Store, records: Sequence[Record]) -> None:
    store.write_page("jira", "issues", Page(list(records)), None)


def run(store: Store, source: str, status: str) -> None:
    run_id = store.start_run(source, "issues")
    error = "401 Unauthorized\ntraceback" if status == "failed" else None
    store.finish_run(run_id, status=status, error=error)  # type: ignore[arg-type]


def test_the_rules_read_items_plan_risks_and_sync_runs_from_the_store(
    make_store: Callable[..., Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = {"now": T0 - timedelta(days=5)}
    store = make_store(now=lambda: clock["now"])
    cfg = config(tmp_path)
    owner = PersonRef("5f00aa", "Emily Kim")
    write(store, [
        issue("PAY-1", "Blocked", "in_progress", assignee=owner, story_points=3.0),
        moved("PAY-1", 20, "To Do", "In Progress"),
        moved("PAY-1", 9, "In Progress", "Blocked"),
        issue("PAY-2", "In Progress", "in_progress"),
        moved("PAY-2", 12, "To Do", "In Progress"),
        issue("PAY-3", "Done", "done", assignee=owner, story_points=1.0),
        issue("PAY-4", "To Do", "todo", assignee=owner, story_points=2.0,
              labels=("beta", "blocked"), updated_at=T0 - timedelta(days=4)),
    ])  # fmt: skip
    refresh_plan(store, cfg, at(-5))
    set_baseline(store, "PAY", note="approved", now=at(-5))
    write(store, [issue("PAY-5", "To Do", "todo"), issue("PAY-6", "To Do", "todo")])
    refresh_plan(store, cfg, at(-1))
    # jira synced 25 minutes ago (fresh), then failed; github last synced two days ago
    clock["now"] = T0 - timedelta(days=2)
    run(store, "github", "ok")
    clock["now"] = T0 - timedelta(minutes=25)
    run(store, "jira", "ok")
    clock["now"] = T0 - timedelta(minutes=10)
    run(store, "jira", "failed")

    verdict = evaluate_projects(store, cfg, at(0), health={})["PAY"]
    found = {(f.rule, f.severity): f for f in verdict.findings}
    assert set(found) == {
        ("blocked_items", "critical"),  # PAY-1 blocked 9 days (PAY-4 by its label, 4 days)
        ("ageing_items", "critical"),  # PAY-1 in progress for 20 days
        ("unassigned_near_due", "warning"),  # Beta due in 10 days: PAY-2, PAY-5, PAY-6
        ("unestimated_near_due", "warning"),  # the same three have no story points
        ("scope_growth", "critical"),  # 4 items in the baseline, 6 now
        ("unapproved_plan_change", "warning"),
        ("risk_review_overdue", "warning"),  # 3 days past its review date
        ("sync_failing", "warning"),
        ("source_stale", "critical"),  # github: two days, sync interval 15 minutes
    }, [f.summary for f in verdict.findings]
    blocked = found[("blocked_items", "critical")]
    assert [(i.key, i.url, i.detail) for i in blocked.evidence.items] == [
        ("PAY-1", "https://jira.example/browse/PAY-1", "blocked for 9 days (Blocked)"),
        ("PAY-4", "https://jira.example/browse/PAY-4", "blocked for 4 days (To Do)"),
    ]
    assert "PAY-1 for 20 days" in found[("ageing_items", "critical")].summary
    unassigned = found[("unassigned_near_due", "warning")]
    assert unassigned.labels["milestone"] == "Beta"
    assert {i.key for i in unassigned.evidence.items} == {"PAY-2", "PAY-5", "PAY-6"}
    assert "4 to 6 items" in found[("scope_growth", "critical")].summary
    failing = found[("sync_failing", "warning")]
    assert (failing.labels["subject_kind"], failing.labels["source"]) == ("source", "jira")
    assert "401 Unauthorized" in failing.summary and "traceback" not in failing.summary
    assert found[("risk_review_overdue", "warning")].labels["risk"] == "R1"
    assert verdict.notes == ()
    # the items' status history is read by groups of ids: one id a statement, the same ages
    monkeypatch.setattr(rules_items, "_IDS_PER_QUERY", 1)
    again = evaluate_projects(store, cfg, at(0), health={})["PAY"]
    assert [f.summary for f in again.findings] == [f.summary for f in verdict.findings]


def test_a_project_not_synced_yet_is_noted_not_judged(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    store = make_store(now=at(0))
    verdict = evaluate_projects(store, config(tmp_path), at(0))["PAY"]
    assert verdict.notes == ("the project is not in the store yet: run pmsync sync first",)
    # its sources have never synced: the project is not shown healthy either
    assert {(f.rule, f.labels["source"]) for f in verdict.findings} == {
        ("source_stale", "github"),
        ("source_stale", "jira"),
    }


def test_a_status_in_capitals_with_accents_counts_as_the_tool_files_it(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    """``À PLANIFIER`` is "to do" in the tool, so leaving it starts the work again.

    Status names are matched without case; SQLite's lower() folds only A-Z, so a
    status with capital accented letters once missed the tool's category, counted
    as work in progress, and aged PAY-1 from its first start 30 days ago.
    """
    store = make_store(now=at(-1))
    cfg = config(tmp_path)
    write(store, [
        issue("PAY-1", "ÉTUDE", "in_progress"),
        moved("PAY-1", 30, "Backlog", "ÉTUDE"),
        moved("PAY-1", 20, "ÉTUDE", "À PLANIFIER"),
        moved("PAY-1", 4, "À PLANIFIER", "ÉTUDE"),
        issue("PAY-9", "À PLANIFIER", "todo"),
    ])  # fmt: skip
    refresh_plan(store, cfg, at(-1))
    verdict = evaluate_projects(store, cfg, at(0), health={})["PAY"]
    assert not [f.summary for f in verdict.findings if f.rule == "ageing_items"]


def test_an_item_is_blocked_by_its_status_a_blocked_label_or_the_flag(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    store = make_store(now=at(0))
    cfg = config(tmp_path)
    write(store, [
        issue("PAY-1", "On Hold", "in_progress"),
        issue("PAY-2", "To Do", "todo", labels=("beta", "BLOCKED")),
        issue("PAY-3", "To Do", "todo", custom={"flagged": True}),
        issue("PAY-4", "To Do", "todo", custom={"flagged": False}),
        issue("PAY-5", "To Do", "todo", labels=("beta", "unblocked", "was-blocked")),
        issue("PAY-6", "In Progress", "in_progress", custom={"note": "Blocked? no"}),
        issue("PAY-7", "To Do", "todo"),
    ])  # fmt: skip
    refresh_plan(store, cfg, at(0))
    with store.engine.connect() as conn:
        project_ids = dict(conn.execute(select(model.Project.key, model.Project.id)).all())
        items = load_open_items(conn, cfg, project_ids)
    blocked = {item.fact.key: item.blocked for item in items.values()}
    assert blocked == {
        "PAY-1": True,  # its status
        "PAY-2": True,  # a label "blocked", in any case
        "PAY-3": True,  # Jira's flag
        "PAY-4": False,
        "PAY-5": False,  # labels that only contain the word
        "PAY-6": False,  # the word elsewhere in the custom fields
        "PAY-7": False,
    }
