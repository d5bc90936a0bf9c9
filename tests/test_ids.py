"""``ExternalIds``: the set a full pull hands over to reconcile deletions, in little memory.

It must answer exactly as the ``frozenset`` it replaces would, whatever the ids
look like: a wrong "absent" deletes a live row; a wrong "present" keeps a
deleted one.
"""

from __future__ import annotations

import hashlib
import random
import tracemalloc

from pmsync.ids import MAX_PREFIXES, ExternalIds


def shapes(rng: random.Random, n: int) -> list[str]:
    """Ids of every shape the connectors make, and the awkward ones near them."""
    ids: list[str] = []
    for i in range(n):
        sha = hashlib.sha1(str(i).encode()).hexdigest()
        ids += [
            str(rng.randrange(10**7)),  # Jira issue and worklog ids
            f"acme/repo{i % 5}#{rng.randrange(5000)}",  # GitHub issues and PRs
            f"acme/repo{i % 5}@{sha}",  # commits
            f"team@example.com/{sha[:12]}",  # calendar events
            f"{rng.randrange(10**5)}-{i % 3}",  # changelog entries: a prefix of their own
            rng.choice(["0", "00", "007", "-1", "+1", "1e3", " 5", "٣", "1" * 19, "ABC" * 14]),
            sha.upper(),  # not lowercase: not a SHA to pack
            sha[:-1] + "\0",
        ]
    ids.append("acme/x@" + "ab" * 19 + "00")  # a digest ending in NUL bytes
    return ids


def test_it_answers_as_a_frozenset_of_the_same_ids() -> None:
    rng = random.Random(7)
    given = shapes(rng, 400)
    expected = frozenset(given)
    packed = ExternalIds(given)
    assert len(packed) == len(expected)
    assert packed == expected and expected == packed
    assert set(packed) == expected
    asked = shapes(random.Random(8), 200) + rng.sample(given, 300)
    assert [a in packed for a in asked] == [a in expected for a in asked]
    assert packed.missing(asked) == [a for a in asked if a not in expected]


def test_ids_added_after_a_question_are_found_too() -> None:
    packed = ExternalIds(["1", "acme/r#2"])
    assert "3" not in packed
    packed.update(["3", "1", "acme/r#4"])
    assert "3" in packed and "acme/r#4" in packed and len(packed) == 4


def test_ids_that_would_each_need_a_prefix_of_their_own_stay_strings() -> None:
    ids = [f"{history}-{index}" for history in range(3 * MAX_PREFIXES) for index in range(2)]
    packed = ExternalIds(ids)
    assert set(packed) == set(ids) and len(packed) == len(ids)
    assert "5-1" in packed and "5-2" not in packed


def test_a_scope_of_half_a_million_worklog_ids_takes_a_tenth_of_a_frozensets_memory() -> None:
    def traced(build: object) -> int:
        tracemalloc.start()
        try:
            kept = build()  # type: ignore[operator]
            assert len(kept) == 470_000
            return tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    ExternalIds(["1"]).missing(["1"])  # numpy imported before measuring
    as_strings = traced(lambda: frozenset(str(100_000 + 3 * i) for i in range(470_000)))
    packed = traced(lambda: ExternalIds(str(100_000 + 3 * i) for i in range(470_000)))
    assert packed * 10 < as_strings, (packed, as_strings)
