"""Custom rules: a valid one fires, a bad one is reported at its line, none can run code.

Custom rules are CEL expressions an admin writes in ``rules.yaml``. They are
checked while the configuration loads (syntax, fields, types), evaluated per
project, milestone or deliverable, and are data, never code: the hostile
expressions and summaries below are all refused, and the file they try to
create never appears.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from pmsync.config import load_config
from pmsync.config.rules import RulesConfig
from pmsync.errors import ConfigError
from pmsync.rules import ExpressionError, compile_rule, custom_findings
from pmsync.rules.custom import render_summary
from pmsync.rules.facts import ItemFact, MilestoneFacts, ProjectFacts

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
REPO_RULES = Path(__file__).resolve().parents[1] / "config" / "rules.yaml"


def facts(growth: float, blocked: int = 0) -> ProjectFacts:
    launch = MilestoneFacts(
        name="R4 Launch",
        due=date(2026, 5, 6),
        baseline_due=date(2026, 5, 6),
        scope_items=21,
        baseline_scope_items=20,
        scope_growth_pct=growth,
        open_items=12,
    )
    beta = MilestoneFacts(name="R3 Beta", due=date(2026, 3, 25), scope_growth_pct=50.0)
    items = tuple(ItemFact(f"PAY-{i}", "x", days=4) for i in range(blocked))
    return ProjectFacts(
        key="PAY", name="Payments", now=NOW, today=NOW.date(), milestones=(launch, beta),
        blocked=items,
    )  # fmt: skip


def compiled(*rules: dict[str, Any]) -> list[Any]:
    config = RulesConfig.model_validate({"custom": list(rules)})
    return [(rule, compile_rule(rule.expression)) for rule in config.custom]


LAUNCH = {
    "name": "launch_scope_growing",
    "expression": "milestone.name == 'R4 Launch' && milestone.scope_growth_pct > 5",
    "severity": "warning",
    "summary": "R4 Launch scope grew by {milestone.scope_growth_pct:.0f} % since the baseline",
    "action": "Move the new items to R5.",
    "projects": ["PAY"],
}


def test_a_milestone_rule_fires_on_the_milestone_it_describes() -> None:
    rules = compiled(LAUNCH)
    found, skipped = custom_findings(facts(growth=12.4), rules)
    assert skipped == []
    (finding,) = found
    assert (finding.rule, finding.severity) == ("launch_scope_growing", "warning")
    assert dict(finding.labels) == {
        "milestone": "R4 Launch",
        "project": "PAY",
        "subject_id": "R4 Launch",
        "subject_kind": "milestone",
    }
    assert finding.summary == "R4 Launch scope grew by 12 % since the baseline"
    assert finding.action == "Move the new items to R5."
    assert finding.evidence.figures == {
        "milestone.name": "R4 Launch",
        "milestone.scope_growth_pct": 12.4,
    }
    assert custom_findings(facts(growth=3.0), rules) == ([], [])


def test_a_project_rule_fires_once_per_project_and_only_where_it_applies() -> None:
    rule = {
        "name": "too_many_blocked",
        "expression": "project.blocked_items >= 3",
        "summary": "{project.key} has {project.blocked_items:.0f} blocked items",
    }
    (finding,), _ = custom_findings(facts(0, blocked=3), compiled(rule))
    assert finding.summary == "PAY has 3 blocked items"
    assert finding.labels["subject_kind"] == "project"
    assert custom_findings(facts(0, blocked=2), compiled(rule))[0] == []
    elsewhere = {**rule, "projects": ["CRM"]}
    assert custom_findings(facts(0, blocked=3), compiled(elsewhere))[0] == []


def test_an_undefined_figure_does_not_fire_and_says_why() -> None:
    rule = {"name": "cost", "expression": "project.cost_performance_index < 0.9", "summary": "x"}
    found, skipped = custom_findings(facts(0), compiled(rule))  # no metrics: CPI is not known
    assert found == []
    assert skipped == ["cost on project PAY: no such member in mapping: 'cost_performance_index'"]
    guarded = {**rule, "expression": "has(project.cost_performance_index) && " + rule["expression"]}
    assert custom_findings(facts(0), compiled(guarded)) == ([], [])


def test_summaries_print_undefined_fields_as_n_a() -> None:
    values = {"project": {"key": "PAY"}, "milestone": {}}
    assert render_summary("{project.key}: {milestone.forecast_p85}", values) == "PAY: n/a"


PMSYNC = "timezone: UTC\n"
PROJECT = """\
key: PAY
name: Payments
start: 2026-01-01
finish: 2026-12-31
budget_at_completion: 1000
"""

BAD = [
    (
        "expression: \"project.cost_performance_index < 0.9 and project.key == 'PAY'\"",
        "custom[0].expression: not a valid CEL expression at column 38",
    ),
    ('expression: "project.cpi < 0.9"', "custom[0].expression: unknown field project.cpi"),
    ('expression: "project.key < 1.0"', "custom[0].expression: an operator cannot take text"),
    ('expression: "budget > 1"', "custom[0].expression: unknown name 'budget'"),
    (
        'expression: "project.actual_cost"',
        "custom[0].expression: the expression must be true or false; it gives a number",
    ),
    (
        'expression: "milestone.open_items > 1 && deliverable.actual_cost > 1"',
        "custom[0].expression: a rule reads milestone.* or deliverable.* fields, not both",
    ),
]


def config_dir(tmp_path: Path, rule_lines: str) -> Path:
    root = tmp_path / "cfg"
    (root / "projects").mkdir(parents=True)
    (root / "pmsync.yaml").write_text(PMSYNC)
    (root / "projects" / "pay.yaml").write_text(PROJECT)
    (root / "rules.yaml").write_text(
        "# my rules\ncustom:\n  - name: my_rule\n    severity: warning\n"
        f"    {rule_lines}\n    summary: something is wrong\n"
    )
    return root


@pytest.mark.parametrize(("line", "message"), BAD, ids=[b[1].split(": ", 1)[1] for b in BAD])
def test_a_bad_expression_is_reported_at_its_line_when_the_config_loads(
    tmp_path: Path, line: str, message: str
) -> None:
    root = config_dir(tmp_path, line)
    with pytest.raises(ConfigError) as caught:
        load_config(root, {})
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{root / 'rules.yaml'}:5: {message}"), str(problem)


def test_a_summary_naming_an_unknown_field_is_reported_at_its_line(tmp_path: Path) -> None:
    root = config_dir(tmp_path, 'expression: "project.blocked_items > 2"')
    text = (root / "rules.yaml").read_text().replace("something is wrong", "'{project.blokced}'")
    (root / "rules.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(root, {})
    assert [str(p) for p in caught.value.problems] == [
        f"{root / 'rules.yaml'}:6: custom[0].summary: summary: unknown field project.blokced; "
        f"did you mean project.blocked_items? (known: {_known()})"
    ]


def _known() -> str:
    from pmsync.rules.fields import FIELDS

    return ", ".join(sorted(FIELDS["project"]))


def hostile(path: Path) -> list[str]:
    touch = f"touch {path}"
    return [
        f"__import__('os').system('{touch}') == 0",
        f"project.__class__.__init__.__globals__['os'].system('{touch}') == 0",
        "project.key.__class__.__mro__.size() > 0",
        "''.__class__.__base__.__subclasses__().size() > 0",
        "size.__globals__['__builtins__'] != null",
        "type(project).__subclasses__().size() > 0",
        "project['__class__'] != null",
        "dyn(project).__dict__ != null",
        f"exec('import os; os.system(\"{touch}\")') == null",
        f'eval(\'open("{path}", "w")\') == null',
        "google.protobuf.Struct != null",
    ]


def test_no_python_code_can_run_from_an_expression_or_a_summary(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    for expression in hostile(sentinel):
        with pytest.raises(ExpressionError):
            compile_rule(expression)
        with pytest.raises(ValueError):  # and the config refuses it
            RulesConfig.model_validate(
                {"custom": [{"name": "x_rule", "expression": expression, "summary": "x"}]}
            )
    for summary in (
        "{project.__class__}",
        "{project.key.__class__.__mro__}",
        "{project.key!r}",
        "{0.__class__}",
        "{project.key:{project.__class__}}",
        "{__import__}",
    ):
        with pytest.raises(ValueError):
            RulesConfig.model_validate(
                {
                    "custom": [
                        {
                            "name": "x_rule",
                            "expression": "project.open_risks > 1",
                            "summary": summary,
                        }
                    ]
                }
            )
    assert not sentinel.exists()


def test_expressions_run_in_the_interpreter_never_as_generated_python() -> None:
    rule = compile_rule("project.blocked_items > 3")
    assert isinstance(rule.program, celpy.InterpretedRunner)


def test_the_documented_examples_and_the_demo_rules_are_valid() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Custom rules", 1)[1]
    block = re.search(r"```yaml\n(custom:.*?)```", section, re.S)
    assert block is not None
    documented = RulesConfig.model_validate(yaml.safe_load(block.group(1)))
    assert len(documented.custom) == 4
    scopes = [compile_rule(rule.expression).scope for rule in documented.custom]
    assert scopes == ["project", "milestone", "deliverable", "project"]
    demo = RulesConfig.model_validate(yaml.safe_load(REPO_RULES.read_text(encoding="utf-8")))
    assert [rule.name for rule in demo.custom] == ["launch_scope_growing"]


def test_integers_meet_doubles_as_numbers() -> None:
    rule = {"name": "three", "expression": "project.blocked_items == 3", "summary": "x"}
    assert len(custom_findings(facts(0, blocked=3), compiled(rule))[0]) == 1
    late = {"name": "late", "expression": "milestone.days_to_due < 30", "summary": "x"}
    found, _ = custom_findings(facts(0), compiled(late))
    assert [f.labels["milestone"] for f in found] == ["R3 Beta"]  # 23 days away
