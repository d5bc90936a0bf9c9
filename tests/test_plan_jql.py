"""JQL selectors: the subset pmsync evaluates, and ``config validate`` refusing the rest.

What each accepted query selects is checked on synced records, on both
backends, in ``test_plan_rules.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmsync.cli import app
from pmsync.plan.jql import Clause, Combined, JqlSubsetError, parse_jql


def test_a_query_parses_into_clauses_with_and_binding_tighter_than_or() -> None:
    node = parse_jql('project = PAY AND labels in (beta, "go live") OR NOT status = Done')
    assert node == Combined(
        "or",
        (
            Combined(
                "and",
                (
                    Clause("project", "=", ("PAY",)),
                    Clause("labels", "in", ("beta", "go live")),
                ),
            ),
            Combined("not", (Clause("status", "=", ("Done",)),)),
        ),
    )


@pytest.mark.parametrize(
    "query",
    [
        "fixVersion = '1.0'",
        "issuetype in (Story, Bug) and component is not EMPTY",
        '"Epic Link" = PAY-40',
        "parent = PAY-40 AND (assignee is EMPTY OR priority != Low)",
        "statusCategory = 'In Progress'",
        "key not in (PAY-1, PAY-2)",
    ],
)
def test_queries_within_the_subset_are_accepted(query: str) -> None:
    parse_jql(query)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("sprint in openSprints()", "cannot evaluate the field 'sprint'"),
        ("assignee = currentUser()", "cannot evaluate the function currentUser"),
        ("summary ~ login", "cannot evaluate the field 'summary'"),
        ("labels ~ beta", "cannot evaluate the operator '~'"),
        ("created >= -5d", "cannot evaluate the field 'created'"),
        ("project = PAY ORDER BY rank", "ORDER BY has no meaning"),
        ("statusCategory = Blocked", "unknown status category 'Blocked'"),
        ("project = PAY AND (labels = x", "parenthesis is not closed"),
        ("labels = EMPTY", "is EMPTY"),
        ("", "empty"),
    ],
)
def test_queries_outside_the_subset_are_refused_with_the_reason(query: str, reason: str) -> None:
    with pytest.raises(JqlSubsetError, match=reason.replace("(", r"\(")):
        parse_jql(query)


def test_config_validate_says_which_jql_pmsync_cannot_evaluate(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "projects").mkdir(parents=True)
    (config / "pmsync.yaml").write_text("timezone: UTC\n")
    (config / "sources.yaml").write_text(
        "sources:\n"
        "  jira:\n"
        "    type: jira\n"
        "    enabled: false\n"
        "    url: https://acme.atlassian.net\n"
        "    email: bot@acme.example\n"
        "    token: ${JIRA_TOKEN}\n"
        "    projects: [PAY]\n"
    )
    (config / "projects" / "pay.yaml").write_text(
        "key: PAY\n"
        "name: Payments\n"
        "start: 2026-01-01\n"
        "finish: 2026-12-31\n"
        "budget_at_completion: 1000\n"
        "milestones:\n"
        "  - name: Beta\n"
        "    due: 2026-06-01\n"
        "    match:\n"
        "      - jql: {source: jira, query: 'project = PAY AND labels = beta'}\n"
        "      - jql: {source: jira, query: 'sprint in openSprints()'}\n"
    )
    result = CliRunner().invoke(app, ["--config", str(config), "config", "validate"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith(f"{config}/projects/pay.yaml:11: milestones[0].match[1].jql.query:")
    assert "pmsync cannot evaluate the field 'sprint'" in lines[0]
    assert "pmsync evaluates jql selectors itself over the synced issues" in lines[0]
