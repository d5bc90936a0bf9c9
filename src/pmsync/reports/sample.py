"""Hand-built report facts: a realistic project in trouble, for tests, docs and the benchmark.

The renderers, the site and delivery are built from facts, so they can be
exercised without a database, a sandbox or the metrics package. ``sample_project``
varies with its seed (RAG, figures, milestone dates) so a 200-project portfolio
looks like a real one; ``title`` lets tests inject hostile text.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pmsync.reports.derive import build_header, key_figures
from pmsync.reports.facts import (
    AlertRow,
    Budget,
    BudgetLine,
    BusinessCase,
    CadenceRow,
    Changes,
    Chart,
    Decision,
    EarnedValue,
    Evidence,
    Meeting,
    Meetings,
    MilestoneRow,
    PlanChangeRow,
    Point,
    ProjectReport,
    RiskRow,
    Risks,
    Series,
    SourceFreshness,
    Trend,
    Unavailable,
    Upcoming,
    UpcomingItem,
    WbsRow,
)

STATUS_DATE = date(2026, 3, 2)
GENERATED_AT = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def _weekly(start: date, weeks: int, values: list[float]) -> tuple[Point, ...]:
    return tuple(Point(start + timedelta(weeks=i), v) for i, v in enumerate(values[:weeks]))


def _charts(rng: random.Random, key: str, spi: float, bac: float, ac: float, ev: float) -> tuple:
    start = STATUS_DATE - timedelta(weeks=17)
    done = [round(i * 3.1 * spi + rng.random() * 2, 1) for i in range(18)]
    scope = [80 + (i // 6) * 6 for i in range(18)]
    p50, p85 = STATUS_DATE + timedelta(days=40), STATUS_DATE + timedelta(days=58)
    burn = Chart(
        id=f"burnup-{key}-1",
        title="R3 Beta: burn-up",
        alt=f"R3 Beta: {done[-1]:.0f} of {scope[-1]} points done; forecast P50 {p50}, "
        f"P85 {p85}; due 2026-04-09.",
        unit="story points",
        series=(
            Series("scope", "plan", _weekly(start, 18, [float(s) for s in scope])),
            Series("done", "actual", _weekly(start, 18, done)),
            Series("P50", "cone", (Point(STATUS_DATE, done[-1]), Point(p50, scope[-1]))),
            Series("P85", "cone", (Point(STATUS_DATE, done[-1]), Point(p85, scope[-1]))),
        ),
        markers=(Point(date(2026, 4, 9), 0.0),),
        marker_labels=("due",),
    )
    weeks = 18
    pv = [bac * min(1.0, i / 40) for i in range(weeks)]
    cost = Chart(
        id=f"cost-{key}",
        title="Cost curves",
        alt=f"PV, EV and AC to date: EV {ev:,.0f}, AC {ac:,.0f}; EAC above BAC {bac:,.0f}.",
        unit="EUR",
        series=(
            Series("PV", "plan", _weekly(start, weeks, pv)),
            Series("EV", "actual", _weekly(start, weeks, [v * spi for v in pv])),
            Series("AC", "forecast", _weekly(start, weeks, [v * spi * 1.12 for v in pv])),
        ),
        level=bac,
        level_label="BAC",
    )
    throughput = Chart(
        id=f"throughput-{key}",
        title="Throughput (items done per week)",
        alt="Items done per week over the last 12 weeks: between 2 and 11.",
        unit="items",
        series=(
            Series("done", "bar", _weekly(start, 12, [rng.randint(2, 11) for _ in range(12)])),
        ),
    )
    fy = Unavailable("Fiscal-year budget burn: no annual budget is set for FY2026.")
    return (burn, cost, fy, throughput)


def sample_project(
    seed: int = 1, *, key: str = "PAY", title: str = "Payments platform"
) -> ProjectReport:
    """Return a complete, plausible project report built by hand (deterministic per seed)."""
    rng = random.Random(seed)
    bac = 124_000.0
    spi = round(0.72 + rng.random() * 0.4, 2)
    cpi = round(0.75 + rng.random() * 0.4, 2)
    pv = 61_000.0
    ev = round(pv * spi, 2)
    ac = round(ev / cpi, 2)
    eac = round(bac / cpi, 2)
    ev_facts = EarnedValue(
        bac=bac,
        pv=pv,
        ev=ev,
        ac=ac,
        sv=round(ev - pv, 2),
        cv=round(ev - ac, 2),
        spi=spi,
        cpi=cpi,
        eac=eac,
        etc=round(eac - ac, 2),
        vac=round(bac - eac, 2),
        tcpi_bac=round((bac - ev) / (bac - ac), 4),
        tcpi_eac=round((bac - ev) / (eac - ac), 4),
        es_days=round(123 * spi, 1),
        sv_t_days=round(123 * spi - 123, 1),
        spi_t=spi,
        ieac_t_days=round(279 / spi, 1),
        ieac_t_finish=date(2025, 10, 29) + timedelta(days=round(279 / spi)),
    )
    milestones = (
        MilestoneRow(
            "R1 Foundations",
            date(2025, 12, 31),
            date(2025, 12, 31),
            None,
            None,
            None,
            0,
            "done",
            42,
            42,
        ),
        MilestoneRow(
            "R2 Integrations",
            date(2026, 2, 18),
            date(2026, 2, 25),
            None,
            None,
            None,
            7,
            "done",
            51,
            51,
        ),
        MilestoneRow(
            f"R3 Beta {title}" if "<" in title else "R3 Beta",
            date(2026, 4, 9),
            date(2026, 4, 9),
            STATUS_DATE + timedelta(days=40),
            STATUS_DATE + timedelta(days=58),
            round(0.3 + rng.random() * 0.6, 2),
            58 - 38,
            "at_risk",
            55,
            92,
        ),
        MilestoneRow(
            "R4 Launch",
            date(2026, 6, 9),
            date(2026, 6, 9),
            date(2026, 6, 5),
            date(2026, 6, 20),
            0.71,
            11,
            "on_track",
            3,
            60,
        ),
    )
    wbs = (
        WbsRow("1", title, 1, "anna.mueller", bac, pv, ev, ac, ev / bac),
        WbsRow(
            "1.1",
            "Reporting & analytics | foundations",
            2,
            "priya.iyer",
            62_000.0,
            40_000.0,
            36_000.0,
            41_500.0,
            0.58,
            date(2026, 3, 17),
        ),
        WbsRow(
            "1.2",
            "Gateway <migration>",
            2,
            "emily.kim",
            62_000.0,
            21_000.0,
            ev - 36_000.0,
            ac - 41_500.0,
            (ev - 36_000.0) / 62_000.0,
            date(2026, 7, 6),
        ),
    )
    risk = RiskRow(
        "PAY-R1",
        "Acquirer certification takes longer than planned",
        0.4,
        30_000,
        12_000,
        "anna.mueller",
        "mitigate",
        "open",
        date(2026, 2, 15),
        15,
    )
    risk2 = RiskRow(
        "PAY-R2",
        "Old gateway contract cannot be extended",
        0.1,
        80_000,
        8_000,
        "hanako.takahashi",
        "transfer",
        "monitoring",
        date(2026, 3, 20),
        None,
    )
    alerts = (
        AlertRow(
            "milestone_slip",
            "critical",
            "Milestone R3 Beta forecast (P85) is 20 days late",
            "milestone:R3 Beta",
            GENERATED_AT - timedelta(days=3),
            (
                Evidence("P85 forecast", str(STATUS_DATE + timedelta(days=58))),
                Evidence("due", "2026-04-09"),
                Evidence("blocked item", "PAY-57", "https://jira.example/browse/PAY-57"),
            ),
            "Cut scope or move the due date with the sponsor.",
        ),
        AlertRow(
            "risk_review_overdue",
            "critical",
            "Review of risk PAY-R1 is 15 days overdue",
            "risk:PAY-R1",
            GENERATED_AT - timedelta(days=15),
            (),
            "Review the risk.",
        ),
    )
    changes = Changes(
        previous_status_date=STATUS_DATE - timedelta(weeks=1),
        plan_changes=(
            PlanChangeRow(
                GENERATED_AT - timedelta(days=4),
                "milestone:R2 Integrations",
                "due",
                "2026-02-18",
                "2026-02-25",
                False,
            ),
        ),
        trends=(
            Trend("spi_t", "SPI(t)", round(spi + 0.04, 2), spi, "down", "worse"),
            Trend("cpi", "CPI", cpi, cpi, "flat", "same"),
        ),
    )
    status = Meeting(
        "status_meeting",
        f"{key} weekly status",
        GENERATED_AT + timedelta(days=1),
        ("anna.mueller@acme.example", "priya.iyer@acme.example"),
    )
    meetings = Meetings(
        cadence=(
            CadenceRow("status_meeting", 7, 7, 1, STATUS_DATE - timedelta(days=6)),
            CadenceRow("steering_committee", 28, 1, 0, date(2026, 2, 10)),
        ),
        held=(),
    )
    upcoming = Upcoming(
        until=STATUS_DATE + timedelta(days=14),
        items=(
            UpcomingItem(
                "deliverable",
                "1.1 Reporting & analytics | foundations",
                date(2026, 3, 13),
                "58 % complete",
            ),
        ),
        meetings=(status,),
    )
    freshness = (
        SourceFreshness("jira", "jira", GENERATED_AT - timedelta(minutes=12), 0.2, False, "ok"),
        SourceFreshness(
            "github", "github", GENERATED_AT - timedelta(minutes=14), 0.23, False, "ok"
        ),
    )
    decisions = (
        Decision(
            "Approve or reject: R2 Integrations due moved to 2026-02-25",
            "A plan change against the approved baseline is not approved yet.",
            "plan_change",
        ),
        Decision(
            "R3 Beta will miss its due date",
            "Forecast P85 is 20 days late.",
            "milestone",
            date(2026, 3, 9),
        ),
    )
    budget = Budget(
        lines=(
            BudgetLine("month", "March 2026", 12_000.0, 950.0, 13_100.0),
            BudgetLine("fiscal_year", "FY2026", None, ac * 0.4, ac * 0.4 + 55_000),
            BudgetLine("life", "Project life", bac, ac, eac),
        ),
        business_case=BusinessCase(
            roi=0.31,
            npv=21_400.0,
            payback_years=3.4,
            discount_rate=0.07,
            basis="latest EAC and plan benefits",
        ),
    )
    risks = Risks(top=(risk, risk2), overdue_reviews=(risk,), open_count=2, total_exposure=20_000)
    from pmsync.config.rules import BuiltinRules

    figures = key_figures(ev_facts, risks, alerts)
    header = build_header(
        key=key,
        name=title,
        manager="Anna Müller",
        sponsor="高橋花子",
        currency="EUR",
        period_start=STATUS_DATE - timedelta(weeks=1),
        status_date=STATUS_DATE,
        generated_at=GENERATED_AT,
        earned_value=ev_facts,
        milestones=milestones,
        risks=risks,
        alerts=alerts,
        changes=changes,
        freshness=freshness,
        rules=BuiltinRules(),
        objectives=("Move card payments off the old gateway",),
    )
    return ProjectReport(
        header=header,
        key_figures=figures,
        milestones=milestones,
        wbs=wbs,
        earned_value=ev_facts,
        budget=budget,
        charts=_charts(rng, key, spi, bac, ac, ev),
        risks=risks,
        alerts=alerts,
        changes=changes,
        meetings=meetings,
        upcoming=upcoming,
        decisions=decisions,
        freshness=freshness,
    )


SAMPLE_PMSYNC_YAML = """\
timezone: UTC
people:
- {id: anna, name: Anna Müller, email: anna@example.com, role: project_manager}
- {id: priya, name: Priya Iyer, email: priya@example.com, role: lead}
- {id: hana, name: Hanako Takahashi, email: hana@example.com, role: sponsor}
receivers:
  mail: {type: email, to: [pmo@example.com], sender: pmsync@example.com,
         smtp_host: 127.0.0.1, smtp_port: SMTP_PORT, starttls: false}
"""
SAMPLE_PROJECT_YAML = """\
key: PAY
name: TITLE
manager: anna
sponsor: hana
start: '2026-01-05'
finish: '2026-06-26'
currency: EUR
budget_at_completion: 100000
fiscal_year_start: {month: 1, day: 1}
annual_budgets: {2026: 100000}
milestones:
- {name: Beta, due: '2026-03-12'}
- {name: Launch, due: '2026-06-20'}
deliverables:
- code: '1'
  name: Payments
  owner: anna
  children:
  - {code: '1.1', name: Gateway, owner: priya, planned_start: '2026-01-05',
     planned_finish: '2026-04-24', planned_cost: 60000}
  - {code: '1.2', name: Reports, owner: anna, planned_start: '2026-02-02',
     planned_finish: '2026-06-26', planned_cost: 40000}
risks:
- {id: R1, title: Certification is late, probability: 0.4, impact: 30000, owner: anna,
   next_review: '2026-02-20'}
- {id: R2, title: Contract, probability: 0.1, impact: 20000, response: escalate}
business_case:
  discount_rate: 0.07
  one_off_costs: [{year: 0, amount: 100000}]
  benefits: {1: 50000, 2: 50000, 3: 50000}
communication:
- {audience: sponsors, report: project, formats: [html, md], schedule: '0 7 * * mon',
   recipients: [sponsor@example.com], receivers: [mail]}
meetings:
- {kind: status_meeting, every: 1w, title_patterns: ['PAY weekly status*']}
- {kind: steering_committee, every: 4w, title_patterns: ['PAY steering*']}
"""


def write_sample_config(directory: Path, *, smtp_port: int = 8025, title: str = "Payments") -> Path:
    """Write a small valid configuration with one project (PAY) into ``directory``."""
    import json

    (directory / "projects").mkdir(parents=True, exist_ok=True)
    (directory / "pmsync.yaml").write_text(
        SAMPLE_PMSYNC_YAML.replace("SMTP_PORT", str(smtp_port)), encoding="utf-8"
    )
    project = SAMPLE_PROJECT_YAML.replace("TITLE", json.dumps(title, ensure_ascii=False))
    (directory / "projects" / "pay.yaml").write_text(project, encoding="utf-8")
    return directory
