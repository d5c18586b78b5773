"""A world where risk comes from interactions between stations and from shifts over time.

The line works three shifts Monday to Friday and Saturday mornings. Its tests are the signal
tests below plus filler tests that drive nothing; each group's logit:

- 2 central: under-tightened console screws count only when the tunnel bracket turned far
  (an interaction of two stations), plus the night shift;
- 4 doors: low hinge torque, and the hinge tool wears: its torque sinks over each 4 months
  until it is recalibrated; plus Monday's first shift;
- 5 front: until July a low brake-fluid fill; from July (a new headlamp supplier) a headlamp
  aim off either way, and the fill no more;
- 1 rear: the hatch screws' torque times the hatch gap (deviations the same way add up,
  opposite ones cancel), plus a wide gap;
- 9830946 electrical: a low battery voltage in the rainy months only (moisture in the
  connectors), a NOK CAN check, worse on the night shift;
- 133 general: the night shift, Saturday's shift, a NOK visual check and every NOK;
- 140 documentation: a NOK documentation check, worse on Saturdays (temporary staff), and
  Saturdays;
- 137 external floor: floor screws off either way, only when the sealer cured long.

Run: `.venv/bin/python -m bench.worlds interactions --knrs 3000 --seed 1 --out var/interactions`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.worlds.export import (
    Plan,
    Readings,
    World,
    calendar,
    measured,
    presence,
    sigmoid,
    status_only,
    write_world,
)
from plant.demo import SPAN_SECONDS, START, Test

TESTS_PER_KNR = 60
SIGNAL_TESTS = (
    Test("SECTION_ZP5_00000011", 2, "Nm", (1.0, 2.0, 3.0, 4.0), 25.0, 0.8),  # console
    Test("SECTION_TUN_00000012", 2, "Grad", (1.0, 2.0, 3.0), 60.0, 4.0),  # tunnel bracket
    Test("SECTION_TUR_00000021", 2, "Nm", (1.0, 2.0, 3.0, 4.0), 32.0, 1.0),  # door hinges
    Test("SECTION_TUR_00000022", 2, "Grad", (1.0, 2.0), 40.0, 3.0),  # door strikers
    Test("SECTION_HKL_00000031", 2, "Nm", (1.0, 2.0, 3.0), 22.0, 0.7),  # hatch
    Test("016001", 1, "mm", (1.0,), 4.5, 0.3),  # hatch gap
    Test("012101", 1, "kg", (1.0,), 0.95, 0.03),  # brake-fluid fill
    Test("015001", 1, "%", (1.0,), 1.2, 0.2),  # headlamp aim
    Test("013101", 1, "mm", (1.0,), 110.0, 4.0),  # pedal travel
    Test("042200", 718, "V", (1.0,), 12.6, 0.15),  # battery
    Test("042300", 718, "", (1.0,), 0.0, 0.0, nok_rate=0.03),  # CAN check
    Test("071100", 1, "", (80.0,), 0.0, 0.0, nok_rate=0.05),  # visual check
    Test("099100", 718, "", (1.0,), 0.0, 0.0, optional=True, nok_rate=0.03),  # documentation
    Test("SECTION_UB2_00000041", 2, "Nm", (1.0, 2.0), 60.0, 2.0),  # floor screws
    Test("017001", 1, "min", (1.0,), 12.0, 1.5),  # sealer cure time
)
_FILLER_UNITS = {1: ("min", "%", "mm", "Clicks", "kg", "Deg"), 2: ("Nm", "Grad", "°"), 718: ("V",)}
# The hinge tool's torque sinks by this many standard deviations until recalibrated.
HINGE_WEAR = 1.8
HINGE_RECALIBRATION_DAYS = 120
SUPPLIER_CHANGE_DAY = 182  # 1 July
WETTEST_DAY = 15  # mid-January: the plant's rainy season runs from December to March
SATURDAY, MONDAY, NIGHT = 5, 0, 2


def production_starts(rng: np.random.Generator, knrs: int) -> np.ndarray:
    """Starts spread evenly over the working hours of the demo's year: three shifts Monday to
    Friday, the first shift on Saturdays, none on Sundays; sorted."""
    kept = np.zeros(0, dtype="datetime64[s]")
    while len(kept) < knrs:
        starts = START + rng.integers(0, SPAN_SECONDS, size=2 * knrs).astype("timedelta64[s]")
        when = calendar(starts)
        working = (when["weekday"] < SATURDAY) | (
            (when["weekday"] == SATURDAY) & (when["shift"] == 0)
        )
        kept = np.concatenate([kept, starts[working]])
    return np.sort(kept[:knrs])


def line_plan(rng: np.random.Generator) -> Plan:
    """The signal tests, then filler tests until a vehicle has about TESTS_PER_KNR rows."""
    tests = list(SIGNAL_TESTS)
    rows = sum(len(t.value_ids) for t in tests)
    serial = 100
    while rows < TESTS_PER_KNR:
        serial += 1
        family = int(rng.choice([1, 2, 718], p=[0.4, 0.4, 0.2]))
        if family == 2:
            letters = rng.choice(list("ABCDEFGHKLMNPRSTUVZ"), size=2)
            name = f"SECTION_{letters[0]}{letters[1]}{int(rng.integers(1, 10))}_{serial:08d}"
            count = min(int(rng.integers(1, 6)), TESTS_PER_KNR - rows)
        else:
            name = f"{(20 if family == 1 else 50) + serial % 30:03d}{serial:03d}"
            count = 1
        status = family != 2 and rng.random() < 0.15
        nominal = float(np.round(rng.uniform(1, 100), 1))
        tests.append(
            Test(
                name,
                family,
                "" if status else str(rng.choice(_FILLER_UNITS[family])),
                tuple(float(i) for i in range(1, count + 1)),
                0.0 if status else nominal,
                0.0 if status else round(nominal * float(rng.uniform(0.01, 0.05)), 3),
                optional=bool(rng.random() < 0.3),
                nok_rate=0.02 if status else 0.0,
            )
        )
        rows += count
    return Plan(tests=tests, rule=None)


def draw(rng: np.random.Generator, plan: Plan, starts: np.ndarray):
    """Every test's readings and each group's signal for vehicles built at `starts`."""
    n = len(starts)
    when = calendar(starts)
    day, night = when["day"], (when["shift"] == NIGHT).astype(float)
    saturday = (when["weekday"] == SATURDAY).astype(float)
    monday_morning = ((when["weekday"] == MONDAY) & (when["shift"] == 0)).astype(float)
    # The hinge tool's wear: its torque sinks linearly, back to nominal at each recalibration.
    wear = -HINGE_WEAR * (day % HINGE_RECALIBRATION_DAYS) / HINGE_RECALIBRATION_DAYS
    readings: list[Readings] = []
    z: dict[str, np.ndarray] = {}
    for test in plan.tests:
        present = presence(rng, test, n)
        if not test.unit:
            readings.append(status_only(rng, test, present))
            continue
        k = len(test.value_ids)
        # A section's screws share the tool's offset of the moment.
        deviation = 0.5 * rng.standard_normal((n, 1)) + 0.87 * rng.standard_normal((n, k))
        if test.name == "SECTION_TUR_00000021":
            deviation = deviation + wear[:, None]
        readings.append(measured(test, deviation, present))
        z[test.name] = deviation
    nok = {
        t.name: r.nok.any(axis=1).astype(float)
        for t, r in zip(plan.tests, readings, strict=True)
    }
    nok_count = np.sum([r.nok.sum(axis=1) for r in readings], axis=0)

    def mean(name: str) -> np.ndarray:
        """A section's mean deviation, rescaled to unit spread."""
        values = z[name]
        k = values.shape[1]
        return values.mean(axis=1) / np.sqrt(0.25 + 0.87**2 / k)

    console, tunnel = mean("SECTION_ZP5_00000011"), mean("SECTION_TUN_00000012")
    hinge, hatch, floor = (
        mean("SECTION_TUR_00000021"), mean("SECTION_HKL_00000031"), mean("SECTION_UB2_00000041")
    )
    gap, fill, aim = z["016001"][:, 0], z["012101"][:, 0], z["015001"][:, 0]
    battery, cure = z["042200"][:, 0], z["017001"][:, 0]
    new_supplier = day >= SUPPLIER_CHANGE_DAY
    rainy = 0.5 + 0.5 * np.cos(2 * np.pi * (day - WETTEST_DAY) / 365)
    signals = {
        2: 2.2 * np.maximum(-console, 0) * sigmoid(3 * (tunnel - 0.3)) + 0.8 * night,
        4: 1.6 * np.maximum(-hinge - 0.3, 0) + 0.7 * monday_morning,
        5: np.where(new_supplier, 1.9 * (np.abs(aim) - 0.8), -1.7 * fill),
        1: 1.1 * hatch * gap + 0.9 * np.maximum(gap - 1, 0),
        9830946: 2.6 * np.maximum(-battery, 0) * rainy
        + nok["042300"] * (2.2 + 1.2 * night),
        133: 0.8 * night + 0.6 * saturday + 1.6 * nok["071100"] + 0.35 * nok_count,
        140: nok["099100"] * (2.6 + 1.6 * saturday) + 0.8 * saturday,
        137: 1.8 * (np.abs(floor) - 0.8) * (cure > 0.3),
    }
    return readings, signals


WORLD = World(name="interactions", plan=line_plan, draw=draw, starts=production_starts)


def generate(*, knrs: int, out_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Write this world's results, defects and truth CSVs; return their paths."""
    return write_world(WORLD, knrs=knrs, out_dir=out_dir, seed=seed)
