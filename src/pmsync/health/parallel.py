"""Parts of the store read by a second process while this one reads and measures the rest.

Measuring a portfolio reads the work items, their status history, the cost
ledgers and the team's bookings, one after the other, on one core. The status
history is the largest read (1.85 million changes of a million items: 5.6 of
the analysis' 17 seconds in docs/benchmarks.md, section 6) and needs nothing
the other reads give but the projects' ids, so when the projects measured
hold ``PARALLEL_FROM`` work items or more, a worker process reads it
meanwhile, on the other core, and hands back plain integer arrays
(``StatusRows``). The worker then reads what the rules read of the open items
(``pmsync.rules.items.ItemsRead``: the items, their history marks and their
milestones, everything but the clock), while this process computes the
metrics; the analysis carries it to the rules (``Analysis.open_items``).
Last, it helps with the metrics themselves (``ReadsBeside.health``): once its
reads are done (``idle``), this process hands it a chunk of projects from the
back of the list at a time while it measures from the front, so neither waits
for the other's share for longer than one chunk.
Where no worker process can start (an in-memory SQLite database, no
``forkserver``), or if the worker fails, each is read where it is needed, as
before: the figures and findings are the same either way (the tests compare).

The worker reads in transactions of its own, as the reads of one analysis
already were (items, ledgers and bookings each open their own): a sync that
writes in between can add changes of items this process has not read; those
are left out (``status_changes`` keeps the frame's items only), and the next
analysis sees both. The worker comes from the same fork server as the report
workers (``pmsync.processes``), never from a fork of this process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Connection, func, select

from pmsync import model
from pmsync.config import Config
from pmsync.health.history import StatusRows, read_status_changes
from pmsync.metrics import MetricInputError, ProjectHealth, ProjectInputs, project_health
from pmsync.processes import worker_pool
from pmsync.store import Store, in_memory

if TYPE_CHECKING:
    from pmsync.rules.items import ItemsRead

log = logging.getLogger(__name__)
T = TypeVar("T")

PARALLEL_FROM = 100_000
"""Work items of the projects measured from which a worker process reads beside the
analysis (starting one costs about a second of the other core)."""


class Pending(Generic[T]):
    """A read submitted to the worker process; ``take`` waits for it."""

    def __init__(self, what: str, submitted: Future[Future[T]] | None) -> None:
        self._what = what
        self._submitted = submitted

    def take(self) -> T | None:
        """Return what the worker read, or None if it was not read elsewhere or the worker failed.

        None means: read it here (the worker's error, if any, is logged; reading
        here raises it again if it is the store's).
        """
        if self._submitted is None:
            return None
        try:
            return self._submitted.result().result()
        except Exception as err:  # the worker died or could not read: read here instead
            log.info("%s read here: the worker process failed (%s)", self._what, err)
            return None


StatusHistoryRead = Pending[StatusRows]


class ReadsBeside:
    """The worker process of one analysis (or none): reads are run in the order asked."""

    def __init__(
        self,
        keys: Sequence[str],
        url: str | None = None,
        items: int = 0,
        starter: ThreadPoolExecutor | None = None,
        pool: Executor | None = None,
    ) -> None:
        self._keys, self._url, self._items = list(keys), url, items
        self._starter, self._pool = starter, pool
        self._histories: dict[datetime, StatusHistoryRead] = {}
        self._submitted: list[Future[Future[Any]]] = []
        """The reads handed to the worker, as the starter thread's futures of the pool's."""
        self._handed: list[Future[Any]] = []
        """The chunks of projects handed to it to measure (``health``)."""

    def status_history(self, since: datetime) -> StatusHistoryRead:
        """Start reading the status history of the projects (``read_status_changes``) since
        ``since``; asked again for the same ``since``, the read already started."""
        if since not in self._histories:
            self._histories[since] = self._submit(
                "status history", _read_history, self._items, since
            )
        return self._histories[since]

    def open_items(self, config: Config) -> Pending[ItemsRead]:
        """Start reading what the rules read of the projects' open items (``read_open_items``)."""
        return self._submit("open items", _read_open_items, config)

    def idle(self) -> bool:
        """Tell whether the worker is there and has finished everything handed to it so far."""
        if self._starter is None or self._pool is None:
            return False
        for outer in self._submitted:
            if not outer.done():
                return False
            if outer.exception() is None and not outer.result().done():
                return False
        return all(future.done() for future in self._handed)

    def health(self, chunk: Sequence[tuple[str, ProjectInputs]]) -> Future[Any] | None:
        """Hand a chunk of projects' metric inputs to the worker (``project_healths``).

        Meant for an idle worker (``idle``), which starts on it at once. None if
        there is no worker or it is gone: the caller measures the chunk itself.
        """
        if self._starter is None or self._pool is None:
            return None
        try:
            future: Future[Any] = self._starter.submit(
                self._pool.submit, project_healths, list(chunk)
            ).result()
        except Exception as err:  # the pool is broken: measured here
            log.info("metrics computed here: the worker process failed (%s)", err)
            self._pool = None
            return None
        self._handed.append(future)
        return future

    def _submit(self, what: str, read: Callable[..., T], *args: Any) -> Pending[T]:
        if self._starter is None or self._pool is None:
            return Pending(what, None)
        # Starting the worker waits for the fork server to import what workers run (a second
        # or more the first time): a thread of this process waits for it, this one reads on.
        outer = self._starter.submit(self._pool.submit, read, self._url, self._keys, *args)
        self._submitted.append(outer)
        return Pending(what, outer)


@contextmanager
def reads_beside(store: Store, keys: Sequence[str]) -> Iterator[ReadsBeside]:
    """Yield a worker process for reads of ``keys`` if they are large, else one that reads here.

    The worker is stopped when the block ends, whether or not its results were taken.
    """
    url = _shared_url(store)
    items = items_of(store, keys) if url is not None else 0
    pool = worker_pool(1) if items >= PARALLEL_FROM else None
    if pool is None or url is None:
        yield ReadsBeside(keys)
        return
    starter = ThreadPoolExecutor(1, thread_name_prefix="pmsync-reads")
    try:
        yield ReadsBeside(keys, url, items, starter, pool)
    finally:
        starter.shutdown()
        pool.shutdown(cancel_futures=True)


def _shared_url(store: Store) -> str | None:
    """Return the store's URL if another process can open the same database, else None."""
    url = store.engine.url
    if in_memory(url):
        return None
    return url.render_as_string(hide_password=False)  # handed to the worker, never shown


def items_of(store: Store, keys: Sequence[str]) -> int:
    """Return how many work items the projects ``keys`` hold, deleted and epics included.

    Counted from the project index alone (40 ms for a million items): asking only for
    the items ``load_items`` reads means reading every row (2.3 s).
    """
    project, wi = model.table_of(model.Project), model.table_of(model.WorkItem)
    mine = select(project.c.id).where(project.c.key.in_(keys))
    with store.engine.connect() as conn:
        count: int | None = conn.scalar(
            select(func.count()).select_from(wi).where(wi.c.project_id.in_(mine))
        )
    return count or 0


def project_healths(
    chunk: list[tuple[str, ProjectInputs]],
) -> list[tuple[str, ProjectHealth | str]]:
    """Return each project's health, or why its inputs were refused (in the worker process,
    or in this one for the projects it measures itself)."""
    found: list[tuple[str, ProjectHealth | str]] = []
    for key, inputs in chunk:
        try:
            found.append((key, project_health(inputs)))
        except MetricInputError as err:
            found.append((key, str(err)))
    return found


def _read_history(url: str, keys: list[str], items: int, since: datetime) -> StatusRows:
    """Read the status history of the projects ``keys`` (in the worker process)."""
    with _opened(url) as conn:
        return read_status_changes(conn, sorted(_project_ids(conn, keys).values()), items, since)


def _read_open_items(url: str, keys: list[str], config: Config) -> ItemsRead:
    """Read what the rules read of the open items of ``keys`` (in the worker process)."""
    from pmsync.rules.items import read_open_items

    with _opened(url) as conn:
        return read_open_items(conn, config, _project_ids(conn, keys))


@contextmanager
def _opened(url: str) -> Iterator[Connection]:
    store = Store.open(url, var_dir=Path("."))  # the URL is given: var_dir is not used
    try:
        with store.session(readonly=True) as session:
            yield session.connection()
    finally:
        store.close()


def _project_ids(conn: Connection, keys: list[str]) -> dict[str, int]:
    project = model.table_of(model.Project)
    rows: Any = conn.execute(
        select(project.c.key, project.c.id).where(project.c.key.in_(keys))
    ).all()
    return dict(rows)
