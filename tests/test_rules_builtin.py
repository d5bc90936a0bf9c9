"""Every built-in rule fires on a scenario built to trigger it, stays silent on one that does not.

One table, both columns: for each rule, the facts of a project where it must
fire (with the severity a PM should see) and the facts of a project where it
must not, built by hand from the same dataclasses the gather layer fills
(``ProjectHealth`` from the metrics, milestones against their baseline, items,
risks, a meeting cadence, source freshness). The table must cover every rule
of ``BUILTIN_RULES``, and ``docs/rules.md`` must describe that same table.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pmsync.alerts import Finding
from pmsync.config.rules import BuiltinRules, RulesConfig
from pmsync.meetings import CadenceReport, Slot
from pmsync.metrics import (
    CostCurve,
    EarnedScheduleResult,
    EvmResult,
    MilestoneForecast,
    PersonWeekLoad,
    ProjectHealth,
    Series,
    TeamHealth,
)
from pmsync.plan.baselines import PlanChangeView
from pmsync.plan.risks import RiskEntry
from pmsync.rules import BUILTIN_RULES, builtin_findings
from pmsync.rules.builtin import rules_markdown
from pmsync.rules.facts import (
    FiscalYearFacts,
    ItemFact,
    MilestoneFacts,
    PersonAway,
    ProjectFacts,
    SourceFacts,
)
from pmsync.rules.fields import SCOPES, fields_markdown

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def evm(
    bac: float = 100_000, pv: float = 50_000, ev: float = 50_000, ac: float = 50_000
) -> EvmResult:
    """Return earned value figures that agree with each other (PMBOK formulas)."""
    cpi = ev / ac if ac else None
    eac = bac / cpi if cpi else ac + bac - ev
    return EvmResult(
        code="", name="Payments", parent=None, budget_at_completion=bac, planned_value=pv,
        earned_value=ev, actual_cost=ac, percent_complete=ev / bac,
        schedule_variance=ev - pv, cost_variance=ev - ac,
        schedule_performance_index=ev / pv if pv else None, cost_performance_index=cpi,
        estimate_at_completion=eac, eac_basis="cpi" if cpi else "budgeted rate",
        eac_at_current_cpi=bac / cpi if cpi else None, eac_at_budgeted_rate=ac + bac - ev,
        eac_at_cpi_and_spi=None, estimate_to_complete=eac - ac,
        variance_at_completion=bac - eac,
        tcpi_to_bac=(bac - ev) / (bac - ac) if bac > ac else None,
        tcpi_to_eac=None, budget_exhausted=ac >= bac and ev < bac,
    )  # fmt: skip


def schedule(es: float = 50.0, at: float = 50.0) -> EarnedScheduleResult:
    return EarnedScheduleResult(
        time_unit="working days", project_start=date(2025, 12, 22), planned_finish=date(2026, 5, 8),
        planned_duration=100.0, actual_time=at, earned_schedule=es,
        schedule_variance_time=es - at, schedule_performance_index_time=es / at,
        independent_eac_time=100.0 * at / es, to_complete_schedule_performance_index=None,
        forecast_finish_es=None,
    )  # fmt: skip


def team(
    done_per_day: tuple[float, ...] = (1, 0, 2, 1), wip: int = 3, load: float = 0.8
) -> TeamHealth:
    days = tuple(
        TODAY - timedelta(days=len(done_per_day) - 1 - i) for i in range(len(done_per_day))
    )
    monday = TODAY - timedelta(days=TODAY.weekday())
    return TeamHealth(
        throughput_by_day=Series(days, done_per_day), throughput_by_week=Series((), ()),
        throughput_per_day=1.0, throughput_per_week=5.0, cycle_time_median_days=3.0,
        cycle_time_p85_days=6.0, cycle_time_items=10, work_in_progress=wip,
        work_in_progress_by_day=Series((), ()),
        loads=(PersonWeekLoad("emily.kim", monday, 40.0, 40.0 * load, load, load > 1),),
        overloaded_person_weeks=int(load > 1),
    )  # fmt: skip


def health(**changes: Any) -> ProjectHealth:
    base = ProjectHealth(
        key="PAY", status_date=TODAY, project=evm(), deliverables=(), schedule=schedule(),
        milestones=(), team=team(), business_case=None,
        cost_curve=CostCurve(Series((), ()), Series((), ())),
    )  # fmt: skip
    return replace(base, **changes)


def forecast(p85: date | None = None, probability: float | None = 0.9) -> MilestoneForecast:
    return MilestoneForecast(
        name="R3 Beta", due=TODAY + timedelta(days=20), remaining_items=5, trials=10_000,
        mean_throughput=1.0, forecast_p50=p85, forecast_p85=p85, forecast_p95=p85,
        probability_on_time=probability, linear_forecast_finish=p85, note=None,
    )  # fmt: skip


def item(key: str = "PAY-7", days: int = 0, assignee: str | None = "Emily Kim") -> ItemFact:
    return ItemFact(
        key, f"Work on {key}", f"https://jira.example/browse/{key}", "Blocked", assignee, days
    )


def milestone(**changes: Any) -> MilestoneFacts:
    base = MilestoneFacts(
        name="R3 Beta", due=TODAY + timedelta(days=20), baseline_due=TODAY + timedelta(days=20),
        scope_items=20, baseline_scope_items=20, scope_growth_pct=0.0, open_items=5,
        remaining=(item("PAY-1"), item("PAY-2")), forecast=forecast(TODAY + timedelta(days=18)),
    )  # fmt: skip
    return replace(base, **changes)


def risk(review: date | None = None, probability: float = 0.1, impact: float = 10_000) -> RiskEntry:
    return RiskEntry(
        "PAY-R1", "Acquirer certification takes longer", probability, impact, "anna.mueller",
        "open", "mitigate", None, review or TODAY + timedelta(days=10), "config", None,
    )  # fmt: skip


def cadence(outcome: str) -> CadenceReport:
    week = timedelta(days=7)
    expected = [NOW - timedelta(days=3) - week * k for k in (2, 1, 0)]
    slots = tuple(
        Slot(at, at - week / 2, at + week / 2, "held" if i < 2 else outcome)  # type: ignore[arg-type]
        for i, at in enumerate(expected)
    )
    return CadenceReport("PAY", "status_meeting", week, ("PAY weekly*",), expected[0], NOW, slots)


def source(
    last_ok: timedelta | None = timedelta(minutes=10), failing: timedelta | None = None
) -> SourceFacts:
    return SourceFacts(
        "jira", timedelta(minutes=15), None if last_ok is None else NOW - last_ok,
        None if failing is None else NOW - failing, ("issues",) if failing else (),
        "401 Unauthorized" if failing else None,
    )  # fmt: skip


def facts(**changes: Any) -> ProjectFacts:
    base = ProjectFacts(
        key="PAY", name="Payments platform", now=NOW, today=TODAY, health=health(),
        budget_at_completion=100_000.0, milestones=(milestone(),), sources=(source(),),
    )  # fmt: skip
    return replace(base, **changes)


def with_spi_low() -> BuiltinRules:
    return RulesConfig.model_validate({"builtin": {"spi_low": {"enabled": True}}}).for_project()


def fiscal_year(spent: float) -> FiscalYearFacts:
    return FiscalYearFacts(2026, date(2026, 1, 1), date(2026, 12, 31), 100_000, spent)


CHANGE = PlanChangeView(
    "PAY", NOW - timedelta(days=1), "milestone:R3 Beta", "due", "2026-03-20", "2026-04-03", False, 1
)


class Case(NamedTuple):
    rule: str
    fires: ProjectFacts
    severity: str
    silent: ProjectFacts


def m(**changes: Any) -> tuple[MilestoneFacts]:
    return (milestone(**changes),)


# fmt: off
CASES = [
    Case("milestone_slip",
         facts(milestones=m(forecast=forecast(TODAY + timedelta(days=35)))), "critical",
         facts(milestones=m(forecast=forecast(TODAY + timedelta(days=22))))),
    Case("milestone_overdue",
         facts(milestones=m(due=TODAY - timedelta(days=3))), "warning",
         facts(milestones=m(due=TODAY + timedelta(days=3)))),
    Case("due_probability_low",
         facts(milestones=m(forecast=forecast(probability=0.4))), "critical",
         facts(milestones=m(forecast=forecast(probability=0.8)))),
    Case("spi_t_low", facts(health=health(schedule=schedule(es=42.5))), "warning",
         facts(health=health(schedule=schedule(es=48)))),
    Case("spi_low", facts(health=health(project=evm(pv=80_000)), thresholds=with_spi_low()),
         "critical", facts(health=health(project=evm(pv=80_000)))),  # off by default
    Case("cpi_low", facts(health=health(project=evm(ac=58_000))), "warning",
         facts(health=health(project=evm(ac=50_000)))),
    Case("eac_over_budget", facts(health=health(project=evm(ac=60_000))), "critical",
         facts(health=health(project=evm(ac=51_000)))),
    Case("tcpi_unrealistic", facts(health=health(project=evm(ev=50_000, ac=56_000))), "warning",
         facts(health=health(project=evm(ev=50_000, ac=51_000)))),
    Case("spend_ahead_of_progress", facts(health=health(project=evm(ac=70_000))), "critical",
         facts(health=health(project=evm(ac=52_000)))),
    Case("annual_budget_overrun", facts(fiscal_year=fiscal_year(spent=60_000)), "warning",
         facts(fiscal_year=fiscal_year(spent=10_000))),  # 10 % spent, 17 % of the year gone
    Case("scope_growth", facts(milestones=m(scope_items=24, scope_growth_pct=20.0)), "warning",
         facts(milestones=m(scope_items=21, scope_growth_pct=5.0))),
    Case("unapproved_plan_change", facts(unapproved_changes=(CHANGE,)), "warning", facts()),
    Case("no_throughput", facts(health=health(team=team((2, 1, 0, 0, 0, 0, 0, 0)))), "warning",
         facts(health=health(team=team((2, 1, 0, 0, 0, 0, 0, 0), wip=0)))),
    Case("ageing_items", facts(in_progress=(item(days=25), item("PAY-8", 3))), "critical",
         facts(in_progress=(item(days=5),))),
    Case("unassigned_near_due",
         facts(milestones=m(due=TODAY + timedelta(days=10), unassigned=(item(assignee=None),))),
         "warning",
         facts(milestones=m(due=TODAY + timedelta(days=30), unassigned=(item(assignee=None),)))),
    Case("unestimated_near_due",
         facts(milestones=m(due=TODAY + timedelta(days=5), unestimated=(item(),))), "critical",
         facts(milestones=m(due=TODAY + timedelta(days=5), unestimated=()))),
    Case("blocked_items", facts(blocked=(item(days=4),)), "warning",
         facts(blocked=(item(days=1),))),
    Case("risk_exposure_high", facts(risks=(risk(probability=0.5, impact=20_000),)), "warning",
         facts(risks=(risk(probability=0.1, impact=20_000),))),
    Case("risk_review_overdue", facts(risks=(risk(TODAY - timedelta(days=20)),)), "critical",
         facts(risks=(risk(TODAY + timedelta(days=5)),))),
    Case("missing_status_meeting", facts(cadences=(cadence("missing"),)), "warning",
         facts(cadences=(cadence("held"),))),
    Case("key_people_on_leave",
         facts(milestones=m(final_days=(TODAY + timedelta(days=20),),
                            key_people_away=(PersonAway("priya.iyer", "Priya Iyer", "owner of 1.1",
                                                        60.0, (TODAY + timedelta(days=20),)),))),
         "warning", facts()),
    Case("overload", facts(health=health(team=team(load=1.3))), "critical",
         facts(health=health(team=team(load=0.8)))),
    Case("sync_failing", facts(sources=(source(failing=timedelta(hours=2)),)), "warning",
         facts(sources=(source(),))),
    Case("source_stale", facts(sources=(source(timedelta(hours=1)),)), "warning",
         facts(sources=(source(timedelta(minutes=10)),))),
]
# fmt: on


def fired(case_facts: ProjectFacts, rule: str) -> list[Finding]:
    return [f for f in builtin_findings(case_facts) if f.rule == rule]


def test_the_table_covers_every_built_in_rule() -> None:
    names = [c.rule for c in CASES]
    assert len(names) == len(set(names))
    assert set(names) == {r.name for r in BUILTIN_RULES}
    assert set(BuiltinRules.model_fields) == {r.name for r in BUILTIN_RULES}


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_each_rule_fires_on_its_scenario_and_stays_silent_on_the_other(case: Case) -> None:
    found = fired(case.fires, case.rule)
    assert [f.severity for f in found] == [case.severity]
    finding = found[0]
    assert finding.labels["project"] == "PAY"
    assert finding.labels["subject_kind"] and finding.labels["subject_id"]
    assert finding.summary and finding.action
    assert finding.evidence.figures, "the numbers behind the finding"
    assert fired(case.silent, case.rule) == []


def test_a_healthy_project_on_fresh_data_fires_nothing() -> None:
    assert builtin_findings(facts()) == []


def test_a_project_is_never_healthy_on_stale_data() -> None:
    never = builtin_findings(facts(sources=(source(last_ok=None),)))
    assert [(f.rule, f.severity) for f in never] == [("source_stale", "critical")]
    assert "never synced" in never[0].summary


def test_items_come_with_links_back_into_the_tools() -> None:
    (finding,) = fired(facts(blocked=(item("PAY-7", 9), item("PAY-9", 2))), "blocked_items")
    assert finding.severity == "critical"  # the longest decides: 9 days >= 7
    (shown,) = finding.evidence.items  # PAY-9 has not been blocked long enough
    assert (shown.key, shown.url) == ("PAY-7", "https://jira.example/browse/PAY-7")
    assert shown.detail == "blocked for 9 days (Blocked)"


def test_thresholds_come_from_rules_yaml_per_project() -> None:
    lenient = RulesConfig.model_validate(
        {"projects": {"PAY": {"cpi_low": {"warning": 0.8, "critical": 0.7}}}}
    ).for_project("PAY")
    overspent = health(project=evm(ac=58_000))  # CPI 0.86
    assert fired(facts(health=overspent), "cpi_low")
    assert fired(facts(health=overspent, thresholds=lenient), "cpi_low") == []
    off = RulesConfig.model_validate({"builtin": {"cpi_low": {"enabled": False}}}).for_project()
    assert fired(facts(health=overspent, thresholds=off), "cpi_low") == []


def test_rules_needing_metrics_stay_silent_without_them() -> None:
    quiet = builtin_findings(facts(health=None))
    assert quiet == []


def test_docs_describe_every_rule_and_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert rules_markdown() in text
    for scope in SCOPES:
        assert fields_markdown(scope) in text
