"""Classify every stored calendar event and link it to its project and its people.

Runs after every sync, after ``link_people`` (identities must be linked first
for attendees to become people) and after the plan refresh (``pmsync.plan``
stores the project rows; a configured project without one is not linked to yet).
It classifies from the stored events and the current configuration, so a new
rule or a new calendar link applies to past events too, and it writes only the
rows whose result changed. Each event keeps the *fingerprint* of everything
else linking read when it was classified (``calendar_event.link_state``: the
meeting rules, the projects and their rows, the people and the identities
linked to them); the record upsert resets it when the event changes. So a
pass reads only the events written since the last one while the fingerprint
holds, and every live event when it differs. Running it twice reads nothing
the second time.

A meeting is linked to a project by, in order:

1. **calendar**: the event is on a calendar in exactly one project's ``calendars``;
2. **title**: among those projects (all, when no calendar decided), exactly one
   whose key (as a word, case-sensitive), name, ``meeting_titles`` or cadence
   ``title_patterns`` occur in the title;
3. **attendees**: among those, the one project with the most of its team
   (manager, sponsor, ``team``, deliverable owners and RACI, rate card people)
   among the organiser and attendees, at least two, strictly more than any other.

Leave and public holidays are not linked to projects: they belong to people.
Who is away is the owner of the calendar (a calendar id that is a person's
e-mail); else the configured people named in the title who are also its
organiser or attendees (namesakes are told apart so); else the attendees other
than the organiser; else the people named in the title; else the organiser.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, true, update
from sqlalchemy.orm import Session

from pmsync import model
from pmsync.config.projects import Project
from pmsync.connectors import Clock, utc_now
from pmsync.meetings.classify import (
    MEMORY,
    Classifier,
    EventFacts,
    TitleMatcher,
    build_classifier,
    glob,
    normalize,
    phrase_pieces,
)
from pmsync.upsert import among, chunked, upsert_rows

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.store import Store

PERSONAL_KINDS = frozenset({"leave", "public_holiday"})
"""Kinds that concern people, not projects."""
UPDATE_BATCH = 1000
READ_BATCH = 1000
"""Events read, linked and written at a time. A batch's rows, attendee lists and
changes are what linking holds: 5,000 at a time added 13 MB to a 1M-item sync's
peak, 1,000 add 3 MB and link the 36,779 events of its first pass as fast (1.98-2.00 s
against 2.08 s; docs/benchmarks.md, section 4)."""
LINKING_VERSION = "1"
"""Part of the fingerprint: a pmsync that links events differently links them all again."""


@dataclass(frozen=True)
class MeetingLinkResult:
    """What one ``link_meetings`` pass found and changed, over the events it read."""

    events: int
    """Events classified: those written since the last pass, or all when its fingerprint differs."""
    changed: int
    by_kind: dict[str, int] = field(default_factory=dict)
    by_project: dict[str, int] = field(default_factory=dict)
    unlinked_meetings: int = 0
    """Events that are neither leave nor holidays and belong to no project."""


def project_team(project: Project) -> set[str]:
    """Return the person ids on a project: manager, sponsor, team, owners, RACI, rate card."""
    team = {p for p in (project.manager, project.sponsor) if p}
    team.update(project.team)
    team.update(entry.person for entry in project.rate_card if entry.person)
    for node in project.all_deliverables():
        if node.owner:
            team.add(node.owner)
        if node.raci is not None:
            raci = node.raci
            team.update([*raci.responsible, *raci.consulted, *raci.informed])
            if raci.accountable:
                team.add(raci.accountable)
    return team


@dataclass(frozen=True)
class _ProjectSignals:
    key: str
    id: int
    calendars: tuple[tuple[str | None, str], ...]
    key_pattern: re.Pattern[str]
    titles: TitleMatcher
    globs: tuple[str, ...]
    team: frozenset[int]

    def has_calendar(self, source: str, calendar_id: str) -> bool:
        return any(
            (wanted is None or wanted == source) and glob(calendar_id, (pattern,))
            for wanted, pattern in self.calendars
        )

    def has_title(self, title: str) -> bool:
        if self.key_pattern.search(title) or self.titles.search(title):
            return True
        folded = title.casefold()
        return any(fnmatch.fnmatchcase(folded, pattern) for pattern in self.globs)


class _People:
    """Who is who: identities, e-mails and configured names, as ``person.id``."""

    def __init__(self, s: Session, config: Config) -> None:
        self.by_identity = {
            (source_id, login): person_id
            for source_id, login, person_id in s.execute(
                select(model.Identity.source_id, model.Identity.login, model.Identity.person_id)
            )
            if person_id is not None
        }
        self.by_email: dict[str, int] = {}
        self.by_key: dict[str, int] = {}
        for person_id, key, email in s.execute(
            select(model.Person.id, model.Person.key, model.Person.email)
        ):
            if email:
                self.by_email.setdefault(email.lower(), person_id)
            if key:
                self.by_key[key] = person_id
        self.key_of = {person_id: key for key, person_id in self.by_key.items()}
        self.names = _Names(
            (p.name, self.by_key[p.id])
            for p in config.settings.people
            if p.id in self.by_key and p.name.strip()
        )

    def of(self, source_id: int, login: str | None) -> int | None:
        if not login:
            return None
        found = self.by_identity.get((source_id, login))
        return found if found is not None else self.by_email.get(login.lower())

    def named_in(self, title: str) -> list[int]:
        return self.names.named_in(title)


_GRAM = 3
"""Letters a name is filed under (``_Names``)."""


@dataclass(slots=True)
class _Name:
    position: int
    person_id: int
    name: str
    pieces: tuple[str, ...]
    matcher: TitleMatcher | None = None


class _Names:
    """The configured people's names, found in a title without trying every name on it.

    A leave title names its person ("Annual leave — Anna Müller"). Trying each
    of thousands of people's names on each of thousands of titles was the
    linking's whole cost, and each name's matcher remembered every title it
    was tried on. A name's phrase can only match a title whose folded text
    holds every piece of it (``phrase_pieces``), so each name is filed under
    the first letters of its rarest piece and only the names filed under a
    run of the title's own letters, with every piece in the title, are tried.
    Names with no piece that long, and ``re:`` names, are tried on every
    title. The answers are remembered by title: every "Out of office" of a
    company shares one.
    """

    def __init__(self, names: Iterable[tuple[str, int]]) -> None:
        self._filed: dict[str, list[_Name]] = {}
        self._everywhere: list[_Name] = []
        self._found: dict[str, tuple[int, ...]] = {}
        entries = [
            _Name(position, person_id, name, () if name.startswith("re:") else phrase_pieces(name))
            for position, (name, person_id) in enumerate(names)
        ]
        shared = Counter(piece for entry in entries for piece in set(entry.pieces))
        for entry in entries:
            # filed under its rarest piece: "Developer 12" under "12", not beside every developer
            long_enough = [piece for piece in entry.pieces if len(piece) >= _GRAM]
            if long_enough:
                piece = min(long_enough, key=lambda p: (shared[p], -len(p)))
                self._filed.setdefault(piece[:_GRAM], []).append(entry)
            else:
                self._everywhere.append(entry)

    def named_in(self, title: str) -> list[int]:
        """Return the people named in ``title``, in the order of the configuration."""
        found = self._found.get(title)
        if found is None:
            found = tuple(
                entry.person_id for entry in self._candidates(title) if self._names(entry, title)
            )
            if len(self._found) < MEMORY:
                self._found[title] = found
        return list(found)  # the caller's own: what is remembered stays as it was

    def _candidates(self, title: str) -> list[_Name]:
        folded = normalize(title)
        filed = self._filed
        grams = {folded[i : i + _GRAM] for i in range(len(folded) - _GRAM + 1)}
        chosen = [
            entry
            for gram in grams & filed.keys()
            for entry in filed[gram]
            if all(piece in folded for piece in entry.pieces)
        ]
        chosen.extend(self._everywhere)
        chosen.sort(key=lambda entry: entry.position)
        return chosen

    @staticmethod
    def _names(entry: _Name, title: str) -> bool:
        if entry.matcher is None:  # compiled when first needed: most names never are
            entry.matcher = TitleMatcher.of([entry.name])
        return entry.matcher.matches(title)


def _project_ids(s: Session, config: Config) -> dict[str, int]:
    """Return the ids of the configured projects that ``pmsync.plan`` has stored."""
    rows = s.execute(
        select(model.Project.key, model.Project.id).where(
            model.Project.key.in_(list(config.projects))
        )
    )
    return {key: id_ for key, id_ in rows}


def _signals(project: Project, project_id: int, people: _People) -> _ProjectSignals:
    key = re.escape(project.key)
    return _ProjectSignals(
        key=project.key,
        id=project_id,
        calendars=tuple((link.source, link.calendar) for link in project.calendars),
        key_pattern=re.compile(rf"(?<![^\W_]){key}(?![^\W_])"),
        titles=TitleMatcher.of([project.name, *project.meeting_titles]),
        globs=tuple(p.casefold() for cadence in project.meetings for p in cadence.title_patterns),
        team=frozenset(people.by_key[p] for p in project_team(project) if p in people.by_key),
    )


class _ProjectFinder:
    """Calendar, then title, then attendees; the first two remembered per calendar and title."""

    def __init__(self, projects: Sequence[_ProjectSignals]) -> None:
        self.projects = list(projects)
        self._by_title: dict[tuple[str, str, str], tuple[_ProjectSignals, ...] | str] = {}

    def _narrowed(
        self, source: str, calendar_id: str, title: str
    ) -> tuple[_ProjectSignals, ...] | str:
        key = (source, calendar_id, title)
        found = self._by_title.get(key)
        if found is None:
            pool = [p for p in self.projects if p.has_calendar(source, calendar_id)]
            if len(pool) == 1:
                found = f"calendar:{pool[0].id}"
            else:
                pool = pool or self.projects
                titled = [p for p in pool if p.has_title(title)]
                found = f"title:{titled[0].id}" if len(titled) == 1 else tuple(titled or pool)
            if len(self._by_title) < 100_000:
                self._by_title[key] = found
        return found

    def find(
        self, source: str, calendar_id: str, title: str, attendees: Iterable[int]
    ) -> tuple[int | None, str | None]:
        """Return the project id an event belongs to and how that was decided."""
        found = self._narrowed(source, calendar_id, title)
        if isinstance(found, str):
            how, project_id = found.split(":")
            return int(project_id), how
        present = set(attendees)
        counts = sorted(((len(present & p.team), p.id) for p in found), reverse=True)
        if counts and counts[0][0] >= 2 and (len(counts) == 1 or counts[1][0] < counts[0][0]):
            return counts[0][1], "attendees"
        return None, None


def _away(
    people: _People, calendar_id: str, title: str, organizer: int | None, attendees: list[int]
) -> list[int]:
    owner = people.by_email.get(calendar_id.lower())
    if owner is not None:
        return [owner]
    named = people.named_in(title)
    present = {organizer, *attendees}
    if any(p in present for p in named):  # namesakes: the one who is there
        return [p for p in named if p in present]
    others = [p for p in attendees if p != organizer]
    if others:
        return others
    if named:
        return named
    return [organizer] if organizer is not None else []


_Link = tuple[str, str | None, int | None, str | None, list[int], list[int]]
"""What linking decides for an event: kind, rule, project id, how found, people, people away."""


class _Linker:
    """Classifies one event and finds its project and people, as configured."""

    def __init__(self, s: Session, config: Config) -> None:
        self.settings = config.settings.meetings
        project_ids = _project_ids(s, config)
        self.people = _People(s, config)
        projects = [
            _signals(p, project_ids[k], self.people)
            for k, p in config.projects.items()
            if k in project_ids
        ]
        self.finder = _ProjectFinder(projects)
        self.keys = {p.id: p.key for p in projects}
        self.sources = {i: n for i, n in s.execute(select(model.Source.id, model.Source.name))}

    @cached_property
    def classifier(self) -> Classifier:
        """The meeting rules, compiled when a pass has an event to classify (0.1 s)."""
        return build_classifier(self.settings)

    def link(self, row: Any) -> _Link:
        """Return what linking decides for one event row (the columns of ``_live_events``)."""
        people = self.people
        organizer = people.of(row.source_id, row.organizer_login)
        attendees = [
            p for p in (people.of(row.source_id, a) for a in row.attendee_logins or []) if p
        ]
        present = list(dict.fromkeys([p for p in (organizer, *attendees) if p is not None]))
        facts = EventFacts(
            title=row.title,
            calendar_id=row.calendar_id,
            source=self.sources.get(row.source_id, ""),
            event_type=row.event_type,
            all_day=row.all_day,
            organizer=row.organizer_login,
            attendees=tuple(row.attendee_logins or ()),
            organizer_person=people.key_of.get(organizer) if organizer else None,
            attendee_people=tuple(k for p in attendees if (k := people.key_of.get(p))),
        )
        found = self.classifier.classify(facts)
        project_id: int | None = None
        link: str | None = None
        away: list[int] = []
        if found.kind in PERSONAL_KINDS:
            personal = found.kind == "leave" or not self.classifier.on_holiday_calendar(
                row.calendar_id
            )
            if personal:
                away = _away(people, row.calendar_id, row.title, organizer, attendees)
        else:
            project_id, link = self.finder.find(facts.source, row.calendar_id, row.title, present)
        return found.kind, found.rule, project_id, link, present, away


def _live_events(s: Session, everything: bool) -> Iterable[Sequence[Any]]:
    """Yield the live events with what linking reads, ``READ_BATCH`` at a time in id order.

    Only the unlinked ones (``link_state`` NULL, found through their partial
    index) unless ``everything``.

    One batch is read, classified and written before the next is read, so a
    calendar of any size costs the memory of one batch (reading them all at once
    held 36 MB at 48,000 events).
    """
    event = model.table_of(model.CalendarEvent).c
    columns = (
        event.id,
        event.source_id,
        event.calendar_id,
        event.title,
        event.event_type,
        event.all_day,
        event.organizer_login,
        event.attendee_logins,
        event.meeting_kind,
        event.meeting_rule,
        event.project_id,
        event.project_link,
        event.person_ids,
        event.away_person_ids,
    )
    last = 0
    while True:
        rows = (
            s.connection()
            .execute(
                select(*columns)
                .where(
                    event.deleted_at.is_(None),
                    event.id > last,
                    true() if everything else event.link_state.is_(None),
                )
                .order_by(event.id)
                .limit(READ_BATCH)
            )
            .all()
        )
        if not rows:
            return
        yield rows
        last = rows[-1].id


FINGERPRINT = "meeting_fingerprint"
"""The ``plan_state`` name of the fingerprint the last linking pass classified events with."""


def _fingerprint(config: Config, linker: _Linker) -> str:
    """Return a digest of everything besides an event's own row that decides its links."""
    people = linker.people
    parts = {
        "version": LINKING_VERSION,
        "meetings": config.settings.meetings.model_dump(mode="json"),
        "people": [p.model_dump(mode="json") for p in config.settings.people],
        "projects": {key: p.model_dump(mode="json") for key, p in config.projects.items()},
        "project_rows": sorted(linker.keys.items()),
        "sources": sorted(linker.sources.items()),
        "identities": sorted(people.by_identity.items()),
        "emails": sorted(people.by_email.items()),
        "person_rows": sorted(people.by_key.items()),
    }
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def link_meetings(store: Store, config: Config, now: Clock = utc_now) -> MeetingLinkResult:
    """Classify the calendar events not yet linked and link them to a project and to people.

    Every live event when what linking reads besides the event (its
    fingerprint) changed since the last pass. ``now`` is the sync's clock,
    taken like every step of a sync takes it; classification and linking do not
    depend on the time.
    """
    by_kind: Counter[str] = Counter()
    by_project: Counter[str] = Counter()
    unlinked = total = changed = 0
    event = model.table_of(model.CalendarEvent)
    state = model.table_of(model.PlanState)
    with store.session() as s:
        linker = _Linker(s, config)
        current = _fingerprint(config, linker)
        last = s.scalar(select(state.c.value).where(state.c.name == FINGERPRINT))
        for rows in _live_events(s, everything=last != current):
            changes: list[dict[str, Any]] = []
            for row in rows:
                total += 1
                kind, rule, project_id, link, present, away = new = linker.link(row)
                by_kind[kind] += 1
                if project_id is not None:
                    by_project[linker.keys[project_id]] += 1
                elif kind not in PERSONAL_KINDS:
                    unlinked += 1
                old = (
                    row.meeting_kind,
                    row.meeting_rule,
                    row.project_id,
                    row.project_link,
                    row.person_ids,
                    row.away_person_ids,
                )
                if new != old:
                    changes.append(
                        {
                            "id": row.id,
                            "meeting_kind": kind,
                            "meeting_rule": rule,
                            "project_id": project_id,
                            "project_link": link,
                            "person_ids": present,
                            "away_person_ids": away,
                        }
                    )
            changed += len(changes)
            for batch in chunked(changes, UPDATE_BATCH):
                s.execute(update(model.CalendarEvent), list(batch))
            linked, dialect = [row.id for row in rows], s.get_bind().dialect.name
            s.execute(
                update(event)
                .where(among(dialect, event.c.id, "ids", linked))
                .values(link_state=current)
            )
        if last != current:
            remembered = {"name": FINGERPRINT, "value": current, "updated_at": now()}
            upsert_rows(s.connection(), state, [remembered], ["name"], ["value", "updated_at"])
    return MeetingLinkResult(
        events=total,
        changed=changed,
        by_kind=dict(sorted(by_kind.items())),
        by_project=dict(sorted(by_project.items())),
        unlinked_meetings=unlinked,
    )
