"""A small, real JQL parser: the part of the language pmsync and its users send.

The sandbox evaluates JQL rather than pattern-matching the strings pmsync happens
to send, so a connector that builds a wrong query gets a wrong answer here too.
Supported: ``project``, ``key``/``issuekey``/``id``, ``updated``, ``created``,
``resolved``, ``fixVersion``, ``labels``, ``status``, ``statusCategory``,
``issuetype``/``type``, ``assignee``, ``component``, ``parent`` with ``=``, ``!=``,
``in``, ``not in``, ``is [not] empty`` and (for dates) ``< <= > >=``; ``AND``,
``OR``, ``NOT``, parentheses; ``ORDER BY updated|created|key|id [ASC|DESC]``.
Dates are ``"yyyy/MM/dd HH:mm"``, ``"yyyy-MM-dd HH:mm"``, ``"yyyy/MM/dd"``,
``"yyyy-MM-dd"`` (read in the searching user's time zone), epoch milliseconds,
or relative periods such as ``-5d``/``-90m``. Anything else raises ``JqlError``,
which the service turns into Jira's 400 error shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

DATE_FIELDS = {
    "updated": "updated",
    "updateddate": "updated",
    "created": "created",
    "createddate": "created",
    "resolved": "resolved",
    "resolutiondate": "resolved",
}
VALUE_FIELDS = {
    "project",
    "key",
    "issuekey",
    "id",
    "fixversion",
    "labels",
    "status",
    "statuscategory",
    "issuetype",
    "type",
    "assignee",
    "component",
    "parent",
}
SORT_FIELDS = {
    "updated": "updated",
    "created": "created",
    "key": "key",
    "issuekey": "key",
    "id": "id",
    "resolved": "resolved",
}
_FIELD_ALIAS = {
    "issuekey": "key",
    "type": "issuetype",
    "updateddate": "updated",
    "createddate": "created",
    "resolutiondate": "resolved",
}


class JqlError(ValueError):
    """A query Jira would refuse with 400; the message is Jira's wording."""


@dataclass(frozen=True)
class Term:
    """One clause: ``field op value(s)``; ``values`` is empty for ``is [not] empty``."""

    field: str
    op: str  # = != in notin < <= > >= is isnot
    values: tuple[str, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # and / or / not
    parts: tuple[Node, ...]


Node = Term | BoolOp


@dataclass(frozen=True)
class Query:
    """A parsed query: an optional condition and the ORDER BY list."""

    where: Node | None
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    relative: bool
    """True when the condition uses relative dates (its answer moves with the clock)."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|=|>|<|~|\(|\)|,)
      | (?P<word>[^\s"'=!<>~(),]+)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise JqlError(
                f"Error in the JQL Query: The character '{text[pos:].strip()[0]}' is a "
                f"reserved JQL character. (line 1, character {pos + 1})"
            )
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.relative = False

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise JqlError(
                "Error in the JQL Query: Expecting either a value or a field name "
                "but got the end of the query."
            )
        self.pos += 1
        return tok

    def expect(self, kind: str, value: str) -> None:
        tok = self.take()
        if tok != (kind, value):
            raise JqlError(f"Error in the JQL Query: Expecting '{value}' but got '{tok[1]}'.")

    def parse(self) -> Query:
        where: Node | None = None
        if self.peek() is not None and not self.word("order"):
            where = self.or_clause()
        order: list[tuple[str, bool]] = []
        if self.word("order"):
            self.take()
            if not self.word("by"):
                raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
            self.take()
            while True:
                kind, name = self.take()
                field = SORT_FIELDS.get(name.lower())
                if kind == "op" or field is None:
                    raise JqlError(f"Not able to sort using field '{name}'.")
                descending = False
                if self.word("asc", "desc"):
                    descending = self.take()[1].lower() == "desc"
                order.append((field, descending))
                if self.peek() == ("op", ","):
                    self.take()
                    continue
                break
        tok = self.peek()
        if tok is not None:
            raise JqlError(
                f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{tok[1]}'."
            )
        return Query(where, tuple(order), self.relative)

    def or_clause(self) -> Node:
        parts = [self.and_clause()]
        while self.word("or"):
            self.take()
            parts.append(self.and_clause())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_clause(self) -> Node:
        parts = [self.not_clause()]
        while self.word("and"):
            self.take()
            parts.append(self.not_clause())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def not_clause(self) -> Node:
        if self.word("not"):
            self.take()
            return BoolOp("not", (self.not_clause(),))
        if self.peek() == ("op", "("):
            self.take()
            node = self.or_clause()
            self.expect("op", ")")
            return node
        return self.term()

    def term(self) -> Term:
        kind, name = self.take()
        if kind == "op":
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{name}'.")
        field = name.lower()
        if field not in VALUE_FIELDS and field not in DATE_FIELDS:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        field = _FIELD_ALIAS.get(field, field)
        kind, op = self.take()
        op = op.lower()
        if kind == "word" and op == "is":
            negate = self.word("not")
            if negate:
                self.take()
            if not self.word("empty", "null"):
                raise JqlError("Error in the JQL Query: Expecting 'EMPTY' after 'IS'.")
            self.take()
            return Term(field, "isnot" if negate else "is", ())
        if kind == "word" and op == "not" and self.word("in"):
            self.take()
            op = "notin"
        elif kind == "word" and op == "in":
            op = "in"
        elif kind != "op" or op in ("~", "!~", "(", ")", ","):
            raise JqlError(
                f"Error in the JQL Query: The operator '{op}' is not supported by "
                f"this sandbox for field '{name}'."
            )
        if op in ("in", "notin"):
            self.expect("op", "(")
            values = [self.value()]
            while self.peek() == ("op", ","):
                self.take()
                values.append(self.value())
            self.expect("op", ")")
            return self._checked(Term(field, op, tuple(values)), name)
        return self._checked(Term(field, op, (self.value(),)), name)

    def value(self) -> str:
        kind, value = self.take()
        if kind == "op":
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{value}'.")
        if self.peek() == ("op", "("):
            raise JqlError(f"Unable to find JQL function '{value}()'.")
        return value

    def _checked(self, term: Term, name: str) -> Term:
        is_date = term.field in ("updated", "created", "resolved")
        if term.op in ("<", "<=", ">", ">=") and not is_date:
            raise JqlError(f"The operator '{term.op}' is not supported by the '{name}' field.")
        if is_date and any(_RELATIVE.match(v) for v in term.values):
            self.relative = True
        return term


def parse(text: str) -> Query:
    """Parse ``text``; raise ``JqlError`` with Jira's message when Jira would refuse it."""
    return _Parser(text or "").parse()


# --- dates --------------------------------------------------------------------------

_ABSOLUTE = (
    ("%Y/%m/%d %H:%M", re.compile(r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}$")),
    ("%Y-%m-%d %H:%M", re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}$")),
    ("%Y/%m/%d", re.compile(r"^\d{4}/\d{1,2}/\d{1,2}$")),
    ("%Y-%m-%d", re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")),
)
_RELATIVE = re.compile(r"^([-+]?)((?:\d+[wdhm]\s*)+)$")
_PERIOD = re.compile(r"(\d+)([wdhm])")
_UNIT = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def date_value_ms(value: str, field: str, zone: ZoneInfo, now: datetime) -> int:
    """Return the instant (epoch ms) a JQL date value denotes for a user in ``zone``."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    for fmt, pattern in _ABSOLUTE:
        if pattern.match(text):
            moment = datetime.strptime(text, fmt).replace(tzinfo=zone)
            return int(moment.timestamp() * 1000)
    relative = _RELATIVE.match(text)
    if relative:
        delta = timedelta()
        for amount, unit in _PERIOD.findall(relative.group(2)):
            delta += timedelta(**{_UNIT[unit]: int(amount)})
        moment = now - delta if relative.group(1) == "-" else now + delta
        return int(moment.timestamp() * 1000)
    raise JqlError(
        f"Date value '{value}' for field '{field}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )
