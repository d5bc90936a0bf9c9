"""Full sync against the floor, incremental sync, and memory (issue 10, parts 1, 3 and 4).

1. **The floor**: pmsync's full sync records every request it sends (on the
   sandbox side), then a bare ``http.client`` connection per service (keep-alive,
   no parsing: read the bytes, drop them) sends exactly those requests again. That
   is the physical limit of this machine with this server; pmsync's full sync
   into SQLite and into PostgreSQL is timed against it, as a new store's first
   ``pmsync sync`` runs it (without ``--full``: the same requests and records;
   a worker's share of the work differs between the two, and the first sync is
   the one every user runs). The sandbox keeps caches
   (rendered issues, query results), so the recording sync is a warm-up and every
   timed run, the floor included, meets a warm sandbox.
1a. **What the clients' own layer costs**: the same requests sent again through
   ``requests`` (the HTTP library under the ``jira`` library and PyGithub),
   first reading the bodies only, then parsing each one as pmsync's connectors
   do (orjson), one process per service at once as pmsync's pull workers run.
   No mapping, no hashing, no store: what any Python sync built on these
   clients spends before it does anything with a record, so the goal's 1.5
   times the floor can be read against it.
1c. **Latency**: the same full sync against a sandbox that answers every
   request 100 ms late (a server across the internet), with the sources synced
   one after the other and at once (the default): what the floor cannot show,
   since on a local sandbox the sync is CPU-bound.
3. **Incremental**: on the database of that first sync, the scenario advances a
   day, then an incremental sync runs, then one more with nothing changed.
4. **Memory**: peak RSS of full syncs of growing sizes, each in its own child
   process (``os.wait4`` gives that child's own peak).
"""

from __future__ import annotations

import http.client
import multiprocessing
import shutil
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import (
    FULL,
    VAR,
    RecordedRequest,
    SandboxProcess,
    Size,
    SyncOutcome,
    backends,
    console,
    database,
    fmt,
    human,
    machine_cpu_seconds,
    quick,
    ratio,
    run_sync,
    scale,
    show,
)

SOURCE_SERVICE = {"jira": "jira", "github": "github", "gcal": "calendar", "ics": "calendar"}
"""Which sandbox service each configured source talks to."""


@dataclass
class Floor:
    """What a replay spent: seconds in all and per service, CPU, bytes, statuses."""

    seconds: float = 0.0
    cpu: float = 0.0
    """The machine's CPU seconds in the run, the server's included (``machine_cpu_seconds``)."""
    requests: int = 0
    bytes: int = 0
    per_service: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    def count(self, service: str, began: float, size: int, status: int) -> None:
        """Count one answer: ``size`` bytes with ``status``, asked for at ``began``."""
        self.bytes += size
        self.statuses[status] += 1
        self.per_service[service] += time.perf_counter() - began  # type: ignore[assignment]


def replay(
    endpoints: dict[str, dict[str, str]], requests: Sequence[RecordedRequest], ca: str | None
) -> Floor:
    """Send ``requests`` again over one keep-alive connection per service; read, never parse."""
    floor = Floor()
    connections: dict[str, http.client.HTTPConnection] = {}
    context = ssl.create_default_context(cafile=ca) if ca else None

    def connect(service: str) -> http.client.HTTPConnection:
        url = urlsplit(endpoints[service]["url"])
        assert url.hostname is not None
        if url.scheme == "https":
            return http.client.HTTPSConnection(url.hostname, url.port, context=context)
        return http.client.HTTPConnection(url.hostname, url.port)

    started, cpu = time.perf_counter(), machine_cpu_seconds()
    for request in requests:
        began = time.perf_counter()
        conn = connections.get(request.service)
        if conn is None:
            conn = connections[request.service] = connect(request.service)
        body = request.body.encode("latin-1") if request.body else None
        try:
            conn.request(request.method, request.target, body=body, headers=request.headers)
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # the server closed a connection that sat idle while others were used: reopen
            conn.close()
            conn = connections[request.service] = connect(request.service)
            conn.request(request.method, request.target, body=body, headers=request.headers)
            response = conn.getresponse()
        size = len(response.read())
        if response.will_close:
            conn.close()
            del connections[request.service]
        floor.count(request.service, began, size, response.status)
    floor.seconds, floor.cpu = time.perf_counter() - started, machine_cpu_seconds() - cpu
    floor.requests = len(requests)
    for conn in connections.values():
        conn.close()
    return floor


def client_replay(
    endpoints: dict[str, dict[str, str]],
    requests: Sequence[RecordedRequest],
    ca: str | None,
    *,
    parse: bool,
) -> Floor:
    """Send ``requests`` again through a ``requests.Session`` per service; parse with orjson.

    ``requests`` is what the ``jira`` library and PyGithub send with (Google's
    client uses httplib2, but the calendar is 1 % of the bytes): reading a body
    through it is the least any sync built on those clients pays. ``parse`` adds
    what pmsync's connectors do first with every body (``pmsync.connectors.parse_json``).
    """
    import requests as http  # the bench's own process does not need it otherwise

    from pmsync.connectors import parse_json

    spent = Floor()
    sessions: dict[str, Any] = {}
    started, cpu = time.perf_counter(), machine_cpu_seconds()
    for request in requests:
        began = time.perf_counter()
        session = sessions.get(request.service)
        if session is None:
            session = sessions[request.service] = http.Session()
            session.verify = ca or True
        base = urlsplit(endpoints[request.service]["url"])
        response = session.request(
            request.method,
            f"{base.scheme}://{base.netloc}{request.target}",
            data=request.body.encode("latin-1") if request.body else None,
            headers=request.headers,
        )
        body = response.content
        if parse and "json" in response.headers.get("Content-Type", ""):
            parse_json(body)  # an iCalendar feed is not JSON: read, not parsed
        spent.count(request.service, began, len(body), response.status_code)
    spent.seconds, spent.cpu = time.perf_counter() - started, machine_cpu_seconds() - cpu
    spent.requests = len(requests)
    for session in sessions.values():
        session.close()
    return spent


def _client_child(
    endpoints: dict[str, dict[str, str]],
    requests: Sequence[RecordedRequest],
    ca: str | None,
    start: Any,
    results: Any,
) -> None:
    """One service's share of ``parsed_at_once``: wait for the others, replay, report."""
    # imported before the clock starts, as pmsync's workers import them before they pull
    import requests as http  # noqa: F401

    import pmsync.connectors  # noqa: F401

    start.wait()
    began = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
    try:
        spent = client_replay(endpoints, requests, ca, parse=True)
    except Exception as err:  # the parent reports it rather than wait for ever
        results.put(err)
        raise
    results.put((began, time.perf_counter(), spent))


def parsed_at_once(
    endpoints: dict[str, dict[str, str]], requests: Sequence[RecordedRequest], ca: str | None
) -> Floor:
    """Run ``client_replay(parse=True)`` in one process per service, all at once.

    pmsync pulls its sources at once, each in a worker process, so this is the
    fair lower bound to set its sync against. The processes start first and
    wait at a barrier, this process with them: their start-up is neither timed
    nor counted in the machine's CPU (pmsync's is, in its sync).
    """
    by_service: dict[str, list[RecordedRequest]] = {}
    for request in requests:
        by_service.setdefault(request.service, []).append(request)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(len(by_service) + 1), context.Queue()
    children = [
        context.Process(target=_client_child, args=(endpoints, share, ca, start, results))
        for share in by_service.values()
    ]
    for child in children:
        child.start()
    start.wait(timeout=600)  # a child that died before it raises BrokenBarrierError here
    cpu = machine_cpu_seconds()
    reports = [results.get(timeout=3600) for _ in children]
    cpu = machine_cpu_seconds() - cpu
    for child in children:
        child.join()
    for report in reports:
        if isinstance(report, Exception):
            raise report
    total = Floor(requests=len(requests), cpu=cpu)
    total.seconds = max(end for _, end, _ in reports) - min(began for began, _, _ in reports)
    for _, _, spent in reports:
        total.bytes += spent.bytes
        total.per_service.update(spent.per_service)
        total.statuses.update(spent.statuses)
    return total


def stream_seconds(outcome: SyncOutcome) -> Counter[str]:
    """Return the seconds pmsync spent per sandbox service (from the runs' start and end)."""
    from datetime import datetime

    spent: Counter[str] = Counter()
    for r in outcome.results:
        if r["started_at"] and r["finished_at"]:
            took = datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(
                r["started_at"]
            )
            spent[SOURCE_SERVICE.get(r["source"], r["source"])] += took.total_seconds()  # type: ignore[assignment]
    return spent


def full_vs_floor(box: SandboxProcess, root: Path, size: Size) -> tuple[str, SyncOutcome]:
    """Part 1; returns the SQLite URL of the warm-up sync (kept for part 3) and its outcome."""
    now = box.clock()
    box.reset()
    box.record(True)
    warm_db = root / "warm"
    warm_db.mkdir(parents=True, exist_ok=True)
    warm_url = f"sqlite:///{warm_db / 'pmsync.db'}"
    warm = run_sync(box.config_dir, warm_url, now=now, full=True)
    box.record(False)
    recorded = box.recorded()
    served_warm = sum(box.requests().values())
    console.print(
        f"warm-up sync (cold sandbox caches, SQLite): {warm.seconds:.1f} s, "
        f"{warm.requests} requests, {warm.stored:,} records, errors: {warm.errors() or 'none'}"
    )
    ca = box.endpoints.get("ca_bundle")
    floor = replay(box.endpoints, recorded, ca)
    through_requests = client_replay(box.endpoints, recorded, ca, parse=False)
    parsed = parsed_at_once(box.endpoints, recorded, ca)
    rows: list[list[str]] = []

    def row(label: str, seconds: float, cpu: float, requests: int, size: str, records: int) -> None:
        rows.append(
            [
                label,
                fmt(seconds, 1),
                fmt(cpu, 1),
                fmt(requests),
                size,
                fmt(records) if records else "-",
                fmt(records / seconds, 0) if records else "-",
                ratio(seconds, floor.seconds),
                ratio(seconds, parsed.seconds),
            ]
        )

    for label, spent in (
        ("floor: bare http.client, keep-alive, no parsing", floor),
        ("requests (the clients' HTTP), keep-alive, no parsing", through_requests),
        ("requests + orjson parsing, a process per service at once", parsed),
    ):
        row(label, spent.seconds, spent.cpu, spent.requests, f"{spent.bytes / 1e6:,.0f} MB", 0)
        if spent.bytes != floor.bytes or spent.statuses != floor.statuses:
            console.print(
                f"[red]{label}: {spent.bytes:,} bytes {dict(spent.statuses)} against the "
                f"floor's {floor.bytes:,} {dict(floor.statuses)}[/]"
            )
    per_service: dict[str, dict[str, float]] = {
        "floor": dict(floor.per_service),
        "parsed": dict(parsed.per_service),
    }
    outcomes: dict[str, SyncOutcome] = {}
    for backend in backends():
        with database(backend, root) as url:
            box.reset()
            cpu = machine_cpu_seconds()
            outcome = run_sync(box.config_dir, url, now=now, full=False)  # a new store's first
            cpu = machine_cpu_seconds() - cpu
            served = sum(box.requests().values())
        outcomes[backend] = outcome
        per_service[backend] = dict(stream_seconds(outcome))
        name = "SQLite" if backend == "sqlite" else "PostgreSQL"
        row(f"pmsync full sync → {name}", outcome.seconds, cpu, served, "-", outcome.stored)
        if not outcome.ok:
            console.print(f"[red]{backend}: {outcome.errors()}[/]")
    show(
        f"1. Full sync vs the floor: {size.label} ({human(size.items)} items)",
        [
            "run",
            "seconds",
            "machine CPU s",
            "requests",
            "bytes",
            "records",
            "records/s",
            "vs floor",
            "vs parsed",
        ],
        rows,
        "goal: ≤ 1.5x the floor. 'vs parsed': against the requests + orjson row, what any "
        "sync built on these clients spends before it maps or stores a record. 'machine CPU "
        "s': every process's, the sandbox's and the database's included; on two cores no run "
        f"takes less than half of it. The warm-up sync made {served_warm:,} requests; "
        f"statuses in the replay: {dict(floor.statuses)}. pmsync's syncs: a new store's "
        "first `pmsync sync`. Records = rows written "
        "(issues, changes, worklogs, PRs, milestones, commits, events).",
    )
    services = sorted({s for spent in per_service.values() for s in spent})
    steps = {"people": "people linked", "plan": "plan refresh", "meetings": "meetings linked"}
    after = [
        [f"after the pull: {label}", "-", "-"]
        + [fmt(outcomes[k].after_pull.get(step, 0.0), 1) for k in outcomes]
        for step, label in steps.items()
    ]
    show(
        "1b. Where the time goes, per sandbox service (seconds)",
        ["service", *per_service],
        [[s, *(fmt(per_service[k].get(s, 0.0), 1) for k in per_service)] for s in services] + after,
        "floor: time of that service's requests in the replay; parsed: the same through "
        "requests, each body parsed (that service's process); pmsync: its streams' run time "
        "(the sources pull at once), then each step that folds the records into the plan.",
    )
    for backend, outcome in outcomes.items():
        console.print(
            f"{backend}: peak RSS {outcome.peak_rss_mb:,.0f} MB, CPU {outcome.cpu_seconds:.1f} s "
            f"for {outcome.seconds:.1f} s of sync"
        )
    return warm_url, warm


LATENCY = 0.1
"""Seconds the sandbox delays every answer in part 1c."""


def latency(root: Path, size: Size) -> None:
    """Part 1c: a full sync into SQLite against a distant server, sources in turn and at once."""
    rows = []
    with SandboxProcess(size, root / "latency", faults=f"rate=1,kinds=slow,slow={LATENCY}") as box:
        now = box.clock()
        measured = {}
        for label, concurrent in (("one after the other", False), ("all at once (default)", True)):
            with database("sqlite", root / "latency-db") as url:
                box.reset()
                outcome = run_sync(box.config_dir, url, now=now, full=True, concurrent=concurrent)
                served = sum(box.requests().values())
            measured[concurrent] = outcome
            waited = served * LATENCY
            rows.append(
                [
                    f"sources {label}",
                    fmt(outcome.seconds, 1),
                    fmt(served),
                    fmt(waited, 1),
                    fmt(outcome.cpu_seconds, 1),
                    fmt(outcome.stored / outcome.seconds, 0),
                ]
            )
            if not outcome.ok:
                console.print(f"[red]{label}: {outcome.errors()}[/]")
    show(
        f"1c. Full sync with every answer {LATENCY * 1000:.0f} ms late: "
        f"{size.label} ({human(size.items)} items, SQLite)",
        ["run", "seconds", "requests", "s of waiting, in sum", "CPU s", "records/s"],
        rows,
        f"at once: {ratio(measured[True].seconds, measured[False].seconds)} the time of one "
        "after the other. Streams within a source stay in turn; pages are fetched one "
        "ahead of the store (prefetch).",
    )


def per_stream(outcome: SyncOutcome) -> dict[str, tuple[int, int, float]]:
    """Return ``source/stream`` → (requests, 304s, seconds)."""
    from datetime import datetime

    found = {}
    for r in outcome.results:
        took = datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["started_at"])
        found[f"{r['source']}/{r['stream']}"] = (
            int(r["requests"]),
            int(r["not_modified"]),
            took.total_seconds(),
        )
    return found


def incremental(box: SandboxProcess, url: str, full: SyncOutcome) -> None:
    """Part 3: a day later, then nothing changed: requests and seconds against the full sync."""
    box.advance(1)
    box.reset()
    day = run_sync(box.config_dir, url, now=box.clock(), full=False)
    day_served = box.requests()
    box.reset()
    same = run_sync(box.config_dir, url, now=box.clock(), full=False)
    same_served = box.served()
    changed = sum(r["created"] + r["updated"] + r["deleted"] for r in day.results)
    show(
        "3. Incremental sync a simulated day later, against the full sync",
        ["sync", "seconds", "requests", "records written (new, changed, deleted)", "vs full"],
        [
            ["full (day 0)", fmt(full.seconds, 1), fmt(full.requests), fmt(full.stored), "1.00x"],
            [
                "incremental (day 1)",
                fmt(day.seconds, 2),
                fmt(sum(day_served.values())),
                fmt(changed),
                ratio(day.seconds, full.seconds),
            ],
            [
                "incremental, nothing changed",
                fmt(same.seconds, 2),
                fmt(sum(sum(r.values()) for r in same_served.values())),
                fmt(sum(r["created"] + r["updated"] + r["deleted"] for r in same.results)),
                ratio(same.seconds, full.seconds),
            ],
        ],
        f"errors: {day.errors() + same.errors() or 'none'}",
    )
    streams_day, streams_same = per_stream(day), per_stream(same)
    show(
        "3b. Requests per stream: a day later, then with nothing changed (goal: one, or 304s)",
        ["stream", "day 1: requests", "day 1: s", "unchanged: requests", "of which 304"],
        [
            [name, fmt(d[0]), fmt(d[2], 2), fmt(streams_same[name][0]), fmt(streams_same[name][1])]
            for name, d in streams_day.items()
        ],
        "sandbox routes with nothing changed: "
        + "; ".join(
            f"{service}: " + ", ".join(f"{route} {n}" for route, n in sorted(routes.items()))
            for service, routes in same_served.items()
            if routes
        ),
    )


def memory(
    root: Path,
    sizes: Sequence[Size],
    measured: dict[int, SyncOutcome],
    *,
    concurrent: bool = True,
) -> None:
    """Part 4: peak RSS of full syncs into SQLite, one child process each."""
    rows = []
    for size in sizes:
        if size.items not in measured:
            with (
                SandboxProcess(size, root / f"mem-{size.items}") as box,
                database("sqlite", root) as url,
            ):
                measured[size.items] = run_sync(
                    box.config_dir, url, now=box.clock(), full=True, concurrent=concurrent
                )
    for items, outcome in sorted(measured.items()):
        rows.append(
            [
                human(items),
                fmt(outcome.stored),
                fmt(outcome.seconds, 1),
                f"{outcome.peak_rss_mb:,.0f}",
                f"{outcome.peak_rss_mb * 1024 / max(outcome.stored, 1):.2f}",
                f"{outcome.worker_peak_rss_mb:,.0f} ({outcome.worker_start_rss_mb:,.0f} at start)"
                if outcome.worker_peak_rss_mb
                else "-",
            ]
        )
    show(
        "4. Memory: peak RSS of a full sync into SQLite (its own child process"
        + ("" if concurrent else "; the sources one after the other")
        + ")",
        [
            "scenario items",
            "records stored",
            "seconds",
            "peak RSS (MB)",
            "KB per record",
            "largest pull worker (MB)",
        ],
        rows,
        "goal: flat. The pull workers are forked from a fork server and share its pages; "
        "what a worker adds is its peak less its RSS at start. "
        "1M items does not fit `make bench`'s 15 minutes on 2 cores "
        "(the 1M-item scenario alone takes minutes to generate and serve); see docs/benchmarks.md. "
        f"Errors: {[e for o in measured.values() for e in o.errors()] or 'none'}.",
    )


SCALABLE = True
"""``python -m bench`` passes ``--scale=F`` on to this module."""
DEFAULT_ITEMS = 100_000
"""What ``make bench`` syncs: issue 10's full size (420,000 items) takes three full syncs
of 5-7 minutes each on 2 cores, beyond the 15 minutes of the whole run (``--scale=1``)."""


def main(argv: Sequence[str]) -> None:
    """Run parts 1, 1c, 3 and 4 and print their tables.

    ``--memory-only``: part 4 at this size; with ``--one-at-a-time`` the sources are
    synced one after the other instead of at once.
    """
    fast = quick(argv)
    size = FULL.scaled(scale(argv, 0.01 if fast else DEFAULT_ITEMS / FULL.items))
    root = VAR / "sync"
    shutil.rmtree(root, ignore_errors=True)
    if "--memory-only" in argv:  # one full sync, no floor, no PostgreSQL: the 1M-item point
        console.rule(f"sync: memory only ({size.label})")
        memory(root, [size], {}, concurrent="--one-at-a-time" not in argv)
        shutil.rmtree(root, ignore_errors=True)
        return
    console.rule(f"sync: full vs floor, incremental, memory ({size.label})")
    if size.items < FULL.items:
        console.print(
            f"[yellow]size: {human(size.items)} items, not issue 10's {human(FULL.items)}: "
            "that size does not fit `make bench`'s 15 minutes on this machine (three full "
            "syncs of 5-7 minutes each); run `python -m bench sync --scale=1` for it.[/]"
        )
    with SandboxProcess(size, root / "main") as box:
        console.print(
            f"sandbox: {box.summary} generated and serving in {box.startup_seconds:.0f} s"
        )
        warm_url, warm = full_vs_floor(box, root, size)
        incremental(box, warm_url, warm)
    latency(root, FULL.scaled(0.01 if fast else 10_000 / FULL.items))
    sizes = [] if fast else [FULL.scaled(10_000 / FULL.items)]
    if size.items > 200_000:
        sizes.append(FULL.scaled(100_000 / FULL.items))
    memory(root, sizes, {size.items: warm})
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
