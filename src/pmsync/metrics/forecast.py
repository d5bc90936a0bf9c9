"""When will a milestone be done: Monte Carlo over the team's daily throughput.

The model (Troy Magennis's throughput sampling, as in ActionableAgile's
"When will it be done?"): each future working day, a trial draws one day at
random, with replacement, from the throughput history (items finished per
working day, oldest first, zero days included, so idle days weigh in), until
the items remaining are done. The day counts of ``trials`` (>= 10,000) trials
give the P50 / P85 / P95 finish dates (the smallest date by which that share
of trials had finished) and the probability of meeting the due date (the share
finished on or before it). Day 1 is the first working day after the status
date, whose own completions are already in the history.

Known leave enters as a capacity factor per future day, 0..1 (the share of
the team at work, from the calendars): each sampled day's throughput is
multiplied by it, so a factor of 0 skips the day and 0.5 halves it. A trial is
done on the first day its cumulative, scaled throughput reaches the items
remaining. Beside it, the linear forecast (remaining / mean throughput, with
the same capacity factors) is a cross-check.

Speed: trials are the columns of one array, drawn a block of days at a time;
the days of a block are added up one row (all trials) at a time, and each
trial keeps a pointer to the next milestone target it has to reach, so all the
milestones sharing a history are answered by one simulation. The Python loops
are over days, never over trials or items, and stop as soon as every trial is
done.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from pmsync.metrics.inputs import ForecastSettings, MetricInputError, MilestonePlan
from pmsync.metrics.results import MilestoneForecast
from pmsync.metrics.workdays import WorkingCalendar, to_date

Ints = npt.NDArray[np.int64]
PERCENTILES = (0.50, 0.85, 0.95)


def simulate_finish_days(
    history: Sequence[float] | npt.NDArray[Any],
    remaining: Sequence[int] | npt.NDArray[Any],
    *,
    trials: int = 10_000,
    seed: int | Sequence[int] = 0,
    capacity: Sequence[float] | npt.NDArray[Any] | None = None,
    horizon: int = 1305,
) -> Ints:
    """Return the finish day (working days after the status date) per remaining count and trial.

    The result has one row per entry of ``remaining`` and one column per
    trial; 0 means nothing remains and ``horizon + 1`` that the trial had not
    finished within the horizon. ``capacity[i]`` scales day ``i + 1``.
    """
    sample = np.asarray(history, dtype=np.float64)
    targets = np.asarray(remaining, dtype=np.int64).reshape(-1)
    factor = _capacity_array(capacity, horizon)
    if sample.ndim != 1 or not len(sample) or not np.isfinite(sample).all() or (sample < 0).any():
        raise MetricInputError("the throughput history is a non-empty list of counts >= 0")
    if (targets < 0).any() or trials < 1:
        raise MetricInputError("remaining items must be >= 0 and trials >= 1")
    order = np.argsort(targets, kind="stable")
    # A trial is done with a target once its total is within a millionth of an item of it.
    thresholds = np.append(targets[order] - 1e-6, np.inf)
    finish = np.full((len(targets), trials), horizon + 1, dtype=np.int64)
    finish[targets[order] == 0] = 0
    reached = np.full(trials, int(np.count_nonzero(targets == 0)))
    if sample.max() == 0:
        return _unsort(finish, order)
    rng = np.random.default_rng(seed)
    total = np.zeros(trials)
    active = np.flatnonzero(reached < len(targets))
    block = int(np.clip(math.ceil(1.25 * targets.max(initial=0) / sample.mean()) + 8, 16, 256))
    day = 0
    while active.size and day < horizon:
        rows = min(block, horizon - day)
        draws = sample[rng.integers(0, len(sample), size=(rows, active.size))]
        draws *= factor[day : day + rows, None]
        running, next_target = total[active], reached[active]
        for row in range(rows):
            running += draws[row]
            # Advance each trial past every target this day's total reaches (usually none).
            while True:
                hit = np.flatnonzero(running >= thresholds[next_target])
                if not hit.size:
                    break
                finish[next_target[hit], active[hit]] = day + row + 1
                next_target[hit] += 1
        total[active], reached[active] = running, next_target
        active = active[next_target < len(targets)]
        day += rows
    return _unsort(finish, order)


def _unsort(finish: Ints, order: Ints) -> Ints:
    """Return the rows of ``finish`` (sorted by target) in the caller's order."""
    result = np.empty_like(finish)
    result[order] = finish
    return result


def _capacity_array(capacity: Any, horizon: int) -> npt.NDArray[np.float64]:
    factor = np.ones(horizon)
    if capacity is not None:
        given = np.asarray(capacity, dtype=np.float64)[:horizon]
        if not ((given >= 0) & (given <= 1)).all():
            raise MetricInputError("capacity factors are shares of the team, 0..1")
        factor[: len(given)] = given
    return factor


def forecast_milestones(
    milestones: Sequence[MilestonePlan],
    history: Sequence[int] | None,
    status_date: date,
    settings: ForecastSettings,
    calendar: WorkingCalendar,
) -> tuple[MilestoneForecast, ...]:
    """Forecast every milestone; milestones sharing a history share one simulation."""
    horizon = settings.horizon_working_days
    future = calendar.after(status_date, np.arange(1, horizon + 1))
    factor = capacity_by_working_day(settings.capacity, status_date, horizon, calendar)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, milestone in enumerate(milestones):
        own = milestone.throughput_history
        chosen = own if own is not None else history
        groups.setdefault(tuple(int(x) for x in chosen or ()), []).append(i)
    results: dict[int, MilestoneForecast] = {}
    for number, (sample, members) in enumerate(groups.items()):
        remaining = [milestones[i].remaining_items for i in members]
        finish = None
        if sample and any(sample):
            finish = simulate_finish_days(
                sample,
                remaining,
                trials=settings.trials,
                seed=[settings.seed, number],
                capacity=factor,
                horizon=horizon,
            )
        for row, i in enumerate(members):
            results[i] = _forecast(
                milestones[i],
                sample,
                None if finish is None else finish[row],
                status_date,
                future,
                factor,
                calendar,
                settings.trials,
            )
    return tuple(results[i] for i in range(len(milestones)))


def capacity_by_working_day(
    capacity: Mapping[date, float], status_date: date, horizon: int, calendar: WorkingCalendar
) -> npt.NDArray[np.float64]:
    """Return the capacity factor of each working day after the status date (1 where not given)."""
    factor = np.ones(horizon)
    if not capacity:
        return factor
    days = np.array(list(capacity), dtype="datetime64[D]")
    values = np.array(list(capacity.values()), dtype=np.float64)
    if not ((values >= 0) & (values <= 1)).all():
        raise MetricInputError("capacity factors are shares of the team, 0..1")
    index = calendar.count(np.datetime64(status_date, "D") + 1, days)
    keep = (days > np.datetime64(status_date, "D")) & calendar.is_working(days) & (index < horizon)
    factor[index[keep]] = values[keep]
    return factor


def _forecast(
    milestone: MilestonePlan,
    sample: tuple[int, ...],
    finish: Ints | None,
    status_date: date,
    future: npt.NDArray[np.datetime64],
    factor: npt.NDArray[np.float64],
    calendar: WorkingCalendar,
    trials: int,
) -> MilestoneForecast:
    horizon = len(future)
    remaining = milestone.remaining_items

    def day_of(n: int) -> date | None:
        if n > horizon:
            return None
        return status_date if n == 0 else to_date(future[n - 1])

    mean = float(np.mean(sample)) if sample else None
    empty = MilestoneForecast(
        milestone.name, milestone.due, remaining, 0, mean, None, None, None, None, None, None
    )
    if remaining == 0:
        return replace(empty, note="no open items: nothing left to forecast")
    if not sample:
        return replace(empty, note="no throughput history to forecast from")
    if finish is None or not mean:
        return replace(empty, note="no item was finished in the throughput history")
    # Finish days are small integers: their cumulative distribution answers both the
    # percentiles (the first day whose share reaches q) and the chance of being on time.
    share_done = np.cumsum(np.bincount(finish, minlength=horizon + 2)) / len(finish)
    p50, p85, p95 = (
        day_of(int(n)) for n in np.searchsorted(share_done, np.array(PERCENTILES) - 1e-12)
    )
    on_time = None
    if milestone.due is not None:
        first = np.datetime64(status_date, "D") + 1
        due_n = int(calendar.count(first, milestone.due + timedelta(days=1)))
        on_time = float(share_done[min(due_n, horizon + 1)]) if due_n >= 0 else 0.0
    linear = np.flatnonzero(np.cumsum(mean * factor) >= remaining - 1e-9)
    note = None if p95 else "some trials do not finish within the forecast horizon"
    return MilestoneForecast(
        name=milestone.name,
        due=milestone.due,
        remaining_items=remaining,
        trials=trials,
        mean_throughput=mean,
        forecast_p50=p50,
        forecast_p85=p85,
        forecast_p95=p95,
        probability_on_time=on_time,
        linear_forecast_finish=day_of(int(linear[0]) + 1) if len(linear) else None,
        note=note,
    )
