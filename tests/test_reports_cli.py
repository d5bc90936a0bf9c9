"""``pmsync report``: writes the site for the configured projects and prints every path."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmsync.cli import app
from pmsync.reports.sample import write_sample_config


@pytest.fixture
def config_dir(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PMSYNC_DATABASE_URL", db_url)
    return write_sample_config(tmp_path / "config")


def run(config_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config", str(config_dir), "report", *args])
    return result.exit_code, result.stdout, result.stderr


def test_report_writes_the_site_and_prints_the_paths(config_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    code, stdout, stderr = run(config_dir, "--out", str(out), "--as-of", "2026-03-02")
    assert code == 0, stderr
    paths = [Path(line) for line in stdout.splitlines()]
    assert out / "projects/PAY/2026-03-02/report.html" in paths
    assert out / "portfolio/2026-03-02/portfolio.json" in paths
    assert out / "index.html" in paths and all(p.is_file() for p in paths)
    code, stdout, _ = run(config_dir, "--project", "PAY", "--format", "md", "--out", str(out),
                          "--as-of", "2026-03-09")  # fmt: skip
    assert code == 0
    written = {Path(line).name for line in stdout.splitlines()}
    assert "report.md" in written and "report.html" not in written
    history = (out / "projects/PAY/index.html").read_text()
    assert "2026-03-02/report.html" in history and "2026-03-09/report.md" in history


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2026-13-01"], "is not a date"),
        (["--project", "NOPE"], "no project NOPE (configured: PAY)"),
        (["--project", "PAY", "--portfolio"], "either --project or --portfolio"),
        (["--format", "pdf"], "formats are a comma-separated list"),
    ],
)
def test_bad_usage_exits_2_with_the_reason(
    config_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    code, stdout, stderr = run(config_dir, "--out", str(tmp_path / "site"), *args)
    assert code == 2 and message in stderr + stdout
