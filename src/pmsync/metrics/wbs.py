"""The WBS as index arrays, so every figure rolls up the tree in a few numpy calls.

A parent's value is the sum of its own and its children's, level by level
from the deepest: planned value, earned value, actual cost and budget are
summed, and the indices (SPI, CPI, TCPI ...) are then recomputed from those
sums, never averaged, because an average of ratios weighs a small work
package like a large one. The project itself is an extra root node with the
code ``""``: cost booked on no deliverable lands there, and its totals are the
project's figures. The loop is over the levels of the tree (a handful), never
over its nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmsync.metrics.inputs import DeliverablePlan, MetricInputError

PROJECT = ""
"""The code of the root node: the project as a whole."""


@dataclass(frozen=True, slots=True)
class Wbs:
    """The WBS tree as arrays: node ``i`` has ``codes[i]`` and ``parent[i]``; the root is last."""

    codes: tuple[str, ...]
    names: tuple[str, ...]
    parent: npt.NDArray[np.intp]
    levels: tuple[npt.NDArray[np.intp], ...]
    """Node indices per depth, deepest first, root excluded."""
    index: dict[str, int]

    @property
    def root(self) -> int:
        """Return the index of the project node."""
        return len(self.codes) - 1

    def parent_code(self, node: int) -> str | None:
        """Return the code of a node's parent (``""`` for top-level deliverables)."""
        up = int(self.parent[node])
        return None if up < 0 else self.codes[up]

    def roll_up(self, own: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Return each node's own value plus all its descendants' (first axis = nodes)."""
        total = np.array(own, dtype=np.float64, copy=True)
        for level in self.levels:
            np.add.at(total, self.parent[level], total[level])
        return total

    def node_of(self, codes: Sequence[str | None] | Any, what: str) -> npt.NDArray[np.intp]:
        """Return the node of each code (``None`` or ``""`` is the project); reject unknown ones."""
        if len(codes) == 0:
            return np.zeros(0, dtype=np.intp)
        if not isinstance(codes, np.ndarray):
            codes = np.array(["" if c is None else str(c) for c in codes], dtype=str)
        unique, inverse = np.unique(codes.astype(str), return_inverse=True)
        unknown = [c for c in unique.tolist() if c not in self.index]
        if unknown:
            raise MetricInputError(f"{what} names WBS codes that are not in the plan: {unknown}")
        lookup = np.array([self.index[c] for c in unique.tolist()], dtype=np.intp)
        return lookup[inverse.reshape(-1)]


def build_wbs(plans: Sequence[DeliverablePlan]) -> Wbs:
    """Index the WBS; raise ``MetricInputError`` on duplicate, unknown or circular codes."""
    codes = [p.code for p in plans]
    problems: list[str] = []
    if PROJECT in codes:
        problems.append('the code "" is reserved for the project itself')
    duplicates = sorted(code for code, n in Counter(codes).items() if n > 1)
    if duplicates:
        problems.append(f"duplicate WBS codes: {duplicates}")
    index = {code: i for i, code in enumerate(codes)}
    index[PROJECT] = len(codes)
    orphans = [p.code for p in plans if p.parent not in (None, PROJECT) and p.parent not in index]
    if orphans:
        problems.append(f"deliverables whose parent is not in the WBS: {orphans}")
    if problems:
        raise MetricInputError("; ".join(problems))
    parent = np.array([index[p.parent or PROJECT] for p in plans] + [-1], dtype=np.intp)
    depth = _depths(parent, codes)
    order = np.arange(len(codes), dtype=np.intp)
    levels = tuple(order[depth[:-1] == d] for d in range(int(depth.max(initial=0)), 0, -1))
    names = (*(p.name or p.code for p in plans), "project")
    return Wbs((*codes, PROJECT), names, parent, levels, index)


def _depths(parent: npt.NDArray[np.intp], codes: list[str]) -> npt.NDArray[np.intp]:
    depth = np.zeros(len(parent), dtype=np.intp)
    ancestor = parent.copy()
    for _ in range(len(parent) + 1):
        climbing = ancestor >= 0
        if not climbing.any():
            return depth
        depth[climbing] += 1
        ancestor[climbing] = parent[ancestor[climbing]]
    stuck = [codes[i] for i in np.flatnonzero(ancestor >= 0) if i < len(codes)]
    raise MetricInputError(f"the WBS has a cycle through: {stuck}")
