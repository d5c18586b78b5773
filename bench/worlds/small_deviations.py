"""A world where a fail group's risk is the sum of many small deviations: no single strong test.

The line has about 26 screw sections of two to five screws; each screw's torque (Nm) and
angle (Grad, ° or Deg) are two tests, one VALUE_ID per screw. A section's screws share the
tool's offset of the day, and a screw's torque and angle share its joint's stiffness (a soft
joint turns further and ends lower). Beside them: machine readings (fill weights, travel,
times), electrical voltages sharing the battery's state, and status-only checks.

Each area's fail group (2 central, 4 doors, 5 front, 1 rear, 137 external floor) reads every
torque and angle of the sections built in its area, front also some machine readings, 9830946
the voltages and the electrical checks; each reading adds a small term to the logit: too low,
too high, or off either way (|z|, centred), with weights of one size give or take half, so
that no reading carries much of the group's signal (the strongest correlates with the logit
by about 0.3). 133 adds a little per NOK anywhere and per deviation of
readings picked across the line; 140 a little per failed status-only check and per deviation
of a few readings. Which sections belong to which area, the directions and the weights are
drawn from the seed.

Run: `.venv/bin/python -m bench.worlds small_deviations --knrs 3000 --seed 1 --out var/small`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.worlds.export import (
    Plan,
    Readings,
    World,
    measured,
    presence,
    status_only,
    uniform_starts,
    write_world,
)
from plant.demo import Test

SECTIONS = 26
TORQUES = (4.5, 8.0, 10.0, 12.7, 20.0, 25.0, 35.0, 45.0, 60.0, 90.0, 110.0, 140.0)
ANGLE_UNITS = ("Grad", "Grad", "°", "Deg")
# Sections per area, and each area's group with its signal's spread (logit units).
AREAS = {2: 8, 4: 5, 5: 3, 1: 4, 137: 4}
SPREAD = {2: 1.9, 4: 1.8, 5: 1.7, 1: 1.7, 137: 1.6, 9830946: 1.8, 133: 1.2, 140: 1.3}
MACHINE_UNITS = ("kg", "mm", "min", "%", "Clicks", "Deg")
MACHINE_TESTS = 14
VOLTAGES = 16
NOK_LIMIT = 3.2  # tool windows in standard deviations
# A term is too low (−z), too high (z) or off either way (|z| − E|z|), in these shares.
DIRECTIONS = ("low", "high", "off")
DIRECTION_SHARES = (0.45, 0.25, 0.30)
_HALF_NORMAL_MEAN = float(np.sqrt(2 / np.pi))
_HALF_NORMAL_VAR = 1 - 2 / np.pi


def line_plan(rng: np.random.Generator) -> list[Test]:
    """The screw sections (torque and angle tests side by side), machine readings, voltages and
    status-only checks, with nominal values and spreads drawn from the seed."""
    plan: list[Test] = []
    codes = _section_codes(rng, SECTIONS)
    for s, code in enumerate(codes):
        screws = tuple(float(i) for i in range(1, int(rng.integers(2, 6)) + 1))
        torque = float(rng.choice(TORQUES))
        angle = float(np.round(rng.uniform(25, 120)))
        plan.append(Test(f"SECTION_{code}_{2 * s + 1:08d}", 2, "Nm", screws, torque,
                         round(torque * float(rng.uniform(0.015, 0.035)), 3)))
        plan.append(Test(f"SECTION_{code}_{2 * s + 2:08d}", 2, str(rng.choice(ANGLE_UNITS)),
                         screws, angle, round(angle * float(rng.uniform(0.04, 0.08)), 3)))
    for i in range(MACHINE_TESTS):
        nominal = float(np.round(rng.uniform(1, 150), 1))
        plan.append(Test(f"{11 + i:03d}{i + 1:03d}", 1, str(rng.choice(MACHINE_UNITS)), (1.0,),
                         nominal, round(nominal * float(rng.uniform(0.02, 0.04)), 3),
                         optional=bool(rng.random() < 0.2)))
    for i in range(VOLTAGES):
        nominal = float(rng.choice([12.6, 12.6, 5.0, 3.3, 14.2]))
        plan.append(Test(f"{42 + i // 10:03d}{i % 10 * 100:03d}", 718, "V", (1.0,), nominal,
                         round(nominal * float(rng.uniform(0.008, 0.015)), 4)))
    for i in range(5):
        plan.append(Test(f"{46 + i:03d}500", 718, "", (1.0,), 0.0, 0.0,
                         optional=i >= 3, nok_rate=float(rng.uniform(0.01, 0.04))))
    for i in range(3):
        plan.append(Test(f"{71 + i:03d}000", 1, "", (80.0,), 0.0, 0.0,
                         optional=i == 2, nok_rate=float(rng.uniform(0.02, 0.05))))
    return plan


def _section_codes(rng: np.random.Generator, count: int) -> list[str]:
    letters = list("ABCDEFGHKLMNPRSTUVZ")
    codes: list[str] = []
    while len(codes) < count:
        a, b = rng.choice(letters, size=2)
        code = f"{a}{b}{int(rng.integers(1, 10))}"
        if code not in codes:
            codes.append(code)
    return codes


class Rule:
    """Which readings each group adds up, in which direction and with which weight."""

    def __init__(self, rng: np.random.Generator, plan: list[Test]) -> None:
        self.columns = _reading_columns(plan)
        # A section: its torque test and the angle test after it.
        sections = [[i, i + 1] for i, t in enumerate(plan) if t.unit == "Nm"]
        order = rng.permutation(len(sections))
        pools: dict[int, list[int]] = {}
        first = 0
        for group, count in AREAS.items():
            chosen = order[first : first + count]
            pools[group] = [t for s in chosen for t in sections[s]]
            first += count
        machines = [i for i, t in enumerate(plan) if t.family == 1 and t.unit]
        voltages = [i for i, t in enumerate(plan) if t.unit == "V"]
        measured_tests = [i for i, t in enumerate(plan) if t.unit]
        pools[5] += list(rng.choice(machines, size=6, replace=False))
        pools[9830946] = voltages
        pools[133] = list(rng.choice(measured_tests, size=14, replace=False))
        pools[140] = list(rng.choice(measured_tests, size=8, replace=False))
        self.checks = {
            9830946: [i for i, t in enumerate(plan) if t.family == 718 and not t.unit],
            140: [i for i, t in enumerate(plan) if t.family == 1 and not t.unit],
        }
        self.terms: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for group, pool in pools.items():
            columns = np.concatenate([self.columns[t] for t in pool])
            directions = rng.choice(len(DIRECTIONS), size=len(columns), p=DIRECTION_SHARES)
            weights = rng.uniform(0.5, 1.5, size=len(columns))
            variance = np.where(np.asarray(DIRECTIONS)[directions] == "off", _HALF_NORMAL_VAR, 1)
            # Spread the group's signal over its terms as if they were independent; the tool
            # offsets shared within a section widen it a little, and the bases absorb the rest.
            weights *= SPREAD[group] / np.sqrt(np.sum(weights**2 * variance))
            self.terms[group] = (columns, directions, weights)

    def signals(self, z: np.ndarray, nok: np.ndarray, checks: dict[int, np.ndarray]):
        """Each group's logit without its base, from every reading's deviation `z` (vehicles ×
        reading columns, 0 where not run), NOK counts and the status-only checks' NOKs."""
        signals = {}
        for group, (columns, directions, weights) in self.terms.items():
            values = z[:, columns]
            terms = np.select(
                [directions == 0, directions == 1],
                [-values, values],
                np.abs(values) - _HALF_NORMAL_MEAN,
            )
            signals[group] = terms @ weights
        signals[9830946] = signals[9830946] + 0.5 * checks[9830946]
        signals[140] = signals[140] + 0.9 * checks[140]
        signals[133] = signals[133] + 0.35 * nok
        return signals


def _reading_columns(plan: list[Test]) -> dict[int, np.ndarray]:
    """Each measured test's columns in the matrix of all readings (one per sub-result)."""
    columns, first = {}, 0
    for i, test in enumerate(plan):
        if test.unit:
            columns[i] = np.arange(first, first + len(test.value_ids))
            first += len(test.value_ids)
    return columns


def draw(rng: np.random.Generator, plan: Plan, starts: np.ndarray):
    """Every test's readings and each group's signal for vehicles built at `starts`."""
    n = len(starts)
    battery = rng.standard_normal(n)
    readings: list[Readings] = []
    deviations: list[np.ndarray] = []
    joint = np.zeros(0)
    for test in plan.tests:
        present = presence(rng, test, n)
        k = len(test.value_ids)
        if not test.unit:
            readings.append(status_only(rng, test, present))
            continue
        if test.unit == "Nm":
            # A torque test: the section's tool offset, each screw's joint, its own scatter.
            tool = rng.standard_normal((n, 1))
            joint = rng.standard_normal((n, k))
            z = 0.5 * tool + 0.3 * joint + 0.81 * rng.standard_normal((n, k))
        elif test.family == 2:
            # The angle test after it: a soft joint (low stiffness) turns further.
            z = -0.6 * joint + 0.8 * rng.standard_normal((n, k))
        elif test.unit == "V":
            z = 0.3 * battery[:, None] + 0.95 * rng.standard_normal((n, k))
        else:
            z = rng.standard_normal((n, k))
        reading = measured(test, z, present, NOK_LIMIT)
        if test.family == 2 and test.unit != "Nm":
            # The tool judges a screw on torque and angle together: one status for both rows.
            torque = readings[-1]
            screw_nok = torque.nok | reading.nok
            readings[-1] = Readings(torque.values, screw_nok, torque.present)
            reading = Readings(reading.values, screw_nok, present)
        readings.append(reading)
        deviations.append(np.where(present[:, None], z, 0.0))
    nok_count = np.sum([r.nok.sum(axis=1) for r in readings], axis=0)
    checks = {
        group: np.sum([readings[i].nok.any(axis=1) for i in tests], axis=0)
        for group, tests in plan.rule.checks.items()
    }
    return readings, plan.rule.signals(np.concatenate(deviations, axis=1), nok_count, checks)


def make_plan(rng: np.random.Generator) -> Plan:
    """The test plan, with its rule drawn right after it from the same stream."""
    tests = line_plan(rng)
    return Plan(tests=tests, rule=Rule(rng, tests))


WORLD = World(name="small_deviations", plan=make_plan, draw=draw, starts=uniform_starts)


def generate(*, knrs: int, out_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Write this world's results, defects and truth CSVs; return their paths."""
    return write_world(WORLD, knrs=knrs, out_dir=out_dir, seed=seed)
