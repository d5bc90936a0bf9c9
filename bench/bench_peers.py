"""Peers: the Singer taps users run for the same job, against pmsync, on one sandbox.

Each tap lives in a virtualenv of its own under ``var/bench/<tap>`` (created here
with ``python -m venv`` and ``pip install``: their pins would clash with
pmsync's), is pointed at the sandbox, and writes its Singer messages to a file
(the "null target"). Its records are the ``RECORD`` lines of that file; its
requests are what the sandbox served while it ran (the services' ``served``
counters). pmsync syncs the same source of the same sandbox into SQLite.

The sandbox is served over HTTPS (tap-jira accepts nothing else), with its CA
given as ``REQUESTS_CA_BUNDLE``. tap-jira and the Singer SDK send requests with
``Session.send``, which never reads that variable, so every tap is started
through a three-line shim that sets ``Session.verify`` to the bundle: the tap
itself is untouched.

A stream a tap cannot sync against the sandbox is found by running each wanted
stream alone first (these runs also warm the sandbox's caches); the timed runs
then select the streams that work, and the table's notes quote each failure.

Every tool is timed three times (``--runs=N``; one with ``--quick``), in rounds:
each tap once, then pmsync once with its pull workers and once pulling in a
thread, and again. One run each used to decide the verdict, and on a shared
2-core machine one run of the same code gave 2.1x to 3.4x against the same tap.
The table shows each tool's median run; a ratio's brackets, the lowest and the
highest of the rounds' ratios.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.common import (
    FULL,
    VAR,
    SandboxProcess,
    SyncOutcome,
    console,
    database,
    fmt,
    human,
    quick,
    run_sync,
    scale,
    show,
)

SHIM = """\
import os, runpy, sys, requests
bundle = os.environ.get("REQUESTS_CA_BUNDLE")
if bundle:
    init = requests.Session.__init__
    def verified(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.verify = bundle
    requests.Session.__init__ = verified
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
START_DATE = "2000-01-01T00:00:00Z"
SCALABLE = True
"""``python -m bench`` passes ``--scale=F`` on to this module."""


@dataclass(frozen=True)
class Peer:
    """A tap: how to install it, configure it, and which of its streams match pmsync's."""

    name: str
    package: str
    script: str
    source: str
    """The pmsync source (and sandbox service) it is compared with."""
    streams: dict[str, tuple[str, ...]]
    """Its stream → the pmsync streams that fetch the same data."""
    catalog_flag: str
    config: Callable[[dict[str, Any]], dict[str, Any]]
    env_drop: tuple[str, ...] = ()
    needs: dict[str, str] = field(default_factory=dict)
    """A stream → the stream the tap refuses to sync it without."""

    @property
    def venv(self) -> Path:
        """Return the tap's own virtualenv."""
        return VAR / self.package


def _tap_github(endpoints: dict[str, Any]) -> dict[str, Any]:
    github = endpoints["github"]
    return {
        "access_token": github["token"],
        "repository": " ".join(github["repositories"]),
        "start_date": START_DATE,
        "base_url": github["url"],
    }


def _meltano_github(endpoints: dict[str, Any]) -> dict[str, Any]:
    # No token: its token check calls https://api.github.com/rate_limit, a hard-coded
    # host. "organizations", not "repositories": the latter resolves names through
    # GitHub's GraphQL API, which the sandbox does not imitate (pmsync uses REST only).
    github = endpoints["github"]
    orgs = sorted({r.split("/")[0] for r in github["repositories"]})
    return {"organizations": orgs, "start_date": START_DATE, "api_url_base": github["url"]}


def _tap_jira(endpoints: dict[str, Any]) -> dict[str, Any]:
    jira = endpoints["jira"]
    return {
        "start_date": START_DATE,
        "username": jira["email"],
        "password": jira["token"],
        "base_url": jira["url"],
        "user_agent": "pmsync-bench",
    }


PEERS = (
    Peer(
        "tap-github (singer-io)",
        "tap-github",
        "tap-github",
        "github",
        {
            "issues": ("issues",),
            "pull_requests": ("pull_requests",),
            "commits": ("commits",),
            "issue_milestones": ("milestones",),
        },
        "--properties",
        _tap_github,
    ),
    Peer(
        "meltanolabs-tap-github",
        "meltanolabs-tap-github",
        "tap-github",
        "github",
        {
            "issues": ("issues",),
            "pull_requests": ("pull_requests",),
            "commits": ("commits",),
            "milestones": ("milestones",),
        },
        "--catalog",
        _meltano_github,
        env_drop=("GITHUB_TOKEN",),
    ),
    Peer(
        "tap-jira (singer-io)",
        "tap-jira",
        "tap-jira",
        "jira",
        {
            "issues": ("issues",),
            "changelogs": ("issues",),
            "worklogs": ("worklogs", "worklog_deletions"),
            "projects": ("versions",),
            "versions": ("versions",),
        },
        "--properties",
        _tap_jira,
        needs={"changelogs": "issues", "versions": "projects"},
    ),
)


@dataclass
class TapRun:
    """One run of a tap: exit status, seconds, records per stream, the last error line."""

    code: int
    seconds: float
    records: Counter[str] = field(default_factory=Counter)
    error: str = ""
    requests: int = 0


def install(peer: Peer) -> str | None:
    """Create the tap's virtualenv and install it; return None, or why it cannot run."""
    if (peer.venv / "bin" / peer.script).exists():
        return None
    VAR.mkdir(parents=True, exist_ok=True)
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(peer.venv)],
        [str(peer.venv / "bin" / "pip"), "install", "--quiet", peer.package],
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
            shutil.rmtree(peer.venv, ignore_errors=True)
            return f"`{' '.join(step[-2:])}` failed: {lines[-1] if lines else done.returncode}"
    return None


def _env(peer: Peer, ca_bundle: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in peer.env_drop}
    env.pop("PYTHONPATH", None)
    if ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = ca_bundle
    return env


def _tap(peer: Peer, work: Path, ca_bundle: str | None, *args: str, out: Path) -> TapRun:
    """Run the tap (through the shim) with ``args``, its stdout into ``out``."""
    python = peer.venv / "bin" / "python"
    command = [str(python), "-c", SHIM, str(peer.venv / "bin" / peer.script), *args]
    started = time.perf_counter()
    with out.open("wb") as sink, (work / "stderr.log").open("wb") as errors:
        code = subprocess.run(
            command, stdout=sink, stderr=errors, env=_env(peer, ca_bundle)
        ).returncode
    seconds = time.perf_counter() - started
    run = TapRun(code, seconds)
    with out.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith('{"type": "RECORD"') or line.startswith('{"type":"RECORD"'):
                run.records[json.loads(line)["stream"]] += 1
    if code != 0:
        text = (work / "stderr.log").read_text(encoding="utf-8", errors="replace")
        failures = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(" ")]
        run.error = failures[-1][:300] if failures else f"exit {code}"
    return run


def select(catalog: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    """Return ``catalog`` with exactly the ``wanted`` streams selected."""
    chosen = json.loads(json.dumps(catalog))
    for stream in chosen["streams"]:
        for entry in stream.get("metadata", []):
            if entry.get("breadcrumb") == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in wanted
    return chosen


@dataclass
class PeerResult:
    """What a tap achieved, and what it could not do."""

    peer: Peer
    runs: list[TapRun] = field(default_factory=list)
    """The timed runs, one per round."""
    streams: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    @property
    def run(self) -> TapRun | None:
        """The timed run of median seconds (None before any)."""
        return median_of(self.runs, lambda r: r.seconds) if self.runs else None


def prepare(peer: Peer, box: SandboxProcess, root: Path) -> PeerResult:
    """Install, discover, and probe each stream alone; select the streams that work."""
    result = PeerResult(peer)
    result.problem = install(peer)
    if result.problem:
        return result
    work = root / peer.package
    work.mkdir(parents=True, exist_ok=True)
    ca = box.endpoints.get("ca_bundle")
    config = work / "config.json"
    config.write_text(json.dumps(peer.config(box.endpoints)))
    found = _tap(peer, work, ca, "--config", str(config), "--discover", out=work / "catalog.json")
    if found.code != 0:
        result.problem = f"discovery failed: {found.error}"
        return result
    catalog = json.loads((work / "catalog.json").read_text())
    offered = {s["tap_stream_id"] for s in catalog["streams"]}
    for stream in sorted(peer.streams, key=lambda s: s in peer.needs):
        if stream not in offered:
            result.failed[stream] = "not in the tap's catalog"
            continue
        need = peer.needs.get(stream)
        if need is not None and need not in result.streams:
            result.failed[stream] = f"the tap syncs it only with `{need}`, which fails (above)"
            continue
        alone = {stream} if need is None else {stream, need}
        (work / "one.json").write_text(json.dumps(select(catalog, alone)))
        probe = _tap(
            peer,
            work,
            ca,
            "--config",
            str(config),
            peer.catalog_flag,
            str(work / "one.json"),
            out=work / "probe.singer",
        )
        if probe.code != 0:
            result.failed[stream] = probe.error
        else:
            result.streams.append(stream)
    if result.streams:
        (work / "selected.json").write_text(json.dumps(select(catalog, set(result.streams))))
    return result


def timed_run(result: PeerResult, box: SandboxProcess, root: Path) -> None:
    """Time one run of the streams that work (prepared by ``prepare``); keep it."""
    peer = result.peer
    work = root / peer.package
    box.reset()
    run = _tap(
        peer,
        work,
        box.endpoints.get("ca_bundle"),
        "--config",
        str(work / "config.json"),
        peer.catalog_flag,
        str(work / "selected.json"),
        out=work / "output.singer",
    )
    run.requests = box.requests()[_service(peer.source)]
    result.runs.append(run)


def _service(source: str) -> str:
    return {"github": "github", "jira": "jira"}[source]


def pmsync_run(
    box: SandboxProcess, root: Path, source: str, *, warm_up: bool = True, **options: Any
) -> tuple[SyncOutcome, int]:
    """Sync one source of the sandbox into a fresh SQLite database; return it and its requests."""
    if warm_up:
        with database("sqlite", root) as url:  # pmsync's own queries are cached too
            run_sync(box.config_dir, url, now=box.clock(), full=True, only=[source])
    with database("sqlite", root) as url:
        box.reset()
        outcome = run_sync(
            box.config_dir, url, now=box.clock(), full=True, only=[source], **options
        )
        return outcome, box.requests()[_service(source)]


def _rounds(argv: Sequence[str], default: int) -> int:
    """Return ``--runs=N`` (timed runs of each tool), else ``default``."""
    for arg in argv:
        if arg.startswith("--runs="):
            return max(1, int(arg.split("=", 1)[1]))
    return default


T = TypeVar("T")


def median_of(items: Sequence[T], key: Callable[[T], float]) -> T:
    """Return the item of median ``key`` (of an even number, the larger middle one)."""
    return sorted(items, key=key)[len(items) // 2]


def _ratio(
    my_rate: float, rate: float, runs: Sequence[TapRun], ours: Sequence[tuple[int, float, int]]
) -> str:
    """Return the medians' ratio, with the range of the rounds' own ratios when several."""
    if not rate:
        return "-"
    text = f"{my_rate / rate:.1f}x"
    rounds = [
        (records / seconds) / (sum(run.records.values()) / run.seconds)
        for run, (records, seconds, _) in zip(runs, ours, strict=False)
        if seconds and run.seconds and sum(run.records.values())
    ]
    if len(rounds) > 1:
        text += f" ({min(rounds):.1f}-{max(rounds):.1f}x)"
    return text


def pmsync_subset(outcome: SyncOutcome, streams: set[str]) -> tuple[int, float, int]:
    """Return pmsync's records, seconds and requests over ``streams`` only."""
    from datetime import datetime

    records = seconds = requests = 0.0
    for r in outcome.results:
        if r["stream"] in streams:
            records += r["created"] + r["updated"] + r["unchanged"]
            took = datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(
                r["started_at"]
            )
            seconds += took.total_seconds()
            requests += r["requests"]
    return int(records), seconds, int(requests)


def main(argv: Sequence[str]) -> None:
    """Run every peer and pmsync on the same TLS sandbox; print records/s and requests."""
    size = FULL.scaled(scale(argv, 0.005 if quick(argv) else 0.03))
    rounds = _rounds(argv, 1 if quick(argv) else 3)
    root = VAR / "peers"
    shutil.rmtree(root, ignore_errors=True)
    console.rule(f"peers: Singer taps vs pmsync ({size.label}, HTTPS)")
    rows: list[list[str]] = []
    notes: list[str] = []
    with SandboxProcess(size, root / "sandbox", tls=True) as box:
        results = [prepare(peer, box, root) for peer in PEERS]
        sources = sorted({p.source for p in PEERS})
        pmsync: dict[str, list[tuple[SyncOutcome, int]]] = {s: [] for s in sources}
        threaded: dict[str, list[SyncOutcome]] = {s: [] for s in sources}
        # In rounds, each tool once a round: a machine that slows down for a while
        # slows every tool alike, and the spread of the rounds shows how much it did.
        for round_no in range(rounds):
            for result in results:
                if result.streams:
                    timed_run(result, box, root)
            for s in sources:
                pmsync[s].append(pmsync_run(box, root, s, warm_up=round_no == 0))
                threaded[s].append(pmsync_run(box, root, s, warm_up=False, pull_processes=False)[0])
    for source in sources:
        outcome, served = median_of(pmsync[source], lambda o: o[0].seconds)
        in_thread = median_of(threaded[source], lambda o: o.seconds)
        whole = median_of([o for o, _ in pmsync[source]], lambda o: o.process_seconds)
        for label, what, seconds in (
            (
                f"pmsync → SQLite ({source}, every stream, then the plan refresh)",
                ", ".join(r["stream"] for r in outcome.results),
                outcome.seconds,
            ),
            (  # timed as a tap is: the whole process
                f"  the whole `pmsync sync` process ({source})",
                "start, imports, a new store migrated, every stream, plan refresh, exit",
                whole.process_seconds,
            ),
            (  # what the pull workers bring: the same sync with the pull in a thread
                f"  pulled in a thread ({source}, `daemon.pull_processes: false`)",
                ", ".join(r["stream"] for r in in_thread.results),
                in_thread.seconds,
            ),
        ):
            rows.append(
                [
                    label,
                    what,
                    fmt(outcome.stored),
                    fmt(seconds, 1),
                    fmt(outcome.stored / seconds, 0),
                    fmt(served),
                    "",
                    "",
                ]
            )
        for o, _ in pmsync[source]:
            if not o.ok:
                notes.append(f"pmsync {source}: {o.errors()}")
    for result in results:
        peer = result.peer
        for stream, error in result.failed.items():
            notes.append(f"{peer.name}, stream `{stream}`: {error}")
        run = result.run
        if result.problem or run is None:
            why = result.problem or "no stream could be synced"
            rows.append([peer.name, "-", "-", "-", "-", "-", "cannot run", ""])
            notes.append(f"{peer.name}: {why}")
            continue
        mine = {s for stream in result.streams for s in peer.streams[stream]}
        total = sum(run.records.values())
        rate = total / run.seconds if run.seconds else 0.0
        ours = [pmsync_subset(o, mine) for o, _ in pmsync[peer.source]]
        records, seconds, requests = median_of(ours, lambda r: r[1])
        my_rate = records / seconds if seconds else 0.0
        rows.append(
            [
                peer.name,
                ", ".join(f"{s} {human(run.records[s])}" for s in result.streams),
                fmt(total),
                fmt(run.seconds, 1),
                fmt(rate, 0),
                fmt(run.requests),
                _ratio(my_rate, rate, result.runs, ours),
                f"{requests / run.requests:.2f}x" if run.requests else "-",
            ]
        )
        rows.append(
            [
                "  pmsync, same streams",
                ", ".join(sorted(mine)),
                fmt(records),
                fmt(seconds, 1),
                fmt(my_rate, 0),
                fmt(requests),
                "",
                "",
            ]
        )
        theirs_in_thread = [pmsync_subset(o, mine) for o in threaded[peer.source]]
        t_records, t_seconds, _ = median_of(theirs_in_thread, lambda r: r[1])
        t_rate = t_records / t_seconds if t_seconds else 0.0
        rows.append(
            [
                "  pmsync, same streams, pulled in a thread",
                ", ".join(sorted(mine)),
                fmt(t_records),
                fmt(t_seconds, 1),
                fmt(t_rate, 0),
                fmt(requests),
                f"({t_rate / rate:.1f}x)" if rate else "-",
                "",
            ]
        )
        for tap_run in result.runs:
            if tap_run.code != 0:
                notes.append(f"{peer.name}: a timed run failed: {tap_run.error}")
    show(
        f"2. Peers on the same sandbox ({size.label}, HTTPS); records as each tool counts them",
        [
            "tool",
            "streams (records)",
            "records",
            "seconds",
            "records/s",
            "requests",
            "pmsync records/s ÷ theirs",
            "pmsync requests ÷ theirs",
        ],
        rows,
        "goal: pmsync ≥ 3x their records/s with no more requests (≤ 1.00x). A tap's time is "
        "its whole process (start to exit); pmsync's per-stream time is pull + store, and "
        "its whole process, timed like a tap's, is shown under its every-stream row. "
        f"Each tool ran {rounds} time(s), in rounds; each row is its median run, and the "
        "ratio's brackets hold the lowest and highest of the rounds' ratios.\n"
        + "\n".join(f"- {n}" for n in notes),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
