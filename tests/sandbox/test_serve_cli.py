"""``pmsync sandbox serve`` and ``generate`` as a user runs them: real subprocesses.

``serve --json`` must print one JSON line first and then serve until SIGTERM or
SIGINT; ``--config-out`` must write a config that ``pmsync config validate`` and
``pmsync sync`` (other subprocesses) accept and succeed with; bad options exit 2
with one line; fixed ports, HTTPS, the Data Center flavour and the running clock
behave as documented.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

PMSYNC = [sys.executable, "-m", "pmsync"]
STARTUP_SECONDS = 120


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMSYNC_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Served:
    """One ``pmsync sandbox serve`` subprocess."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*PMSYNC, "sandbox", "serve", *args],
            cwd=cwd,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def line(self, timeout: float = STARTUP_SECONDS) -> str:
        """Return the next line printed, failing if none comes."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            pytest.fail(f"serve printed nothing; stderr: {err}")

    def endpoints(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.line())
        return result

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            pytest.fail(f"serve did not stop on signal {sig}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = Served(tmp_path, *args)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(timeout=10)


def pmsync(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PMSYNC, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def refused(url: str) -> bool:
    try:
        requests.get(url, timeout=5)
    except requests.exceptions.ConnectionError:
        return True
    return False


def free_ports(count: int = 3) -> int:
    """Return a port N such that N..N+count-1 are free now."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 40000)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free ports")


def calendar_token(info: dict[str, Any], verify: Any = True) -> requests.Response:
    form = {k: info[k] for k in ("client_id", "client_secret", "refresh_token")}
    return requests.post(
        info["token_uri"], data={"grant_type": "refresh_token", **form}, timeout=10, verify=verify
    )


def test_json_line_first_then_config_out_syncs_then_sigterm_stops(serve, tmp_path) -> None:
    config = tmp_path / "try"
    served = serve("--port", "0", "--json", "--config-out", str(config))
    endpoints = served.endpoints()
    jira, github, calendar = endpoints["jira"], endpoints["github"], endpoints["calendar"]
    assert {"url", "email", "token"} <= set(jira) and {"url", "token"} <= set(github)
    assert {"url", "client_id", "client_secret", "refresh_token", "token_uri"} <= set(calendar)
    ports = {jira["url"].rsplit(":", 1)[1], github["url"].rsplit(":", 1)[1]}
    assert len(ports) == 2 and "0" not in ports
    myself = requests.get(
        jira["url"] + "/rest/api/3/myself", auth=(jira["email"], jira["token"]), timeout=10
    )
    assert myself.status_code == 200
    user = requests.get(
        github["url"] + "/user", headers={"Authorization": f"token {github['token']}"}, timeout=10
    )
    assert user.status_code == 200
    assert calendar_token(calendar).status_code == 200

    assert endpoints["config"] == str(config)
    validated = pmsync("--config", str(config), "config", "validate", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    synced = pmsync("--config", str(config), "sync", "--json", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr + synced.stdout
    report = json.loads(synced.stdout)
    assert report["ok"] is True
    assert {r["source"] for r in report["runs"]} >= {"jira", "github", "gcal"}
    assert all(r["status"] == "ok" for r in report["runs"])
    assert sum(r["created"] for r in report["runs"] if r["source"] == "jira") >= 300

    assert served.stop(signal.SIGTERM) == 0
    assert refused(jira["url"] + "/_sandbox/clock")


def test_fixed_ports_human_output_and_sigint(serve, tmp_path) -> None:
    port = free_ports()
    served = serve("--port", str(port), "--items", "40", "--projects", "2")
    lines = [served.line() for _ in range(3)]
    for line, (name, offset) in zip(
        lines, [("jira", 0), ("github", 1), ("calendar", 2)], strict=True
    ):
        assert line.startswith(f"{name}: ")
        info = json.loads(line.split(": ", 1)[1])
        assert info["url"] == f"http://127.0.0.1:{port + offset}"
    assert "token" in json.loads(lines[0].split(": ", 1)[1])
    clock = requests.get(f"http://127.0.0.1:{port + 2}/_sandbox/clock", timeout=10)
    assert clock.status_code == 200
    assert served.stop(signal.SIGINT) == 0
    assert refused(f"http://127.0.0.1:{port}/_sandbox/clock")


def test_a_busy_port_exits_2_naming_it(serve, tmp_path) -> None:
    port = free_ports()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port + 1))
        busy.listen()
        served = serve("--port", str(port), "--items", "40", "--projects", "2")
        assert served.proc.wait(timeout=STARTUP_SECONDS) == 2
    assert served.proc.stderr is not None
    err = served.proc.stderr.read()
    assert "cannot listen" in err and str(port) in err
    assert refused(f"http://127.0.0.1:{port}/_sandbox/clock")  # nothing left behind


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rate=2", "between 0 and 1"),
        ("kinds=429+teapot", "unknown fault kinds"),
        ("nonsense", "not key=value"),
    ],
)
def test_a_bad_faults_spec_exits_2_with_one_line(tmp_path, spec: str, message: str) -> None:
    done = pmsync("sandbox", "serve", "--faults", spec, "--json", cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--faults" in lines[0] and message in lines[0]


def test_tls_prints_the_ca_bundle_and_serves_https(serve, tmp_path) -> None:
    config = tmp_path / "tls-config"
    served = serve(
        "--tls", "--json", "--config-out", str(config), "--items", "40", "--projects", "2"
    )
    endpoints = served.endpoints()
    bundle = Path(endpoints["ca_bundle"])
    assert bundle.is_file() and bundle.is_relative_to(config)
    for name in ("jira", "github", "calendar"):
        assert endpoints[name]["url"].startswith("https://")
    jira = endpoints["jira"]
    ok = requests.get(
        jira["url"] + "/rest/api/3/serverInfo",
        auth=(jira["email"], jira["token"]),
        verify=str(bundle),
        timeout=10,
    )
    assert ok.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(jira["url"] + "/rest/api/3/serverInfo", timeout=10)
    assert calendar_token(endpoints["calendar"], verify=str(bundle)).status_code == 200
    assert str(bundle) in (config / "sources.yaml").read_text()
    assert served.stop() == 0


def test_tls_human_output_names_the_bundle(serve, tmp_path) -> None:
    served = serve("--tls", "--items", "40", "--projects", "2")
    lines = [served.line() for _ in range(5)]
    bundle_line = next(line for line in lines if line.startswith("ca_bundle: "))
    bundle = Path(bundle_line.split(": ", 1)[1].strip())
    assert bundle.is_file() and bundle.is_absolute()
    assert any("REQUESTS_CA_BUNDLE=" in line for line in lines)
    assert served.stop() == 0


def test_datacenter_flavour_takes_a_personal_access_token(serve, tmp_path) -> None:
    config = tmp_path / "dc"
    served = serve("--jira-flavour", "datacenter", "--json", "--config-out", str(config))
    jira = served.endpoints()["jira"]
    assert jira["flavour"] == "datacenter" and "email" not in jira
    bearer = {"Authorization": f"Bearer {jira['token']}"}
    info = requests.get(jira["url"] + "/rest/api/2/serverInfo", headers=bearer, timeout=10)
    assert info.json()["deploymentType"] == "Server"
    page = requests.get(
        jira["url"] + "/rest/api/2/search",
        params={"jql": "project = " + str(jira["projects"][0]), "maxResults": "5"},
        headers=bearer,
        timeout=10,
    ).json()
    assert page["startAt"] == 0 and page["total"] > 5 and len(page["issues"]) == 5
    synced = pmsync("--config", str(config), "sync", "--source", "jira", "--json", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr + synced.stdout
    assert all(r["status"] == "ok" for r in json.loads(synced.stdout)["runs"])
    assert served.stop() == 0


def test_days_per_minute_lets_the_clock_run(serve, tmp_path) -> None:
    served = serve("--days-per-minute", "14400", "--json", "--items", "40", "--projects", "2")
    url = served.endpoints()["github"]["url"] + "/_sandbox/clock"
    first = datetime.fromisoformat(requests.get(url, timeout=10).json()["now"])
    deadline = time.monotonic() + 30
    later = first
    while later <= first and time.monotonic() < deadline:
        time.sleep(0.1)
        later = datetime.fromisoformat(requests.get(url, timeout=10).json()["now"])
    assert later > first
    assert served.stop() == 0


def test_generate_then_serve_the_file(serve, tmp_path) -> None:
    out = tmp_path / "world.json"
    made = pmsync(
        "sandbox",
        "generate",
        "--projects",
        "2",
        "--items",
        "40",
        "--seed",
        "5",
        "--out",
        str(out),
        cwd=tmp_path,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    assert summary["jira_issues"] == 40 and summary["bytes"] == out.stat().st_size
    served = serve("--scenario", str(out), "--json")
    jira = served.endpoints()["jira"]
    world = json.loads(out.read_text())
    assert jira["projects"] == [p["key"] for p in world["jira"]["projects"]]
    found = requests.get(
        jira["url"] + "/rest/api/3/search/jql",
        params={"jql": "project = " + jira["projects"][0], "maxResults": 100, "fields": "id"},
        auth=(jira["email"], jira["token"]),
        timeout=10,
    ).json()["issues"]
    assert found
    assert served.stop() == 0


def test_a_bad_scenario_file_exits_2_naming_each_problem(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "clock": "2026-03-02T09:00:00", "colour": "red"}))
    done = pmsync("sandbox", "serve", "--scenario", str(bad), cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}: clock: ") for line in lines)
    assert any(line.startswith(f"{bad}: colour: ") for line in lines)
    missing = pmsync("sandbox", "serve", "--scenario", str(tmp_path / "nope.json"), cwd=tmp_path)
    assert missing.returncode == 2 and "nope.json" in missing.stderr
