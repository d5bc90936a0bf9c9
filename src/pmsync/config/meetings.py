"""The ``meetings:`` section of ``pmsync.yaml`` and a project's calendar links.

pmsync reads calendars to know which status meetings, milestone reviews and
steering committees took place and who is away. What an event *is* comes from
classification rules: built-in ones in several languages (``pmsync.meetings``
holds the table) plus the admin's own, written here, which are checked first.
Which calendars hold public holidays, and whom each holiday covers, is
declared here too, so capacity never guesses a region from a title. Shapes are
checked by the models; references to people and sources are checked by
``check_meeting_settings`` and ``check_project_calendars`` at their own lines.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from pmsync.config.types import Identifier, StrictModel

MeetingKind = Literal[
    "status_meeting",
    "milestone_review",
    "steering_committee",
    "customer_meeting",
    "leave",
    "public_holiday",
    "other",
]
MEETING_KINDS: tuple[MeetingKind, ...] = (
    "status_meeting",
    "milestone_review",
    "steering_committee",
    "customer_meeting",
    "leave",
    "public_holiday",
    "other",
)
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]


def _check_title_pattern(value: str) -> str:
    if value.startswith("re:"):
        try:
            re.compile(value[3:])
        except re.error as err:
            raise ValueError(f"{value!r} is not a regular expression: {err}") from err
    elif not re.search(r"\w", value):
        raise ValueError(f"{value!r} has no words to match (or write re: and an expression)")
    return value


TitlePattern = Annotated[
    str,
    AfterValidator(_check_title_pattern),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A phrase matched case-insensitively on word boundaries "
            "('jour fixe', 'kunden*'), or 're:' and a regular expression.",
        }
    ),
]


class ClassificationRule(StrictModel):
    """An admin's rule: events meeting every condition given are of ``kind``."""

    kind: MeetingKind
    name: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Shown as the reason of a classification; the name of a built-in rule "
        "replaces that rule in place.",
    )
    titles: list[TitlePattern] = Field(
        default_factory=list,
        description="Phrases matched case-insensitively on word boundaries ('jour fixe', "
        "'kunden*'), or 're:' and a regular expression. Any may match.",
    )
    not_titles: list[TitlePattern] = Field(
        default_factory=list, description="Phrases or re: expressions that must not match."
    )
    calendars: list[str] = Field(
        default_factory=list, description="Shell-style patterns on the calendar id."
    )
    sources: list[Identifier] = Field(default_factory=list, description="Calendar source names.")
    organizers: list[str] = Field(
        default_factory=list,
        description="Person ids or shell-style patterns on the organiser's e-mail.",
    )
    attendees: list[str] = Field(
        default_factory=list,
        description="Person ids or shell-style patterns on an attendee's e-mail (any attendee).",
    )
    event_types: list[str] = Field(
        default_factory=list, description="The calendar's own type: outOfOffice, focusTime ..."
    )
    all_day: bool | None = Field(default=None, description="Only all-day (or only timed) events.")
    holiday_calendar: bool | None = Field(
        default=None, description="Only events on (or off) a calendar of holiday_calendars."
    )

    @model_validator(mode="after")
    def _some_condition(self) -> ClassificationRule:
        conditions = ("titles", "calendars", "sources", "organizers", "attendees", "event_types")
        flags = (self.all_day, self.holiday_calendar)
        if not any(getattr(self, name) for name in conditions) and flags == (None, None):
            raise ValueError(
                "a rule needs at least one condition: titles, calendars, sources, organizers, "
                "attendees, event_types, all_day or holiday_calendar"
            )
        return self


class HolidayCalendar(StrictModel):
    """A calendar of public holidays and the people its holidays cover."""

    calendar: str = Field(min_length=1, description="Shell-style pattern on the calendar id.")
    titles: list[TitlePattern] = Field(
        default_factory=list,
        description="Only holidays whose title matches one of these phrases (a region's "
        "holidays in a shared calendar); empty: every holiday of the calendar.",
    )
    people: list[Identifier] = Field(
        default_factory=list, description="Person ids covered; with timezones, either suffices."
    )
    timezones: list[str] = Field(
        default_factory=list,
        description="Shell-style patterns on people's time zones ('Europe/*', 'Asia/Kolkata').",
    )


DEFAULT_HOLIDAY_CALENDARS: tuple[HolidayCalendar, ...] = tuple(
    HolidayCalendar(calendar=pattern)
    for pattern in (
        "*#holiday@*",
        "*holiday*",
        "*feiertag*",
        "*festivos*",
        "*feriados*",
        "*feestdagen*",
    )
)
"""Used when ``holiday_calendars`` is not set: Google's public holiday calendars
(``en.german#holiday@group.v.calendar.google.com``) and calendars named so,
covering everyone."""


def _workweek() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri"]


class MeetingSettings(StrictModel):
    """The ``meetings:`` section of ``pmsync.yaml``."""

    rules: list[ClassificationRule] = Field(
        default_factory=list,
        description="Checked in order before the built-in rules; the first match wins.",
    )
    builtin_rules: bool = Field(default=True, description="false: only your rules apply.")
    disable_builtin: list[str] = Field(
        default_factory=list, description="Names of built-in rules to skip."
    )
    holiday_calendars: list[HolidayCalendar] | None = Field(
        default=None,
        description="Calendars of public holidays, first match wins; "
        "not set: calendars named like '*holiday*' covering everyone.",
    )
    working_days: list[Weekday] = Field(
        default_factory=_workweek,
        min_length=1,
        description="Days a person's weekly_capacity_hours are spread over.",
    )

    def holiday_calendar_list(self) -> tuple[HolidayCalendar, ...]:
        """Return the configured holiday calendars, or the defaults when none are set."""
        if self.holiday_calendars is None:
            return DEFAULT_HOLIDAY_CALENDARS
        return tuple(self.holiday_calendars)


class CalendarLink(StrictModel):
    """A calendar whose events belong to a project."""

    calendar: str = Field(
        min_length=1, description="The calendar id (or a shell-style pattern on it)."
    )
    source: Identifier | None = Field(default=None, description="Only in this calendar source.")


def check_meeting_settings(
    meetings: MeetingSettings, people: Collection[str], builtin_names: Collection[str]
) -> Found:
    """Return unknown people and unknown built-in rule names in the ``meetings:`` section."""
    found: Found = []
    for index, name in enumerate(meetings.disable_builtin):
        if name not in builtin_names:
            found.append(
                (
                    ("meetings", "disable_builtin", index),
                    f"no built-in rule {name!r} (built-in rules: {', '.join(builtin_names)})",
                )
            )
    for index, calendar in enumerate(meetings.holiday_calendars or []):
        for position, person in enumerate(calendar.people):
            if person not in people:
                found.append(
                    (
                        ("meetings", "holiday_calendars", index, "people", position),
                        f"unknown person {person!r}",
                    )
                )
    return found


def check_project_calendars(
    calendars: list[CalendarLink],
    team: list[str],
    people: Collection[str] | None,
    sources: Collection[str],
) -> Found:
    """Return calendar links to unknown sources and team members who are not in ``people``."""
    found: Found = []
    for index, link in enumerate(calendars):
        if link.source is not None and link.source not in sources:
            found.append(
                (
                    ("calendars", index, "source"),
                    f"unknown source {link.source!r} "
                    f"(sources.yaml defines: {', '.join(sorted(sources)) or 'none'})",
                )
            )
    if people is not None:
        for index, person in enumerate(team):
            if person not in people:
                found.append((("team", index), f"unknown person {person!r}"))
    return found
