"""Render each project's work as a GitHub repository: milestones, issues, PRs, commits.

Pull requests follow their Jira issue: opened while it is in progress, titled and
branched after its key (``PAY-12: ...``, ``feature/PAY-12-...``), ready for review
when it enters review and merged before it is done. GitHub issues are bug reports
and requests, about half of them closed by a pull request whose body says
``fixes #n``. Milestones carry the Jira fix versions' names and due dates, so one
pmsync milestone can gather both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from pmsync.sandbox.generator import text
from pmsync.sandbox.generator.base import (
    ORG,
    Counters,
    ItemPlan,
    ProjectPlan,
    build,
    change,
    raw,
)
from pmsync.sandbox.scenario import (
    GitHubCommit,
    GitHubIssue,
    GitHubMilestone,
    GitHubPullRef,
    GitHubRepository,
    Person,
)

HostHistory = list[tuple[datetime, str | None, dict[str, Any]]]


@dataclass(slots=True)
class Thread:
    """An issue or pull request before it gets its number."""

    created: datetime
    author: str
    title: str
    item: ItemPlan | None = None
    head: str | None = None
    draft: bool = False
    labels: list[str] = field(default_factory=list)
    milestone: int | None = None
    history: HostHistory = field(default_factory=list)
    merged_at: datetime | None = None
    fixes: Thread | None = None
    number: int = 0


def _pull_requests(
    rng: random.Random,
    plan: ProjectPlan,
    items: list[ItemPlan],
    count: int,
    coders: list[str],
    people: dict[str, Person],
    horizon: datetime,
) -> list[Thread]:
    started = [i for i in items if i.started is not None] or items
    pulls = []
    for j in range(count):
        item = started[j] if j < len(started) else rng.choice(started)
        author = item.assignee if people[item.assignee].github_login else rng.choice(coders)
        begun = item.started or item.created
        if item.reviewed:
            created = begun + (item.reviewed - begun) * rng.uniform(0.3, 0.8)
        else:
            created = begun + timedelta(hours=rng.uniform(2, 48))
        if created >= horizon:
            created = begun + timedelta(minutes=30)
        kind = "fix" if item.issuetype == "Bug" else "feature"
        suffix = f"-followup-{j}" if j >= len(started) else ""
        head = f"{kind}/{item.key}-{text.slug(item.summary)}{suffix}"
        pull = Thread(
            created=created,
            author=author,
            title=f"{item.key}: {item.summary}",
            item=item,
            head=head,
            draft=item.reviewed is None and rng.random() < 0.5,
            labels=["bug"] if item.issuetype == "Bug" else ["enhancement"],
            milestone=item.version + 1,
        )
        if pull.draft and item.reviewed:
            pull.history.append((item.reviewed, author, {"draft": False}))
        if rng.random() < 0.08:
            closed = created + timedelta(days=rng.uniform(1, 5))
            if closed < horizon:
                pull.history.append((closed, author, {"state": "closed", "merged": False}))
        elif item.done and item.reviewed:
            merged = item.reviewed + (item.done - item.reviewed) * rng.uniform(0.5, 0.95)
            pull.merged_at = max(merged, created + timedelta(minutes=20))
            pull.history.append((pull.merged_at, coders[0], {"state": "closed", "merged": True}))
        if item.moved_version and item.moved_version[0] > created:
            when, version = item.moved_version
            if pull.merged_at is None or pull.merged_at > when:
                pull.history.append((when, coders[0], {"milestone": version + 1}))
        pulls.append(pull)
    return pulls


def _issues(
    rng: random.Random,
    plan: ProjectPlan,
    pulls: list[Thread],
    count: int,
    users: list[str],
    repo_created: datetime,
    horizon: datetime,
) -> list[Thread]:
    merged = [p for p in pulls if p.merged_at]
    specials = text.HOSTILE_TITLES + text.UNICODE_TITLES
    issues = []
    for j in range(count):
        author = rng.choice(users)
        special = j % 40 == 7
        title = specials[(j // 40 + plan.index) % len(specials)] if special else ""
        if merged and rng.random() < 0.5:
            pull = merged.pop(rng.randrange(len(merged)))
            assert pull.item is not None and pull.merged_at is not None
            created = max(repo_created, pull.created - timedelta(days=rng.uniform(0.5, 10)))
            kind = "Bug: " if pull.item.issuetype == "Bug" else "Request: "
            issue = Thread(created, author, title or f"{kind}{pull.item.summary.lower()}")
            issue.labels = ["bug"] if kind == "Bug: " else ["enhancement"]
            issue.milestone = pull.milestone
            pull.fixes = issue
            issue.history.append(
                (pull.merged_at, None, {"state": "closed", "state_reason": "completed"})
            )
        else:
            span = (horizon - repo_created).total_seconds() - 86400
            created = repo_created + timedelta(seconds=rng.uniform(0, span))
            issue = Thread(created, author, title or text.work_title(rng).replace("Fix", "Broken:"))
            issue.labels = [rng.choice(("bug", "needs-triage", "documentation", "enhancement"))]
            if rng.random() < 0.35:
                closed = created + timedelta(days=rng.uniform(2, 30))
                reason = "not_planned" if rng.random() < 0.3 else "completed"
                if closed < horizon:
                    issue.history.append(
                        (closed, author, {"state": "closed", "state_reason": reason})
                    )
        if rng.random() < 0.3:
            assignee = rng.choice(users)
            issue.history.append(
                (issue.created + timedelta(hours=5), assignee, {"assignees": [assignee]})
            )
        issues.append(issue)
    return issues


def _commits(
    rng: random.Random,
    plan: ProjectPlan,
    pulls: list[Thread],
    count: int,
    coders: list[str],
    repo_created: datetime,
    horizon: datetime,
) -> list[GitHubCommit]:
    """Return the repository's commits, oldest first, each with its parents."""
    rows: list[tuple[datetime, int, str, str, str]] = [
        (repo_created, 0, "main", "Initial commit", coders[0])
    ]
    merges = [p for p in pulls if p.merged_at]
    filler = max(0, count // 10)
    on_branches = max(0, count - 1 - len(merges) - filler)
    filler = max(0, count - 1 - len(merges) - on_branches)
    per_pull = [on_branches // len(pulls)] * len(pulls) if pulls else []
    for i in rng.sample(range(len(pulls)), on_branches - sum(per_pull)) if pulls else []:
        per_pull[i] += 1
    for pull, n in zip(pulls, per_pull, strict=True):
        assert pull.item is not None and pull.head is not None
        first = pull.created - timedelta(hours=rng.uniform(1, 20))
        last = pull.merged_at or min(horizon, pull.created + timedelta(days=8))
        step = (last - first) / (n + 1)
        for c in range(n):
            at = first + step * (c + 0.5)
            message = f"{pull.item.key} {rng.choice(text.VERBS).lower()} {rng.choice(text.OBJECTS)}"
            if c == 0:
                message = f"{pull.item.key}: start {text.slug(pull.item.summary, 30)}"
            rows.append((at, 1, pull.head, message, pull.author))
        if pull.merged_at:
            message = f"Merge pull request #{pull.number} from {ORG}/{pull.head}\n\n{pull.title}"
            rows.append((pull.merged_at, 2, pull.head, message, coders[0]))
    span = (horizon - repo_created).total_seconds()
    if filler:
        # Something always lands late in the scenario's future.
        filler -= 1
        rows.append(
            (horizon - timedelta(days=4), 3, "main", "chore(release): bump version", coders[0])
        )
    for _ in range(filler):
        at = repo_created + timedelta(seconds=rng.uniform(60, span))
        rows.append((at, 3, "main", rng.choice(text.COMMIT_CHORES), rng.choice(coders)))
    rows.sort(key=lambda row: (row[0], row[1]))
    heads: dict[str, str] = {}
    commits = []
    for at, kind, branch, message, author in rows:
        sha = f"{rng.getrandbits(160):040x}"
        main = heads.get("main")
        if kind == 2:
            parents = [main or "", heads.get(branch, main or "")]
            branch = "main"
        elif kind == 1:
            parents = [heads.get(branch) or main or ""]
        else:
            parents = [main] if main else []
        heads[branch] = sha
        commits.append(
            raw(
                GitHubCommit,
                {
                    "sha": sha,
                    "branch": branch,
                    "message": message,
                    "author": author,
                    "authored_at": at - timedelta(minutes=rng.choice((0, 0, 0, 7, 45))),
                    "committed_at": at,
                    "parents": [p for p in parents if p],
                },
            )
        )
    return commits


def _milestones(
    plan: ProjectPlan, creator: str, created: datetime, counters: Counters
) -> list[GitHubMilestone]:
    out = []
    for version in plan.versions:
        history = []
        if version.pushed:
            at, due = version.pushed
            history.append((at, {"due_on": f"{due.isoformat()}T08:00:00Z"}))
        if version.released_at:
            history.append((version.released_at + timedelta(minutes=10), {"state": "closed"}))
        history.sort(key=lambda row: row[0])
        out.append(
            build(
                GitHubMilestone,
                created=created,
                history=[change(a, creator, s) for a, s in history],
                deleted_at=None,
                number=version.index + 1,
                id=counters.next_github(),
                title=version.name,
                description=f"Release {version.index + 1} of {plan.name}",
                due_on=datetime.combine(version.due, time(8), UTC),
                state="open",
                creator=creator,
            )
        )
    return out


def build_repository(
    rng: random.Random,
    plan: ProjectPlan,
    items: list[ItemPlan],
    threads: int,
    commits: int,
    people: dict[str, Person],
    horizon: datetime,
    counters: Counters,
) -> GitHubRepository:
    """Return the project's repository with ``threads`` issues + PRs and ~``commits`` commits."""
    # coders[0] merges and keeps the milestones: the lead, unless the lead has no GitHub.
    coders = [p for p in plan.team if people[p].github_login] or [plan.lead]
    users = coders + [p for p in (plan.manager,) if people[p].github_login]
    repo_created = datetime.combine(plan.start - timedelta(days=30), time(10), UTC)
    work = [i for i in items if i.issuetype != "Epic"]
    pulls = _pull_requests(rng, plan, work, round(threads * 0.55), coders, people, horizon)
    issues = _issues(rng, plan, pulls, threads - len(pulls), users, repo_created, horizon)
    ordered = sorted(pulls + issues, key=lambda t: t.created)
    models = []
    for number, thread in enumerate(ordered, start=1):
        thread.number = number
    for thread in ordered:
        body = "Steps to reproduce are in the linked ticket."
        ref = None
        if thread.head is not None and thread.item is not None:
            ref = build(GitHubPullRef, head=thread.head, base="main", draft=thread.draft)
            body = f"Implements {thread.item.key}."
            if thread.fixes is not None:
                body += f"\n\nfixes #{thread.fixes.number}"
        thread.history.sort(key=lambda row: row[0])
        models.append(
            build(
                GitHubIssue,
                created=thread.created,
                history=[change(a, w, s) for a, w, s in thread.history],
                deleted_at=None,
                number=thread.number,
                id=counters.next_github(),
                title=thread.title,
                author=thread.author,
                body=body,
                state="open",
                labels=thread.labels,
                assignees=[thread.author] if thread.head else [],
                milestone=thread.milestone,
                pull_request=ref,
            )
        )
    return build(
        GitHubRepository,
        id=counters.next_github(),
        full_name=f"{ORG}/{plan.repo}",
        description=plan.name,
        private=plan.index % 2 == 1,
        default_branch="main",
        created=repo_created,
        labels=list(text.GITHUB_LABELS),
        milestones=_milestones(plan, coders[0], repo_created, counters),
        issues=models,
        commits=_commits(rng, plan, pulls, commits, coders, repo_created, horizon),
    )
