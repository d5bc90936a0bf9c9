"""Status reports: facts → HTML / Markdown / JSON, a static site with history, delivery.

The contract is ``facts.py``; ``collect.py`` fills it from the store, and
everything else (``render_*``, ``site``, ``deliver``) reads only the facts::

    facts.py        the dataclasses every output shows (and schema.py, its JSON Schema)
    collect.py      store + config → facts (sections not yet computable say why)
    rag.py          red / amber / green per dimension, with reasons
    derive.py       key figures, trends, decisions, portfolio rows
    charts.py       matplotlib → inline SVG; sparklines
    render_html.py  render_md.py  render_json.py
    site.py         the static site: index, per-project history, portfolio
    deliver.py      e-mail per the communication plan; meeting packs
"""

from typing import Any

from pmsync.reports.facts import PortfolioReport, ProjectReport, Unavailable
from pmsync.reports.render_json import to_json


def send_scheduled_report(**kwargs: Any) -> list[str]:
    """Write and e-mail one communication-plan report (the daemon's ``report`` hook)."""
    from pmsync.reports.deliver import send_scheduled_report as send

    return send(**kwargs)


def send_meeting_packs(**kwargs: Any) -> list[Any]:
    """Send the agenda packs of meetings within their lead time (the daemon's hook)."""
    from pmsync.reports.deliver import send_meeting_packs as send

    return send(**kwargs)


__all__ = [
    "PortfolioReport",
    "ProjectReport",
    "Unavailable",
    "send_meeting_packs",
    "send_scheduled_report",
    "to_json",
]
