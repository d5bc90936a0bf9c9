"""Calendar events as Google shows them at one moment of the sandbox clock.

A scenario event is its state at creation plus timed changes; the API shows
each calendar *as of the clock*. Building that view for 20,000 events takes
tens of milliseconds, so it is built once per **epoch**: the number of change
times (creations, history entries, deletions) of the calendar that have passed.
Two clock readings with the same epoch see exactly the same calendar, which is
what lets a running clock (``--days-per-minute``) keep serving from the cache.

Recurring series are expanded here too, in the event's own time zone, so a
weekly 09:00 meeting in Europe/Berlin stays at 09:00 local time across a
daylight-saving change (its UTC time moves). Google's conventions are kept:
an instance id is ``<seriesId>_<YYYYMMDDTHHMMSSZ>`` (``_<YYYYMMDD>`` for all-day
series) and a modified or cancelled instance (an "exception") carries that
same id, whatever id the scenario gave it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rruleset, rrulestr

from pmsync.sandbox.scenario import Calendar, CalendarEventSpec

MAX_INSTANCES_PER_SERIES = 5000
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def parse_when(value: Any) -> datetime | date | None:
    """Turn a scenario value (aware datetime, date or ISO text) into a datetime or date."""
    if value is None or isinstance(value, datetime | date):
        return value
    text = str(value)
    if "T" not in text and len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """Format ``moment`` as Google formats ``created``/``updated``: UTC, millis, Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def instance_suffix(original: datetime | date) -> str:
    """Return the part Google appends to a series id to name one instance."""
    if isinstance(original, datetime):
        return original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return original.strftime("%Y%m%d")


@dataclass
class EventView:
    """One event, exception or expanded instance, as of one epoch."""

    id: str
    spec: CalendarEventSpec
    state: dict[str, Any]
    updated: datetime
    cancelled: bool
    start: datetime | date
    end: datetime | date
    time_zone: str
    recurrence: list[str]
    recurring_event_id: str | None = None
    original_start: datetime | date | None = None
    sequence: int = 0
    order: int = 0
    begins: datetime = FAR_FUTURE
    """The start as a UTC instant (all-day: midnight in the calendar's zone)."""
    ends: datetime = FAR_FUTURE
    """The end as a UTC instant; for a series, the end of its last instance."""

    @property
    def is_series(self) -> bool:
        """Tell whether this is the underlying event of a recurring series."""
        return bool(self.recurrence) and self.recurring_event_id is None

    @property
    def ical_uid(self) -> str:
        """Return the iCalendar UID (a series and its instances share it)."""
        return f"{self.recurring_event_id or self.id}@google.com"


def _instant(value: datetime | date, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), zone).astimezone(UTC)


@dataclass
class CalendarSnapshot:
    """A calendar's events at one epoch, with caches for what requests derive from it."""

    calendar: Calendar
    epoch: int
    events: list[EventView]
    """Series, one-off events and exceptions: what ``singleEvents=false`` lists."""
    last_change: datetime
    horizon: datetime
    exceptions: dict[str, list[EventView]] = field(default_factory=dict)
    """Modified or cancelled instances, by the id of their series."""
    _instances: list[EventView] | None = None
    rendered: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    results: dict[tuple[Any, ...], list[dict[str, Any]]] = field(default_factory=dict)
    feeds: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def instances(self) -> list[EventView]:
        """Return one-off events and every instance of every series (``singleEvents=true``)."""
        if self._instances is None:
            self._instances = _expand_all(self)
        return self._instances


class CalendarTimeline:
    """Every change time of one calendar, to map a clock reading to an epoch."""

    def __init__(self, calendar: Calendar) -> None:
        times: list[datetime] = []
        for spec in calendar.events:
            times.append(spec.created)
            times.extend(change.at for change in spec.history)
            if spec.deleted_at is not None:
                times.append(spec.deleted_at)
        self.calendar = calendar
        self.times = sorted(times)

    def epoch(self, now: datetime) -> int:
        """Return how many of the calendar's changes have happened by ``now``."""
        return bisect.bisect_right(self.times, now)

    def epoch_start(self, epoch: int) -> datetime:
        """Return the moment the calendar entered ``epoch`` (its latest change)."""
        return self.times[epoch - 1] if epoch else datetime.min.replace(tzinfo=UTC)


def build_snapshot(
    calendar: Calendar, epoch: int, now: datetime, horizon: datetime
) -> CalendarSnapshot:
    """Build the view of ``calendar`` at ``now`` (which must lie in ``epoch``)."""
    zone = ZoneInfo(calendar.time_zone)
    views: list[EventView] = []
    last_change = datetime.min.replace(tzinfo=UTC)
    for order, spec in enumerate(calendar.events):
        if spec.created > now:
            continue
        view = _view(spec, now, zone, order)
        last_change = max(last_change, view.updated)
        views.append(view)
    snapshot = CalendarSnapshot(calendar, epoch, views, last_change, horizon)
    for view in views:
        if view.recurring_event_id is not None:
            snapshot.exceptions.setdefault(view.recurring_event_id, []).append(view)
    for view in views:
        if view.is_series:
            if _bounded(view.recurrence):
                series = _expand_series(view, snapshot.exceptions.get(view.id, []), horizon, zone)
                view.ends = max((i.ends for i in series), default=view.ends)
            else:
                view.ends = FAR_FUTURE
    return snapshot


def _view(spec: CalendarEventSpec, now: datetime, zone: ZoneInfo, order: int) -> EventView:
    initial = {
        "summary": spec.summary,
        "description": spec.description,
        "location": spec.location,
        "start": spec.start if spec.start is not None else spec.start_date,
        "end": spec.end if spec.end is not None else spec.end_date,
        "status": spec.status,
        "attendees": list(spec.attendees),
        "recurrence": list(spec.recurrence),
        "time_zone": spec.time_zone,
        "transparency": spec.transparency,
    }
    applied = spec.applied(now)
    state = spec.state_at(initial, now)
    updated = applied[-1].at if applied else spec.created
    cancelled = state.get("status") == "cancelled"
    if spec.deleted_at is not None and spec.deleted_at <= now:
        cancelled = True
        updated = max(updated, spec.deleted_at)
    start = parse_when(state.get("start_date") or state["start"])
    end = parse_when(state.get("end_date") or state["end"])
    if start is None or end is None:
        raise ValueError(f"calendar event {spec.id!r} has no start or end")
    original = parse_when(spec.original_start)
    event_id = spec.id
    if spec.recurring_event_id and original is not None:
        event_id = f"{spec.recurring_event_id}_{instance_suffix(original)}"
    sequence = sum(1 for c in applied if {"start", "end", "status"} & c.set.keys())
    return EventView(
        id=event_id,
        spec=spec,
        state=state,
        updated=updated,
        cancelled=cancelled,
        start=start,
        end=end,
        time_zone=str(state.get("time_zone") or spec.time_zone),
        recurrence=[str(line) for line in state.get("recurrence") or []],
        recurring_event_id=spec.recurring_event_id,
        original_start=original,
        sequence=sequence,
        order=order,
        begins=_instant(start, zone),
        ends=_instant(end, zone),
    )


def _bounded(recurrence: list[str]) -> bool:
    rules = [line.upper() for line in recurrence if line.upper().startswith("RRULE")]
    return all("COUNT=" in rule or "UNTIL=" in rule for rule in rules)


def occurrences(view: EventView, horizon: datetime) -> list[datetime | date]:
    """Return the start of every occurrence of a series up to ``horizon``, in its zone."""
    zone = ZoneInfo(view.time_zone)
    all_day = not isinstance(view.start, datetime)
    if isinstance(view.start, datetime):
        dtstart = view.start.astimezone(zone)
    else:
        dtstart = datetime.combine(view.start, time(0))
    text = "\n".join(view.recurrence)
    rules: Iterable[datetime]
    try:
        rules = rrulestr(text, dtstart=dtstart, forceset=True, unfold=True)
        assert isinstance(rules, rruleset)
    except ValueError:
        # An UNTIL without Z next to a zoned start: read the rule in local time.
        local = rrulestr(text, dtstart=dtstart.replace(tzinfo=None), forceset=True, unfold=True)
        rules = _localized(local, zone)
    limit = horizon.astimezone(zone) if not all_day else horizon.replace(tzinfo=None)
    starts: list[datetime | date] = []
    for moment in rules:
        if moment.tzinfo is None and not all_day:
            moment = moment.replace(tzinfo=zone)
        if moment > limit or len(starts) >= MAX_INSTANCES_PER_SERIES:
            break
        starts.append(moment.date() if all_day else moment)
    return starts


def _localized(rules: Any, zone: ZoneInfo) -> list[datetime]:
    return [moment.replace(tzinfo=zone) for moment in rules]


def _expand_series(
    series: EventView, exceptions: list[EventView], horizon: datetime, zone: ZoneInfo
) -> list[EventView]:
    if isinstance(series.start, datetime) and isinstance(series.end, datetime):
        event_zone = ZoneInfo(series.time_zone)
        wall_length = series.end.astimezone(event_zone).replace(
            tzinfo=None
        ) - series.start.astimezone(event_zone).replace(tzinfo=None)
    else:
        wall_length = _day(series.end) - _day(series.start)
    by_original = {
        _instant(e.original_start, zone): e for e in exceptions if e.original_start is not None
    }
    instances: list[EventView] = []
    for start in occurrences(series, horizon):
        key = _instant(start, zone)
        exception = by_original.pop(key, None)
        if exception is not None:
            instances.append(exception)
            continue
        if isinstance(start, datetime):
            local_end = start.replace(tzinfo=None) + wall_length
            end: datetime | date = local_end.replace(tzinfo=start.tzinfo)
        else:
            end = start + wall_length
        instances.append(
            replace(
                series,
                id=f"{series.id}_{instance_suffix(start)}",
                start=start,
                end=end,
                recurrence=[],
                recurring_event_id=series.id,
                original_start=start,
                begins=key,
                ends=_instant(end, zone),
            )
        )
    instances.extend(by_original.values())
    return instances


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _expand_all(snapshot: CalendarSnapshot) -> list[EventView]:
    zone = ZoneInfo(snapshot.calendar.time_zone)
    expanded: list[EventView] = []
    series_ids: set[str] = set()
    for view in snapshot.events:
        if view.recurring_event_id is not None:
            continue  # exceptions come with their series
        if not view.is_series:
            expanded.append(view)
            continue
        series_ids.add(view.id)
        exceptions = snapshot.exceptions.get(view.id, [])
        for instance in _expand_series(view, exceptions, snapshot.horizon, zone):
            if view.cancelled:
                # A deleted series takes its instances (and their exceptions) with it.
                instance = replace(
                    instance, cancelled=True, updated=max(instance.updated, view.updated)
                )
            expanded.append(instance)
    for series_id, orphans in snapshot.exceptions.items():
        if series_id not in series_ids:
            expanded.extend(orphans)
    expanded.sort(key=lambda v: (v.begins, v.id))
    return expanded
