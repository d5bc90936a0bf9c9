"""Small value types shared by every config file: durations, dates, cron, zones.

They live in one place so that ``interval: 15m`` means the same thing in
``sources.yaml`` as in ``pmsync.yaml``, every file rejects the same typos, and
the JSON Schema an editor uses describes each value the same way. Every model
forbids unknown keys: a misspelt key is an error, never silently ignored.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

StatusCategory = Literal["todo", "in_progress", "done"]
Severity = Literal["info", "warning", "critical"]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors; values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- durations ------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[wdhms]\s*)+$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> timedelta:
    """Parse ``90s``, ``15m``, ``1h30m``, ``1d``, ``2w`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 1h, 1d or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return timedelta(seconds=float(text))
        if _DURATION.match(text):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
            return timedelta(seconds=seconds)
    raise ValueError(
        f"{value!r} is not a duration: use 90s, 15m, 1h, 1h30m, 1d, 2w or a number of seconds"
    )


def format_duration(value: timedelta) -> str:
    """Return ``value`` in the shortest unit form that round-trips (``15m``, ``1h30m``)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*[wdhms]\s*)+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: 90s, 15m, 1h, 1h30m, 1d, 2w, or a number of seconds.",
        }
    ),
]
"""A duration: ``90s``, ``15m``, ``1h``, ``1d``, ``2w``, combinations, or seconds."""


# --- dates ------------------------------------------------------------------------


def _iso_date(value: Any) -> date:
    # pydantic's lax date mode would take 20250101 as a Unix timestamp: be explicit.
    if isinstance(value, datetime):
        raise ValueError("expected a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as err:
            raise ValueError(f"{value!r} is not a valid ISO date (YYYY-MM-DD): {err}") from err
    raise ValueError(f"expected an ISO date (YYYY-MM-DD), got {type(value).__name__}")


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "description": "An ISO date."}),
]


class MonthDay(StrictModel):
    """A day of the year without a year (the first day of the fiscal year)."""

    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)

    @model_validator(mode="after")
    def _real_day(self) -> MonthDay:
        # February 29 is refused too: a fiscal year must start on the same day every year.
        try:
            date(2023, self.month, self.day)
        except ValueError as err:
            raise ValueError(f"month {self.month} has no day {self.day}") from err
        return self


# --- cron, time zones, e-mail, identifiers ------------------------------------------


def _check_cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger  # the scheduler that will run it

    value = " ".join(value.split())
    if len(value.split(" ")) != 5:
        raise ValueError(
            f"{value!r} is not a cron expression: five fields expected "
            "(minute hour day-of-month month day-of-week), e.g. '0 8 * * mon'"
        )
    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as err:
        raise ValueError(f"{value!r} is not a valid cron expression: {err}") from err
    return value


CronExpression = Annotated[
    str,
    AfterValidator(_check_cron),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A five-field cron expression (minute hour day month weekday).",
            "examples": ["0 8 * * mon", "*/15 * * * *"],
        }
    ),
]


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
        ) from err
    return value


TimeZoneName = Annotated[
    str,
    AfterValidator(_check_zone),
    WithJsonSchema({"type": "string", "description": "An IANA time zone, e.g. Europe/Berlin."}),
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


Email = Annotated[
    str,
    AfterValidator(_check_email),
    WithJsonSchema({"type": "string", "format": "email"}),
]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)]
"""A name used to refer to something elsewhere in the config (person id, source name)."""

Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]
"""A non-negative amount in the project's currency."""

Probability = Annotated[float, Field(ge=0, le=1)]
