"""Worker processes for the heavy jobs: pulling a source, drawing reports, analysing.

Workers come from one fork server that has imported what they run
(``PRELOAD`` and the installed connectors), never from a fork of this
process: the daemon has threads (and database connections) that a forked
child must not inherit. The fork server is started once per process and
imports what its first caller names (``fork_server``): ``pmsync run`` names
everything at start, ``pmsync sync`` only the connectors; a worker imports
whatever else it needs itself. A worker takes the environment its parent has
when it makes the worker (``adopt_environment``), not the fork server's.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import cache
from multiprocessing.context import ForkServerContext

log = logging.getLogger(__name__)

PRELOAD = ["pmsync.reports.site", "pmsync.health.parallel"]
"""Imported by the fork server, so that a new worker starts with them loaded."""


@cache
def connector_modules() -> tuple[str, ...]:
    """Return what a pull worker runs on: each installed connector's module and client library."""
    from pmsync.connectors import load_connectors

    # The worker's own module, and the command's: a worker imports the main module again.
    # Not numpy, which a full pull needs to sort the ids it reports complete (pmsync.ids):
    # `pmsync run` loads it with PRELOAD anyway, and loading it for every `pmsync sync` made
    # a sync with nothing new wait 0.13 s more for a full pull's sake (docs/benchmarks.md).
    found = {"pmsync.pull_workers", "pmsync.cli"}
    for connector in load_connectors().values():
        found.update((connector.__module__, *connector.worker_modules))
    return tuple(sorted(found))


def fork_server(preload: Sequence[str] = PRELOAD) -> ForkServerContext:
    """Return the fork server's context; raise ``ValueError`` where there is none.

    The server imports ``preload`` if this call is the one that starts it; a
    server already running keeps what it has (a worker imports the rest).
    """
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    context.set_forkserver_preload(list(preload))
    return context


def start_fork_server(preload: Sequence[str] = PRELOAD) -> None:
    """Start the fork server now, so that its imports overlap what this process does next.

    ``pmsync sync`` names ``connector_modules()`` only (it draws no report);
    ``pmsync run`` names those and ``PRELOAD``. Where no server can start, the
    work stays in this process (``worker_pool``, ``pmsync.pull_workers``).
    """
    from multiprocessing import forkserver

    try:
        fork_server(preload)
        forkserver.ensure_running()
    except (OSError, ValueError) as err:
        log.info("no fork server: %s", err)


def worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """Return a pool of ``workers`` processes, or None where none can be started."""
    try:
        return ProcessPoolExecutor(
            workers,
            mp_context=fork_server(),
            initializer=_started,
            initargs=(dict(os.environ),),
        )
    except (OSError, ValueError, NotImplementedError) as err:
        log.info("no worker processes: %s", err)
        return None


def adopt_environment(environ: Mapping[str, str]) -> None:
    """Make ``environ`` this worker's environment, in place of the fork server's.

    The fork server keeps the environment of the moment it started; the
    parent may have changed its own since (``pmsync demo`` sets the sandbox's
    tokens once the sandbox is up), and a secret reference such as
    ``${GITHUB_TOKEN}`` must resolve in a worker as it would in the parent.
    """
    os.environ.clear()
    os.environ.update(environ)


def _started(environ: Mapping[str, str]) -> None:
    """Start a worker with its parent's environment and without the cyclic garbage
    collector (``collections_paused``).

    A pool lives for one job (an analysis, a report run) and its work makes few
    reference cycles: a chart leaves a dozen objects in cycles, 2,000 charts a
    worker some 24,000, freed with the process at the end of the job.
    """
    adopt_environment(environ)
    gc.disable()


YOUNG_COLLECTION = 20_000
"""Container allocations (net of those freed) between two young-generation passes."""


def settle_startup() -> None:
    """Keep what the process has built so far out of the garbage collector's passes.

    Call once a command has loaded what it runs on (configuration, connectors,
    store): the modules, classes and configuration built until then stay for
    the life of the process, yet every full collection went over all of them
    again (some 160,000 objects) to free nothing: 0.42 s of a 5 s sync of
    28,000 GitHub records, which allocates enough to trigger four. After
    ``gc.freeze`` full collections only see what the work itself builds
    (0.05 s there). The collector keeps running; a cycle that was garbage at
    the moment of the call is never freed (once, a few hundred objects).

    The youngest generation is then collected after ``YOUNG_COLLECTION``
    container allocations instead of Python's 700: a sync allocates and
    frees a page of parsed JSON at a time, and at 700 the collector ran
    1,200 young and 110 middle passes and 9 full ones over the pages in
    flight, 0.43 s of that same sync; at 20,000, 15 young passes and one
    middle, 0.08 s (docs/benchmarks.md, "Profiling"). What a young pass
    may hold back is at most those 20,000 objects, a few MB.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, middle, old)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """Return glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def give_back_memory() -> bool:
    """Return the C heap's free pages to the system; tell whether the C library could.

    A sync allocates and frees pages of records for minutes, the memory they
    leave free is scattered over the heap, and glibc gives back only what is
    free at its top: after a full sync of a million items the sync process
    kept some 17 MB it no longer used, resident for as long as the daemon
    ran, and the plan refresh after the pull stacked its own on top.
    ``malloc_trim`` releases every whole free page, wherever it lies, in about
    a millisecond (docs/benchmarks.md, section 4). Python's own small objects
    live in arenas of their own, which it returns when they empty.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


_pause_lock = threading.Lock()
_pauses = 0
_resume = False


@contextmanager
def collections_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a job that builds many objects.

    Measuring a portfolio reads millions of rows and builds hundreds of
    thousands of objects, next to none of them in a reference cycle, and the
    collector went over all of them again and again to free nothing: 4.3 s
    of the 18 s of CPU of the bench's main process (docs/benchmarks.md,
    section 6). Objects are still freed when their last reference goes; the
    few in cycles wait for the first collection after the job. Blocks may
    overlap across threads: the collector runs again when the last one ends,
    and only if it ran before the first began.
    """
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
