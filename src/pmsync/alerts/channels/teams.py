"""Microsoft Teams: an Adaptive Card posted to a Workflows ("Power Automate") webhook.

Teams' Office 365 connectors (and their ``MessageCard`` format) are being
retired; the replacement is a Teams Workflow built from the template "Post to a
channel when a webhook request is received". That flow expects a *message with
attachments*, and posts each Adaptive Card attachment to the channel::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"type": "AdaptiveCard", "version": "1.4", "body": [...]}}]}

The body is the template ``teams.md.j2``, cut at blank lines into ``TextBlock``
elements (``wrap: true``, Markdown subset: bold, italic, lists, links); values
are escaped with CommonMark backslashes. The report link is also an
``Action.OpenUrl`` button, easy to hit on a phone. Cards are capped below
Teams' 28 KB message limit. The flow answers ``202 Accepted``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pmsync.alerts.channels.base import Channel, post
from pmsync.alerts.templates import paragraphs, safe_url
from pmsync.config.settings import TeamsReceiver

CARD_BUDGET = 24_000
"""Bytes of card text; Teams refuses messages above about 28 KB."""


class TeamsChannel(Channel):
    """Posts alerts as an Adaptive Card to a Teams Workflows webhook."""

    settings: TeamsReceiver

    def render(self, payload: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        """Return the message with one Adaptive Card attachment."""
        body: list[dict[str, Any]] = []
        used = 0
        pieces = paragraphs(self.templates.render("teams", context), 4000)
        for index, piece in enumerate(pieces):
            used += len(piece.encode("utf-8"))
            if used > CARD_BUDGET:
                piece = f"… {len(pieces) - index} more paragraphs: see the report"
            block: dict[str, Any] = {"type": "TextBlock", "text": piece, "wrap": True}
            if index == 0:
                block.update(size="Medium", weight="Bolder")
            body.append(block)
            if used > CARD_BUDGET:
                break
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": body,
        }
        report = safe_url(context.get("report_url"))
        if report is not None:
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": "Open the report", "url": report}
            ]
        attachment = {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": card,
        }
        return {"type": "message", "attachments": [attachment]}

    def send(self, message: dict[str, Any], key: str, at: datetime) -> None:
        """POST the card to the workflow URL (revealed only here)."""
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        url = self.settings.webhook_url.reveal()
        post(url, body, headers, self.timeout, at, secret_url=True)
