"""Benchmark: every metric for a synthetic portfolio in one pass, with the time it takes.

The full run is the size issue 6 asks for: 500 projects, 5,000 milestones
(10,000 Monte Carlo trials each) and 1,000,000 work items with their status
histories, plus 25 WBS nodes and their daily costs per project. ``--quick``
runs a twentieth of it. The inputs are generated with numpy before the clock
starts; the figure printed is ``portfolio_health`` over all of them, then each
part on its own.

    .venv/bin/python bench/bench_metrics.py [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np

from pmsync.metrics import (
    ActualCostSeries,
    DeliverablePlan,
    EvmInputs,
    ForecastSettings,
    MilestonePlan,
    ProjectInputs,
    StatusChanges,
    TeamInputs,
    WorkingCalendar,
    earned_schedule,
    evm_table,
    forecast_milestones,
    plan_arrays,
    portfolio_health,
    team_health,
)
from pmsync.metrics.team import item_timelines, throughput_history

STATUS = date(2026, 6, 30)
YEAR_START = np.datetime64("2026-01-05")


def synthetic_project(
    rng: np.random.Generator, key: str, items: int, milestones: int
) -> ProjectInputs:
    """Return one project: 5 deliverables of 4 work packages, milestones and item histories."""
    plans = [
        DeliverablePlan(str(p), None, None, None, 0.0, f"Deliverable {p}") for p in range(1, 6)
    ]
    starts = YEAR_START + rng.integers(0, 180, 20).astype("timedelta64[D]")
    finishes = np.busday_offset(starts, rng.integers(10, 60, 20), roll="forward")
    costs = rng.uniform(5_000, 50_000, 20).round(2)
    for i in range(20):
        code = f"{i // 4 + 1}.{i % 4 + 1}"
        plans.append(
            DeliverablePlan(code, code.split(".")[0], _d(starts[i]), _d(finishes[i]), costs[i])
        )
    leaves = [p.code for p in plans[5:]]
    elapsed = np.busday_count(starts, np.minimum(finishes, np.datetime64(STATUS)) + 1).clip(0)
    length = np.busday_count(starts, finishes + 1)
    pct = np.clip(elapsed / length * rng.uniform(0.7, 1.1, 20), 0, 1)
    days_per_leaf = elapsed
    leaf_of_row = np.repeat(np.arange(20), days_per_leaf)
    day_in_leaf = np.arange(len(leaf_of_row)) - np.repeat(
        np.cumsum(days_per_leaf) - days_per_leaf, days_per_leaf
    )
    cost_days = np.busday_offset(starts[leaf_of_row], day_in_leaf, roll="forward")
    amounts = (costs / length * rng.uniform(0.8, 1.3, 20))[leaf_of_row]
    created = np.datetime64("2026-01-01T08:00:00") + rng.integers(0, 180 * 86_400, items).astype(
        "timedelta64[s]"
    )
    started = created + rng.integers(3_600, 20 * 86_400, items).astype("timedelta64[s]")
    done = started + (rng.lognormal(11.5, 0.8, items)).astype("timedelta64[s]")
    go = rng.random(items) < 0.85
    finish = go & (rng.random(items) < 0.85)
    ids = np.arange(items)
    changes = StatusChanges(
        item=np.concatenate([ids, ids[go], ids[finish]]),
        at=np.concatenate([created, started[go], done[finish]]),
        to_status=np.concatenate(
            [
                np.full(items, "todo"),
                np.full(go.sum(), "in_progress"),
                np.full(finish.sum(), "done"),
            ]
        ),
    )
    due = [STATUS + timedelta(days=int(d)) for d in rng.integers(10, 200, milestones)]
    return ProjectInputs(
        key=key,
        evm=EvmInputs(
            status_date=STATUS,
            deliverables=plans,
            pct_complete=dict(zip(leaves, pct.tolist(), strict=True)),
            actual_cost_by_day=ActualCostSeries(
                deliverable=np.array(leaves)[leaf_of_row], day=cost_days, amount=amounts
            ),
        ),
        milestones=[
            MilestonePlan(f"M{m}", due[m], int(n))
            for m, n in enumerate(rng.integers(5, 150, milestones))
        ],
        forecast=ForecastSettings(trials=10_000, seed=int(rng.integers(1 << 31))),
        team=TeamInputs(changes=changes, window_working_days=60),
    )


def _d(day: np.datetime64) -> date:
    return date.fromisoformat(str(day))


def timed(label: str, run: Callable[[], object], rows: list[tuple[str, float, float]]) -> None:
    """Run once; record wall-clock and CPU seconds (they differ on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    rows.append((label, time.perf_counter() - wall, time.process_time() - cpu))


def main() -> None:
    """Generate the portfolio, time the metrics, print a table of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a twentieth of the full size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    projects, milestones, items = (25, 250, 50_000) if args.quick else (500, 5_000, 1_000_000)
    rng = np.random.default_rng(args.seed)
    began = time.perf_counter()
    portfolio = [
        synthetic_project(rng, f"P{i:03}", items // projects, milestones // projects)
        for i in range(projects)
    ]
    generated = time.perf_counter() - began
    calendar = WorkingCalendar()
    rows: list[tuple[str, float, float]] = []
    timed("all metrics (portfolio_health)", lambda: portfolio_health(portfolio), rows)

    def evm_and_es() -> None:
        for p in portfolio:
            plan = plan_arrays(p.evm)
            earned_schedule(plan, evm_table(p.evm, plan)[0].earned_value, STATUS)

    def forecasts() -> None:
        for p in portfolio:
            assert p.team is not None
            history = throughput_history(
                item_timelines(p.team.changes, STATUS), STATUS, 60, calendar
            )
            forecast_milestones(p.milestones, history.tolist(), STATUS, p.forecast, calendar)

    def team() -> None:
        for p in portfolio:
            assert p.team is not None
            team_health(p.team, STATUS, calendar)

    timed("  earned value + earned schedule", evm_and_es, rows)
    timed("  milestone forecasts (Monte Carlo)", forecasts, rows)
    timed("  team: throughput, cycle time, WIP", team, rows)
    changes = sum(len(p.team.changes.item) for p in portfolio if p.team)
    costs = sum(len(p.evm.actual_cost_by_day.amount) for p in portfolio)
    print(
        f"portfolio: {projects} projects, {milestones} milestones x 10,000 trials, "
        f"{items:,} work items ({changes:,} status changes), {costs:,} cost rows"
    )
    print(f"inputs generated in {generated:.1f} s (not counted)\n")
    print(f"{'part':<40}{'wall s':>10}{'CPU s':>10}")
    for label, wall, cpu in rows:
        print(f"{label:<40}{wall:>10.2f}{cpu:>10.2f}")


if __name__ == "__main__":
    main()
