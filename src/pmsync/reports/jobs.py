"""The report job: collect, render, write the site, record the history.

``pmsync report`` and the daemon call this one function, so a scheduled report
and a hand-made one are the same files. Projects are collected once and the
portfolio is built from those same facts, so its figures always equal the
project reports'. Every file written is recorded in the ``report`` table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select

from pmsync import model
from pmsync.config import Config
from pmsync.reports import site
from pmsync.reports.collect import MetricsSource, collect_portfolio, collect_project
from pmsync.reports.facts import PortfolioReport, ProjectReport
from pmsync.store import Store


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
) -> Written:
    """Write project reports and the portfolio into the site ``out``; return what was written.

    With ``portfolio`` every project's report is written too (the portfolio links
    to them); without it, only ``projects`` (default: all).
    """
    keys = sorted(config.projects) if projects is None else list(projects)
    unknown = [k for k in keys if k not in config.projects]
    if unknown:
        raise KeyError(f"no project {', '.join(unknown)} in the configuration")
    if portfolio:  # the portfolio covers every project and links to each one's report
        keys = sorted(config.projects)
    written = Written()
    for key in keys:
        previous = site.previous_report(out, key, as_of)
        report = collect_project(
            config, store, key, as_of=as_of, now=now, previous=previous, metrics=metrics
        )
        written.projects[key] = report
        written.paths += site.write_report(out, report, formats)
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
