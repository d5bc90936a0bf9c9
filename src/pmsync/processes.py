"""Worker processes for the heavy jobs: drawing reports, reading beside an analysis.

Workers come from one fork server that has imported what they run
(``PRELOAD``), never from a fork of this process: the daemon has threads
(and database connections) that a forked child must not inherit. The fork
server is started once per process, with the modules named the first time,
so every pool names the same ones.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)

PRELOAD = ["pmsync.reports.site", "pmsync.health.parallel"]
"""Imported by the fork server, so that a new worker starts with them loaded."""


def worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """Return a pool of ``workers`` processes, or None where none can be started."""
    try:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return ProcessPoolExecutor(workers, mp_context=context)
    except (OSError, ValueError, NotImplementedError) as err:
        log.info("no worker processes: %s", err)
        return None
