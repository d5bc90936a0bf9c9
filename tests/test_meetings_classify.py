# ruff: noqa: RUF001 - real titles carry en dashes, curly quotes and full-width letters
"""Calendar events are classified as a PM would, in several languages, and precisely.

The table holds real-world titles: what each must be, and (as importantly) what
it must not be taken for. The admin's rules come first, may replace or disable
a built-in rule, and bad rules are reported at their line like any config error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pmsync.config import load_config
from pmsync.config.meetings import ClassificationRule, HolidayCalendar, MeetingSettings
from pmsync.errors import ConfigError
from pmsync.meetings.classify import EventFacts, build_classifier, classify_title

HOLIDAYS = "en.german#holiday@group.v.calendar.google.com"

# (title, kind it is). Several rows exist for what a title must NOT be taken for.
TITLES = [
    # status meetings
    ("PAY weekly status", "status_meeting"),
    ("Weekly Status – Payments", "status_meeting"),
    ("Statusmeeting Projekt Phoenix", "status_meeting"),
    ("Status-Meeting CRM", "status_meeting"),
    ("Jour fixe Zahlungsverkehr", "status_meeting"),
    ("Jour Fixe", "status_meeting"),
    ("Point hebdo projet paie", "status_meeting"),
    ("Réunion de suivi – migration CRM", "status_meeting"),
    ("Point d’avancement lot 2", "status_meeting"),
    ("Reunión de seguimiento semanal", "status_meeting"),
    ("Reunião de status do projeto", "status_meeting"),
    ("Riunione di avanzamento settimanale", "status_meeting"),
    ("Voortgangsoverleg app", "status_meeting"),
    ("Daily Stand-up", "status_meeting"),
    ("Standup", "status_meeting"),
    ("Daily", "status_meeting"),
    ("プロジェクト定例会", "status_meeting"),
    ("進捗会議（週次）", "status_meeting"),
    # steering committees
    ("Payments platform steering committee", "steering_committee"),
    ("SteerCo Q3", "steering_committee"),
    ("Lenkungsausschuss CRM-Migration", "steering_committee"),
    ("Comité de pilotage (COPIL) n°4", "steering_committee"),
    ("Comité directivo mensual", "steering_committee"),
    ("Stuurgroep mobiele app", "steering_committee"),
    ("SteerCo milestone review", "steering_committee"),
    # milestone reviews
    ("Milestone review: R3 Beta", "milestone_review"),
    ("Meilenstein-Review M2", "milestone_review"),
    ("Revue de jalon J3", "milestone_review"),
    ("Go/no-go: R4 Launch", "milestone_review"),
    ("Revisión de hito 2", "milestone_review"),
    ("マイルストーンレビュー", "milestone_review"),
    # customer meetings (status words inside do not make them status meetings)
    ("Customer call: status of the payroll migration", "customer_meeting"),
    ("Customer weekly status – ACME", "customer_meeting"),
    ("Kundentermin bei ACME (Statusupdate)", "customer_meeting"),
    ("Réunion client – point d'avancement", "customer_meeting"),
    ("Reunión con el cliente", "customer_meeting"),
    ("Klantoverleg", "customer_meeting"),
    ("お客様定例", "customer_meeting"),
    # leave
    ("Out of office", "leave"),
    ("OOO", "leave"),
    ("ＯＯＯ – dentist", "leave"),
    ("Annual leave — Anna Müller", "leave"),
    ("Urlaub", "leave"),
    ("Jahresurlaub Jürgen", "leave"),
    ("Vacation", "leave"),
    ("Congés payés", "leave"),
    ("Vacaciones", "leave"),
    ("Férias – Luíza", "leave"),
    ("Ferie", "leave"),
    ("Vakantie", "leave"),
    ("有給休暇", "leave"),
    ("Sick leave — Lukas Weiß", "leave"),
    # must not match: topics, preparation, look-alikes
    ("Status of the payroll migration", "other"),
    ("Status page outage post-mortem", "other"),
    ("Review of HTTP status codes", "other"),
    ("Urlaubsplanung Team", "other"),
    ("Vacation policy review", "other"),
    ("Holiday party planning", "other"),
    ("Prepare SteerCo deck", "other"),
    ("Vorbereitung Lenkungsausschuss", "other"),
    ("Customer data model refinement", "other"),
    ("Client library upgrade", "other"),
    ("Licença de software – renovação", "other"),
    ("Weekly 1:1 Anna / Priya", "other"),
    ("Sprint planning", "other"),
    ("PAY: vendor demo", "other"),
    ("Conference — Beatriz Silva", "other"),
    ("<script>alert('status meeting')</script>", "status_meeting"),
]


@pytest.mark.parametrize(("title", "kind"), TITLES, ids=[t for t, _ in TITLES])
def test_a_title_is_classified_as_a_pm_would(title: str, kind: str) -> None:
    assert classify_title(title) == kind


def test_the_table_covers_every_kind_and_enough_titles() -> None:
    assert len(TITLES) >= 30
    assert {k for _, k in TITLES} >= {
        "status_meeting",
        "steering_committee",
        "milestone_review",
        "customer_meeting",
        "leave",
        "other",
    }


def test_the_calendar_type_and_holiday_calendars_decide_before_titles() -> None:
    assert classify_title("Busy", event_type="outOfOffice") == "leave"
    assert classify_title("Weekly status", event_type="outOfOffice") == "leave"
    assert classify_title("Christmas Day", all_day=True, calendar_id=HOLIDAYS) == "public_holiday"
    assert classify_title("Tag der Deutschen Einheit", all_day=True, calendar_id=HOLIDAYS) == (
        "public_holiday"
    )
    # a timed event on a holiday calendar, an all-day "Christmas Day" elsewhere: not holidays
    assert classify_title("Christmas Day", calendar_id=HOLIDAYS) == "other"
    assert classify_title("Christmas Day", all_day=True) == "other"
    assert classify_title("Feiertag", all_day=True) == "public_holiday"
    assert classify_title("Public holiday", all_day=True) == "public_holiday"


def test_admin_rules_come_first_replace_or_disable_built_ins() -> None:
    settings = MeetingSettings(
        rules=[
            ClassificationRule(kind="customer_meeting", attendees=["*@acme-customer.example"]),
            ClassificationRule(kind="leave", calendars=["c_team-leave*"]),
            ClassificationRule(
                name="status_meeting", kind="status_meeting", titles=["weekly touchpoint"]
            ),
            ClassificationRule(kind="steering_committee", organizers=["hanako.takahashi"]),
        ],
        disable_builtin=["milestone_review"],
    )
    classifier = build_classifier(settings)
    names = [rule.name for rule in classifier.rules]
    assert names[:3] == ["rules[0]", "rules[1]", "rules[3]"]
    assert names.index("status_meeting") > names.index("customer_meeting")
    assert "milestone_review" not in names

    def kind(event: EventFacts) -> str:
        return classifier.classify(event).kind

    customer = ("bob@acme-customer.example",)
    assert kind(EventFacts("Weekly status", "primary", attendees=customer)) == "customer_meeting"
    assert kind(EventFacts("Conference — Beatriz Silva", "c_team-leave.ecbd@group")) == "leave"
    assert kind(EventFacts("Weekly touchpoint", "primary")) == "status_meeting"
    assert kind(EventFacts("Weekly status", "primary")) == "other"  # built-in phrases replaced
    assert kind(EventFacts("Milestone review: R1", "primary")) == "other"  # disabled
    sponsor = EventFacts("Quarterly", "primary", organizer_person="hanako.takahashi")
    assert kind(sponsor) == "steering_committee"
    assert kind(EventFacts("Quarterly", "primary", organizer_person="anna.mueller")) == "other"
    only_mine = build_classifier(
        MeetingSettings(
            rules=[ClassificationRule(kind="leave", titles=["re:^away\\b"])]
        ).model_copy(update={"builtin_rules": False})
    )
    assert only_mine.classify(EventFacts("Away: dentist", "primary")).kind == "leave"
    assert only_mine.classify(EventFacts("Weekly status", "primary")).kind == "other"


def test_holiday_calendars_can_be_configured_and_replace_the_defaults() -> None:
    settings = MeetingSettings(holiday_calendars=[HolidayCalendar(calendar="*feiertage-bw*")])
    classifier = build_classifier(settings)
    local = EventFacts("Fronleichnam", "feiertage-bw.ics", all_day=True)
    assert classifier.classify(local).kind == "public_holiday"
    google = EventFacts("Christmas Day", HOLIDAYS, all_day=True)
    assert classifier.classify(google).kind == "other"  # the defaults no longer apply


def _config(tmp_path: Path, meetings: str, project_extra: str = "") -> Path:
    (tmp_path / "projects").mkdir()
    (tmp_path / "pmsync.yaml").write_text(
        "people:\n- id: anna\n  name: Anna\n" + meetings, encoding="utf-8"
    )
    (tmp_path / "projects" / "pay.yaml").write_text(
        "key: PAY\nname: Payments\nstart: '2026-01-01'\nfinish: '2026-12-31'\n"
        "budget_at_completion: 1000\n" + project_extra,
        encoding="utf-8",
    )
    return tmp_path


def test_bad_meeting_rules_are_reported_at_their_line(tmp_path: Path) -> None:
    config_dir = _config(
        tmp_path,
        "meetings:\n"
        "  rules:\n"
        "  - kind: leave\n"
        "    titles: ['re:(unclosed']\n"
        "  - kind: status_meeting\n"
        "  - kind: party\n"
        "    titles: [fun]\n"
        "  working_days: []\n",
        "meeting_titles: ['!!!']\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir, {})
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "pmsync.yaml:7: meetings.rules[0].titles[0]: " in text
    assert "'re:(unclosed' is not a regular expression" in text
    assert "pmsync.yaml:8: meetings.rules[1]: " in text and "at least one condition" in text
    assert "pmsync.yaml:9: meetings.rules[2].kind: " in text
    assert "pmsync.yaml:11: meetings.working_days: " in text
    assert "pay.yaml:6: meeting_titles[0]: '!!!' has no words to match" in text


def test_unknown_people_sources_and_built_in_names_are_reported(tmp_path: Path) -> None:
    config_dir = _config(
        tmp_path,
        "meetings:\n"
        "  disable_builtin: [status_meetings]\n"
        "  holiday_calendars:\n"
        "  - calendar: '*feiertag*'\n"
        "    people: [nobody]\n",
        "team: [ghost]\ncalendars:\n- calendar: c_pay@group\n  source: nowhere\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir, {})
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "pmsync.yaml:5: meetings.disable_builtin[0]: no built-in rule 'status_meetings'" in (
        text
    )
    assert "pmsync.yaml:8: meetings.holiday_calendars[0].people[0]: unknown person 'nobody'" in (
        text
    )
    assert "pay.yaml:6: team[0]: unknown person 'ghost'" in text
    assert "pay.yaml:9: calendars[0].source: unknown source 'nowhere'" in text


def test_a_valid_meetings_section_loads(tmp_path: Path) -> None:
    config_dir = _config(
        tmp_path,
        "meetings:\n"
        "  rules:\n"
        "  - kind: customer_meeting\n"
        "    attendees: ['*@customer.example']\n"
        "  working_days: [mon, tue, wed, thu]\n",
        "team: [anna]\ncalendars:\n- calendar: c_pay@group\nmeeting_titles: [Zahlungen]\n",
    )
    config = load_config(config_dir, {})
    assert config.settings.meetings.working_days == ["mon", "tue", "wed", "thu"]
    assert config.projects["PAY"].calendars[0].calendar == "c_pay@group"
    assert config.projects["PAY"].team == ["anna"]
