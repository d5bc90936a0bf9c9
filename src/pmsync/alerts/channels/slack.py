"""Slack incoming webhooks: Block Kit sections of mrkdwn, escaped.

The message is ``{"text": fallback, "blocks": [section, ...]}``: the template
``slack.mrkdwn.j2`` is rendered, cut at blank lines into ``section`` blocks of
``mrkdwn`` text (at most 3000 characters each, 50 blocks per message), each with
``verbatim: true`` so Slack does not turn names into mentions or links on its
own. ``text`` is the notification fallback (the title). Every value is escaped
for mrkdwn (see ``pmsync.alerts.templates``). Slack answers ``200 ok``; 4xx
answers such as ``invalid_blocks`` or ``channel_is_archived`` are permanent, 429
and 5xx are retried. Slack has no idempotency key: a crash between sending and
recording can post a message twice (see docs/alerts.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pmsync.alerts.channels.base import Channel, post
from pmsync.alerts.templates import paragraphs, slack_escape
from pmsync.config.settings import SlackReceiver

SECTION_LIMIT = 3000
MAX_BLOCKS = 50


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


class SlackChannel(Channel):
    """Posts alerts to a Slack incoming webhook."""

    settings: SlackReceiver

    def render(self, payload: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        """Return the Block Kit message."""
        pieces = paragraphs(self.templates.render("slack", context), SECTION_LIMIT)
        blocks = [_section(piece) for piece in pieces[:MAX_BLOCKS]]
        if len(pieces) > MAX_BLOCKS:
            blocks[-1] = {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"… {len(pieces) - MAX_BLOCKS + 1} more paragraphs: see the report",
                    }
                ],
            }
        return {"text": slack_escape(context["title"]), "blocks": blocks}

    def send(self, message: dict[str, Any], key: str, at: datetime) -> None:
        """POST the message to the webhook URL (revealed only here)."""
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        url = self.settings.webhook_url.reveal()
        post(url, body, headers, self.timeout, at, secret_url=True)
