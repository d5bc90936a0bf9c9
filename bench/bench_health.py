"""Benchmark: every metric of a big portfolio read from the STORE, with seconds per stage.

``bench_metrics.py`` times the pure metrics on inputs made in memory; this one
times what the daemon and ``pmsync metrics`` really do: map the store onto
the metric inputs (``pmsync.health.load_portfolio_health``) and compute them,
then take the daily snapshot. The full run is the size issue 6 asks for: 500
projects, 5,000 milestones, 1,000,000 work items (with their status changes
and a worklog on every second item); ``--quick`` is a twentieth of it.

Building the store is not timed: plan rows, people and identities are
inserted directly and the record tables with the store's own upsert
(``pmsync.upsert.upsert_rows``), already linked to their projects,
deliverables and milestones, as a plan refresh leaves them: each item carries
its project's milestone and work-package labels, which the project files
select, so the refresh that settles the store (scope, plan rows; then the
meeting links) relinks nothing, and the benchmark says so. What every sync
does after its pull (``pmsync.sync.sync_configured``) is then timed step by
step on a store this size with nothing new: linking people, the plan refresh
and the meeting links.

    .venv/bin/python bench/bench_health.py [--quick] [--backend sqlite|postgresql] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from bench.common import LOOP, python_speed, show
from pmsync import model
from pmsync.config import Config, load_config
from pmsync.connectors import load_connectors
from pmsync.health import analyse, load_portfolio_health, take_daily_snapshot
from pmsync.meetings import link_meetings
from pmsync.people import link_people
from pmsync.plan import refresh_plan
from pmsync.reports.facts import Unavailable
from pmsync.reports.jobs import generate_reports, workers_for
from pmsync.rules import evaluate_rules
from pmsync.store import Store
from pmsync.upsert import upsert_rows

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench" / "health"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATUS = date(2026, 6, 30)
NOW = datetime(2026, 6, 30, 18, tzinfo=UTC)
START = date(2026, 1, 5)
MILESTONES, LEAVES, PEOPLE = 10, 5, 8
"""Per project: milestones, WBS work packages (under one root), people."""
CHUNK = 50_000


def write_config(folder: Path, projects: int) -> None:
    """Write a valid configuration of ``projects`` projects and their people."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "projects").mkdir(parents=True)
    (folder / "secrets").mkdir()
    (folder / "secrets" / "token").write_text("bench", encoding="utf-8")
    people = [
        {"id": f"dev{n}", "name": f"Developer {n}", "role": "developer", "aliases": {}}
        for n in range(projects * PEOPLE)
    ]
    settings = {"timezone": "UTC", "database": {"var_dir": str(folder.parent / "var")}}
    (folder / "pmsync.yaml").write_text(yaml.safe_dump({**settings, "people": people}), "utf-8")
    sources = {
        "jira": {
            "type": "jira",
            "url": "http://127.0.0.1:9",
            "token": "file:secrets/token",
            "projects": ["P0"],
        }
    }
    (folder / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}), "utf-8")
    for p in range(projects):
        leaves = [
            {
                "code": f"1.{k + 1}",
                "name": f"Work package {k + 1}",
                "planned_start": (START + timedelta(days=30 * k)).isoformat(),
                "planned_finish": (START + timedelta(days=30 * k + 120)).isoformat(),
                "planned_cost": 40_000,
                "match": [{"label": f"p{p}-wp{k + 1}"}],
            }
            for k in range(LEAVES)
        ]
        project = {
            "key": f"P{p}",
            "name": f"Project {p}",
            "start": START.isoformat(),
            "finish": "2026-12-18",
            "budget_at_completion": 220_000,
            "rate_card": [{"role": "developer", "rate": 90, "effective_from": "2026-01-01"}],
            "progress_by": "story_points",
            "milestones": [
                {
                    "name": f"R{m + 1}",
                    "due": _due(m).isoformat(),
                    "match": [{"label": f"p{p}-r{m}"}],
                }
                for m in range(MILESTONES)
            ],
            "deliverables": [{"code": "1", "name": f"Project {p}", "children": leaves}],
        }
        text_ = yaml.safe_dump(project, sort_keys=False)
        (folder / "projects" / f"p{p}.yaml").write_text(text_, "utf-8")


def _due(milestone: int) -> date:
    return START + timedelta(days=32 * (milestone + 1))


def _stamp(seconds: np.ndarray) -> list[datetime | None]:
    return [None if s < 0 else datetime.fromtimestamp(int(s), UTC) for s in seconds.tolist()]


def _insert(store: Store, cls: type[Any], rows: list[dict[str, Any]]) -> None:
    with store.transaction() as conn:
        for start in range(0, len(rows), CHUNK):
            conn.execute(insert(model.table_of(cls)), rows[start : start + CHUNK])


def build_store(store: Store, projects: int, items: int, seed: int) -> dict[str, int]:
    """Fill the store with a linked synthetic portfolio; return the row counts."""
    rng = np.random.default_rng(seed)
    moment = NOW
    jira = store.source_id("jira", kind="jira")
    people = projects * PEOPLE
    _insert(
        store,
        model.Person,
        [
            {"id": n + 1, "key": f"dev{n}", "name": f"Developer {n}", "created_at": moment}
            for n in range(people)
        ],
    )
    _insert(
        store,
        model.Identity,
        [
            {
                "source_id": jira,
                "login": f"dev{n}",
                "person_id": n + 1,
                "first_seen_at": moment,
                "last_seen_at": moment,
            }
            for n in range(people)
        ],
    )
    plan_rows: dict[type[Any], list[dict[str, Any]]] = {
        model.Project: [],
        model.Deliverable: [],
        model.Milestone: [],
    }
    for p in range(projects):
        pid = p + 1
        plan_rows[model.Project].append(
            {
                "id": pid,
                "key": f"P{p}",
                "name": f"Project {p}",
                "start_date": START,
                "finish_date": date(2026, 12, 18),
                "budget": 220_000,
                "currency": "EUR",
                "updated_at": moment,
            }
        )
        root = pid * 10
        plan_rows[model.Deliverable].append(
            {
                "id": root,
                "project_id": pid,
                "code": "1",
                "name": f"Project {p}",
                "updated_at": moment,
            }
        )
        for k in range(LEAVES):
            plan_rows[model.Deliverable].append(
                {
                    "id": root + k + 1,
                    "project_id": pid,
                    "code": f"1.{k + 1}",
                    "parent_id": root,
                    "name": f"Work package {k + 1}",
                    "planned_start": START + timedelta(days=30 * k),
                    "planned_finish": START + timedelta(days=30 * k + 120),
                    "planned_cost": 40_000,
                    "position": k + 1,
                    "updated_at": moment,
                }
            )
        for m in range(MILESTONES):
            plan_rows[model.Milestone].append(
                {
                    "id": pid * MILESTONES + m,
                    "project_id": pid,
                    "name": f"R{m + 1}",
                    "due_date": _due(m),
                    "tool_due_date": _due(m),
                    "position": m,
                    "updated_at": moment,
                }
            )
    for cls, rows in plan_rows.items():
        _insert(store, cls, rows)

    # Items: each in one milestone and one work package, created before its milestone is due.
    project = rng.integers(0, projects, items)
    milestone = rng.integers(0, MILESTONES, items)
    due = np.array([_due(m) for m in range(MILESTONES)], "datetime64[D]")[milestone]
    due_s = due.astype("datetime64[s]").astype(np.int64) + 17 * 3600
    created = due_s - rng.integers(20, 70, items) * 86_400 + rng.integers(0, 86_400, items)
    now_s = int(NOW.timestamp())
    backlog = created >= now_s  # later milestones: work already on the backlog
    created[backlog] = now_s - rng.integers(1, 90, int(backlog.sum())) * 86_400
    count = items
    started = created + rng.integers(1, 15, count) * 86_400
    done = started + rng.integers(1, 12, count) * 86_400
    category = np.where(done <= now_s, "done", np.where(started <= now_s, "in_progress", "todo"))
    status = np.where(
        category == "done", "Done", np.where(category == "todo", "To Do", "In Progress")
    )
    points = rng.choice([1.0, 2.0, 3.0, 5.0, 8.0], count)
    leaf = rng.integers(1, LEAVES + 1, count)
    who = project * PEOPLE + rng.integers(0, PEOPLE, count)
    ids = np.arange(1, count + 1)
    stamps = {name: _stamp(v) for name, v in (("created", created), ("done", done))}
    stamps["started"] = _stamp(started)
    resolved = _stamp(np.where(category == "done", done, -1))
    for start in range(0, count, CHUNK):
        part = range(start, min(count, start + CHUNK))
        rows = [
            {
                "id": int(ids[i]),
                "source_id": jira,
                "external_id": str(ids[i]),
                "payload_hash": "x",
                "first_seen_at": moment,
                "last_seen_at": moment,
                "key": f"P{project[i]}-{ids[i]}",
                "title": f"Item {ids[i]}",
                "container": f"P{project[i]}",
                "item_type": "Story",
                "status": str(status[i]),
                "status_category": str(category[i]),
                "created_at": stamps["created"][i],
                "updated_at": stamps["created"][i],
                "resolved_at": resolved[i],
                "labels": [f"p{project[i]}-r{milestone[i]}", f"p{project[i]}-wp{leaf[i]}"],
                "components": [],
                "milestones": [],
                "story_points": float(points[i]),
                "is_pull_request": False,
                "custom": {},
                "project_id": int(project[i]) + 1,
                "deliverable_id": (int(project[i]) + 1) * 10 + int(leaf[i]),
            }
            for i in part
        ]
        changes = []
        for i in part:
            for n, (when, before, after) in enumerate(
                (
                    (started[i], "To Do", "In Progress"),
                    (done[i], "In Progress", "Done"),
                )
            ):
                if when <= now_s:
                    key = stamps["started"][i] if n == 0 else stamps["done"][i]
                    changes.append(
                        {
                            "source_id": jira,
                            "external_id": f"{ids[i]}-{n}",
                            "payload_hash": "x",
                            "first_seen_at": moment,
                            "last_seen_at": moment,
                            "item_external_id": str(ids[i]),
                            "at": key,
                            "field": "status",
                            "from_value": before,
                            "to_value": after,
                        }
                    )
        logs = [
            {
                "source_id": jira,
                "external_id": str(ids[i]),
                "payload_hash": "x",
                "first_seen_at": moment,
                "last_seen_at": moment,
                "item_external_id": str(ids[i]),
                "author_login": f"dev{who[i]}",
                "started_at": stamps["started"][i],
                "seconds": 3600 * int(1 + points[i]),
                "updated_at": moment,
            }
            for i in part
            if i % 2 == 0 and started[i] <= now_s
        ]
        links = [
            {
                "milestone_id": (int(project[i]) + 1) * MILESTONES + int(milestone[i]),
                "work_item_id": int(ids[i]),
            }
            for i in part
        ]
        with store.transaction() as conn:
            keys = ("source_id", "external_id")
            upsert_rows(conn, model.table_of(model.WorkItem), rows, keys, ("last_seen_at",))
            upsert_rows(
                conn, model.table_of(model.WorkItemChange), changes, keys, ("last_seen_at",)
            )
            upsert_rows(conn, model.table_of(model.Worklog), logs, keys, ("last_seen_at",))
            conn.execute(insert(model.table_of(model.MilestoneItem)), links)
    _insert(store, model.CalendarEvent, absences(store, people, rng))
    return count_rows(store)


HOLIDAYS = [date(2026, m, d) for m, d in ((1, 1), (4, 3), (4, 6), (5, 1), (5, 14), (5, 25),
                                          (10, 3), (12, 24), (12, 25), (12, 31))]  # fmt: skip
"""Public holidays on the company's holiday calendar, which covers everyone."""


def absences(store: Store, people: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Return the company's public holidays and a week of leave for each person, as events.

    Leave and holidays take hours off the team capacity (``pmsync.meetings``), as in
    any real installation: without them the capacity table would be one plain week
    shared by everyone, which no portfolio has.
    """
    calendar = store.source_id("calendar", kind="gcal")
    holidays = "en.company#holiday@group.v.calendar.google.com"
    common = {"source_id": calendar, "payload_hash": "x", "first_seen_at": NOW,
              "last_seen_at": NOW, "updated_at": NOW, "status": "confirmed",
              "attendee_logins": [], "all_day": True}  # fmt: skip
    rows = [
        {**common, "external_id": f"holiday-{day}", "calendar_id": holidays, "title": "Holiday",
         "event_type": "default", "meeting_kind": "public_holiday", "away_person_ids": [],
         "starts_at": datetime.combine(day, datetime.min.time(), UTC),
         "ends_at": datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)}
        for day in HOLIDAYS
    ]  # fmt: skip
    first = rng.integers(0, 300, people)
    for n in range(people):
        day = START + timedelta(days=int(first[n]))
        rows.append(
            {**common, "external_id": f"leave-{n}", "calendar_id": f"dev{n}@example.com",
             "title": "Out of office", "event_type": "outOfOffice", "meeting_kind": "leave",
             "away_person_ids": [n + 1], "person_ids": [n + 1],
             "starts_at": datetime.combine(day, datetime.min.time(), UTC),
             "ends_at": datetime.combine(day + timedelta(days=7), datetime.min.time(), UTC)}
        )  # fmt: skip
    return rows


def count_rows(store: Store) -> dict[str, int]:
    """Return the rows of the tables the benchmark fills."""
    with store.engine.connect() as conn:
        return {
            name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar() or 0)
            for name in (
                "project",
                "milestone",
                "work_item",
                "work_item_change",
                "worklog",
                "calendar_event",
            )
        }


@contextmanager
def database(backend: str, folder: Path, reuse: bool) -> Iterator[tuple[str, bool]]:
    """Yield a URL to a database of ``backend`` and whether it is already built.

    SQLite keeps its file for ``--reuse``; PostgreSQL gets a schema of its own, dropped after.
    """
    if backend == "sqlite":
        (folder / "var").mkdir(parents=True, exist_ok=True)
        path = folder / "var" / "health.db"
        built = reuse and path.exists() and (folder / "config").exists()
        if not built:
            path.unlink(missing_ok=True)
        yield f"sqlite:///{path}", built
        return
    base = os.environ.get("PMSYNC_TEST_DATABASE_URL", PG_DEFAULT)
    schema = f"pmsync_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False), False
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a twentieth of the full size")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--reuse", action="store_true", help="SQLite: keep the store of the last run of this size"
    )
    args = parser.parse_args()
    projects, items = (25, 50_000) if args.quick else (500, 1_000_000)
    folder = VAR / ("quick" if args.quick else "full")
    with database(args.backend, folder, args.reuse) as (url, built):
        started = time.perf_counter()
        if not built:
            write_config(folder / "config", projects)
        config: Config = load_config(folder / "config", load_connectors())
        store = Store.open(url, var_dir=folder / "var", now=lambda: NOW)
        store.upgrade()
        counted = count_rows(store) if built else build_store(store, projects, items, args.seed)
        if args.backend == "postgresql":
            # Statistics, as autovacuum keeps them on a real server: the CI's runs with it
            # off, and without them the planner takes a million items for a few hundred
            # (the burn-ups' fix-version read: 2.4 s instead of 0.2). docs/plan.md.
            with store.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        settled = None
        if not built:  # as the first sync leaves a store: its plan refreshed, its events linked
            settled = refresh_plan(store, config, lambda: NOW)
            link_meetings(store, config, lambda: NOW)
        seconds = time.perf_counter() - started
        print(
            f"store ({args.backend}): {counted['project']} projects, {counted['milestone']} "
            f"milestones, {counted['work_item']:,} work items, {counted['work_item_change']:,} "
            f"status changes, {counted['worklog']:,} worklogs, {counted['calendar_event']:,} "
            "holidays and leave; "
            + ("reused" if built else f"built in {seconds:.0f} s (not counted)")
        )
        if settled is not None:
            print(
                f"the refresh that settled it relinked {settled.items_relinked:,} items and "
                f"moved {settled.milestone_links_added + settled.milestone_links_removed:,} "
                "milestone links"
            )
        fold(store, config)
        speed = python_speed()  # the machine's speed now, and again after the analysis
        timings: dict[str, tuple[float, float]] = {}
        started = time.perf_counter()
        health = load_portfolio_health(
            store, config, as_of=STATUS, now=lambda: NOW, timings=timings
        )
        total = time.perf_counter() - started
        trials = sum(m.trials for h in health.values() for m in h.milestones)
        print(f"\n{len(health)} projects measured; {trials:,} Monte Carlo trials in all\n")
        print(f"{'stage':<44}{'wall s':>10}{'CPU s':>10}")
        for stage, (wall, cpu) in timings.items():
            print(f"  {stage:<42}{wall:>10.2f}{cpu:>10.2f}")
        cpu_total = sum(cpu for _, cpu in timings.values())
        print(f"{'load_portfolio_health, total':<44}{total:>10.2f}{cpu_total:>10.2f}")
        started = time.perf_counter()
        result = take_daily_snapshot(store, config, lambda: NOW, day=STATUS)
        print(
            f"{'take_daily_snapshot (' + str(result.rows) + ' rows)':<44}"
            f"{time.perf_counter() - started:>10.2f}"
        )
        analysis(store, config, folder, args, counted, total)
        print(
            f"Machine speed: {LOOP:,} additions in pure Python took {speed:.2f} s before the "
            f"metrics and {python_speed():.2f} s after the reports (best of 3; read the seconds "
            "above beside it: docs/benchmarks.md, section 6)."
        )
        store.close()


def fold(store: Store, config: Config) -> None:
    """Time what every sync does after its pull, here with nothing new to fold in."""
    now = lambda: NOW  # noqa: E731
    kinds = {name: source.type for name, source in config.sources.items()}
    _, people, _ = _clocked(lambda: link_people(store, config.settings.people, kinds))
    refreshed, refresh, _ = _clocked(lambda: refresh_plan(store, config, now))
    linked, meetings, _ = _clocked(lambda: link_meetings(store, config, now))
    changed = "changed nothing" if not (refreshed.changed or linked.changed) else "CHANGED rows"
    print(
        f"after a sync with nothing new ({changed}): people {people:.2f} s, plan refresh "
        f"{refresh:.2f} s, meeting links {meetings:.2f} s ({linked.events:,} events)"
    )


def _clocked(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``work``; return its result, wall seconds and this process's CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def analysis(
    store: Store,
    config: Config,
    folder: Path,
    args: argparse.Namespace,
    counted: dict[str, int],
    metrics_seconds: float,
) -> None:
    """Time what the daemon's check and report jobs do on this store (issue 10, point 6)."""
    now = lambda: NOW  # noqa: E731
    findings, rules_wall, rules_cpu = _clocked(lambda: evaluate_rules(store, config, now))
    out = folder / "site"
    shutil.rmtree(out, ignore_errors=True)
    written, reports_wall, reports_cpu = _clocked(
        lambda: generate_reports(config, store, out, as_of=STATUS, now=now)
    )
    charts = sum(
        1
        for report in written.projects.values()
        for chart in report.charts
        if not isinstance(chart, Unavailable)
    )
    workers = workers_for(len(written.projects))
    shutil.rmtree(folder / "site-shared", ignore_errors=True)  # not timed: the last run's files
    shared, shared_wall, _ = _clocked(lambda: _one_read(store, config, folder / "site-shared"))
    same = _same_output(findings, written, out, shared[0], shared[1], folder / "site-shared")
    rows = [
        ["metrics (load_portfolio_health)", f"{metrics_seconds:.1f}", ""],
        ["rules (evaluate_rules, as `pmsync check`)", f"{rules_wall:.1f}", f"{rules_cpu:.1f}"],
        [
            f"reports ({len(written.projects)} projects + portfolio; html, md, json; "
            f"{charts:,} charts; {workers} worker process{'es' if workers > 1 else ''})",
            f"{reports_wall:.1f}",
            f"{reports_cpu:.1f}",
        ],
        [
            "all three, each reading the store",
            f"{metrics_seconds + rules_wall + reports_wall:.1f}",
            "",
        ],
    ]
    for stage, seconds in shared[2].items():
        rows.append([f"  one read: {stage}", f"{seconds:.1f}", ""])
    rows.append(["all three from one read (`pmsync.health.analyse`)", f"{shared_wall:.1f}", ""])
    show(
        f"Analysis: {counted['project']} projects, {counted['work_item']:,} work items "
        f"({args.backend})",
        ["stage", "wall s", "CPU s"],
        rows,
        f"{len(findings):,} findings; {len(written.paths):,} files written; one read gives "
        f"{same}. CPU s: this process's (report workers not counted). Goal: under 30 s on "
        "2 cores.",
    )


def _one_read(store: Store, config: Config, out: Path) -> tuple[Any, Any, dict[str, float]]:
    """Measure once, then check the rules and write the reports from that one measurement."""
    now = lambda: NOW  # noqa: E731
    stages: dict[str, float] = {}
    measured, stages["metrics (analyse)"], _ = _clocked(
        lambda: analyse(store, config, as_of=STATUS, now=now)
    )
    findings, stages["rules"], _ = _clocked(
        lambda: evaluate_rules(store, config, now, health=measured)
    )
    written, stages["reports"], _ = _clocked(
        lambda: generate_reports(config, store, out, as_of=STATUS, now=now, analysis=measured)
    )
    return findings, written, stages


def _same_output(
    findings: list[Any], written: Any, out: Path, again: list[Any], shared: Any, other: Path
) -> str:
    """Say whether one read gave the same findings and the same report files."""
    same_findings = sorted(f.fingerprint for f in findings) == sorted(f.fingerprint for f in again)
    files = sorted(p.relative_to(out) for p in written.paths if p.suffix == ".json")
    same_files = files == sorted(p.relative_to(other) for p in shared.paths if p.suffix == ".json")
    same_files = same_files and all(
        (out / f).read_bytes() == (other / f).read_bytes() for f in files
    )
    return (
        "the same findings and the same JSON reports"
        if same_findings and same_files
        else f"DIFFERENT output (findings equal: {same_findings}; JSON reports equal: {same_files})"
    )


if __name__ == "__main__":
    main()
