"""The status history read by a second process while this one reads the rest of the store.

Measuring a portfolio reads the work items, their status history, the cost
ledgers and the team's bookings, one after the other, on one core. The status
history is the largest read (1.85 million changes of a million items: 5.6 of
the analysis' 17 seconds in docs/benchmarks.md, section 6) and needs nothing
the other reads give but the projects' ids, so when the projects measured
hold ``PARALLEL_FROM`` work items or more, a worker process reads it
meanwhile, on the other core, and hands back plain integer arrays
(``StatusRows``). Where no worker process can start (an in-memory SQLite
database, no ``forkserver``), or if the worker fails, the history is read
here as before: the figures are the same either way (the tests compare).

The worker reads in a transaction of its own, as the reads of one analysis
already were (items, ledgers and bookings each open their own): a sync that
writes in between can add changes of items this process has not read; those
are left out (``status_changes`` keeps the frame's items only), and the next
analysis sees both. The worker comes from the same fork server as the report
workers (``pmsync.processes``), never from a fork of this process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from pmsync import model
from pmsync.health.history import StatusRows, read_status_changes
from pmsync.processes import worker_pool
from pmsync.store import Store

log = logging.getLogger(__name__)

PARALLEL_FROM = 100_000
"""Work items of the projects measured from which their status history is read by a worker
process (starting one costs about a second of the other core)."""


class StatusHistoryRead:
    """The status history of some projects, being read elsewhere; ``take`` waits for it."""

    def __init__(self, submitted: Future[Future[StatusRows]] | None) -> None:
        self._submitted = submitted

    def take(self) -> StatusRows | None:
        """Return what the worker read, or None if it was not read elsewhere or the worker failed.

        None means: read it here (the worker's error, if any, is logged; reading
        here raises it again if it is the store's).
        """
        if self._submitted is None:
            return None
        try:
            return self._submitted.result().result()
        except Exception as err:  # the worker died or could not read: read here instead
            log.info("status history read here: the worker process failed (%s)", err)
            return None


@contextmanager
def read_status_history(
    store: Store, keys: Sequence[str], since: datetime
) -> Iterator[StatusHistoryRead]:
    """Start reading the status history of ``keys`` in a worker process, if they are large.

    The worker is stopped when the block ends, whether or not its result was taken.
    """
    url = _shared_url(store)
    items = _items_of(store, keys) if url is not None else 0
    pool = worker_pool(1) if items >= PARALLEL_FROM else None
    if pool is None or url is None:
        yield StatusHistoryRead(None)
        return
    # Starting the worker waits for the fork server to import what workers run (a second or
    # more the first time): a thread of this process waits for it, this one reads on.
    starter = ThreadPoolExecutor(1, thread_name_prefix="pmsync-history")
    try:
        yield StatusHistoryRead(starter.submit(pool.submit, _read, url, list(keys), items, since))
    finally:
        starter.shutdown()
        pool.shutdown(cancel_futures=True)


def _shared_url(store: Store) -> str | None:
    """Return the store's URL if another process can open the same database, else None."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or "mode=memory" in str(url):
            return None
    return url.render_as_string(hide_password=False)  # handed to the worker, never shown


def _items_of(store: Store, keys: Sequence[str]) -> int:
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


def _read(url: str, keys: list[str], items: int, since: datetime) -> StatusRows:
    """Read the status history of the projects ``keys`` (in the worker process)."""
    store = Store.open(url, var_dir=Path("."))  # the URL is given: var_dir is not used
    try:
        project = model.table_of(model.Project)
        with store.session(readonly=True) as session:
            conn = session.connection()
            ids: list[int] = list(conn.scalars(select(project.c.id).where(project.c.key.in_(keys))))
            return read_status_changes(conn, sorted(ids), items, since)
    finally:
        store.close()
