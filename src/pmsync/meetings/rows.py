"""Stored calendar events as frozen rows, for cadence, capacity, reports and rules.

The functions in ``cadence`` and ``capacity`` are pure: they take these rows and
return frozen results, so they are tested on hand-built rows as easily as on a
synced sandbox. Reading happens here, one ``SELECT`` per call.

A moved occurrence of a series keeps its original slot in its id (Google:
``<series>_20250107T090000Z``, iCalendar feeds: ``<uid>/20250107T090000Z``), which
is how ``scheduled_at`` tells "moved from Tuesday to Wednesday" from "on
Wednesday".
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from pmsync import model
from pmsync.store import Store

_SLOT = re.compile(r"[_/](\d{8})(?:T(\d{6})Z?)?$")


def scheduled_start(external_id: str, recurring: bool, starts_at: datetime) -> datetime:
    """Return when an occurrence was scheduled before any move (its start if unknown)."""
    if not recurring:
        return starts_at
    found = _SLOT.search(external_id)
    if found is None:
        return starts_at
    try:
        stamp = datetime.strptime(found[1] + (found[2] or "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        return starts_at
    return stamp.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Meeting:
    """One stored calendar event as the PM sees it."""

    id: int
    source: str
    calendar_id: str
    external_id: str
    """``<calendar id>/<event id>``, unique within the source."""
    title: str
    kind: str | None
    """The classification, None until linking ran."""
    project: str | None
    """The key of the project it is linked to."""
    starts_at: datetime
    ends_at: datetime
    scheduled_at: datetime
    """The original start of a moved occurrence; otherwise ``starts_at``."""
    status: str
    all_day: bool = False
    url: str | None = None
    person_ids: tuple[int, ...] = ()
    away_person_ids: tuple[int, ...] = ()

    @property
    def cancelled(self) -> bool:
        """Tell whether the event was cancelled."""
        return self.status == "cancelled"

    @property
    def moved(self) -> bool:
        """Tell whether this occurrence was moved away from its slot in the series."""
        return self.scheduled_at != self.starts_at


def load_meetings(
    store: Store,
    *,
    project: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    kinds: Collection[str] | None = None,
) -> list[Meeting]:
    """Return live events overlapping ``[start, end)``, of a project or kinds, by start."""
    event, project_table = model.CalendarEvent, model.Project
    query = (
        select(
            event.id,
            model.Source.name,
            event.calendar_id,
            event.external_id,
            event.recurring_event_id,
            event.title,
            event.meeting_kind,
            project_table.key,
            event.starts_at,
            event.ends_at,
            event.status,
            event.all_day,
            event.url,
            event.person_ids,
            event.away_person_ids,
        )
        .join(model.Source, model.Source.id == event.source_id)
        .outerjoin(project_table, project_table.id == event.project_id)
        .where(event.deleted_at.is_(None))
        .order_by(event.starts_at, event.id)
    )
    if project is not None:
        query = query.where(project_table.key == project)
    if start is not None:
        query = query.where(event.ends_at > start)
    if end is not None:
        query = query.where(event.starts_at < end)
    if kinds is not None:
        query = query.where(event.meeting_kind.in_(list(kinds)))
    with store.session(readonly=True) as s:
        rows = s.execute(query).all()
    return [
        Meeting(
            id=row.id,
            source=row.name,
            calendar_id=row.calendar_id,
            external_id=row.external_id,
            title=row.title,
            kind=row.meeting_kind,
            project=row.key,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            scheduled_at=scheduled_start(
                row.external_id, row.recurring_event_id is not None, row.starts_at
            ),
            status=row.status,
            all_day=row.all_day,
            url=row.url,
            person_ids=tuple(row.person_ids or ()),
            away_person_ids=tuple(row.away_person_ids or ()),
        )
        for row in rows
    ]
