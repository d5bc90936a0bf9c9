"""Routing as an admin writes it: matchers, the route tree, and errors at file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pmsync.alerts import Finding, MatcherError, parse_matcher
from pmsync.alerts.routing import build_tree
from pmsync.config import load_config
from pmsync.config.settings import Routing
from pmsync.errors import ConfigError

from .conftest import finding


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("project=PAY", {"project": "PAY"}, True),
        ("project = PAY", {"project": "ERP"}, False),
        ("project!=PAY", {"project": "ERP"}, True),
        ("milestone!=Beta", {}, True),  # a missing label is ""
        ("severity=~warning|critical", {"severity": "critical"}, True),
        ("severity=~warn", {"severity": "warning"}, False),  # the regex matches the whole value
        ("rule!~milestone_.*", {"rule": "cpi_low"}, True),
        ('summary="a, b"', {"summary": "a, b"}, True),
        ("milestone=", {}, True),
    ],
)
def test_matchers_match_like_alertmanager(
    text: str, labels: dict[str, str], expected: bool
) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("project PAY", "is not a matcher"),
        ("=PAY", "is not a matcher"),
        ("severity=~(warn", "does not compile"),
    ],
)
def test_bad_matchers_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(MatcherError, match=message):
        parse_matcher(text)


def test_the_fingerprint_is_rule_and_labels_only() -> None:
    warning = finding("Beta 4 days late")
    critical = finding("Beta 14 days late", severity="critical")
    assert warning.fingerprint == critical.fingerprint
    assert warning.fingerprint != finding(subject="Gamma").fingerprint
    assert warning.fingerprint != finding(rule="milestone_overdue").fingerprint
    assert len(warning.fingerprint) == 64


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rule": "Milestone Slip"}, "rule name"),
        ({"severity": "major"}, "severity"),
        ({"labels": {"project": "PAY"}}, "needs the label 'subject_kind'"),
        (
            {"labels": {"subject_kind": "project", "subject_id": "PAY", "severity": "x"}},
            "label name",
        ),
        ({"summary": "  "}, "needs a summary"),
    ],
)
def test_a_malformed_finding_is_refused(change: dict[str, object], message: str) -> None:
    fields = {
        "rule": "cpi_low",
        "severity": "warning",
        "labels": {"subject_kind": "project", "subject_id": "PAY"},
        "summary": "CPI 0.8",
        **change,
    }
    with pytest.raises(ValueError, match=message):
        Finding(**fields)  # type: ignore[arg-type]


def test_a_summary_is_one_line() -> None:
    assert finding("line one\nBcc: x@example.com\r\n  three").summary == (
        "line one Bcc: x@example.com three"
    )


def test_the_route_tree_picks_receivers_in_order_with_continue() -> None:
    routing = Routing.model_validate(
        {
            "receivers": ["pmo-mail"],
            "group_wait": "1m",
            "routes": [
                {"matchers": ["severity=critical"], "receivers": ["pager"], "continue": True},
                {
                    "matchers": ["project=PAY"],
                    "receivers": ["pay-slack"],
                    "group_by": ["project", "milestone"],
                    "routes": [{"matchers": ["rule=~budget_.*|cpi_low"], "receivers": ["finance"]}],
                },
                {"matchers": ["project=~PAY|ERP"], "receivers": ["never-reached-for-pay"]},
            ],
        }
    )
    tree = build_tree(routing)

    def receivers(f: Finding) -> list[str]:
        return [r for p in tree.routes_for(f.match_labels) for r in p.receivers]

    assert receivers(finding(project="ERP")) == ["never-reached-for-pay"]
    assert receivers(finding(project="HR")) == ["pmo-mail"]
    assert receivers(finding()) == ["pay-slack"]
    assert receivers(finding(severity="critical")) == ["pager", "pay-slack"]
    assert receivers(finding(rule="cpi_low", kind="project", subject="PAY")) == ["finance"]
    [policy] = tree.routes_for(finding(rule="cpi_low", kind="project", subject="PAY").match_labels)
    assert (policy.group_by, policy.group_wait.total_seconds()) == (("project", "milestone"), 60)


PMSYNC_YAML = """\
receivers:
  pmo:
    type: email
    to: [pmo@example.com]
    sender: pmsync@example.com
    smtp_host: mail.example.com
    implicit_tls: true
    starttls: true
routing:
  receivers: [pmo]
  report_url: https://reports.example/{project}/{day}
  routes:
    - matchers: ["project PAY"]
      receivers: [pmo]
    - matchers: [project=PAY]
      routes:
        - matchers: ["severity=~(crit"]
          receivers: [pager]
  inhibit:
    - source: [severity=critical]
      target: [severity=warning]
      equals: [project]
  group_wiat: 1m
"""


def test_routing_errors_are_reported_at_their_line(tmp_path: Path) -> None:
    (tmp_path / "pmsync.yaml").write_text(PMSYNC_YAML)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, {})
    found = [str(p).removeprefix(f"{tmp_path}/") for p in caught.value.problems]
    assert [p.split(": ", 2)[:2] for p in found] == [
        ["pmsync.yaml:7", "receivers.pmo.implicit_tls"],
        ["pmsync.yaml:11", "routing.report_url"],
        ["pmsync.yaml:13", "routing.routes[0].matchers[0]"],
        ["pmsync.yaml:17", "routing.routes[1].routes[0].matchers[0]"],
        ["pmsync.yaml:22", "routing.inhibit[0].equals"],
        ["pmsync.yaml:23", "routing.group_wiat"],
    ]
    messages = [p.split(": ", 2)[2] for p in found]
    assert messages[0] == "set either starttls or implicit_tls, not both"
    assert messages[1] == "report_url may only contain the placeholder {project}"
    assert messages[2].startswith("'project PAY' is not a matcher: write label=value")
    assert "the regular expression does not compile" in messages[3]
    assert messages[4].startswith("unknown key; did you mean 'equal'?")
    assert messages[5].startswith("unknown key; did you mean 'group_wait'?")


def test_a_route_to_an_unknown_receiver_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "pmsync.yaml").write_text(
        textwrap.dedent(
            """\
            receivers:
              pmo: {type: webhook, url: "https://hooks.example/pmo"}
            routing:
              receivers: [pmo]
              routes:
                - matchers: [severity=critical]
                  receivers: [pmo, pager]
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, {})
    [problem] = caught.value.problems
    assert str(problem).endswith(
        "pmsync.yaml:7: routing.routes[0].receivers[1]: unknown receiver 'pager' "
        "(receivers defines: pmo)"
    )
