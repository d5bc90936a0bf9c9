"""pmsync connector for Google Calendar (API v3).

Reads calendars with google-api-python-client, incrementally with Google's
``syncToken``, through pmsync's own retry layer; see
``docs/connectors/google-calendar.md`` for credentials, settings and behaviour.
"""

from pmsync_gcal.connector import GoogleCalendarConnector
from pmsync_gcal.errors import EventNotFound, SyncTokenExpired
from pmsync_gcal.settings import (
    SCOPE,
    GoogleCalendarSettings,
    OAuthUserCredentials,
    ServiceAccountCredentials,
)

__all__ = [
    "SCOPE",
    "EventNotFound",
    "GoogleCalendarConnector",
    "GoogleCalendarSettings",
    "OAuthUserCredentials",
    "ServiceAccountCredentials",
    "SyncTokenExpired",
]
