"""A record's ``payload_hash`` does not depend on how the store serialises it.

The store serialises a raw payload once and reuses that text for the column
(``DumpedJSON``); if that ever changed the hash, every row written before an
upgrade would count as changed and be rewritten on the next sync.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

import pytest

from pmsync.records import CalendarEvent, PersonRef, Record, WorkItem
from pmsync.rows import DumpedJSON, json_default, json_dumps, record_row
from pmsync.upsert import ROW_SPECS

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
RECORDS: list[Record] = [
    WorkItem(
        "10001",
        "PAY-1",
        '<script>alert(1)</script> "; DROP TABLE work_item; --',
        "PAY",
        "Story",
        "In Progress",
        "in_progress",
        AT,
        AT,
        due_date=date(2026, 4, 1),
        assignee=PersonRef("acc-1", "Priya", "priya@example.com"),
        labels=("b", "a"),
        custom={"team": ("x", "y"), "nested": {"z": 1, "a": None}},
        raw={"id": "10001", "fields": {"summary": "ünïcödé 漢字", "n": [1, 2.5, True]}},
    ),
    WorkItem(
        "10002",
        "PAY-2",
        "nul \x00 inside",
        "PAY",
        "Bug",
        "To Do",
        "todo",
        AT,
        AT,
        raw={"t": "\x00"},
    ),
    CalendarEvent(
        "cal/ev1",
        "cal",
        "Weekly status",
        AT,
        AT,
        AT,
        organizer=PersonRef("org@example.com"),
        attendees=(PersonRef("a@example.com", "A"), PersonRef("b@example.com")),
    ),
]


def reference_hash(row: dict[str, object]) -> str:
    """The hash as the store defines it: SHA-256 of the row as compact sorted-key JSON."""
    plain = {k: v.value if isinstance(v, DumpedJSON) else v for k, v in row.items()}
    plain.pop("payload_hash")
    text = json.dumps(
        plain, default=json_default, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.external_id)
def test_the_hash_is_the_same_whether_payloads_are_dumped_once_or_twice(record: Record) -> None:
    spec = ROW_SPECS[record.kind]
    once, people_once = record_row(record, spec, predump=True)
    twice, people_twice = record_row(record, spec, predump=False)
    assert once["payload_hash"] == twice["payload_hash"]
    assert people_once == people_twice
    for name, value in once.items():
        if isinstance(value, DumpedJSON):
            assert json.loads(json_dumps(value)) == json.loads(json_dumps(twice[name]))
    if record.external_id != "10002":  # NUL is replaced by U+FFFD before hashing
        assert once["payload_hash"] == reference_hash(twice)


def test_a_payload_with_a_huge_integer_is_stored_and_hashed_stably() -> None:
    """JSON allows any integer; a tool's custom field may carry one beyond 64 bits."""
    record = WorkItem(
        "10003",
        "PAY-3",
        "big",
        "PAY",
        "Task",
        "To Do",
        "todo",
        AT,
        AT,
        custom={"serial": 1 << 70},
        raw={"id": "10003", "n": 1 << 70},
    )
    spec = ROW_SPECS[record.kind]
    first, _ = record_row(record, spec, predump=True)
    again, _ = record_row(record, spec, predump=False)
    assert first["payload_hash"] == again["payload_hash"] == reference_hash(again)
    assert json.loads(json_dumps(first["raw"]))["n"] == 1 << 70
