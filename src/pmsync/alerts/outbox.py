"""Delivering the outbox: claim a message, send it, record the outcome, one at a time.

Each message is handled in its own transaction: the row is claimed, sent, and
marked ``sent`` (or given its next attempt) before the transaction commits.

* **Several replicas (PostgreSQL)**: the claim is ``SELECT … FOR UPDATE SKIP
  LOCKED``, so a row being sent by one dispatcher is invisible to the others,
  and a row marked sent is never claimed again. **SQLite** has one writer at a
  time (``BEGIN IMMEDIATE``), which gives the same guarantee; the lock is held
  for one send at most (``delivery.timeout``).
* **Order**: a receiver's messages go out in the order they were decided; a
  message is only claimed when no older one of the same receiver is pending,
  so "resolved" never overtakes "firing", and a receiver that is down is tried
  once per run (its other messages wait) instead of once per message.
* **Retries**: a transient failure sets ``next_attempt_at`` with exponential
  backoff (``retry_initial`` doubling up to ``retry_max``, or the receiver's
  ``Retry-After`` if longer) and keeps the error; after ``give_up_after`` the
  message is ``failed``. Permanent failures fail at once. Nothing is lost while
  a channel is down: the rows wait in the table.

**At-least-once, honestly.** The send and the commit cannot be one atomic act.
If the process dies after the receiver accepted a message and before the
commit, the claim is rolled back and the message is sent again later. That
window is one network round trip wide; to close it on the receiver's side every
message carries a stable idempotency key (``Idempotency-Key`` for webhooks, the
e-mail ``Message-ID``). Slack and Teams webhooks accept no such key, so there a
crash at exactly that moment can show a message twice. Outside that window
every message is delivered exactly once, however often dispatch runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import aliased

from pmsync import model
from pmsync.alerts.channels import Channel, channel_for
from pmsync.alerts.channels.base import PermanentDeliveryError, TransientDeliveryError
from pmsync.alerts.context import message_context
from pmsync.alerts.templates import Templates
from pmsync.config import Config
from pmsync.store import Store

log = logging.getLogger(__name__)
Outcome = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class Delivery:
    """What happened to one message in this run."""

    id: int
    key: str
    receiver: str
    outcome: Outcome
    attempts: int
    error: str | None
    next_attempt_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        """Return the delivery as JSON-ready data."""
        return {
            "id": self.id,
            "key": self.key,
            "receiver": self.receiver,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "error": self.error,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }


@dataclass(frozen=True)
class DispatchReport:
    """Every message this run tried, and how it went."""

    deliveries: tuple[Delivery, ...]

    def _with(self, outcome: Outcome) -> list[Delivery]:
        return [d for d in self.deliveries if d.outcome == outcome]

    @property
    def sent(self) -> list[Delivery]:
        """Return the messages delivered."""
        return self._with("sent")

    @property
    def retrying(self) -> list[Delivery]:
        """Return the messages that failed and will be retried."""
        return self._with("retry")

    @property
    def failed(self) -> list[Delivery]:
        """Return the messages given up on."""
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """Tell whether every message tried was delivered."""
        return not self.retrying and not self.failed

    @property
    def failing_receivers(self) -> list[str]:
        """Return the receivers with a message that did not get through."""
        return sorted({d.receiver for d in self.deliveries if d.outcome != "sent"})


def backoff(attempts: int, initial: timedelta, maximum: timedelta) -> timedelta:
    """Return the wait after the ``attempts``-th failed attempt (doubling, capped)."""
    return min(maximum, initial * 2 ** min(attempts - 1, 30))


def _claim(blocked: set[str], at: datetime) -> Select[model.Notification]:
    n = model.Notification
    older = aliased(model.Notification)
    return (
        select(n)
        .where(
            n.status == "pending",
            n.next_attempt_at <= at,
            n.receiver.not_in(blocked),
            ~exists().where(
                older.receiver == n.receiver, older.status == "pending", older.id < n.id
            ),
        )
        .order_by(n.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def dispatch_notifications(
    store: Store, config: Config, now: Callable[[], datetime], *, limit: int = 100
) -> DispatchReport:
    """Send up to ``limit`` due messages from the outbox; return what happened to each."""
    templates = Templates(config.config_dir / "templates" / "alerts", config.settings.timezone)
    channels: dict[str, Channel] = {}
    blocked: set[str] = set()
    done: list[Delivery] = []
    while len(done) < limit:
        with store.session() as s:
            at = now()
            row = s.scalars(_claim(blocked, at)).first()
            if row is None:
                break
            delivery = _deliver(row, config, templates, channels, at, now)
        done.append(delivery)
        if delivery.outcome != "sent":
            blocked.add(delivery.receiver)
    return DispatchReport(tuple(done))


def _deliver(
    row: model.Notification,
    config: Config,
    templates: Templates,
    channels: dict[str, Channel],
    at: datetime,
    now: Callable[[], datetime],
) -> Delivery:
    settings = config.settings.routing.delivery
    row.attempts += 1
    row.last_attempt_at = at
    try:
        receiver = config.settings.receivers.get(row.receiver)
        if receiver is None:
            raise PermanentDeliveryError(f"receiver {row.receiver!r} is no longer configured")
        if row.receiver not in channels:
            channels[row.receiver] = channel_for(
                row.receiver,
                receiver,
                templates,
                config_dir=config.config_dir,
                timeout=settings.timeout,
            )
        channel = channels[row.receiver]
        try:
            message = channel.render(row.payload, message_context(row.payload, templates))
        except Exception as err:  # a broken admin template: wait for the fix, lose nothing
            raise TransientDeliveryError(
                f"cannot render the message: {type(err).__name__}: {err}"
            ) from err
        try:
            channel.send(message, row.key, at)
        except (TransientDeliveryError, PermanentDeliveryError):
            raise
        except Exception as err:  # a bug, not the receiver: keep the message, say what it was
            log.debug("sending %s raised", row.id, exc_info=True)
            raise TransientDeliveryError(f"unexpected {type(err).__name__} while sending") from err
    except TransientDeliveryError as err:
        if at - row.created_at >= settings.give_up_after:
            return _fail(row, f"gave up after {row.attempts} attempts: {err}")
        wait = max(
            backoff(row.attempts, settings.retry_initial, settings.retry_max),
            timedelta(seconds=err.retry_after or 0),
        )
        row.next_attempt_at, row.error = at + wait, str(err)
        if row.attempts == 1:
            log.warning(
                "receiver %s failing: %s (retrying from %s)",
                row.receiver,
                err,
                row.next_attempt_at.isoformat(),
            )
        return Delivery(
            row.id, row.key, row.receiver, "retry", row.attempts, row.error, row.next_attempt_at
        )
    except PermanentDeliveryError as err:
        return _fail(row, str(err))
    if row.attempts > 1:
        log.info(
            "receiver %s recovered: message %s delivered after %d attempts",
            row.receiver,
            row.id,
            row.attempts,
        )
    row.status, row.sent_at, row.error = "sent", now(), None
    return Delivery(row.id, row.key, row.receiver, "sent", row.attempts, None, None)


def _fail(row: model.Notification, error: str) -> Delivery:
    row.status, row.error = "failed", error
    log.error("message %s to %s failed: %s", row.id, row.receiver, error)
    return Delivery(row.id, row.key, row.receiver, "failed", row.attempts, error, None)
