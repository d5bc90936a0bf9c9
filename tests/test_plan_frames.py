"""A frame of many projects' items split by groups of projects: each part as if read alone.

The burn-ups of a portfolio are built in groups of projects from one frame of
every item; ``ItemFrame.parts`` splits it in one pass. Each part must hold
exactly the items of its projects, in the frame's order, with their milestone
memberships pointing at the part's own rows, as a mask over the whole frame
gives them.
"""

from __future__ import annotations

import random

import numpy as np

from pmsync.plan.frames import ItemFrame


def _masked(frame: ItemFrame, project_ids: list[int]) -> ItemFrame:
    """The items of ``project_ids``, by a mask over every item (the plain way)."""
    keep = np.isin(frame.project_id, project_ids)
    renumber = np.cumsum(keep) - 1
    member = keep[frame.member_row]
    return ItemFrame(
        work_item_id=frame.work_item_id[keep],
        project_id=frame.project_id[keep],
        deliverable_id=frame.deliverable_id[keep],
        source_id=frame.source_id[keep],
        category=frame.category[keep],
        story_points=frame.story_points[keep],
        estimate_seconds=frame.estimate_seconds[keep],
        created_at=frame.created_at[keep],
        resolved_at=frame.resolved_at[keep],
        milestone_id=frame.milestone_id[member],
        member_row=renumber[frame.member_row[member]],
    )


def _frame(rng: random.Random, n: int, projects: int) -> ItemFrame:
    created = np.datetime64("2026-01-01T00:00:00", "s") + np.array(
        [rng.randrange(90 * 86400) for _ in range(n)], "timedelta64[s]"
    )
    pairs = sorted({(r, m) for r in range(n) for m in range(1, 6) if rng.random() < 0.3})
    return ItemFrame(
        work_item_id=np.arange(1, n + 1) * 3,
        project_id=np.array([rng.randrange(1, projects + 1) for _ in range(n)], np.int64),
        deliverable_id=np.array([rng.randrange(-1, 4) for _ in range(n)], np.int64),
        source_id=np.array([rng.randrange(1, 3) for _ in range(n)], np.int64),
        category=np.array([rng.randrange(3) for _ in range(n)], np.int8),
        story_points=np.array([rng.choice([1.0, 2.5, np.nan]) for _ in range(n)]),
        estimate_seconds=np.array([rng.choice([3600.0, np.nan]) for _ in range(n)]),
        created_at=created,
        resolved_at=np.where(
            np.array([rng.random() < 0.4 for _ in range(n)]),
            created + np.timedelta64(86400, "s"),
            np.datetime64("NaT"),
        ),
        milestone_id=np.array([m for _, m in pairs], np.int64),
        member_row=np.array([r for r, _ in pairs], np.int64),
    )


def _same(a: ItemFrame, b: ItemFrame) -> bool:
    return all(
        np.array_equal(getattr(a, name), getattr(b, name), equal_nan=name != "category")
        for name in a.__dataclass_fields__
    )


def test_each_part_holds_its_projects_items_as_a_mask_over_the_frame_does() -> None:
    rng = random.Random(11)
    for _ in range(30):
        projects = rng.randrange(1, 12)
        frame = _frame(rng, rng.randrange(0, 300), projects)
        ids = list(range(1, projects + 3))  # two projects beyond any item's
        rng.shuffle(ids)
        groups = [ids[i : i + rng.randrange(1, 4)] for i in range(0, len(ids), 3)]
        groups.append([])  # a group of no project: an empty part
        if rng.random() < 0.5:
            groups = groups[1:]  # some projects in no group: their items in no part
        parts = frame.parts(groups)
        assert len(parts) == len(groups)
        for group, part in zip(groups, parts, strict=True):
            assert _same(part, _masked(frame, group)), group
            assert set(part.project_id.tolist()) <= set(group)
        grouped = [pid for group in groups for pid in group]
        assert sum(len(p) for p in parts) == int(np.isin(frame.project_id, grouped).sum())
        one = groups[0]
        assert _same(frame.of_projects(one), _masked(frame, one))
