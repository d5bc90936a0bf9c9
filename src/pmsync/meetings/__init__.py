"""Meetings in the PM's model: what calendar events are, whose they are, what was missed.

The modules behind this surface:

- ``classify``: rules turn an event into a status meeting, milestone review,
  steering committee, customer meeting, leave, public holiday or other;
- ``link``: ``link_meetings`` classifies the stored events written since its
  last pass (all of them when what it reads changed) and links them to a
  project and its people (run after every sync, beside ``link_people``);
- ``rows``: stored events as frozen ``Meeting`` rows;
- ``cadence``: expected meetings per cadence against held, cancelled, moved, missing;
- ``capacity``: leave and public holidays as available hours per person and day;
- ``overview``: all of it for one period, what ``pmsync meetings`` prints.
"""

from pmsync.meetings.cadence import (
    MISSED,
    CadenceReport,
    Slot,
    cadence_report,
    matches_cadence,
    upcoming_meetings,
)
from pmsync.meetings.capacity import (
    Absence,
    CapacityTable,
    DayCapacity,
    Worker,
    compute_capacity,
    iso_week,
    load_capacity,
    workers_of,
)
from pmsync.meetings.classify import (
    Classification,
    Classifier,
    EventFacts,
    build_classifier,
    classify_title,
)
from pmsync.meetings.link import MeetingLinkResult, link_meetings, project_team
from pmsync.meetings.overview import MeetingsOverview, meetings_overview, project_cadences
from pmsync.meetings.rows import Meeting, load_meetings

__all__ = [
    "MISSED",
    "Absence",
    "CadenceReport",
    "CapacityTable",
    "Classification",
    "Classifier",
    "DayCapacity",
    "EventFacts",
    "Meeting",
    "MeetingLinkResult",
    "MeetingsOverview",
    "Slot",
    "Worker",
    "build_classifier",
    "cadence_report",
    "classify_title",
    "compute_capacity",
    "iso_week",
    "link_meetings",
    "load_capacity",
    "load_meetings",
    "matches_cadence",
    "meetings_overview",
    "project_cadences",
    "project_team",
    "upcoming_meetings",
    "workers_of",
]
