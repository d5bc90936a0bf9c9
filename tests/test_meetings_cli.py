"""``pmsync meetings`` as a PM runs it: held and missed per cadence, leave, JSON, bad input.

The period lies in 2024, so every window is over whatever today is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pmsync import model
from pmsync.cli import app
from pmsync.records import CalendarEvent, Page, PersonRef
from pmsync.store import Store
from pmsync.upsert import insert_for

runner = CliRunner()
CAL = "c_pay@group.calendar.google.com"
TUE = datetime(2024, 2, 6, 9, tzinfo=UTC)
HOSTILE = "[bold red]OOO[/bold red] <img src=x onerror=alert(1)>"
ANNA = PersonRef("anna@acme.example", "Anna Müller", "anna@acme.example")


@pytest.fixture
def config_dir(tmp_path: Path, db_url: str, make_store: Callable[..., Store]) -> Path:
    """A config with one project and a weekly status cadence; events already stored."""
    root = tmp_path / "config"
    (root / "projects").mkdir(parents=True)
    people = [{"id": "anna", "name": "Anna Müller", "email": "anna@acme.example"}]
    settings = {"timezone": "Europe/Berlin", "people": people}
    (root / "pmsync.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    project = {
        "key": "PAY",
        "name": "Payments platform",
        "manager": "anna",
        "start": "2024-01-01",
        "finish": "2024-12-31",
        "budget_at_completion": 1000,
        "calendars": [{"calendar": CAL}],
        "meetings": [
            {"kind": "status_meeting", "every": "1w", "title_patterns": ["PAY weekly status*"]}
        ],
    }
    (root / "projects" / "pay.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")

    def status(week: int, **values: object) -> CalendarEvent:
        at = TUE + timedelta(weeks=week)
        return CalendarEvent(
            external_id=f"{CAL}/series_{at:%Y%m%dT%H%M%SZ}",
            calendar_id=CAL,
            title="PAY weekly status",
            start=at,
            end=at + timedelta(minutes=30),
            updated_at=TUE,
            recurring_event_id="series",
            organizer=ANNA,
            **values,  # type: ignore[arg-type]
        )

    leave = CalendarEvent(
        external_id="team/leave-1",
        calendar_id="team",
        title=HOSTILE,
        start=datetime(2024, 2, 19, tzinfo=UTC),
        end=datetime(2024, 2, 21, tzinfo=UTC),
        updated_at=TUE,
        all_day=True,
        organizer=ANNA,
    )
    store = make_store()
    table = model.table_of(model.Project)
    with store.transaction() as conn:  # the project row, as the plan refresh stores it
        row = {"key": "PAY", "name": "Payments platform", "updated_at": TUE}
        conn.execute(insert_for(conn, table).values(**row))
    records = [status(0), status(1), status(2, status="cancelled"), status(4), leave]
    store.write_page("gcal", "events", Page(records), None)
    return root


def run(config_dir: Path, db_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        ["--config", str(config_dir), "meetings", *args],
        env={"PMSYNC_DATABASE_URL": db_url},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


def test_json_lists_held_cancelled_and_missing_meetings_and_leave(
    config_dir: Path, db_url: str
) -> None:
    code, out, err = run(
        config_dir,
        db_url,
        "--project",
        "PAY",
        "--from",
        "2024-02-01",
        "--to",
        "2024-03-10",
        "--json",
    )
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["projects"][0]["stored"] is True
    status = data["projects"][0]["cadences"][0]
    assert (status["held"], status["cancelled"], status["missing"]) == (3, 1, 1)
    assert [s["outcome"] for s in status["slots"]] == [
        "held",
        "held",
        "cancelled",
        "missing",
        "held",
    ]
    assert status["slots"][3]["expected_at"] == "2024-02-27T09:00:00+00:00"
    (anna,) = data["people"]
    assert (anna["person"], anna["leave_hours"], anna["available_hours"]) == ("anna", 16, 200)
    assert anna["absences"][0]["title"] == HOSTILE


def test_the_table_names_each_missed_meeting_and_prints_titles_as_text(
    config_dir: Path, db_url: str
) -> None:
    code, out, _ = run(config_dir, db_url, "--from", "2024-02-01", "--to", "2024-03-10")
    assert code == 0
    assert "status_meeting expected Tue 2024-02-20 10:00: cancelled" in out
    assert "status_meeting expected Tue 2024-02-27 10:00: missing" in out
    assert HOSTILE in out  # markup in a title is shown, not interpreted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-02-30"], "--from '2024-02-30' is not a date"),
        (["--project", "NOPE"], "no project NOPE (projects: PAY)"),
        (["--from", "2024-03-01", "--to", "2024-02-01"], "--to 2024-02-01 is before --from"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    config_dir: Path, db_url: str, args: list[str], message: str
) -> None:
    code, _, err = run(config_dir, db_url, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
