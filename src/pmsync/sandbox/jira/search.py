"""Evaluate parsed JQL against a snapshot: predicates, index use, ordering, caching.

Values are checked as Jira checks them: an unknown project, status, fix version
or issue key is a 400, not an empty result, so a connector with a typo in its
configuration learns it from the sandbox as it would from Jira.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from pmsync.sandbox.jira.jql import BoolOp, JqlError, Node, Query, Term, date_value_ms
from pmsync.sandbox.jira.world import IssueView, JiraData, Snapshot

Predicate = Callable[[IssueView], bool]

DEFAULT_ORDER: tuple[tuple[str, bool], ...] = (("key", True),)
"""Jira's order when the query has no ORDER BY."""

_CATEGORIES = {
    "new": "new",
    "to do": "new",
    "2": "new",
    "indeterminate": "indeterminate",
    "in progress": "indeterminate",
    "4": "indeterminate",
    "done": "done",
    "3": "done",
}


def _missing(value: str, field: str) -> JqlError:
    return JqlError(f"The value '{value}' does not exist for the field '{field}'.")


class _Compiler:
    def __init__(self, data: JiraData, snap: Snapshot, zone: ZoneInfo, now: datetime) -> None:
        self.data, self.snap, self.zone, self.now = data, snap, zone, now

    def node(self, node: Node) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.node(p) for p in node.parts]
            if node.op == "and":
                return lambda v: all(p(v) for p in parts)
            if node.op == "or":
                return lambda v: any(p(v) for p in parts)
            inner = parts[0]
            return lambda v: not inner(v)
        return self.term(node)

    def term(self, term: Term) -> Predicate:
        field = term.field
        if field in ("updated", "created", "resolved"):
            return self.date_term(term)
        resolve: dict[str, Callable[[str], Iterable[object]]] = {
            "project": lambda v: (self.project(v),),
            "key": lambda v: (self.issue(v, "key"),),
            "id": lambda v: (self.issue(v, "id"),),
            "parent": lambda v: (self.issue(v, "parent"),),
            "fixversion": self.versions,
            "status": lambda v: (self.status(v),),
            "statuscategory": lambda v: (self.category(v),),
            "assignee": lambda v: (self.person(v),),
        }
        lookup = resolve.get(field, lambda v: (v.lower(),))
        accepted: set[object] = {x for v in term.values for x in lookup(v)}
        values = self.parent_of if field == "parent" else _EXTRACT[field]
        op = term.op
        if op in ("is", "isnot"):
            want_empty = op == "is"
            return lambda v: (not any(True for _ in values(v))) == want_empty
        if op in ("=", "in"):
            return lambda v: any(x in accepted for x in values(v))

        # != and NOT IN never match an empty field, as in Jira
        def differs(v: IssueView) -> bool:
            present = list(values(v))
            return bool(present) and not any(x in accepted for x in present)

        return differs

    def date_term(self, term: Term) -> Predicate:
        attr = {"updated": "updated_ms", "created": "created_ms", "resolved": "resolved_ms"}[
            term.field
        ]
        if term.op in ("is", "isnot"):
            want_empty = term.op == "is"
            return lambda v: (getattr(v, attr) is None) == want_empty
        moments = [date_value_ms(x, term.field, self.zone, self.now) for x in term.values]
        pivot = moments[0]
        compare: Callable[[int], bool] = {
            ">=": lambda ms: ms >= pivot,
            ">": lambda ms: ms > pivot,
            "<=": lambda ms: ms <= pivot,
            "<": lambda ms: ms < pivot,
            "=": lambda ms: ms == pivot,
            "in": lambda ms: ms in moments,
            "!=": lambda ms: ms != pivot,
            "notin": lambda ms: ms not in moments,
        }[term.op]

        def matches(view: IssueView) -> bool:
            value = getattr(view, attr)
            return value is not None and compare(value)

        return matches

    def project(self, value: str) -> str:
        data = self.data
        found = data.projects.get(value.upper()) or data.project_by_id.get(value)
        if found is None:
            found = next(
                (p for p in data.projects.values() if p.name.lower() == value.lower()), None
            )
        if found is None:
            raise _missing(value, "project")
        return found.key.upper()

    def issue(self, value: str, field: str) -> int:
        index = (
            self.snap.by_key.get(value.upper())
            if not value.isdigit()
            else (self.snap.by_id.get(value))
        )
        if index is None:
            if value.isdigit() or field == "id":
                raise JqlError(f"The issue id '{value}' for field '{field}' is invalid.")
            if "-" not in value:
                raise JqlError(f"The issue key '{value}' for field '{field}' is invalid.")
            raise JqlError(f"An issue with key '{value}' does not exist for field '{field}'.")
        return index

    def parent_of(self, view: IssueView) -> tuple[int, ...]:
        parent = view.state.get("parent")
        index = self.snap.by_key.get(str(parent).upper()) if parent else None
        return () if index is None else (index,)

    def versions(self, value: str) -> set[str]:
        found = {
            vid
            for vid, (_, version) in self.data.versions.items()
            if vid == value or version.name.lower() == value.lower()
        }
        if not found:
            raise _missing(value, "fixVersion")
        return found

    def status(self, value: str) -> str:
        found = self.data.status_by_name.get(value.lower()) or self.data.status_by_id.get(value)
        if found is None:
            raise _missing(value, "status")
        return found.id

    def category(self, value: str) -> str:
        found = _CATEGORIES.get(value.lower())
        if found is None:
            raise _missing(value, "statusCategory")
        return found

    def person(self, value: str) -> str:
        for person in self.data.people.values():
            if value in (person.account_id(), person.email, person.jira_email, person.id):
                return person.id
        raise _missing(value, "assignee")


def _lower(items: Iterable[object]) -> tuple[str, ...]:
    return tuple(str(x).lower() for x in items)


def _assignee(view: IssueView) -> tuple[object, ...]:
    assignee = view.state.get("assignee")
    return () if assignee is None else (assignee,)


_EXTRACT: dict[str, Callable[[IssueView], Iterable[object]]] = {
    "project": lambda v: (v.project,),
    "key": lambda v: (v.index,),
    "id": lambda v: (v.index,),
    "fixversion": lambda v: v.fix_versions,
    "labels": lambda v: _lower(v.labels),
    "status": lambda v: (v.status.id,),
    "statuscategory": lambda v: (v.status.category,),
    "issuetype": lambda v: (str(v.state.get("issuetype", "Task")).lower(),),
    "component": lambda v: _lower(v.state.get("components") or ()),
    "assignee": _assignee,
}


def _candidates(node: Node | None, compiler: _Compiler, snap: Snapshot) -> Iterable[int]:
    """Narrow the scan with the project index when the query pins projects."""
    terms: list[Node] = []
    if isinstance(node, Term):
        terms = [node]
    elif isinstance(node, BoolOp) and node.op == "and":
        terms = list(node.parts)
    for term in terms:
        if isinstance(term, Term) and term.field == "project" and term.op in ("=", "in"):
            keys = {compiler.project(v) for v in term.values}
            found: set[int] = set()
            for key in keys:
                found |= snap.by_project.get(key, set())
            return found
    return snap.views.keys()


def _sort(views: list[IssueView], order: tuple[tuple[str, bool], ...]) -> None:
    views.sort(key=lambda v: v.id_num)  # the stable tie-break, applied first
    for field, descending in reversed(order):
        if field == "key":
            views.sort(key=IssueView.key_order, reverse=descending)
        elif field == "id":
            views.sort(key=lambda v: v.id_num, reverse=descending)
        elif field == "resolved":
            views.sort(
                key=lambda v: v.resolved_ms if v.resolved_ms is not None else float("inf"),
                reverse=descending,
            )
        else:
            attr = f"{field}_ms"
            views.sort(key=lambda v, a=attr: getattr(v, a), reverse=descending)  # type: ignore[misc]


def run(
    query: Query, jql: str, data: JiraData, snap: Snapshot, zone: ZoneInfo, now: datetime
) -> list[int]:
    """Return the indexes of the issues matching ``query``, in order (cached per state)."""
    cache_key = (jql, str(zone), now if query.relative else None)
    cached = snap.cached_query(cache_key)
    if cached is not None:
        return cached
    compiler = _Compiler(data, snap, zone, now)
    predicate = compiler.node(query.where) if query.where is not None else None
    views = snap.views
    candidates = _candidates(query.where, compiler, snap)
    if predicate is None:
        matched = [views[i] for i in candidates]
    else:
        matched = [views[i] for i in candidates if predicate(views[i])]
    _sort(matched, query.order or DEFAULT_ORDER)
    result = [v.index for v in matched]
    snap.cache_query(cache_key, result)
    return result
