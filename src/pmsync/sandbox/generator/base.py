"""The generator's shared vocabulary: the plan of each project and of each work item.

The generator first decides the story (who works where, how fast each team
finishes work, which milestone will slip and which project overspends) as plain
dataclasses, then each tool's module renders that plan into the scenario's
models. Keeping the plan separate is what lets Jira, GitHub and the calendars
tell one consistent story: a pull request merges when its Jira issue reaches
review, a milestone review sits on the version's due date.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pmsync.sandbox.scenario import Change

M = TypeVar("M", bound=BaseModel)

DEFAULT_CLOCK = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FUTURE_DAYS = 45
"""How far past the clock the scenario carries its own future."""
WORKDAY_SECONDS = int(8.5 * 3600)
ORG = "acme"
EMAIL_DOMAIN = "acme.example"


_Spec = tuple[tuple[str, Any, Any], ...]
_SPECS: dict[type[BaseModel], _Spec] = {}


def _spec(cls: type[BaseModel]) -> _Spec:
    spec = tuple(
        (
            name,
            None if info.default is PydanticUndefined else info.default,
            info.default_factory,
        )
        for name, info in cls.model_fields.items()
    )
    _SPECS[cls] = spec
    return spec


def build(cls: type[M], **given: Any) -> M:
    """Return ``cls`` built without validation, like ``model_construct`` but faster.

    Fields come out in declaration order (as validation would give them, so a
    dump is byte-identical after a load) and absent fields get their defaults.
    The tests validate what this builds.
    """
    values = {}
    for name, default, factory in _SPECS.get(cls) or _spec(cls):
        if name in given:
            values[name] = given[name]
        elif factory is not None:
            values[name] = factory()
        else:
            values[name] = default
    return raw(cls, values)


def raw(cls: type[M], values: dict[str, Any]) -> M:
    """Return ``cls`` wrapping ``values``, which must hold every field in declaration order."""
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def change(at: datetime, author: str | None, values: dict[str, Any]) -> Change:
    """Return a scenario ``Change`` (the hot path: hundreds of thousands per scenario)."""
    return raw(Change, {"at": at, "author": author, "set": values})


@cache
def zone(name: str) -> ZoneInfo:
    """Return the (cached) ZoneInfo for an IANA name."""
    return ZoneInfo(name)


def easter(year: int) -> date:
    """Return Western Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (h + m - 7 * (a + 11 * h + 22 * m) // 451 + 114) // 31
    p = (h + m - 7 * (a + 11 * h + 22 * m) // 451 + 114) % 31
    return date(year, n, p + 1)


def holidays(years: range) -> list[tuple[date, str, bool]]:
    """Return (date, name, company-wide) holidays; company-wide ones stop all work."""
    out: list[tuple[date, str, bool]] = []
    for year in years:
        sunday = easter(year)
        out += [
            (date(year, 1, 1), "New Year's Day", True),
            (date(year, 1, 26), "Republic Day (India)", False),
            (sunday - timedelta(days=2), "Good Friday / Karfreitag", True),
            (sunday + timedelta(days=1), "Easter Monday / Ostermontag", True),
            (date(year, 5, 1), "Labour Day / Tag der Arbeit", True),
            (date(year, 7, 4), "Independence Day (US) 🇺🇸", False),
            (date(year, 8, 15), "Independence Day (India) 🇮🇳", False),
            (date(year, 10, 2), "Gandhi Jayanti", False),
            (date(year, 10, 3), "Tag der Deutschen Einheit", False),
            (date(year, 12, 25), "Christmas Day", True),
            (date(year, 12, 26), "Boxing Day / 2. Weihnachtstag", True),
        ]
    return sorted(out)


class WorkDays:
    """A project's working days counted from its start: weekends and company holidays skipped.

    Work in the generator is placed on a continuous axis of working days (1.5 is
    the middle of the second working day); ``at`` turns a position into a UTC
    time inside a person's local office hours.
    """

    def __init__(self, first: date, closed: frozenset[date]) -> None:
        self.closed = closed
        self.days: list[date] = []
        self._opening: dict[tuple[int, str], datetime] = {}
        self._next = first
        self._extend(400)

    def _extend(self, count: int) -> None:
        while count > 0:
            day = self._next
            self._next += timedelta(days=1)
            if day.weekday() < 5 and day not in self.closed:
                self.days.append(day)
                count -= 1

    def day(self, index: int) -> date:
        """Return the date of working day ``index`` (0 = the start)."""
        index = max(index, 0)
        if index >= len(self.days):
            self._extend(index - len(self.days) + 100)
        return self.days[index]

    def index_of(self, day: date) -> int:
        """Return the index of the last working day on or before ``day``."""
        while self.days[-1] < day:
            self._extend(100)
        return max(bisect.bisect_right(self.days, day) - 1, 0)

    def at(self, offset: float, tz: str) -> datetime:
        """Return the UTC time ``offset`` working days in, in office hours of ``tz``."""
        index = max(int(offset), 0)
        seconds = int((offset - index) * WORKDAY_SECONDS)
        opening = self._opening.get((index, tz))
        if opening is None:
            local = datetime.combine(self.day(index), time(9), zone(tz))
            opening = self._opening[(index, tz)] = local.astimezone(UTC)
        return opening + timedelta(seconds=seconds)


@dataclass(slots=True)
class VersionPlan:
    """A release: a Jira fix version and the GitHub milestone of the same name."""

    index: int
    name: str
    jira_id: str
    starts: date
    due: date
    finish_offset: float
    """Working-day offset at which its last item will be done."""
    released_at: datetime | None = None
    archived_at: datetime | None = None
    pushed: tuple[datetime, date] | None = None
    """(when, new due date) if the PM pushes the due date in the scenario's future."""


@dataclass
class ProjectPlan:
    """One project as the story needs it."""

    index: int
    key: str
    name: str
    repo: str
    calendar_id: str
    manager: str
    sponsor: str
    lead: str
    team: list[str]
    start: date
    workdays: WorkDays
    items: int
    throughput: float
    """Items finished per working day."""
    clock_offset: float
    current_version: int
    on_time: bool = False
    slipping: bool = False
    overspending: bool = False
    currency: str = "EUR"
    hourly_rates: dict[str, float] = field(default_factory=dict)
    versions: list[VersionPlan] = field(default_factory=list)
    finish: date | None = None


@dataclass(slots=True)
class ItemPlan:
    """One Jira issue's life, shared with the GitHub generator."""

    project: int
    id: str
    key: str
    issuetype: str
    summary: str
    version: int
    assignee: str
    created: datetime
    started: datetime | None
    reviewed: datetime | None
    done: datetime | None
    moved_version: tuple[datetime, int] | None = None
    deleted_at: datetime | None = None


@dataclass
class Counters:
    """Monotonic id sources, one per kind, so ids are unique and reproducible."""

    jira_issue: int = 10000
    jira_version: int = 10100
    jira_worklog: int = 20000
    github: int = 1_800_000_000

    def next_github(self) -> int:
        """Return a fresh GitHub numeric id."""
        self.github += 1
        return self.github
