"""The GitHub route handlers: one method per documented endpoint pmsync may call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from werkzeug.wrappers import Request, Response

from pmsync.sandbox.github import items
from pmsync.sandbox.github.items import ValidationFailed, parse_time
from pmsync.sandbox.github.payloads import commit_json, repo_json, user_json
from pmsync.sandbox.github.service import GitHubMachinery, RateBucket
from pmsync.sandbox.github.world import RepoIndex
from pmsync.sandbox.scenario import GitHubCommit

_PAGING = ("page", "per_page", "after", "before")
"""Parameters that choose a page, not the listing."""
COMMIT_JSON_KEPT = 400_000
"""Commits whose listing JSON is kept (about 1 KB each), for two 200,000-commit passes."""

RepoKey = dict[str, Any]


class NewestFirst(Sequence[GitHubCommit]):
    """``commits[lo:hi]`` seen newest first, without copying 200,000 commits."""

    def __init__(self, commits: list[GitHubCommit], lo: int, hi: int) -> None:
        self._commits, self._lo, self._hi = commits, lo, hi

    def __len__(self) -> int:
        return self._hi - self._lo

    @overload
    def __getitem__(self, index: int) -> GitHubCommit: ...
    @overload
    def __getitem__(self, index: slice) -> list[GitHubCommit]: ...
    def __getitem__(self, index: int | slice) -> GitHubCommit | list[GitHubCommit]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._commits[self._hi - 1 - index]


class GitHubService(GitHubMachinery):
    """GitHub's REST API over the scenario's repositories, as of the sandbox clock.

    ``GitHubService(scenario, clock, faults=None, *, enterprise=False,
    token=SANDBOX_TOKEN, rate_limit=5000)``; ``credentials()`` → ``{"token": ...}``.
    """

    def _index(
        self, owner: str | None = None, repo: str | None = None, repo_id: int | None = None
    ) -> RepoIndex | None:
        return self.repo_index(owner, repo, repo_id)

    def root(self, request: Request) -> Response:
        """``GET /``: the hypermedia root."""
        api = self.urls(request).api
        return self.answer(
            request,
            {
                "current_user_url": f"{api}/user",
                "rate_limit_url": f"{api}/rate_limit",
                "repository_url": f"{api}/repos/{{owner}}/{{repo}}",
                "organization_repositories_url": (
                    f"{api}/orgs/{{org}}/repos{{?type,page,per_page,sort}}"
                ),
                "user_url": f"{api}/users/{{user}}",
                "issues_url": f"{api}/issues",
            },
        )

    def get_rate_limit(self, request: Request) -> Response:
        """``GET /rate_limit``: the caller's limits (this request is free)."""
        if self.limit_per_hour <= 0:
            return self.error_response(404, "Rate limiting is not enabled.")
        token = self._credential(request)
        key = f"token:{token}" if token else f"ip:{request.remote_addr}"
        with self._rate_lock:
            core = self._bucket(key, self.limit_per_hour if token else 60).as_json()
        reset = core["reset"]
        resources = {
            "core": core,
            "search": RateBucket(limit=30, reset=reset).as_json(),
            "graphql": RateBucket(limit=core["limit"], reset=reset).as_json(),
            "integration_manifest": RateBucket(limit=5000, reset=reset).as_json(),
            "code_search": RateBucket(limit=10, reset=reset).as_json(),
        }
        return self.answer(request, {"resources": resources, "rate": core})

    def _repo_payload(self, request: Request, index: RepoIndex) -> dict[str, Any]:
        repo = index.repo
        now = self.clock.now()
        view = self.view(index)
        pushed = index.head_sha(repo.default_branch, now)
        pushed_at = index.commit_by_sha[pushed].committed_at if pushed else repo.created
        updated = max([repo.created, pushed_at, *(e.updated_at for e in view.by_updated[-1:])])
        owner_kind = "User" if repo.owner.lower() in self.people.by_login else "Organization"
        from pmsync.sandbox.github.payloads import iso

        return repo_json(
            repo,
            self.urls(request),
            owner_kind,
            {
                "created_at": iso(repo.created),
                "updated_at": iso(updated),
                "pushed_at": iso(pushed_at),
                "open_issues_count": sum(1 for e in view.issues if e.state["state"] == "open"),
                "open_issues": sum(1 for e in view.issues if e.state["state"] == "open"),
            },
        )

    def get_repo(self, request: Request, **key: Any) -> Response:
        """``GET /repos/{owner}/{repo}``."""
        index = self._index(**key)
        if index is None:
            return self.not_found(request)
        return self.answer(request, self._repo_payload(request, index))

    def _repos(self, request: Request, indexes: list[RepoIndex]) -> Response:
        indexes = sorted(indexes, key=lambda i: i.repo.full_name.lower())
        return self.page(request, indexes, lambda i: self._repo_payload(request, i))

    def list_user_repos(self, request: Request) -> Response:
        """``GET /user/repos``: every repository of the scenario."""
        if not self._credential(request):
            return self.error_response(401, "Requires authentication")
        return self._repos(request, list(self.indexes.values()))

    def list_org_repos(self, request: Request, org: str) -> Response:
        """``GET /orgs/{org}/repos``."""
        chosen = [i for i in self.indexes.values() if i.repo.owner.lower() == org.lower()]
        return self._repos(request, chosen) if chosen else self.not_found(request)

    def get_org(self, request: Request, org: str) -> Response:
        """``GET /orgs/{org}``."""
        owners = {i.repo.owner.lower(): i.repo.owner for i in self.indexes.values()}
        if org.lower() not in owners:
            return self.not_found(request)
        return self.answer(
            request, user_json(owners[org.lower()], self.urls(request), "Organization")
        )

    def get_user(self, request: Request) -> Response:
        """``GET /user``: the token's user."""
        if not self._credential(request):
            return self.error_response(401, "Requires authentication")
        return self.answer(request, self._user(request, self.login))

    def get_named_user(self, request: Request, login: str) -> Response:
        """``GET /users/{login}``."""
        if login.lower() not in self.people.by_login and login != self.login:
            return self.not_found(request)
        return self.answer(request, self._user(request, login))

    def _user(self, request: Request, login: str) -> dict[str, Any]:
        person = self.people.by_login.get(login.lower())
        payload = user_json(
            person.github_login if person and person.github_login else login, self.urls(request)
        )
        payload.update(
            name=person.name if person else login,
            email=person.email if person else None,
            company=None,
            blog="",
            location=None,
            bio=None,
            public_repos=0,
            followers=0,
            following=0,
            created_at="2020-01-01T00:00:00Z",
            updated_at="2020-01-01T00:00:00Z",
        )
        return payload

    # --- issues, pulls, milestones ----------------------------------------------------

    def list_issues(self, request: Request, **key: Any) -> Response:
        """``GET /repos/{o}/{r}/issues``."""
        index = self._index(**key)
        if index is None:
            return self.not_found(request)
        view = self.view(index)
        args = request.args.to_dict()
        cache_key = (
            "issues",
            tuple(sorted((k, v) for k, v in args.items() if k not in _PAGING)),
        )
        try:
            rows = view.queries.get(cache_key)
            if rows is None:
                rows = items.list_issues(view, args, self.people)
                if len(view.queries) > 64:
                    view.queries.clear()
                view.queries[cache_key] = rows
        except ValidationFailed as err:
            return self.invalid(err)
        urls = self.urls(request)
        return self.page(
            request,
            rows,
            lambda e: items.issue_json(index, view, e, self.people, urls),
            (view.encoded, lambda e: ("issue", urls.api, e.spec.number)),
            cursor=lambda e: e.spec.number,
        )

    def get_issue(self, request: Request, number: int, **key: Any) -> Response:
        """``GET /repos/{o}/{r}/issues/{number}``."""
        index = self._index(**key)
        entry = self.view(index).by_number.get(number) if index else None
        if index is None or entry is None:
            return self.not_found(request)
        view = self.view(index)
        return self.answer(
            request,
            items.issue_json(index, view, entry, self.people, self.urls(request)),
            entry.updated_at,
        )

    def list_pulls(self, request: Request, **key: Any) -> Response:
        """``GET /repos/{o}/{r}/pulls``."""
        index = self._index(**key)
        if index is None:
            return self.not_found(request)
        view = self.view(index)
        args = request.args.to_dict()
        cache_key = (
            "pulls",
            tuple(sorted((k, v) for k, v in args.items() if k not in ("page", "per_page"))),
        )
        try:
            rows = view.queries.get(cache_key)
            if rows is None:
                rows = view.queries[cache_key] = items.list_pulls(view, args)
        except ValidationFailed as err:
            return self.invalid(err)
        urls, now = self.urls(request), view.now
        return self.page(
            request,
            rows,
            lambda e: items.pull_json(index, view, e, self.people, urls, now, full=False),
            (view.encoded, lambda e: ("pull", urls.api, e.spec.number)),
        )

    def get_pull(self, request: Request, number: int, **key: Any) -> Response:
        """``GET /repos/{o}/{r}/pulls/{number}``."""
        index = self._index(**key)
        entry = self.view(index).by_number.get(number) if index else None
        if index is None or entry is None or not entry.is_pull:
            return self.not_found(request)
        view = self.view(index)
        payload = items.pull_json(
            index, view, entry, self.people, self.urls(request), view.now, full=True
        )
        return self.answer(request, payload, entry.updated_at)

    def list_milestones(self, request: Request, **key: Any) -> Response:
        """``GET /repos/{o}/{r}/milestones``."""
        index = self._index(**key)
        if index is None:
            return self.not_found(request)
        rows = items.list_milestones(self.view(index), request.args.to_dict())  # refuses nothing
        urls = self.urls(request)
        full = index.repo.full_name
        return self.page(request, rows, lambda m: items.milestone_json(full, m, self.people, urls))

    def get_milestone(self, request: Request, number: int, **key: Any) -> Response:
        """``GET /repos/{o}/{r}/milestones/{number}``."""
        index = self._index(**key)
        entry = self.view(index).milestone_by_number.get(number) if index else None
        if index is None or entry is None:
            return self.not_found(request)
        payload = items.milestone_json(index.repo.full_name, entry, self.people, self.urls(request))
        return self.answer(request, payload, entry.updated_at)

    # --- commits ------------------------------------------------------------------------

    def list_commits(self, request: Request, **key: Any) -> Response:
        """``GET /repos/{o}/{r}/commits``: newest first, ``since``/``until`` on committer date."""
        index = self._index(**key)
        if index is None:
            return self.not_found(request)
        now = self.clock.now()
        if index.empty_at(now):
            return self.empty_repository()
        args = request.args
        try:
            since = parse_time(args["since"], "Commit", "since") if args.get("since") else None
            until = parse_time(args["until"], "Commit", "until") if args.get("until") else None
        except ValidationFailed as err:
            return self.invalid(err)
        ref = args.get("sha") or index.repo.default_branch
        if ref in index.branches or ref == index.repo.default_branch:
            commits, lo, hi = index.visible_commits(ref, now, since, until)
        else:
            commit = index.find_commit(ref, now)
            if commit is None:
                return self.error_response(404, f"No commit found for SHA: {ref}")
            commits, lo, hi = index.commit_range_upto(commit.sha, now)
            times = [c.committed_at for c in commits]
            import bisect

            lo = bisect.bisect_left(times, since) if since else 0
            hi = min(hi, bisect.bisect_right(times, until)) if until else hi
        rows: Sequence[GitHubCommit] = NewestFirst(commits, lo, max(lo, hi))
        author = args.get("author", "").lower()
        if author:
            rows = [c for c in rows if self._is_author(c, author)]
        urls, repo = self.urls(request), index.repo
        kept = self.commit_json
        if len(kept) > COMMIT_JSON_KEPT:
            kept.clear()
        return self.page(
            request,
            rows,
            lambda c: commit_json(repo, c, self.people, urls, False),
            (kept, lambda c: (urls.api, repo.id, c.sha)),
        )

    def _is_author(self, commit: GitHubCommit, wanted: str) -> bool:
        person = self.people.by_id.get(commit.author)
        if person is None:
            return commit.author.lower() == wanted
        return wanted in (person.email.lower(), (person.github_login or "").lower())

    def get_commit(self, request: Request, sha: str, **key: Any) -> Response:
        """``GET /repos/{o}/{r}/commits/{ref}``."""
        index = self._index(**key)
        if index is None:
            return self.not_found(request)
        if index.empty_at(self.clock.now()):
            return self.empty_repository()
        commit = index.find_commit(sha, self.clock.now())
        if commit is None:
            return self.invalid_ref(sha)
        payload = commit_json(index.repo, commit, self.people, self.urls(request), True)
        return self.answer(request, payload, commit.committed_at)

    def empty_repository(self) -> Response:
        """Return GitHub's 409 for the commits of a repository nobody has pushed to yet."""
        return self.error_response(409, "Git Repository is empty.")

    def invalid_ref(self, ref: str) -> Response:
        """Return GitHub's 422 for a ref that names no commit."""
        return self.error_response(422, f"No commit found for SHA: {ref}")
