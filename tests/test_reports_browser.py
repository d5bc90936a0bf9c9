"""The reports in real headless Chromium: they render, fetch nothing, and run nothing.

Debian's ``chromium`` (``.ci/run`` installs it) is driven by Playwright; the
tests skip only when neither is installed, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pmsync.reports import site
from pmsync.reports.browser import chromium_path
from pmsync.reports.derive import build_portfolio, portfolio_row
from pmsync.reports.sample import GENERATED_AT, STATUS_DATE, sample_project

pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")
if chromium_path() is None:
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

HOSTILE = (
    'Pay <script>window.__pwned="script"</script>'
    "<img src=x onerror=\"window.__pwned='onerror'\"><svg onload=\"window.__pwned='svg'\">"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from pmsync.reports.browser import chromium

    with chromium() as b:
        yield b


def non_trivial_png(path: Path) -> None:
    """Assert the screenshot is a real picture: big enough, and not one flat colour."""
    from PIL import Image

    assert path.stat().st_size > 20_000
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert image.height > 800 and (colours is None or len(colours) > 50)


def write_site(out: Path, title: str = "Payments platform") -> tuple[Path, Path]:
    keys = ("PAY", "CRM", "MOB")
    reports = [sample_project(i, key=k, title=title if k == "PAY" else f"{k} programme")
               for i, k in enumerate(keys)]  # fmt: skip
    for r in reports:
        site.write_report(out, r)
    rows = [portfolio_row(r, href=f"../../projects/{r.header.project_key}/2026-03-02/report.html")
            for r in reports]  # fmt: skip
    portfolio = build_portfolio(rows, status_date=STATUS_DATE, generated_at=GENERATED_AT,
                                freshness=reports[0].freshness)  # fmt: skip
    site.write_report(out, portfolio)
    site.write_index(out)
    return out / "projects/PAY/2026-03-02/report.html", out / "portfolio/2026-03-02/portfolio.html"


def test_project_and_portfolio_render_offline_without_errors(tmp_path: Path, browser: Any) -> None:
    from pmsync.reports.browser import visit

    project, portfolio = write_site(tmp_path)
    for page, width in ((project, 1100), (portfolio, 1100), (project, 390)):
        shot = tmp_path / f"{page.stem}-{width}.png"
        seen = visit(browser, page, screenshot=shot, width=width)
        assert seen.console == [] and seen.page_errors == [] and seen.dialogs == []
        assert seen.foreign_requests == [], "a report must not fetch anything"
        assert seen.final_url == seen.url
        non_trivial_png(shot)


def test_a_hostile_title_runs_nothing(tmp_path: Path, browser: Any) -> None:
    from pmsync.reports.browser import visit

    project, portfolio = write_site(tmp_path, title=HOSTILE)
    for page in (project, portfolio, tmp_path / "index.html"):
        seen = visit(browser, page)
        assert seen.probe is None, f"script ran in {page.name}: {seen.probe}"
        assert seen.dialogs == [] and seen.page_errors == []
        assert seen.foreign_requests == [] and seen.final_url == seen.url
    shown = visit(browser, project, probe="() => document.querySelector('h1').textContent")
    assert "<script>" in shown.probe  # shown as text, exactly as the tool holds it


def test_a_report_is_readable_on_a_phone_and_prints_on_a4(tmp_path: Path, browser: Any) -> None:
    project, _ = write_site(tmp_path)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(project.resolve().as_uri())
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, "wide tables must scroll inside their box, not the page"
    assert page.evaluate(
        "() => [...document.querySelectorAll('svg.chart')].every("
        "s => s.getAttribute('role') === 'img' && s.querySelector('title'))"
    )
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    context.close()
