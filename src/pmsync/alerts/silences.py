"""Silences and inhibition: the two ways an alert keeps firing without anyone being told.

A **silence** is a person's decision ("we know PAY's beta slips, the steering
committee meets Friday"): matchers, a start, an end, a comment and who made it.
It mutes matching alerts while it is active, firing and resolved notifications
alike; expiring it (``unsilence``) sets its end to now, so the record stays.

**Inhibition** is configuration: a firing source alert mutes target alerts that
agree with it on the ``equal`` labels (a critical alert mutes the warnings about
the same subject). Only firing alerts inhibit (a silenced one too, as in
Alertmanager), and an alert never inhibits itself.

Muting changes delivery, never state: a muted alert still fires and resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmsync import model
from pmsync.alerts.matchers import Matcher, matches_all, parse_matchers
from pmsync.alerts.routing import InhibitionRule
from pmsync.store import Store


@dataclass(frozen=True)
class SilenceInfo:
    """A silence as ``pmsync alerts silences`` shows it."""

    id: int
    matchers: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime
    active: bool

    def as_dict(self) -> dict[str, object]:
        """Return the silence as JSON-ready data."""
        return {
            "id": self.id,
            "matchers": list(self.matchers),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "comment": self.comment,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "active": self.active,
        }


def _info(row: model.Silence, at: datetime) -> SilenceInfo:
    return SilenceInfo(
        row.id,
        tuple(row.matchers),
        row.starts_at,
        row.ends_at,
        row.comment,
        row.created_by,
        row.created_at,
        row.starts_at <= at < row.ends_at,
    )


def add_silence(
    store: Store,
    matchers: Sequence[str],
    duration: timedelta,
    comment: str,
    created_by: str,
    now: Callable[[], datetime],
    *,
    starts_at: datetime | None = None,
) -> SilenceInfo:
    """Create a silence from now (or ``starts_at``) for ``duration``; matchers are validated."""
    parsed = parse_matchers(matchers)
    if not parsed:
        raise ValueError("a silence needs at least one matcher (e.g. project=PAY)")
    if duration <= timedelta(0):
        raise ValueError("a silence must last longer than zero")
    if not comment.strip():
        raise ValueError("a silence needs a comment saying why")
    at = now()
    start = starts_at or at
    with store.session() as s:
        row = model.Silence(
            matchers=[str(m) for m in parsed],
            starts_at=start,
            ends_at=start + duration,
            comment=comment.strip(),
            created_by=created_by,
            created_at=at,
        )
        s.add(row)
        s.flush()
        return _info(row, at)


def expire_silence(store: Store, silence_id: int, now: Callable[[], datetime]) -> SilenceInfo:
    """End silence ``silence_id`` now; raise ``KeyError`` if there is no such silence."""
    at = now()
    with store.session() as s:
        row = s.get(model.Silence, silence_id)
        if row is None:
            raise KeyError(f"there is no silence {silence_id}")
        if row.ends_at > at:
            row.ends_at = max(at, row.starts_at)
        return _info(row, at)


def list_silences(
    store: Store, now: Callable[[], datetime], *, include_expired: bool = False
) -> list[SilenceInfo]:
    """Return silences that are active or pending (every one with ``include_expired``)."""
    at = now()
    query = select(model.Silence).order_by(model.Silence.id)
    if not include_expired:
        query = query.where(model.Silence.ends_at > at)
    with store.session(readonly=True) as s:
        return [_info(row, at) for row in s.scalars(query)]


class Mutes:
    """Decides, at one moment, which alerts are silenced or inhibited and why."""

    def __init__(
        self,
        silences: Iterable[tuple[int, Sequence[Matcher]]],
        rules: Sequence[InhibitionRule],
        firing: Iterable[tuple[str, Mapping[str, str], str]],
    ) -> None:
        self._silences = list(silences)
        self._rules = rules
        self._firing = list(firing)
        """(fingerprint, match labels, summary) of every firing alert."""

    @classmethod
    def load(
        cls,
        s: Session,
        at: datetime,
        rules: Sequence[InhibitionRule],
        firing: Iterable[model.Alert],
    ) -> Mutes:
        """Read the silences active at ``at`` and take ``firing`` as inhibition sources."""
        rows = s.scalars(
            select(model.Silence).where(model.Silence.starts_at <= at, model.Silence.ends_at > at)
        )
        return cls(
            [(row.id, parse_matchers(row.matchers)) for row in rows],
            rules,
            [(a.fingerprint, match_labels(a), a.summary) for a in firing],
        )

    def silenced_by(self, labels: Mapping[str, str]) -> str | None:
        """Return ``silence N`` for the first active silence matching ``labels``."""
        for silence_id, matchers in self._silences:
            if matches_all(matchers, labels):
                return f"silence {silence_id}"
        return None

    def reason(self, fingerprint: str, labels: Mapping[str, str]) -> str | None:
        """Return why a firing alert is muted (a silence, an inhibiting alert), or None."""
        silenced = self.silenced_by(labels)
        if silenced is not None:
            return silenced
        for rule in self._rules:
            for source_fp, source, summary in self._firing:
                if source_fp != fingerprint and rule.mutes(source, labels):
                    return f"inhibited by {source['rule']}: {summary} ({rule.name})"
        return None


def match_labels(alert: model.Alert) -> dict[str, str]:
    """Return the labels matchers see for a stored alert (labels, rule, severity)."""
    return {**alert.labels, "rule": alert.rule, "severity": alert.severity}
