"""The JQL that pmsync evaluates itself, over the issues it has synced.

Why a subset, evaluated here, rather than asking Jira: a ``jql`` milestone
selector must give the same answer on every refresh, offline, for the issues
pmsync actually stores, and in one SQL statement however many issues there are.
Asking Jira would mean one more search per selector per sync, answers that
drift from the stored data between syncs, and a connector that knows about
milestones. So pmsync understands the part of JQL that is about the fields it
keeps, and ``pmsync config validate`` refuses everything else with the reason,
instead of guessing: a selector never silently means something else.

Understood (field names and keywords case-insensitive):

============================ ==========================================================
``project``                  the issue's Jira project key
``key`` / ``issuekey``       the issue key
``issuetype`` / ``type``     the issue type (case-insensitive)
``status``                   the raw status name (case-insensitive)
``statusCategory``           ``"To Do"`` / ``"In Progress"`` / ``"Done"`` (or ``new``,
                             ``indeterminate``, ``done``) as Jira reports it
``labels``                   a label (exact, as Jira's labels are)
``component``                a component name
``fixVersion``               a fix version name of the issue's source
``parent``                   the parent or epic key; ``"Epic Link"`` / ``epic``: the epic
``assignee`` / ``reporter``  the account id (Cloud) or user name (Data Center)
``priority``                 the priority name (case-insensitive)
============================ ==========================================================

Operators ``=``, ``!=``, ``in (...)``, ``not in (...)``, ``is EMPTY``,
``is not EMPTY``; ``AND``, ``OR``, ``NOT`` and parentheses. Not understood:
functions (``currentUser()``, ``openSprints()``), text search (``~``), dates,
sprints, ``ORDER BY``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FIELDS: dict[str, str] = {
    "project": "project",
    "key": "key",
    "issuekey": "key",
    "issuetype": "issuetype",
    "type": "issuetype",
    "status": "status",
    "statuscategory": "statuscategory",
    "labels": "labels",
    "label": "labels",
    "component": "component",
    "components": "component",
    "fixversion": "fixversion",
    "fixversions": "fixversion",
    "parent": "parent",
    "epic link": "epic",
    "epic": "epic",
    "assignee": "assignee",
    "reporter": "reporter",
    "priority": "priority",
}
"""JQL field name (lower case) → the field pmsync evaluates."""

CATEGORIES = {
    "to do": "todo",
    "new": "todo",
    "undefined": "todo",
    "in progress": "in_progress",
    "indeterminate": "in_progress",
    "done": "done",
    "complete": "done",
}
"""Jira's status category names and keys → pmsync's category."""

SUPPORTED = (
    "project, key, issuetype, status, statusCategory, labels, component, fixVersion, "
    'parent, "Epic Link", assignee, reporter, priority with =, !=, in, not in, '
    "is [not] EMPTY, AND, OR, NOT and parentheses"
)


class JqlSubsetError(ValueError):
    """A JQL query outside the subset pmsync evaluates; the message says what and why."""


@dataclass(frozen=True, slots=True)
class Clause:
    """One condition: ``field op values``; ``values`` is empty for ``is [not] EMPTY``."""

    field: str
    op: str
    """``=``, ``!=``, ``in``, ``not in``, ``empty``, ``not empty``."""
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Combined:
    """``AND`` / ``OR`` of parts, or ``NOT`` of one part."""

    op: str
    parts: tuple[Node, ...]


Node = Clause | Combined

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|~|<=|>=|=|<|>|\(|\)|,)
      | (?P<word>[^\s"'=!<>~(),]+)
    )""",
    re.VERBOSE,
)


def _tokens(query: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    text = query.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise JqlSubsetError(f"cannot read the query from {text[position:][:20]!r}")
        position = match.end()
        if match.group("string") is not None:
            raw = match.group("string")[1:-1]
            found.append(("string", re.sub(r"\\(.)", r"\1", raw)))
        elif match.group("op") is not None:
            found.append(("op", match.group("op")))
        elif match.group("word") is not None:
            found.append(("word", match.group("word")))
    return found


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _tokens(query)
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() in words:
            self.at += 1
            return True
        return False

    def symbol(self, value: str) -> bool:
        token = self.peek()
        if token == ("op", value):
            self.at += 1
            return True
        return False

    def take(self, what: str) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise JqlSubsetError(f"the query ends where {what} was expected")
        self.at += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise JqlSubsetError("the query is empty")
        node = self.any_of()
        token = self.peek()
        if token is not None:
            if token[0] == "word" and token[1].lower() == "order":
                raise JqlSubsetError("ORDER BY has no meaning in a selector; remove it")
            raise JqlSubsetError(f"unexpected {token[1]!r}")
        return node

    def any_of(self) -> Node:
        parts = [self.all_of()]
        while self.keyword("or"):
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else Combined("or", tuple(parts))

    def all_of(self) -> Node:
        parts = [self.negated()]
        while self.keyword("and"):
            parts.append(self.negated())
        return parts[0] if len(parts) == 1 else Combined("and", tuple(parts))

    def negated(self) -> Node:
        if self.keyword("not") or self.symbol("!"):
            return Combined("not", (self.negated(),))
        if self.symbol("("):
            node = self.any_of()
            if not self.symbol(")"):
                raise JqlSubsetError("a parenthesis is not closed")
            return node
        return self.clause()

    def clause(self) -> Clause:
        kind, name = self.take("a field name")
        if kind == "op":
            raise JqlSubsetError(f"a field name was expected, not {name!r}")
        field = FIELDS.get(name.lower())
        if field is None:
            raise JqlSubsetError(
                f"pmsync cannot evaluate the field {name!r} (it understands {SUPPORTED})"
            )
        if self.keyword("is"):
            negate = self.keyword("not")
            if not self.keyword("empty", "null"):
                raise JqlSubsetError(f"{name} is ... : only 'is EMPTY' and 'is not EMPTY'")
            return Clause(field, "not empty" if negate else "empty", ())
        if self.keyword("not"):
            if not self.keyword("in"):
                raise JqlSubsetError(f"{name} not ...: only 'not in (...)'")
            return Clause(field, "not in", self.value_list(name))
        if self.keyword("in"):
            return Clause(field, "in", self.value_list(name))
        kind, op = self.take("an operator")
        if kind != "op" or op not in ("=", "!="):
            raise JqlSubsetError(
                f"pmsync cannot evaluate the operator {op!r} on {name} "
                "(it understands =, !=, in, not in, is [not] EMPTY)"
            )
        return Clause(field, op, (self.value(name),))

    def value(self, name: str) -> str:
        kind, value = self.take(f"a value for {name}")
        if kind == "op":
            raise JqlSubsetError(f"a value for {name} was expected, not {value!r}")
        if self.symbol("("):
            raise JqlSubsetError(
                f"pmsync cannot evaluate the function {value}() (functions depend on who "
                "asks and when; use plain values)"
            )
        if kind == "word" and value.lower() in ("empty", "null"):
            raise JqlSubsetError(f"write '{name} is EMPTY' instead of '= {value}'")
        return value

    def value_list(self, name: str) -> tuple[str, ...]:
        if not self.symbol("("):
            raise JqlSubsetError(f"{name} in ... needs a list in parentheses")
        values = [self.value(name)]
        while self.symbol(","):
            values.append(self.value(name))
        if not self.symbol(")"):
            raise JqlSubsetError(f"the list of values for {name} is not closed")
        return tuple(values)


def parse_jql(query: str) -> Node:
    """Parse ``query`` into clauses; raise ``JqlSubsetError`` for what pmsync cannot evaluate."""
    node = _Parser(query).parse()
    _check_categories(node)
    return node


def _check_categories(node: Node) -> None:
    if isinstance(node, Combined):
        for part in node.parts:
            _check_categories(part)
    elif node.field == "statuscategory":
        for value in node.values:
            if value.lower() not in CATEGORIES:
                raise JqlSubsetError(
                    f'unknown status category {value!r} (use "To Do", "In Progress" or "Done")'
                )


def check_jql(query: str) -> str:
    """Return ``query`` if pmsync can evaluate it; raise ``ValueError`` saying why not."""
    try:
        parse_jql(query)
    except JqlSubsetError as err:
        raise ValueError(
            f"{err}. pmsync evaluates jql selectors itself over the synced issues "
            "(see docs/plan.md, 'JQL selectors')"
        ) from err
    return query
