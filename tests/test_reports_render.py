"""What a reader sees: RAG honesty, escaping of hostile text in HTML and Markdown, the site."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest

from pmsync.config.rules import BuiltinRules
from pmsync.reports import rag, site
from pmsync.reports.derive import build_portfolio, portfolio_row
from pmsync.reports.facts import Changes, EarnedValue, Risks, SourceFreshness, Unavailable
from pmsync.reports.render_html import render_html
from pmsync.reports.render_md import escape_md, render_md
from pmsync.reports.sample import GENERATED_AT, STATUS_DATE, sample_project

HOSTILE = (
    'Pay | <script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> '
    "*x* [a](javascript:b)"
)


def healthy_ev() -> EarnedValue:
    return EarnedValue(100.0, 50.0, 50.0, 50.0, 0.0, 0.0, 1.0, 1.0, 100.0, 50.0, 0.0, 1.0, 1.0,
                       10.0, 0.0, 1.0, 20.0, None)  # fmt: skip


def judge(freshness: tuple[SourceFreshness, ...]) -> tuple:
    return rag.judge(earned_value=healthy_ev(), milestones=(), risks=Risks((), (), 0, 0.0),
                     alerts=(), changes=Changes(None, (), ()), freshness=freshness,
                     rules=BuiltinRules())  # fmt: skip


def test_a_project_is_never_green_on_stale_data() -> None:
    fresh = SourceFreshness("jira", "jira", GENERATED_AT, 0.1, False, "ok")
    stale = SourceFreshness("github", "github", GENERATED_AT - timedelta(days=2), 48, True, "ok")
    overall, dims = judge((fresh,))
    assert overall.rag == "green" and dims[0].rag == "green"
    overall, dims = judge((fresh, stale))
    assert overall.rag == "amber" and "github" in overall.reason
    assert "green" not in {d.rag for d in dims}


@pytest.mark.parametrize(("spi", "expected"), [(0.95, "green"), (0.85, "amber"), (0.75, "red")])
def test_schedule_rag_follows_the_rule_thresholds(spi: float, expected: str) -> None:
    ev = replace(healthy_ev(), spi=spi, spi_t=spi)
    _, dims = rag.judge(earned_value=ev, milestones=(), risks=Unavailable("x"), alerts=(),
                        changes=Unavailable("x"), freshness=(), rules=BuiltinRules())  # fmt: skip
    assert dims[0].rag == expected and f"{spi:.2f}" in dims[0].reason


def test_hostile_text_is_escaped_in_html() -> None:
    html = render_html(sample_project(1, title=HOSTILE))
    assert "<script>window" not in html and 'onerror="window' not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in unescape(html)
    assert not re.search(r"<(script|link|iframe|object)\b", html)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html.replace(
        'href="https://jira.example/browse/PAY-57"', ""))  # the only link: evidence  # fmt: skip


def test_markdown_escapes_pipes_tags_and_markup_for_wikis() -> None:
    assert escape_md("a | b") == r"a \| b"
    assert escape_md("<img onerror=x>") == "&lt;img onerror=x&gt;"
    assert escape_md("line1\nline2 *b* [l](u)") == r"line1 line2 \*b\* \[l\](u)"
    md = render_md(sample_project(1, title=HOSTILE))
    assert "<script>" not in md and "<img" not in md
    assert not re.search(r"(?<!\\)\]\(javascript", md)  # "\](" is text, not a link
    for line in md.splitlines():
        if line.startswith("| 1 |"):  # the WBS root row carries the hostile title
            assert len(re.findall(r"(?<!\\)\|", line)) == 9  # 8 cells: no cell was split


def test_the_site_keeps_every_report_and_links_the_history(tmp_path: Path) -> None:
    for weeks in (2, 1, 0):
        report = sample_project(weeks)
        day = STATUS_DATE - timedelta(weeks=weeks)
        site.write_report(tmp_path, replace(report, header=replace(report.header, status_date=day)))
    rows = [portfolio_row(sample_project(0), href="../../projects/PAY/2026-03-02/report.html",
                          sparkline=site.figure_history(tmp_path, "PAY", "spi_t",
                                                        sample_project(0)))]  # fmt: skip
    portfolio = build_portfolio(rows, status_date=STATUS_DATE, generated_at=GENERATED_AT,
                                freshness=())  # fmt: skip
    site.write_report(tmp_path, portfolio)
    index = site.write_index(tmp_path).read_text()
    kept = sorted(p.name for p in (tmp_path / "projects" / "PAY").iterdir() if p.is_dir())
    assert kept == ["2026-02-16", "2026-02-23", "2026-03-02"]
    history = (tmp_path / "projects" / "PAY" / "index.html").read_text()
    for name in kept:
        assert f'href="{name}/report.html"' in history and f'href="{name}/report.md"' in history
    assert "url=2026-03-02/report.html" in (tmp_path / "projects/PAY/latest.html").read_text()
    assert "projects/PAY/2026-03-02/report.html" in index
    assert "portfolio/2026-03-02/portfolio.html" in index
    previous = site.previous_report(tmp_path, "PAY", STATUS_DATE)
    assert previous is not None and previous["header"]["status_date"] == "2026-02-23"
    assert '<svg class="spark"' in (tmp_path / "portfolio/2026-03-02/portfolio.html").read_text()


def test_history_pages_read_summaries_and_are_the_same_without_them(tmp_path: Path) -> None:
    """A year of reports is not parsed whole on each run, and a restored report is trusted."""
    for weeks in (2, 1, 0):
        report = sample_project(weeks)
        day = STATUS_DATE - timedelta(weeks=weeks)
        site.write_report(tmp_path, replace(report, header=replace(report.header, status_date=day)))
    folder = tmp_path / "projects" / "PAY"
    summaries = sorted(folder.glob("*/report.summary.json"))
    assert len(summaries) == 3
    assert all(s.stat().st_size * 10 < s.with_name("report.json").stat().st_size for s in summaries)
    page = (folder / "index.html").read_text()
    figures = site.figure_history(tmp_path, "PAY", "spi_t", sample_project(0))
    for summary in summaries:
        summary.unlink()
    site.write_history(tmp_path, folder)  # a site from before summaries: read whole, then kept
    assert (folder / "index.html").read_text() == page
    assert site.figure_history(tmp_path, "PAY", "spi_t", sample_project(0)) == figures
    assert sorted(folder.glob("*/report.summary.json")) == summaries
    # a report.json put back from a backup, newer than the summary beside it, is read itself
    site.write_report(tmp_path, replace(sample_project(0), header=replace(
        sample_project(0).header, status_date=STATUS_DATE)))  # fmt: skip
    latest = folder / STATUS_DATE.isoformat()
    restored = (
        (latest / "report.json")
        .read_text()
        .replace('"project_name": "', '"project_name": "Restored ', 1)
    )
    (latest / "report.summary.json").touch()
    os.utime(latest / "report.summary.json", ns=(1, 1))
    (latest / "report.json").write_text(restored)
    entry = site.history(folder)[-1]
    assert entry.data["header"]["project_name"].startswith("Restored ")


def test_a_project_key_cannot_escape_the_site_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a project key"):
        site.project_dir(tmp_path, "../etc")
