"""Benchmark: render 200 project reports and the portfolio into a static site.

Prints seconds for collecting nothing (the facts are hand-built, as
``pmsync.reports.sample`` makes them: 3 matplotlib charts per project) and for
rendering HTML + Markdown + JSON, writing the site and its history pages.
``--quick`` renders 20 projects. Not a test: it asserts nothing.

    .venv/bin/python bench/bench_reports.py [--quick] [--projects N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pmsync.reports import site
from pmsync.reports.derive import build_portfolio, portfolio_row
from pmsync.reports.sample import GENERATED_AT, STATUS_DATE, sample_project


def _write(args: tuple[Path, int]) -> int:
    out, i = args
    report = sample_project(i, key=f"P{i:03d}", title=f"Project {i}")
    return len(site.write_report(out, report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 projects")
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    options = parser.parse_args()
    count = 20 if options.quick else options.projects
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        if options.workers > 1:
            with ProcessPoolExecutor(options.workers) as pool:
                files = sum(pool.map(_write, [(out, i) for i in range(count)], chunksize=4))
        else:
            files = sum(_write((out, i)) for i in range(count))
        projects = time.perf_counter() - started
        rows = [portfolio_row(sample_project(i, key=f"P{i:03d}", title=f"Project {i}"))
                for i in range(count)]  # fmt: skip
        portfolio = build_portfolio(rows, status_date=STATUS_DATE, generated_at=GENERATED_AT,
                                    freshness=())  # fmt: skip
        site.write_report(out, portfolio)
        site.write_index(out)
        total = time.perf_counter() - started
        size = sum(p.stat().st_size for p in out.rglob("*.html")) / count / 1024
    print("| what | figure |")
    print("| --- | --- |")
    print(f"| project reports (html, md, json + history) | {count} |")
    print(f"| worker processes | {options.workers} |")
    print(f"| files written | {files + 5} |")
    print(f"| project reports, seconds | {projects:.1f} |")
    print(f"| per project report, ms (wall / workers) | {projects / count * 1000:.0f} |")
    print(f"| all reports + portfolio + index, seconds | {total:.1f} |")
    print(f"| mean HTML size per project, KiB | {size:.0f} |")


if __name__ == "__main__":
    main()
