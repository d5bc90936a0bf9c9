"""Reports and meeting packs by e-mail, through a real SMTP server (aiosmtpd) the test starts."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from pmsync import model
from pmsync.config import Config, load_config
from pmsync.connectors import load_connectors
from pmsync.reports.deliver import send_meeting_packs, send_scheduled_report
from pmsync.reports.sample import write_sample_config
from pmsync.store import Store

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
HOSTILE = "Pay <script>alert(1)</script> | x"


class Inbox:
    """An SMTP handler that keeps every message with its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


def body(message: EmailMessage, kind: str) -> str:
    """Return the text of the message's ``kind`` (html, plain) part."""
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def config(tmp_path: Path, smtp: tuple[Inbox, int]) -> Config:
    directory = write_sample_config(tmp_path / "config", smtp_port=smtp[1], title=HOSTILE)
    return load_config(directory, load_connectors())


def test_a_scheduled_report_is_emailed_through_smtp(
    config: Config, store: Store, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, _ = smtp
    entry = config.projects["PAY"].communication[0]
    sent = send_scheduled_report(store, config, NOW, "PAY", entry, out=tmp_path / "site")
    assert sent == ["sponsor@example.com", "pmo@example.com"]
    assert len(inbox.messages) == 1
    envelope, message = inbox.messages[0]
    assert sorted(envelope) == ["pmo@example.com", "sponsor@example.com"]
    assert message["From"] == "pmsync@example.com"
    assert message["Subject"].startswith("PAY status 2026-03-02: ")
    html = body(message, "html")
    text = body(message, "plain")
    assert "<h1>PAY · Pay &lt;script&gt;alert(1)&lt;/script&gt; | x</h1>" in html
    assert "<script>" not in html and "# PAY · Pay &lt;script&gt;" in text
    names = [part.get_filename() for part in message.iter_attachments()]
    assert names == ["PAY-2026-03-02.md"]
    assert (tmp_path / "site/projects/PAY/2026-03-02/report.html").is_file()


def test_a_report_can_be_sent_as_a_link(
    config: Config, store: Store, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, _ = smtp
    entry = config.projects["PAY"].communication[0]
    send_scheduled_report(store, config, NOW, "PAY", entry, out=tmp_path / "site",
                          base_url="https://reports.example.com/pmsync/")  # fmt: skip
    html = body(inbox.messages[0][1], "html")
    link = "https://reports.example.com/pmsync/projects/PAY/2026-03-02/report.html"
    assert f'href="{link}"' in html and "Earned value" not in html


def add_meeting(store: Store, title: str, starts: datetime, attendees: list[str]) -> None:
    source_id = store.source_id("gcal", kind="gcal")
    with store.session() as s:
        s.add(model.CalendarEvent(
            source_id=source_id, external_id=f"ev-{title}-{starts:%Y%m%d%H}", payload_hash="x",
            first_seen_at=NOW, last_seen_at=NOW, calendar_id="team", title=title,
            event_type="default", starts_at=starts, ends_at=starts + timedelta(hours=1),
            updated_at=NOW, all_day=False, status="confirmed", organizer_login=attendees[0],
            attendee_logins=attendees,
        ))  # fmt: skip


def test_the_meeting_pack_reaches_the_attendees_once(
    config: Config, store: Store, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, _ = smtp
    add_meeting(store, "PAY weekly status", NOW + timedelta(hours=5), ["anna", "bob@example.com"])
    add_meeting(store, "PAY steering committee", NOW + timedelta(days=3), ["hana"])  # too far
    add_meeting(store, "Lunch", NOW + timedelta(hours=2), ["anna"])  # not in the cadence
    out = tmp_path / "site"
    sent = send_meeting_packs(store, config, NOW, lead_time=timedelta(hours=24), out=out)
    assert [m.title for m, _ in sent] == ["PAY weekly status"]
    assert len(inbox.messages) == 1
    envelope, message = inbox.messages[0]
    assert sorted(envelope) == ["anna@example.com", "bob@example.com"]
    assert message["Subject"].startswith("Agenda: PAY weekly status")
    text = body(message, "plain")
    for heading in ("Status", "Open alerts", "Decisions needed", "Milestones due",
                    "Risks to review"):  # fmt: skip
        assert heading in text
    assert "R1: Certification is late" in text  # its review was due 2026-02-20
    assert "Beta: due 2026-03-12" in text
    attached = [p.get_filename() for p in message.iter_attachments()]
    assert attached == ["PAY-status-2026-03-02.html"]
    assert send_meeting_packs(store, config, NOW + timedelta(minutes=5), out=out) == []
    assert len(inbox.messages) == 1, "a restart or the next tick sends the pack only once"
