"""The heavy jobs run with Python's cyclic garbage collector paused, and give it back.

Measuring, checking and reporting build hundreds of thousands of objects that
are in no reference cycle, and the collector went over them again and again
for nothing (``pmsync.processes.collections_paused``). What a user would notice
if this went wrong: a daemon whose memory grows because the collector never
runs again after a job, or a job that still pays for it.
"""

from __future__ import annotations

import gc
import platform
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pmsync.config import load_config
from pmsync.connectors import load_connectors
from pmsync.processes import collections_paused, settle_startup, worker_pool
from pmsync.reports.sample import write_sample_config
from pmsync.store import Store

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_the_collector_runs_again_after_a_job_even_one_that_fails() -> None:
    with collections_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collections_paused():
        raise RuntimeError("the job failed")
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    with collections_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_jobs_in_threads_give_it_back_when_the_last_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collections_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collections_paused():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())  # the first job ended: still paused for this one
        seen.append(gc.isenabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [False, True]


def test_the_jobs_run_with_the_collector_paused(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measuring, checking, reporting and the snapshot each run paused, and give it back."""
    import pmsync.health as health
    from pmsync.health import figures, snapshot
    from pmsync.reports import jobs
    from pmsync.rules import engine

    config = load_config(write_sample_config(tmp_path / "config"), load_connectors())
    seen: dict[str, bool] = {}

    def spy(module: Any, name: str) -> None:
        real = getattr(module, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            seen[name] = gc.isenabled()
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)

    for module, name in ((figures, "load_items_and_inputs"), (health, "load_inputs"),
                         (snapshot, "load_figures"), (engine, "gather"),
                         (jobs, "collect_project")):  # fmt: skip
        spy(module, name)
    now = lambda: NOW  # noqa: E731
    health.analyse(store, config, as_of=NOW.date(), now=now)
    health.load_portfolio_health(store, config, as_of=NOW.date(), now=now)
    health.take_daily_snapshot(store, config, now)
    engine.evaluate_rules(store, config, now)
    jobs.generate_reports(config, store, tmp_path / "site", as_of=NOW.date(), now=now)
    assert seen == dict.fromkeys(
        ["load_items_and_inputs", "load_inputs", "load_figures", "gather", "collect_project"],
        False,
    )
    assert gc.isenabled()


def test_a_pool_worker_has_the_environment_of_when_the_pool_was_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not the fork server's, which may have started before a secret was set."""
    import os

    from pmsync.processes import start_fork_server

    start_fork_server()
    monkeypatch.setenv("PMSYNC_TEST_LATE", "set after the fork server started")
    pool = worker_pool(1)
    assert pool is not None
    with pool:
        seen = pool.submit(os.getenv, "PMSYNC_TEST_LATE").result(timeout=60)
        collector = pool.submit(gc.isenabled).result(timeout=60)
    assert seen == "set after the fork server started"
    assert collector is False  # and the job's collector stays paused, as before


def test_a_settled_process_still_frees_the_cycles_made_after() -> None:
    """``settle_startup`` hides what is loaded from the collector, not what comes later."""

    class Node:
        link: Any = None

    kept = Node()
    kept.link = kept
    settle_startup()
    assert gc.get_freeze_count() > 0  # the loaded heap, ``kept`` with it
    assert gc.isenabled()  # the collector keeps running, unlike collections_paused
    made_after = Node()
    made_after.link = made_after
    gone = weakref.ref(made_after)
    del made_after
    churn = [[n] for n in range(50_000)]  # enough new objects for the collector's own passes
    del churn
    assert gone() is None  # a cycle made after settling is freed without being asked
    gc.collect()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_pmsync_sync_settles_once_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync itself runs with the loaded heap frozen (the full collections skip it)."""
    import pmsync.sync
    from pmsync.cli import app

    config_dir = write_sample_config(tmp_path / "config")
    frozen: list[int] = []

    def spy(*args: Any, **kwargs: Any) -> pmsync.sync.SyncReport:
        frozen.append(gc.get_freeze_count())
        return pmsync.sync.SyncReport()

    monkeypatch.setattr(pmsync.sync, "sync_configured", spy)
    monkeypatch.setenv("PMSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'pmsync.db'}")
    gc.unfreeze()
    result = CliRunner().invoke(app, ["--config", str(config_dir), "sync"])
    assert result.exit_code == 0, result.output
    assert len(frozen) == 1 and frozen[0] > 0


def test_pmsync_run_settles_before_the_daemon_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's jobs run with the loaded heap frozen, as ``pmsync sync``'s do."""
    from pmsync.cli import app
    from pmsync.daemon import Daemon

    config_dir = write_sample_config(tmp_path / "config")
    frozen: list[int] = []

    def spy(self: Daemon) -> int:
        frozen.append(gc.get_freeze_count())
        return 0

    monkeypatch.setattr(Daemon, "run", spy)
    monkeypatch.setenv("PMSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'pmsync.db'}")
    gc.unfreeze()
    result = CliRunner().invoke(app, ["--config", str(config_dir), "run"])
    assert result.exit_code == 0, result.output
    assert len(frozen) == 1 and frozen[0] > 0


def test_a_worker_process_starts_without_the_collector() -> None:
    pool = worker_pool(1)
    if pool is None:
        pytest.skip("no worker processes on this platform")
    with pool:
        assert pool.submit(gc.isenabled).result(timeout=60) is False


FRAGMENTED_HEAP = """
import os
from pmsync.processes import give_back_memory

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

start = rss()
blocks = [bytes(1500) for _ in range(40_000)]  # 60 MB from the C heap (over 512 bytes each)
kept = blocks[::50]  # every 50th stays: the free pages lie between them, not at the top
del blocks
freed = rss()
print(give_back_memory(), start, freed, rss())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_memory_freed_between_live_blocks_goes_back_to_the_system() -> None:
    """What a sync frees lies between blocks it still holds; without giving it back, the
    process stays at its high-water mark for as long as it runs (a daemon: for days)."""
    out = subprocess.run(
        [sys.executable, "-c", FRAGMENTED_HEAP], capture_output=True, text=True, check=True
    )
    gave, start, freed, after = (int(v) if v.isdigit() else v for v in out.stdout.split())
    assert gave == "True"
    mb = 2**20
    assert freed - start > 40 * mb, "the freed blocks must still be resident to prove anything"
    assert freed - after > 30 * mb, (start // mb, freed // mb, after // mb)


def test_a_sync_gives_memory_back_after_the_pull_and_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once after the pull, so the plan refresh does not stack on the pages' leftovers,
    and once at the end, so a daemon waits for its next pass with what it holds."""
    from worlds import SandboxWorld

    import pmsync.plan
    import pmsync.sync

    steps: list[str] = []
    refresh = pmsync.plan.refresh_plan

    def refreshing(*args: Any, **kwargs: Any) -> Any:
        steps.append("refresh")
        return refresh(*args, **kwargs)

    def giving_back() -> bool:
        steps.append("give back")
        return True

    monkeypatch.setattr(pmsync.plan, "refresh_plan", refreshing)
    monkeypatch.setattr(pmsync.sync, "give_back_memory", giving_back)
    store = Store.open(f"sqlite:///{tmp_path / 'pmsync.db'}", var_dir=tmp_path)
    store.upgrade()
    with SandboxWorld(tmp_path / "world", items=40) as world:
        world.sync(store, full=True)
    store.close()
    assert steps == ["give back", "refresh", "give back"]
