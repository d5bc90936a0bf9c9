"""Unified records: what a connector yields, whatever its source.

Records are plain frozen dataclasses. Connectors import them; the store maps them
onto tables; nothing here knows about HTTP or the database. Every timestamp is an
aware UTC ``datetime`` (``ensure_utc`` raises on naive ones, so a connector that
forgets a time zone fails loudly instead of shifting data by hours).

A record's identity within a source is ``(kind, external_id)``; the sync engine
adds the source. ``raw`` keeps the source payload where re-mapping without
re-fetching is useful.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any, ClassVar, Literal

StatusCategory = Literal["todo", "in_progress", "done"]
STATUS_CATEGORIES: tuple[StatusCategory, ...] = ("todo", "in_progress", "done")

JSON = Any
"""A JSON-serialisable value (dict, list, str, int, float, bool or None)."""


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC; refuse naive datetimes."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (records need aware UTC times)")
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else ensure_utc(value)


@dataclass(frozen=True, slots=True)
class PersonRef:
    """Who did something, as one tool knows them (matched to a person later)."""

    login: str
    """The tool's stable account id or login (Jira accountId / name, GitHub login, e-mail)."""
    display_name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """Base of every unified record."""

    kind: ClassVar[str] = "record"
    external_id: str


@dataclass(frozen=True, slots=True)
class WorkItem(Record):
    """An issue, story, task, bug or pull request as a unit of work."""

    kind: ClassVar[str] = "work_item"
    key: str
    """Human key: ``PAY-12`` for Jira, ``org/repo#12`` for GitHub."""
    title: str
    container: str
    """Where it lives in the source: Jira project key, GitHub ``owner/repo``."""
    item_type: str
    status: str
    """The raw status name as the source shows it."""
    status_category: StatusCategory
    created_at: datetime
    updated_at: datetime
    url: str | None = None
    resolved_at: datetime | None = None
    due_date: date | None = None
    priority: str | None = None
    assignee: PersonRef | None = None
    reporter: PersonRef | None = None
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    parent_key: str | None = None
    epic_key: str | None = None
    milestones: tuple[str, ...] = ()
    """Source milestone ids (Jira fix version ids, GitHub milestone numbers as ``repo#n``)."""
    story_points: float | None = None
    original_estimate_seconds: int | None = None
    remaining_estimate_seconds: int | None = None
    time_spent_seconds: int | None = None
    is_pull_request: bool = False
    custom: Mapping[str, JSON] = field(default_factory=dict)
    raw: Mapping[str, JSON] | None = None

    def __post_init__(self) -> None:
        if self.status_category not in STATUS_CATEGORIES:
            raise ValueError(f"status_category {self.status_category!r} not in {STATUS_CATEGORIES}")
        object.__setattr__(self, "created_at", ensure_utc(self.created_at))
        object.__setattr__(self, "updated_at", ensure_utc(self.updated_at))
        object.__setattr__(self, "resolved_at", _utc_or_none(self.resolved_at))


@dataclass(frozen=True, slots=True)
class WorkItemChange(Record):
    """One field change in a work item's history (status, estimate, assignee, milestone)."""

    kind: ClassVar[str] = "work_item_change"
    item_external_id: str
    at: datetime
    field: str
    from_value: str | None
    to_value: str | None
    author: PersonRef | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", ensure_utc(self.at))


@dataclass(frozen=True, slots=True)
class Worklog(Record):
    """Time booked against a work item."""

    kind: ClassVar[str] = "worklog"
    item_external_id: str
    author: PersonRef
    started_at: datetime
    seconds: int
    updated_at: datetime
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"worklog {self.external_id}: negative time spent {self.seconds}")
        object.__setattr__(self, "started_at", ensure_utc(self.started_at))
        object.__setattr__(self, "updated_at", ensure_utc(self.updated_at))


@dataclass(frozen=True, slots=True)
class SourceMilestone(Record):
    """A milestone as a tool knows it: a Jira fix version, a GitHub milestone."""

    kind: ClassVar[str] = "source_milestone"
    name: str
    container: str
    due_date: date | None = None
    """The planned date (Jira releaseDate, GitHub due_on): never replaced by a close date."""
    state: Literal["open", "closed"] = "open"
    closed_at: datetime | None = None
    archived: bool = False
    description: str | None = None
    url: str | None = None
    open_items: int | None = None
    closed_items: int | None = None
    raw: Mapping[str, JSON] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "closed_at", _utc_or_none(self.closed_at))


@dataclass(frozen=True, slots=True)
class Commit(Record):
    """A commit on a tracked branch; ``external_id`` is the repository and sha."""

    kind: ClassVar[str] = "commit"
    sha: str
    repository: str
    message: str
    authored_at: datetime
    committed_at: datetime
    author: PersonRef | None = None
    branch: str | None = None
    """The tracked branch it was listed on; None when the source lists the default branch."""
    url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "authored_at", ensure_utc(self.authored_at))
        object.__setattr__(self, "committed_at", ensure_utc(self.committed_at))


@dataclass(frozen=True, slots=True)
class PullRequest(Record):
    """A pull request with its merge state."""

    kind: ClassVar[str] = "pull_request"
    number: int
    repository: str
    title: str
    state: Literal["open", "closed"]
    created_at: datetime
    updated_at: datetime
    merged: bool = False
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    draft: bool = False
    head_ref: str | None = None
    base_ref: str | None = None
    author: PersonRef | None = None
    milestone: str | None = None
    url: str | None = None
    body: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", ensure_utc(self.created_at))
        object.__setattr__(self, "updated_at", ensure_utc(self.updated_at))
        object.__setattr__(self, "merged_at", _utc_or_none(self.merged_at))
        object.__setattr__(self, "closed_at", _utc_or_none(self.closed_at))


@dataclass(frozen=True, slots=True)
class CalendarEvent(Record):
    """One calendar event occurrence; ``external_id`` is ``calendar_id/event_id``."""

    kind: ClassVar[str] = "calendar_event"
    calendar_id: str
    title: str
    start: datetime
    end: datetime
    updated_at: datetime
    all_day: bool = False
    status: Literal["confirmed", "tentative", "cancelled"] = "confirmed"
    organizer: PersonRef | None = None
    attendees: tuple[PersonRef, ...] = ()
    description: str | None = None
    location: str | None = None
    recurring_event_id: str | None = None
    url: str | None = None
    event_type: str = "default"
    """``default``, or what the calendar knows it to be: ``outOfOffice``, ``focusTime``..."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ensure_utc(self.start))
        object.__setattr__(self, "end", ensure_utc(self.end))
        object.__setattr__(self, "updated_at", ensure_utc(self.updated_at))


@dataclass(frozen=True, slots=True)
class Deletion(Record):
    """A tombstone: the source no longer has this record."""

    kind: ClassVar[str] = "deletion"
    record_kind: str
    """The ``kind`` of the deleted record (``work_item``, ``worklog``, ...)."""


@dataclass(frozen=True, slots=True)
class Quarantined(Record):
    """A payload that could not be mapped: kept with its reason, never dropped."""

    kind: ClassVar[str] = "quarantined"
    record_kind: str
    reason: str
    payload: JSON = None


RECORD_TYPES: tuple[type[Record], ...] = (
    WorkItem,
    WorkItemChange,
    Worklog,
    SourceMilestone,
    Commit,
    PullRequest,
    CalendarEvent,
    Deletion,
    Quarantined,
)


@dataclass(frozen=True, slots=True)
class Page:
    """A batch of records and the cursor that is valid once they are stored.

    ``cursor`` is a JSON-serialisable mapping owned by the connector; the engine
    stores it with the records in one transaction and hands it back on the next
    pull. ``None`` keeps the previous cursor. ``complete_ids`` is set by a full
    pull on its last page: for each record kind, every external id the source
    still has, so the engine can reconcile deletions. Any set of strings will
    do; ``pmsync.ids.ExternalIds`` holds a large one in a tenth of the memory.
    """

    records: Sequence[Record]
    cursor: Mapping[str, JSON] | None = None
    complete_ids: Mapping[str, Set[str]] | None = None
    scope: str | None = None
    """What ``complete_ids`` covers (e.g. one calendar or repository); None is the whole stream."""
    complete_after: datetime | None = None
    """For time-windowed sources: ``complete_ids`` covers only records from this time on
    (calendar events starting then or later), so history before a sliding window is kept."""
    skipped: str | None = None
    """Set when the source refused ``scope`` this pass (a repository gone, a branch deleted,
    a calendar no longer shared): why. Such a page has no records and no cursor; the
    engine reports the scope and the stream goes on with the next one
    (``pmsync.connectors.skip_refused``)."""


# --- pickling --------------------------------------------------------------------------------
# Pages cross from a pull worker to the writer pickled (``pmsync.pull_workers``). A frozen
# slotted dataclass pickles through ``dataclasses``' own ``__getstate__``/``__setstate__``,
# which walk ``fields()`` in Python for every record: 9.9 µs to dump and 10.3 µs to load a
# GitHub issue. Values read by one ``attrgetter`` and set back slot by slot: 4.3 and 8.2 µs.
# No ``__post_init__`` runs on loading: the values were checked when the record was made.

_SLOTS: dict[type, tuple[str, ...]] = {}
_VALUES: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _SLOTS.get(cls)
    if names is None:  # a subclass defined elsewhere: learnt on first use
        names = _SLOTS[cls] = tuple(f.name for f in fields(cls))
    return names


def _restore(cls: type, values: tuple[Any, ...]) -> Any:
    """Rebuild a record pickled by ``_reduce`` (its slots set as a frozen class allows)."""
    obj: Any = object.__new__(cls)
    for name, value in zip(_names(cls), values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


def _reduce(self: Any) -> tuple[Any, ...]:
    cls = type(self)
    values = _VALUES.get(cls)
    if values is None:
        names = _names(cls)
        getter = attrgetter(*names)
        if len(names) == 1:  # one name: attrgetter returns the value, not a tuple

            def values(obj: Any) -> tuple[Any, ...]:
                return (getter(obj),)

        else:
            values = getter
        _VALUES[cls] = values
    return _restore, (cls, values(self))


for _cls in (PersonRef, *RECORD_TYPES, Page):
    _cls.__reduce__ = _reduce  # type: ignore[assignment, method-assign]
