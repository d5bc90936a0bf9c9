"""A milestone's scope over time, read as arrays, is the membership rule applied pair by pair.

``scope_history`` reads the memberships no fix-version change touched as
arrays (at portfolio scale, nearly all of a million) and walks the others
change by change. Here random items, memberships and moves (before and after
creation, into milestones not asked for, in and out again) are counted both
ways, day by day.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from typing import Any

import numpy as np

from pmsync.plan.frames import ItemFrame, local_days
from pmsync.plan.progress import scope_history

FIRST, LAST = date(2026, 1, 1), date(2026, 6, 1)


def _spans_pair_by_pair(frame: ItemFrame, wanted: list[int], moves: list[Any]) -> dict[int, list]:
    """Each milestone's (row, since, until) memberships, walking every pair's changes."""
    changes: dict[tuple[int, int], list[tuple[Any, int]]] = defaultdict(list)
    for row, when, mid, sign in moves:
        changes[(row, mid)].append((when, sign))
    current = set(zip(frame.member_row.tolist(), frame.milestone_id.tolist(), strict=True))
    spans: dict[int, list] = defaultdict(list)
    for row, mid in current | set(changes):
        if mid not in wanted:
            continue
        events = sorted(changes.get((row, mid), []))
        member = (row, mid) in current if not events else events[0][1] < 0
        since = frame.created_at[row]
        for when, sign in events:
            if member and sign < 0:
                spans[mid].append((row, since, when))
                member = False
            elif not member and sign > 0:
                member, since = True, max(when, frame.created_at[row])
        if member:
            spans[mid].append((row, since, np.datetime64("NaT", "s")))
    return spans


def _count(frame: ItemFrame, spans: list, zone: str) -> tuple[np.ndarray, ...]:
    """Scope and done, items and points, on each day from FIRST to LAST."""
    days = np.arange(np.datetime64(FIRST, "D"), np.datetime64(LAST, "D") + 1)
    scope, points, done, done_points = (np.zeros(days.size) for _ in range(4))
    for row, since, until in spans:
        start = local_days(np.array([since], "datetime64[s]"), zone)[0]
        end = local_days(np.array([until], "datetime64[s]"), zone)[0]
        resolved = local_days(frame.resolved_at[[row]], zone)[0]
        inside = (days >= start) & (np.isnat(end) | (days < end))
        weight = float(np.nan_to_num(frame.story_points[row]))
        scope += inside
        points += inside * weight
        if frame.category[row] == 2 and not np.isnat(resolved):
            finished = inside & (days >= max(start, resolved))
            done += finished
            done_points += finished * weight
    return scope, points, done, done_points


def test_scope_read_as_arrays_is_the_rule_applied_pair_by_pair() -> None:
    rng = random.Random(3)
    start = np.datetime64("2026-01-01T00:00:00", "s")
    for _ in range(25):
        n = rng.randrange(1, 200)
        created = start + np.array([rng.randrange(90 * 86400) for _ in range(n)], "timedelta64[s]")
        late = [rng.randrange(60 * 86400) if rng.random() < 0.5 else -1 for _ in range(n)]
        resolved = np.array(
            [c + np.timedelta64(d, "s") if d >= 0 else np.datetime64("NaT") for c, d in
             zip(created, late, strict=True)], "datetime64[s]")  # fmt: skip
        pairs = sorted({(r, m) for r in range(n) for m in (1, 2, 3, 4) if rng.random() < 0.3})
        frame = ItemFrame(
            work_item_id=np.arange(1, n + 1),
            project_id=np.ones(n, np.int64),
            deliverable_id=np.full(n, -1),
            source_id=np.ones(n, np.int64),
            category=np.array([2 if d >= 0 else rng.randrange(2) for d in late], np.int8),
            story_points=np.array([rng.choice([1.0, 2.5, np.nan, 0.5]) for _ in range(n)]),
            estimate_seconds=np.zeros(n),
            created_at=created,
            resolved_at=resolved,
            milestone_id=np.array([m for _, m in pairs], np.int64),
            member_row=np.array([r for r, _ in pairs], np.int64),
        )
        moves = [
            (r, created[r] + np.timedelta64(rng.randrange(-5 * 86400, 100 * 86400), "s"),
             rng.choice([1, 2, 3, 4, 9]), rng.choice([1, -1]))
            for r in (rng.randrange(n) for _ in range(rng.randrange(150)))
        ]  # fmt: skip
        wanted = rng.sample([1, 2, 3, 4], rng.randrange(1, 5))
        found = scope_history(None, frame, wanted, FIRST, LAST, "Europe/Berlin", moves=moves)  # type: ignore[arg-type]
        spans = _spans_pair_by_pair(frame, wanted, moves)
        for mid in wanted:
            got = found[mid]
            expected = _count(frame, spans.get(mid, []), "Europe/Berlin")
            assert np.array_equal(got.items, expected[0]), mid
            assert np.allclose(got.points, expected[1], rtol=0, atol=1e-9), mid
            assert np.array_equal(got.done_items, expected[2]), mid
            assert np.allclose(got.done_points, expected[3], rtol=0, atol=1e-9), mid


def test_local_days_are_the_calendar_days_of_the_zone_across_daylight_saving() -> None:
    """Each instant's day where the team works, through both changes of the clock, asked twice
    (the second time the zone's offsets are remembered)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    rng = random.Random(5)
    first = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    seconds = [first + rng.randrange(2 * 366 * 86400) for _ in range(3000)]
    # the last hours before and after midnight around each change of the clock
    for day in ("2026-03-28", "2026-03-29", "2026-10-24", "2026-10-25", "2026-11-01"):
        midnight = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())
        seconds += [midnight + minutes * 60 for minutes in range(-300, 300, 15)]
    instants = np.array([*seconds, "NaT"], dtype="datetime64[s]")
    for zone in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"):
        expected = [
            datetime.fromtimestamp(s, UTC).astimezone(ZoneInfo(zone)).date() for s in seconds
        ]
        for _ in range(2):
            found = local_days(instants, zone)
            assert found[:-1].astype(object).tolist() == expected, zone
            assert np.isnat(found[-1])
