"""Benchmark: the sandbox must never be the bottleneck of a benchmark (issue 3, Scale).

Two tables. **Scenario**: generating a world of 100,000 Jira issues, 100,000
GitHub issues and pull requests, 200,000 commits and 20,000 events, writing it
as JSON, its size, and loading (validating) it again. **Serving**: the same
file served by ``pmsync sandbox serve`` in a child process (so client and
server each get a core and do not share an interpreter lock), how long until it
answers, and then the time to fetch one page of 100 items over one keep-alive
HTTP session, page after page, for Jira search with changelog, GitHub issues,
GitHub commits and Calendar events: the first page (which builds the views of
the world at the clock) and the median and 90th percentile of the next ones.

    .venv/bin/python -m bench.bench_sandbox [--quick] [--pages N]

``--quick`` uses a twentieth of the size. Each listing is walked twice: the first pass
renders every item, the second meets what the server keeps (see docs/sandbox.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import requests

from bench.common import show
from pmsync.sandbox.generate import generate, summarize
from pmsync.sandbox.scenario import Scenario, dump_scenario, load_scenario

FULL = {"projects": 10, "items": 100_000, "github_items": 100_000, "commits": 200_000}
EVENTS_FULL = 20_000
JIRA_FIELDS = (
    *["summary", "issuetype", "status", "priority", "assignee", "reporter", "created", "updated"],
    *["resolutiondate", "duedate", "labels", "components", "fixVersions", "parent", "project"],
    *["timeoriginalestimate", "timeestimate", "timespent", "customfield_10016"],
)
"""The fields pmsync's Jira connector asks a search for (with ``expand=changelog``)."""


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def scenario_figures(path: Path, factor: float) -> tuple[Scenario, list[tuple[str, str]]]:
    """Generate, dump and load a scenario; return it and the figures."""
    world, made = _timed(
        lambda: generate(
            projects=FULL["projects"],
            items=max(int(FULL["items"] * factor), 100),
            github_items=int(FULL["github_items"] * factor),
            commits=int(FULL["commits"] * factor),
            events=int(EVENTS_FULL * factor),
            seed=1,
        )
    )
    started = time.perf_counter()
    dump_scenario(world, path)
    dumped = time.perf_counter() - started
    del world  # load into a clean heap, as `serve --scenario` does
    gc.collect()
    loaded, read = _timed(lambda: load_scenario(path))
    counts = summarize(loaded)
    figures = [
        (
            "world",
            f"{counts['jira_issues']:,} Jira issues ({counts['jira_worklogs']:,} worklogs), "
            f"{counts['github_issues'] + counts['github_pull_requests']:,} GitHub issues+PRs, "
            f"{counts['github_commits']:,} commits, {counts['calendar_events']:,} events",
        ),
        ("generate", f"{made:.1f} s"),
        ("write JSON", f"{dumped:.1f} s"),
        ("file size", f"{path.stat().st_size / 1e6:.0f} MB"),
        ("load (parse + validate)", f"{read:.1f} s"),
    ]
    return loaded, figures


class Child:
    """``pmsync sandbox serve --scenario FILE --json`` in a child process."""

    def __init__(self, path: Path) -> None:
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pmsync", "sandbox", "serve", "--scenario", str(path), "--json"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the sandbox did not start")
        self.ready_seconds = time.perf_counter() - started
        self.endpoints: dict[str, Any] = json.loads(line)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


Fetch = Callable[[requests.Session, Any], tuple[requests.Response, Any]]


def _jira(endpoints: dict[str, Any], project: str) -> Fetch:
    info = endpoints["jira"]
    url = info["url"] + "/rest/api/3/search/jql"
    auth = (info["email"], info["token"])

    def fetch(session: requests.Session, token: Any) -> tuple[requests.Response, Any]:
        params: dict[str, Any] = {
            "jql": f"project = {project} ORDER BY updated ASC",
            "maxResults": 100,
            "fields": ",".join(JIRA_FIELDS),
            "expand": "changelog",
        }
        if token:
            params["nextPageToken"] = token
        answer = session.get(url, params=params, auth=auth, timeout=60)
        return answer, lambda: orjson.loads(answer.content).get("nextPageToken")

    return fetch


def _github(endpoints: dict[str, Any], repo: str, listing: str) -> Fetch:
    info = endpoints["github"]
    url = f"{info['url']}/repos/{repo}/{listing}"
    headers = {"Authorization": f"token {info['token']}"}
    extra = {"state": "all", "sort": "updated", "direction": "asc"} if listing == "issues" else {}

    def fetch(session: requests.Session, page: Any) -> tuple[requests.Response, Any]:
        number = page or 1
        params: dict[str, Any] = {"per_page": 100, "page": number, **extra}
        answer = session.get(url, params=params, headers=headers, timeout=60)
        return answer, lambda: number + 1 if "next" in answer.links else None

    return fetch


def _calendar(endpoints: dict[str, Any], calendar_id: str) -> Fetch:
    info = endpoints["calendar"]
    form = {k: info[k] for k in ("client_id", "client_secret", "refresh_token")}
    token = requests.post(
        info["token_uri"], data={"grant_type": "refresh_token", **form}, timeout=60
    ).json()["access_token"]
    url = f"{info['url']}/calendar/v3/calendars/{quote(calendar_id, safe='')}/events"
    headers = {"Authorization": f"Bearer {token}"}

    def fetch(session: requests.Session, page: Any) -> tuple[requests.Response, Any]:
        params: dict[str, Any] = {"maxResults": 100, "singleEvents": "true"}
        if page:
            params["pageToken"] = page
        answer = session.get(url, params=params, headers=headers, timeout=60)
        return answer, lambda: orjson.loads(answer.content).get("nextPageToken")

    return fetch


def page_times(fetch: Fetch, pages: int) -> tuple[float, list[float], float]:
    """Walk ``pages`` pages over one session: (first page ms, next pages ms, KB per page)."""
    times: list[float] = []
    sizes: list[int] = []
    cursor: Any = None
    with requests.Session() as session:
        for _ in range(pages + 1):
            started = time.perf_counter()
            answer, following = fetch(session, cursor)
            times.append((time.perf_counter() - started) * 1000)  # the body is read by now
            if answer.status_code != 200:
                raise SystemExit(f"{answer.url}: {answer.status_code} {answer.text[:200]}")
            sizes.append(len(answer.content))
            cursor = following()
            if not cursor:
                break
    return times[0], times[1:], statistics.mean(sizes) / 1024


def _spread(times: list[float]) -> tuple[str, str]:
    """Return the median and 90th percentile of page times, formatted."""
    if not times:
        return "", ""
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1] if len(times) >= 2 else median
    return f"{median:.1f} ms", f"{p90:.1f} ms"


def serving_figures(world: Scenario, path: Path, pages: int) -> list[tuple[str, ...]]:
    """Serve ``path`` in a child process and time pages of 100 of each listing."""
    child = Child(path)
    try:
        endpoints = child.endpoints
        project = max(world.projects, key=lambda p: p.budget).jira_project or ""
        repo = max(world.github.repositories, key=lambda r: len(r.issues)).full_name
        calendar = max(world.calendar.calendars, key=lambda c: len(c.events)).id
        listings = {
            "Jira search/jql, pmsync's fields + changelog": _jira(endpoints, project),
            "GitHub issues (state=all, by updated)": _github(endpoints, repo, "issues"),
            "GitHub commits": _github(endpoints, repo, "commits"),
            "Calendar events (singleEvents)": _calendar(endpoints, calendar),
        }
        rows: list[tuple[str, ...]] = [
            ("sandbox ready (load, index, warm, listen)", f"{child.ready_seconds:.1f} s")
            + ("",) * 5
        ]
        for name, fetch in listings.items():
            first, rest, kilobytes = page_times(fetch, pages)
            _, again, _ = page_times(fetch, pages)  # the same pages, served a second time
            rows.append(
                (name, f"{first:.0f} ms", *_spread(rest), *_spread(again), f"{kilobytes:.0f}")
            )
        return rows
    finally:
        child.close()


def main(argv: list[str] | None = None) -> None:
    """Print the scenario and serving figures."""
    parser = argparse.ArgumentParser(prog="bench_sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a twentieth of the full size")
    parser.add_argument("--pages", type=int, default=30, help="pages of 100 per listing")
    args = parser.parse_args(argv)
    factor = 0.05 if args.quick else 1.0
    with tempfile.TemporaryDirectory(prefix="pmsync-bench-sandbox-") as tmp:
        path = Path(tmp) / "world.json"
        world, figures = scenario_figures(path, factor)
        show(
            f"Sandbox: scenario ({'quick' if args.quick else 'full'} size)",
            ["scenario", "figure"],
            figures,
        )
        show(
            "Sandbox: a page of 100 over HTTP keep-alive (server in a child process)",
            ["listing", "first page", "median", "p90", "again: median", "again: p90", "KB/page"],
            serving_figures(world, path, args.pages),
            "Each listing is walked twice over one session: the first pass renders every item "
            "from the world at the clock; the second meets what the server keeps (the JSON of "
            "each issue, per request shape) as a benchmark's timed runs do after a warm-up. "
            "Times are the client's: request sent to body read.",
        )


if __name__ == "__main__":
    main()
