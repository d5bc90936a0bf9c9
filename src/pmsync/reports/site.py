"""The static site in the output folder: every report ever written, indexed and linked.

Layout (one folder per status date, so a PM can open two weeks side by side)::

    index.html                          projects and the portfolio, latest first
    projects/<KEY>/index.html           the project's history: RAG and key figures per report
    projects/<KEY>/latest.html          forwards to the newest report (a stable link for e-mails)
    projects/<KEY>/<YYYY-MM-DD>/report.{html,md,json}
    portfolio/index.html, portfolio/latest.html, portfolio/<YYYY-MM-DD>/portfolio.{html,md,json}

The folder is its own database: history pages are rebuilt from the
``report.json`` files, so copying, pruning or restoring the folder needs no
other state. A report written again for the same status date replaces that
date's files; older dates are never touched. Files are written to a temporary
name and renamed, so a reader never sees half a report.

Beside each ``report.json`` (over 100 KB with its chart series) a
``report.summary.json`` of a few hundred bytes holds what the history pages,
the index and the portfolio's sparklines read of it. Every report run reads
the history of each project several times, so a site of a year of weekly
reports would otherwise be parsed whole again and again; with the summaries
it reads a small file per report, and the previous report's full JSON once.
A summary older than its report (a restored or edited ``report.json``) is not
trusted: the report itself is read, and the summary written again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from pmsync.reports.facts import Point, PortfolioReport, ProjectReport, Report, Series
from pmsync.reports.render_html import render_html, render_template
from pmsync.reports.render_json import dumps, to_data
from pmsync.reports.render_md import render_md

FORMATS = ("html", "md", "json")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SAFE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Entry:
    """One report kept in the site (read back from its JSON)."""

    status_date: date
    folder: Path
    data: dict[str, Any]

    def href(self, fmt: str, *, base: Path) -> str:
        """Return the relative link from ``base`` (a folder) to this report in ``fmt``."""
        stem = "portfolio" if self.data.get("kind") == "portfolio" else "report"
        return os.path.relpath(self.folder / f"{stem}.{fmt}", base).replace(os.sep, "/")


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def project_dir(out: Path, key: str) -> Path:
    """Return the folder of a project's reports (refusing keys that are not plain names)."""
    if not _SAFE_KEY.match(key):
        raise ValueError(f"not a project key: {key!r}")
    return out / "projects" / key


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    """Return what history pages, the index and sparklines read of a report's JSON."""
    if data.get("kind") == "portfolio":
        return {
            "kind": "portfolio",
            "schema_version": data.get("schema_version"),
            "status_date": data.get("status_date"),
            "rag_counts": data.get("rag_counts", {}),
            "projects": [row.get("project_key") for row in data.get("projects", [])],
        }
    header = data.get("header", {})
    wanted = ("project_key", "project_name", "currency", "status_date", "overall")
    return {
        "kind": data.get("kind", "project"),
        "schema_version": data.get("schema_version"),
        "header": {name: header.get(name) for name in wanted},
        "key_figures": data.get("key_figures", []),
    }


def _read(path: Path) -> dict[str, Any] | None:
    """Return a JSON object from ``path``, or None if it is missing or not JSON."""
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:  # orjson refuses integers beyond 64 bits; json does not
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None
    except OSError:
        return None
    return data if isinstance(data, dict) else None


def _reports(folder: Path) -> list[tuple[date, Path, Path]]:
    """Return (status date, day folder, report JSON) of the reports under ``folder``."""
    if not folder.is_dir():
        return []
    stem = "portfolio" if folder.name == "portfolio" else "report"
    return [
        (date.fromisoformat(child.name), child, child / f"{stem}.json")
        for child in sorted(folder.iterdir())
        if _DAY.match(child.name) and (child / f"{stem}.json").is_file()
    ]


def history(folder: Path) -> list[Entry]:
    """Return the reports kept under ``folder`` (a project's or the portfolio's), oldest first.

    Each entry's ``data`` is the report's summary (``summarize``).
    """
    found: list[Entry] = []
    for day, child, data_file in _reports(folder):
        brief = data_file.with_suffix(".summary.json")
        try:
            fresh = brief.stat().st_mtime_ns >= data_file.stat().st_mtime_ns
        except OSError:
            fresh = False
        data = _read(brief) if fresh else None
        if data is None:
            full = _read(data_file)
            if full is None:
                continue
            data = summarize(full)
            with contextlib.suppress(OSError):  # a site written before summaries: add one
                write_atomic(brief, dumps(data))
        found.append(Entry(day, child, data))
    return found


def previous_report(out: Path, key: str, before: date) -> dict[str, Any] | None:
    """Return the JSON of the project's latest report from before ``before``, if any."""
    for day, _, data_file in reversed(_reports(project_dir(out, key))):
        if day < before:
            data = _read(data_file)
            if data is not None:
                return data
    return None


def figure_history(
    out: Path, key: str, name: str, current: ProjectReport, limit: int = 12
) -> Series:
    """Return a key figure over the kept reports plus ``current`` (for sparklines)."""
    day = current.header.status_date
    points: list[Point] = []
    for e in history(project_dir(out, key)):
        if e.status_date < day:
            value = next(
                (f.get("value") for f in e.data.get("key_figures", []) if f.get("name") == name),
                None,
            )
            if isinstance(value, int | float):
                points.append(Point(e.status_date, float(value)))
    now = next((f.value for f in current.key_figures if f.name == name), None)
    if now is not None:
        points.append(Point(day, now))
    return Series(name, "actual", tuple(points[-limit:]))


def _links(folder: Path, out: Path, stem: str, formats: Iterable[str]) -> dict[str, str]:
    links = {"All reports": os.path.relpath(out / "index.html", folder).replace(os.sep, "/")}
    links["History"] = "../index.html"
    for fmt in formats:
        if fmt != "html":
            links[fmt.upper() if fmt == "json" else "Markdown"] = f"{stem}.{fmt}"
    return links


def write_report(out: Path, report: Report, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write one report in ``formats`` into the site, refresh its history; return the files."""
    formats = [f for f in FORMATS if f in set(formats)]
    if isinstance(report, PortfolioReport):
        base, stem, day = out / "portfolio", "portfolio", report.status_date
    else:
        base, stem = project_dir(out, report.header.project_key), "report"
        day = report.header.status_date
    folder = base / day.isoformat()
    written: list[Path] = []
    data = to_data(report)
    for fmt in formats:
        if fmt == "html":
            text = render_html(report, links=_links(folder, out, stem, formats))
        elif fmt == "md":
            text = render_md(report)
        else:
            text = dumps(data)
        written.append(write_atomic(folder / f"{stem}.{fmt}", text))
    if "json" not in formats:  # history pages and trends read the JSON: always keep it
        write_atomic(folder / f"{stem}.json", dumps(data))
    write_atomic(folder / f"{stem}.summary.json", dumps(summarize(data)))  # after the JSON
    written.extend(write_history(out, base))
    return written


def write_history(out: Path, base: Path) -> list[Path]:
    """Rebuild the history page and ``latest.html`` of one project (or the portfolio)."""
    entries = history(base)
    if not entries:
        return []
    title = "Portfolio" if base.name == "portfolio" else base.name
    page = render_template(
        "history.html.j2",
        title=title,
        entries=entries[::-1],
        base=base,
        index=os.path.relpath(out / "index.html", base).replace(os.sep, "/"),
    )
    latest = entries[-1].href("html", base=base)
    forward = render_template("latest.html.j2", title=title, href=latest)
    return [write_atomic(base / "index.html", page), write_atomic(base / "latest.html", forward)]


def write_index(out: Path) -> Path:
    """Rebuild the site's front page from what the folder holds."""
    projects = []
    root = out / "projects"
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        entries = history(folder)
        if entries:
            projects.append((folder.name, entries[-1], len(entries)))
    portfolio = history(out / "portfolio")
    page = render_template(
        "index.html.j2",
        projects=projects,
        out=out,
        portfolio=(portfolio[-1], len(portfolio)) if portfolio else None,
    )
    return write_atomic(out / "index.html", page)
