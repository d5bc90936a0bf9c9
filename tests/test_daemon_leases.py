"""Leases, claims, the daemon's presence and readiness, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pmsync.daemon.health import readiness
from pmsync.daemon.leases import Leases
from pmsync.daemon.presence import (
    AnotherDaemonRunning,
    Presence,
    SqliteGuard,
    list_instances,
)
from pmsync.store import Store

TTL = timedelta(seconds=30)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_one_holder_at_a_time_until_release_or_expiry(store: Store, clock: Clock) -> None:
    a = Leases(store, "replica-a", TTL, now=clock)
    b = Leases(store, "replica-b", TTL, now=clock)
    assert a.acquire("sync:jira") is None
    assert b.acquire("sync:jira") == "replica-a"
    assert a.acquire("sync:jira") is None  # the holder may take it again
    a.release("sync:jira")
    assert b.acquire("sync:jira") is None
    clock.at += TTL - timedelta(seconds=1)
    assert a.acquire("sync:jira") == "replica-b"
    clock.at += timedelta(seconds=2)  # replica-b died: its lease expired
    assert a.acquire("sync:jira") is None
    assert a.holders()["sync:jira"][0] == "replica-a"


def test_renewal_keeps_a_lease_and_tells_when_it_was_lost(store: Store, clock: Clock) -> None:
    a = Leases(store, "replica-a", TTL, now=clock)
    b = Leases(store, "replica-b", TTL, now=clock)
    a.acquire("sync:jira")
    a.acquire("check")
    clock.at += TTL / 2
    assert a.renew(["sync:jira", "check"]) == {"sync:jira", "check"}
    clock.at += TTL * 3 / 4  # still held thanks to the renewal
    assert b.acquire("sync:jira") == "replica-a"
    clock.at += TTL  # a missed its renewals: b takes over, a learns it
    assert b.acquire("sync:jira") is None
    assert a.renew(["sync:jira", "check"]) == {"check"}


def test_a_scheduled_run_is_claimed_once_and_an_unfinished_one_is_adopted(
    store: Store, clock: Clock
) -> None:
    a = Leases(store, "replica-a", TTL, now=clock)
    b = Leases(store, "replica-b", TTL, now=clock)
    fire = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    name = f"report:PAY:0@{fire.isoformat()}"
    assert a.claim(name, "report:PAY:0", fire) is None
    assert b.claim(name, "report:PAY:0", fire) == "replica-a"
    assert b.orphans(since=fire - timedelta(days=1)) == []  # a is still producing it
    clock.at += TTL * 2  # a died before finishing
    [orphan] = b.orphans(since=fire - timedelta(days=1))
    assert (orphan.name, orphan.job_id, orphan.fire_time, orphan.holder) == (
        name,
        "report:PAY:0",
        fire,
        "replica-a",
    )
    assert b.acquire(name) is None
    b.finish(name)
    clock.at += TTL * 2
    assert a.orphans(since=fire - timedelta(days=1)) == []
    assert a.claim(name, "report:PAY:0", fire) == "replica-b"  # done: never produced again


def test_concurrent_replicas_never_both_win_a_lease(make_store: Callable[..., Store]) -> None:
    replicas = [Leases(make_store(), f"replica-{i}", TTL) for i in range(6)]
    barrier = threading.Barrier(len(replicas))
    winners: list[str] = []
    lock = threading.Lock()

    def contend(leases: Leases) -> None:
        barrier.wait()
        for round_ in range(10):
            if leases.acquire(f"sync:round-{round_}") is None:
                with lock:
                    winners.append(f"{round_}:{leases.holder}")

    threads = [threading.Thread(target=contend, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    rounds = [w.split(":")[0] for w in winners]
    assert sorted(rounds) == sorted({str(i) for i in range(10)})  # one winner per lease


def test_the_presence_row_tells_status_who_is_alive(store: Store, clock: Clock) -> None:
    presence = Presence(store, "host:1:abc", beat_seconds=10, now=clock)
    presence.announce("http://127.0.0.1:9464", {"sync:jira": {"next_run": None}})
    [me] = list_instances(store)
    assert me.alive(clock()) and me.health_url == "http://127.0.0.1:9464"
    assert not me.alive(clock() + timedelta(seconds=35))  # three beats missed
    clock.at += timedelta(seconds=30)
    presence.beat({"sync:jira": {"next_run": "2026-03-02T09:01:00+00:00"}})
    [me] = list_instances(store)
    assert me.alive(clock()) and me.jobs["sync:jira"]["next_run"].startswith("2026-03-02")
    presence.leave({})
    assert not list_instances(store)[0].alive(clock())


def test_a_second_daemon_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    store = Store.open(None, var_dir=tmp_path)
    store.upgrade()
    database = Path(str(store.engine.url.database))
    first, second = SqliteGuard(database), SqliteGuard(database)
    try:
        first.acquire(store)
        with pytest.raises(AnotherDaemonRunning, match="a SQLite database serves one daemon"):
            second.acquire(store)
        first.release()
        second.acquire(store)  # the lock goes with its holder
    finally:
        second.release()
        store.close()


def test_readiness_names_migrations_behind_and_a_refused_config(
    make_store: Callable[..., Store],
) -> None:
    store = make_store()
    checks = {c.name: c for c in readiness(store, [])}
    assert all(c.ok for c in checks.values()), checks
    with store.transaction() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    checks = {c.name: c for c in readiness(store, ["sources.yaml:3: sources.x.interval: bad"])}
    assert checks["database"].ok
    assert not checks["migrations"].ok and "behind" in checks["migrations"].detail
    assert not checks["config"].ok and "sources.yaml:3" in checks["config"].detail


def test_readiness_says_the_database_is_unreachable() -> None:
    engine = create_engine(
        "postgresql+psycopg://pmsync:pw@127.0.0.1:1/nothing", connect_args={"connect_timeout": 2}
    )
    checks = {c.name: c for c in readiness(Store(engine), [])}
    assert not checks["database"].ok and "unreachable" in checks["database"].detail
    assert "pw" not in checks["database"].detail
    assert not checks["migrations"].ok and checks["config"].ok
