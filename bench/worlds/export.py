"""Write a generated world as the plant exports it: the demo generator's files and quirks, with
the world's own test plan and rule of defects.

A world gives its test plan, its production times and, per vehicle, every test's readings and
each fail group's signal (a logit without its base). The bases are solved per seed on a
calibration sample drawn apart, so that each group's prevalence is its target whatever the
signal's spread; then a vehicle's true probability of a group is sigmoid(base + signal), its
defects are drawn from it, and the files are written by the demo generator's own writers
(padded units, decimal commas, garbage values, `2`/`"2"`/`2.0` codes, unlabelled rows).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plant.demo import (
    CHUNK_KNRS,
    FIRST_KNR_NUMBER,
    GROUPS,
    KNR_YEAR,
    RESULTS_HEADER,
    SPAN_SECONDS,
    START,
    TRUTH_GROUPS,
    Test,
    _write_defects,
    _write_results,
)
from plant.readers.columns import DEFECTS_COLUMNS

# Each group's share of vehicles, most frequent first as in the plant: about half of the
# vehicles have a defect, the electrical group about 5%, 137 and 140 are rare.
PREVALENCE = {
    2: 0.20,
    4: 0.12,
    5: 0.09,
    1: 0.085,
    9830946: 0.05,
    133: 0.05,
    140: 0.015,
    137: 0.015,
}
CALIBRATION_KNRS = 20_000
SHIFT_START_HOUR = 6  # three 8-hour shifts from 06:00, as the plant runs them


@dataclass(frozen=True)
class Readings:
    """One test's results for a chunk of vehicles."""

    values: np.ndarray  # (vehicles, sub-results); NaN for a status-only test
    nok: np.ndarray  # (vehicles, sub-results), bool
    present: np.ndarray  # (vehicles,), bool: whether the vehicle ran the test


@dataclass(frozen=True)
class Plan:
    """The line's tests in line order, and the world's rule over their readings."""

    tests: list[Test]
    rule: Any


# (rng, plan, production starts) → (each test's readings, each group's signal)
Draw = Callable[
    [np.random.Generator, Plan, np.ndarray],
    tuple[list[Readings], dict[int, np.ndarray]],
]


@dataclass(frozen=True)
class World:
    """A generator: its plan, when vehicles are built, and how readings and risk arise."""

    name: str
    plan: Callable[[np.random.Generator], Plan]
    draw: Draw
    starts: Callable[[np.random.Generator, int], np.ndarray]


def uniform_starts(rng: np.random.Generator, knrs: int) -> np.ndarray:
    """Production starts spread evenly over the demo's year, sorted (the demo's own draw)."""
    return START + np.sort(rng.integers(0, SPAN_SECONDS, size=knrs)).astype("timedelta64[s]")


def measured(test: Test, z: np.ndarray, present: np.ndarray, nok_limit: float = 3.0) -> Readings:
    """A measured test's readings from standardised deviations `z` (vehicles × sub-results):
    NOK outside ±`nok_limit` standard deviations, as a tool's window flags it."""
    return Readings(
        values=test.nominal + test.sd * z,
        nok=(np.abs(z) > nok_limit) & present[:, None],
        present=present,
    )


def status_only(rng: np.random.Generator, test: Test, present: np.ndarray) -> Readings:
    """A status-only test: no value, NOK at the test's rate."""
    shape = (len(present), len(test.value_ids))
    return Readings(
        values=np.full(shape, np.nan),
        nok=(rng.random(shape) < test.nok_rate) & present[:, None],
        present=present,
    )


def presence(rng: np.random.Generator, test: Test, n: int) -> np.ndarray:
    """Which vehicles ran the test: all, or nine in ten for an optional one."""
    return rng.random(n) >= 0.1 if test.optional else np.ones(n, dtype=bool)


def calendar(starts: np.ndarray) -> dict[str, np.ndarray]:
    """Each start's day of the year (from 0), weekday (Monday 0) and shift (0 from 06:00, 1 from
    14:00, 2 the night from 22:00)."""
    seconds = starts.astype("datetime64[s]")
    days = seconds.astype("datetime64[D]")
    hour = (seconds - days).astype("int64") / 3600
    return {
        "day": (days - days.astype("datetime64[Y]")).astype("int64"),
        # 1970-01-01 was a Thursday.
        "weekday": (days.astype("int64") + 3) % 7,
        "shift": ((hour - SHIFT_START_HOUR) % 24 // 8).astype("int64"),
    }


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def solve_base(signal: np.ndarray, prevalence: float) -> float:
    """The logit base for which sigmoid(base + signal) averages `prevalence` (bisection)."""
    low, high = -30.0, 30.0
    for _ in range(80):
        middle = (low + high) / 2
        if sigmoid(middle + signal).mean() < prevalence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def calibrate(world: World, plan: Plan, seed: int) -> dict[int, float]:
    """Each group's base, solved on vehicles drawn from their own random stream."""
    rng = np.random.default_rng([seed, 1])
    _, signals = world.draw(rng, plan, world.starts(rng, CALIBRATION_KNRS))
    return {g: solve_base(signals[g], PREVALENCE[g]) for g in GROUPS}


def write_world(
    world: World, *, knrs: int, out_dir: Path, seed: int = 0, compress: bool = True
) -> dict[str, Path]:
    """Write results, defects and truth CSVs for `knrs` vehicles of `world`; return their paths."""
    if knrs < 1:
        raise ValueError("knrs must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    plan = world.plan(rng)
    bases = calibrate(world, plan, seed)
    steps = rng.integers(1, 4, size=knrs)
    numbers = FIRST_KNR_NUMBER + np.cumsum(steps) - steps[0]
    knr_ids = np.char.add(f"{KNR_YEAR}-", np.char.zfill(numbers.astype(str), 7))
    starts = world.starts(rng, knrs)
    paths = {
        "results": out_dir / ("results.csv.gz" if compress else "results.csv"),
        "defects": out_dir / "defects.csv",
        "truth": out_dir / "truth.csv",
    }
    with paths["results"].open("wb") as raw:
        # mtime=0 and no file name in the gzip header: the same seed gives the same bytes.
        results = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
            if compress
            else raw
        )
        with (
            results,
            paths["defects"].open("w", newline="", encoding="utf-8") as defects_file,
            paths["truth"].open("w", newline="", encoding="utf-8") as truth_file,
        ):
            results.write((RESULTS_HEADER + "\n").encode())
            defects = csv.writer(defects_file, quoting=csv.QUOTE_NONNUMERIC)
            defects.writerow(DEFECTS_COLUMNS)
            truth = csv.writer(truth_file)
            truth.writerow(["KNR", "p_fail", *(f"p_{g}" for g in TRUTH_GROUPS)])
            row_index = 0
            for begin in range(0, knrs, CHUNK_KNRS):
                chunk = slice(begin, min(begin + CHUNK_KNRS, knrs))
                row_index = _write_chunk(
                    world, rng, plan, bases, knr_ids[chunk], starts[chunk],
                    (results, defects, truth), row_index,
                )
    return paths


def _write_chunk(
    world: World,
    rng: np.random.Generator,
    plan: Plan,
    bases: dict[int, float],
    knr_ids: np.ndarray,
    starts: np.ndarray,
    writers: tuple,
    row_index: int,
) -> int:
    """Draw one chunk of vehicles, write their rows, and return the next index value."""
    results, defects, truth = writers
    n = len(knr_ids)
    readings, signals = world.draw(rng, plan, starts)
    probabilities = {g: sigmoid(bases[g] + signals[g]) for g in GROUPS}
    p_fail = 1 - np.prod([1 - probabilities[g] for g in GROUPS], axis=0)
    failed = {g: rng.random(n) < probabilities[g] for g in GROUPS}

    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("vehicle", "order", "status", "value_id", "value")
    }
    for order, (test, reading) in enumerate(zip(plan.tests, readings, strict=True)):
        present = reading.present
        k = len(test.value_ids)
        vehicle = np.repeat(np.arange(n), k)[np.repeat(present, k)]
        columns["vehicle"].append(vehicle)
        columns["order"].append(np.full(len(vehicle), order))
        columns["status"].append(np.where(reading.nok[present].ravel(), 13, 10))
        columns["value_id"].append(np.tile(np.asarray(test.value_ids), int(present.sum())))
        columns["value"].append(reading.values[present].ravel())
    flat = {k: np.concatenate(v) for k, v in columns.items()}
    # Stable sort by vehicle keeps each vehicle's tests in line order, as exports list them.
    by_vehicle = np.argsort(flat["vehicle"], kind="stable")
    flat = {k: v[by_vehicle] for k, v in flat.items()}
    row_index = _write_results(rng, plan.tests, knr_ids, starts, flat, results, row_index)
    _write_defects(rng, knr_ids, starts, failed, defects)
    for i in range(n):
        truth.writerow(
            [knr_ids[i], f"{p_fail[i]:.6f}", *(f"{probabilities[g][i]:.6f}" for g in TRUTH_GROUPS)]
        )
    return row_index
