"""Markdown output, to paste into a wiki page or an issue, safe whatever the titles hold.

Markdown has no autoescape, so this environment makes one: Jinja2's
``finalize`` hook passes *every* value a template prints through ``escape_md``
unless it is ``MdSafe`` (made only by this module's helpers). An issue titled
``a | b <img onerror=...>`` therefore cannot split a table cell, open an HTML
tag, start a link or turn text bold in GitHub, GitLab or Confluence markdown.
Newlines inside values become spaces, so a value can never end a table row.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

from pmsync.reports import fmt
from pmsync.reports.facts import PortfolioReport, Report, figure, is_available


class MdSafe(str):
    """Markdown made by this module: printed as is."""


_SPECIAL = re.compile(r"([\\`*_\[\]|~#!{}])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_md(value: Any) -> str:
    """Return ``value`` as inert Markdown text (also safe inside a table cell)."""
    if isinstance(value, MdSafe):
        return value
    text = "" if value is None else str(value)
    text = re.sub(r"[\r\n\t]+", " ", text)
    text = "".join(_ENTITIES.get(ch, ch) for ch in text)
    return _SPECIAL.sub(r"\\\1", text)


def md_link(text: Any, url: str | None) -> MdSafe:
    """Return a Markdown link to an http(s) URL, or the escaped text without one."""
    label = escape_md(text)
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return MdSafe(label)
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C")
    return MdSafe(f"[{label}]({target.replace('>', '%3E')})")


def md_rag(rag: str) -> MdSafe:
    """Return the RAG as shape and word, bold (colour does not survive a wiki)."""
    return MdSafe(f"**{escape_md(fmt.rag_text(rag))}**")


@cache
def environment() -> Environment:
    """Return the Jinja2 environment of the Markdown templates (every value escaped)."""
    env = Environment(
        loader=PackageLoader("pmsync", "templates/reports"),
        autoescape=False,
        finalize=escape_md,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        fmt=fmt, available=is_available, figure=figure, link=md_link, rag=md_rag, MdSafe=MdSafe
    )
    return env


def render_md(report: Report, *, links: dict[str, str] | None = None) -> str:
    """Render a project or portfolio report as Markdown."""
    name = "portfolio.md.j2" if isinstance(report, PortfolioReport) else "project.md.j2"
    text = environment().get_template(name).render(r=report, links=links or {})
    return re.sub(r"\n{3,}", "\n\n", text)
