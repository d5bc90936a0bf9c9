"""People are matched across tools by aliases and e-mail, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from pmsync import model
from pmsync.config.settings import Person
from pmsync.people import link_people
from pmsync.records import Commit, Page, PersonRef, WorkItem
from pmsync.store import Store

T = datetime(2026, 3, 2, 9, tzinfo=UTC)


def item(external_id: str, assignee: PersonRef) -> WorkItem:
    return WorkItem(
        external_id=external_id,
        key=f"PAY-{external_id}",
        title="t",
        container="PAY",
        item_type="Story",
        status="To Do",
        status_category="todo",
        created_at=T,
        updated_at=T,
        assignee=assignee,
    )


def commit(sha: str, author: PersonRef) -> Commit:
    return Commit(
        external_id=f"acme/pay@{sha}",
        sha=sha,
        repository="acme/pay",
        message="m",
        authored_at=T,
        committed_at=T,
        author=author,
    )


def owners(store: Store) -> dict[tuple[str, str], str | None]:
    with store.session(readonly=True) as s:
        rows = s.execute(
            select(model.Source.name, model.Identity.login, model.Person.key, model.Person.email)
            .join(model.Source, model.Source.id == model.Identity.source_id)
            .outerjoin(model.Person, model.Person.id == model.Identity.person_id)
        ).all()
    return {(src, login): key or email for src, login, key, email in rows}


def test_identities_are_linked_by_alias_then_email(store: Store) -> None:
    store.write_page(
        "jira-cloud",
        "issues",
        Page(
            [
                item("1", PersonRef("5f0a", "Maria K", "Maria.Keller@example.com")),
                item("2", PersonRef("5f0b", "Tom", None)),
                item("3", PersonRef("5f0c", "Lee", "lee@contractor.example")),
                item("4", PersonRef("5f0d", "No Mail", None)),
            ]
        ),
        None,
    )
    store.write_page(
        "github",
        "commits",
        Page(
            [
                commit("a1", PersonRef("tbecker", "Tom Becker", None)),
                commit("b2", PersonRef("lee-dev", "Lee", "LEE@contractor.example")),
            ]
        ),
        None,
    )
    people = [
        Person(id="maria", name="Maria Keller", email="maria.keller@example.com"),
        Person(
            id="tom",
            name="Tom Becker",
            email="tom@example.com",
            aliases={"jira": ["5f0b"], "github": ["tbecker"]},
        ),
    ]
    result = link_people(store, people, {"jira-cloud": "jira", "github": "github"})
    assert owners(store) == {
        ("jira-cloud", "5f0a"): "maria",  # by e-mail, case-insensitive
        ("jira-cloud", "5f0b"): "tom",  # by alias keyed by connector type
        ("github", "tbecker"): "tom",  # by alias keyed by source name
        ("jira-cloud", "5f0c"): "lee@contractor.example",  # unconfigured, one person ...
        ("github", "lee-dev"): "lee@contractor.example",  # ... across both tools
        ("jira-cloud", "5f0d"): None,  # no claim, no e-mail: left alone
    }
    assert (result.unlinked, result.people_created) == (1, 1)
    # idempotent: a second pass creates nobody and moves nobody
    again = link_people(store, people, {"jira-cloud": "jira", "github": "github"})
    assert again.people_created == 0
    assert owners(store)[("jira-cloud", "5f0c")] == "lee@contractor.example"


def test_two_syncs_that_end_at_once_link_people_without_failing(
    make_store: Callable[..., Store],
) -> None:
    """The daemon links people after each source's sync; two may end at the same moment."""
    first, second = make_store(), make_store()  # two connections to one database
    people = [Person(id=f"p{n}", name=f"Person {n}", email=f"p{n}@example.com") for n in range(300)]
    together = threading.Barrier(2)
    failures: list[BaseException] = []

    def link(store: Store) -> None:
        together.wait()
        try:
            link_people(store, people, {})
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=link, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with first.session(readonly=True) as s:
        keys = s.scalars(select(model.Person.key)).all()
    assert sorted(keys) == sorted(p.id for p in people)


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_page_naming_people_waits_for_linking_instead_of_deadlocking(
    make_store: Callable[..., Store],
) -> None:
    """Linking updates every source's identities while another source's sync may be
    writing pages that upsert its own. The two locked the same rows in orders of
    their own and PostgreSQL failed one of them on a deadlock (two syncs at once, as
    the daemon runs them). A page that writes identities now waits for the linking."""
    linker, writer = make_store(), make_store()  # two syncs' connections to one database
    writer.write_page(
        "jira",
        "issues",
        Page((item("1", PersonRef("ann", "Ann")), item("2", PersonRef("bob")))),
        None,
    )
    people = [
        Person(id="ann", name="Ann", aliases={"jira": ["ann"]}),
        Person(id="bob", name="Bob", aliases={"jira": ["bob"]}),
    ]
    inside, go_on = threading.Event(), threading.Event()
    writer_pids: set[int] = set()

    def pause_before_linking(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE identity"):
            inside.set()
            go_on.wait(30)

    def remember_pid(dbapi_conn: Any, *args: Any) -> None:
        writer_pids.add(dbapi_conn.info.backend_pid)

    event.listen(linker.engine, "before_cursor_execute", pause_before_linking)
    event.listen(writer.engine, "checkout", remember_pid)
    failures: list[BaseException] = []

    def run(work: Callable[[], object]) -> threading.Thread:
        def guarded() -> None:
            try:
                work()
            except BaseException as err:
                failures.append(err)

        thread = threading.Thread(target=guarded)
        thread.start()
        return thread

    linking = run(lambda: link_people(linker, people, {"jira": "jira"}))
    assert inside.wait(30)
    renamed = (item("1", PersonRef("ann", "Ann B.")), item("2", PersonRef("bob", "Bob C.")))
    page = run(lambda: writer.write_page("jira", "issues", Page(renamed), None))
    waiting = False
    with linker.engine.connect() as conn:
        for _ in range(100):
            waiting = bool(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%(pids)s)"
                    " AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
                    {"pids": list(writer_pids)},
                ).scalar()
            )
            if waiting or not page.is_alive():
                break
            time.sleep(0.1)
    go_on.set()
    linking.join(60)
    page.join(60)
    assert failures == []
    assert waiting  # the page waited for the linking to end
    assert owners(writer) == {("jira", "ann"): "ann", ("jira", "bob"): "bob"}
    with writer.session(readonly=True) as s:
        names = dict(s.execute(select(model.Identity.login, model.Identity.display_name)).all())
    assert names == {"ann": "Ann B.", "bob": "Bob C."}
