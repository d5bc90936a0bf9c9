"""Work items as they stood at a status date: status, milestone membership, status history.

The plan's ``ItemFrame`` holds every item as it is *now*. Earned value, the
forecasts and the team figures at an earlier status date need each item as it
was then, so a PM can look at any past Friday and get the figures of that day:

* an item counts only once it was created;
* its status at the date is the ``from`` status of its first status change
  after the date (nothing changed since: its status now). Items without a
  status history (GitHub keeps none) were open until they were resolved;
* its milestones at the date undo the Jira fix-version changes made since: a
  pair (item, milestone) whose first change after the date *added* the item
  was not a member then; one whose first change *removed* it was.

The history itself is read by ``history``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from pmsync.config import Config
from pmsync.health.history import (
    DONE,
    TODO,
    Ints,
    StatusRows,
    fix_version_moves,
    status_changes,
)
from pmsync.plan.frames import ItemFrame


@dataclass(frozen=True)
class ItemsAt:
    """The items of an ``ItemFrame`` as they stood at one instant (rows as in the frame)."""

    cutoff: np.datetime64
    """The instant, UTC seconds: the end of the status date, or now if that is earlier."""
    exists: npt.NDArray[np.bool_]
    """Created by the cutoff."""
    category: npt.NDArray[np.int8]
    """Status category code at the cutoff (``ItemFrame.category`` codes)."""
    milestone_id: Ints
    """Milestone memberships at the cutoff: ``milestone_id[k]`` held frame row ``member_row[k]``."""
    member_row: Ints
    event_row: Ints
    """The status history, one event per change (creation included), in no particular order."""
    event_at: npt.NDArray[np.datetime64]
    event_status: npt.NDArray[np.int8]


_PAIR = np.int64(1) << 31


def memberships_at(frame: ItemFrame, moves: Ints) -> tuple[Ints, Ints]:
    """Return (milestone ids, frame rows) at the cutoff, given the fix-version moves after it."""
    current = frame.member_row.astype(np.int64) * _PAIR + frame.milestone_id
    if not len(moves):
        return frame.milestone_id, frame.member_row
    row = np.searchsorted(frame.work_item_id, moves[:, 0])
    keys = np.concatenate([row * _PAIR + moves[:, 2], row * _PAIR + moves[:, 3]])
    sign = np.repeat([-1, 1], len(moves))
    at = np.tile(moves[:, 1], 2)
    known = np.concatenate([moves[:, 2] >= 0, moves[:, 3] >= 0])
    keys, sign, at = keys[known], sign[known], at[known]
    order = np.lexsort((at, keys))
    unique, first = np.unique(keys[order], return_index=True)
    earliest = sign[order][first]
    kept = np.setdiff1d(current, unique[earliest > 0])  # added since: not a member then
    pairs = np.union1d(kept, unique[earliest < 0])  # removed since: a member then
    return pairs % _PAIR, pairs // _PAIR


def items_at(
    conn: Connection,
    config: Config,
    frame: ItemFrame,
    cutoff: datetime,
    now: datetime,
    since: datetime,
    read: StatusRows | None = None,
) -> ItemsAt:
    """Return the frame's items as they stood at ``cutoff``, with their history since ``since``.

    ``read``: the frame's status history, if read already (``read_status_changes``).
    """
    cut = int(cutoff.timestamp())
    changes = status_changes(conn, config, frame, since, read)
    row = np.searchsorted(frame.work_item_id, changes[:, 0])
    order = np.lexsort((changes[:, 1], row))
    row, at, to_code, from_code = row[order], *changes[order, 1:].T
    count = len(frame)
    now_category = frame.category.astype(np.int8)
    history = np.zeros(count, dtype=bool)
    history[row] = True
    status = now_category.copy()
    # rows are sorted: the first change of each item, and its first one after the cutoff
    first = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if len(row) else row
    later = np.flatnonzero(at > cut)
    first_later = later[np.r_[True, row[later][1:] != row[later][:-1]]] if len(later) else later
    status[row[first_later]] = np.maximum(from_code[first_later], TODO)
    created = frame.created_at.astype("datetime64[s]")
    resolved = frame.resolved_at.astype("datetime64[s]")
    done_without_history = ~history & (now_category == DONE)
    moment = np.datetime64(cut, "s")
    resolved_later = done_without_history & ~np.isnat(resolved) & (resolved > moment)
    status[resolved_later] = TODO
    # The history: creation in the first status, every change, and resolution where none.
    initial = np.where(now_category == DONE, TODO, now_category).astype(np.int8)
    initial[row[first]] = np.maximum(from_code[first], TODO)
    done_at = np.where(np.isnat(resolved), created, resolved)[done_without_history]
    known = to_code >= 0
    event_row = np.concatenate([np.arange(count), row[known], np.flatnonzero(done_without_history)])
    event_at = np.concatenate([created, at[known].astype("datetime64[s]"), done_at])
    event_status = np.concatenate(
        [initial, to_code[known].astype(np.int8), np.full(len(done_at), DONE, np.int8)]
    )
    milestone_id, member_row = frame.milestone_id, frame.member_row
    if cutoff < now:  # milestones changed since: undo the moves made after the cutoff
        moves = fix_version_moves(conn, frame, cut)
        milestone_id, member_row = memberships_at(frame, moves)
    return ItemsAt(
        cutoff=moment,
        exists=created <= moment,
        category=status,
        milestone_id=milestone_id,
        member_row=member_row,
        event_row=event_row,
        event_at=event_at,
        event_status=event_status,
    )


def wall_clock(instants: npt.NDArray[np.datetime64], timezone: str) -> npt.NDArray[np.datetime64]:
    """Return UTC instants as local wall-clock times (so their UTC days are the local days)."""
    seconds = instants.astype("datetime64[s]")
    if timezone in ("UTC", "Etc/UTC") or not len(seconds):
        return seconds
    zone = ZoneInfo(timezone)
    unique, inverse = np.unique(seconds.astype("datetime64[h]"), return_inverse=True)
    offsets = np.array(
        [
            0
            if np.isnat(hour)
            else int(
                datetime.fromtimestamp(int(hour.astype("datetime64[s]").astype(np.int64)), UTC)
                .astimezone(zone)
                .utcoffset()
                .total_seconds()  # type: ignore[union-attr]
            )
            for hour in unique
        ],
        dtype=np.int64,
    )
    return seconds + offsets[inverse.reshape(-1)].astype("timedelta64[s]")
