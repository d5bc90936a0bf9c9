"""``pmsync check`` and ``pmsync rules test|list`` through the real alert pipeline.

The configuration has one source that has never synced, so every check finds
that the project's data is stale (a critical ``source_stale``), and a webhook
receiver on loopback that records what it is sent. Two checks in a row send
that alert once; ``rules test`` shows it and sends nothing, changing no alert;
a receiver that is down makes ``check`` exit 1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pmsync.alerts import list_alerts
from pmsync.cli import app
from pmsync.records import Page, WorkItem
from pmsync.store import Store

runner = CliRunner()
CREATED = datetime.now(UTC) - timedelta(days=2)
TODAY = CREATED.date() + timedelta(days=2)


class Hook:
    """An HTTP endpoint on 127.0.0.1 that keeps every JSON body it is posted."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pmsync"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def write_config(root: Path, hook_url: str) -> Path:
    root.mkdir(parents=True)
    (root / "projects").mkdir()
    settings = {
        "timezone": "UTC",
        "database": {"var_dir": str(root / "var")},
        "receivers": {"ops": {"type": "webhook", "url": hook_url}},
        "routing": {"receivers": ["ops"], "pending": "0s", "group_wait": "0s"},
    }
    sources = {
        "sources": {
            "holidays": {
                "type": "ics",
                "feeds": [{"name": "holidays", "url": "http://127.0.0.1:9/holidays.ics"}],
            }
        }
    }
    project = {
        "key": "PAY",
        "name": "Payments platform",
        "start": (TODAY - timedelta(days=60)).isoformat(),
        "finish": (TODAY + timedelta(days=365)).isoformat(),
        "budget_at_completion": 100000,
        "milestones": [
            {
                "name": "Beta",
                "due": (TODAY + timedelta(days=200)).isoformat(),
                "match": [{"label": "beta"}],
            },
        ],
    }
    (root / "pmsync.yaml").write_text(yaml.safe_dump(settings))
    (root / "sources.yaml").write_text(yaml.safe_dump(sources))
    (root / "projects" / "pay.yaml").write_text(yaml.safe_dump(project))
    return root


def one_issue(db_url: str, tmp_path: Path) -> None:
    """Store one issue of the project, as a sync of another tracker would have."""
    store = Store.open(db_url, var_dir=tmp_path)
    try:
        store.upgrade()
        issue = WorkItem(
            external_id="1", key="PAY-1", title="Gateway", container="PAY", item_type="Story",
            status="To Do", status_category="todo", created_at=CREATED,
            updated_at=CREATED, labels=("beta",),
        )  # fmt: skip
        store.write_page("tracker", "issues", Page([issue]), None)
    finally:
        store.close()


def run(config: Path, db_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["--config", str(config), *args],
        env={"PMSYNC_DATABASE_URL": db_url},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout


def alert_states(db_url: str, tmp_path: Path) -> list[tuple[str, str, str]]:
    store = Store.open(db_url, var_dir=tmp_path)
    try:
        return [
            (a.rule, a.state, a.last_seen_at.isoformat())
            for a in list_alerts(store, states=("pending", "firing", "resolved", "inactive"))
        ]
    finally:
        store.close()


def test_two_checks_in_a_row_send_nothing_new_and_rules_test_sends_nothing(
    tmp_path: Path, db_url: str, hook: Hook
) -> None:
    config = write_config(tmp_path / "config", hook.url)
    one_issue(db_url, tmp_path)
    code, out = run(config, db_url, "check", "--json")
    assert code == 0, out
    report = json.loads(out)
    (alert,) = report["alerts"]
    assert (alert["rule"], alert["state"], alert["severity"]) == (
        "source_stale",
        "firing",
        "critical",
    )
    assert alert["labels"] == {
        "project": "PAY",
        "source": "holidays",
        "subject_id": "holidays",
        "subject_kind": "source",
    }
    assert "never synced" in alert["summary"]
    assert {f["name"] for f in alert["evidence"]["figures"]} >= {"last good sync", "sync interval"}
    assert [n["outcome"] for n in report["notifications"]] == ["sent"]
    assert [a["rule"] for m in hook.received for a in m["alerts"]] == ["source_stale"]

    code, out = run(config, db_url, "check", "--json")
    assert code == 0, out
    assert json.loads(out)["notifications"] == []
    assert len(hook.received) == 1

    before = alert_states(db_url, tmp_path)
    code, out = run(config, db_url, "rules", "test", "--project", "PAY", "--json")
    assert code == 0, out
    tested = json.loads(out)
    assert [f["rule"] for f in tested["findings"]] == ["source_stale"]
    assert len(hook.received) == 1
    assert alert_states(db_url, tmp_path) == before

    code, out = run(config, db_url, "rules", "test", "--project", "PAY")
    assert code == 0
    assert "CRITICAL source_stale" in out and "nothing was sent" in out


def test_check_exits_1_when_a_channel_failed(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path / "config", "http://127.0.0.1:9/down")
    one_issue(db_url, tmp_path)
    code, out = run(config, db_url, "check")
    assert code == 1
    assert "1 to retry" in out and "ops" in out


def test_rules_list_shows_the_thresholds_in_force(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path / "config", "http://127.0.0.1:9/down")
    (config / "rules.yaml").write_text(
        "projects:\n  PAY:\n    cpi_low: {warning: 0.95, critical: 0.85}\n"
    )
    code, out = run(config, db_url, "rules", "list", "--project", "PAY", "--json")
    assert code == 0
    rows = {row["rule"]: row for row in json.loads(out)["builtin"]}
    assert rows["cpi_low"]["settings"] == {"enabled": True, "warning": 0.95, "critical": 0.85}
    assert rows["spi_low"]["settings"]["enabled"] is False
    code, out = run(config, db_url, "rules", "list")
    assert code == 0 and "milestone_slip" in out and "off (" in out
    code, _ = run(config, db_url, "rules", "test", "--project", "NOPE")
    assert code == 2
