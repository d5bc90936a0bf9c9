"""The engine fetches a connector's next pages while it stores the current one.

What a user would notice if this went wrong: pages stored out of order (a
cursor ahead of its records), an error reported before the pages fetched
ahead of it were stored, or a stopped sync leaving the connector running.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pmsync.ahead import Ahead
from pmsync.records import Page


def numbered(count: int, fail_after: int | None = None) -> Iterator[Page]:
    for n in range(count):
        if fail_after is not None and n == fail_after:
            raise RuntimeError(f"source failed at page {n}")
        yield Page([], cursor={"page": n})


def test_pages_come_out_in_the_order_the_connector_made_them() -> None:
    pages = Ahead(numbered(50))
    assert [p.cursor["page"] for p in pages if p.cursor] == list(range(50))
    pages.close(timeout=5)


def test_an_error_comes_after_the_pages_fetched_before_it() -> None:
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="failed at page 3"):
        for page in Ahead(numbered(10, fail_after=3)):
            assert page.cursor is not None
            seen.append(page.cursor["page"])
    assert seen == [0, 1, 2]


def test_stopping_early_closes_the_connector_in_its_own_thread() -> None:
    closed = threading.Event()

    def endless() -> Iterator[Page]:
        try:
            n = 0
            while True:
                yield Page([], cursor={"page": n})
                n += 1
        finally:
            closed.set()

    pages = Ahead(endless(), depth=2)
    for page in pages:
        if page.cursor and page.cursor["page"] == 5:
            break
    pages.close(timeout=5)
    assert closed.is_set()
