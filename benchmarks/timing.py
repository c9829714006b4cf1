"""Noise-resistant timing: adaptive batches, implementations interleaved, medians reported.

Shared machines are noisy, so a workload's implementations are timed side by side: each round
runs one batch of every implementation still collecting samples, so a burst of load from another
process hits them all alike, and the median over rounds ignores the bursts.
"""
from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """How long to time things: seconds per workload, shortest batch, sample counts."""
    seconds: float
    min_batch: float
    min_samples: int
    max_samples: int


@dataclass(frozen=True)
class Measurement:
    """The median seconds per call, the interquartile range relative to it (None: too few
    samples), and the effort: samples × calls per sample."""
    seconds: float
    spread: float | None
    samples: int
    calls: int

    @classmethod
    def of(cls, per_call: list[float], calls: int) -> Measurement:
        med = statistics.median(per_call)
        if len(per_call) < 2 or med <= 0:
            return cls(med, None, len(per_call), calls)
        q1, _, q3 = statistics.quantiles(per_call, n=4, method="inclusive")
        return cls(med, (q3 - q1) / med, len(per_call), calls)


def time_batch(thunk: Callable[[], object], number: int) -> float:
    """Seconds taken by `number` back-to-back calls of `thunk`."""
    start = time.perf_counter()
    for _ in range(number):
        thunk()
    return time.perf_counter() - start


def calibrate(thunk: Callable[[], object], min_batch: float) -> int:
    """The number of calls per batch that makes one batch last at least `min_batch` seconds.

    Its first call doubles as the last warm-up call, so its time is never a sample.
    """
    number = 1
    while True:
        elapsed = time_batch(thunk, number)
        if elapsed >= min_batch or number >= 1 << 20:
            return number
        grow = min_batch / max(elapsed, 1e-7) * 1.2
        number = min(1 << 20, max(2 * number, int(number * grow)))


def measure_interleaved(runs: dict[str, Callable[[], float]], budget: Budget,
                        ) -> tuple[dict[str, list[float]], dict[str, Exception]]:
    """Samples of each `runs[name]()` (which returns seconds per call), taken in rounds.

    Each name gets an equal share of the budget and stops once it has used its share and has
    `min_samples` samples (or has `max_samples`). A run that raises is dropped and its
    exception returned, the others go on.
    """
    share = budget.seconds / max(len(runs), 1)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    spent = dict.fromkeys(runs, 0.0)
    errors: dict[str, Exception] = {}

    def wants_more(name):
        n = len(samples[name])
        return name not in errors and n < budget.max_samples and (
            n < budget.min_samples or spent[name] < share)
    while active := [name for name in runs if wants_more(name)]:
        gc.collect()
        for name in active:
            start = time.perf_counter()
            try:
                samples[name].append(runs[name]())
            except Exception as e:  # noqa: BLE001 - reported in the table, suite goes on
                errors[name] = e
            spent[name] += time.perf_counter() - start
    return samples, errors


def measure_steady(thunks: dict[str, Callable[[], object]], budget: Budget,
                   ) -> dict[str, Measurement | Exception]:
    """Steady-state median seconds per call of each (already warmed-up) thunk."""
    numbers: dict[str, int] = {}
    result: dict[str, Measurement | Exception] = {}
    for name, thunk in thunks.items():
        try:
            numbers[name] = calibrate(thunk, budget.min_batch)
        except Exception as e:  # noqa: BLE001 - reported in the table, suite goes on
            result[name] = e

    def batch_run(name):
        return lambda: time_batch(thunks[name], numbers[name]) / numbers[name]
    samples, errors = measure_interleaved({n: batch_run(n) for n in numbers}, budget)
    for name, number in numbers.items():
        result[name] = errors.get(name) or Measurement.of(samples[name], number)
    return result


def measure_fresh(probes: dict[str, Callable[[], float]], first: dict[str, float],
                  repeats: int) -> dict[str, Measurement | Exception]:
    """Median of `repeats` samples of each probe (a fresh process reporting seconds), the
    sample `first[name]` already taken included."""
    budget = Budget(seconds=0.0, min_batch=0.0, min_samples=repeats - 1,
                    max_samples=repeats - 1)
    samples, errors = measure_interleaved(probes, budget)
    return {name: errors.get(name) or Measurement.of([first[name], *samples[name]], 1)
            for name in probes}
