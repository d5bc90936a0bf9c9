"""The Calendar API's answers that the connector acts on, as pmsync errors.

Kept apart from ``client`` so that importing the connector (every ``pmsync``
command does, to validate the configuration) does not load the Google client
libraries; they are loaded when a connector is created to pull.
"""

from __future__ import annotations

from pmsync.errors import FatalSourceError


class SyncTokenExpired(FatalSourceError):
    """410 Gone (``fullSyncRequired``): the calendar must be read again in full."""


class EventNotFound(FatalSourceError):
    """404: the calendar or event does not exist (or is not visible to these credentials)."""
