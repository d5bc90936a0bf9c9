"""A project's meeting cadence against its calendar: held, cancelled, moved, missing.

A cadence entry (``meetings:`` in a project file) says "a status meeting every
week". Time is cut into consecutive windows of that length, each centred on an
*expected* time: the first matching meeting's original slot plus whole periods.
A meeting belongs to the window of its original slot, so a meeting moved from
Tuesday to Wednesday still counts for its own week, and every moment belongs to
exactly one window (nothing counts twice). The cadence starts with its first
meeting: before it nothing is expected. A project with no matching meeting at
all expects one in every window from the start of the period.

Each window (a ``Slot``) has one outcome:

=============  ===============================================================
held           a meeting took place (``moved`` says whether it was moved)
scheduled      a meeting is on the calendar, later than now
cancelled      only cancelled meetings, nothing in their place
missing        the window is over and no meeting was on the calendar
overdue        the expected time has passed, the window is open, nothing planned
unscheduled    the window lies ahead and nothing is planned yet
=============  ===============================================================

``cancelled``, ``missing`` and ``overdue`` are *missed*: the rule
``missing_status_meeting`` counts days from the expected time of a missed slot.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pmsync.config.projects import MeetingCadence
from pmsync.meetings.rows import Meeting

Outcome = Literal["held", "scheduled", "cancelled", "missing", "overdue", "unscheduled"]
MISSED: frozenset[str] = frozenset({"cancelled", "missing", "overdue"})
MEETING_KINDS_AHEAD = frozenset(
    {"status_meeting", "milestone_review", "steering_committee", "customer_meeting", "other"}
)


@dataclass(frozen=True)
class Slot:
    """One expected occurrence of a cadence and what became of it."""

    expected_at: datetime
    window_start: datetime
    window_end: datetime
    outcome: Outcome
    meetings: tuple[Meeting, ...] = ()

    @property
    def missed(self) -> bool:
        """Tell whether no meeting took place (or will) for this slot."""
        return self.outcome in MISSED

    @property
    def moved(self) -> bool:
        """Tell whether the meeting that took place (or will) was moved from its slot."""
        return any(m.moved and not m.cancelled for m in self.meetings)

    def days_overdue(self, now: datetime) -> int | None:
        """Return whole days since the expected time of a missed slot (None otherwise)."""
        if not self.missed or now < self.expected_at:
            return None
        return (now - self.expected_at) // timedelta(days=1)


@dataclass(frozen=True)
class CadenceReport:
    """The slots of one cadence of one project in a period."""

    project: str
    kind: str
    every: timedelta
    title_patterns: tuple[str, ...]
    start: datetime
    end: datetime
    slots: tuple[Slot, ...]

    def count(self, outcome: str) -> int:
        """Return how many slots had ``outcome``."""
        return sum(1 for slot in self.slots if slot.outcome == outcome)

    @property
    def held(self) -> int:
        """Slots in which a meeting took place."""
        return self.count("held")

    @property
    def cancelled(self) -> int:
        """Slots whose meeting was cancelled and not replaced."""
        return self.count("cancelled")

    @property
    def missing(self) -> int:
        """Slots that passed, or are overdue, with no meeting on the calendar."""
        return self.count("missing") + self.count("overdue")

    @property
    def moved(self) -> int:
        """Slots whose meeting was moved away from its original time."""
        return sum(1 for slot in self.slots if slot.moved)

    @property
    def missed(self) -> tuple[Slot, ...]:
        """Slots with no meeting: cancelled, missing or overdue."""
        return tuple(slot for slot in self.slots if slot.missed)


def matches_cadence(cadence: MeetingCadence, meeting: Meeting) -> bool:
    """Tell whether ``meeting`` is one of the cadence's (title pattern and source)."""
    if cadence.source is not None and meeting.source != cadence.source:
        return False
    title = meeting.title.casefold()
    return any(fnmatch.fnmatchcase(title, p.casefold()) for p in cadence.title_patterns)


def _outcome(
    slot_meetings: Sequence[Meeting], expected: datetime, end: datetime, now: datetime
) -> Outcome:
    live = [m for m in slot_meetings if not m.cancelled]
    outcome: Outcome
    if any(m.starts_at <= now for m in live):
        outcome = "held"
    elif live:
        outcome = "scheduled"
    elif slot_meetings:
        outcome = "cancelled"
    elif now >= end:
        outcome = "missing"
    elif now >= expected:
        outcome = "overdue"
    else:
        outcome = "unscheduled"
    return outcome


def cadence_report(
    project: str,
    cadence: MeetingCadence,
    meetings: Iterable[Meeting],
    start: datetime,
    end: datetime,
    now: datetime,
) -> CadenceReport:
    """Return the cadence's slots expected in ``[start, end)`` and what happened in each.

    ``meetings`` are the project's events (any kind); those matching the
    cadence are picked here. Give every event since the project's start, so
    the cadence's first meeting (its anchor) is among them.
    """
    every = cadence.every
    mine = sorted(
        (m for m in meetings if matches_cadence(cadence, m)), key=lambda m: m.scheduled_at
    )
    if mine:
        anchor = mine[0].scheduled_at
        first = max(0, math.ceil((start - anchor) / every))
    else:
        anchor, first = start + every / 2, 0
    by_slot: dict[int, list[Meeting]] = {}
    for meeting in mine:
        index = math.floor((meeting.scheduled_at - anchor + every / 2) / every)
        by_slot.setdefault(index, []).append(meeting)
    slots = []
    index = first
    while (expected := anchor + index * every) < end:
        window = (expected - every / 2, expected + every / 2)
        found = tuple(by_slot.get(index, ()))
        outcome = _outcome(found, expected, window[1], now)
        slots.append(Slot(expected, window[0], window[1], outcome, found))
        index += 1
    return CadenceReport(
        project=project,
        kind=cadence.kind,
        every=every,
        title_patterns=tuple(cadence.title_patterns),
        start=start,
        end=end,
        slots=tuple(slots),
    )


def upcoming_meetings(
    meetings: Iterable[Meeting],
    now: datetime,
    days: int = 14,
    kinds: frozenset[str] = MEETING_KINDS_AHEAD,
) -> list[Meeting]:
    """Return the meetings (not leave, not cancelled) starting in the next ``days`` days."""
    until = now + timedelta(days=days)
    return sorted(
        (
            m
            for m in meetings
            if not m.cancelled and now <= m.starts_at < until and (m.kind or "other") in kinds
        ),
        key=lambda m: (m.starts_at, m.id),
    )
