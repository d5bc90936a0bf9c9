"""The sync engine: every configured source and stream, page by page, crash-safe.

For each stream the engine asks the connector for pages since the stored cursor
and hands each page to the store, which writes the records and the new cursor
in one transaction. A crash at any point therefore resumes from the last
stored page, with nothing lost and nothing doubled (upserts are idempotent).

Sources run at the same time, one thread each (as the daemon's per-source jobs
do), so one source's waits on its server never delay another's; within a
source the streams run one after the other. With ``pull_processes`` each
source's connector runs in a worker process (``pmsync.pull_workers``): the
worker pulls and maps while this process writes, on two cores. One failing source never stops
the others: its error is recorded on its sync run and reported. An
authentication failure ends the source's remaining streams at once (every one
of them would fail the same way). Within a stream, a scope the source refuses
(a repository deleted, a branch deleted, a calendar no longer shared:
``Page.skipped``) is skipped and the stream goes on; the run ends ``partial``
and its error names each skipped scope. Failures are logged on transitions
only: "failing" once, "recovered" once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from pmsync.ahead import Ahead
from pmsync.connectors import Clock, Connector, ConnectorContext, RequestStats, utc_now
from pmsync.errors import AuthenticationError, SourceError, TransientSourceError
from pmsync.processes import give_back_memory
from pmsync.store import FAILING_RUNS, FRESH_RUNS
from pmsync.upsert import PageCounts

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.config.sources import Source
    from pmsync.connectors import ConnectorSettings
    from pmsync.store import RunInfo, RunStatus, Store

log = logging.getLogger("pmsync.sync")


@dataclass
class StreamResult:
    """What one sync run of one stream did: the figures ``pmsync sync --json`` prints."""

    source: str
    stream: str
    status: str = "ok"
    """``ok``, ``partial`` (read to the end, some scope skipped) or ``failed``."""
    full: bool = False
    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    error: str | None = None
    error_class: str | None = None
    """``authentication``, ``transient``, ``fatal`` or ``bug``: what kind of failure."""
    skipped: list[str] = field(default_factory=list)
    """``scope: reason`` of each scope the source refused this run."""
    run_id: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def add(self, counts: PageCounts) -> None:
        """Add a stored page's counts."""
        self.pages += 1
        self.created += counts.created
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        self.deleted += counts.deleted
        self.quarantined += counts.quarantined

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready values."""
        data = asdict(self)
        for key in ("started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass
class SyncReport:
    """The results of one sync pass over several sources."""

    results: list[StreamResult] = field(default_factory=list)
    after_pull: dict[str, float] = field(default_factory=dict)
    """Seconds of each step ``sync_configured`` runs after the pull, in order: ``people``
    (linked across tools), ``plan`` (the plan refresh), ``meetings`` (events linked)."""

    @property
    def failed_sources(self) -> list[str]:
        """Return the sources with at least one failed stream, in order."""
        seen: list[str] = []
        for r in self.results:
            if r.status == "failed" and r.source not in seen:
                seen.append(r.source)
        return seen

    @property
    def ok(self) -> bool:
        """Tell whether no stream failed (a ``partial`` stream stored what it could read)."""
        return not self.failed_sources

    @property
    def skipped(self) -> list[str]:
        """Return ``source/stream: scope: reason`` of every scope skipped, in order."""
        return [f"{r.source}/{r.stream}: {s}" for r in self.results for s in r.skipped]


PageCallback = Callable[[StreamResult], None]

PREFETCH_PAGES = 2
"""Pages a connector may run ahead of the store, in a thread of its own (``Ahead``).

Without it a sync alternates: wait for the source, then write, then wait
again, so its time is the sum of both; with it the next page is fetched (and
parsed and mapped) while the store writes this one. Each page's cursor is
still stored only with that page's records, so a crash or a stop resumes
exactly as before; 0 runs the connector in the engine's own thread, one page
at a time."""


_CREATING = threading.Lock()
"""Connectors are created one at a time: a connector imports its client library when it
is created (docs/architecture.md), and two sources' threads importing at once could meet
in a circular import and fail with Python's "deadlock detected"."""


def make_connector(
    source: Source, context: ConnectorContext, *, in_worker: bool = False
) -> Connector:
    """Instantiate the connector of a validated source, in a worker process if asked.

    A source stays in this process where its context cannot cross to a worker
    (a clock or a sleep that is not a plain function, as tests pass).
    """
    if source.connector is None or source.settings is None:
        raise SourceError(f"source {source.name}: connector {source.type!r} is not installed")
    if in_worker:
        from pmsync.pull_workers import WorkerConnector, WorkersUnavailable, portable

        settings = cast("ConnectorSettings", source.settings)
        sendable = portable(context, source.connector, settings)
        if sendable is None:
            log.debug("source %s pulls in this process: its context cannot be pickled", source.name)
        else:
            try:
                return WorkerConnector(source.connector, settings, context, sendable)
            except WorkersUnavailable as err:
                log.warning(
                    "source %s pulls in this process: no worker process (%s)", source.name, err
                )
    with _CREATING:
        return source.connector(source.settings, context)  # type: ignore[arg-type]


def _wants_full(store: Store, source: Source, stream: str, now: datetime) -> bool:
    """Tell whether the source's periodic full reconciliation is due for ``stream``."""
    for run in store.list_runs(source=source.name, stream=stream, limit=200):
        if run.full and run.status in FRESH_RUNS:
            return now - run.started_at >= source.options.full_every
    return False


def sync_stream(
    store: Store,
    source: Source,
    connector: Connector,
    stream: str,
    *,
    full: bool,
    stop: threading.Event | None = None,
    on_page: PageCallback | None = None,
) -> StreamResult:
    """Pull one stream into the store, page by page; never raise for a source error."""
    # The counters are shared with the connector's HTTP hooks: read deltas, never replace them.
    stats = connector.context.stats
    before = RequestStats(stats.requests, stats.not_modified, stats.retries, stats.waited_seconds)
    result = StreamResult(source=source.name, stream=stream, full=full)
    result.run_id = store.start_run(source.name, stream, full=full)
    result.started_at = connector.context.now()
    cursor = None if full else store.get_cursor(source.name, stream)
    pulled = connector.pull(stream, cursor, full=full)
    ahead = PREFETCH_PAGES > 0 and not getattr(connector, "runs_ahead", False)
    pages = Ahead(pulled, PREFETCH_PAGES, "pmsync-fetch") if ahead else None
    try:
        for page in pages if pages is not None else pulled:
            if page.skipped is not None:
                result.skipped.append(f"{page.scope or stream}: {page.skipped}")
                continue
            result.add(store.write_page(source.name, stream, page, result.run_id))
            if on_page is not None:
                on_page(result)
            if stop is not None and stop.is_set():
                result.error = "stopped before the end of the stream; the next sync resumes"
                break
    except SourceError as err:
        result.status, result.error = "failed", str(err)
        result.error_class = _error_class(err)
    except Exception as err:  # a connector bug must not stop the other sources
        log.exception("source %s stream %s: unexpected error", source.name, stream)
        result.status, result.error = "failed", f"unexpected {type(err).__name__}: {err}"
        result.error_class = "bug"
    finally:
        # Done, failed or stopped: let a request in flight finish before reading the counters.
        if pages is not None:
            pages.close(timeout=connector.context.request_timeout + 5)
        result.requests = stats.requests - before.requests
        result.not_modified = stats.not_modified - before.not_modified
        result.retries = stats.retries - before.retries
        result.finished_at = connector.context.now()
        _note_skipped(result)
        store.finish_run(
            result.run_id,
            status=cast("RunStatus", result.status),
            error=result.error,
            requests=result.requests,
            not_modified=result.not_modified,
            retries=result.retries,
        )
    return result


def _note_skipped(result: StreamResult) -> None:
    """Make a run that skipped scopes ``partial``, naming each one in its error."""
    if not result.skipped:
        return
    lines = [f"skipped {s}" for s in result.skipped]
    if result.status == "failed":  # the failure stays the first line: alerts show that one
        lines.insert(0, result.error or "failed")
    else:
        result.status = "partial"
        if result.error:  # stopped before the end
            lines.append(result.error)
    result.error = "\n".join(lines)


def _log_transition(result: StreamResult, previous: RunInfo | None) -> None:
    was, said = (previous.status, previous.error) if previous is not None else (None, None)
    if result.status == "failed" and was != "failed":
        log.warning("source %s stream %s failing: %s", result.source, result.stream, result.error)
    elif result.status == "partial" and (was != "partial" or said != result.error):
        log.warning(
            "source %s stream %s %s",
            result.source,
            result.stream,
            "; ".join(f"skipped {s}" for s in result.skipped),
        )
    elif result.status == "ok" and was in FAILING_RUNS:
        log.warning("source %s stream %s recovered", result.source, result.stream)
    elif result.status != "ok":
        log.debug(
            "source %s stream %s still %s: %s",
            result.source,
            result.stream,
            result.status,
            result.error,
        )


def run_sync(
    store: Store,
    sources: Mapping[str, Source],
    *,
    only: Iterable[str] | None = None,
    full: bool = False,
    now: Clock = utc_now,
    stop: threading.Event | None = None,
    on_page: PageCallback | None = None,
    request_timeout: float = 30.0,
    retry_budget: float = 300.0,
    sleep: Callable[[float], None] | None = None,
    concurrent: bool = True,
    pull_processes: bool = False,
) -> SyncReport:
    """Run one pass over the enabled sources (or ``only`` those named) and their streams.

    With ``concurrent`` every source runs in a thread of its own, as the daemon's
    per-source jobs do: a source's requests wait on its server, not on another
    source's. With ``pull_processes`` each source's connector runs in a worker
    process. The results come in the order of ``sources`` either way.
    """
    wanted = list(only) if only is not None else None
    unknown = sorted(set(wanted or []) - set(sources))
    if unknown:
        raise KeyError(f"no source named {', '.join(unknown)}; sources are {sorted(sources)}")
    chosen = [
        (name, source)
        for name, source in sources.items()
        if (name in wanted if wanted is not None else source.enabled)
    ]

    def one(name: str, source: Source) -> list[StreamResult]:
        context = ConnectorContext(
            source_name=name,
            now=now,
            request_timeout=request_timeout,
            retry_budget=retry_budget,
            sleep=sleep,
            logger=logging.getLogger(f"pmsync.source.{name}"),
        )
        return _sync_source(
            store,
            source,
            context,
            full=full,
            stop=stop,
            on_page=on_page,
            in_worker=pull_processes,
        )

    report = SyncReport()
    if not concurrent or len(chosen) < 2:
        for name, source in chosen:
            report.results.extend(one(name, source))
        return report
    with ThreadPoolExecutor(len(chosen), thread_name_prefix="pmsync-source") as pool:
        running = [pool.submit(one, name, source) for name, source in chosen]
        for future in running:  # a store error ends the pass, as it would one at a time
            report.results.extend(future.result())
    return report


def _sync_source(
    store: Store,
    source: Source,
    context: ConnectorContext,
    *,
    full: bool,
    stop: threading.Event | None,
    on_page: PageCallback | None,
    in_worker: bool = False,
) -> list[StreamResult]:
    """Pull every stream of one source; an authentication failure ends its streams."""
    name = context.source_name
    try:
        connector = make_connector(source, context, in_worker=in_worker)
    except Exception as err:
        log.warning("source %s cannot start: %s", name, err)
        return [StreamResult(source=name, stream="*", status="failed", error=str(err))]
    results: list[StreamResult] = []
    try:
        for spec in connector.streams:
            if stop is not None and stop.is_set():
                break
            previous = store.list_runs(source=name, stream=spec.name, limit=1)
            stream_full = full or _wants_full(store, source, spec.name, context.now())
            result = sync_stream(
                store,
                source,
                connector,
                spec.name,
                full=stream_full,
                stop=stop,
                on_page=on_page,
            )
            results.append(result)
            _log_transition(result, previous[0] if previous else None)
            if result.error_class == "authentication":
                break
    finally:
        connector.close()
    return results


def _error_class(err: SourceError) -> str:
    if isinstance(err, AuthenticationError):
        return "authentication"
    if isinstance(err, TransientSourceError):
        return "transient"
    return "fatal"


def check_sources(sources: Mapping[str, Source], now: Clock = utc_now) -> list[str]:
    """Probe every enabled source for ``config validate --online``; return problem lines."""
    problems: list[str] = []
    for name, source in sources.items():
        if not source.enabled:
            continue
        try:
            connector = make_connector(
                source, ConnectorContext(source_name=name, now=now, retry_budget=20.0)
            )
            try:
                problems.extend(f"sources.yaml: sources.{name}: {p}" for p in connector.check())
            finally:
                connector.close()
        except SourceError as err:
            problems.append(f"sources.yaml: sources.{name}: {err}")
    return problems


def sync_configured(config: Config, store: Store, **options: Any) -> SyncReport:
    """Run ``run_sync`` over the configured sources, then fold the records into the model.

    After the pull: people are linked across tools, the plan is refreshed
    (projects, milestones, the WBS, work linked to them, plan changes) and
    calendar events are classified and linked to projects and people. This is
    the one entry point the CLI and the daemon share. Sources pull in worker
    processes unless ``daemon.pull_processes`` is off (or ``pull_processes``
    says otherwise).
    """
    from pmsync.meetings import link_meetings
    from pmsync.people import link_people
    from pmsync.plan import refresh_plan

    options.setdefault("pull_processes", config.settings.daemon.pull_processes)
    report = run_sync(store, config.sources, **options)
    give_back_memory()  # what the pages left free, before the steps below allocate theirs
    now: Clock = options.get("now", utc_now)
    types = {n: s.type for n, s in config.sources.items()}
    steps: tuple[tuple[str, Callable[[], object]], ...] = (
        ("people", lambda: link_people(store, config.settings.people, types)),
        ("plan", lambda: refresh_plan(store, config, now)),
        ("meetings", lambda: link_meetings(store, config, now)),
    )
    for name, step in steps:
        started = time.perf_counter()
        step()
        report.after_pull[name] = time.perf_counter() - started
    give_back_memory()  # a daemon waits for its next pass with what it holds now
    log.info(
        "after the pull: %s",
        ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report.after_pull.items()),
        extra={
            "event": "sync_after_pull",
            "sources": sorted({r.source for r in report.results}),
            "duration_s": {name: round(s, 3) for name, s in report.after_pull.items()},
        },
    )
    return report
