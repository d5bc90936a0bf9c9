"""A refresh places again only the work items that may have moved, and lands where
placing every item would.

The reference is ``refresh_plan(relink=True)``, which places every item: after
each incremental refresh it must find nothing to change. The changes are
written the way a sync writes them (``Store.write_page``), so the upsert's and
the deletion's reset of the placement stamp is what is exercised.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, String, func, select
from typer.testing import CliRunner
from worlds import SandboxWorld

from pmsync import model, records
from pmsync.cli import app
from pmsync.plan import refresh_plan
from pmsync.plan.refresh import PlanRefresh
from pmsync.plan.sql import Scratch
from pmsync.store import Store
from pmsync.sync import run_sync

Placement = tuple[str | None, str | None, frozenset[str]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxWorld]:
    with SandboxWorld(tmp_path_factory.mktemp("linking") / "world", seed=5) as made:
        yield made


def placements(store: Store) -> dict[str, Placement]:
    """Every work item's project, deliverable and milestones, by its key."""
    wi, pr, dl = model.WorkItem, model.Project, model.Deliverable
    ms, mi = model.Milestone, model.MilestoneItem
    with store.session(readonly=True) as s:
        rows = s.execute(
            select(wi.id, wi.key, pr.key, dl.code)
            .outerjoin(pr, pr.id == wi.project_id)
            .outerjoin(dl, dl.id == wi.deliverable_id)
            .where(wi.deleted_at.is_(None))
        ).all()
        names: dict[int, set[str]] = {}
        for item_id, name in s.execute(
            select(mi.work_item_id, ms.name).join(ms, ms.id == mi.milestone_id)
        ):
            names.setdefault(item_id, set()).add(name)
    return {key: (project, code, frozenset(names.get(i, ()))) for i, key, project, code in rows}


def links(store: Store) -> dict[tuple[str, str], str | None]:
    """Each commit's and pull request's link by (its external id, the key it names): the
    key of the work item it resolves to, or None."""
    wl, wi = model.WorkItemLink, model.WorkItem
    cm = model.Commit
    with store.session(readonly=True) as s:
        rows = s.execute(
            select(cm.external_id, wl.key, wi.key)
            .join(cm, cm.id == wl.from_id)
            .outerjoin(wi, wi.id == wl.work_item_id)
            .where(wl.from_kind == "commit")
        ).all()
    return {(commit, key): item for commit, key, item in rows}


def hashes(store: Store) -> dict[tuple[int, str], tuple[str, bool]]:
    """Every work item's payload hash and whether it is deleted: what a sync changes."""
    wi = model.WorkItem
    with store.session(readonly=True) as s:
        rows = s.execute(
            select(wi.source_id, wi.external_id, wi.payload_hash, wi.deleted_at.isnot(None))
        ).all()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def refreshed(world: SandboxWorld, store: Store) -> PlanRefresh:
    """Refresh as the sync does; then placing every item again must change nothing."""
    done = refresh_plan(store, world.config, world.box.clock.now)
    after, linked = placements(store), links(store)
    again = refresh_plan(store, world.config, world.box.clock.now, relink=True)
    assert not again.changed, again
    assert placements(store) == after
    assert links(store) == linked
    return done


def stored_item(store: Store, key: str) -> records.WorkItem:
    """Return the stored Jira issue ``key`` as the record the connector would send."""
    wi = model.table_of(model.WorkItem)
    with store.session(readonly=True) as s:
        row = s.execute(select(wi).where(wi.c.key == key, wi.c.deleted_at.is_(None))).one()
    fields = {f.name for f in dataclasses.fields(records.WorkItem)}
    values: dict[str, Any] = {k: v for k, v in row._mapping.items() if k in fields}
    values.update(
        external_id=row.external_id,
        assignee=records.PersonRef(row.assignee_login) if row.assignee_login else None,
        reporter=records.PersonRef(row.reporter_login) if row.reporter_login else None,
        labels=tuple(row.labels),
        components=tuple(row.components),
        milestones=tuple(row.milestones),
    )
    return records.WorkItem(**values)


def sub_task_of(story: records.WorkItem, external_id: str, key: str) -> records.WorkItem:
    """A sub-task of ``story`` with nothing of its own that a selector could match."""
    return dataclasses.replace(
        story,
        external_id=external_id,
        key=key,
        title=f"Sub-task of {story.key}",
        item_type="Sub-task",
        parent_key=story.key,
        epic_key=None,
        labels=(),
        components=(),
        milestones=(),
    )


def write(store: Store, *written: records.Record) -> None:
    store.write_page("jira", "issues", records.Page(list(written)), None)


def commit_naming(world: SandboxWorld, store: Store, sha: str, message: str) -> records.Commit:
    """Write a commit of the CRM repository with ``message`` (its sha ``sha`` repeated)."""
    repository = world.repository("CRM").full_name
    at = stored_item(store, "CRM-6").updated_at
    commit = records.Commit(
        external_id=f"{repository}@{sha * 40}",
        sha=sha * 40,
        repository=repository,
        message=message,
        authored_at=at,
        committed_at=at,
    )
    store.write_page("github", "commits", records.Page([commit]), None)
    return commit


@pytest.fixture
def synced(world: SandboxWorld, make_store: Callable[..., Store]) -> Store:
    store = make_store()
    world.sync(store)
    return store


def test_a_plan_without_any_synced_item_shows_empty_milestones(
    world: SandboxWorld, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    done = refresh_plan(store, world.config, world.box.clock.now)
    assert done.items_placed == 0 and done.milestones > 0
    ms = model.Milestone
    with store.session(readonly=True) as s:
        scopes = set(s.execute(select(ms.scope_items, ms.scope_points)).all())
    assert scopes == {(0, 0.0)}  # measured as empty, not left unknown


def test_a_refresh_with_nothing_new_places_no_item(world: SandboxWorld, synced: Store) -> None:
    done = refreshed(world, synced)
    assert done.items_placed == 0
    assert not done.changed
    assert done.items_in_projects > 100


def test_a_sub_task_follows_its_parent_story_from_epic_to_epic(
    world: SandboxWorld, synced: Store
) -> None:
    story = stored_item(synced, "CRM-6")
    assert story.epic_key == "CRM-1"  # the generated world: deliverable 1.1 is epic CRM-1
    write(synced, sub_task_of(story, "crm-sub-1", "CRM-900"))
    done = refreshed(world, synced)
    assert done.items_placed == 1
    assert placements(synced)["CRM-900"][:2] == ("CRM", "1.1")

    write(synced, dataclasses.replace(story, epic_key="CRM-12", parent_key="CRM-12"))
    done = refreshed(world, synced)
    assert done.items_placed == 2  # the story, and the sub-task that follows it
    assert placements(synced)["CRM-6"][:2] == ("CRM", "1.2")
    assert placements(synced)["CRM-900"][:2] == ("CRM", "1.2")


def test_a_sub_task_whose_parent_changed_key_or_went_is_placed_again(
    world: SandboxWorld, synced: Store
) -> None:
    story = stored_item(synced, "CRM-6")
    write(synced, sub_task_of(story, "crm-sub-2", "CRM-901"))
    refreshed(world, synced)
    assert placements(synced)["CRM-901"][:2] == ("CRM", "1.1")

    # The story is moved and renumbered; its sub-task still names the old key.
    write(synced, dataclasses.replace(story, key="CRM-950"))
    assert refreshed(world, synced).items_placed == 2  # the story, and its orphaned sub-task
    assert placements(synced)["CRM-901"][:2] == ("CRM", None)  # the Jira project, no epic
    assert refreshed(world, synced).items_placed == 0  # an orphan is placed once, not each time

    write(synced, dataclasses.replace(story, key="CRM-6"))
    refreshed(world, synced)
    assert placements(synced)["CRM-901"][:2] == ("CRM", "1.1")

    write(synced, records.Deletion(story.external_id, record_kind="work_item"))
    refreshed(world, synced)
    assert "CRM-6" not in placements(synced)
    assert placements(synced)["CRM-901"][:2] == ("CRM", None)


def test_an_item_whose_parent_is_not_synced_is_placed_once(
    world: SandboxWorld, synced: Store
) -> None:
    story = stored_item(synced, "CRM-6")
    # Its parent lives in a Jira project pmsync does not sync.
    write(
        synced, dataclasses.replace(sub_task_of(story, "crm-sub-3", "CRM-902"), parent_key="OPS-7")
    )
    assert refreshed(world, synced).items_placed == 1
    assert placements(synced)["CRM-902"][:2] == ("CRM", None)
    assert refreshed(world, synced).items_placed == 0


@pytest.mark.parametrize("relink", [False, True], ids=["changed item", "every item"])
def test_an_item_a_sync_rewrites_while_a_refresh_places_it_is_placed_by_the_next(
    world: SandboxWorld,
    synced: Store,
    make_store: Callable[..., Store],
    monkeypatch: pytest.MonkeyPatch,
    relink: bool,
) -> None:
    """A refresh reads an item, a sync rewrites it, the refresh writes its placement.

    The refresh must not mark the new version placed with the old one's
    placement. An item it holds (one to place again) the sync waits for (row
    locks on PostgreSQL, the database lock on SQLite); one it does not (placed
    already, moved because every item is placed) keeps the state the sync
    gave it. Either way the next refresh places it.
    """
    story = stored_item(synced, "CRM-6")
    if relink:  # placed, its state current, but not where placing it puts it
        wi = model.table_of(model.WorkItem)
        with synced.transaction() as conn:
            conn.execute(wi.update().where(wi.c.key == "CRM-6").values(deliverable_id=None))
    else:  # written since it was placed
        write(synced, dataclasses.replace(story, title="Reworded"))
    import pmsync.plan.linking as linking

    read, go = threading.Event(), threading.Event()
    writing = linking._write_best

    def paused(*args: Any, **kwargs: Any) -> int:  # the items are read, not yet written
        read.set()
        assert go.wait(timeout=60)
        return writing(*args, **kwargs)

    monkeypatch.setattr(linking, "_write_best", paused)
    done: list[PlanRefresh] = []
    refresh = threading.Thread(
        target=lambda: done.append(
            refresh_plan(synced, world.config, world.box.clock.now, relink=relink)
        )
    )
    refresh.start()
    assert read.wait(timeout=60)
    other = make_store()  # another process's store, as a daemon and `pmsync sync` have
    moved = dataclasses.replace(story, epic_key="CRM-12", parent_key="CRM-12")
    sync = threading.Thread(target=write, args=(other, moved))
    sync.start()
    sync.join(timeout=0.5)
    if not relink:
        assert sync.is_alive()  # it waits for the refresh
    go.set()
    refresh.join(timeout=60)
    sync.join(timeout=60)
    assert done and not refresh.is_alive() and not sync.is_alive()
    monkeypatch.setattr(linking, "_write_best", writing)

    assert placements(synced)["CRM-6"][:2] == ("CRM", "1.1")  # what the refresh read
    assert refreshed(world, synced).items_placed >= 1
    assert placements(synced)["CRM-6"][:2] == ("CRM", "1.2")


def test_a_commit_naming_an_issue_follows_the_issue_as_it_comes_moves_and_goes(
    world: SandboxWorld, synced: Store
) -> None:
    story = stored_item(synced, "CRM-6")
    commit = commit_naming(world, synced, "c", "CRM-904: the export keeps the customer's time zone")
    refreshed(world, synced)
    named = (commit.external_id, "CRM-904")
    assert links(synced)[named] is None  # not synced yet

    issue = dataclasses.replace(story, external_id="crm-904", key="CRM-904", parent_key=None)
    write(synced, issue)
    assert refreshed(world, synced).mention_links_resolved == 1
    assert links(synced)[named] == "CRM-904"

    write(synced, dataclasses.replace(issue, key="CRM-905"))  # moved and renumbered
    assert refreshed(world, synced).mention_links_resolved == 1
    assert links(synced)[named] is None

    write(synced, issue)
    refreshed(world, synced)
    write(synced, records.Deletion(issue.external_id, record_kind="work_item"))
    assert refreshed(world, synced).mention_links_resolved == 1
    assert links(synced)[named] is None


def test_a_commit_a_sync_rewrites_while_a_refresh_scans_it_is_scanned_again_by_the_next(
    world: SandboxWorld,
    synced: Store,
    make_store: Callable[..., Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refresh reads a commit's message, a sync rewrites it, the refresh writes its links.

    On SQLite the sync waits for the refresh. On PostgreSQL it does not (the
    refresh holds no commit), and the refresh writes links of the message it
    read: the commit must keep the fingerprint of that message, not take the
    new one's, so that the next refresh reads it again.
    """
    commit = commit_naming(world, synced, "d", "CRM-6: the export keeps the customer's time zone")
    import pmsync.plan.mentions as mentions

    read, go = threading.Event(), threading.Event()
    writing = mentions._write_batch

    def paused(*args: Any) -> None:  # its texts are read, its links not yet written
        read.set()
        assert go.wait(timeout=60)
        writing(*args)

    monkeypatch.setattr(mentions, "_write_batch", paused)
    done: list[PlanRefresh] = []
    refresh = threading.Thread(
        target=lambda: done.append(refresh_plan(synced, world.config, world.box.clock.now))
    )
    refresh.start()
    assert read.wait(timeout=60)
    reworded = dataclasses.replace(commit, message="CRM-12: keep the time zone, per the epic")
    other = make_store()  # another process's store, as a daemon and `pmsync sync` have
    sync = threading.Thread(
        target=other.write_page, args=("github", "commits", records.Page([reworded]), None)
    )
    sync.start()
    sync.join(timeout=0.5)
    postgres = synced.engine.dialect.name == "postgresql"
    assert sync.is_alive() is not postgres  # SQLite: it waits for the refresh
    go.set()
    refresh.join(timeout=60)
    sync.join(timeout=60)
    assert done and not refresh.is_alive() and not sync.is_alive()
    monkeypatch.setattr(mentions, "_write_batch", writing)

    named = {key: item for (c, key), item in links(synced).items() if c == commit.external_id}
    assert named == {"CRM-6": "CRM-6"}  # what the refresh read
    assert refreshed(world, synced).records_scanned == 1
    named = {key: item for (c, key), item in links(synced).items() if c == commit.external_id}
    assert named == {"CRM-12": "CRM-12"}


def test_an_edited_project_file_places_every_item_again(
    world: SandboxWorld, make_store: Callable[..., Store], tmp_path: Path
) -> None:
    store = make_store()
    world.sync(store)
    total = len(placements(store))
    before = placements(store)
    original = world.read("projects/crm.yaml")

    def retarget(data: dict[str, Any]) -> None:
        for node in data["deliverables"][0]["children"]:
            if node["code"] == "1.2":
                node["match"] = [{"epic": "CRM-17"}]
            elif node["code"] == "1.3":
                node["match"] = [{"epic": "CRM-12"}]

    try:
        world.edit_project("CRM", retarget)
        done = refreshed(world, store)
        assert done.items_placed >= total
        after = placements(store)
        swapped = {k for k, v in before.items() if v[:2] == ("CRM", "1.2")}
        assert swapped and all(after[k][:2] == ("CRM", "1.3") for k in swapped)
    finally:
        world.write("projects/crm.yaml", original)
        world.reload()
    done = refreshed(world, store)
    assert done.items_placed >= total
    assert placements(store) == before


def test_days_of_changes_place_only_the_changed_items_and_agree_with_placing_all(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    with SandboxWorld(tmp_path / "world", seed=11) as world:
        store = make_store()
        world.sync(store)
        total = len(placements(store))
        before = hashes(store)
        for _ in range(3):
            world.box.advance(timedelta(days=9))
            report = run_sync(
                store, world.config.sources, now=world.box.clock.now, sleep=lambda s: None
            )
            assert report.ok
            after = hashes(store)
            written = sum(1 for k, v in after.items() if before.get(k) != v)
            before = after
            done = refreshed(world, store)  # then placing every item changes nothing
            assert written <= done.items_placed < total
        assert len(placements(store)) >= total


def test_plan_refresh_on_the_command_line_says_what_it_placed(
    world: SandboxWorld, synced: Store, db_url: str
) -> None:
    runner = CliRunner()
    env = {"PMSYNC_DATABASE_URL": db_url, "COLUMNS": "200"}
    base = ["--config", str(world.config_dir), "plan", "refresh"]
    with synced.session(readonly=True) as s:
        items = s.scalar(select(func.count()).select_from(model.WorkItem))

    quiet = runner.invoke(app, [*base, "--json"], env=env)
    assert quiet.exit_code == 0, quiet.output
    found = json.loads(quiet.stdout)
    assert found["items_placed"] == 0 and found["warnings"] == [] and found["changed"] is False

    everything = runner.invoke(app, [*base, "--relink", "--json"], env=env)
    assert everything.exit_code == 0, everything.output
    report = json.loads(everything.stdout)
    assert report["items_placed"] == items and report["changed"] is False

    table = runner.invoke(app, base, env=env)
    assert table.exit_code == 0, table.output
    assert "items placed" in table.output and "nothing to change" in table.output


def test_texts_reach_the_refresh_scratch_tables_as_they_were_typed(store: Store) -> None:
    # Labels and container names go through scratch tables (PostgreSQL copies them in):
    # COPY's own markers and separators must come back as text, not as structure.
    texts = ["tab\there", "new\nline", "back\\slash", "\\N", "quote'\"", "<script>", "ünï ✓", ""]
    texts.append(None)  # type: ignore[arg-type]
    with store.transaction() as conn:
        scratch = Scratch(conn)
        table = scratch.table("pmsync_texts", Column("n", Integer), Column("value", String))
        assert scratch.fill(table, [{"n": n, "value": v} for n, v in enumerate(texts)]) == 9
        back = {n: v for n, v in conn.execute(select(table.c.n, table.c.value))}
        scratch.close()
    assert back == dict(enumerate(texts))
