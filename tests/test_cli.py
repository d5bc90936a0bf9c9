"""The command line as an admin meets it: exit codes, one line per problem, no tracebacks."""

from __future__ import annotations

import json
import re
import shutil
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmsync.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the committed demo configuration, with its own var dir."""
    for name in ("JIRA_TOKEN", "GITHUB_TOKEN", "GCAL_CLIENT_SECRET", "GCAL_REFRESH_TOKEN"):
        monkeypatch.setenv(f"PMSYNC_SANDBOX_{name}", "sandbox-value")
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    pmsync_yaml = target / "pmsync.yaml"
    text = pmsync_yaml.read_text().replace("var_dir: ../var", f"var_dir: {tmp_path / 'var'}")
    pmsync_yaml.write_text(text)
    return target


def test_init_writes_an_example_that_validates_and_never_overwrites(tmp_path: Path) -> None:
    code, out, _ = run("init", str(tmp_path / "new"))
    assert code == 0
    assert (tmp_path / "new" / "pmsync.yaml").exists()
    code, out, _ = run("--config", str(tmp_path / "new"), "config", "validate")
    assert code == 0, out
    code, _, err = run("init", str(tmp_path / "new"))
    assert code == 2
    assert "never overwrites" in err
    assert "Traceback" not in err


def test_the_committed_config_validates(config_dir: Path) -> None:
    code, out, err = run("--config", str(config_dir), "config", "validate")
    assert (code, err) == (0, "")
    assert "configuration is valid" in out


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            ("rules.yaml", "\nnot_a_rule_setting: 3\n"),
            r"rules.yaml:\d+: not_a_rule_setting: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            ("pmsync.yaml", "\ntimezone: [1, 2]\n"),
            r"pmsync.yaml:\d+: timezone: ",
            id="wrong-type",
        ),
        pytest.param(
            ("rules.yaml", "\n  - oops: [\n"),
            r"rules.yaml:\d+: ",
            id="yaml-syntax",
        ),
    ],
)
def test_bad_config_is_one_line_per_problem_and_exit_2(
    config_dir: Path, edit: tuple[str, str], expected: str
) -> None:
    name, extra = edit
    path = config_dir / name
    path.write_text(path.read_text() + extra)
    code, _, err = run("--config", str(config_dir), "config", "validate")
    assert code == 2
    assert "Traceback" not in err
    assert re.search(expected, err), err
    assert all(re.match(r"\S+\.yaml:\d+: ", line) for line in err.strip().splitlines()), err


def test_a_missing_secret_names_file_line_and_key(config_dir: Path) -> None:
    path = config_dir / "pmsync.yaml"
    slack = "receivers:\n  ops:\n    type: slack\n    webhook_url: ${PMSYNC_TEST_NO_SUCH_VAR}\n"
    path.write_text(path.read_text().replace("receivers:\n", slack, 1))
    code, _, err = run("--config", str(config_dir), "config", "validate")
    assert code == 2
    assert "pmsync.yaml:" in err
    assert "receivers.ops.webhook_url" in err
    assert "PMSYNC_TEST_NO_SUCH_VAR is not set" in err


def test_a_config_directory_that_does_not_exist(tmp_path: Path) -> None:
    code, _, err = run("--config", str(tmp_path / "nowhere"), "status")
    assert code == 2
    assert "nowhere" in err
    assert len(err.strip().splitlines()) == 1


def test_an_unreachable_database_url_is_one_clear_line(config_dir: Path) -> None:
    code, _, err = run(
        "--config",
        str(config_dir),
        "db",
        "upgrade",
        env={"PMSYNC_DATABASE_URL": "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/none"},
    )
    assert code == 2
    assert "127.0.0.1:1" in err
    assert "hunter2" not in err  # the password never shows
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_entry_point_that_is_not_a_connector(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bogus = EntryPoint(name="bogus", value="json:dumps", group="pmsync.connectors")
    monkeypatch.setattr("pmsync.connectors.entry_points", lambda group: [bogus])
    code, _, err = run("--config", str(config_dir), "config", "validate")
    assert code == 2
    assert "entry point 'bogus = json:dumps'" in err
    assert "not a pmsync connector" in err


def test_db_upgrade_then_status_on_a_fresh_database(config_dir: Path) -> None:
    code, out, _ = run("--config", str(config_dir), "db", "upgrade")
    assert code == 0
    assert "up to date" in out
    code, out, _ = run("--config", str(config_dir), "status", "--json")
    assert code == 0
    status = json.loads(out)
    assert status["database"].startswith("sqlite:///")
    assert status["quarantined"] == []


def test_bad_usage_exits_2() -> None:
    code, _, _ = run("sync", "--no-such-option")
    assert code == 2


def test_config_schema_is_json_for_editors() -> None:
    code, out, _ = run("config", "schema")
    assert code == 0
    schema = json.loads(out)
    assert "$defs" in schema


def test_the_demo_syncs_the_sandbox_three_times(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PMSYNC_DATABASE_URL", raising=False)
    code, out, err = run("--config", str(config_dir), "demo", "--out", str(tmp_path / "demo"))
    assert code == 0, err
    for step in ("1. full sync", "incremental sync", "nothing changed"):
        assert step in out
    assert (tmp_path / "demo" / "pmsync.db").exists()
    code, out, _ = run(
        "--config",
        str(config_dir),
        "status",
        "--json",
        env={"PMSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'demo' / 'pmsync.db'}"},
    )
    status = json.loads(out)
    streams = {(s["name"], r["stream"]): r for s in status["sources"] for r in s["streams"]}
    assert streams[("github", "issues")]["not_modified"] == 3  # the last pass: all 304s
    assert all(r["status"] == "ok" for r in streams.values())
