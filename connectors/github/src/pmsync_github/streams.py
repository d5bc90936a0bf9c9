"""How each stream walks GitHub's listings: incremental, conditional, crash-safe.

Why each listing is walked the way it is (details in docs/connectors/github.md):

* ``issues``: ``since`` + ``sort=updated&direction=asc``. Pages are fetched by
  keyset (the next request's ``since`` is the last update seen), so an issue
  updated while we page moves *ahead* of us instead of shifting one we have not
  read onto a page we already read. Each page's cursor is valid once stored.
* ``pull_requests``: GitHub has no ``since`` here, so ``direction=desc`` from the
  newest update, stopping at the first one older than the cursor; the cursor
  moves only on the last page (a crash re-reads, never skips).
* ``commits``: ``since`` per branch, newest first, cursor on the last page.
* ``milestones``: all states, every pass; they are few.

Conditional requests: a 304 proves nothing changed only if the ETag covers
everything the next request would see. For newest-first listings (pulls,
commits) the first page does: any change lands on it. For ``issues`` it does
when the listing fits on one page. So after reading changes, the walk requests
once more with the ``since`` the next pass will send and keeps that ETag
("anchoring"); an unchanged repository then costs one 304 per stream.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pmsync.ids import ExternalIds
from pmsync.records import Page, Record
from pmsync_github import mapping
from pmsync_github.client import Answer, GitHubClient, github_time
from pmsync_github.links import ReferenceFinder
from pmsync_github.settings import GitHubSettings

State = dict[str, Any]
_MAX_ANCHORS = 3


class CursorBook:
    """The stream's cursor: ``{"repos": {"owner/repo": state}}``, copied on every page."""

    def __init__(self, cursor: Any) -> None:
        self.data: dict[str, Any] = copy.deepcopy(dict(cursor or {}))
        self.data.setdefault("repos", {})

    def repo(self, name: str) -> State:
        """Return the (mutable) state of one repository."""
        state: State = self.data["repos"].setdefault(name, {})
        return state

    def snapshot(self) -> dict[str, Any]:
        """Return a copy safe to hand to the engine."""
        return copy.deepcopy(self.data)


def _since(state: State) -> datetime | None:
    value = state.get("since")
    return mapping.parse_time(value) if value else None


def _fmt(moment: datetime | None) -> str | None:
    return None if moment is None else github_time(moment)


def _older(row: Any, limit: datetime) -> bool:
    try:
        moment = mapping.parse_time(row.get("updated_at"))
    except (AttributeError, ValueError):
        return False
    return moment is not None and moment < limit


def _validator(state: State, full: bool, request_since: datetime | None) -> str | None:
    """Return the stored ETag if it was taken for the URL about to be requested."""
    if full or state.get("etag_for") != _fmt(request_since):
        return None
    etag: str | None = state.get("etag")
    return etag


def _final(
    records: list[Record], book: CursorBook, kind: str, ids: ExternalIds | None, repo: str
) -> Page:
    """Return a repository's last page; with ``ids`` (full pulls) it reports them complete."""
    complete = None if ids is None else {kind: ids}
    return Page(records=records, cursor=book.snapshot(), complete_ids=complete, scope=repo)


class StreamWalker:
    """Walks one stream's listings for every configured repository."""

    def __init__(self, client: GitHubClient, settings: GitHubSettings) -> None:
        self.client = client
        self.settings = settings
        self.overlap = timedelta(seconds=settings.overlap_seconds)
        self.finder = ReferenceFinder(settings)

    def _map(
        self,
        kind: str,
        rows: list[Any],
        build: Callable[[Any], Record],
        ident: Callable[[Any], str],
    ) -> list[Record]:
        records = []
        for row in rows:
            try:
                external_id = ident(row)
            except (KeyError, TypeError, ValueError):
                external_id = "?"
            records.append(mapping.guarded(kind, external_id, row, partial(build, row)))
        return records

    @staticmethod
    def _newest(rows: list[Any], *path: str) -> datetime | None:
        found = []
        for row in rows:
            value: Any = row
            try:
                for key in path:
                    value = value[key]
                moment = mapping.parse_time(value)
            except (KeyError, TypeError, ValueError):
                continue
            if moment is not None:
                found.append(moment)
        return max(found, default=None)

    # --- issues -----------------------------------------------------------------------

    def issues(self, repo: str, book: CursorBook, full: bool) -> Iterator[Page]:
        """Yield the issues and pull requests (as work items) updated since the cursor."""
        state = book.repo(repo)
        newest = None if full else _since(state)
        request_since = None if newest is None else newest - self.overlap
        etag = _validator(state, full, request_since)
        page_no, anchors = 1, 0
        ids = ExternalIds()
        url = f"/repos/{repo}/issues"
        while True:
            params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "asc"}
            params["per_page"] = self.settings.per_page
            if request_since is not None:
                params["since"] = github_time(request_since)
            if page_no > 1:
                params["page"] = page_no
            answer = self.client.get_list(url, params, etag if page_no == 1 else None)
            if answer.not_modified:
                return
            rows: list[Any] = answer.data
            records = self._map(
                "work_item",
                rows,
                lambda r: mapping.work_item(repo, r, self.finder),
                lambda r: f"{repo}#{int(r['number'])}",
            )
            ids.update(r.external_id for r in records if r.kind == "work_item")
            page_newest = self._newest(rows, "updated_at")
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            state["since"] = _fmt(newest)
            if answer.next_url is not None:
                if (
                    page_no == 1
                    and page_newest is not None
                    and (request_since is None or page_newest > request_since)
                ):
                    request_since = page_newest  # keyset: the next page starts where this one ends
                else:
                    page_no += 1  # a full page of one second: page through that second
                state.pop("etag", None)
                yield Page(records=records, cursor=book.snapshot(), scope=repo)
                continue
            anchor = None if newest is None else newest - self.overlap
            done = page_no == 1 and _fmt(anchor) == _fmt(request_since)
            if done:
                state["etag"], state["etag_for"] = answer.etag, _fmt(anchor)
            else:
                state.pop("etag", None)
            if done or anchors >= _MAX_ANCHORS:
                yield _final(records, book, "work_item", ids if full else None, repo)
                return
            yield Page(records=records, cursor=book.snapshot(), scope=repo)
            anchors += 1
            request_since, page_no, etag = anchor, 1, None

    # --- pull requests ----------------------------------------------------------------

    def pull_requests(self, repo: str, book: CursorBook, full: bool) -> Iterator[Page]:
        """Yield the pull requests updated since the cursor, newest first."""
        state = book.repo(repo)
        since = None if full else _since(state)
        stop_before = None if since is None else since - self.overlap
        etag = None if full else state.get("etag")
        page_no, newest, first_etag = 1, since, None
        ids = ExternalIds()
        params = {"state": "all", "sort": "updated", "direction": "desc"}
        url: str = f"/repos/{repo}/pulls"
        query: dict[str, Any] | None = {**params, "per_page": self.settings.per_page}
        while True:
            # after the first page, the Link header's next URL: page numbers or cursors alike
            answer = self.client.get_list(url, query, etag if page_no == 1 else None)
            if answer.not_modified:
                return
            if page_no == 1:
                first_etag = answer.etag
            rows: list[Any] = answer.data
            if stop_before is not None:  # older ones are on the page only because of paging
                rows = [r for r in rows if not _older(r, stop_before)]
            records = self._map(
                "pull_request",
                rows,
                lambda r: mapping.pull_request(repo, r),
                lambda r: f"{repo}#{int(r['number'])}",
            )
            ids.update(r.external_id for r in records if r.kind == "pull_request")
            page_newest = self._newest(rows, "updated_at")
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            reached = len(rows) < len(answer.data)
            if answer.next_url is None or reached:
                state.update(since=_fmt(newest), etag=first_etag)
                yield _final(records, book, "pull_request", ids if full else None, repo)
                return
            yield Page(records=records, cursor=None, scope=repo)
            page_no, url, query = page_no + 1, answer.next_url, None

    # --- milestones -------------------------------------------------------------------

    def milestones(self, repo: str, book: CursorBook, full: bool) -> Iterator[Page]:
        """Yield every milestone, open and closed; a 304 when none changed."""
        state = book.repo(repo)
        etag = None if full or not state.get("single_page") else state.get("etag")
        page_no = 1
        ids = ExternalIds()
        first: Answer | None = None
        while True:
            answer = self.client.get_list(
                f"/repos/{repo}/milestones",
                {"state": "all", "per_page": self.settings.per_page, "page": page_no},
                etag if page_no == 1 else None,
            )
            if answer.not_modified:
                return
            first = first or answer
            rows: list[Any] = answer.data
            records = self._map(
                "source_milestone",
                rows,
                lambda r: mapping.source_milestone(repo, r),
                lambda r: f"{repo}#{int(r['number'])}",
            )
            ids.update(r.external_id for r in records if r.kind == "source_milestone")
            if answer.next_url is None:
                state.update(etag=first.etag, single_page=page_no == 1)
                yield _final(records, book, "source_milestone", ids, repo)
                return
            yield Page(records=records, cursor=None, scope=repo)
            page_no += 1

    # --- commits ----------------------------------------------------------------------

    def commits(self, repo: str, book: CursorBook, full: bool) -> Iterator[Page]:
        """Yield the commits of each tracked branch committed since the branch's cursor."""
        state = book.repo(repo)
        if full or "default_branch" not in state:
            answer = self.client.get(f"/repos/{repo}")
            state["default_branch"] = (answer.data or {}).get("default_branch") or "main"
        branches = self.settings.branches.get(repo) or [state["default_branch"]]
        ids = ExternalIds()
        completed = False
        for position, branch in enumerate(branches):
            last = position == len(branches) - 1
            branch_state = state.setdefault("branches", {}).setdefault(branch, {})
            for page, is_last in self._branch(repo, branch, branch_state, book, full, ids):
                if last and is_last and full:
                    completed = True
                    page = Page(
                        records=page.records,
                        cursor=page.cursor,
                        complete_ids={"commit": ids},
                        scope=repo,
                    )
                yield page
        if full and not completed:  # the last branch answered nothing to attach them to
            yield _final([], book, "commit", ids, repo)

    def _branch(
        self, repo: str, branch: str, state: State, book: CursorBook, full: bool, ids: ExternalIds
    ) -> Iterator[tuple[Page, bool]]:
        newest = None if full else _since(state)
        request_since = None if newest is None else newest - self.overlap
        etag = _validator(state, full, request_since)
        page_no, first_etag, anchored = 1, None, False
        while True:
            params: dict[str, Any] = {"sha": branch, "per_page": self.settings.per_page}
            if request_since is not None:
                params["since"] = github_time(request_since)
            if page_no > 1:
                params["page"] = page_no
            answer = self.client.get_list(
                f"/repos/{repo}/commits", params, etag if page_no == 1 else None
            )
            if answer.not_modified:
                return
            if page_no == 1:
                first_etag = answer.etag
            rows: list[Any] = answer.data
            records = self._map(
                "commit",
                rows,
                lambda r: mapping.commit(repo, branch, r),
                lambda r: f"{repo}@{r['sha']}",
            )
            ids.update(r.external_id for r in records if r.kind == "commit")
            page_newest = self._newest(rows, "commit", "committer", "date")
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            if answer.next_url is not None:
                yield Page(records=records, cursor=None, scope=repo), False
                page_no += 1
                continue
            anchor = None if newest is None else newest - self.overlap
            state["since"] = _fmt(newest)
            if _fmt(anchor) == _fmt(request_since) or anchored:
                state.update(etag=first_etag, etag_for=_fmt(request_since))
                yield Page(records=records, cursor=book.snapshot(), scope=repo), True
                return
            # newest-first: the first page at the next pass's ``since`` is a sound validator
            state.pop("etag", None)
            yield Page(records=records, cursor=book.snapshot(), scope=repo), False
            request_since, page_no, etag, anchored = anchor, 1, None, True
