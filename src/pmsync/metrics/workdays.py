"""Working days: the calendar every duration in the metrics is counted in.

A plan spread over calendar days earns value on Sundays and a forecast that
counts them finishes on a Saturday; PMs plan in working days, so every
duration here is counted in them unless a caller asks for calendar days
(``CALENDAR_DAYS``). numpy's business-day functions count and step whole
arrays of dates at once, which is what keeps the metrics free of Python loops
over items. Dates are plain ``datetime.date`` values (days have no time zone);
timestamps are turned into days in UTC by ``days_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from pmsync.metrics.inputs import MetricInputError

Days = npt.NDArray[np.datetime64]
"""An array of ``datetime64[D]`` days."""


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Which days are worked: a week mask (Monday first) and public holidays."""

    weekmask: str = "1111100"
    holidays: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        if len(self.weekmask) != 7 or set(self.weekmask) - {"0", "1"} or "1" not in self.weekmask:
            raise MetricInputError(
                f"a week mask is seven 0/1 flags from Monday with at least one 1, "
                f"not {self.weekmask!r}"
            )

    @property
    def numpy(self) -> np.busdaycalendar:
        """Return the numpy business-day calendar for this week mask and holidays."""
        return _busdaycalendar(self.weekmask, self.holidays)

    def count(self, begin: Any, end: Any) -> npt.NDArray[np.int64]:
        """Return the working days in ``[begin, end)``, elementwise (negative if end < begin)."""
        return np.busday_count(as_days(begin), as_days(end), busdaycal=self.numpy)

    def is_working(self, days: Any) -> npt.NDArray[np.bool_]:
        """Return whether each day is a working day."""
        return np.is_busday(as_days(days), busdaycal=self.numpy)

    def add(self, day: Any, working_days: Any) -> Days:
        """Return the day ``working_days`` working days after ``day`` (rolled forward first)."""
        return np.busday_offset(
            as_days(day), np.asarray(working_days), roll="forward", busdaycal=self.numpy
        )

    def after(self, day: Any, working_days: Any) -> Days:
        """Return the ``n``-th working day after ``day`` (n = 1 is the next one), elementwise."""
        return np.busday_offset(
            as_days(day), np.asarray(working_days), roll="backward", busdaycal=self.numpy
        )

    def first_of_last(self, day: Any, n: int) -> Days:
        """Return the first of the last ``n`` working days up to and including ``day``."""
        return np.busday_offset(as_days(day), -(n - 1), roll="backward", busdaycal=self.numpy)


CALENDAR_DAYS = WorkingCalendar(weekmask="1111111")
"""Every day is a working day: durations in calendar days."""


@lru_cache(maxsize=64)
def _busdaycalendar(weekmask: str, holidays: tuple[date, ...]) -> np.busdaycalendar:
    return np.busdaycalendar(weekmask=weekmask, holidays=list(holidays))


def as_days(values: Any) -> Days:
    """Return ``values`` (a date, dates, or a datetime64 array) as ``datetime64[D]``."""
    if isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[D]")
    if isinstance(values, datetime):
        raise MetricInputError(f"expected a date, not the timestamp {values.isoformat()}")
    return np.asarray(values, dtype="datetime64[D]")


def to_date(day: Any) -> date:
    """Return a numpy day (a scalar or 0-d array) as a ``datetime.date``."""
    value = np.asarray(day).astype("datetime64[D]").item()
    assert isinstance(value, date), f"not a day: {day!r}"
    return value


def dates_of(days: Days) -> tuple[date, ...]:
    """Return an array of days as a tuple of ``datetime.date``."""
    return tuple(days.astype("datetime64[D]").astype(object))


def timestamps_of(values: Sequence[datetime] | npt.NDArray[Any]) -> npt.NDArray[np.datetime64]:
    """Return aware timestamps (or a UTC datetime64 array) as ``datetime64[s]`` in UTC.

    A numpy array is taken to be UTC already, which is how the store hands
    large histories over; Python datetimes must be aware, so that a naive
    local time never slips in as if it were UTC.
    """
    if isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[s]")
    naive = [v for v in values if v.tzinfo is None or v.utcoffset() is None]
    if naive:
        raise MetricInputError(
            f"timestamps must be aware (UTC); {len(naive)} are naive, e.g. {naive[0].isoformat()}"
        )
    return np.array([v.astimezone(UTC).replace(tzinfo=None) for v in values], dtype="datetime64[s]")


def days_of(timestamps: npt.NDArray[np.datetime64]) -> Days:
    """Return the UTC day of each timestamp."""
    return timestamps.astype("datetime64[D]")


def monday_of(days: Days) -> Days:
    """Return the Monday that starts each day's ISO week."""
    # 1970-01-01 was a Thursday, so day 0 of the epoch is 3 days after a Monday.
    number = days.astype("datetime64[D]").astype(np.int64)
    return (number - (number + 3) % 7).astype("datetime64[D]")


def date_range(first: date, last: date) -> Days:
    """Return every calendar day from ``first`` to ``last`` inclusive."""
    return np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
