"""What every benchmark shares: sizes, a sandbox in a child process, syncs in child processes.

Why child processes: the sandbox is Python too, and on a 2-core machine a
sandbox served from pmsync's own process would share one interpreter lock with
the sync it serves, so every figure would measure both at once. Here the
sandbox runs in one child (``python -m bench.common serve``) and each sync in
another (``python -m bench.common sync``), so each gets a core, and the peak RSS
of a sync is that child's alone (``os.wait4`` returns the child's own rusage).

The sandbox child speaks a line protocol on stdin/stdout (one JSON object per
line): ``served`` (requests per service and route, the sandbox's ``served``
counters), ``reset``, ``clock``, ``advance``, ``record`` / ``dump`` (the
requests clients sent, for the bare-client floor), ``quit``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
PG_ENV = "PMSYNC_TEST_DATABASE_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULTS = VAR / "latest.md"
console = Console(highlight=False, width=None if sys.stdout.isatty() else 132)


# --- sizes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """A generated scenario's size: Jira issues, GitHub issues + PRs, commits, events."""

    jira: int
    github: int
    commits: int
    events: int
    projects: int = 5
    seed: int = 11
    """Seed and project count are fixed so every run of a benchmark serves the same world."""

    @property
    def items(self) -> int:
        """Return the total of generated items (the 'size' the tables print)."""
        return self.jira + self.github + self.commits + self.events

    @property
    def label(self) -> str:
        """Return e.g. ``100k Jira + 100k GitHub + 200k commits + 20k events``."""
        return (
            f"{human(self.jira)} Jira + {human(self.github)} GitHub + "
            f"{human(self.commits)} commits + {human(self.events)} events"
        )

    def scaled(self, factor: float) -> Size:
        """Return this size times ``factor`` (same proportions)."""
        return Size(
            max(10 * self.projects, int(self.jira * factor)),
            int(self.github * factor),
            int(self.commits * factor),
            int(self.events * factor),
            self.projects,
            self.seed,
        )


FULL = Size(100_000, 100_000, 200_000, 20_000)
"""Issue 10's size: 100k Jira issues, 100k GitHub issues, 200k commits, 20k events."""


def human(n: float) -> str:
    """Return ``n`` as 12k / 1.2M."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.3g}M"
    if n >= 1_000:
        return f"{n / 1_000:.3g}k"
    return f"{n:g}"


# --- the sandbox in a child process ------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request a client sent to the sandbox, enough to send it again byte for byte."""

    service: str
    method: str
    target: str
    body: str
    """The body as latin-1 text (bytes survive the JSON round trip)."""
    headers: dict[str, str]


class SandboxProcess:
    """A generated scenario served by ``python -m bench.common serve`` in a child process."""

    def __init__(
        self,
        size: Size,
        root: Path,
        *,
        tls: bool = False,
        jira_flavour: str = "cloud",
        faults: str | None = None,
    ) -> None:
        self.size, self.root, self.tls, self.jira_flavour = size, root, tls, jira_flavour
        self.faults = faults
        """A ``--faults`` spec, e.g. ``rate=1,kinds=slow,slow=0.05`` for 50 ms a request."""
        self.proc: subprocess.Popen[str] | None = None
        self.endpoints: dict[str, Any] = {}
        self.summary: dict[str, int] = {}
        self.config_dir = root / "config"
        self.startup_seconds = 0.0

    def start(self) -> SandboxProcess:
        """Generate and serve the scenario; return once it answers, with a config written."""
        self.root.mkdir(parents=True, exist_ok=True)
        args = {
            "size": asdict(self.size),
            "root": str(self.root),
            "tls": self.tls,
            "jira_flavour": self.jira_flavour,
            "faults": self.faults,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.common", "serve", json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=child_env(),
        )
        info = self._read()
        self.endpoints, self.summary = info["endpoints"], info["summary"]
        self.startup_seconds = info["seconds"]
        return self

    def _read(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox process ended (exit {self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"sandbox: {answer['error']}")
        return answer

    def call(self, command: str, **args: Any) -> dict[str, Any]:
        """Send one command to the sandbox process and return its answer."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"command": command, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def served(self) -> dict[str, dict[str, int]]:
        """Return the requests served per service and route since the last ``reset``."""
        served: dict[str, dict[str, int]] = self.call("served")["served"]
        return served

    def requests(self) -> dict[str, int]:
        """Return the number of requests served per service since the last ``reset``."""
        return {name: sum(routes.values()) for name, routes in self.served().items()}

    def reset(self) -> None:
        """Zero the served counters and the request log."""
        self.call("reset")

    def clock(self) -> str:
        """Return the simulated now (ISO)."""
        return str(self.call("clock")["now"])

    def advance(self, days: float) -> str:
        """Move the simulated clock forward (``Sandbox.advance``); return the new now."""
        return str(self.call("advance", days=days)["now"])

    def record(self, on: bool) -> None:
        """Start or stop keeping every request clients send."""
        self.call("record", on=on)

    def recorded(self) -> list[RecordedRequest]:
        """Return the requests kept since recording started, in arrival order."""
        path = self.root / "requests.jsonl"
        self.call("dump", path=str(path))
        with path.open(encoding="utf-8") as lines:
            return [RecordedRequest(**json.loads(line)) for line in lines]

    def stop(self) -> None:
        """Stop the sandbox process."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.call("quit")
        except (OSError, RuntimeError, ValueError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> SandboxProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_KEEP_HEADERS = ("Authorization", "Accept", "Content-Type", "If-None-Match", "User-Agent")


def _serve_main(args: dict[str, Any]) -> None:
    """The sandbox child: generate, serve, write a config, then answer commands."""
    from pmsync.sandbox.app import Sandbox
    from pmsync.sandbox.configout import write_config
    from pmsync.sandbox.generator import generate, summarize
    from pmsync.sandbox.server import FaultPlan

    started = time.perf_counter()
    size = Size(**args["size"])
    root = Path(args["root"])
    scenario = generate(
        projects=size.projects,
        items=size.jira,
        seed=size.seed,
        github_items=size.github,
        commits=size.commits,
        events=size.events,
    )
    box = Sandbox(
        scenario,
        faults=FaultPlan.parse(args.get("faults")),
        tls_dir=root / "tls" if args["tls"] else None,
        jira_flavour=args["jira_flavour"],
    ).start()
    # GitHub's hourly limits (5,000 a token, 60 without) would end a full-size run
    # half-way: the benchmarks measure speed, so they get a limit nobody reaches.
    _github_limits(box, 1_000_000_000)
    log: list[dict[str, str | dict[str, str]]] = []
    recording = [False]
    for name, service in box.services.items():
        _record_into(service, name, log, recording)
    endpoints = box.endpoints()
    write_config(scenario, endpoints, root / "config", var_dir=root / "var")
    _drop_shared_aliases(root / "config" / "pmsync.yaml")
    ready = {
        "endpoints": endpoints,
        "summary": summarize(scenario),
        "seconds": time.perf_counter() - started,
    }
    del scenario
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        order = json.loads(line)
        command = order["command"]
        answer: dict[str, Any] = {}
        try:
            _obey(box, order, log, recording, answer)
        except Exception as err:  # report to the parent, keep serving
            answer = {"error": f"{command}: {type(err).__name__}: {err}"}
        if command == "quit":
            print(json.dumps({"bye": True}), flush=True)
            break
        print(json.dumps(answer), flush=True)
    box.stop()


def _obey(
    box: Any,
    order: dict[str, Any],
    log: list[dict[str, Any]],
    recording: list[bool],
    answer: dict[str, Any],
) -> None:
    """Carry out one command of the parent (see the module docstring)."""
    from datetime import timedelta

    command = order["command"]
    if command == "quit":
        return
    if command == "served":
        answer["served"] = {
            name: {k: v for k, v in s.served.items() if not k.startswith("sandbox_")}
            for name, s in box.services.items()
        }
    elif command == "reset":
        for service in box.services.values():
            service.served.clear()
        log.clear()
    elif command == "clock":
        answer["now"] = box.clock.now().isoformat()
    elif command == "advance":
        box.advance(timedelta(days=float(order["days"])))
        answer["now"] = box.clock.now().isoformat()
    elif command == "record":
        recording[0] = bool(order["on"])
    elif command == "dump":
        with open(order["path"], "w", encoding="utf-8") as out:
            for entry in log:
                out.write(json.dumps(entry) + "\n")
        answer["requests"] = len(log)
    else:
        raise ValueError(f"unknown command {command!r}")


def _github_limits(box: Any, limit: int) -> None:
    """Give every GitHub client, with a token or without, ``limit`` requests an hour."""
    from pmsync.sandbox.github import service as github

    if not hasattr(github, "UNAUTHENTICATED_LIMIT"):
        raise RuntimeError("the sandbox's GitHub no longer has UNAUTHENTICATED_LIMIT")
    github.UNAUTHENTICATED_LIMIT = limit
    box.services["github"].limit_per_hour = limit
    box.services["github"]._buckets.clear()


def _drop_shared_aliases(path: Path) -> None:
    """Keep each tool alias with its first person only.

    The generator makes Jira e-mails as ``initial.last@corp...`` without making
    them unique, so at 100,000 issues (1,200 people) two people share one and
    ``load_config`` refuses the config. Until the generator is fixed, the
    benchmarks drop the second use: it changes no record, only who it links to.
    """
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    seen: set[tuple[str, str]] = set()
    for person in data.get("people") or []:
        for tool, aliases in (person.get("aliases") or {}).items():
            kept = [a for a in aliases if (tool, a) not in seen]
            seen.update((tool, a) for a in kept)
            person["aliases"][tool] = kept
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _record_into(service: Any, name: str, log: list[dict[str, Any]], recording: list[bool]) -> None:
    """Wrap a service's dispatch so it notes every request while ``recording[0]`` is set."""
    dispatch = service._dispatch

    def recorded_dispatch(request: Any) -> Any:
        if recording[0] and not request.path.startswith("/_sandbox"):
            target = request.environ.get("RAW_URI") or request.full_path
            log.append(
                {
                    "service": name,
                    "method": request.method,
                    "target": target,
                    "body": request.get_data().decode("latin-1"),
                    "headers": {
                        h: request.headers[h] for h in _KEEP_HEADERS if h in request.headers
                    },
                }
            )
        return dispatch(request)

    service._dispatch = recorded_dispatch


# --- syncs in child processes ---------------------------------------------------------


@dataclass
class SyncOutcome:
    """What one sync child did: its own timing, its results per stream, its peak RSS."""

    seconds: float
    """Seconds inside ``sync_configured`` (no interpreter start, no imports)."""
    process_seconds: float
    cpu_seconds: float
    """User + system CPU of the sync child (steadier than wall time on a busy machine)."""
    peak_rss_mb: float
    results: list[dict[str, Any]] = field(default_factory=list)
    worker_peak_rss_mb: float = 0.0
    """The largest pull worker's peak RSS (0 where the sources pulled in the sync child)."""
    worker_start_rss_mb: float = 0.0
    """That worker's RSS once started: what it shares with the fork server, mostly."""
    after_pull: dict[str, float] = field(default_factory=dict)
    """Seconds of each step after the pull (people, plan refresh, meetings)."""

    @property
    def ok(self) -> bool:
        """Tell whether every stream succeeded."""
        return all(r["status"] == "ok" for r in self.results)

    @property
    def stored(self) -> int:
        """Return the records created + updated + unchanged over every stream."""
        return sum(r["created"] + r["updated"] + r["unchanged"] for r in self.results)

    @property
    def requests(self) -> int:
        """Return the HTTP requests pmsync counted."""
        return sum(int(r["requests"]) for r in self.results)

    def errors(self) -> list[str]:
        """Return ``source/stream: error`` for each failed stream."""
        return [f"{r['source']}/{r['stream']}: {r['error']}" for r in self.results if r["error"]]


def run_sync(
    config_dir: Path,
    db_url: str,
    *,
    now: str,
    full: bool,
    only: Sequence[str] | None = None,
    profile: Path | None = None,
    concurrent: bool = True,
    pull_processes: bool | None = None,
) -> SyncOutcome:
    """Run one ``sync_configured`` in a child process and return what it did.

    ``concurrent=False`` syncs the sources one after the other instead of at once;
    ``pull_processes`` overrides the configuration's ``daemon.pull_processes``.
    """
    args = {
        "config": str(config_dir),
        "db": db_url,
        "now": now,
        "full": full,
        "only": list(only) if only else None,
        "profile": str(profile) if profile else None,
        "concurrent": concurrent,
        "pull_processes": pull_processes,
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.common", "sync", json.dumps(args)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"sync child failed (exit {proc.returncode}): {out[-2000:]}")
    answer = json.loads(lines[-1])
    # ru_maxrss is in KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    return SyncOutcome(
        answer["seconds"],
        elapsed,
        cpu,
        usage.ru_maxrss / 1024,
        answer["results"],
        answer["worker_peak_rss_kb"] / 1024,
        answer["worker_start_rss_kb"] / 1024,
        answer.get("after_pull", {}),
    )


@dataclass(frozen=True)
class SimulatedClock:
    """The scenario's now, moving on at wall-clock speed (so each stream's run has a duration).

    A class, not a closure: a pull worker process receives the clock pickled.
    """

    start: datetime
    wall: float
    """``time.monotonic()`` at ``start`` (the same clock in every process of the machine)."""

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.wall)


def _sync_main(args: dict[str, Any]) -> None:
    """The sync child: open the store, migrate, run one sync, print the results as JSON."""
    import logging

    from pmsync.config import load_config
    from pmsync.connectors import load_connectors, no_sleep
    from pmsync.processes import connector_modules, settle_startup, start_fork_server
    from pmsync.pull_workers import PEAK
    from pmsync.store import Store
    from pmsync.sync import sync_configured

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    now = SimulatedClock(datetime.fromisoformat(args["now"]), time.monotonic())
    config = load_config(Path(args["config"]), load_connectors())
    pull_processes = args.get("pull_processes")
    if pull_processes is None:
        pull_processes = config.settings.daemon.pull_processes
    if pull_processes:  # as `pmsync sync` does: its imports overlap the store's opening
        start_fork_server(connector_modules())
    store = Store.open(args["db"], var_dir=Path(args["config"]) / "var")
    store.upgrade()
    settle_startup()  # as `pmsync sync` does once the store is open
    profiler: Any = None
    if args["profile"]:
        from pyinstrument import Profiler

        import pmsync.sync

        # The profiler sees one thread: run the connector in it (no prefetching).
        pmsync.sync.PREFETCH_PAGES = 0
        if args["profile"].endswith(".pstats"):  # CPU time, every call (cProfile)
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        else:  # wall time, sampled (pyinstrument)
            profiler = Profiler(interval=0.002)
            profiler.start()
    started = time.perf_counter()
    report = sync_configured(
        config,
        store,
        full=args["full"],
        only=args["only"],
        now=now,
        sleep=no_sleep,
        concurrent=args.get("concurrent", True),
        pull_processes=pull_processes,
    )
    seconds = time.perf_counter() - started
    if profiler is not None:
        if args["profile"].endswith(".pstats"):
            profiler.disable()
            profiler.dump_stats(args["profile"])
        else:
            profiler.stop()
            Path(args["profile"]).write_text(profiler.output_text(unicode=True, show_all=False))
            profiler.write_html(args["profile"] + ".html")
    store.close()
    results = [r.as_dict() for r in report.results]
    workers = {"worker_peak_rss_kb": PEAK.peak_rss_kb, "worker_start_rss_kb": PEAK.start_rss_kb}
    after = {"after_pull": report.after_pull}
    print(json.dumps({"seconds": seconds, "results": results, **workers, **after}), flush=True)


def child_env() -> dict[str, str]:
    """Return the environment for child processes (this checkout's bench importable).

    Bytecode caches are written even where the machine sets ``PYTHONDONTWRITEBYTECODE``:
    an install has them (pip compiles; so do the taps' virtualenvs), and without them
    every child would compile pmsync's own modules again at its start.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


# --- databases ----------------------------------------------------------------------


def pg_base_url() -> str:
    """Return the PostgreSQL URL benchmarks use (``PMSYNC_TEST_DATABASE_URL`` or the default)."""
    return os.environ.get(PG_ENV) or PG_DEFAULT


def pg_available() -> str | None:
    """Return None when PostgreSQL answers, else why not (one line)."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(pg_base_url(), connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as err:  # any failure means: skip PostgreSQL, say why
        return str(err).splitlines()[0]
    return None


@contextmanager
def pg_schema(prefix: str = "pmsync_bench") -> Iterator[str]:
    """Yield a URL whose search_path is a fresh schema; drop the schema afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = pg_base_url()
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    """Yield the URL of an empty database of ``backend`` (``sqlite`` or ``postgresql``)."""
    if backend == "sqlite":
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with pg_schema() as url:
            yield url


def backends() -> list[str]:
    """Return the backends to measure: SQLite, and PostgreSQL when it answers."""
    problem = pg_available()
    if problem is not None:
        console.print(f"[yellow]PostgreSQL skipped ({pg_base_url()}): {problem}[/]")
        return ["sqlite"]
    return ["sqlite", "postgresql"]


# --- timing and printing ------------------------------------------------------------------


class Stopwatch:
    """``with Stopwatch() as t: ...`` then ``t.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def machine_cpu_seconds() -> float:
    """Return the CPU seconds this machine's processes have spent since boot (``/proc/stat``).

    The difference across a run counts every process it keeps busy (the
    sandbox, the database server, the run's own children): on two cores no run
    can take less than half of it. ``nan`` where there is no ``/proc/stat``.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:8]]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq = ticks
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def ratio(value: float, reference: float) -> str:
    """Return ``value / reference`` as ``1.23x`` (``-`` when undefined)."""
    if not reference:
        return "-"
    return f"{value / reference:.2f}x"


def fmt(value: float, digits: int = 1) -> str:
    """Return a number with thousands separators."""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def show(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> None:
    """Print a table (rich) and append it as Markdown to ``var/bench/latest.md``."""
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)
    if note:
        console.print(note)
    VAR.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as md:
        md.write(f"\n**{title}**\n\n| {' | '.join(columns)} |\n")
        md.write("|" + "|".join(" --- " for _ in columns) + "|\n")
        for row in rows:
            md.write("| " + " | ".join(str(cell) for cell in row) + " |\n")
        if note:
            md.write(f"\n{note}\n")


LOOP = 10_000_000
"""Additions in ``python_speed``'s loop."""


def python_speed(repeat: int = 3) -> float:
    """Return the best of ``repeat`` timings of a fixed pure-Python loop (``LOOP`` additions), in s.

    Machines of one kind differ by half or more, and one machine by 10-20 % from run
    to run (docs/benchmarks.md): a table's seconds read beside this figure, taken
    in the same run, tell the code's speed from the machine's.
    """
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        total = 0
        for n in range(LOOP):
            total += n
        best = min(best, time.perf_counter() - started)
    return best


def machine() -> dict[str, str]:
    """Return the machine the figures come from: cores, CPU, memory, Python, databases, and
    how fast it runs Python now (``python_speed``)."""
    cpu = "?"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    memory = "?"
    try:
        found = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        memory = f"{int(found.group(1)) / 1024 / 1024:.1f} GiB" if found else memory
    except OSError:
        pass
    info = {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": "-",
        "python speed": f"{python_speed():.2f} s for {LOOP:,} additions (best of 3)",
    }
    if pg_available() is None:
        from sqlalchemy import create_engine, text

        engine = create_engine(pg_base_url())
        with engine.connect() as conn:
            info["postgresql"] = str(conn.scalar(text("SHOW server_version")))
        engine.dispose()
    return info


def quick(argv: Sequence[str]) -> bool:
    """Tell whether ``--quick`` was asked for."""
    return "--quick" in argv


def scale(argv: Sequence[str], default: float) -> float:
    """Return ``--scale=F`` (a fraction of issue 10's full size), else ``default``."""
    for arg in argv:
        if arg.startswith("--scale="):
            return float(arg.split("=", 1)[1])
    return default


if __name__ == "__main__":
    _command, _args = sys.argv[1], json.loads(sys.argv[2])
    if _command == "serve":
        _serve_main(_args)
    elif _command == "sync":
        _sync_main(_args)
    else:
        raise SystemExit(f"unknown command {_command!r}")
