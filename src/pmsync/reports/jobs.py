"""The report job: collect, render, write the site, record the history.

``pmsync report`` and the daemon call this one function, so a scheduled report
and a hand-made one are the same files. Projects are collected once and the
portfolio is built from those same facts, so its figures always equal the
project reports'. Every file written is recorded in the ``report`` table.

Speed. For many projects, what every report reads alike (the metrics of the
projects, their burn-up histories, alerts, source freshness) is read in one
pass, a fixed number of statements (``collect.prepare``). Drawing the charts
is most of a report's cost, so with ``PARALLEL_FROM`` projects or more the
reports are rendered and written by worker processes (one per CPU) while this
process measures and collects the next projects (``PROJECTS_PER_PASS``); the
files are the same. Given an ``Analysis`` (the projects measured already),
only the first two parts are small: the first so that the workers start at
once, the second to keep them drawing while the rest is read at once (the
burn-ups' fix-version history read for a part of 50 projects took 0.75 s,
for all 500 projects 2.6 s).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select

from pmsync import model
from pmsync.config import Config
from pmsync.health.burn import read_fix_version_moves
from pmsync.health.figures import Analysis
from pmsync.processes import collections_paused, worker_pool
from pmsync.reports import site
from pmsync.reports.collect import (
    MetricsSource,
    Shared,
    collect_portfolio,
    collect_project,
    default_metrics,
    prepare,
)
from pmsync.reports.facts import PortfolioReport, ProjectReport
from pmsync.store import Store

log = logging.getLogger(__name__)
PARALLEL_FROM = 12
"""Project reports from which rendering goes to worker processes (their start costs ~1 s)."""
PROJECTS_PER_PASS = (10, 50)
"""With workers, projects are measured this many at a time (the first part, then each
next): the workers draw the reports of one part while this process measures the next.
Given an analysis: the first part, the second, then all the rest."""


@dataclass
class Written:
    """What one run of the report job produced."""

    projects: dict[str, ProjectReport] = field(default_factory=dict)
    portfolio: PortfolioReport | None = None
    paths: list[Path] = field(default_factory=list)

    def report_file(self, out: Path, key: str | None, fmt: str = "html") -> Path:
        """Return the file of a project's (or, with None, the portfolio's) report."""
        if key is None:
            assert self.portfolio is not None
            return out / "portfolio" / self.portfolio.status_date.isoformat() / f"portfolio.{fmt}"
        day = self.projects[key].header.status_date.isoformat()
        return site.project_dir(out, key) / day / f"report.{fmt}"


def _record(
    store: Store, out: Path, written: Written, formats: Sequence[str], now: datetime
) -> None:
    with store.session() as s:
        ids = dict(s.execute(select(model.Project.key, model.Project.id)).all())
        targets: list[tuple[str | None, date]] = [
            (k, r.header.status_date) for k, r in written.projects.items()
        ]
        if written.portfolio is not None:
            targets.append((None, written.portfolio.status_date))
        for key, day in targets:
            for fmt in formats:
                s.add(
                    model.Report(
                        project_id=ids.get(key) if key else None,
                        kind="project" if key else "portfolio",
                        format=fmt,
                        path=str(written.report_file(out, key, fmt)),
                        generated_at=now,
                        as_of=day,
                    )
                )


def workers_for(count: int, workers: int | None = None) -> int:
    """Return how many processes render ``count`` reports (``workers``: asked for; None: auto)."""
    if workers is not None:
        return max(1, min(workers, count))
    if count < PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, count))


def _parts(keys: list[str], *sizes: int) -> list[list[str]]:
    """Return ``keys`` in consecutive parts of these sizes, the last size repeated."""
    parts, start, n = [], 0, 0
    while start < len(keys):
        step = max(sizes[min(n, len(sizes) - 1)], 1)
        parts.append(keys[start : start + step])
        start, n = start + step, n + 1
    return parts


def _write(out: Path, report: ProjectReport, formats: Sequence[str]) -> list[Path]:
    """Render and write one project report (in a worker process)."""
    return site.write_report(out, report, formats)


def _pool(workers: int) -> ProcessPoolExecutor | None:
    """Return a pool of ``workers`` processes (``pmsync.processes``), or None for fewer than 2."""
    if workers < 2:
        return None
    pool = worker_pool(workers)
    if pool is None:
        log.info("reports rendered in one process: no worker processes")
    return pool


@collections_paused()
def generate_reports(
    config: Config,
    store: Store,
    out: Path,
    *,
    as_of: date,
    now: Callable[[], datetime],
    projects: Iterable[str] | None = None,
    portfolio: bool = True,
    formats: Sequence[str] = ("html", "md", "json"),
    metrics: MetricsSource | None = None,
    workers: int | None = None,
    analysis: Analysis | None = None,
) -> Written:
    """Write project reports and the portfolio into the site ``out``; return what was written.

    With ``portfolio`` every project's report is written too (the portfolio links
    to them); without it, only ``projects`` (default: all). ``workers``: how many
    processes render the reports (default: one per CPU from ``PARALLEL_FROM``
    projects on, else this one). ``analysis``: the projects already measured at
    ``as_of`` (``pmsync.health.analyse``), shared with the rules and the snapshot
    rather than read again (one of another day or of other projects is not used).
    """
    keys = sorted(config.projects) if projects is None else list(projects)
    unknown = [k for k in keys if k not in config.projects]
    if unknown:
        raise KeyError(f"no project {', '.join(unknown)} in the configuration")
    if portfolio:  # the portfolio covers every project and links to each one's report
        keys = sorted(config.projects)
    written = Written()
    metrics = metrics or default_metrics(config, store, now)
    items = None
    adopt = getattr(metrics, "adopt", None)
    if (  # an analysis of another day or of other projects is not used
        analysis is not None
        and analysis.as_of == as_of
        and set(keys) <= set(analysis.keys)
        and callable(adopt)
    ):
        adopt(analysis)
        items = analysis.items
    pool = _pool(workers_for(len(keys), workers))
    pending: dict[str, Future[list[Path]] | list[Path]] = {}
    try:
        sizes: tuple[int, ...] = PROJECTS_PER_PASS if pool is not None else (len(keys),)
        if pool is not None and items is not None:
            # Measured already: nothing to overlap with drawing but the shared reads, and
            # the burn-ups' history costs nearly as much read for 50 projects as for all.
            # The second part keeps the workers drawing while the rest is read (with the
            # rest right after the first, they waited 2 s of 27 for it).
            sizes = (*PROJECTS_PER_PASS, len(keys))
        parts = _parts(keys, *sizes)
        # the burn-ups' fix-version history: one read for all parts costs what one part's does
        moves = read_fix_version_moves(store, keys) if len(parts) > 1 else None
        for part in parts:
            shared: Shared | None = None
            if len(part) > 1:
                shared = prepare(
                    config, store, part, as_of=as_of, now=now, metrics=metrics, items=items,
                    moves=moves,
                )  # fmt: skip
            for key in part:
                previous = site.previous_report(out, key, as_of)
                report = collect_project(
                    config,
                    store,
                    key,
                    as_of=as_of,
                    now=now,
                    previous=previous,
                    metrics=metrics,
                    shared=shared,
                )
                written.projects[key] = report
                pending[key] = (
                    pool.submit(_write, out, report, formats)
                    if pool is not None
                    else site.write_report(out, report, formats)
                )
        for key, done in pending.items():
            written.paths += _finish(done, out, written.projects[key], formats)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if portfolio:
        folder = out / "portfolio" / as_of.isoformat()
        hrefs = {
            k: os.path.relpath(written.report_file(out, k), folder).replace(os.sep, "/")
            for k in written.projects
        }
        sparks = {k: site.figure_history(out, k, "spi_t", r) for k, r in written.projects.items()}
        written.portfolio = collect_portfolio(
            config, store, written.projects, as_of=as_of, now=now, hrefs=hrefs, sparklines=sparks
        )
        written.paths += site.write_report(out, written.portfolio, formats)
    written.paths.append(site.write_index(out))
    _record(store, out, written, formats, now())
    return written


def _finish(
    done: Future[list[Path]] | list[Path], out: Path, report: ProjectReport, formats: Sequence[str]
) -> list[Path]:
    """Return the files of one report; if its worker died, write it here instead."""
    if not isinstance(done, Future):
        return done
    try:
        return done.result()
    except BrokenProcessPool:
        return site.write_report(out, report, formats)
