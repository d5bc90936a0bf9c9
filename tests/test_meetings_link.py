"""Stored events are linked to their project and their people, on SQLite and PostgreSQL.

First on the sandbox: a generated world synced with the config an admin gets
from ``pmsync sandbox serve --config-out`` (no calendar links in it, so status
meetings are found by title and milestone reviews by who attends), then with
the project calendars added. Then on hand-built rows, for the precedence of
calendar over title over attendees and for who is away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, update
from worlds import SandboxWorld, store_projects

from pmsync import model
from pmsync.config import Config, load_config
from pmsync.meetings import link_meetings, load_meetings
from pmsync.people import link_people
from pmsync.records import CalendarEvent, Page, PersonRef
from pmsync.store import Store
from pmsync.sync import SyncReport


def config_id(person: str) -> str:
    """Return the id ``write_config`` gives a scenario person."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", person)


class World(SandboxWorld):
    """Three generated projects served by the sandbox, with the config written for it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, projects=3, items=120, seed=11)

    def sync(self, store: Store, **options: Any) -> SyncReport:
        report = super().sync(store, **options)
        store_projects(store, self.config)
        return report

    def add_project_calendars(self) -> None:
        """Give each project file its own calendar, as an admin would."""
        for project in self.scenario.projects:
            name = f"projects/{project.key.lower()}.yaml"
            data = self.read(name)
            data["calendars"] = [{"source": "gcal", "calendar": project.calendars[0]}]
            self.write(name, data)
        self.reload()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path / "world") as made:
        yield made


def people_keys(store: Store) -> dict[int, str | None]:
    with store.session(readonly=True) as s:
        return {i: k for i, k in s.execute(select(model.Person.id, model.Person.key))}


def links(store: Store) -> dict[str, tuple[str | None, str | None]]:
    """Return external id → (project key, how it was linked) of every live event."""
    with store.session(readonly=True) as s:
        rows = s.execute(
            select(
                model.CalendarEvent.external_id, model.Project.key, model.CalendarEvent.project_link
            )
            .outerjoin(model.Project, model.Project.id == model.CalendarEvent.project_id)
            .where(model.CalendarEvent.deleted_at.is_(None))
        )
        return {eid: (key, how) for eid, key, how in rows}


def test_the_sandbox_meetings_are_linked_to_their_projects_and_leave_to_its_people(
    world: World, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    world.sync(store)  # the sync links meetings itself, after refreshing the plan
    result = link_meetings(store, world.config, world.box.clock.now)
    assert (result.events, result.changed) == (0, 0)  # the sync linked them: nothing to read

    meetings = load_meetings(store)
    project_of_calendar = {p.calendars[0]: p.key for p in world.scenario.projects}
    for project in world.scenario.projects:
        status = [m for m in meetings if m.title == f"{project.key} weekly status"]
        assert len(status) > 10
        assert {(m.kind, m.project) for m in status} == {("status_meeting", project.key)}
        steering = [m for m in meetings if m.title == f"{project.name} steering committee"]
        assert steering and {(m.kind, m.project) for m in steering} == {
            ("steering_committee", project.key)
        }
    reviews = [m for m in meetings if m.title.startswith("Milestone review: ")]
    assert len(reviews) >= 3 * 3
    for review in reviews:  # the same title in every project: who attends decides
        assert review.kind == "milestone_review"
        assert review.project == project_of_calendar[review.calendar_id], review.title
    how = links(store)
    assert {how[r.external_id][1] for r in reviews} == {"attendees"}

    keys = people_keys(store)
    leave_calendar = world.scenario.projects[0].calendars[1]
    expected = {
        f"{leave_calendar}/{spec.id}": config_id(spec.organizer)
        for calendar in world.scenario.calendar.calendars
        if calendar.id == leave_calendar
        for spec in calendar.events
    }
    leave = [m for m in meetings if m.kind == "leave"]
    assert len(leave) >= 5
    for event in leave:
        assert [keys[p] for p in event.away_person_ids] == [expected[event.external_id]]
        assert event.project is None
    holidays = [m for m in meetings if m.source == "ics"]
    assert holidays and {m.kind for m in holidays} == {"public_holiday"}
    assert all(m.away_person_ids == () for m in holidays)  # they cover people by region


def test_project_calendars_link_every_event_on_them(
    world: World, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    world.sync(store)
    link_meetings(store, world.config, world.box.clock.now)
    before = links(store)
    world.add_project_calendars()
    result = link_meetings(store, world.config, world.box.clock.now)
    after = links(store)
    assert result.changed > 0
    for project in world.scenario.projects:
        mine = {e: v for e, v in after.items() if e.startswith(project.calendars[0] + "/")}
        assert mine and set(mine.values()) == {(project.key, "calendar")}
    # the shared leave calendar belongs to every project, so it decides nothing
    leave_calendar = world.scenario.projects[0].calendars[1]
    shared = {e: v for e, v in after.items() if e.startswith(leave_calendar + "/")}
    assert shared == {e: v for e, v in before.items() if e.startswith(leave_calendar + "/")}


# --- hand-built rows ---------------------------------------------------------------------

T = datetime(2026, 3, 3, 9, tzinfo=UTC)
PAY_CAL = "c_pay@group.calendar.google.com"
CRM_CAL = "c_crm@group.calendar.google.com"
TEAM_CAL = "team@group.calendar.google.com"


def person(handle: str) -> PersonRef:
    return PersonRef(f"{handle}@acme.example", None, f"{handle}@acme.example")


def event(eid: str, title: str, calendar: str = TEAM_CAL, **values: Any) -> CalendarEvent:
    values.setdefault("start", T)
    values.setdefault("end", values["start"] + timedelta(hours=1))
    return CalendarEvent(
        external_id=f"{calendar}/{eid}",
        calendar_id=calendar,
        title=title,
        **{"updated_at": T, **values},
    )


def small_config(root: Path) -> Config:
    (root / "projects").mkdir(parents=True)
    people = [
        ("anna", "Anna Müller"),
        ("priya", "Priya Iyer"),
        ("lukas", "Lukas Weiß"),
        ("lukas2", "Lukas Weiß"),
        ("carla", "Carla Reyes"),
        ("dan", "Dan Brown"),
        ("hr", "HR Team"),
    ]
    (root / "pmsync.yaml").write_text(
        yaml.safe_dump(
            {"people": [{"id": i, "name": n, "email": f"{i}@acme.example"} for i, n in people]},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    common = {"start": "2026-01-01", "finish": "2026-12-31", "budget_at_completion": 1000}
    projects = {
        "pay": {
            "key": "PAY",
            "name": "Payments platform",
            "manager": "anna",
            "team": ["priya", "lukas"],
            "calendars": [{"calendar": PAY_CAL}],
            "meeting_titles": ["Zahlungsplattform"],
        },
        "crm": {
            "key": "CRM",
            "name": "CRM migration",
            "manager": "carla",
            "team": ["dan", "lukas2"],
            "calendars": [{"calendar": CRM_CAL, "source": "gcal"}],
        },
    }
    for name, data in projects.items():
        (root / "projects" / f"{name}.yaml").write_text(
            yaml.safe_dump({**data, **common}), encoding="utf-8"
        )
    (root / "sources.yaml").write_text(
        "sources:\n  gcal: {type: gcal, enabled: false}\n", encoding="utf-8"
    )
    return load_config(root, {})


def test_calendar_wins_over_title_and_title_over_attendees(store: Store, tmp_path: Path) -> None:
    config = small_config(tmp_path / "config")
    store_projects(store, config)
    crm_team = (person("carla"), person("dan"))
    store.write_page(
        "gcal",
        "events",
        Page(
            [
                event("1", "PAY weekly status", CRM_CAL),  # CRM's calendar: CRM
                event("2", "PAY weekly status", attendees=crm_team),  # the title: PAY
                event("3", "Zahlungsplattform Jour fixe"),  # a configured title: PAY
                event("4", "Milestone review: R1", organizer=person("carla"), attendees=crm_team),
                event("5", "Architecture sync", organizer=person("anna")),  # one member: none
                event("6", "PAYROLL weekly status", attendees=(person("anna"),)),  # not "PAY"
                event("7", "Payments platform steering committee"),  # the project name
            ]
        ),
        None,
    )
    link_people(store, config.settings.people, {"gcal": "gcal"})
    link_meetings(store, config)
    found = {eid.rsplit("/", 1)[1]: v for eid, v in links(store).items()}
    assert found == {
        "1": ("CRM", "calendar"),
        "2": ("PAY", "title"),
        "3": ("PAY", "title"),
        "4": ("CRM", "attendees"),
        "5": (None, None),
        "6": (None, None),
        "7": ("PAY", "title"),
    }


def test_who_is_away_is_the_calendar_owner_the_named_person_or_the_attendee(
    store: Store, tmp_path: Path
) -> None:
    config = small_config(tmp_path / "config")
    store_projects(store, config)
    day: dict[str, Any] = {
        "start": T.replace(hour=0),
        "end": T.replace(hour=0) + timedelta(days=1),
        "all_day": True,
    }
    store.write_page(
        "gcal",
        "events",
        Page(
            [
                # Google's out-of-office on Priya's own calendar
                event("a", "Busy", "priya@acme.example", event_type="outOfOffice"),
                # the HR calendar names who is away; two Lukas Weiß: the one who is there
                event("b", "Urlaub — Lukas Weiß", organizer=person("lukas2"), **day),
                event("c", "Annual leave — Anna Müller", organizer=person("hr"), **day),
                # HR invites the person who is away
                event("d", "Vacation", organizer=person("hr"), attendees=(person("dan"),)),
                # someone's own "OOO"
                event("e", "OOO", organizer=person("carla")),
                event("f", "OOO", status="cancelled", organizer=person("carla")),
            ]
        ),
        None,
    )
    link_people(store, config.settings.people, {"gcal": "gcal"})
    link_meetings(store, config)
    keys = people_keys(store)
    away = {
        m.title + ("/cancelled" if m.cancelled else ""): [keys[p] for p in m.away_person_ids]
        for m in load_meetings(store)
    }
    assert away == {
        "Busy": ["priya"],
        "Urlaub — Lukas Weiß": ["lukas2"],
        "Annual leave — Anna Müller": ["anna"],
        "Vacation": ["dan"],
        "OOO": ["carla"],
        "OOO/cancelled": ["carla"],
    }
    assert {m.kind for m in load_meetings(store)} == {"leave"}


def test_a_changed_event_is_classified_again_and_a_deleted_one_is_left_alone(
    store: Store, tmp_path: Path
) -> None:
    config = small_config(tmp_path / "config")
    store_projects(store, config)
    store.write_page("gcal", "events", Page([event("1", "Weekly status", PAY_CAL)]), None)
    link_meetings(store, config)
    assert [(m.kind, m.project) for m in load_meetings(store)] == [("status_meeting", "PAY")]
    renamed = event("1", "Lenkungsausschuss", PAY_CAL, updated_at=T + timedelta(hours=1))
    store.write_page("gcal", "events", Page([renamed]), None)
    assert link_meetings(store, config).changed == 1
    assert [(m.kind, m.project) for m in load_meetings(store)] == [("steering_committee", "PAY")]


def test_a_pass_reads_the_events_written_since_the_last_one_and_all_after_a_change(
    store: Store, tmp_path: Path
) -> None:
    config = small_config(tmp_path / "config")
    store_projects(store, config)
    page = [event(str(n), "Weekly status", PAY_CAL) for n in range(1, 4)]
    page.append(event("4", "Lenkungsausschuss", attendees=(person("dan"),)))
    store.write_page("gcal", "events", Page(page), None)
    first = link_meetings(store, config)
    assert (first.events, first.changed) == (4, 4)
    again = link_meetings(store, config)
    assert (again.events, again.changed) == (0, 0)

    renamed = event("2", "Milestone review: R1", PAY_CAL, updated_at=T + timedelta(hours=1))
    store.write_page("gcal", "events", Page([renamed]), None)
    after_sync = link_meetings(store, config)
    assert (after_sync.events, after_sync.changed) == (1, 1)  # only the event written again
    kinds = {m.external_id.rsplit("/", 1)[1]: m.kind for m in load_meetings(store)}
    assert kinds == {
        "1": "status_meeting",
        "2": "milestone_review",
        "3": "status_meeting",
        "4": "steering_committee",
    }

    # Dan's identity becomes his person (link_people): what linking read changed,
    # so every event is read again; the one he attends now names him.
    link_people(store, config.settings.people, {"gcal": "gcal"})
    relinked = link_meetings(store, config)
    assert (relinked.events, relinked.changed) == (4, 1)
    with store.session(readonly=True) as s:
        attending = s.scalars(
            select(model.CalendarEvent.person_ids).where(
                model.CalendarEvent.external_id == f"{TEAM_CAL}/4"
            )
        ).one()
    assert [people_keys(store)[p] for p in attending] == ["dan"]

    # A configuration that reads the same leaves the events alone; a new title for
    # PAY's meetings is a new fingerprint, and the event without a calendar moves.
    assert link_meetings(store, config).events == 0
    pay = tmp_path / "config" / "projects" / "pay.yaml"
    data = yaml.safe_load(pay.read_text(encoding="utf-8"))
    data["meeting_titles"] = ["Lenkungsausschuss"]
    pay.write_text(yaml.safe_dump(data), encoding="utf-8")
    changed_config = load_config(tmp_path / "config", {})
    moved = link_meetings(store, changed_config)
    assert (moved.events, moved.changed) == (4, 1)
    assert links(store)[f"{TEAM_CAL}/4"] == ("PAY", "title")


def test_events_are_linked_batch_by_batch_with_the_same_result(
    world: World, make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    world.sync(store)  # linked in one batch: the sandbox has fewer events than READ_BATCH
    before = links(store)
    kinds = {m.external_id: (m.kind, m.away_person_ids) for m in load_meetings(store)}
    with store.session() as s:
        s.execute(
            update(model.CalendarEvent).values(
                meeting_kind=None,
                meeting_rule=None,
                project_id=None,
                project_link=None,
                person_ids=None,
                away_person_ids=None,
                link_state=None,
            )
        )
    monkeypatch.setattr("pmsync.meetings.link.READ_BATCH", 7)
    result = link_meetings(store, world.config, world.box.clock.now)
    assert result.events == len(before) > 7 * 3
    assert result.changed == result.events  # each event read and written exactly once
    assert links(store) == before
    assert {m.external_id: (m.kind, m.away_person_ids) for m in load_meetings(store)} == kinds


NAMES = [
    "Anna Müller",
    "Anna",
    "Ann",
    "Lukas Weiß",
    "Lukas Weiss",
    "Jo",
    "Li Na",
    r"re:\bBob(by)?\b",
    "田中 太郎",
    "Dev*",
    "O'Brien",
    *(f"Developer {n}" for n in (1, 12, 123, 1234)),
]
TITLES = [
    "Urlaub — Anna Müller",
    "ANNA MÜLLER (OOO)",
    "Annual leave — Ann",
    "Out of office",
    "Lukas Weiss: vacation",
    "Jo & Li Na off",
    "Joanna away",
    "Bobby sick",
    "田中太郎 休暇",
    "Devon at a conference",
    "o\u2019brien out",  # a typographic apostrophe
    "Leave Developer 123",
    "Leave developer1234",
    "",
]


def test_the_people_named_in_a_title_are_those_whose_own_name_matches_it() -> None:
    """Found through the index of names, in config order, as each name alone finds them."""
    from pmsync.meetings.classify import TitleMatcher
    from pmsync.meetings.link import _Names

    names = _Names((name, n) for n, name in enumerate(NAMES))
    matchers = [TitleMatcher.of([name]) for name in NAMES]
    for title in TITLES:
        alone = [n for n, matcher in enumerate(matchers) if matcher.matches(title)]
        assert names.named_in(title) == alone, title
        assert names.named_in(title) == alone, f"{title}, asked again"

    def named(title: str) -> list[str]:
        return [NAMES[n] for n in names.named_in(title)]

    assert named("Urlaub — Anna Müller") == ["Anna Müller", "Anna"]
    assert named("Lukas Weiss: vacation") == ["Lukas Weiß", "Lukas Weiss"]
    assert named("Jo & Li Na off") == ["Jo", "Li Na"]
    assert named("Bobby sick") == [r"re:\bBob(by)?\b"]
    assert named("Leave Developer 123") == ["Dev*", "Developer 123"]  # not "Developer 12"
    assert named("Out of office") == []


def test_a_company_of_namesakes_is_searched_by_its_rarest_names() -> None:
    """4,000 "Developer N": a title finds its own developer, not those sharing a word."""
    from pmsync.meetings.link import _Names

    names = _Names((f"Developer {n}", n) for n in range(4000))
    found = [names.named_in(f"Annual leave — Developer {n}") for n in range(0, 4000, 7)]
    assert found == [[n] for n in range(0, 4000, 7)]
    assert names.named_in("Leave — developer 40, developer 400") == [40, 400]
