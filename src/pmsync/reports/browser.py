"""Open a report in real headless Chromium: screenshots for the docs, checks for the tests.

A report is only as good as what a browser shows, so the tests and
``docs/images`` use Debian's ``chromium`` driven by Playwright (the ``dev``
extra; Playwright's own browser download is not used). ``visit`` records
everything a page did that a self-contained, script-free report must never do:
console messages, requests to anything but the file itself, dialogs, and
navigation away from it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """Return the Chromium executable (``PMSYNC_CHROMIUM`` or Debian's), if installed."""
    return os.environ.get("PMSYNC_CHROMIUM") or shutil.which("chromium")


@dataclass
class Visit:
    """What happened while a page was open."""

    url: str
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    final_url: str = ""
    probe: Any = None

    @property
    def foreign_requests(self) -> list[str]:
        """Return requests for anything other than the page itself or inline data."""
        return [u for u in self.requests if u != self.url and not u.startswith("data:")]


@contextmanager
def chromium() -> Iterator[Any]:
    """Yield a Playwright browser on the system Chromium (closed afterwards)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def visit(
    browser: Any,
    path: Path,
    *,
    screenshot: Path | None = None,
    width: int = 1100,
    probe: str = "() => window.__pwned === undefined ? null : window.__pwned",
) -> Visit:
    """Open ``path``, record what it did, and optionally save a full-page PNG."""
    url = path.resolve().as_uri()
    seen = Visit(url=url)
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=True
    )
    page = context.new_page()
    page.on("console", lambda m: seen.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))

    def dialog(d: Any) -> None:
        seen.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)

    def record(route: Any) -> None:
        seen.requests.append(route.request.url)
        if route.request.url == url:
            route.continue_()
        else:
            route.abort()

    page.route("**/*", record)
    page.goto(url, wait_until="load")
    page.wait_for_timeout(200)
    seen.final_url = page.url
    seen.probe = page.evaluate(probe)
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    context.close()
    return seen
