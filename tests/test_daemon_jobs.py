"""The daemon's job table, hooks, logs and status, without a process: what the schedule is."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from pmsync.config import Config, load_config
from pmsync.connectors import load_connectors
from pmsync.daemon import DaemonOptions, Hook, Hooks, build_jobs
from pmsync.daemon.hooks import accepted_arguments
from pmsync.daemon.jobs import latest_fire
from pmsync.daemon.leases import Leases
from pmsync.daemon.logs import configure_logging, secret_values
from pmsync.daemon.presence import Presence
from pmsync.daemon.reload import fingerprint, try_load
from pmsync.daemon.status import daemon_status
from pmsync.store import Store

FEED = "file:///dev/null"


def write_config(root: Path, sources: str, project_extra: str = "") -> Path:
    """Write a small config: Berlin time, custom daemon intervals, one project."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pmsync.yaml").write_text(
        dedent(
            """\
            timezone: Europe/Berlin
            daemon:
              sync_interval: 7m
              check_interval: 2m
            """
        )
    )
    (root / "sources.yaml").write_text(dedent(sources))
    (root / "projects").mkdir(exist_ok=True)
    (root / "projects" / "pay.yaml").write_text(
        dedent(
            """\
            key: PAY
            name: Payments
            start: 2026-01-05
            finish: 2026-12-18
            budget_at_completion: 100000
            communication:
              - audience: steering committee
                report: portfolio
                schedule: "0 7 * * mon"
                recipients: [pmo@example.com]
              - audience: team
                formats: [html, md]
                schedule: "30 16 * * fri"
                recipients: [team@example.com]
            """
        )
        + project_extra
    )
    return root


SOURCES = f"""\
sources:
  holidays:
    type: ics
    interval: 1m
    jitter: 10s
    feeds: [{{name: holidays, url: "{FEED}"}}]
  nightly:
    type: ics
    cron: "30 2 * * *"
    feeds: [{{name: nightly, url: "{FEED}"}}]
  plain:
    type: ics
    feeds: [{{name: plain, url: "{FEED}"}}]
  parked:
    type: ics
    enabled: false
    feeds: [{{name: parked, url: "{FEED}"}}]
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_config(tmp_path / "config", SOURCES), load_connectors())


def test_every_enabled_source_gets_a_sync_job_with_its_own_schedule(config: Config) -> None:
    jobs = {j.id: j for j in build_jobs(config, DaemonOptions())}
    assert {j for j in jobs if j.startswith("sync:")} == {
        "sync:holidays",
        "sync:nightly",
        "sync:plain",
    }
    assert jobs["sync:holidays"].schedule.text == "every 1m (jitter 10s)"
    assert jobs["sync:plain"].schedule.text == "every 7m"  # daemon.sync_interval
    assert jobs["sync:nightly"].schedule.text == "cron 30 2 * * * (Europe/Berlin)"
    assert all(jobs[j].exclusive and jobs[j].run_at_start for j in jobs if j.startswith("sync:"))
    # a source coming back from a pause runs once, not once per missed interval
    assert jobs["sync:holidays"].schedule.misfire_grace == 60


def test_the_nightly_cron_runs_at_berlin_time(config: Config) -> None:
    nightly = next(j for j in build_jobs(config, DaemonOptions()) if j.id == "sync:nightly")
    winter = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    fire = nightly.schedule.trigger.get_next_fire_time(None, winter)
    assert fire is not None and fire.astimezone(UTC) == datetime(2026, 1, 11, 1, 30, tzinfo=UTC)


def test_checks_dispatch_snapshot_and_reports_come_from_the_config(config: Config) -> None:
    options = DaemonOptions(dispatch_interval=timedelta(seconds=30))
    jobs = {j.id: j for j in build_jobs(config, options)}
    assert jobs["check"].schedule.text == "every 2m" and jobs["check"].exclusive
    assert jobs["dispatch"].schedule.text == "every 30s"
    assert not jobs["dispatch"].exclusive  # alerting claims outbox rows itself
    assert jobs["snapshot"].claimed
    assert jobs["report:PAY:0"].schedule.text == "cron 0 7 * * mon (Europe/Berlin)"
    assert jobs["report:PAY:1"].schedule.text == "cron 30 16 * * fri (Europe/Berlin)"
    assert jobs["report:PAY:1"].claimed and dict(jobs["report:PAY:1"].params) == {
        "project": "PAY",
        "entry": 1,
    }
    assert "meeting-packs" not in jobs  # no meeting cadence configured


def test_the_claim_of_a_report_names_its_scheduled_time(config: Config) -> None:
    report = next(j for j in build_jobs(config, DaemonOptions()) if j.id == "report:PAY:0")
    # Monday 2026-03-02 07:00 Berlin is 06:00 UTC; a replica ticking 3 s late claims that time
    late = datetime(2026, 3, 2, 6, 0, 3, tzinfo=UTC)
    fire = latest_fire(report.schedule.trigger, late, timedelta(hours=1))
    assert fire is not None and fire.astimezone(UTC) == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert (
        latest_fire(report.schedule.trigger, late - timedelta(hours=2), timedelta(hours=1)) is None
    )


def test_a_changed_file_changes_the_fingerprint_and_a_bad_one_is_refused(
    config: Config, tmp_path: Path
) -> None:
    before = fingerprint(config.config_dir, config)
    sources = config.config_dir / "sources.yaml"
    sources.write_text(SOURCES.replace("interval: 1m", "interval: soon"))
    assert fingerprint(config.config_dir, config) != before
    loaded = try_load(config.config_dir)
    assert loaded.config is None
    assert any("sources.yaml" in p and "interval" in p for p in loaded.problems), loaded.problems


# --- hooks --------------------------------------------------------------------------------


def test_a_missing_capability_is_reported_once_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks = Hooks({"rules": Hook("rules engine", "pmsync_no_such_module", "evaluate")})
    with caplog.at_level(logging.INFO, logger="pmsync.daemon"):
        assert hooks.call("rules", store=None) == (False, None)
        assert hooks.call("rules", store=None) == (False, None)
    notices = [r for r in caplog.records if "not available" in r.getMessage()]
    assert len(notices) == 1
    assert "pmsync_no_such_module is not installed" in notices[0].getMessage()
    hooks.forget_missing()
    assert hooks.get("rules") is None  # looked for again after a reload


def test_a_module_without_the_function_is_named() -> None:
    hooks = Hooks({"x": Hook("json things", "json", "no_such_function")})
    assert hooks.get("x") is None
    assert hooks.missing() == {"x": "json has no no_such_function()"}


def test_hooks_get_only_the_arguments_they_declare_and_the_clock_or_the_time() -> None:
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)

    def wants_clock(store: Any, now: Any) -> None: ...

    def wants_instant(config: Any, now: datetime) -> None: ...

    offered = {"store": "S", "config": "C", "now": lambda: moment, "limit": 5}
    clock_args = accepted_arguments(wants_clock, offered)
    assert set(clock_args) == {"store", "now"} and callable(clock_args["now"])
    assert accepted_arguments(wants_instant, offered) == {"config": "C", "now": moment}


# --- logs ---------------------------------------------------------------------------------


def test_log_lines_are_json_with_their_fields_and_secrets_masked() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    formatter = configure_logging("auto", "info", ['sêcret"value', "abc"], stream=stream)
    try:
        log = logging.getLogger("pmsync.test")
        log.info("sync run %s", "jira/issues", extra={"event": "sync_run", "source": "jira"})
        log.warning('a library said: token=sêcret"value in %s', 'https://x/?t=sêcret"value')
        try:
            raise RuntimeError('boom with sêcret"value')
        except RuntimeError:
            log.exception("failed")
        lines = [
            json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")
        ]
        assert lines[0]["event"] == "sync_run" and lines[0]["source"] == "jira"
        assert lines[0]["level"] == "info" and lines[0]["logger"] == "pmsync.test"
        assert "sêcret" not in stream.getvalue()
        assert "***" in lines[1]["message"] and "***" in lines[2]["exception"]
        assert formatter.scrub("abc is short") == "abc is short"  # too short to be a secret
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_secret_values_are_found_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEED_TOKEN", "tok-123456")
    extra = (
        SOURCES
        + f"""\
  private:
    type: ics
    feeds: [{{name: private, url: "{FEED}", token: "${{FEED_TOKEN}}"}}]
"""
    )
    config = load_config(write_config(tmp_path / "c", extra), load_connectors())
    assert "tok-123456" in secret_values(config)


def test_status_shows_the_earliest_next_run_of_the_live_replicas(
    config: Config, store: Store
) -> None:
    now = datetime.now(UTC)

    def announce(name: str, beat: datetime, next_run: datetime) -> None:
        jobs = {"sync:holidays": {"next_run": next_run.isoformat()}}
        Presence(store, name, beat_seconds=10, now=lambda: beat).announce(None, jobs)

    announce("a:1:x", now, now + timedelta(minutes=5))
    announce("b:2:y", now, now + timedelta(minutes=3))
    announce("c:3:z", now - timedelta(hours=1), now + timedelta(minutes=1))  # long dead
    Leases(store, "b:2:y", timedelta(minutes=1)).acquire("sync:holidays")
    status = daemon_status(store, config, now=now + timedelta(seconds=5))
    assert status["daemon"]["running"]
    assert [r["alive"] for r in status["daemon"]["replicas"]].count(True) == 2
    holidays = status["jobs"]["sync:holidays"]
    assert datetime.fromisoformat(holidays["next_run"]) == now + timedelta(minutes=3)
    assert holidays["running_on"] == "b:2:y"
    assert status["alerts"] is None  # nothing has ever been alerted
    assert {r["job"] for r in status["next_reports"]} == {"report:PAY:0", "report:PAY:1"}


def test_status_without_a_daemon_shows_only_cron_times(config: Config, store: Store) -> None:
    status = daemon_status(store, config)
    assert not status["daemon"]["running"]
    assert status["jobs"]["sync:holidays"]["next_run"] is None  # starts with a daemon
    assert status["jobs"]["sync:nightly"]["next_run"] is not None  # cron: known in advance
    assert {r["audience"] for r in status["next_reports"]} == {"steering committee", "team"}
