"""Channels: one module per kind of receiver, chosen by the receiver's ``type``.

::

    base.py     the Channel contract, DeliveryError tree, HTTP classification
    email.py    SMTP (smtplib): STARTTLS or implicit TLS, login
    slack.py    Slack incoming webhook: Block Kit, mrkdwn escaped
    teams.py    Teams Workflows webhook: an Adaptive Card in a message
    webhook.py  generic JSON, HMAC-SHA256 signed, Idempotency-Key
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pmsync.alerts.channels.base import (
    Channel,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from pmsync.alerts.channels.email import EmailChannel
from pmsync.alerts.channels.slack import SlackChannel
from pmsync.alerts.channels.teams import TeamsChannel
from pmsync.alerts.channels.webhook import WebhookChannel, signature
from pmsync.alerts.templates import Templates
from pmsync.config.settings import Receiver

CHANNELS: dict[str, type[Channel]] = {
    "email": EmailChannel,
    "slack": SlackChannel,
    "teams": TeamsChannel,
    "webhook": WebhookChannel,
}


def channel_for(
    name: str, receiver: Receiver, templates: Templates, *, config_dir: Path, timeout: timedelta
) -> Channel:
    """Return the channel that delivers to receiver ``name``."""
    return CHANNELS[receiver.type](
        name, receiver, templates, config_dir=config_dir, timeout=timeout
    )


__all__ = [
    "CHANNELS",
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "PermanentDeliveryError",
    "SlackChannel",
    "TeamsChannel",
    "TransientDeliveryError",
    "WebhookChannel",
    "channel_for",
    "signature",
]
