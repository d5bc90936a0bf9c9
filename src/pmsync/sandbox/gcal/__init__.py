"""The sandbox's Google Calendar: the v3 REST API and published iCalendar feeds.

``CalendarService`` is what ``pmsync sandbox serve`` runs and tests start
in-process; ``events`` turns scenario calendars into what the API shows at a
clock reading, ``api`` holds Google's request rules and payload shapes, and
``ics`` writes the published feed.
"""

from pmsync.sandbox.gcal.service import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    CalendarService,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "CalendarService",
]
