"""``Ahead``: run an iterator in a thread of its own, a few items ahead of its reader.

The sync engine reads a connector's pages this way (the next page is fetched,
parsed and mapped while the store writes this one), and the plan refresh
the commits and pull requests it scans for keys (read and scanned while it
places the work items). Either way the two sides' waits overlap instead of
adding up.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Ahead(Generic[T]):
    """Iterate ``items`` in a thread, at most ``depth`` items ahead of the reader.

    The whole iterator runs in that one thread (a generator's setup and
    cleanup included); items come out in their order, and an error comes out
    of ``__iter__`` after the items made before it, as it would without the
    thread. ``close`` stops the thread and waits for it; the iterator is
    closed in its own thread. Iterate once.
    """

    _ITEM, _ERROR, _END = range(3)

    def __init__(self, items: Iterator[T], depth: int = 2, name: str = "pmsync-ahead") -> None:
        self._items = items
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fetch, name=name, daemon=True)
        self._thread.start()

    def _fetch(self) -> None:
        try:
            for item in self._items:
                if not self._put((self._ITEM, item)):
                    return
            self._put((self._END, None))
        except Exception as err:
            self._put((self._ERROR, err))
        finally:
            close = getattr(self._items, "close", None)
            if callable(close):
                close()

    def _put(self, item: tuple[int, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            kind, value = self._queue.get()
            if kind == self._ITEM:
                yield value
            elif kind == self._ERROR:
                raise value
            else:
                return

    def close(self, timeout: float | None = None) -> None:
        """Stop and wait (at most ``timeout`` seconds; None: until it ends) for the thread."""
        self._stop.set()
        self._thread.join(timeout)

    def __enter__(self) -> Ahead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
