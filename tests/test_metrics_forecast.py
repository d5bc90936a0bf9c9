"""Monte Carlo milestone forecasts against cases whose answer is known exactly."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from pmsync.metrics import (
    ForecastSettings,
    MetricInputError,
    MilestonePlan,
    WorkingCalendar,
    forecast_milestones,
    simulate_finish_days,
)

FRIDAY = date(2026, 3, 6)  # the status date; day 1 is Monday 9 March
TRIALS = 20_000
# Dvoretzky-Kiefer-Wolfowitz: the empirical CDF of N draws strays more than eps from the
# true CDF anywhere with probability at most 2 exp(-2 N eps^2). For that to be 1e-6 with
# N = 20,000, eps = 0.019: a tolerance a correct sampler misses once in a million seeds,
# while a sampler off by one day (or ignoring zero days) is off by 0.25 or more.
ALPHA = 1e-6
DKW = math.sqrt(math.log(2 / ALPHA) / (2 * TRIALS))


def negative_binomial_cdf(k: int, items: int, p: float = 0.5) -> float:
    """P(the ``items``-th item is done by day k) when each day finishes one item with chance p."""
    return sum(math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in range(items, k + 1))


def forecast(history: list[int], remaining: int, **settings: object):
    milestone = MilestonePlan("M1", date(2026, 3, 13), remaining)
    found = forecast_milestones(
        [milestone],
        history,
        FRIDAY,
        ForecastSettings(**settings),
        WorkingCalendar(),  # type: ignore[arg-type]
    )
    return found[0]


def test_constant_throughput_gives_one_certain_date() -> None:
    result = forecast([2] * 30, 10)
    assert result.forecast_p50 == result.forecast_p85 == result.forecast_p95 == date(2026, 3, 13)
    assert result.linear_forecast_finish == date(2026, 3, 13)
    assert result.probability_on_time == 1.0
    late = forecast_milestones(
        [MilestonePlan("M1", date(2026, 3, 12), 10)],
        [2] * 30,
        FRIDAY,
        ForecastSettings(),
        WorkingCalendar(),
    )[0]
    assert late.probability_on_time == 0.0


def test_one_item_at_even_odds_finishes_on_a_geometric_day() -> None:
    """Throughput 0 or 1 with equal chance: the first item is done on day k with
    probability 0.5^k (geometric), so P(done by day k) = 1 - 0.5^k."""
    days = simulate_finish_days([0, 1], [1], trials=TRIALS, seed=11)[0]
    for k in range(1, 16):
        assert abs(np.mean(days <= k) - (1 - 0.5**k)) < DKW, k
    assert days.min() == 1


@pytest.mark.parametrize("items", [3, 8])
def test_several_items_at_even_odds_finish_on_a_negative_binomial_day(items: int) -> None:
    """The day the r-th item is done is negative binomial: P(T <= k) = P(Binomial(k, 0.5) >= r),
    with mean r / 0.5 and variance r * 0.5 / 0.5^2."""
    days = simulate_finish_days([1, 0], [items], trials=TRIALS, seed=items)[0]
    for k in range(items, items * 5):
        assert abs(np.mean(days <= k) - negative_binomial_cdf(k, items)) < DKW, k
    mean, sd = 2 * items, math.sqrt(2 * items)
    assert abs(days.mean() - mean) < 5 * sd / math.sqrt(TRIALS)


def test_percentiles_are_the_analytic_quantiles() -> None:
    days = simulate_finish_days([0, 1], [8], trials=TRIALS, seed=3)[0]
    for q in (0.50, 0.85, 0.95):
        exact = next(k for k in range(8, 200) if negative_binomial_cdf(k, 8) >= q)
        sampled = int(np.quantile(days, q, method="inverted_cdf"))
        assert abs(sampled - exact) <= 1, q


def test_milestones_sharing_a_history_finish_in_order_in_every_trial() -> None:
    days = simulate_finish_days([0, 1, 3, 0, 2], [5, 12, 40, 0], trials=2_000, seed=5)
    assert (days[3] == 0).all()
    assert (days[0] <= days[1]).all() and (days[1] <= days[2]).all()


def test_the_same_seed_gives_the_same_forecast() -> None:
    one = simulate_finish_days([0, 1, 3, 0, 2], [30], trials=5_000, seed=42)
    two = simulate_finish_days([0, 1, 3, 0, 2], [30], trials=5_000, seed=42)
    other = simulate_finish_days([0, 1, 3, 0, 2], [30], trials=5_000, seed=43)
    assert (one == two).all() and not (one == other).all()


def test_days_on_leave_are_skipped_and_half_a_team_goes_half_as_fast() -> None:
    full = simulate_finish_days([1], [5], trials=10)[0]
    skipped = simulate_finish_days([1], [5], trials=10, capacity=[1, 0, 0, 1])[0]
    halved = simulate_finish_days([1], [5], trials=10, capacity=[0.5] * 100)[0]
    assert set(full) == {5} and set(skipped) == {7} and set(halved) == {10}


def test_leave_from_the_calendar_moves_the_forecast() -> None:
    team_away = {date(2026, 3, 9): 0.0, date(2026, 3, 10): 0.0, date(2026, 3, 14): 0.0}
    result = forecast([2] * 30, 10, capacity=team_away)  # Saturday the 14th was off anyway
    assert result.forecast_p50 == result.linear_forecast_finish == date(2026, 3, 17)
    assert result.probability_on_time == 0.0


def test_the_linear_forecast_sits_near_the_median() -> None:
    result = forecast([0, 1, 2, 3, 0, 1, 4, 2, 0, 1], 40)
    assert result.forecast_p50 and result.linear_forecast_finish
    assert abs((result.forecast_p50 - result.linear_forecast_finish).days) <= 3
    assert result.forecast_p50 <= result.forecast_p85 <= result.forecast_p95  # type: ignore[operator]
    assert result.trials == 10_000


@pytest.mark.parametrize(
    ("history", "remaining", "note"),
    [
        ([0, 0, 0], 5, "no item was finished"),
        ([], 5, "no throughput history"),
        ([1, 2], 0, "no open items"),
    ],
)
def test_what_cannot_be_forecast_says_why(history: list[int], remaining: int, note: str) -> None:
    result = forecast(history, remaining)
    assert result.forecast_p50 is None and result.probability_on_time is None
    assert result.note is not None and note in result.note


def test_trials_beyond_the_horizon_are_censored_not_invented() -> None:
    result = forecast([0, 0, 0, 1], 30, horizon_working_days=100)
    assert result.forecast_p95 is None
    assert result.note is not None and "horizon" in result.note


@pytest.mark.parametrize(
    ("history", "remaining", "capacity"),
    [([-1, 2], [3], None), ([1], [-3], None), ([1], [3], [1.5]), ([np.nan], [3], None)],
)
def test_bad_inputs_are_refused(history: list[float], remaining: list[int], capacity) -> None:
    with pytest.raises(MetricInputError):
        simulate_finish_days(history, remaining, capacity=capacity)
