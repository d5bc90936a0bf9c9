"""The plan's rules on hand-made records, on SQLite and PostgreSQL.

Each test writes a few records the way the sync engine would, runs
``refresh_plan`` and checks what a PM would see: which milestone and
deliverable an item counts in, what a worklog costs, which commit names which
issue, what a baseline says moved. The end-to-end tests on a synced sandbox
are in ``test_plan_e2e.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from pmsync import model
from pmsync.config import Config
from pmsync.config.projects import Project
from pmsync.config.rules import RulesConfig
from pmsync.config.settings import PmsyncSettings
from pmsync.config.sources import Source, SourceOptions
from pmsync.people import link_people
from pmsync.plan import (
    cost_ledgers,
    list_baselines,
    load_items,
    plan_variance,
    progress_by_milestone,
    refresh_plan,
    risk_register,
    scope_history,
    set_baseline,
)
from pmsync.plan.baselines import plan_changes
from pmsync.plan.costs import UNIT, CostLedger
from pmsync.records import (
    Commit,
    Page,
    PersonRef,
    PullRequest,
    Record,
    SourceMilestone,
    WorkItem,
    WorkItemChange,
    Worklog,
)
from pmsync.store import Store

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def clock(at: datetime = T0) -> Any:
    return lambda: at


def config(
    tmp_path: Path,
    *projects: dict[str, Any],
    people: Sequence[dict[str, Any]] = (),
    timezone: str = "UTC",
    status_maps: dict[str, dict[str, str]] | None = None,
) -> Config:
    maps = status_maps or {}
    return Config(
        config_dir=tmp_path,
        settings=PmsyncSettings.model_validate({"timezone": timezone, "people": list(people)}),
        sources={
            name: Source(name, SourceOptions(type=name, status_map=maps.get(name, {})), None, None)
            for name in ("jira", "github")
        },
        projects={p["key"]: Project.model_validate(p) for p in projects},
        project_files={},
        rules=RulesConfig(),
    )


def project(key: str = "PAY", **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": f"{key} project",
        "start": "2025-11-01",
        "finish": "2026-12-31",
        "budget_at_completion": 100000,
        **extra,
    }


def issue(key: str, **kw: Any) -> WorkItem:
    github = "#" in key
    values: dict[str, Any] = {
        "external_id": key,
        "key": key,
        "title": f"work on {key}",
        "container": key.rsplit("#", 1)[0] if github else key.split("-")[0],
        "item_type": "issue" if github else "Story",
        "status": "To Do",
        "status_category": "todo",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    return WorkItem(**values)


def version(
    external_id: str, name: str, container: str, due: date | None = None
) -> SourceMilestone:
    return SourceMilestone(external_id=external_id, name=name, container=container, due_date=due)


def write(store: Store, source: str, records: Sequence[Record]) -> None:
    store.write_page(source, "test", Page(list(records)), None)


def memberships(store: Store) -> dict[str, set[str]]:
    """Milestone name → keys of the items in it."""
    mi, wi, ms = model.MilestoneItem, model.WorkItem, model.Milestone
    with store.session(readonly=True) as s:
        rows = s.execute(
            select(ms.name, wi.key)
            .join(mi, mi.milestone_id == ms.id)
            .join(wi, wi.id == mi.work_item_id)
        ).all()
    found: dict[str, set[str]] = {}
    for name, key in rows:
        found.setdefault(name, set()).add(key)
    return found


def placed(store: Store) -> dict[str, tuple[str | None, str | None]]:
    """Item key → (project key, deliverable code)."""
    wi, pr, dl = model.WorkItem, model.Project, model.Deliverable
    with store.session(readonly=True) as s:
        rows = s.execute(
            select(wi.key, pr.key, dl.code)
            .outerjoin(pr, pr.id == wi.project_id)
            .outerjoin(dl, dl.id == wi.deliverable_id)
        ).all()
    return {key: (p, d) for key, p, d in rows}


def test_a_milestone_gathers_a_fix_version_and_a_github_milestone_at_once(
    store: Store, tmp_path: Path
) -> None:
    write(
        store,
        "jira",
        [version("101", "1.0", "PAY", date(2026, 3, 1)), version("102", "1.0", "CRM")],
    )
    write(store, "github", [version("acme/pay#1", "1.0", "acme/pay", date(2026, 3, 4))])
    write(
        store,
        "jira",
        [
            issue("PAY-1", milestones=("101",), story_points=5.0),
            issue(
                "PAY-2",
                milestones=("101",),
                story_points=3.0,
                status="Done",
                status_category="done",
            ),
            issue("CRM-1", milestones=("102",), story_points=8.0),  # another Jira project's "1.0"
        ],
    )
    write(store, "github", [issue("acme/pay#7", milestones=("acme/pay#1",))])
    cfg = config(
        tmp_path,
        project(
            milestones=[
                {
                    "name": "Release 1.0",
                    "due": "2026-03-01",
                    "match": [
                        {"jira_fix_version": {"source": "jira", "name": "1.0"}},
                        {
                            "github_milestone": {
                                "source": "github",
                                "repo": "acme/pay",
                                "title": "1.0",
                            }
                        },
                    ],
                }
            ],
            deliverables=[{"code": "1", "name": "Payments", "match": [{"epic": "PAY-40"}]}],
        ),
    )
    refresh_plan(store, cfg, clock())
    assert memberships(store) == {"Release 1.0": {"PAY-1", "PAY-2", "acme/pay#7"}}
    with store.session(readonly=True) as s:
        milestone = s.scalars(select(model.Milestone)).one()
        frame = load_items(s.connection(), cfg, ["PAY"])
    assert (milestone.scope_items, milestone.scope_points) == (3, 8.0)
    assert milestone.tool_due_date == date(2026, 3, 4)  # the later of the tools' dates
    progress = progress_by_milestone(frame, [milestone.id], "story_points")[milestone.id]
    assert (progress.items, progress.done_items, progress.points, progress.done_points) == (
        3,
        1,
        8.0,
        3.0,
    )
    assert progress.unestimated_items == 1  # the GitHub issue has no points


def test_milestones_only_in_the_tools_show_up_with_their_own_dates(
    store: Store, tmp_path: Path
) -> None:
    write(
        store,
        "jira",
        [version("101", "1.0", "PAY"), version("103", "2.0", "PAY", date(2026, 6, 1))],
    )
    write(store, "github", [version("acme/pay#2", "2.0", "acme/pay", date(2026, 6, 5))])
    write(store, "jira", [issue("PAY-1", milestones=("103",)), issue("PAY-2", milestones=("101",))])
    write(store, "github", [issue("acme/pay#8", milestones=("acme/pay#2",))])
    cfg = config(
        tmp_path,
        project(
            milestones=[
                {
                    "name": "1.0",
                    "due": "2026-03-01",
                    "match": [{"jira_fix_version": {"source": "jira", "name": "1.0"}}],
                }
            ],
            deliverables=[{"code": "1", "name": "Code", "match": [{"repository": "acme/pay"}]}],
        ),
    )
    refresh_plan(store, cfg, clock())
    with store.session(readonly=True) as s:
        rows = {m.name: (m.origin, m.due_date) for m in s.scalars(select(model.Milestone))}
    assert rows == {"1.0": ("plan", date(2026, 3, 1)), "2.0": ("tool", date(2026, 6, 5))}
    assert memberships(store)["2.0"] == {"PAY-1", "acme/pay#8"}  # one milestone across tools


def test_moving_an_item_to_another_fix_version_moves_it_between_milestones(
    store: Store, tmp_path: Path
) -> None:
    write(store, "jira", [version("101", "1.0", "PAY"), version("102", "1.1", "PAY")])
    write(store, "jira", [issue("PAY-1", milestones=("101",)), issue("PAY-2", milestones=("101",))])
    selectors = [
        {
            "name": name,
            "due": "2026-03-01",
            "match": [{"jira_fix_version": {"source": "jira", "name": name}}],
        }
        for name in ("1.0", "1.1")
    ]
    cfg = config(tmp_path, project(milestones=selectors))
    refresh_plan(store, cfg, clock())
    assert memberships(store) == {"1.0": {"PAY-1", "PAY-2"}}
    write(store, "jira", [issue("PAY-2", milestones=("102",), title="moved")])
    result = refresh_plan(store, cfg, clock())
    assert memberships(store) == {"1.0": {"PAY-1"}, "1.1": {"PAY-2"}}
    assert (result.milestone_links_added, result.milestone_links_removed) == (1, 1)


@pytest.mark.parametrize(
    "db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)  # statistics are PostgreSQL's
def test_the_server_learns_the_new_links_after_a_refresh_that_made_many(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without statistics of the links PostgreSQL misplans the portfolio's reads; a refresh
    that links a tenth of the items or more takes them (a server may run no autovacuum)."""
    from pmsync.plan import refresh

    monkeypatch.setattr(refresh, "ANALYSE_AFTER_ROWS", 10)  # this store's size, not a portfolio's
    write(store, "jira", [version("101", "1.0", "PAY")])
    write(store, "jira", [issue(f"PAY-{n}", milestones=("101",)) for n in range(40)])
    cfg = config(tmp_path, project(milestones=[{
        "name": "1.0", "due": "2026-03-01",
        "match": [{"jira_fix_version": {"source": "jira", "name": "1.0"}}],
    }]))  # fmt: skip

    def known() -> set[tuple[str, str]]:
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT tablename, attname FROM pg_stats WHERE schemaname = current_schema() "
                "AND tablename IN ('work_item', 'milestone_item')"
            ).all()
        return {(str(table), str(column)) for table, column in rows}

    assert ("work_item", "project_id") not in known()  # the server here runs no autovacuum
    refresh_plan(store, cfg, clock())
    assert {("work_item", "project_id"), ("milestone_item", "milestone_id")} <= known()


def test_a_refresh_analyses_the_links_only_when_it_changed_a_tenth_of_them() -> None:
    from types import SimpleNamespace

    from pmsync.plan import refresh
    from pmsync.plan.linking import ItemLinks

    ran: list[str] = []

    class Connection:
        def __enter__(self) -> Connection:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def exec_driver_sql(self, statement: str) -> None:
            ran.append(statement.split()[1])

        def commit(self) -> None:
            pass

    def analysed(dialect: str, links: ItemLinks) -> list[str]:
        ran.clear()
        engine = SimpleNamespace(dialect=SimpleNamespace(name=dialect), connect=Connection)
        refresh._analyse_relinked(SimpleNamespace(engine=engine), links)  # type: ignore[arg-type]
        return list(ran)

    first = ItemLinks(50_000, 0, 100_000, 100_000)  # a first refresh: every item linked
    assert analysed("postgresql", first) == ["work_item", "milestone_item"]
    assert analysed("sqlite", first) == []
    assert analysed("postgresql", ItemLinks(300, 200, 9_000, 100_000)) == []  # under a tenth
    assert analysed("postgresql", ItemLinks(300, 200, 9_500, 100_000)) != []
    assert analysed("postgresql", ItemLinks(0, 0, 900, 1_000)) == []  # a small store: 1,000 rows


def test_the_most_specific_deliverable_claims_an_item(store: Store, tmp_path: Path) -> None:
    write(
        store,
        "jira",
        [
            issue("PAY-40", item_type="Epic"),
            issue("PAY-1", epic_key="PAY-40", parent_key="PAY-40", labels=("ux",)),
            issue("PAY-2", labels=("ux",)),
            issue("PAY-3", parent_key="PAY-1", item_type="Sub-task"),  # the epic's grandchild
            issue("PAY-4"),  # in the Jira project, claimed by no deliverable
            issue("OPS-1", labels=("ux",)),
        ],
    )
    cfg = config(
        tmp_path,
        project(
            deliverables=[
                {
                    "code": "1",
                    "name": "Product",
                    "match": [{"label": "ux"}],
                    "children": [
                        {"code": "1.1", "name": "Checkout", "match": [{"epic": "PAY-40"}]},
                        {"code": "1.2", "name": "Design", "match": [{"label": "ux"}]},
                    ],
                }
            ]
        ),
    )
    refresh_plan(store, cfg, clock())
    assert placed(store) == {
        "PAY-40": ("PAY", None),
        "PAY-1": ("PAY", "1.1"),  # an epic beats a label at the same depth
        "PAY-2": ("PAY", "1.2"),  # the deeper node beats its parent
        "PAY-3": ("PAY", "1.1"),
        "PAY-4": ("PAY", None),  # the project's work, outside the WBS
        "OPS-1": ("PAY", "1.2"),  # a label selector gathers from any source
    }


def test_status_maps_decide_what_is_done(store: Store, tmp_path: Path) -> None:
    write(
        store,
        "jira",
        [
            issue("PAY-1", status="Deployed", status_category="in_progress"),
            issue("PAY-2", status="Ready for QA", status_category="in_progress"),
            issue("PAY-3", status="In Review", status_category="in_progress"),
        ],
    )
    cfg = config(
        tmp_path,
        project(
            status_map={"ready for qa": "todo"},
            deliverables=[{"code": "1", "name": "All", "match": [{"epic": "PAY-40"}]}],
        ),
        status_maps={"jira": {"Deployed": "done", "Ready for QA": "done"}},
    )
    refresh_plan(store, cfg, clock())
    with store.session(readonly=True) as s:
        frame = load_items(s.connection(), cfg, ["PAY"])
    by_key = dict(zip(frame.work_item_id.tolist(), frame.category.tolist(), strict=True))
    with store.session(readonly=True) as s:
        ids = dict(s.execute(select(model.WorkItem.key, model.WorkItem.id)).all())
    # source map: Deployed is done; the project's map wins over the source's for Ready for QA
    assert [by_key[ids[k]] for k in ("PAY-1", "PAY-2", "PAY-3")] == [2, 0, 1]


def test_missing_points_estimates_and_resolutions_read_as_not_a_number(
    store: Store, tmp_path: Path
) -> None:
    """What an item lacks reads as NaN or NaT in the frame, never as a number; zeros stay zeros."""
    done = T0 + timedelta(days=3, hours=5, seconds=7)
    write(
        store,
        "jira",
        [
            issue("PAY-1", story_points=5.0, original_estimate_seconds=7200, resolved_at=done,
                  status="Done", status_category="done"),
            issue("PAY-2"),
            issue("PAY-3", story_points=0.0, original_estimate_seconds=0),
        ],
    )  # fmt: skip
    cfg = config(
        tmp_path,
        project(deliverables=[{"code": "1", "name": "All", "match": [{"epic": "PAY-40"}]}]),
    )
    refresh_plan(store, cfg, clock())
    with store.session(readonly=True) as s:
        frame = load_items(s.connection(), cfg, ["PAY"])
        ids = dict(s.execute(select(model.WorkItem.key, model.WorkItem.id)).all())
    row = {item: n for n, item in enumerate(frame.work_item_id.tolist())}
    one, two, three = (row[ids[k]] for k in ("PAY-1", "PAY-2", "PAY-3"))
    assert (frame.story_points[one], frame.estimate_seconds[one]) == (5.0, 7200.0)
    assert frame.resolved_at[one] == np.datetime64(done.replace(tzinfo=None), "s")
    assert np.isnan(frame.story_points[two]) and np.isnan(frame.estimate_seconds[two])
    assert np.isnat(frame.resolved_at[two]) and np.isnat(frame.resolved_at[three])
    assert (frame.story_points[three], frame.estimate_seconds[three]) == (0.0, 0.0)
    assert frame.category[one] == 2 and frame.category[two] == 0


def test_cost_is_hours_times_the_rate_valid_that_day(store: Store, tmp_path: Path) -> None:
    ana, ben = PersonRef("acc-ana"), PersonRef("acc-ben")
    write(store, "jira", [issue("PAY-1"), issue("PAY-2", epic_key="PAY-40")])

    def log(n: int, who: PersonRef, start: datetime, hours: float, item: str = "PAY-1") -> Worklog:
        return Worklog(str(n), item, who, start, int(hours * 3600), start)

    write(
        store,
        "jira",
        [
            log(1, ana, datetime(2026, 1, 30, 10, tzinfo=UTC), 2),  # role rate 100
            log(2, ana, datetime(2026, 1, 31, 23, 30, tzinfo=UTC), 1.5),  # Feb 1 in Berlin: 120
            log(3, ben, datetime(2026, 1, 15, 9, tzinfo=UTC), 3),  # ben's own rate from Jan 1
            log(4, ben, datetime(2025, 12, 15, 9, tzinfo=UTC), 1, "PAY-2"),  # before: role 100
            log(5, PersonRef("stranger"), datetime(2026, 1, 15, 9, tzinfo=UTC), 4),
        ],
    )
    cfg = config(
        tmp_path,
        project(
            rate_card=[
                {"role": "developer", "rate": 100, "effective_from": "2025-11-01"},
                {"role": "developer", "rate": 120, "effective_from": "2026-02-01"},
                {"person": "ben", "rate": 150.5, "effective_from": "2026-01-01"},
            ],
            deliverables=[{"code": "1", "name": "Checkout", "match": [{"epic": "PAY-40"}]}],
        ),
        people=[
            {"id": "ana", "name": "Ana", "role": "developer", "aliases": {"jira": ["acc-ana"]}},
            {"id": "ben", "name": "Ben", "role": "developer", "aliases": {"jira": ["acc-ben"]}},
        ],
        timezone="Europe/Berlin",
    )
    link_people(store, cfg.settings.people, {"jira": "jira", "github": "github"})
    refresh_plan(store, cfg, clock())
    with store.session(readonly=True) as s:
        ledger = cost_ledgers(s.connection(), cfg, ["PAY"])["PAY"]
        checkout = s.scalar(select(model.Deliverable.id))
    expected = Decimal("2") * 100 + Decimal("1.5") * 120 + Decimal("3") * Decimal("150.5") + 100
    assert ledger.total() == expected == Decimal("931.50")
    assert ledger.by_person() == {
        "ana": Decimal("380.00"),
        "ben": Decimal("551.50"),
        "stranger (jira)": Decimal("0.00"),
    }
    assert ledger.unrated_hours() == {"stranger (jira)": 4.0}
    assert ledger.by_month() == {
        "2025-12": Decimal("100.00"),
        "2026-01": Decimal("651.50"),
        "2026-02": Decimal("180.00"),
    }
    assert ledger.by_deliverable() == {None: Decimal("831.50"), checkout: Decimal("100.00")}
    assert ledger.by_fiscal_year(cfg.projects["PAY"]) == {
        2025: Decimal("100.00"),
        2026: Decimal("831.50"),
    }


def test_a_fiscal_year_starting_in_april_takes_its_first_day_and_not_the_day_before() -> None:
    days = ["2025-04-05", "2025-04-06", "2026-01-15", "2026-04-05", "2026-04-06", "2028-02-29"]
    ledger = CostLedger(
        project="PAY",
        currency="EUR",
        day=np.array(days, "datetime64[D]"),
        value=np.array([1, 2, 4, 8, 16, 32], "int64") * UNIT,
        seconds=np.zeros(6, "int64"),
        labour=np.zeros(6, bool),
        rated=np.ones(6, bool),
        deliverable_id=np.full(6, -1, "int64"),
        who=np.full(6, -1, "int64"),
        people=(),
    )
    uk = Project.model_validate(project(fiscal_year_start={"month": 4, "day": 6}))
    assert ledger.by_fiscal_year(uk) == {
        2024: Decimal("1.00"),
        2025: Decimal("14.00"),  # 6 April 2025 to 5 April 2026
        2026: Decimal("16.00"),
        2027: Decimal("32.00"),  # 29 February 2028 is still in the year from April 2027
    }


@pytest.mark.parametrize("batch", [10_000, 1], ids=["one-batch", "record-by-record"])
def test_commits_and_pull_requests_are_linked_to_the_items_they_name(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    from pmsync.plan import mentions

    monkeypatch.setattr(mentions, "SCAN_BATCH", batch)  # a first sync reads them in batches
    write(store, "jira", [issue("PAY-12"), issue("PAY-7")])
    write(store, "github", [issue("acme/pay#3")])
    write(
        store,
        "github",
        [
            Commit("acme/pay@a1", "a1", "acme/pay", "PAY-12: tidy the ledger, bump UTF-8", T0, T0),
            Commit("acme/pay@a2", "a2", "acme/pay", "Start PAY-99 (not synced yet)", T0, T0),
            PullRequest(
                "acme/pay#5",
                5,
                "acme/pay",
                "Ledger rounding",
                "open",
                T0,
                T0,
                head_ref="feature/PAY-7-rounding",
                body="This fixes #3, see PAY-12.",
            ),
        ],
    )
    cfg = config(tmp_path, project())
    first = refresh_plan(store, cfg, clock())
    # each link is written pointing at its item: none needs resolving afterwards
    assert (first.mention_links_written, first.mention_links_resolved) == (5, 0)

    def links() -> set[tuple[str, str, str, str | None]]:
        wl, wi = model.WorkItemLink, model.WorkItem
        with store.session(readonly=True) as s:
            rows = s.execute(
                select(wl.from_kind, wl.key, wl.relation, wi.key).outerjoin(
                    wi, wi.id == wl.work_item_id
                )
            ).all()
        return {tuple(r) for r in rows}  # type: ignore[misc]

    assert links() == {
        ("commit", "PAY-12", "mentions", "PAY-12"),
        ("commit", "PAY-99", "mentions", None),  # UTF-8 is not a Jira project
        ("pull_request", "acme/pay#3", "fixes", "acme/pay#3"),
        ("pull_request", "PAY-12", "mentions", "PAY-12"),
        ("pull_request", "PAY-7", "mentions", "PAY-7"),
    }
    write(store, "jira", [issue("PAY-99")])
    again = refresh_plan(store, cfg, clock())
    assert ("commit", "PAY-99", "mentions", "PAY-99") in links()
    assert again.records_scanned == 0 and again.mention_links_resolved == 1


def test_an_in_memory_store_links_commits_though_no_other_connection_sees_it(
    tmp_path: Path,
) -> None:
    """A ``sqlite://`` store lives in its one connection (not in WAL mode): the refresh
    scans texts on it, not in a thread beside it (which would open an empty database)."""
    store = Store.open("sqlite://", var_dir=tmp_path / "var")
    store.upgrade()
    write(store, "jira", [issue("PAY-12")])
    write(store, "github", [Commit("acme/pay@a1", "a1", "acme/pay", "PAY-12: tidy it", T0, T0)])
    done = refresh_plan(store, config(tmp_path, project()), clock())
    assert (done.records_scanned, done.mention_links_written) == (1, 1)
    wl, wi = model.WorkItemLink, model.WorkItem
    with store.session(readonly=True) as s:
        named = s.execute(select(wl.key, wi.key).join(wi, wi.id == wl.work_item_id)).all()
    assert [tuple(row) for row in named] == [("PAY-12", "PAY-12")]


@pytest.mark.parametrize("fails", ["placing", "scanning"])
def test_a_refresh_that_fails_beside_its_scan_writes_nothing_and_leaves_no_thread(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    """Texts are scanned in a thread while items are placed: a failure on either side
    ends the refresh with that error, undone, and the thread stopped."""
    import pmsync.plan.refresh
    from pmsync.plan import mentions

    monkeypatch.setattr(mentions, "SCAN_BATCH", 1)  # three batches, one held ahead:
    monkeypatch.setattr(mentions, "AHEAD_BATCHES", 1)  # the thread waits to hand them over
    write(store, "jira", [issue("PAY-12")])
    messages = ["PAY-12: tidy", "PAY-12: test", "PAY-12: ship"]
    write(
        store,
        "github",
        [Commit(f"c{i}", f"c{i}", "acme/pay", m, T0, T0) for i, m in enumerate(messages)],
    )

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{fails} broke")

    if fails == "placing":
        monkeypatch.setattr(pmsync.plan.refresh, "link_items", broken)
    else:
        monkeypatch.setattr(mentions.KeyFinder, "find", broken)
    with pytest.raises(RuntimeError, match=f"{fails} broke"):
        refresh_plan(store, config(tmp_path, project()), clock())
    assert not [t for t in threading.enumerate() if t.name == "pmsync-mentions"]
    with store.session(readonly=True) as s:
        assert s.scalars(select(model.Project.key)).all() == []  # undone
        assert s.scalars(select(model.WorkItemLink.key)).all() == []


def test_a_baseline_then_moved_dates_show_the_variance_and_unapproved_changes(
    store: Store, tmp_path: Path
) -> None:
    write(store, "jira", [version("101", "1.0", "PAY", date(2026, 3, 1))])
    write(store, "jira", [issue("PAY-1", milestones=("101",))])
    milestone = {
        "name": "Go-live",
        "due": "2026-03-01",
        "match": [{"jira_fix_version": {"source": "jira", "name": "1.0"}}],
    }
    leaf = {
        "code": "1",
        "name": "Build",
        "planned_start": "2025-11-01",
        "planned_finish": "2026-02-28",
        "planned_cost": 50000,
    }
    cfg = config(tmp_path, project(milestones=[milestone], deliverables=[leaf]))
    refresh_plan(store, cfg, clock())
    first = set_baseline(store, "PAY", note="kick-off", now=clock())
    assert (first.version, first.approved_changes) == (1, 0)

    later = datetime(2026, 2, 1, tzinfo=UTC)
    write(store, "jira", [version("101", "1.0", "PAY", date(2026, 3, 15))])  # the team moves it
    write(store, "jira", [issue("PAY-2", milestones=("101",))])  # and adds scope
    moved = config(
        tmp_path,
        project(
            budget_at_completion=120000,
            milestones=[{**milestone, "due": "2026-03-08"}],
            deliverables=[{**leaf, "planned_finish": "2026-03-31", "planned_cost": 60000}],
        ),
    )
    result = refresh_plan(store, moved, clock(later))
    with store.session(readonly=True) as s:
        variance = plan_variance(s.connection(), "PAY")
        changes = plan_changes(s.connection(), "PAY")
    go_live = variance.milestones[0]
    assert (go_live.baseline_due, go_live.due, go_live.tool_due) == (
        date(2026, 3, 1),
        date(2026, 3, 8),
        date(2026, 3, 15),
    )
    assert (go_live.due_shift_days, go_live.tool_shift_days, go_live.slip_days) == (7, 14, 14)
    assert (go_live.baseline_scope_items, go_live.scope_items) == (1, 2)
    assert go_live.scope_growth_pct == 100.0
    assert (variance.baseline_budget, variance.budget) == (
        Decimal("100000.00"),
        Decimal("120000.00"),
    )
    assert variance.deliverables[0].finish_shift_days == 31
    recorded = {(c.subject, c.field, c.from_value, c.to_value) for c in changes}
    assert recorded == {
        ("project", "budget", "100000.00", "120000.00"),
        ("milestone:Go-live", "due", "2026-03-01", "2026-03-08"),
        ("milestone:Go-live", "tool_due", "2026-03-01", "2026-03-15"),
        ("milestone:Go-live", "scope_items", "1", "2"),
        ("deliverable:1", "planned_finish", "2026-02-28", "2026-03-31"),
        ("deliverable:1", "planned_cost", "50000.00", "60000.00"),
    }
    assert result.plan_changes == len(recorded)
    assert all(c.unapproved and c.detected_at == later for c in changes)
    assert len(variance.unapproved_changes) == len(recorded)

    second = set_baseline(store, "PAY", note="re-plan approved", approved_by="sponsor")
    assert (second.version, second.approved_changes) == (2, len(recorded))
    with store.session(readonly=True) as s:
        after = plan_variance(s.connection(), "PAY")
    assert after.unapproved_changes == ()
    assert after.milestones[0].due_shift_days == 0
    assert [b.version for b in list_baselines(store, "PAY")] == [2, 1]


def test_scope_over_time_follows_the_fix_version_history(store: Store, tmp_path: Path) -> None:
    write(store, "jira", [version("101", "1.0", "PAY"), version("102", "1.1", "PAY")])
    created = datetime(2026, 1, 1, 9, tzinfo=UTC)
    write(
        store,
        "jira",
        [
            issue("PAY-1", milestones=("101",), story_points=2.0, created_at=created),
            issue("PAY-2", milestones=("102",), story_points=5.0, created_at=created),
            issue(
                "PAY-3",
                milestones=("101",),
                story_points=1.0,
                created_at=created,
                status="Done",
                status_category="done",
                resolved_at=datetime(2026, 1, 4, 12, tzinfo=UTC),
            ),
            WorkItemChange(
                "c1", "PAY-2", datetime(2026, 1, 3, 10, tzinfo=UTC), "fix_version", "101", None
            ),
            WorkItemChange(
                "c2", "PAY-2", datetime(2026, 1, 3, 10, tzinfo=UTC), "fix_version", None, "102"
            ),
            WorkItemChange(
                "c3", "PAY-3", datetime(2026, 1, 2, 10, tzinfo=UTC), "fix_version", None, "101"
            ),
        ],
    )
    selectors = [
        {
            "name": n,
            "due": "2026-03-01",
            "match": [{"jira_fix_version": {"source": "jira", "name": n}}],
        }
        for n in ("1.0", "1.1")
    ]
    cfg = config(tmp_path, project(milestones=selectors))
    refresh_plan(store, cfg, clock())
    with store.session(readonly=True) as s:
        conn = s.connection()
        ids = dict(s.execute(select(model.Milestone.name, model.Milestone.id)).all())
        frame = load_items(conn, cfg, ["PAY"])
        series = scope_history(conn, frame, list(ids.values()), date(2026, 1, 1), date(2026, 1, 5))
    release = series[ids["1.0"]]
    # Jan 1: PAY-1 and PAY-2; Jan 2: PAY-3 joins; Jan 3: PAY-2 moves to 1.1; Jan 4: PAY-3 done
    assert release.items.tolist() == [2, 3, 2, 2, 2]
    assert release.points.tolist() == [7.0, 8.0, 3.0, 3.0, 3.0]
    assert release.done_items.tolist() == [0, 0, 0, 1, 1]
    assert series[ids["1.1"]].items.tolist() == [0, 0, 1, 1, 1]
    assert isinstance(release.days[0], np.datetime64)


def test_a_second_refresh_changes_nothing(store: Store, tmp_path: Path) -> None:
    write(store, "jira", [version("101", "1.0", "PAY"), version("109", "9.9", "PAY")])
    write(store, "jira", [issue("PAY-1", milestones=("101", "109"), labels=("beta",))])
    write(store, "github", [Commit("acme/pay@a1", "a1", "acme/pay", "PAY-1 done", T0, T0)])
    cfg = config(
        tmp_path,
        project(
            milestones=[
                {"name": "Beta", "due": "2026-03-01", "match": [{"label": "beta"}]},
                {
                    "name": "JQL",
                    "due": "2026-03-01",
                    "match": [
                        {"jql": {"source": "jira", "query": "project = PAY AND labels in (beta)"}}
                    ],
                },
            ],
            risks=[{"id": "R1", "title": "Vendor late", "probability": 0.3, "impact": 10000}],
        ),
    )
    first = refresh_plan(store, cfg, clock())
    assert first.changed
    assert memberships(store) == {
        "Beta": {"PAY-1"},
        "JQL": {"PAY-1"},
        "1.0": {"PAY-1"},  # fix versions nobody configured: milestones of their own
        "9.9": {"PAY-1"},
    }

    def dump() -> dict[str, list[tuple[Any, ...]]]:
        with store.session(readonly=True) as s:
            return {
                t: sorted(
                    tuple(map(str, r)) for r in s.execute(select(model.Base.metadata.tables[t]))
                )
                for t in sorted(model.Base.metadata.tables)
            }

    before = dump()
    second = refresh_plan(store, cfg, clock(datetime(2026, 2, 1, tzinfo=UTC)))
    assert not second.changed, second
    assert dump() == before


@pytest.mark.parametrize(
    ("query", "members"),
    [
        ("project = PAY", {"PAY-1", "PAY-2", "PAY-3"}),
        ("labels = beta AND NOT status = Done", {"PAY-1"}),
        ("fixVersion = '1.0' OR issuetype = bug", {"PAY-1", "PAY-3"}),
        ("statusCategory = Done", {"PAY-2"}),
        ("component is EMPTY and key not in (PAY-3)", {"PAY-1"}),
        ('parent = PAY-40 or "Epic Link" = PAY-41', {"PAY-2", "PAY-3"}),
    ],
)
def test_jql_selectors_are_evaluated_over_the_synced_issues(
    store: Store, tmp_path: Path, query: str, members: set[str]
) -> None:
    write(store, "jira", [version("101", "1.0", "PAY")])
    write(
        store,
        "jira",
        [
            issue("PAY-1", labels=("beta",), milestones=("101",)),
            issue(
                "PAY-2",
                labels=("beta",),
                status="Done",
                status_category="done",
                parent_key="PAY-40",
                epic_key="PAY-40",
                components=("Web",),
            ),
            issue("PAY-3", item_type="Bug", epic_key="PAY-41", components=("Web",)),
        ],
    )
    cfg = config(
        tmp_path,
        project(
            milestones=[
                {
                    "name": "Q",
                    "due": "2026-03-01",
                    "match": [{"jql": {"source": "jira", "query": query}}],
                }
            ]
        ),
    )
    refresh_plan(store, cfg, clock())
    assert memberships(store).get("Q", set()) == members


def test_the_cost_sheet_adds_to_actual_cost_and_is_read_again_when_edited(
    store: Store, tmp_path: Path
) -> None:
    sheet = tmp_path / "costs.csv"
    sheet.write_text(
        "date,amount,category,vendor,deliverable,description\n"
        "2026-01-20,12000.00,licence,Gateway GmbH,1.1,Gateway licence\n"
        "2026-02-02,-400.00,licence,Gateway GmbH,1.1,Credit note\n"
        "2026-02-10,999.99,hardware,,,Test devices\n",
        encoding="utf-8",
    )
    leaf = {"code": "1.1", "name": "Gateway", "match": [{"epic": "PAY-40"}]}
    cfg = config(
        tmp_path,
        project(
            costs_csv="costs.csv", deliverables=[{"code": "1", "name": "All", "children": [leaf]}]
        ),
    )
    first = refresh_plan(store, cfg, clock())
    assert first.cost_entries_changed == 3
    with store.session(readonly=True) as s:
        ledger = cost_ledgers(s.connection(), cfg, ["PAY"])["PAY"]
        gateway = s.scalar(select(model.Deliverable.id).where(model.Deliverable.code == "1.1"))
    assert ledger.other_cost == ledger.total() == Decimal("12599.99")
    assert ledger.by_deliverable() == {gateway: Decimal("11600.00"), None: Decimal("999.99")}
    assert ledger.total(until=date(2026, 1, 31)) == Decimal("12000.00")
    assert refresh_plan(store, cfg, clock()).cost_entries_changed == 0
    sheet.write_text(
        "date,amount,category,vendor,deliverable,description\n"
        "2026-01-20,12500.00,licence,Gateway GmbH,1.1,Gateway licence\n",
        encoding="utf-8",
    )
    assert refresh_plan(store, cfg, clock()).cost_entries_changed == 1 + 2  # changed, removed
    with store.session(readonly=True) as s:
        assert cost_ledgers(s.connection(), cfg, ["PAY"])["PAY"].total() == Decimal("12500.00")


def test_the_risk_register_holds_configured_risks_and_jira_risk_issues(
    store: Store, tmp_path: Path
) -> None:
    write(
        store,
        "jira",
        [
            issue("PAY-40", item_type="Epic"),
            issue(
                "PAY-9",
                item_type="Risk",
                title="Card scheme certification slips",
                status="In Progress",
                status_category="in_progress",
                assignee=PersonRef("acc-ana"),
                due_date=date(2026, 2, 1),
                custom={"probability": "40%", "impact": 20000, "response": "mitigate"},
            ),
            issue("PAY-10", item_type="risk", custom={"probability": "high"}),
        ],
    )
    cfg = config(
        tmp_path,
        project(
            deliverables=[{"code": "1", "name": "All", "match": [{"epic": "PAY-40"}]}],
            risks=[
                {
                    "id": "R1",
                    "title": "Vendor <b>late</b>",
                    "probability": 0.5,
                    "impact": 10000,
                    "owner": "ana",
                    "next_review": "2026-01-15",
                }
            ],
            risk_issues=[{"source": "jira"}],
        ),
        people=[{"id": "ana", "name": "Ana", "aliases": {"jira": ["acc-ana"]}}],
    )
    link_people(store, cfg.settings.people, {"jira": "jira", "github": "github"})
    refresh_plan(store, cfg, clock())
    with store.session(readonly=True) as s:
        pid = s.scalar(select(model.Project.id))
        register = risk_register(s.connection(), pid)
    assert [(r.key, r.origin, r.status, r.owner, r.exposure) for r in register] == [
        ("PAY-9", "jira", "monitoring", "ana", pytest.approx(8000.0)),
        ("R1", "config", "open", "ana", 5000.0),
        ("PAY-10", "jira", "open", None, None),  # "high" is not a number: left empty
    ]
    assert register[0].review_date == date(2026, 2, 1)
    assert register[1].title == "Vendor <b>late</b>"
    assert refresh_plan(store, cfg, clock()).risks_changed == 0


def test_a_project_left_out_of_the_configuration_keeps_its_baselines_but_no_work(
    store: Store, tmp_path: Path
) -> None:
    write(store, "jira", [issue("PAY-40", item_type="Epic"), issue("PAY-1", epic_key="PAY-40")])
    cfg = config(
        tmp_path,
        project(deliverables=[{"code": "1", "name": "All", "match": [{"epic": "PAY-40"}]}]),
    )
    refresh_plan(store, cfg, clock())
    set_baseline(store, "PAY", now=clock())
    assert placed(store)["PAY-1"] == ("PAY", "1")
    result = refresh_plan(store, config(tmp_path), clock())
    assert result.projects == 0 and result.items_relinked == 2
    assert set(placed(store).values()) == {(None, None)}
    assert [b.version for b in list_baselines(store, "PAY")] == [1]
