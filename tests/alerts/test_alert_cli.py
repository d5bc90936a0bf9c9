"""``pmsync alerts``: listing, silencing and unsilencing, as an admin types it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pmsync.alerts import evaluate_alerts
from pmsync.cli import app
from pmsync.config import load_config
from pmsync.connectors import utc_now
from pmsync.store import Store

from .conftest import finding

runner = CliRunner()


class Cli:
    """``pmsync --config DIR ...`` on this test's database, and a way to re-run a check."""

    def __init__(self, directory: Path, db_url: str, evaluate: Callable[[], object]) -> None:
        self.directory, self.db_url, self.evaluate = directory, db_url, evaluate

    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = runner.invoke(
            app,
            ["--config", str(self.directory), *args],
            env={"PMSYNC_DATABASE_URL": self.db_url},
            catch_exceptions=False,
        )
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli(tmp_path: Path, db_url: str, store: Store) -> Cli:
    directory = tmp_path / "config"
    directory.mkdir()
    settings = {
        "database": {"var_dir": str(tmp_path / "var")},
        "receivers": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}},
        "routing": {"receivers": ["hook"], "pending": "0s"},
    }
    (directory / "pmsync.yaml").write_text(yaml.safe_dump(settings))
    config = load_config(directory, {})
    slip = finding()
    erp = finding("ERP go-live slips", project="ERP", subject="Go-live", severity="critical")

    def evaluate() -> object:
        return evaluate_alerts(store, [slip, erp], utc_now, config)

    evaluate()
    return Cli(directory, db_url, evaluate)


def test_alerts_list_shows_open_alerts_most_severe_first(cli: Cli) -> None:
    code, out, _ = cli("alerts", "list", "--json")
    assert code == 0
    alerts = json.loads(out)
    assert [(a["severity"], a["state"], a["labels"]["project"]) for a in alerts] == [
        ("critical", "firing", "ERP"),
        ("warning", "firing", "PAY"),
    ]
    assert alerts[1]["evidence"]["figures"] == [
        {"name": "forecast finish (P85)", "value": "2025-06-12"},
        {"name": "days late", "value": 12},
        {"name": "SPI", "value": 0.81},
    ]
    assert alerts[1]["subject"] == "milestone Beta"
    code, out, _ = cli("alerts", "list", "--state", "resolved", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = cli("alerts", "list", "--project", "PAY")
    assert code == 0 and "Milestone Beta forecast 12 days late" in out and "ERP" not in out
    code, _, err = cli("alerts", "list", "--state", "open")
    assert code == 2 and "unknown state 'open'" in err


def test_a_silence_mutes_until_unsilenced(cli: Cli) -> None:
    code, out, _ = cli(
        "alerts", "silence", "--match", "project=PAY", "--match", "severity!=critical",
        "--for", "2h", "--comment", "known; steering committee Friday",
        "--author", "anna", "--json",
    )  # fmt: skip
    assert code == 0, out
    silence = json.loads(out)
    assert silence["matchers"] == ["project=PAY", "severity!=critical"]
    assert (silence["created_by"], silence["active"]) == ("anna", True)
    assert [a["labels"]["project"] for a in silence["matching"]] == ["PAY"]
    cli.evaluate()
    _, out, _ = cli("alerts", "list", "--json")
    muted = {a["labels"]["project"]: a["muted_by"] for a in json.loads(out)}
    assert muted == {"ERP": None, "PAY": f"silence {silence['id']}"}
    _, out, _ = cli("alerts", "silences", "--json")
    assert [s["id"] for s in json.loads(out)] == [silence["id"]]
    code, out, _ = cli("alerts", "unsilence", str(silence["id"]))
    assert code == 0 and f"silence {silence['id']} ended" in out
    _, out, _ = cli("alerts", "silences", "--json")
    assert json.loads(out) == []
    _, out, _ = cli("alerts", "silences", "--all", "--json")
    assert [s["active"] for s in json.loads(out)] == [False]
    cli.evaluate()
    _, out, _ = cli("alerts", "list", "--json")
    assert all(a["muted_by"] is None for a in json.loads(out))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--match", "project PAY", "--for", "2h", "--comment", "x"], "is not a matcher"),
        (["--match", "project=PAY", "--for", "soon", "--comment", "x"], "is not a duration"),
        (["--match", "project=PAY", "--for", "2h", "--comment", " "], "needs a comment"),
    ],
)
def test_a_bad_silence_is_refused_with_exit_2(cli: Cli, args: list[str], message: str) -> None:
    code, _, err = cli("alerts", "silence", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_unsilencing_an_unknown_silence_is_exit_2(cli: Cli) -> None:
    code, _, err = cli("alerts", "unsilence", "999")
    assert code == 2 and "there is no silence 999" in err
