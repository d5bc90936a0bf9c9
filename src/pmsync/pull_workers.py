"""Pulling a source in a process of its own, so that a sync uses two cores.

A sync is two halves of about the same weight: the pull (HTTP and TLS,
parsing JSON, mapping it to records) and the write (rows, hashes, the
database). In one interpreter they share one core, however they are
threaded. A ``WorkerConnector`` runs the connector in a worker process
instead: the worker pulls and maps (and, while other sources pull at once,
makes the records of a whole history into the store's rows: ``_makes_rows``),
the pages come back pickled, and this process only writes them, while the
worker already pulls the next one. A
GitHub sync of 28,700 records took 5.7 s of streams in a thread and 3.6 s
this way (docs/benchmarks.md, section 2).

What stays as it was:

* The engine (``pmsync.sync``) drives a ``WorkerConnector`` as it drives any
  connector: ``pull`` yields pages, each page's cursor is stored with its
  records, so a crash of either process resumes from the last stored page.
* One worker serves one source for one sync pass: it creates the connector
  once (so what a connector learns in one stream serves the next, and the
  requests are the same as in a thread) and pulls the streams in turn.
* The worker's request counters come back with every page, its log records
  are handled by this process's loggers (levels, format, redaction), and a
  source error raised in the worker is raised here, with its class.
* The worker sees this process's environment as it is when the worker
  starts (``pmsync.processes.adopt_environment``), so a secret reference
  (``${GITHUB_TOKEN}``) resolves there as it would here.
* A worker that dies (killed, out of memory) fails the stream as a
  transient error; the next sync resumes from the cursor. Stopping a pass
  (``pmsync run`` shutting down) ends the worker at the next page.

Workers come from the fork server of ``pmsync.processes`` (never a fork of
this process, whose threads and database connections a child must not
inherit), which has the connectors' modules loaded. A source runs in a
worker only where its context can be pickled: the engine's clock and sleep
must be plain functions (tests pass lambdas; they get a thread, as does
``daemon.pull_processes: false``).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from pmsync.connectors import Connector, ConnectorContext, ConnectorSettings, RequestStats
from pmsync.errors import (
    AuthenticationError,
    FatalSourceError,
    RateLimited,
    SourceError,
    TransientSourceError,
)
from pmsync.processes import connector_modules, fork_server
from pmsync.records import Page
from pmsync.rows import RowSpec, sorted_page

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0
"""Seconds a new worker may take to load and create its connector."""

CLOSE_TIMEOUT = 10.0
"""Seconds a worker may take to close its connector before it is terminated."""


@dataclass
class WorkerPeak:
    """The largest worker seen by this process: its peak RSS, and its RSS once started."""

    peak_rss_kb: int = 0
    start_rss_kb: int = 0


PEAK = WorkerPeak()
"""Read by the benchmarks: what the pull workers of this process cost in memory."""
_PEAK_LOCK = threading.Lock()

_PULLING: Any = None
"""How many streams this process's workers pull at this moment, in shared memory
(``pulling()``).

Every worker reads it (``_makes_rows``): while it is above one, this process
writes for several sources at once and its own core is what they wait for.
The daemon's per-source jobs and a ``pmsync sync`` of several sources count
alike, and so does the tail of a pass, when one source is left.
"""
_PULLING_LOCK = threading.Lock()


def send_message(conn: Connection, message: Any) -> None:
    """Send ``message`` with its large buffers (numpy arrays) beside the pickle, not in it.

    A full pull's last page carries the ids the source still has (``pmsync.ids``):
    at a million items 480,000 commit SHAs, 9.6 MB packed. Pickled in band, the
    receiver held the pipe's buffer, the unpickled bytes and the arrays made
    from them at once, and the sync's peak memory was that moment
    (docs/benchmarks.md, section 4). Each buffer is sent as a message of its own.
    """
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    conn.send_bytes(data)
    for buffer in buffers:
        conn.send_bytes(buffer.raw())


def receive_message(conn: Connection) -> Any:
    """Receive what ``send_message`` sent: the arrays are views of the buffers received."""
    data = conn.recv_bytes()
    return pickle.loads(data, buffers=_buffers(conn))  # our own worker, as conn.recv() trusts


def _buffers(conn: Connection) -> Iterator[bytes]:
    """The buffers that follow a message, read as the unpickler asks for them."""
    while True:
        yield conn.recv_bytes()


class WorkersUnavailable(TransientSourceError):
    """No worker process can be started here (no fork server, no process to spare).

    Creating a source's connector, the engine then pulls in its own process; a
    worker that cannot be replaced mid-pass fails the stream, as transient.
    """


def portable(
    context: ConnectorContext,
    connector_class: type[Connector] | None = None,
    settings: ConnectorSettings | None = None,
) -> ConnectorContext | None:
    """Return ``context`` as a worker can receive it, or None where it cannot be pickled.

    The connector's class and settings must cross too (a third-party connector's
    settings might hold something that does not pickle: it then pulls in a thread).
    """
    fresh = replace(context, stats=RequestStats())
    try:
        pickle.dumps((fresh.now, fresh.sleep, fresh.logger, connector_class, settings))
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    return fresh


class WorkerConnector(Connector):
    """A connector run in a worker process; this side forwards ``pull`` and ``close``."""

    runs_ahead = True
    """The worker pulls the next page while this process writes one: no prefetch thread."""

    def __init__(
        self,
        connector_class: type[Connector],
        settings: ConnectorSettings,
        context: ConnectorContext,
        portable_context: ConnectorContext,
    ) -> None:
        super().__init__(settings, context)
        self.streams = connector_class.streams  # type: ignore[misc]
        self.title = connector_class.title  # type: ignore[misc]
        self._name = context.source_name
        self._job = (connector_class, settings, portable_context)
        self._conn: Connection | None = None
        self._start()

    def _start(self) -> None:
        """Start a worker and wait until it has created the connector (or failed to)."""
        connector_class, settings, portable_context = self._job
        mine = self.context.stats  # a new worker counts from zero: add to what came before
        self._base = (mine.requests, mine.not_modified, mine.retries, mine.waited_seconds)
        from pmsync.upsert import ROW_SPECS  # loaded here already: this process writes

        levels = _levels(portable_context.logger)
        environ = dict(os.environ)
        try:
            server = fork_server(connector_modules())
            here, there = server.Pipe(duplex=True)
            process = server.Process(
                target=_serve,
                args=(
                    there,
                    connector_class,
                    settings,
                    portable_context,
                    levels,
                    environ,
                    pulling(),
                    ROW_SPECS,
                ),
                name=f"pmsync-pull-{self._name}",
                daemon=True,
            )
            process.start()
        except (OSError, ValueError) as err:  # no fork server here, or no process to spare
            raise WorkersUnavailable(f"{type(err).__name__}: {err}") from err
        self._process: BaseProcess = process
        self._conn = here
        there.close()
        try:
            kind, value, _stats = self._receive(timeout=START_TIMEOUT)
        except BaseException:
            self._end()
            raise
        if kind == "error":
            self._end()
            raise value
        log.debug("source %s pulls in worker process %s", self._name, self._process.pid)

    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        """Ask the worker for ``stream``'s pages; yield them as they come.

        A worker that died in an earlier stream is replaced first (that
        stream failed; this one starts afresh, as after a restart).
        """
        if self._conn is None:
            self._start()
        # From no cursor (a new store's first sync) as in a full pull, the stream's whole
        # history comes: the pull where making the rows in the worker can pay (``_makes_rows``).
        asked = ("pull", stream, cursor, full, full or cursor is None)
        try:
            self._alive().send(asked)
        except OSError:  # it died idle, after the last stream: nothing of this one is lost
            self._end()
            self._start()
            self._alive().send(asked)
        finished = False
        _count_pulling(+1)
        try:
            while True:
                kind, value, stats = self._receive()
                self._count(stats)
                if kind == "page":
                    yield value
                elif kind == "end":
                    finished = True
                    return
                else:
                    finished = True
                    raise value
        finally:
            _count_pulling(-1)
            if not finished:  # the engine stopped reading: the worker is mid-stream
                self._end()

    def close(self) -> None:
        """Let the worker close its connector and exit; end it if it does not."""
        conn = self._conn
        if conn is None:
            return
        try:
            conn.send(("close", None, None, False, False))
            while conn.poll(CLOSE_TIMEOUT):
                kind, value, stats = self._receive()
                if kind == "closed":
                    self._count(stats)
                    self._note_memory(value)
                    break
        except (SourceError, OSError, EOFError):
            pass
        self._end()

    def check(self) -> list[str]:  # pragma: no cover - `config validate --online` runs in-process
        raise NotImplementedError("check() runs the connector in this process")

    # -- this side of the pipe ------------------------------------------------------------

    def _alive(self) -> Connection:
        if self._conn is None:
            raise TransientSourceError(f"source {self._name}: its pull worker has ended")
        return self._conn

    def _receive(self, timeout: float | None = None) -> tuple[str, Any, tuple[Any, ...] | None]:
        """Return the worker's next message; handle its log records on the way."""
        conn = self._alive()
        while True:
            try:
                if timeout is not None and not conn.poll(timeout):
                    raise TransientSourceError(
                        f"source {self._name}: its pull worker did not start within {timeout:g} s"
                    )
                kind, value, stats = receive_message(conn)
            except (EOFError, OSError) as err:
                self._process.join(1.0)
                code = self._process.exitcode
                self._end()
                how = f"exit status {code}" if code is None or code >= 0 else f"signal {-code}"
                raise TransientSourceError(
                    f"source {self._name}: its pull worker ended unexpectedly ({how}); "
                    "the next sync resumes from the last stored page"
                ) from err
            if kind != "log":
                return kind, value, stats
            logger = logging.getLogger(value.name)
            if logger.isEnabledFor(value.levelno):
                logger.handle(value)

    def _count(self, stats: tuple[Any, ...] | None) -> None:
        if stats is None:
            return
        mine, base = self.context.stats, self._base
        mine.requests = base[0] + stats[0]
        mine.not_modified = base[1] + stats[1]
        mine.retries = base[2] + stats[2]
        mine.waited_seconds = base[3] + stats[3]

    def _note_memory(self, value: Any) -> None:
        if not isinstance(value, tuple):
            return
        peak, start = value
        with _PEAK_LOCK:
            if peak > PEAK.peak_rss_kb:
                PEAK.peak_rss_kb, PEAK.start_rss_kb = peak, start

    def _end(self) -> None:
        """Close the pipe and make sure the worker is gone."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        process = self._process
        if process.pid is None:
            return
        process.join(0.5)
        if process.exitcode is None:
            process.terminate()
            process.join(5.0)
        if process.exitcode is None:  # pragma: no cover - a worker that ignores SIGTERM
            process.kill()
            process.join(5.0)


def pulling() -> Any:
    """Return the shared count of streams this process's workers pull (made on first use)."""
    with _PULLING_LOCK:
        return _pulling()


def _pulling() -> Any:
    global _PULLING
    if _PULLING is None:
        from multiprocessing.sharedctypes import RawValue

        _PULLING = RawValue("i", 0)
    return _PULLING


def _count_pulling(change: int) -> None:
    with _PULLING_LOCK:
        _pulling().value += change


def _levels(logger: logging.Logger) -> tuple[int, int]:
    """Return the levels the worker should log at: the root's and the source logger's."""
    return logging.getLogger().getEffectiveLevel(), logger.getEffectiveLevel()


# -- the worker's side of the pipe -----------------------------------------------------------


class _PipeHandler(logging.Handler):
    """Send each log record to the parent, formatted the way ``QueueHandler`` prepares it."""

    def __init__(self, send: Any) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg = record.getMessage()
            record.args = None
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            self._send(("log", record, None))
        except Exception:  # a log line must never end a pull
            self.handleError(record)


def _serve(
    conn: Connection,
    connector_class: type[Connector],
    settings: ConnectorSettings,
    context: ConnectorContext,
    levels: tuple[int, int],
    environ: Mapping[str, str],
    pulling: Any,
    specs: Mapping[str, RowSpec],
) -> None:
    """Run in the worker: create the connector, then pull each stream asked for.

    ``pulling`` is the parent's ``pulling()``, the same shared memory; ``specs`` its
    ``pmsync.upsert.ROW_SPECS``, so that the worker makes rows (``pmsync.rows``)
    without loading the store's modules.
    """
    import resource

    from pmsync.processes import adopt_environment, settle_startup

    adopt_environment(environ)

    # Ctrl-C reaches the whole process group: the parent decides when a worker ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lock = threading.Lock()

    def send(message: tuple[str, Any, Any]) -> None:
        with lock:
            send_message(conn, message)

    root = logging.getLogger()
    root.handlers[:] = [_PipeHandler(send)]
    root.setLevel(levels[0])
    context.logger.setLevel(levels[1])
    stats = context.stats

    def counters() -> tuple[int, int, int, float]:
        return stats.requests, stats.not_modified, stats.retries, stats.waited_seconds

    try:
        connector = connector_class(settings, context)
    except Exception as err:
        send(("error", _portable_error(err), None))
        return
    settle_startup()
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    send(("ready", None, None))
    try:
        while True:
            try:
                kind, stream, cursor, full, whole = conn.recv()
            except EOFError:  # the parent has gone
                return
            if kind == "close":
                break
            try:
                for sent, page in enumerate(connector.pull(stream, cursor, full=full)):
                    if _makes_rows(whole, sent, pulling.value):
                        page = sorted_page(page, specs)
                    send(("page", page, counters()))
            except Exception as err:
                send(("error", _portable_error(err), counters()))
            else:
                send(("end", None, counters()))
    except (BrokenPipeError, ConnectionResetError):  # the parent stopped reading
        os._exit(0)
    finally:
        connector.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    send(("closed", (peak, start_rss), counters()))


def _makes_rows(whole: bool, sent: int, pulling: int) -> bool:
    """Tell whether the worker makes this page's records into the store's rows.

    Only while other sources pull at once (``pulling`` above one): then the
    writing process, which all of them share, is what the pass waits for, and
    the rows are made beside it. A source pulled alone waits for its worker
    instead, and a worker that also made the rows made it slower (a GitHub
    sync of 6,100 records 1.9-2.4 s → 2.6-2.7 s). Only in a stream's whole
    history (``whole``: a full pull, or one from no cursor) and from its second
    page on: a smaller pull does not pay for the store's modules, which the
    worker imports on its first such page (0.3-0.6 s; the day-later sync took
    3.8 s instead of 2.1-2.5 s when every pull made its rows here). The first
    page's wait also lets the other sources' workers start and be counted.
    """
    return whole and sent > 0 and pulling > 1


_KINDS: tuple[type[SourceError], ...] = (
    AuthenticationError,
    FatalSourceError,
    TransientSourceError,
    SourceError,
)


def _portable_error(err: Exception) -> Exception:
    """Return ``err`` as it can cross the pipe: itself if it pickles, else its nearest kind.

    A connector bug (any other exception) keeps its class where it pickles and
    carries the worker's traceback as a note, which the engine's log line shows.
    """
    if not isinstance(err, SourceError):
        err.add_note("in the pull worker:\n" + "".join(traceback.format_exception(err)))
    try:
        if type(pickle.loads(pickle.dumps(err))) is type(err):
            return err
    except Exception:  # any failure means: send a plain copy
        pass
    if isinstance(err, RateLimited):
        return RateLimited(str(err), err.retry_after)
    for kind in _KINDS:
        if isinstance(err, kind):
            return kind(str(err))
    copy = RuntimeError(f"{type(err).__name__}: {err}")
    copy.__notes__ = list(getattr(err, "__notes__", []))
    return copy
