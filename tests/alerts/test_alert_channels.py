"""Each channel against a real server: what arrives, how it is signed, and hostile text.

E-mail goes through an aiosmtpd server (plain, STARTTLS with login, implicit
TLS); webhooks, Slack and Teams go to an HTTP server on 127.0.0.1. Slack and
Teams payloads are checked against the rules of their documented formats.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from pmsync import model
from pmsync.alerts import run_check
from pmsync.config import Config
from pmsync.store import Store

from .conftest import HOOK_SECRET, Clock, HttpReceiver, SmtpServer, finding

# The implicit-TLS test server requires AUTH on a connection aiosmtpd does not know is TLS.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

HOSTILE = (
    "<script>alert(1)</script> *bold* _it_ ~x~ `code` <!channel> @channel <@U123> "
    "[click](http://evil.example) & more"
)


def email_receiver(server: SmtpServer, **extra: Any) -> dict[str, Any]:
    return {
        "type": "email",
        "to": ["pmo@example.com", "sponsor@example.com"],
        "sender": "pmsync@example.com",
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "starttls": False,
        **extra,
    }


@pytest.mark.parametrize("mode", ["plain", "starttls", "implicit"])
def test_email_arrives_with_subject_recipients_and_both_parts(
    store: Store,
    make_config: Callable[..., Config],
    smtp_server: Callable[..., SmtpServer],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    server = smtp_server(mode)
    extra: dict[str, Any] = {}
    if mode != "plain":
        monkeypatch.setenv("SMTP_PASSWORD", "mail-pw")
        extra = {
            "username": "pmsync",
            "password": "${SMTP_PASSWORD}",
            "ca_file": str(server.ca_file),
        }
        extra |= {"starttls": True} if mode == "starttls" else {"implicit_tls": True}
    config = make_config({"mail": email_receiver(server, **extra)}, {"receivers": ["mail"]})
    report = run_check(store, config, [finding()], clock)
    assert report.ok, report.dispatch.deliveries
    [(sender, recipients, message)] = server.mailbox.messages
    assert sender == "pmsync@example.com"
    assert recipients == ["pmo@example.com", "sponsor@example.com"]
    assert message["Subject"] == "[FIRING] PAY: Milestone Beta forecast 12 days late"
    assert message["Auto-Submitted"] == "auto-generated"
    key = report.dispatch.sent[0].key
    assert message["Message-ID"] == f"<{key}@example.com>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Milestone Beta forecast 12 days late" in body
        assert "Agree a new date with the sponsor or cut scope" in body
        assert "https://reports.example/PAY/" in body
        assert "https://jira.example/browse/PAY-7" in body
    assert "forecast finish (P85): 2025-06-12\r\n  days late: 12\r\n  SPI: 0.81\r\n" in text
    assert 'name="viewport"' in html and "max-width:600px" in html


def test_a_wrong_smtp_password_fails_at_once_without_showing_it(
    store: Store,
    make_config: Callable[..., Config],
    smtp_server: Callable[..., SmtpServer],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = smtp_server("starttls")
    monkeypatch.setenv("SMTP_PASSWORD", "not-the-password")
    receiver = email_receiver(
        server,
        starttls=True,
        username="pmsync",
        password="${SMTP_PASSWORD}",
        ca_file=str(server.ca_file),
    )
    config = make_config({"mail": receiver}, {"receivers": ["mail"]})
    report = run_check(store, config, [finding()], clock)
    [failed] = report.dispatch.failed
    assert "refused the login of 'pmsync'" in (failed.error or "")
    assert "not-the-password" not in (failed.error or "")
    assert server.mailbox.messages == []


def test_an_untrusted_smtp_certificate_is_refused(
    store: Store,
    make_config: Callable[..., Config],
    smtp_server: Callable[..., SmtpServer],
    clock: Clock,
) -> None:
    server = smtp_server("implicit")
    config = make_config(
        {"mail": email_receiver(server, implicit_tls=True)}, {"receivers": ["mail"]}
    )
    report = run_check(store, config, [finding()], clock)
    assert "certificate not trusted" in (report.dispatch.failed[0].error or "")


def test_the_webhook_is_signed_and_the_receiver_verifies_it(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver(secret=HOOK_SECRET, clock=clock)
    receiver = {
        "type": "webhook",
        "url": hook.url(),
        "signing_secret": "${HOOK_SECRET}",
        "headers": {"X-Team": "pmo"},
    }
    config = make_config({"hook": receiver}, {"receivers": ["hook"]})
    report = run_check(store, config, [finding()], clock)
    assert report.ok
    [got] = hook.received
    assert got.headers["X-Pmsync-Signature"].startswith("v1=")
    assert got.headers["X-Pmsync-Timestamp"] == str(int(clock.at.timestamp()))
    assert got.headers["Idempotency-Key"] == report.dispatch.sent[0].key
    assert got.headers["X-Team"] == "pmo"
    body = got.json()
    assert body["id"] == got.headers["Idempotency-Key"]
    assert (body["version"], body["status"], body["project"]) == ("1", "firing", "PAY")
    [alert] = body["alerts"]
    assert alert["labels"]["milestone"] == "Beta"
    assert alert["evidence"]["items"][0]["url"] == "https://jira.example/browse/PAY-7"
    assert body["title"] == "[FIRING] PAY: Milestone Beta forecast 12 days late"


def test_a_receiver_refuses_a_webhook_signed_with_another_secret(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook = http_receiver(secret=HOOK_SECRET, clock=clock)
    monkeypatch.setenv("OTHER_SECRET", "someone-else")
    receiver = {"type": "webhook", "url": hook.url(), "signing_secret": "${OTHER_SECRET}"}
    config = make_config({"hook": receiver}, {"receivers": ["hook"]})
    report = run_check(store, config, [finding()], clock)
    assert hook.received == [] and len(hook.rejected) == 1
    assert "HTTP 401" in (report.dispatch.failed[0].error or "")


# --- Slack and Teams: documented formats -----------------------------------------------------


def check_block_kit(message: dict[str, Any]) -> list[str]:
    """Return the mrkdwn texts of a Slack message, asserting Block Kit's rules on the way."""
    assert set(message) <= {"text", "blocks"} and isinstance(message["text"], str)
    assert 1 <= len(message["blocks"]) <= 50
    texts = [message["text"]]
    for block in message["blocks"]:
        assert block["type"] in ("section", "context")
        if block["type"] == "section":
            text = block["text"]
            assert text["type"] == "mrkdwn" and text["verbatim"] is True
            assert 0 < len(text["text"]) <= 3000
            texts.append(text["text"])
        else:
            texts.extend(e["text"] for e in block["elements"])
    return texts


def check_adaptive_card(message: dict[str, Any]) -> list[str]:
    """Return the TextBlock texts of a Teams Workflows message, asserting its shape."""
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl" and action["url"].startswith("https://")
    assert all(b["type"] == "TextBlock" and b["wrap"] is True for b in card["body"])
    assert len(json.dumps(message).encode()) < 28_000
    return [b["text"] for b in card["body"]]


@pytest.fixture
def chat(
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Config, HttpReceiver]:
    server = http_receiver()
    monkeypatch.setenv("SLACK_URL", server.url("/services/T000/B000/XXXXSECRET"))
    monkeypatch.setenv(
        "TEAMS_URL", server.url("/workflows/abc/triggers/manual/paths/invoke?sig=SECRET")
    )
    receivers = {
        "slack": {"type": "slack", "webhook_url": "${SLACK_URL}"},
        "teams": {"type": "teams", "webhook_url": "${TEAMS_URL}"},
        "mail": {
            "type": "email",
            "to": ["pmo@example.com"],
            "sender": "a@example.com",
            "smtp_host": "127.0.0.1",
            "smtp_port": 9,
            "starttls": False,
        },
    }
    return make_config(receivers, {"receivers": ["slack", "teams"]}), server


def by_path(server: HttpReceiver, prefix: str) -> dict[str, Any]:
    [got] = [r for r in server.received if r.path.startswith(prefix)]
    return got.json()


def test_slack_and_teams_payloads_follow_their_formats(
    store: Store, chat: tuple[Config, HttpReceiver], clock: Clock
) -> None:
    config, server = chat
    report = run_check(
        store,
        config,
        [finding(), finding("CPI 0.8", rule="cpi_low", kind="project", subject="PAY")],
        clock,
    )
    assert report.ok
    slack = check_block_kit(by_path(server, "/services/"))
    assert slack[0] == "[FIRING:2] PAY: Milestone Beta forecast 12 days late"
    assert any("<https://jira.example/browse/PAY-7|PAY-7>" in t for t in slack)
    assert "<https://reports.example/PAY/|Open the report>" in slack[-1]
    teams_message = by_path(server, "/workflows/")
    teams = check_adaptive_card(teams_message)
    assert teams[0] == r"\[FIRING:2\] PAY: Milestone Beta forecast 12 days late"
    assert any("[PAY-7](https://jira.example/browse/PAY-7)" in t for t in teams)
    card = teams_message["attachments"][0]["content"]
    assert card["actions"][0]["url"] == "https://reports.example/PAY/"


def test_webhook_urls_never_appear_in_errors_or_logs(
    store: Store, chat: tuple[Config, HttpReceiver], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    config, server = chat
    caplog.set_level(logging.DEBUG)
    assert run_check(store, config, [finding()], clock).ok
    assert "POST /<secret path>" in caplog.text
    clock.advance(minutes=5)
    server.stop()
    report = run_check(store, config, [finding(), finding("ERP", project="ERP")], clock)
    errors = [d.error or "" for d in report.dispatch.retrying]
    assert len(errors) == 2 and all(f"127.0.0.1:{server.port}" in e for e in errors)
    with store.session(readonly=True) as s:
        stored = " ".join(n.error or "" for n in s.scalars(select(model.Notification)))
    assert "SECRET" not in stored and "/services/" not in stored
    assert "SECRET" not in caplog.text and "/services/" not in caplog.text


# --- hostile text, every channel --------------------------------------------------------------


def test_hostile_text_is_escaped_in_every_channel(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    smtp_server: Callable[..., SmtpServer],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, mail = http_receiver(), smtp_server()
    monkeypatch.setenv("SLACK_URL", server.url("/slack"))
    monkeypatch.setenv("TEAMS_URL", server.url("/teams"))
    receivers = {
        "slack": {"type": "slack", "webhook_url": "${SLACK_URL}"},
        "teams": {"type": "teams", "webhook_url": "${TEAMS_URL}"},
        "hook": {"type": "webhook", "url": server.url("/hook")},
        "mail": email_receiver(mail),
    }
    config = make_config(receivers, {"receivers": list(receivers)})
    hostile = finding(HOSTILE + "\nBcc: victim@example.com", subject="<b>Beta</b> *x*")
    assert run_check(store, config, [hostile], clock).ok

    slack = check_block_kit(by_path(server, "/slack"))
    for text in slack:
        for raw in ("<script>", "<!channel>", "<@U123>", "<b>", "*bold*", "_it_", "~x~", "`code`"):
            assert raw not in text
    assert any(
        "&lt;script&gt;" in t and "&lt;!channel&gt;" in t and "&amp; more" in t for t in slack
    )

    teams = check_adaptive_card(by_path(server, "/teams"))
    joined = "\n".join(teams)
    for raw in ("*bold*", "[click](http://evil.example)", "<script>", "`code`", "_it_"):
        assert raw not in joined
    assert r"\*bold\*" in joined and r"\[click\]\(http://evil.example\)" in joined

    [hook] = [r for r in server.received if r.path == "/hook"]
    assert b"<" not in hook.body and b">" not in hook.body and b"&" not in hook.body
    assert hook.json()["alerts"][0]["summary"] == hostile.summary  # exact after decoding

    [(_, _, message)] = mail.mailbox.messages
    assert "\n" not in message["Subject"] and message["Bcc"] is None
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "<b>Beta</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert re.search(r'href="(?!https://)', html) is None
