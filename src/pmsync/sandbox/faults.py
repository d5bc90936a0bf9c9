"""Fault injection for the sandbox: which requests fail, and how, reproducibly.

A connector is only as good as its behaviour on a bad day, so every imitated
API can be told to misbehave the way real servers and the networks in front of
them do: rate limits (``Retry-After`` in seconds or as an HTTP date), 5xx
answers, a connection reset in the middle of a body, slow answers, bodies cut
short or not JSON at all, and listings that shift between two page requests
because somebody edited the data meanwhile. The draw is made from
``random.Random(seed)`` per rule, so the same spec and the same order of
requests always give the same faults; tests rely on that.

The harness (``pmsync.sandbox.server.Service``) asks ``FaultInjector.draw`` for
each request and applies the answer; this module knows nothing about HTTP
frameworks.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = (
    "429",
    "429-date",
    "500",
    "502",
    "503",
    "reset",
    "slow",
    "truncated",
    "malformed",
    "shift",
)
"""Every fault kind, as written in a ``--faults`` spec."""

STATUS_KINDS = frozenset({"429", "429-date", "500", "502", "503"})
"""Kinds answered before the request reaches the API (as a proxy or a gateway would)."""
BODY_KINDS = frozenset({"reset", "truncated", "malformed"})
"""Kinds that spoil the body of the API's real answer."""


@dataclass(frozen=True)
class FaultPlan:
    """Which requests fail and how; deterministic for a given seed and request order.

    Spec string (``--faults``): comma-separated ``key=value`` pairs, e.g.
    ``rate=0.1,kinds=429+500+reset,seed=7,paths=/rest/api/3/search/jql+/repos``;
    several rules are separated by ``;`` and the first rule whose ``paths``
    match a request decides for it (``also`` holds the rules after the first).

    * ``rate``: probability that a request gets a fault (0..1)
    * ``kinds``: ``+``-separated subset of ``FAULT_KINDS`` (default: all)
    * ``seed``: random seed (default 0)
    * ``paths``: ``+``-separated path prefixes (or ``*`` patterns) the rule applies
      to (default: every path but the sandbox's own control endpoints)
    * ``retry_after``: seconds sent in ``Retry-After`` (default 1)
    * ``slow``: seconds a ``slow`` response is delayed (default 2)
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    paths: tuple[str, ...] = ()
    retry_after: float = 1.0
    slow_seconds: float = 2.0
    also: tuple[FaultPlan, ...] = ()

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """Parse a ``--faults`` spec; raise ValueError naming the bad part."""
        if not spec or not spec.strip():
            return cls()
        rules = [_parse_rule(text) for text in spec.split(";") if text.strip()]
        if not rules:
            raise ValueError("fault spec has no rule")
        first, *rest = rules
        return cls(**{**first, "also": tuple(cls(**rule) for rule in rest)})

    def rules(self) -> tuple[FaultPlan, ...]:
        """Return this rule and the ones after it, in the order they are tried."""
        return (self, *self.also)

    def applies_to(self, path: str) -> bool:
        """Tell whether this rule covers a request to ``path``."""
        if not self.paths:
            return True
        return any(_matches(path, pattern) for pattern in self.paths)


def _matches(path: str, pattern: str) -> bool:
    if "*" in pattern:
        return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern + "/*")
    return path.startswith(pattern)


def _number(key: str, value: str, kind: type[float] | type[int]) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"fault spec {key}={value!r} is not a number") from None


def _parse_rule(text: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise ValueError(f"fault spec part {part.strip()!r} is not key=value")
        if key == "rate":
            values["rate"] = _number(key, value, float)
            if not 0 <= values["rate"] <= 1:
                raise ValueError(f"fault rate {value} is not between 0 and 1")
        elif key == "kinds":
            kinds = tuple(k for k in value.split("+") if k)
            unknown = sorted(set(kinds) - set(FAULT_KINDS))
            if unknown or not kinds:
                raise ValueError(
                    f"unknown fault kinds {unknown or [value]}; known: {' '.join(FAULT_KINDS)}"
                )
            values["kinds"] = kinds
        elif key == "seed":
            values["seed"] = _number(key, value, int)
        elif key == "paths":
            paths = tuple(p for p in value.split("+") if p)
            bad = [p for p in paths if not p.startswith("/")]
            if bad:
                raise ValueError(f"fault paths must start with '/': {bad[0]!r}")
            values["paths"] = paths
        elif key in ("retry_after", "slow"):
            seconds = _number(key, value, float)
            if seconds < 0:
                raise ValueError(f"fault spec {key}={value} is negative")
            values["retry_after" if key == "retry_after" else "slow_seconds"] = seconds
        else:
            raise ValueError(
                f"unknown fault spec key {key!r}; known: rate kinds seed paths retry_after slow"
            )
    return values


@dataclass(frozen=True)
class Fault:
    """One drawn fault: its kind, the rule that drew it, and for ``shift`` the direction."""

    kind: str
    rule: FaultPlan
    shift: int = 0
    """-1: an item appeared before this page (a duplicate); +1: one vanished (a skip)."""


class FaultInjector:
    """Draws a fault (or none) for each request, reproducibly, and counts what was applied."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rules = plan.rules()
        self._rngs = [random.Random(rule.seed) for rule in self._rules]
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        """Faults applied, per kind (what ``/_sandbox/stats`` reports)."""

    def draw(self, path: str) -> Fault | None:
        """Return the fault for a request to ``path``, or None."""
        if path.startswith("/_sandbox") or "/_sandbox/" in path:
            return None
        for rule, rng in zip(self._rules, self._rngs, strict=True):
            if not rule.applies_to(path):
                continue
            if rule.rate <= 0:
                return None
            with self._lock:
                if rng.random() >= rule.rate:
                    return None
                kind = rng.choice(rule.kinds)
                shift = rng.choice((-1, 1)) if kind == "shift" else 0
            return Fault(kind, rule, shift)
        return None

    def record(self, kind: str) -> None:
        """Count one applied fault of ``kind``."""
        with self._lock:
            self.injected[kind] += 1


def truncated(body: bytes) -> bytes:
    """Return the first half of ``body`` (at least one byte): JSON cut short."""
    return body[: max(1, len(body) // 2)]


def malformed(body: bytes) -> bytes:
    """Return what a misconfigured proxy sends instead of JSON."""
    return b"<html><body><h1>502 Bad Gateway</h1></body></html>\n" + body[:20]


class ResetConnection(Exception):
    """Raised by a response body mid-way: the server resets the connection (TCP RST)."""
