"""The GitHub connector against the real sandbox, served in-process, with PyGithub."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from github_world import NOW, STREAMS, T0, Harness, start, token_env
from github_world import scenario as make_scenario

from pmsync.errors import AuthenticationError
from pmsync.records import Commit, PullRequest, SourceMilestone, WorkItem
from pmsync.sandbox.server import FaultPlan
from pmsync_github import GitHubConnector
from pmsync_github.mapping import parse_time


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    token_env(monkeypatch)
    harness = start(make_scenario(), per_page=10)
    yield harness
    harness.running.stop()


def _expected(h: Harness) -> dict[str, set[str]]:
    """The ids the scenario shows at the clock, per record kind."""
    now = h.clock.now()
    out: dict[str, set[str]] = {k: set() for k in ("work_item", "pull_request")}
    out["source_milestone"], out["commit"] = set(), set()
    for repo in h.scenario.github.repositories:
        for issue in repo.issues:
            if issue.visible_at(now):
                out["work_item"].add(f"{repo.full_name}#{issue.number}")
                if issue.pull_request is not None:
                    out["pull_request"].add(f"{repo.full_name}#{issue.number}")
        out["source_milestone"] |= {
            f"{repo.full_name}#{m.number}" for m in repo.milestones if m.visible_at(now)
        }
        out["commit"] |= {  # only the default branch is tracked unless configured
            f"{repo.full_name}@{c.sha}"
            for c in repo.commits
            if c.committed_at <= now and c.branch == "main"
        }
    return out


def test_full_pull_stores_exactly_the_scenario(world: Harness) -> None:
    world.sync(full=True)
    for kind, ids in _expected(world).items():
        assert set(world.of(kind)) == ids, kind
    repo = world.scenario.github.repositories[0]
    issue = next(i for i in repo.issues if i.number == 12)  # closed, labelled, assigned, a PR? no
    item = world.of("work_item")["acme/pay#12"]
    assert isinstance(item, WorkItem)
    assert (item.key, item.title, item.container) == ("acme/pay#12", issue.title, "acme/pay")
    assert (item.status, item.status_category) == ("closed", "done")
    assert item.created_at == issue.created
    assert item.resolved_at == issue.history[0].at
    assert item.labels == ("bug",)
    assert item.assignee is not None and item.assignee.login == "rajiyer"
    assert item.reporter is not None and item.reporter.login == "rajiyer"
    assert item.milestones == ("acme/pay#2",)
    assert item.item_type == "issue" and not item.is_pull_request
    assert item.custom["jira_keys"] == ["PAY-12"]
    assert item.custom["closes"] == ["acme/pay#11", "acme/pay#1"]
    assert "acme/other#4" in item.custom["references"]
    assert item.raw is not None and item.raw["number"] == 12
    open_unassigned = world.of("work_item")["acme/pay#1"]
    assert open_unassigned.status_category == "todo"  # type: ignore[attr-defined]
    assert world.of("work_item")["acme/pay#5"].status_category == "in_progress"  # type: ignore[attr-defined]

    pull = world.of("pull_request")["acme/pay#10"]
    assert isinstance(pull, PullRequest)
    merge = next(i for i in repo.issues if i.number == 10).history[0].at
    assert (pull.merged, pull.merged_at, pull.state) == (True, merge, "closed")
    assert (pull.head_ref, pull.base_ref, pull.milestone) == (
        "PAY-10-feature",
        "main",
        "acme/pay#2",
    )
    assert world.of("work_item")["acme/pay#10"].is_pull_request  # type: ignore[attr-defined]
    open_pull = world.of("pull_request")["acme/pay#5"]
    assert isinstance(open_pull, PullRequest) and not open_pull.merged and open_pull.state == "open"

    beta = world.of("source_milestone")["acme/pay#1"]
    assert isinstance(beta, SourceMilestone)
    assert (beta.name, beta.state, beta.due_date) == (
        "Beta",
        "open",
        (T0 + timedelta(days=20)).date(),
    )
    assert beta.open_items is not None and beta.closed_items is not None
    assert beta.open_items + beta.closed_items == sum(
        1 for i in repo.issues if i.milestone == 1 and i.visible_at(NOW)
    )

    commit = world.of("commit")[f"acme/pay@{7:04x}{1:036x}"]
    assert isinstance(commit, Commit)
    assert commit.message.startswith("PAY-1: change 1")
    assert commit.branch is None  # the default branch, listed without naming it
    assert commit.committed_at == T0 + timedelta(hours=7)
    assert commit.authored_at == T0 + timedelta(hours=7, minutes=-5)
    assert commit.author is not None and commit.author.login == "ana-gh"
    no_github = world.of("commit")[f"acme/pay@{7:04x}{2:036x}"]
    assert no_github.author is not None and no_github.author.login == "zoe@example.com"  # type: ignore[attr-defined]


def test_configured_branches_are_pulled_each_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    token_env(monkeypatch)
    h = start(make_scenario(), branches={"acme/pay": ["main", "release"]})
    try:
        h.pull("commits", full=True)
    finally:
        h.running.stop()
    pay = {k: c for k, c in h.of("commit").items() if k.startswith("acme/pay@")}
    assert len(pay) == 30  # 20 on main, 10 on release; the late commit is not visible yet
    assert {c.branch for c in pay.values()} == {"main", "release"}  # type: ignore[attr-defined]


def _unraw(record: object) -> object:
    return replace(record, raw=None) if hasattr(record, "raw") else record  # type: ignore[type-var]


def test_incremental_after_three_days_picks_up_exactly_the_changes(world: Harness) -> None:
    world.sync(full=True)
    cursor_time = world.clock.now()
    # the full pull's last issues request: the next pass sends it again, with its ETag
    resent = {
        name: parse_time(state["etag_for"])
        for name, state in world.cursors["issues"]["repos"].items()
    }
    world.advance(timedelta(days=3))
    pages = {stream: world.pull(stream) for stream in STREAMS}
    yielded = {s: {r.external_id for p in ps for r in p.records} for s, ps in pages.items()}
    now = world.clock.now()
    changed, overlap, answered = set(), set(), set()
    for repo in world.scenario.github.repositories:
        seen = [i for i in repo.issues if i.visible_at(cursor_time)]
        last_seen = max(i.updated_at(cursor_time) for i in seen)
        since = resent[repo.full_name]
        assert since is not None and since <= last_seen - timedelta(seconds=60)
        for issue in repo.issues:
            key = f"{repo.full_name}#{issue.number}"
            if not issue.visible_at(now):
                continue
            if issue.updated_at(now) > cursor_time:
                changed.add(key)
            elif issue.updated_at(now) >= last_seen - timedelta(seconds=60):
                overlap.add(key)
            if issue.updated_at(now) >= since:
                answered.add(key)
    assert changed >= {"acme/pay#7", "acme/pay#46", "acme/web#14"}
    # exactly what GitHub answers to the resent request: the changes, the overlap window
    # before the last update seen, and at most one page (10) re-read per repository
    assert yielded["issues"] == answered >= changed | overlap
    for name in resent:
        reread = {k for k in answered - changed if k.startswith(f"{name}#")}
        assert len(reread) <= 10
    assert yielded["milestones"] >= {"acme/pay#1", "acme/web#1"}
    new_commits = {f"acme/pay@{7:04x}{99:036x}", f"acme/web@{8:04x}{99:036x}"}
    last_seen = {f"acme/pay@{7:04x}{29:036x}", f"acme/web@{8:04x}{29:036x}"}  # the overlap
    assert new_commits <= yielded["commits"] <= new_commits | last_seen
    closed = world.of("source_milestone")["acme/pay#1"]
    assert closed.state == "closed"  # type: ignore[attr-defined]
    assert closed.due_date == (T0 + timedelta(days=20)).date()  # type: ignore[attr-defined]
    assert closed.closed_at == NOW + timedelta(days=1)  # type: ignore[attr-defined]
    # the incremental state equals a fresh full pull at the same clock, deletions aside
    incremental = dict(world.store)
    world.store.clear()
    world.cursors.clear()
    world.sync(full=True)
    deleted = {("work_item", "acme/pay#4"), ("work_item", "acme/web#4")}
    assert set(incremental) - set(world.store) == deleted
    # raw payloads embed the milestone (its counts, its state), which GitHub changes
    # without touching the issue's updated_at; every mapped field is equal
    assert {k: _unraw(incremental[k]) for k in world.store} == {
        k: _unraw(v) for k, v in world.store.items()
    }


def test_a_full_pull_removes_deleted_issues_per_repository(world: Harness) -> None:
    world.sync(full=True)
    assert "acme/pay#4" in world.of("work_item")
    world.advance(timedelta(days=3))
    pages = world.pull("issues", full=True)
    finals = [p for p in pages if p.complete_ids]
    assert [p.scope for p in finals] == ["acme/pay", "acme/web"]
    assert "acme/pay#4" not in finals[0].complete_ids["work_item"]  # type: ignore[index]
    assert "acme/pay#4" not in world.of("work_item")
    assert "acme/pay#46" in world.of("work_item")


def test_unchanged_repositories_cost_one_304_per_stream(world: Harness) -> None:
    world.sync(full=True)
    world.advance(timedelta(days=3))
    world.sync()  # the changes
    bucket = next(iter(world.service._buckets.values()))
    used, served = bucket.used, sum(world.service.served.values())
    context = world.sync()
    repos = len(world.settings.repositories)
    assert context.stats.requests == len(STREAMS) * repos
    assert context.stats.not_modified == context.stats.requests
    assert sum(world.service.served.values()) - served == context.stats.requests
    assert bucket.used == used  # 304s do not spend the rate limit


def test_first_incremental_after_a_full_pull_is_already_all_304s(world: Harness) -> None:
    world.sync(full=True)
    context = world.sync()
    assert context.stats.requests == context.stats.not_modified == 8


def _portless(store: dict[tuple[str, str], object]) -> dict[tuple[str, str], str]:
    """Records as text, without the port each sandbox happened to be served on."""
    return {k: re.sub(r"127\.0\.0\.1:\d+", "HOST", repr(v)) for k, v in store.items()}


def test_faults_give_the_same_data_and_never_shorten_a_retry_after(
    world: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    world.sync(full=True)
    world.advance(timedelta(days=3))
    world.sync()
    clean = dict(world.store)
    token_env(monkeypatch)
    plan = FaultPlan.parse("rate=0.1,kinds=429+500+502+503+reset+malformed,seed=5,retry_after=1")
    faulty = start(make_scenario(), plan, per_page=10)
    try:
        with caplog.at_level(logging.DEBUG, logger="pmsync.connector"):
            faulty.sync(full=True)
            faulty.advance(timedelta(days=3))
            faulty.sync()
        injected = dict(faulty.service.faults.injected)
    finally:
        faulty.running.stop()
    assert sum(injected.values()) >= 5, injected
    assert _portless(faulty.store) == _portless(clean)
    asked = [
        (float(m.group(1)), float(m.group(2)))
        for r in caplog.records
        if (m := re.search(r"asks to wait (\d+) s.*; retry \d+ in ([\d.]+) s", r.getMessage()))
    ]
    assert len(asked) == injected.get("429", 0) > 0
    assert all(wait >= ask for ask, wait in asked)
    assert len(faulty.waits) == sum(injected.values())


def test_a_wrong_token_is_an_authentication_error_after_one_request(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_env(monkeypatch, "ghp_wrong")
    context = world.context()
    with pytest.raises(AuthenticationError, match="401"):
        world.pull("issues", context=context)
    assert context.stats.requests == 1 and context.stats.retries == 0
    problems = GitHubConnector(world.settings, world.context()).check()
    assert len(problems) == 1 and "401" in problems[0]


def test_check_names_each_missing_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    token_env(monkeypatch)
    h = start(make_scenario(), repositories=["acme/pay", "acme/nope"])
    try:
        problems = GitHubConnector(h.settings, h.context()).check()
    finally:
        h.running.stop()
    assert problems == ["repository acme/nope: not found, or the credentials cannot read it"]


def test_enterprise_base_url_under_api_v3(monkeypatch: pytest.MonkeyPatch) -> None:
    token_env(monkeypatch)
    h = start(make_scenario(issues=12), enterprise=True)
    try:
        assert h.settings.base_url.endswith("/api/v3")
        h.sync(full=True)
        context = h.sync()
        assert GitHubConnector(h.settings, h.context()).check() == []
    finally:
        h.running.stop()
    assert len(h.of("work_item")) == 24
    assert context.stats.requests == context.stats.not_modified == 8


def test_sandbox_settings_point_at_the_sandbox() -> None:
    endpoints = {"github": {"url": "http://127.0.0.1:1", "token": "t", "repositories": ["a/b"]}}
    settings = GitHubConnector.sandbox_settings(endpoints)
    assert settings == {
        "base_url": "http://127.0.0.1:1",
        "token": "file:secrets/github-token",
        "repositories": ["a/b"],
    }
    assert GitHubConnector.sandbox_secrets(endpoints) == {"github-token": "t"}
    assert GitHubConnector.sandbox_settings({"github": {"url": "x", "token": "t"}}) is None


def test_a_cursor_kept_under_the_default_branch_name_still_resumes(world: Harness) -> None:
    world.sync(full=True)
    for state in world.cursors["commits"]["repos"].values():  # as an earlier pmsync kept it
        since = state.pop("default")["since"]
        state["default_branch"] = "main"
        state["branches"] = {"main": {"since": since, "etag": '"old"', "etag_for": since}}
    world.advance(timedelta(days=3))
    served = dict(world.service.served)
    pages = world.pull("commits")
    yielded = {r.external_id for p in pages for r in p.records}
    new_commits = {f"acme/pay@{7:04x}{99:036x}", f"acme/web@{8:04x}{99:036x}"}
    last_seen = {f"acme/pay@{7:04x}{29:036x}", f"acme/web@{8:04x}{29:036x}"}
    assert new_commits <= yielded <= new_commits | last_seen  # not the whole history again
    sent = {k: v - served.get(k, 0) for k, v in world.service.served.items()}
    assert {k: v for k, v in sent.items() if v} == {"list_commits": 2}  # no GET /repos
    for state in world.cursors["commits"]["repos"].values():
        assert set(state) == {"default"}


def test_a_repository_nobody_has_pushed_to_lists_no_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_env(monkeypatch)
    world = make_scenario()
    web = world.github.repositories[1]
    # acme/web's every commit is in the simulated future: GitHub answers 409 until then
    later = [c.model_copy(update={"committed_at": NOW + timedelta(days=5)}) for c in web.commits]
    world.github.repositories[1] = web.model_copy(update={"commits": later})
    h = start(world)
    try:
        pages = h.pull("commits", full=True)
        assert h.service.statuses.get(409) == 1
        by_repo = {p.scope: p.complete_ids for p in pages if p.complete_ids is not None}
        assert by_repo["acme/web"] == {"commit": set()}  # complete, and empty
        assert len(by_repo["acme/pay"]["commit"]) == 20  # the other repository is unaffected
        assert not any(k.startswith("acme/web@") for k in h.of("commit"))
        h.advance(timedelta(days=6))  # the first push
        h.pull("commits")
        on_main = [c for c in later if c.branch == "main"]  # the default branch, as tracked
        assert len([k for k in h.of("commit") if k.startswith("acme/web@")]) == len(on_main)
    finally:
        h.running.stop()


def test_a_deleted_branch_or_repository_is_skipped_and_the_rest_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_env(monkeypatch)
    repos = ["acme/pay", "acme/gone", "acme/web"]
    h = start(make_scenario(), repositories=repos, branches={"acme/pay": ["main", "release"]})
    try:
        h.pull("commits", full=True)
        before = set(h.of("commit"))
        # release 1.0 is configured next, but the branch was deleted after the release
        h.settings = h.settings.model_copy(
            update={"branches": {"acme/pay": ["main", "release-1.0", "release"]}}
        )
        pages = h.pull("commits", full=True)
        issues = h.pull("issues", full=True)
    finally:
        h.running.stop()
    skipped = [(p.scope, p.skipped) for p in pages if p.skipped is not None]
    assert skipped == [
        ("acme/pay branch release-1.0",
         "GET /repos/acme/pay/commits: HTTP 404 (No commit found for SHA: release-1.0)"),
        ("acme/gone", "GET /repos/acme/gone/commits: HTTP 404 (Not Found)"),
    ]  # fmt: skip
    assert all(not p.records for p in pages if p.skipped is not None)
    # acme/pay's release commits were read after the deleted branch, and nothing of
    # acme/pay was reconciled away on a pull that could not read all of it
    assert {p.scope for p in pages if p.complete_ids} == {"acme/web"}
    assert set(h.of("commit")) == before
    assert {c.branch for k, c in h.of("commit").items() if k.startswith("acme/pay@")} == {  # type: ignore[attr-defined]
        "main",
        "release",
    }
    assert [(p.scope, p.skipped) for p in issues if p.skipped] == [
        ("acme/gone", "GET /repos/acme/gone/issues: HTTP 404 (Not Found)")
    ]
    assert {k.split("#")[0] for k in h.of("work_item")} == {"acme/pay", "acme/web"}
