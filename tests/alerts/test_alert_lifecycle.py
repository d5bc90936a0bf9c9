"""The alert lifecycle as a PM lives it: when an alert fires, groups, repeats, resolves, mutes.

Every test evaluates findings at chosen moments (the clock is moved by hand) and
looks at what was written to the outbox, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pmsync import model
from pmsync.alerts import add_silence, evaluate_alerts, expire_silence, list_alerts
from pmsync.alerts import lifecycle as lifecycle_module
from pmsync.config import Config
from pmsync.store import Store

from .conftest import Clock, finding

HOOK = {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}}


def outbox(store: Store) -> list[dict[str, Any]]:
    """Return the payloads in the outbox, oldest first."""
    with store.session(readonly=True) as s:
        rows = s.scalars(select(model.Notification).order_by(model.Notification.id))
        return [{**r.payload, "receiver": r.receiver} for r in rows]


def summaries(payload: dict[str, Any], status: str = "firing") -> list[str]:
    return [a["summary"] for a in payload["alerts"] if a["status"] == status]


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config(HOOK, {"receivers": ["hook"], "pending": "10m", "group_interval": "5m"})


def test_a_finding_fires_after_its_pending_period_and_notifies_once(
    store: Store, config: Config, clock: Clock
) -> None:
    slip = finding()
    changes = evaluate_alerts(store, [slip], clock, config)
    assert [t.after for t in changes.transitions] == ["pending"]
    assert outbox(store) == []
    clock.advance(minutes=5)
    evaluate_alerts(store, [slip], clock, config)
    assert outbox(store) == []
    clock.advance(minutes=5)
    changes = evaluate_alerts(store, [slip], clock, config)
    assert [(t.before, t.after) for t in changes.transitions] == [("pending", "firing")]
    [message] = outbox(store)
    assert message["status"] == "firing"
    assert summaries(message) == [slip.summary]
    assert message["report_url"] == "https://reports.example/PAY/"
    for _ in range(5):
        clock.advance(minutes=5)
        evaluate_alerts(store, [slip], clock, config)
    assert len(outbox(store)) == 1
    [alert] = list_alerts(store)
    assert (alert.state, alert.starts_at) == ("firing", clock.at - timedelta(minutes=25))


def test_a_finding_that_flaps_inside_the_pending_period_sends_nothing(
    store: Store, config: Config, clock: Clock
) -> None:
    slip = finding()
    for present in [True, False, True, True, False, True, False] * 3:
        evaluate_alerts(store, [slip] if present else [], clock, config)
        clock.advance(minutes=5)
    assert outbox(store) == []
    assert [a.state for a in list_alerts(store, states=["firing"])] == []


def test_a_resolved_alert_sends_a_resolved_message_then_nothing(
    store: Store, make_config: Callable[..., Config], clock: Clock
) -> None:
    config = make_config(HOOK, {"receivers": ["hook"], "resolve_after": "10m"})
    slip, cpi = finding(), finding("CPI is 0.82", rule="cpi_low", kind="project", subject="PAY")
    evaluate_alerts(store, [slip, cpi], clock, config)
    clock.advance(minutes=5)
    evaluate_alerts(store, [cpi], clock, config)  # gone for 5 of the 10 minutes: still firing
    assert sorted(a.rule for a in list_alerts(store, states=["firing"])) == [
        "cpi_low",
        "milestone_slip",
    ]
    clock.advance(minutes=5)
    changes = evaluate_alerts(store, [cpi], clock, config)
    assert [(t.rule, t.after) for t in changes.transitions] == [("milestone_slip", "resolved")]
    first, second = outbox(store)
    assert sorted(summaries(first)) == sorted([slip.summary, cpi.summary])
    assert (second["status"], summaries(second), summaries(second, "resolved")) == (
        "firing",
        [cpi.summary],
        [slip.summary],
    )
    clock.advance(minutes=5)
    evaluate_alerts(store, [], clock, config)
    clock.advance(minutes=5)
    evaluate_alerts(store, [], clock, config)
    third = outbox(store)[2]
    assert (third["status"], summaries(third, "resolved")) == ("resolved", [cpi.summary])
    for _ in range(3):
        clock.advance(minutes=5)
        evaluate_alerts(store, [], clock, config)
    assert len(outbox(store)) == 3
    with store.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(model.AlertGroup)) == 0


def test_alerts_that_start_together_are_grouped_by_project_after_group_wait(
    store: Store, make_config: Callable[..., Config], clock: Clock
) -> None:
    config = make_config(HOOK, {"receivers": ["hook"], "group_wait": "2m", "group_interval": "5m"})
    beta, gamma = finding(subject="Beta"), finding("Gamma slips", subject="Gamma")
    erp = finding("ERP go-live slips", project="ERP", subject="Go-live")
    evaluate_alerts(store, [beta], clock, config)
    clock.advance(minutes=1)
    changes = evaluate_alerts(store, [beta, gamma, erp], clock, config)
    assert outbox(store) == []
    assert changes.next_flush_at == clock.at + timedelta(minutes=1)
    clock.advance(minutes=1)
    evaluate_alerts(store, [beta, gamma, erp], clock, config)
    messages = {m["project"]: m for m in outbox(store)}
    assert sorted(messages) == ["PAY"]  # ERP's group started a minute later
    assert sorted(summaries(messages["PAY"])) == sorted([beta.summary, gamma.summary])
    clock.advance(minutes=1)
    evaluate_alerts(store, [beta, gamma, erp], clock, config)
    assert [m["project"] for m in outbox(store)] == ["PAY", "ERP"]


def test_a_new_alert_in_a_notified_group_waits_for_the_group_interval(
    store: Store, make_config: Callable[..., Config], clock: Clock
) -> None:
    config = make_config(HOOK, {"receivers": ["hook"], "group_interval": "5m"})
    beta, gamma = finding(subject="Beta"), finding("Gamma slips", subject="Gamma")
    evaluate_alerts(store, [beta], clock, config)
    clock.advance(minutes=1)
    evaluate_alerts(store, [beta, gamma], clock, config)
    assert len(outbox(store)) == 1
    clock.advance(minutes=4)
    evaluate_alerts(store, [beta, gamma], clock, config)
    _, second = outbox(store)
    assert sorted(summaries(second)) == sorted([beta.summary, gamma.summary])


def test_the_repeat_interval_resends_unchanged_firing_alerts(
    store: Store, make_config: Callable[..., Config], clock: Clock
) -> None:
    config = make_config(HOOK, {"receivers": ["hook"], "repeat_interval": "1h"})
    for _ in range(25):  # two hours, one check every five minutes
        evaluate_alerts(store, [finding()], clock, config)
        clock.advance(minutes=5)
    sent = outbox(store)
    assert len(sent) == 3  # at 0, 1h and 2h
    assert all(summaries(m) == [finding().summary] for m in sent)


def test_an_escalation_to_critical_is_news(store: Store, config: Config, clock: Clock) -> None:
    evaluate_alerts(store, [finding()], clock, config)
    clock.advance(minutes=10)
    evaluate_alerts(store, [finding()], clock, config)
    clock.advance(minutes=5)
    evaluate_alerts(store, [finding("Beta 14 days late", severity="critical")], clock, config)
    _, second = outbox(store)
    assert [a["severity"] for a in second["alerts"]] == ["critical"]
    assert summaries(second) == ["Beta 14 days late"]
    assert len(list_alerts(store)) == 1  # the same alert, escalated


def test_critical_mutes_warnings_about_the_same_subject(
    store: Store, make_config: Callable[..., Config], clock: Clock
) -> None:
    config = make_config(HOOK, {"receivers": ["hook"]})
    overdue = finding("Beta is overdue", rule="milestone_overdue", severity="critical")
    growth = finding("Beta's scope grew 30 %", rule="scope_growth", severity="warning")
    other = finding("Gamma's scope grew 12 %", rule="scope_growth", subject="Gamma")
    evaluate_alerts(store, [overdue, growth, other], clock, config)
    [message] = outbox(store)
    assert sorted(summaries(message)) == sorted([overdue.summary, other.summary])
    muted = {(a.rule, a.subject): a.muted_by or "" for a in list_alerts(store)}
    assert muted["scope_growth", "milestone Beta"].startswith("inhibited by milestone_overdue")
    assert muted["scope_growth", "milestone Gamma"] == ""
    clock.advance(minutes=5)
    evaluate_alerts(store, [growth, other], clock, config)  # the critical one resolved
    clock.advance(minutes=5)
    evaluate_alerts(store, [growth, other], clock, config)
    last = outbox(store)[-1]
    assert summaries(last, "resolved") == [overdue.summary]
    assert growth.summary in summaries(last)


def test_milestone_overdue_mutes_milestone_slip_and_configured_pairs_apply(
    store: Store, make_config: Callable[..., Config], clock: Clock
) -> None:
    config = make_config(
        HOOK,
        {
            "receivers": ["hook"],
            "inhibit": [
                {"source": ["rule=source_stale"], "target": ["rule!=source_stale"], "equal": []}
            ],
        },
    )
    overdue = finding("Beta is overdue", rule="milestone_overdue", severity="warning")
    slip = finding("Beta slips 9 days", rule="milestone_slip", severity="warning")
    evaluate_alerts(store, [overdue, slip], clock, config)
    assert summaries(outbox(store)[0]) == [overdue.summary]
    stale = finding(
        "jira has not synced for 2 h", rule="source_stale", kind="source", subject="jira"
    )
    clock.advance(minutes=5)
    evaluate_alerts(store, [overdue, slip, stale], clock, config)
    assert summaries(outbox(store)[-1]) == [stale.summary]


def test_a_silence_mutes_matching_alerts_until_it_ends(
    store: Store, config: Config, clock: Clock
) -> None:
    silence = add_silence(
        store,
        ["project=PAY", "rule=~milestone_.*"],
        timedelta(hours=2),
        "known; steering committee on Friday",
        "anna",
        clock,
    )
    pay, erp = finding(), finding("ERP go-live slips", project="ERP", subject="Go-live")
    for _ in range(3):
        evaluate_alerts(store, [pay, erp], clock, config)
        clock.advance(minutes=5)
    assert [m["project"] for m in outbox(store)] == ["ERP"]
    assert {a.project: a.muted_by for a in list_alerts(store)} == {
        "PAY": f"silence {silence.id}",
        "ERP": None,
    }
    expire_silence(store, silence.id, clock)
    evaluate_alerts(store, [pay, erp], clock, config)
    assert [m["project"] for m in outbox(store)] == ["ERP", "PAY"]


def test_a_restart_sends_nothing_again(
    make_store: Callable[..., Store], config: Config, clock: Clock
) -> None:
    first = make_store()
    evaluate_alerts(first, [finding()], clock, config)
    clock.advance(minutes=10)
    evaluate_alerts(first, [finding()], clock, config)
    first.close()
    again = make_store()  # a new process: only the database remembers
    for _ in range(3):
        clock.advance(minutes=5)
        evaluate_alerts(again, [finding()], clock, config)
    assert len(outbox(again)) == 1


def test_state_and_outbox_change_together_or_not_at_all(
    store: Store, config: Config, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluate_alerts(store, [finding()], clock, config)
    clock.advance(minutes=10)

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("power cut while writing the outbox")

    monkeypatch.setattr(lifecycle_module, "flush_groups", crash)
    with pytest.raises(RuntimeError):
        evaluate_alerts(store, [finding()], clock, config)
    assert [a.state for a in list_alerts(store)] == ["pending"]
    assert outbox(store) == []
    monkeypatch.undo()
    evaluate_alerts(store, [finding()], clock, config)
    assert [a.state for a in list_alerts(store)] == ["firing"]
    assert len(outbox(store)) == 1


def test_the_timeline_in_docs_alerts_md_is_what_happens(
    store: Store, make_config: Callable[..., Config], clock: Clock
) -> None:
    config = make_config(
        HOOK,
        {"receivers": ["hook"], "group_interval": "10m", "repeat_interval": "1d"},
    )
    a, b = finding("A", subject="A"), finding("B", subject="B")
    timeline = [[a], [a, b], [a, b], [b], [b]]
    sent_at: list[list[str]] = []
    for firing in timeline:
        before = len(outbox(store))
        evaluate_alerts(store, firing, clock, config)
        sent_at.append(
            [f"{x['summary']} {x['status']}" for m in outbox(store)[before:] for x in m["alerts"]]
        )
        clock.advance(minutes=5)
    assert sent_at == [["A firing"], [], ["A firing", "B firing"], [], ["B firing", "A resolved"]]
    clock.at += timedelta(days=1) - timedelta(minutes=5)
    evaluate_alerts(store, [b], clock, config)
    assert summaries(outbox(store)[-1]) == ["B"] and len(outbox(store)) == 4
