"""How each stream walks GitHub's listings: incremental, conditional, crash-safe.

Why each listing is walked the way it is (details in docs/connectors/github.md):

* ``issues``: ``since`` + ``sort=updated&direction=asc``. Pages are fetched by
  keyset (the next request's ``since`` is the last update seen), so an issue
  updated while we page moves *ahead* of us instead of shifting one we have not
  read onto a page we already read. Each page's cursor is valid once stored.
* ``pull_requests``: GitHub has no ``since`` here, so ``direction=desc`` from the
  newest update, stopping at the first one older than the cursor; the cursor
  moves only on the last page (a crash re-reads, never skips).
* ``commits``: per branch, newest first, stopping at the first page that reaches
  the cursor; the cursor moves on the last page. Without configured branches the
  listing names no ``sha``: GitHub lists the default branch, whatever it is
  called today, and no ``GET /repos/{o}/{r}`` is needed to learn its name. A
  configured branch that is gone (deleted after its release) is skipped with
  GitHub's reason; a full pull then reports no complete ids for the repository,
  so nothing of it is deleted.
* ``milestones``: all states, every pass; they are few.

Conditional requests: a 304 proves nothing changed only if the ETag covers
everything the next request would see. For newest-first listings (pulls,
commits) the first page does: any change lands on it. For ``issues`` (oldest
first) the *last* request of a pass does: any update moves an issue to the end
of the listing, which that request's ``since`` covers. So the next pass sends
that same request again, with its ETag, and re-reads at most that one page
when something changed. Only when that request started less than
``overlap_seconds`` before the newest update does the walk ask once more, at the
overlap, to keep a valid ETag ("anchoring"). An unchanged repository then costs
one 304 per stream, and a full pull no request beyond its pages.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pmsync.connectors import skip_refused
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


def _older(row: Any, limit: datetime, *path: str) -> bool:
    """Tell whether the time at ``path`` in ``row`` is before ``limit`` (unreadable: no)."""
    value: Any = row
    try:
        for key in path:
            value = value[key]
        moment = mapping.parse_time(value)
    except (KeyError, TypeError, ValueError):
        return False
    return moment is not None and moment < limit


_WHOLE = ""
"""``etag_for`` of an ETag taken for the listing without ``since`` (it fit on one page)."""


def _resume(
    state: State, full: bool, overlap: timedelta
) -> tuple[datetime | None, datetime | None, str | None]:
    """Return the newest update seen, the ``since`` to send and the ETag to send with it.

    The ``since`` is the last update seen minus the overlap, or an earlier one whose
    request's ETag was kept (its answer covers every later change, so a 304 to it
    proves nothing changed).
    """
    if full:
        return None, None, None
    newest = _since(state)
    request_since = None if newest is None else newest - overlap
    etag, taken = state.get("etag"), state.get("etag_for")
    if etag is None or taken is None:
        return newest, request_since, None
    if taken == _WHOLE:
        return newest, None, etag
    taken_at = mapping.parse_time(taken)
    if request_since is not None and taken_at is not None and taken_at <= request_since:
        return newest, taken_at, etag
    return newest, request_since, None


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
        newest, request_since, etag = _resume(state, full, self.overlap)
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
            # the last request: its answer holds every issue updated since its ``since``
            anchor = None if newest is None else newest - self.overlap
            covers = request_since is None or anchor is None or request_since <= anchor
            if page_no == 1 and covers:  # the next pass sends it again, with this ETag
                state["etag"] = answer.etag
                state["etag_for"] = _WHOLE if request_since is None else _fmt(request_since)
            else:
                state.pop("etag", None)
            if (page_no == 1 and covers) or anchors >= _MAX_ANCHORS:
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
                rows = [r for r in rows if not _older(r, stop_before, "updated_at")]
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
        configured = self.settings.branches.get(repo)
        _forget_default_branch_name(state, configured is None)
        walks: list[tuple[str | None, State]]
        if configured:
            per_branch = state.setdefault("branches", {})
            walks = [(name, per_branch.setdefault(name, {})) for name in configured]
        else:  # the default branch, listed without ``sha``; commits carry no branch name
            walks = [(None, state.setdefault("default", {}))]
        ids = ExternalIds()
        completed = refused = False
        for position, (branch, branch_state) in enumerate(walks):
            last = position == len(walks) - 1
            pages = self._branch(repo, branch, branch_state, book, full, ids)
            if branch is not None:  # a deleted branch: GitHub answers 404 "No commit found"
                pages = skip_refused(f"{repo} branch {branch}", pages)
            for page in pages:
                refused = refused or page.skipped is not None
                # a branch's last page carries its cursor; with every branch read, the ids
                if last and full and page.cursor is not None and not refused:
                    completed = True
                    page = Page(
                        records=page.records,
                        cursor=page.cursor,
                        complete_ids={"commit": ids},
                        scope=repo,
                    )
                yield page
        if full and not completed and not refused:  # the last branch had nothing to attach them to
            yield _final([], book, "commit", ids, repo)

    def _branch(
        self,
        repo: str,
        branch: str | None,
        state: State,
        book: CursorBook,
        full: bool,
        ids: ExternalIds,
    ) -> Iterator[Page]:
        since = None if full else _since(state)
        stop_before = None if since is None else since - self.overlap
        etag = None if full or state.get("etag_for") != _NEWEST_FIRST else state.get("etag")
        page_no, newest, first_etag = 1, since, None
        url = f"/repos/{repo}/commits"
        params: dict[str, Any] = {"per_page": self.settings.per_page}
        if branch is not None:
            params["sha"] = branch
        query: dict[str, Any] | None = params
        while True:
            answer = self.client.get_list(url, query, etag if page_no == 1 else None)
            if answer.not_modified:
                return
            if page_no == 1:
                first_etag = answer.etag
            rows: list[Any] = answer.data
            if stop_before is not None:  # older ones are on the page only because of paging
                rows = [r for r in rows if not _older(r, stop_before, *_COMMITTED)]
            records = self._map(
                "commit",
                rows,
                lambda r: mapping.commit(repo, branch, r),
                lambda r: f"{repo}@{r['sha']}",
            )
            ids.update(r.external_id for r in records if r.kind == "commit")
            page_newest = self._newest(rows, *_COMMITTED)
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            reached = len(rows) < len(answer.data)
            if answer.next_url is None or reached:
                state.update(since=_fmt(newest), etag=first_etag, etag_for=_NEWEST_FIRST)
                yield Page(records=records, cursor=book.snapshot(), scope=repo)
                return
            yield Page(records=records, cursor=None, scope=repo)
            page_no, url, query = page_no + 1, answer.next_url, None


_COMMITTED = ("commit", "committer", "date")
"""Where a listed commit keeps its committer date."""
_NEWEST_FIRST = "first page"
"""``etag_for`` of a commit listing's first page, requested without ``since``."""


def _forget_default_branch_name(state: State, listing_default: bool) -> None:
    """Move a cursor an earlier pmsync kept under the default branch's name to ``default``.

    Its ETag was taken for a ``since`` request, which is no longer sent; the time stays.
    """
    name = state.pop("default_branch", None)
    branches = state.get("branches")
    if listing_default and name is not None and branches and name in branches:
        state.setdefault("default", {"since": branches.pop(name).get("since")})
        if not branches:
            del state["branches"]
