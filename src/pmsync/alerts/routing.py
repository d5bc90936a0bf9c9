"""The route tree and inhibition rules of ``routing:``, resolved for use.

Routing follows Alertmanager: every alert enters at the root; the children are
tried in order, an alert descends into the first child whose matchers all
match (and into later siblings too when that child says ``continue: true``);
an alert no child takes stays with the route it reached. Each route inherits
receivers, ``group_by`` and the three timers from its parent unless it sets
them. A route with several receivers behaves as one route per receiver: each
has its own group and its own notification log.

A group is identified by the route (its position and matchers), the receiver
and the values of the ``group_by`` labels, so reordering or editing routes
starts new groups (which then notify once, after ``group_wait``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from pmsync.alerts.matchers import Matcher, matches_all, parse_matchers
from pmsync.config.settings import Route, Routing

ALL_LABELS = "..."


@dataclass(frozen=True)
class Policy:
    """What a route decides for the alerts it takes: receivers, grouping and timers."""

    key: str
    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    send_resolved: bool

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """Return the labels that name the group an alert with ``labels`` belongs to."""
        if ALL_LABELS in self.group_by:
            return dict(sorted(labels.items()))
        return {name: labels.get(name, "") for name in self.group_by}

    def group_key(self, receiver: str, group_labels: Mapping[str, str]) -> str:
        """Return the 64-hex identity of a group of this route for ``receiver``."""
        text = json.dumps([self.key, receiver, sorted(group_labels.items())], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RouteNode:
    """A route with its matchers and resolved policy."""

    matchers: tuple[Matcher, ...]
    policy: Policy
    continue_: bool
    children: tuple[RouteNode, ...]

    def routes_for(self, labels: Mapping[str, str]) -> list[Policy]:
        """Return the policies of the routes that take an alert with ``labels``."""
        found: list[Policy] = []
        for child in self.children:
            if matches_all(child.matchers, labels):
                found.extend(child.routes_for(labels))
                if not child.continue_:
                    break
        return found or [self.policy]


def _node(route: Route, parent: Policy, key: str, matchers: tuple[Matcher, ...]) -> RouteNode:
    policy = Policy(
        key=key,
        receivers=tuple(route.receivers) if route.receivers is not None else parent.receivers,
        group_by=tuple(route.group_by) if route.group_by is not None else parent.group_by,
        group_wait=route.group_wait if route.group_wait is not None else parent.group_wait,
        group_interval=(
            route.group_interval if route.group_interval is not None else parent.group_interval
        ),
        repeat_interval=(
            route.repeat_interval if route.repeat_interval is not None else parent.repeat_interval
        ),
        send_resolved=route.send_resolved
        if route.send_resolved is not None
        else parent.send_resolved,
    )
    children = tuple(
        _node(
            child,
            policy,
            f"{key}/{i}{{{','.join(child.matchers)}}}",
            parse_matchers(child.matchers),
        )
        for i, child in enumerate(route.routes)
    )
    return RouteNode(matchers, policy, route.continue_, children)


def build_tree(routing: Routing) -> RouteNode:
    """Resolve the ``routing:`` settings into a tree of routes with inherited policies."""
    root = Policy(
        key="{}",
        receivers=tuple(routing.receivers),
        group_by=tuple(routing.group_by),
        group_wait=routing.group_wait,
        group_interval=routing.group_interval,
        repeat_interval=routing.repeat_interval,
        send_resolved=routing.send_resolved,
    )
    as_route = Route(routes=routing.routes)
    return _node(as_route, root, "{}", ())


@dataclass(frozen=True)
class InhibitionRule:
    """A firing source alert mutes target alerts that agree on the ``equal`` labels."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]
    name: str

    def mutes(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        """Tell whether ``source`` (firing) mutes ``target`` under this rule."""
        return (
            matches_all(self.source, source)
            and matches_all(self.target, target)
            and all(source.get(n, "") == target.get(n, "") for n in self.equal)
        )


BUILTIN_INHIBITIONS: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("severity=critical",),
        ("severity=~warning|info",),
        ("project", "subject_kind", "subject_id"),
    ),
    (("rule=milestone_overdue",), ("rule=milestone_slip",), ("project", "milestone")),
)


def inhibition_rules(routing: Routing) -> list[InhibitionRule]:
    """Return the built-in inhibition rules (unless turned off) and the configured ones."""
    pairs = list(BUILTIN_INHIBITIONS) if routing.builtin_inhibit else []
    pairs += [(tuple(r.source), tuple(r.target), tuple(r.equal)) for r in routing.inhibit]
    return [
        InhibitionRule(
            parse_matchers(source),
            parse_matchers(target),
            tuple(equal),
            f"{','.join(source)} mutes {','.join(target)}",
        )
        for source, target, equal in pairs
    ]


def pending_for(routing: Routing, rule: str) -> timedelta:
    """Return how long a finding of ``rule`` must last before its alert fires."""
    return routing.pending_by_rule.get(rule, routing.pending)


def report_url_for(routing: Routing, project: str | None) -> str | None:
    """Return the configured report link of ``project`` (None without one)."""
    if routing.report_url is None:
        return None
    return routing.report_url.format(project=project or "")
