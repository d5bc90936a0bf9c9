"""Label matchers, written as Alertmanager writes them: ``project=PAY``, ``severity=~warn.*``.

One syntax serves routes, inhibition rules, silences and the command line, so
an admin who learnt it in ``pmsync.yaml`` can type it in ``pmsync alerts
silence --match``. Four operators: ``=`` (equal), ``!=`` (not equal), ``=~``
(regex matches the whole value), ``!~`` (regex does not match). A label an
alert does not have counts as the empty string, as in Alertmanager, so
``milestone!=Beta`` matches an alert without a milestone. Values may be quoted
(``summary="a, b"``); whitespace around the operator is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Operator = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


class MatcherError(ValueError):
    """A matcher that cannot be parsed or whose regex does not compile."""


@dataclass(frozen=True)
class Matcher:
    """One condition on one label."""

    name: str
    op: Operator
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Tell whether ``labels`` satisfy this matcher (a missing label is ``""``)."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        plain = re.fullmatch(r"[^\s\"',]*", self.value) is not None and self.value != ""
        value = self.value if plain else '"' + self.value.replace('"', '\\"') + '"'
        return f"{self.name}{self.op}{value}"


def parse_matcher(text: str) -> Matcher:
    """Parse ``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``."""
    found = _MATCHER.match(text)
    if found is None:
        raise MatcherError(
            f"{text!r} is not a matcher: write label=value, label!=value, "
            "label=~regex or label!~regex (e.g. project=PAY)"
        )
    name, op, value = found.group(1), found.group(2), found.group(3)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].replace(f"\\{value[0]}", value[0])
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)
        except re.error as err:
            raise MatcherError(f"{text!r}: the regular expression does not compile: {err}") from err
    return Matcher(name, op, value, regex)  # type: ignore[arg-type]


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Parse several matchers; the first bad one raises ``MatcherError``."""
    return tuple(parse_matcher(text) for text in texts)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Tell whether ``labels`` satisfy every matcher (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)
