"""HTML output: one self-contained file per report, safe with whatever text the tools hold.

Everything a report shows comes from the facts and goes through Jinja2 with
autoescaping on, so an issue titled ``<script>`` is text, not code. The only
markup inserted unescaped is the SVG that ``charts.py`` made from numbers (its
text is escaped by matplotlib's XML writer and ours). The page also carries a
Content-Security-Policy that allows no script and no request at all: even a
bug in escaping could not run code or fetch anything. CSS is inline; the page
reads on a phone, prints on A4, and needs no JavaScript.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pmsync.reports import fmt
from pmsync.reports.charts import legend, render_chart, sparkline
from pmsync.reports.facts import (
    Chart,
    PortfolioReport,
    ProjectReport,
    Report,
    figure,
    is_available,
)

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


@cache
def environment() -> Environment:
    """Return the Jinja2 environment of the report templates (autoescape on)."""
    env = Environment(
        loader=PackageLoader("pmsync", "templates/reports"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        fmt=fmt,
        available=is_available,
        figure=figure,
        csp=CSP,
        sparkline=lambda s: Markup(sparkline(s)),
    )
    return env


def chart_svgs(report: ProjectReport) -> dict[str, Markup]:
    """Return each chart of the report as trusted inline SVG and its legend, by chart id."""
    return {
        c.id: Markup(render_chart(c) + legend(c)) for c in report.charts if isinstance(c, Chart)
    }


def render_template(name: str, **context: Any) -> str:
    """Render one of the report templates with ``context``."""
    return environment().get_template(name).render(**context)


def render_html(
    report: Report, *, links: dict[str, str] | None = None, title_prefix: str = ""
) -> str:
    """Render a project or portfolio report as one self-contained HTML page.

    ``links`` are relative links the page may show (``history``, ``index``,
    ``json``, ``md``), set by the static site; a report e-mailed alone has none.
    """
    links = links or {}
    if isinstance(report, PortfolioReport):
        return render_template("portfolio.html.j2", r=report, links=links, prefix=title_prefix)
    return render_template(
        "project.html.j2", r=report, svgs=chart_svgs(report), links=links, prefix=title_prefix
    )
