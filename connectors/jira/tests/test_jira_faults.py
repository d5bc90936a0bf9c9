"""With 10% of requests failing, the Jira connector ends with a clean run's data, never hurrying."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from jira_harness import Site, snapshot, start_site, sync

from pmsync.retry import parse_retry_after
from pmsync.sandbox.server import FaultPlan
from pmsync.store import Store

FAULTS = "rate=0.1,kinds=429+429-date+500+502+503+reset+truncated+malformed,seed=5,retry_after=1"


class WaitLog:
    """Pairs each retry's sleep with the Retry-After of the answer that caused it."""

    def __init__(self) -> None:
        self.asked = 0.0
        self.waits: list[tuple[float, float]] = []  # (slept, asked)
        self.statuses: list[int] = []

    def on_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.statuses.append(response.status_code)
        self.asked = 0.0
        if response.status_code == 429:
            server_now = parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
            asked = parse_retry_after(response.headers.get("Retry-After"), server_now)
            assert asked is not None
            self.asked = asked

    def sleep(self, seconds: float) -> None:
        self.waits.append((seconds, self.asked))
        self.asked = 0.0


def run(site: Site, tmp: Path, log: WaitLog | None = None) -> dict[str, Any]:
    """Full sync, three days on, incremental sync; return what the store holds."""
    store = Store.open(f"sqlite:///{tmp / 'pmsync.db'}", var_dir=tmp)
    store.upgrade()
    try:
        for full in (True, False):
            # Small pages: more requests, so more of them fail.
            connector = site.connector(sleep=log.sleep if log else None, page_size=10)
            if log is not None:
                connector.client.jira._session.hooks["response"].append(log.on_response)
            sync(store, connector, full=full)
            connector.close()
            if full:
                site.advance(days=3)
        return snapshot(store)
    finally:
        store.close()


def test_faults_change_nothing_and_no_retry_after_is_shortened(tmp_path: Path) -> None:
    clean_dir, faulty_dir = tmp_path / "clean", tmp_path / "faulty"
    clean_dir.mkdir()
    faulty_dir.mkdir()
    clean = start_site(clean_dir)
    faulty = start_site(faulty_dir, faults=FaultPlan.parse(FAULTS))
    log = WaitLog()
    try:
        expected = run(clean, clean_dir)
        got = run(faulty, faulty_dir, log)
    finally:
        clean.running.stop()
        faulty.running.stop()
    assert got == expected
    assert len(expected["work_item"]) == 156  # ALPHA-5 created, ALPHA-6 deleted meanwhile

    rate_limited = [(slept, asked) for slept, asked in log.waits if asked > 0]
    assert rate_limited, "the plan should have produced some 429s"
    assert all(slept >= asked for slept, asked in log.waits)
    assert len(log.waits) >= 5  # 5xx, resets and bad bodies were retried too
    assert datetime.now(UTC)  # the fake sleep never slept: the test ran at full speed
