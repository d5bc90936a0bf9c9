"""A compact set of external ids, for a full pull's reconciliation of deletions.

A full pull tells the engine every id the source still has in a scope
(``Page.complete_ids``), so the engine can mark the rest deleted. As a
``frozenset[str]`` that costs about 90 bytes an id (the string, its hash slot),
and one scope can hold hundreds of thousands: every Jira worklog of the
configured projects is one scope. At a million work items that set alone was the
largest thing a sync held.

Most ids have a shape that packs: a number (Jira ids, worklog ids), a prefix and
a number (``acme/pay#12``) or a prefix and a commit SHA (``acme/pay@<sha>``).
``ExternalIds`` keeps those as sorted numpy arrays per prefix (8 bytes an id; 20
for a SHA) and only the rest as strings.
It is a ``collections.abc.Set`` of the very same strings: ``in``, ``len``,
iteration and equality with a ``frozenset`` behave as for the set it replaces,
so a connector can hand either to the engine.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator, Sequence, Set
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_NUMBERED = re.compile(r"(.*?)(0|[1-9][0-9]{0,17})", re.DOTALL)
"""A prefix and a number that ``prefix + str(number)`` gives back exactly (no leading zero)."""
_SHA = re.compile(r"(.*?)([0-9a-f]{40})", re.DOTALL)
"""A prefix and a commit SHA (``acme/pay@<sha>``)."""
MAX_PREFIXES = 64
"""Prefixes packed at most; ids under further prefixes are kept as strings.

Ids such as ``<history id>-<index>`` would give each id a prefix of its own."""


class ExternalIds(Set[str]):
    """A set of external ids that keeps numbered ids and SHAs packed in arrays.

    ``add`` appends to a buffer; the first question (``in``, ``len``, iteration)
    sorts the buffer into the packed arrays. Adding after that is allowed and
    merges on the next question.
    """

    __slots__ = ("_adding", "_others", "_packed")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._adding: dict[tuple[str, bool], array[int] | bytearray] = {}
        """(prefix, is a SHA) → numbers or 20-byte digests not yet packed."""
        self._packed: dict[tuple[str, bool], np.ndarray[Any, Any]] = {}
        self._others: set[str] = set()
        self.update(ids)

    def add(self, external_id: str) -> None:
        """Add one id."""
        packed = _packable(external_id)
        if packed is None:
            self._others.add(external_id)
            return
        key, value = packed
        buffer = self._adding.get(key)
        if buffer is None:
            if key not in self._packed and len(self._adding.keys() | self._packed.keys()) >= (
                MAX_PREFIXES
            ):
                self._others.add(external_id)
                return
            buffer = self._adding[key] = bytearray() if key[1] else array("q")
        if isinstance(value, bytes):
            buffer += value  # type: ignore[operator]
        else:
            buffer.append(value)

    def update(self, ids: Iterable[str]) -> None:
        """Add every id of ``ids``."""
        for external_id in ids:
            self.add(external_id)

    def _pack(self) -> None:
        if not self._adding:
            return
        import numpy as np

        for key, buffer in self._adding.items():
            if key[1]:
                new = np.frombuffer(buffer, dtype="S20")  # a view: unique makes the copy
            else:
                new = np.frombuffer(buffer, dtype=np.int64)
            kept = self._packed.get(key)
            self._packed[key] = np.unique(new if kept is None else np.concatenate((kept, new)))
        self._adding.clear()

    def __getstate__(self) -> tuple[dict[tuple[str, bool], Any], set[str]]:
        """Pickle the sorted arrays: a pull worker packs them, and with pickle's protocol 5
        they cross the pipe out of band, so the receiver neither copies nor sorts them."""
        self._pack()
        return self._packed, self._others

    def __setstate__(self, state: tuple[dict[tuple[str, bool], Any], set[str]]) -> None:
        self._packed, self._others = state
        self._adding = {}

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return not self.missing((value,))

    def missing(self, ids: Sequence[str]) -> list[str]:
        """Return the ids of ``ids`` that are not in this set, in their order (one sweep)."""
        import numpy as np

        self._pack()
        absent = [False] * len(ids)
        asked: dict[tuple[str, bool], tuple[list[int], list[Any]]] = {}
        for i, external_id in enumerate(ids):
            packed = _packable(external_id)
            if packed is None or packed[0] not in self._packed:
                absent[i] = external_id not in self._others
                continue
            where, values = asked.setdefault(packed[0], ([], []))
            where.append(i)
            values.append(packed[1])
        for key, (where, values) in asked.items():
            wanted = np.array(values, dtype="S20" if key[1] else np.int64)
            found = _found(self._packed[key], wanted)
            for i, hit in zip(where, found.tolist(), strict=True):
                absent[i] = not hit
        return [external_id for external_id, gone in zip(ids, absent, strict=True) if gone]

    def __len__(self) -> int:
        self._pack()
        return sum(len(values) for values in self._packed.values()) + len(self._others)

    def __iter__(self) -> Iterator[str]:
        self._pack()
        for (prefix, sha), values in self._packed.items():
            for value in values.tolist():
                if sha:  # numpy drops a digest's trailing NUL bytes; put them back
                    yield prefix + value.ljust(20, b"\0").hex()
                else:
                    yield f"{prefix}{value}"
        yield from self._others

    def __repr__(self) -> str:
        return f"ExternalIds({len(self)} ids)"

    __hash__ = None  # type: ignore[assignment]  # mutable, like set


def _packable(external_id: str) -> tuple[tuple[str, bool], int | bytes] | None:
    """Return (prefix, is a SHA) and the packed value of ``external_id``, if it packs."""
    if len(external_id) >= 40:
        sha = _SHA.fullmatch(external_id)
        if sha is not None:
            return (sha[1], True), bytes.fromhex(sha[2])
    numbered = _NUMBERED.fullmatch(external_id)
    if numbered is None:
        return None
    return (numbered[1], False), int(numbered[2])


def _found(
    packed: np.ndarray[Any, Any] | None, wanted: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Return, for each of ``wanted``, whether the sorted array ``packed`` holds it."""
    import numpy as np

    if packed is None or not len(packed):
        return np.zeros(len(wanted), dtype=bool)
    at = np.searchsorted(packed, wanted)
    return packed[np.minimum(at, len(packed) - 1)] == wanted
