"""A scope the source refuses is skipped; the stream, the source and the others go on.

A repository deleted, a release branch deleted after its release, a calendar no
longer shared: the source answers that scope with a 4xx that no retry can
change. What an admin should see: everything else still synced, the run
``partial`` with the skipped scope and the source's reason, a ``sync_failing``
alert naming it, the source not shown stale, and one log line, not one per pass.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from pmsync import model
from pmsync.config import Config
from pmsync.config.rules import RulesConfig
from pmsync.config.settings import PmsyncSettings
from pmsync.config.sources import Source, SourceOptions
from pmsync.connectors import Connector, ConnectorSettings, StreamSpec, skip_refused
from pmsync.errors import FatalSourceError, TransientSourceError
from pmsync.records import Page, WorkItem
from pmsync.reports.reads import freshness
from pmsync.rules.sources import source_facts
from pmsync.store import Store
from pmsync.sync import run_sync

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class ScopedSettings(ConnectorSettings):
    scopes: tuple[str, ...]
    refused: tuple[str, ...] = ()
    broken: str | None = None
    """A scope whose listing fails with a transient error (after its retries)."""


def item(scope: str, n: int) -> WorkItem:
    key = f"{scope}#{n}"
    return WorkItem(
        external_id=key,
        key=key,
        title=f"Item {n}",
        container=scope,
        item_type="issue",
        status="open",
        status_category="todo",
        created_at=T0 - timedelta(days=3),
        updated_at=T0 - timedelta(days=1),
    )


class ScopedConnector(Connector):
    """Two pages per scope, the scope complete on its last; some scopes refused."""

    settings_model = ScopedSettings
    streams: ClassVar[tuple[StreamSpec, ...]] = (StreamSpec("items", ("work_item",)),)
    settings: ScopedSettings

    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        for scope in self.settings.scopes:
            yield from skip_refused(scope, self._scope(scope, full))

    def _scope(self, scope: str, full: bool) -> Iterator[Page]:
        yield Page([item(scope, 1)], scope=scope)
        if scope in self.settings.refused:  # gone between two pages
            raise FatalSourceError(f"GET /repos/{scope}/issues: HTTP 404 (Not Found)")
        if scope == self.settings.broken:
            raise TransientSourceError(f"GET /repos/{scope}/issues: HTTP 502")
        ids = {f"{scope}#1", f"{scope}#2"}
        yield Page(
            [item(scope, 2)],
            cursor={"done": scope},
            complete_ids={"work_item": ids} if full else None,
            scope=scope,
        )


def source(**settings: Any) -> Source:
    options = SourceOptions(type="scoped")
    return Source("repos", options, ScopedSettings(**settings), ScopedConnector)


def stored(store: Store) -> set[str]:
    with store.session(readonly=True) as s:
        rows = s.scalars(
            select(model.WorkItem.external_id).where(model.WorkItem.deleted_at.is_(None))
        )
        return set(rows)


def test_a_refused_scope_is_skipped_and_the_others_are_stored(store: Store) -> None:
    report = run_sync(
        store, {"repos": source(scopes=("a/x", "a/gone", "a/y"), refused=("a/gone",))}
    )
    (result,) = report.results
    assert result.status == "partial"
    assert result.skipped == ["a/gone: GET /repos/a/gone/issues: HTTP 404 (Not Found)"]
    # what a/gone yielded before it was refused stands; the scopes after it were read
    assert stored(store) == {"a/x#1", "a/x#2", "a/gone#1", "a/y#1", "a/y#2"}
    assert report.ok and report.failed_sources == []
    assert report.skipped == ["repos/items: a/gone: GET /repos/a/gone/issues: HTTP 404 (Not Found)"]
    (run,) = store.list_runs(source="repos")
    assert run.status == "partial"
    assert run.error == "skipped a/gone: GET /repos/a/gone/issues: HTTP 404 (Not Found)"
    assert store.get_cursor("repos", "items") == {"done": "a/y"}


def test_a_full_pull_deletes_nothing_of_a_scope_it_could_not_read(store: Store) -> None:
    run_sync(store, {"repos": source(scopes=("a/x", "a/y"))}, full=True)
    assert stored(store) == {"a/x#1", "a/x#2", "a/y#1", "a/y#2"}
    report = run_sync(store, {"repos": source(scopes=("a/x", "a/y"), refused=("a/y",))}, full=True)
    assert report.results[0].status == "partial" and report.results[0].deleted == 0
    assert stored(store) == {"a/x#1", "a/x#2", "a/y#1", "a/y#2"}


def test_a_partial_full_pull_counts_as_the_periodic_reconciliation(
    make_store: Callable[..., Store],
) -> None:
    clock = {"now": T0}
    store = make_store(now=lambda: clock["now"])
    scopes = ("a/x", "a/gone")
    run_sync(store, {"repos": source(scopes=scopes)}, full=True, now=lambda: clock["now"])
    clock["now"] = T0 + timedelta(days=2)
    refused = {"repos": source(scopes=scopes, refused=("a/gone",))}
    second = run_sync(store, refused, full=True, now=lambda: clock["now"])
    assert second.results[0].full and second.results[0].status == "partial"
    # full_every is a day: it is due after the first full pull, not an hour after the second
    clock["now"] = T0 + timedelta(days=2, hours=1)
    third = run_sync(store, refused, now=lambda: clock["now"])
    assert third.results[0].full is False


def test_a_stream_failure_after_a_skipped_scope_is_the_error_named_first(store: Store) -> None:
    scoped = source(scopes=("a/gone", "a/x", "a/down"), refused=("a/gone",), broken="a/down")
    (result,) = run_sync(store, {"repos": scoped}).results
    assert result.status == "failed" and result.error_class == "transient"
    assert result.error is not None
    assert result.error.splitlines() == [
        "GET /repos/a/down/issues: HTTP 502",
        "skipped a/gone: GET /repos/a/gone/issues: HTTP 404 (Not Found)",
    ]


def test_the_log_says_skipped_once_then_recovered_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    refused = {"repos": source(scopes=("a/x", "a/gone"), refused=("a/gone",))}
    with caplog.at_level(logging.WARNING, logger="pmsync.sync"):
        run_sync(store, refused)
        run_sync(store, refused)
        run_sync(store, {"repos": source(scopes=("a/x", "a/gone"))})
    assert [r.getMessage() for r in caplog.records] == [
        "source repos stream items skipped a/gone: GET /repos/a/gone/issues: HTTP 404 (Not Found)",
        "source repos stream items recovered",
    ]


def config(tmp_path: Path, scoped: Source) -> Config:
    return Config(
        config_dir=tmp_path,
        settings=PmsyncSettings.model_validate({"timezone": "UTC"}),
        sources={"repos": scoped},
        projects={},
        project_files={},
        rules=RulesConfig(),
    )


def test_a_partial_source_is_fresh_but_failing_with_the_skipped_scope_as_its_error(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    clock = {"now": T0 - timedelta(days=1)}
    store = make_store(now=lambda: clock["now"])
    scoped = source(scopes=("a/x", "a/gone"))
    run_sync(store, {"repos": scoped}, now=lambda: clock["now"])
    clock["now"] = T0 - timedelta(minutes=10)
    refused = source(scopes=("a/x", "a/gone"), refused=("a/gone",))
    run_sync(store, {"repos": refused}, now=lambda: clock["now"])
    cfg = config(tmp_path, refused)
    with store.engine.connect() as conn:
        facts = source_facts(conn, cfg, T0)["repos"]
    assert facts.last_success == T0 - timedelta(minutes=10)  # the rest of its data flowed
    assert facts.failing_since == T0 - timedelta(minutes=10)
    assert facts.failing_streams == ("items",)
    assert facts.error == "skipped a/gone: GET /repos/a/gone/issues: HTTP 404 (Not Found)"
    (shown,) = freshness(cfg, store, T0)
    assert (shown.status, shown.stale) == ("partial", False)
    assert shown.error == "skipped a/gone: GET /repos/a/gone/issues: HTTP 404 (Not Found)"


def test_the_metrics_show_a_partial_source_as_failing_and_its_last_success(store: Store) -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from pmsync.daemon.metrics import DaemonMetrics

    run_sync(store, {"repos": source(scopes=("a/x", "a/gone"), refused=("a/gone",))})
    metrics = DaemonMetrics(lambda: store, timedelta(minutes=5))
    served = {
        s.name: s.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for s in family.samples
        if s.labels.get("source") == "repos"
    }
    (run,) = store.list_runs(source="repos")
    assert run.finished_at is not None
    assert served["pmsync_source_failing"] == 1.0
    assert served["pmsync_source_last_success_timestamp_seconds"] == pytest.approx(
        run.finished_at.timestamp(), abs=0.01
    )


class MeetingConnector(ScopedConnector):
    """Its first page waits until the other source's first page is being fetched too."""

    meet: ClassVar[threading.Barrier]

    def _scope(self, scope: str, full: bool) -> Iterator[Page]:
        self.meet.wait()  # one at a time, this raises BrokenBarrierError after its timeout
        yield from super()._scope(scope, full)


def test_sources_sync_at_the_same_time_and_report_in_configured_order(store: Store) -> None:
    MeetingConnector.meet = threading.Barrier(2, timeout=10)
    sources = {
        name: Source(
            name, SourceOptions(type="scoped"), ScopedSettings(scopes=(scope,)), MeetingConnector
        )
        for name, scope in (("jira", "j/a"), ("github", "g/b"))
    }
    report = run_sync(store, sources)
    assert [(r.source, r.status) for r in report.results] == [("jira", "ok"), ("github", "ok")]
    assert stored(store) == {"j/a#1", "j/a#2", "g/b#1", "g/b#2"}


class SlowToCreate(MeetingConnector):
    """Takes a while to create, as a connector loading its client library does."""

    creating: ClassVar[list[int]]
    """How many are being created now, and the most at once."""

    def __init__(self, settings: ConnectorSettings, context: Any) -> None:
        self.creating[0] += 1
        self.creating[1] = max(self.creating)
        time.sleep(0.05)
        self.creating[0] -= 1
        super().__init__(settings, context)


def test_sources_are_created_one_at_a_time_and_still_pull_at_once(store: Store) -> None:
    SlowToCreate.creating = [0, 0]
    SlowToCreate.meet = threading.Barrier(3, timeout=10)  # the pulls must overlap
    sources = {
        name: Source(
            name, SourceOptions(type="scoped"), ScopedSettings(scopes=(name,)), SlowToCreate
        )
        for name in ("a", "b", "c")
    }
    report = run_sync(store, sources)
    assert [r.status for r in report.results] == ["ok", "ok", "ok"]
    assert SlowToCreate.creating == [0, 1]  # never two client libraries loading at once


def test_pmsync_sync_names_the_skipped_repository_and_status_shows_the_stream_partial(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner
    from worlds import SandboxWorld

    from pmsync.cli import app

    with SandboxWorld(tmp_path / "world") as world:
        sources = world.read("sources.yaml")
        sources["sources"]["github"]["repositories"].append("acme/retired")
        world.write("sources.yaml", sources)
        env = {"PMSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'pmsync.db'}"}
        runner = CliRunner()
        config = str(world.config_dir)
        runner.invoke(app, ["--config", config, "db", "upgrade"], env=env, catch_exceptions=False)
        synced = runner.invoke(
            app, ["--config", config, "sync", "--source", "github"], env=env, catch_exceptions=False
        )
        shown = runner.invoke(
            app, ["--config", config, "status", "--json"], env=env, catch_exceptions=False
        )
    assert synced.exit_code == 0, synced.stderr  # the other repositories were stored
    skipped = [line for line in synced.stderr.splitlines() if line.startswith("skipped ")]
    assert skipped == [
        f"skipped github/{stream}: acme/retired: GET /repos/acme/retired/{path}: HTTP 404 "
        "(Not Found)"
        for stream, path in (
            ("issues", "issues"),
            ("pull_requests", "pulls"),
            ("milestones", "milestones"),
            ("commits", "commits"),
        )
    ]
    status = json.loads(shown.stdout)
    (github,) = [s for s in status["sources"] if s["name"] == "github"]
    assert {r["status"] for r in github["streams"]} == {"partial"}
    assert all(r["error"].startswith("skipped acme/retired: ") for r in github["streams"])
    assert all(r["created"] > 0 for r in github["streams"])
