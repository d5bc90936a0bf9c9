"""The sandbox scenario: a whole outside world, with every timestamp explicit.

A scenario holds people, Jira projects and issues, GitHub repositories and
calendars. Each thing that changes over time is written as its state at
creation plus a ``history`` of timed changes (and an optional ``deleted_at``).
The sandbox shows the world *as of its clock*: a change whose time has not come
is invisible, so advancing the clock is what makes work progress, items move
and events get cancelled. The scenario file therefore contains its own future,
and the same file with the same clock always gives the same answers.

The format is documented in ``docs/sandbox.md``; ``pmsync sandbox generate``
writes realistic ones.
"""

from __future__ import annotations

import bisect
import gc
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

FORMAT_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Change(_Model):
    """A timed change: at ``at``, ``author`` set these fields to these values."""

    at: AwareDatetime
    author: str | None = None
    """A person id; None for a system change."""
    set: dict[str, Any]


class Timed(_Model):
    """Something with a creation time, a history of changes and maybe a deletion."""

    created: AwareDatetime
    history: list[Change] = Field(default_factory=list)
    deleted_at: AwareDatetime | None = None

    @field_validator("history")
    @classmethod
    def _chronological(cls, value: list[Change]) -> list[Change]:
        return sorted(value, key=lambda c: c.at)

    def visible_at(self, now: datetime) -> bool:
        """Tell whether it exists at ``now`` (created, not yet deleted)."""
        return self.created <= now and (self.deleted_at is None or self.deleted_at > now)

    def applied(self, now: datetime) -> list[Change]:
        """Return the changes that have happened by ``now``, oldest first."""
        times = [c.at for c in self.history]
        return self.history[: bisect.bisect_right(times, now)]

    def updated_at(self, now: datetime) -> datetime:
        """Return the time of the last change by ``now`` (the creation time if none)."""
        applied = self.applied(now)
        return applied[-1].at if applied else self.created

    def state_at(self, initial: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """Return ``initial`` with every change up to ``now`` applied."""
        state = dict(initial)
        for change in self.applied(now):
            state.update(change.set)
        return state


class Person(_Model):
    """A member of the scenario's world, known to each tool by its own login."""

    id: str
    name: str
    email: str
    time_zone: str = "UTC"
    role: str = "developer"
    jira_account_id: str | None = None
    """Jira Cloud accountId; defaults to a stable value derived from ``id``."""
    jira_email: str | None = None
    """The e-mail Jira shows, when it differs from ``email``."""
    github_login: str | None = None
    """Omitted: the person has no GitHub account."""

    def account_id(self) -> str:
        """Return the Jira accountId."""
        return self.jira_account_id or f"5f{abs(hash_id(self.id)):022x}"[:24]


def hash_id(text: str) -> int:
    """Return a stable (process-independent) integer hash of ``text``."""
    value = 1469598103934665603
    for byte in text.encode():
        value = ((value ^ byte) * 1099511628211) % (1 << 64)
    return value


# --- Jira ---------------------------------------------------------------------------


class JiraStatus(_Model):
    name: str
    category: Literal["new", "indeterminate", "done"]
    id: str


class JiraVersion(Timed):
    """A fix version; its history may set ``released``, ``release_date``, ``archived``."""

    id: str
    name: str
    description: str = ""
    start_date: date | None = None
    release_date: date | None = None
    released: bool = False
    archived: bool = False

    def fields_at(self, now: datetime) -> dict[str, Any]:
        """Return the version's fields as of ``now``."""
        initial = {
            "name": self.name,
            "description": self.description,
            "start_date": self.start_date,
            "release_date": self.release_date,
            "released": self.released,
            "archived": self.archived,
        }
        return self.state_at(initial, now)


class JiraProject(_Model):
    id: str
    key: str
    name: str
    lead: str
    versions: list[JiraVersion] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)


class JiraWorklog(Timed):
    """Time booked on an issue; history may change ``seconds`` or ``started``."""

    id: str
    author: str
    started: AwareDatetime
    seconds: int = Field(ge=0)
    comment: str = ""


class JiraIssue(Timed):
    """A Jira issue.

    ``fields`` at creation use these names: ``summary``, ``issuetype``,
    ``status``, ``priority``, ``assignee`` (person id), ``reporter``, ``labels``,
    ``components``, ``fix_versions`` (version ids), ``story_points``,
    ``original_estimate`` and ``remaining_estimate`` (seconds), ``due_date``
    (ISO date), ``parent`` (issue key), ``description``, ``resolution``. A change
    may also set ``key`` and ``project`` (the issue moved: new key, same id).
    """

    id: str
    key: str
    project: str
    fields: dict[str, Any]
    worklogs: list[JiraWorklog] = Field(default_factory=list)


class JiraWorld(_Model):
    statuses: list[JiraStatus] = Field(
        default_factory=lambda: [
            JiraStatus(name="To Do", category="new", id="10000"),
            JiraStatus(name="In Progress", category="indeterminate", id="3"),
            JiraStatus(name="In Review", category="indeterminate", id="10001"),
            JiraStatus(name="Blocked", category="indeterminate", id="10002"),
            JiraStatus(name="Done", category="done", id="10003"),
        ]
    )
    story_points_field: str = "customfield_10016"
    projects: list[JiraProject] = Field(default_factory=list)
    issues: list[JiraIssue] = Field(default_factory=list)


# --- GitHub -------------------------------------------------------------------------


class GitHubMilestone(Timed):
    """A milestone; history may set ``state``, ``due_on``, ``title``, ``description``."""

    number: int
    id: int
    title: str
    description: str = ""
    due_on: AwareDatetime | None = None
    state: Literal["open", "closed"] = "open"
    creator: str | None = None


class GitHubPullRef(_Model):
    head: str
    base: str = "main"
    draft: bool = False


class GitHubIssue(Timed):
    """An issue or, with ``pull_request`` set, a pull request.

    History may set ``state`` (open/closed), ``state_reason``, ``title``,
    ``body``, ``labels``, ``assignees``, ``milestone`` (number or None),
    ``merged`` (pull requests) and ``draft``.
    """

    number: int
    id: int
    title: str
    author: str
    body: str = ""
    state: Literal["open", "closed"] = "open"
    labels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list)
    milestone: int | None = None
    pull_request: GitHubPullRef | None = None


class GitHubCommit(_Model):
    sha: str
    branch: str = "main"
    message: str
    author: str
    authored_at: AwareDatetime
    committed_at: AwareDatetime
    parents: list[str] = Field(default_factory=list)


class GitHubRepository(_Model):
    id: int
    full_name: str
    description: str = ""
    private: bool = False
    default_branch: str = "main"
    created: AwareDatetime
    labels: list[str] = Field(default_factory=list)
    milestones: list[GitHubMilestone] = Field(default_factory=list)
    issues: list[GitHubIssue] = Field(default_factory=list)
    commits: list[GitHubCommit] = Field(default_factory=list)

    @property
    def owner(self) -> str:
        """Return the owner part of ``full_name``."""
        return self.full_name.split("/", 1)[0]


class GitHubWorld(_Model):
    repositories: list[GitHubRepository] = Field(default_factory=list)


# --- Calendar -----------------------------------------------------------------------


class CalendarEventSpec(Timed):
    """A calendar event.

    Timed events give ``start``/``end`` as aware datetimes plus ``time_zone`` (an
    IANA name, used for recurrence); all-day events give ``start_date``/``end_date``
    (end exclusive, as Google does). ``recurrence`` holds RFC 5545 lines. An
    exception to a recurring series is its own event with ``recurring_event_id``
    and ``original_start``. History may set ``summary``, ``description``,
    ``start``, ``end``, ``status`` (``cancelled``), ``attendees``, ``location``.
    """

    id: str
    summary: str
    description: str = ""
    location: str = ""
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    start_date: date | None = None
    end_date: date | None = None
    time_zone: str = "UTC"
    recurrence: list[str] = Field(default_factory=list)
    recurring_event_id: str | None = None
    original_start: AwareDatetime | date | None = None
    status: Literal["confirmed", "tentative", "cancelled"] = "confirmed"
    organizer: str
    attendees: list[str] = Field(default_factory=list)
    transparency: Literal["opaque", "transparent"] = "opaque"
    event_type: Literal["default", "outOfOffice", "focusTime", "workingLocation"] = "default"


class Calendar(_Model):
    id: str
    summary: str
    description: str = ""
    time_zone: str = "UTC"
    owner: str
    access_role: Literal["owner", "writer", "reader", "freeBusyReader"] = "reader"
    events: list[CalendarEventSpec] = Field(default_factory=list)


class CalendarWorld(_Model):
    calendars: list[Calendar] = Field(default_factory=list)


# --- The portfolio: how the tools' things belong together -------------------------


class ScenarioProject(_Model):
    """A project as its PM plans it, tying a Jira project, repositories and calendars.

    ``pmsync sandbox serve --config-out`` turns these into ``config/projects/*.yaml``.
    """

    key: str
    name: str
    manager: str
    sponsor: str
    jira_project: str | None = None
    github_repositories: list[str] = Field(default_factory=list)
    calendars: list[str] = Field(default_factory=list)
    start: date
    finish: date
    currency: str = "EUR"
    budget: float
    hourly_rates: dict[str, float] = Field(default_factory=dict)
    """Rate per role (``developer``, ``lead``...) in ``currency``."""


# --- The scenario -------------------------------------------------------------------


class Scenario(_Model):
    """A whole sandbox world; see ``docs/sandbox.md``."""

    version: int = FORMAT_VERSION
    name: str = "scenario"
    seed: int | None = None
    clock: AwareDatetime
    """The sandbox's simulated 'now' when it starts serving."""
    people: list[Person] = Field(default_factory=list)
    projects: list[ScenarioProject] = Field(default_factory=list)
    jira: JiraWorld = Field(default_factory=JiraWorld)
    github: GitHubWorld = Field(default_factory=GitHubWorld)
    calendar: CalendarWorld = Field(default_factory=CalendarWorld)

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(f"scenario format version {value} is not {FORMAT_VERSION}")
        return value

    def person(self, person_id: str) -> Person:
        """Return the person with ``person_id``; raise KeyError naming it."""
        for person in self.people:
            if person.id == person_id:
                return person
        raise KeyError(f"scenario has no person {person_id!r}")

    def people_by_id(self) -> dict[str, Person]:
        """Return people keyed by id."""
        return {p.id: p for p in self.people}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic objects are made.

    A scenario of 100,000 issues is millions of small dicts, lists and models;
    each collection would rescan all of them for nothing, which made loading
    such a file take 30-45 s instead of about 5.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario from a ``.json`` or ``.yaml`` file."""
    with paused_gc():
        if path.suffix == ".json":
            data = orjson.loads(path.read_bytes())
        else:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Scenario.model_validate(data)


def dump_scenario(scenario: Scenario, path: Path) -> None:
    """Write ``scenario`` as JSON (``.json``) or YAML, byte-identical for equal input."""
    with paused_gc():
        data = scenario.model_dump(mode="json", exclude_defaults=False)
        if path.suffix == ".json":
            path.write_bytes(_json_bytes(data) + b"\n")
        else:
            path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


def _json_bytes(data: Any) -> bytes:
    """Return compact UTF-8 JSON, as ``json.dumps(ensure_ascii=False)`` writes it, only faster."""
    try:
        return orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        return text.encode("utf-8")


def iter_timed(items: Iterable[Timed], now: datetime) -> Iterator[Timed]:
    """Yield the items that exist at ``now``."""
    return (item for item in items if item.visible_at(now))
