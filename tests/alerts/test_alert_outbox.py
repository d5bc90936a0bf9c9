"""The outbox as an operator relies on it: nothing lost, nothing twice, however things fail.

A real HTTP receiver on 127.0.0.1 plays the channel: it goes down (connections
refused), answers 5xx or 429, comes back; dispatchers run concurrently.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pmsync import model
from pmsync.alerts import (
    DispatchReport,
    check_templates,
    dispatch_notifications,
    evaluate_alerts,
    run_check,
)
from pmsync.alerts.templates import Templates
from pmsync.config import Config
from pmsync.store import Store

from .conftest import Clock, HttpReceiver, finding


def hook_config(make_config: Callable[..., Config], *urls: str, **routing: object) -> Config:
    receivers = {f"hook{i}": {"type": "webhook", "url": url} for i, url in enumerate(urls)}
    return make_config(receivers, {"receivers": list(receivers), **routing})


def rows(store: Store) -> list[model.Notification]:
    with store.session(readonly=True) as s:
        return list(s.scalars(select(model.Notification).order_by(model.Notification.id)))


def test_two_checks_in_a_row_send_nothing_new(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver()
    config = hook_config(make_config, hook.url())
    findings = [finding(), finding("ERP slips", project="ERP", subject="Go-live")]
    first = run_check(store, config, findings, clock)
    assert len(first.dispatch.sent) == 2
    second = run_check(store, config, findings, clock)
    assert second.dispatch.deliveries == () and second.changes.transitions == ()
    clock.advance(minutes=5)
    assert run_check(store, config, findings, clock).dispatch.deliveries == ()
    assert len(hook.received) == 2


def test_a_channel_down_for_an_hour_loses_nothing_and_sends_nothing_twice(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver()
    config = hook_config(make_config, hook.url(), resolve_after="0s")
    hook.stop()  # down: connections are refused
    beta, erp = finding(), finding("ERP slips", project="ERP", subject="Go-live")
    schedule = [[beta]] * 4 + [[beta, erp]] * 4 + [[erp]] * 4  # an hour of checks, 5 min apart
    for findings in schedule:
        report = run_check(store, config, findings, clock)
        assert report.dispatch.sent == []
        clock.advance(minutes=5)
    pending = rows(store)
    assert [r.status for r in pending] == ["pending"] * 3  # beta, erp, beta resolved
    assert pending[0].attempts >= 5 and "cannot reach 127.0.0.1" in (pending[0].error or "")
    assert pending[0].next_attempt_at > clock.at - timedelta(minutes=5)
    hook.start()  # back, same port
    delivered: list[DispatchReport] = []
    for _ in range(6):
        delivered.append(run_check(store, config, [erp], clock).dispatch)
        clock.advance(minutes=5)
    keys = Counter(r.headers["Idempotency-Key"] for r in hook.received)
    assert sorted(keys) == sorted(r.key for r in pending) and set(keys.values()) == {1}
    statuses = [(b["project"], b["status"]) for b in hook.bodies()]
    assert statuses == [("PAY", "firing"), ("ERP", "firing"), ("PAY", "resolved")]
    assert all(r.status == "sent" for r in rows(store))


def test_backoff_doubles_up_to_the_maximum_and_honours_retry_after(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver(script=[503, 503, 503, 503, 503, 503])
    config = hook_config(
        make_config, hook.url(), delivery={"retry_initial": "30s", "retry_max": "3m"}
    )
    evaluate_alerts(store, [finding()], clock, config)
    waits = []
    for _ in range(5):
        start = clock.at
        dispatch_notifications(store, config, clock)
        [row] = rows(store)
        waits.append(row.next_attempt_at - start)
        clock.at = row.next_attempt_at
    assert waits == [timedelta(seconds=s) for s in (30, 60, 120, 180, 180)]
    assert "answered HTTP 503" in (row.error or "") and row.attempts == 5
    hook.script, hook.retry_after = [429], "900"
    dispatch_notifications(store, config, clock)
    assert rows(store)[0].next_attempt_at == clock.at + timedelta(minutes=15)
    clock.advance(minutes=15)
    assert len(dispatch_notifications(store, config, clock).sent) == 1


def test_a_rejected_message_fails_at_once_and_the_next_one_goes_out(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver(script=[400])
    config = hook_config(make_config, hook.url(), group_by=["project", "subject_id"])
    report = run_check(store, config, [finding(subject="Beta"), finding(subject="Gamma")], clock)
    assert [d.outcome for d in report.dispatch.deliveries] == ["failed"]
    assert "rejected" in (report.dispatch.failed[0].error or "")
    assert not report.ok and report.dispatch.failing_receivers == ["hook0"]
    assert (
        len(
            run_check(
                store, config, [finding(subject="Beta"), finding(subject="Gamma")], clock
            ).dispatch.sent
        )
        == 1
    )


def test_a_message_is_failed_after_give_up_after(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver()
    config = hook_config(
        make_config, hook.url(), delivery={"give_up_after": "2h", "retry_max": "30m"}
    )
    hook.stop()
    evaluate_alerts(store, [finding()], clock, config)
    for _ in range(12):
        dispatch_notifications(store, config, clock)
        clock.advance(minutes=15)
    [row] = rows(store)
    assert row.status == "failed" and (row.error or "").startswith("gave up after")


def test_a_broken_admin_template_holds_the_message_until_it_is_fixed(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver()
    config = hook_config(make_config, hook.url())
    override = Path(config.config_dir) / "templates" / "alerts"
    override.mkdir(parents=True)
    (override / "message.txt.j2").write_text("{{ title }} {% for %}")
    report = run_check(store, config, [finding()], clock)
    assert "cannot render the message: TemplateSyntaxError" in (
        report.dispatch.retrying[0].error or ""
    )
    (override / "message.txt.j2").write_text("Custom: {{ title }} ({{ firing|length }} firing)")
    clock.advance(minutes=5)
    assert len(run_check(store, config, [finding()], clock).dispatch.sent) == 1
    assert (
        hook.bodies()[0]["text"]
        == "Custom: [FIRING] PAY: Milestone Beta forecast 12 days late (1 firing)"
    )


def test_concurrent_dispatchers_send_every_message_exactly_once(
    db_backend: str,
    make_store: Callable[..., Store],
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver(delay=0.05)
    urls = [hook.url(f"/r{i}") for i in range(4)]
    config = hook_config(make_config, *urls, group_by=["subject_id"])
    replicas = [make_store(), make_store()]
    findings = [finding(f"Milestone M{i} slips", subject=f"M{i}") for i in range(5)]
    queued = evaluate_alerts(replicas[0], findings, clock, config).notifications
    assert len(queued) == 20
    barrier = threading.Barrier(2)
    reports: list[DispatchReport] = []

    def replica(store: Store) -> None:
        barrier.wait()
        reports.append(dispatch_notifications(store, config, clock))

    threads = [threading.Thread(target=replica, args=(s,)) for s in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    keys = Counter(r.headers["Idempotency-Key"] for r in hook.received)
    assert sorted(keys) == sorted(q.key for q in queued) and set(keys.values()) == {1}
    sent = [{d.key for d in r.sent} for r in reports]
    assert not sent[0] & sent[1]
    if db_backend == "postgresql":
        # SKIP LOCKED lets both work at once; SQLite's single writer may serve one of them only.
        assert all(sent)
    assert all(r.status == "sent" for r in rows(replicas[0]))


@pytest.mark.parametrize("limit", [1, 3])
def test_dispatch_sends_at_most_limit_messages(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
    limit: int,
) -> None:
    hook = http_receiver()
    config = hook_config(make_config, hook.url(), group_by=["subject_id"])
    evaluate_alerts(store, [finding(subject=f"M{i}") for i in range(5)], clock, config)
    assert len(dispatch_notifications(store, config, clock, limit=limit).sent) == limit
    assert len(dispatch_notifications(store, config, clock).sent) == 5 - limit


def test_a_receivers_messages_arrive_in_the_order_they_were_decided(
    store: Store,
    make_config: Callable[..., Config],
    http_receiver: Callable[..., HttpReceiver],
    clock: Clock,
) -> None:
    hook = http_receiver(script=[503])
    config = hook_config(make_config, hook.url(), group_by=["subject_id"])
    beta, gamma = finding(subject="Beta"), finding("Gamma slips", subject="Gamma")
    assert run_check(store, config, [beta], clock).dispatch.retrying  # Beta waits 30 s
    clock.advance(seconds=10)
    report = run_check(store, config, [beta, gamma], clock)  # Gamma is due now, Beta is not
    assert report.dispatch.deliveries == () and hook.received == []
    clock.advance(seconds=20)
    assert len(dispatch_notifications(store, config, clock).sent) == 2
    assert [b["alerts"][0]["summary"] for b in hook.bodies()] == [beta.summary, gamma.summary]


def test_check_templates_points_at_the_broken_line(tmp_path: Path) -> None:
    assert check_templates(Templates(None)) == []
    (tmp_path / "slack.mrkdwn.j2").write_text("*{{ title }}*\n{{ project.name.upper() }}\n")
    (tmp_path / "teams.md.j2").write_text("{{ title }}\n\n{% if %}\n")
    problems = check_templates(Templates(tmp_path))
    assert len(problems) == 2
    assert problems[0].startswith(f"{tmp_path}/slack.mrkdwn.j2:2: UndefinedError")
    assert problems[1].startswith(f"{tmp_path}/teams.md.j2:3: ")
