"""Generate plant-like demo exports whose defects follow a known rule over the test results."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crossline.domain import FAIL_GROUPS
from crossline.spreadsheet import neutralise
from plant.readers.columns import DEFECTS_COLUMNS

# The generator draws its random numbers group by group in this order: changing it changes the data.
GROUPS = tuple(FAIL_GROUPS)
TRUTH_GROUPS = tuple(sorted(FAIL_GROUPS))
RESULTS_HEADER = ",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA"
START = np.datetime64("2024-01-02T06:00:00", "s")
# Demo KNRs are KNR_YEAR-NNNNNNN, numbered upwards from FIRST_KNR_NUMBER unless told otherwise.
KNR_YEAR = "2024"
FIRST_KNR_NUMBER = 2_000_001
LAST_KNR_NUMBER = 9_999_999
SPAN_DAYS = 360
SPAN_SECONDS = SPAN_DAYS * 24 * 3600
# Vehicles per generation chunk, and at most about this many result rows: bounds memory for
# benchmark-sized files at any number of tests per vehicle (the real export has about 800).
CHUNK_KNRS = 20_000
CHUNK_ROWS = 800_000


@dataclass(frozen=True)
class Test:
    """One test of the line's plan: a station's measurement, possibly several sub-results."""

    name: str
    family: int  # 1 machines, 2 screwing, 718 electrical
    unit: str  # "" for status-only tests
    value_ids: tuple[float, ...]
    nominal: float
    sd: float
    optional: bool = False
    nok_rate: float = 0.0  # status-only tests: chance of NOK


# The tests the rule reads; their names are fixed so the rule is documented by this table.
SIGNAL_TESTS = (
    Test("SECTION_ZP8_00000001", 2, "Nm", (1.0, 2.0, 3.0, 4.0, 5.0), 25.0, 0.8),
    Test("SECTION_ALS_00000002", 2, "Nm", (1.0, 2.0, 3.0, 4.0), 12.7, 0.4),
    Test("SECTION_TUR_00000004", 2, "Grad", (1.0, 2.0, 3.0), 45.0, 3.0),
    Test("SECTION_HA1_00000003", 2, "Nm", (1.0, 2.0, 3.0), 45.0, 1.5),
    Test("SECTION_UB1_00000005", 2, "Nm", (1.0, 2.0), 60.0, 2.0),
    Test("012001", 1, "kg", (1.0,), 0.95, 0.03),
    Test("013001", 1, "mm", (1.0,), 110.0, 4.0),
    Test("042000", 718, "V", (1.0,), 12.6, 0.15),
    Test("042100", 718, "", (1.0,), 0.0, 0.0, nok_rate=0.04),
    Test("071000", 1, "", (80.0,), 0.0, 0.0, nok_rate=0.05),
    Test("099000", 718, "", (1.0,), 0.0, 0.0, optional=True, nok_rate=0.03),
)
_FILLER_UNITS = {1: ("min", "%", "mm", "Clicks", "kg", "Deg"), 2: ("Nm", "Grad", "°"), 718: ("V",)}
# The measured tests of the rule, strongest first: by the largest weight their readings carry
# in a fail group's logit (ties: the more frequent group first). `--drift-tests 5` shifts the
# first five.
STRONGEST_TESTS = (
    "SECTION_ZP8_00000001",  # 1.8 (and 1.0), group 2 Central part
    "SECTION_ALS_00000002",  # 1.8, group 4 Doors
    "042000",  # 1.8, group 9830946 Electrical
    "SECTION_HA1_00000003",  # 1.7, group 1 Rear
    "012001",  # 1.6, group 5 Front
    "SECTION_UB1_00000005",  # 1.5, group 137 External floor
    "013001",  # 1.0, group 5 Front
    "SECTION_TUR_00000004",  # 0.8, group 4 Doors
)
# How far a drifting test's readings move by default, in its standard deviations: down, as a
# screwdriver losing torque or a filler losing pressure would (more defects follow).
DRIFT_SDS = -1.0


@dataclass(frozen=True)
class Drift:
    """Tests whose readings move by `sds` of their standard deviation for the vehicles whose
    production starts at or after `since` (naive plant time)."""

    since: np.datetime64
    tests: tuple[str, ...]
    sds: float = DRIFT_SDS


# (logit base, target share) per group; bases were tuned so that about half of the vehicles
# have a defect and 137/140 stay near 1-2%.
BASES = {2: -2.2, 4: -4.0, 5: -3.4, 1: -4.5, 9830946: -3.9, 133: -3.4, 140: -4.6, 137: -6.2}

_MODELS = ("T-CROSS 200 TSI", "T-CROSS COMFORTLINE", "T-CROSS HIGHLINE", "NIVUS 200 TSI")
_COLOURS = (
    "0Q0Q",
    "2T2T",
    "2R2R",
    "P6P6",
    "K2K2",
    "C9A",
    "8E8E",
    "A1A1",
    "H7H7",
    "Z4Z4",
    "4K4K",
    "F1F1",
    "Y3Y3",
)
_ENGINES = ("DKR", "DKL", "CSS", "DHS")
_STATIONS = ("ZP8 FINAL", "ZP7 RODAGEM", "CP8 CHUVA", "AUDIT", "ZP6 ELETRICA")
_HALLS = ("H1", "H2", "H3")
_FAULTS = {
    2: ("Console central solto", "Painel com ruído", "Fixação do túnel frouxa"),
    4: ("Porta desalinhada", "Vedação da porta solta", "Ruído na porta, lado esquerdo"),
    5: ("Para-choque dianteiro desalinhado", "Farol desregulado", "Capô com folga"),
    1: ("Tampa traseira com folga", "Lanterna traseira solta", "Para-choque traseiro riscado"),
    9830946: ("Falha de comunicação CAN", "Bateria com tensão baixa", "Chicote desconectado"),
    133: ("Sujeira geral", "Peça faltante", "Etiqueta incorreta"),
    140: ("Documentação incompleta", "Manual ausente"),
    137: ("Assoalho externo amassado", "Proteção do assoalho solta"),
}
_LOCATIONS = ("LE", "LD", "dianteiro", "traseiro", "superior", "inferior", "centro")


def generate_demo_data(
    *,
    knrs: int,
    out_dir: Path,
    seed: int = 0,
    tests_per_knr: int = 40,
    compress: bool = True,
    first_knr_number: int = FIRST_KNR_NUMBER,
    start: datetime | np.datetime64 | None = None,
    days: float = SPAN_DAYS,
    drift: Drift | None = None,
    plan_seed: int | None = None,
) -> dict[str, Path]:
    """Write results, defects and truth CSVs for `knrs` vehicles; return their paths.

    KNRs rise from KNR_YEAR-`first_knr_number` in steps of one to three. Production starts
    spread over `days` from `start` (naive plant time; default START). With `drift`, the
    readings of its tests move from its date on, before the defects are drawn from them. The
    line's tests are drawn with `seed` too, unless `plan_seed` gives the line its own (sets of
    one line share their tests, their vehicles differ by `seed`).
    """
    if knrs < 1:
        raise ValueError("knrs must be at least 1")
    if last_knr_number(knrs, first_knr_number=first_knr_number) > LAST_KNR_NUMBER:
        raise ValueError(f"{knrs} KNRs from {first_knr_number} do not fit in seven digits")
    if not days > 0:
        raise ValueError("days must be above 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    plan = _test_plan(rng, tests_per_knr)
    if plan_seed is not None and plan_seed != seed:
        # Drawn after the vehicles' plan, so that a set's vehicles are those of its seed alone.
        plan = _test_plan(np.random.default_rng(plan_seed), tests_per_knr)
    if drift is not None:
        check_drift_tests(plan, drift.tests)
    steps = rng.integers(1, 4, size=knrs)
    numbers = first_knr_number + np.cumsum(steps) - steps[0]
    knr_ids = np.char.add(f"{KNR_YEAR}-", np.char.zfill(numbers.astype(str), 7))
    first = START if start is None else np.datetime64(start, "s")
    offsets = np.sort(rng.integers(0, max(1, int(days * 24 * 3600)), size=knrs))
    starts = first + offsets.astype("timedelta64[s]")

    paths = {
        "results": out_dir / ("results.csv.gz" if compress else "results.csv"),
        "defects": out_dir / "defects.csv",
        "truth": out_dir / "truth.csv",
    }
    raw = paths["results"].open("wb")
    # mtime=0 and no file name in the gzip header: the same seed gives the same bytes.
    packed = (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
        if compress
        else raw
    )
    results = WriteBehind(packed)
    chunk_knrs = min(CHUNK_KNRS, max(1, CHUNK_ROWS // max(1, tests_per_knr)))
    try:
        results.write((RESULTS_HEADER + "\n").encode())
        with (
            paths["defects"].open("w", newline="", encoding="utf-8") as defects_file,
            paths["truth"].open("w", newline="", encoding="utf-8") as truth_file,
        ):
            defects = csv.writer(defects_file, quoting=csv.QUOTE_NONNUMERIC)
            defects.writerow(DEFECTS_COLUMNS)
            truth = csv.writer(truth_file)
            truth.writerow(["KNR", "p_fail", *(f"p_{g}" for g in TRUTH_GROUPS)])
            row_index = 0
            for begin in range(0, knrs, chunk_knrs):
                end = min(begin + chunk_knrs, knrs)
                row_index = _write_chunk(
                    rng,
                    plan,
                    knr_ids[begin:end],
                    starts[begin:end],
                    results,
                    defects,
                    truth,
                    row_index,
                    drift,
                )
    finally:
        try:
            results.close()
        finally:
            packed.close()
            if compress:
                raw.close()
    return paths


class WriteBehind:
    """A binary file whose writes run on a thread of their own, one block behind the caller:
    compressing a chunk (zlib releases the GIL) overlaps drawing the next."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-writer")
        self._pending: Future | None = None

    def write(self, block: Any) -> None:
        self._wait()
        self._pending = self._thread.submit(self._target.write, block)

    def close(self) -> None:
        """Wait for the last write (its error raised here); the target stays open."""
        try:
            self._wait()
        finally:
            self._thread.shutdown()

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()


def last_knr_number(knrs: int, *, first_knr_number: int = FIRST_KNR_NUMBER) -> int:
    """The highest number `knrs` demo KNRs from `first_knr_number` can reach."""
    return first_knr_number + 3 * (knrs - 1)


def strongest_tests(count: int) -> tuple[str, ...]:
    """The first `count` of the rule's strongest measured tests (STRONGEST_TESTS)."""
    if not 1 <= count <= len(STRONGEST_TESTS):
        raise ValueError(f"the demo's rule reads {len(STRONGEST_TESTS)} measured tests: give "
                         f"between 1 and {len(STRONGEST_TESTS)}, not {count}")
    return STRONGEST_TESTS[:count]


def check_drift_tests(plan: Sequence[Test], tests: Sequence[str]) -> None:
    """ValueError naming any test that is not a measured test of the plan."""
    measured = {test.name for test in plan if test.unit}
    unknown = [name for name in tests if name not in measured]
    if unknown:
        raise ValueError(
            f"no measured test {', '.join(unknown)} in the demo's plan (its strongest: "
            f"{', '.join(STRONGEST_TESTS)})"
        )


def _test_plan(rng: np.random.Generator, tests_per_knr: int) -> list[Test]:
    """The signal tests plus filler tests until the plan has about `tests_per_knr` rows."""
    plan = list(SIGNAL_TESTS)
    rows = sum(len(t.value_ids) for t in plan)
    serial = 0
    while rows < tests_per_knr:
        serial += 1
        family = int(rng.choice([1, 2, 718], p=[0.4, 0.4, 0.2]))
        if family == 2:
            name = f"SECTION_{_code(rng)}_{serial:08d}"
            count = int(rng.integers(1, 6))
        else:
            name = f"{(10 if family == 1 else 40) + serial % 60:03d}{serial:03d}"
            count = 1
        count = min(count, max(1, tests_per_knr - rows))
        status_only = family != 2 and rng.random() < 0.15
        unit = "" if status_only else str(rng.choice(_FILLER_UNITS[family]))
        nominal = float(np.round(rng.uniform(1, 100), 1))
        plan.append(
            Test(
                name,
                family,
                unit,
                tuple(float(i) for i in range(1, count + 1)),
                nominal,
                nominal * float(rng.uniform(0.01, 0.05)),
                optional=bool(rng.random() < 0.3),
                nok_rate=0.02 if status_only else 0.0,
            )
        )
        rows += count
    return plan


def _code(rng: np.random.Generator) -> str:
    letters = rng.choice(list("ABCDEFGHKLMNPRSTUVZ"), size=2)
    return f"{letters[0]}{letters[1]}{int(rng.integers(1, 10))}"


def _write_chunk(
    rng: np.random.Generator,
    plan: list[Test],
    knr_ids: np.ndarray,
    starts: np.ndarray,
    results,
    defects,
    truth,
    row_index: int,
    drift: Drift | None = None,
) -> int:
    """Draw one chunk of vehicles, write their rows, and return the next index value."""
    n = len(knr_ids)
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("vehicle", "order", "status", "value_id", "value")
    }
    measured: dict[str, np.ndarray] = {}
    nok: dict[str, np.ndarray] = {}
    nok_count = np.zeros(n)
    for test_number, test in enumerate(plan):
        present = rng.random(n) >= 0.1 if test.optional else np.ones(n, dtype=bool)
        k = len(test.value_ids)
        if test.unit:
            values = test.nominal + test.sd * rng.standard_normal((n, k))
            if drift is not None and test.name in drift.tests:
                # No random draw here: the data before the drift stay those of the same seed.
                values[starts >= drift.since] += drift.sds * test.sd
            status_nok = np.abs(values - test.nominal) > 3 * test.sd
            measured[test.name] = values
        else:
            values = np.full((n, k), np.nan)
            status_nok = rng.random((n, k)) < test.nok_rate
        status_nok &= present[:, None]
        nok[test.name] = status_nok.any(axis=1)
        nok_count += status_nok.sum(axis=1)
        vehicle = np.repeat(np.arange(n), k)[np.repeat(present, k)]
        columns["vehicle"].append(vehicle)
        columns["order"].append(np.full(len(vehicle), test_number))
        columns["status"].append(np.where(status_nok[present].ravel(), 13, 10))
        columns["value_id"].append(np.tile(np.asarray(test.value_ids), int(present.sum())))
        columns["value"].append(values[present].ravel())

    logits = _logits(measured, nok, nok_count)
    probabilities = {g: 1 / (1 + np.exp(-logits[g])) for g in GROUPS}
    p_fail = 1 - np.prod([1 - probabilities[g] for g in GROUPS], axis=0)
    failed = {g: rng.random(n) < probabilities[g] for g in GROUPS}

    flat = {k: np.concatenate(v) for k, v in columns.items()}
    # Stable sort by vehicle keeps each vehicle's tests in line order, as exports list them.
    by_vehicle = np.argsort(flat["vehicle"], kind="stable")
    flat = {k: v[by_vehicle] for k, v in flat.items()}
    row_index = _write_results(rng, plan, knr_ids, starts, flat, results, row_index)
    _write_defects(rng, knr_ids, starts, failed, defects)
    for i in range(n):
        truth.writerow(
            [
                knr_ids[i],
                f"{p_fail[i]:.6f}",
                *(f"{probabilities[g][i]:.6f}" for g in TRUTH_GROUPS),
            ]
        )
    return row_index


def _logits(
    measured: dict[str, np.ndarray],
    nok: dict[str, np.ndarray],
    nok_count: np.ndarray,
) -> dict[int, np.ndarray]:
    """The known rule: each fail group's logit from specific measurements and NOK statuses."""

    def z(name: str, column: int) -> np.ndarray:
        test = next(t for t in SIGNAL_TESTS if t.name == name)
        return (measured[name][:, column] - test.nominal) / test.sd

    under_zp8 = -z("SECTION_ZP8_00000001", 1)  # under-tightened central screws
    under_zp8_4 = -z("SECTION_ZP8_00000001", 3)
    als_dev = np.abs(z("SECTION_ALS_00000002", 0))
    door_angle = z("SECTION_TUR_00000004", 2)
    rear_under = np.max([-z("SECTION_HA1_00000003", c) for c in range(3)], axis=0)
    floor_dev = np.abs(z("SECTION_UB1_00000005", 0))
    brake_fill = -z("012001", 0)
    pedal = z("013001", 0)
    voltage_low = -z("042000", 0)
    return {
        2: BASES[2] + 1.8 * under_zp8 + 1.0 * under_zp8_4,
        4: BASES[4] + 1.8 * als_dev + 0.8 * door_angle,
        5: BASES[5] + 1.6 * brake_fill + 1.0 * pedal,
        1: BASES[1] + 1.7 * rear_under,
        9830946: BASES[9830946] + 1.8 * voltage_low + 2.5 * nok["042100"],
        133: BASES[133] + 2.2 * nok["071000"] + 0.6 * nok_count,
        140: BASES[140] + 3.0 * nok["099000"],
        137: BASES[137] + 1.5 * floor_dev,
    }


def _write_results(
    rng: np.random.Generator,
    plan: list[Test],
    knr_ids: np.ndarray,
    starts: np.ndarray,
    flat: dict[str, np.ndarray],
    results,
    row_index: int,
) -> int:
    """Write one chunk's result rows as CSV text, built column-wise in Arrow (no Python string
    per row); return the next index value."""
    rows = len(flat["vehicle"])
    test_index = pa.array(flat["order"])
    status_only = np.array([not t.unit for t in plan])[flat["order"]]
    # Status-only tests come with a blank padded UNIT or with none at all, as exports mix both.
    units = _pick([t.unit.ljust(10) for t in plan], test_index)
    units = pc.if_else(pa.array(status_only & (rng.random(rows) < 0.5)), "", units)

    value = pc.cast(pa.array(np.round(flat["value"], 3)), pa.string())
    value = pc.if_else(pc.is_null(value), "", value)
    comma = pa.array(rng.random(rows) < 0.08)
    value = pc.if_else(comma, pc.replace_substring(value, ".", ","), value)
    pad_left = pa.array(rng.random(rows) < 0.5)
    value = pc.if_else(pad_left, pc.utf8_lpad(value, 12), pc.utf8_rpad(value, 12))
    garbage = (rng.random(rows) < 0.002) & ~status_only
    garbage_text = _pick(["#ERR", "--", "n/a", "*****"], rng.integers(0, 4, rows))
    value = pc.if_else(pa.array(garbage), garbage_text, value)
    value = pc.if_else(pa.array(status_only), "", value)

    # Tests follow the line: each one 20-60 s after the previous, from the vehicle's start.
    offsets = np.cumsum(20 + (np.arange(len(plan)) * 37) % 41)
    seconds = starts[flat["vehicle"]] + offsets[flat["order"]].astype("timedelta64[s]")
    stamps = pc.cast(pa.array(seconds), pa.string())  # "2024-01-02 06:00:20"
    millis = pa.array(rng.random(rows) < 0.3)
    stamps = pc.if_else(millis, pc.binary_join_element_wise(stamps, ".000", ""), stamps)

    id_index = np.where(flat["value_id"] == 80.0, 5, flat["value_id"].astype(int) - 1)
    quote = pc.match_substring(value, ",")
    value = pc.if_else(quote, pc.binary_join_element_wise('"', value, '"', ""), value)
    lines = pc.binary_join_element_wise(
        pc.cast(pa.array(np.arange(row_index, row_index + rows)), pa.string()),
        _pick(knr_ids.tolist(), flat["vehicle"]),
        _pick([t.name for t in plan], test_index),
        _pick([str(t.family) for t in plan], test_index),
        pc.cast(pa.array(flat["status"]), pa.string()),
        units,
        _pick(["1.0", "2.0", "3.0", "4.0", "5.0", "80.0"], id_index),
        value,
        # Each line ends with its newline: the array's data buffer is then the file's text.
        pc.binary_join_element_wise(stamps, "\n", ""),
        ",",
    )
    offsets_buffer, data = lines.buffers()[1:3]
    ends = np.frombuffer(offsets_buffer, dtype=np.int32, count=rows + 1, offset=4 * lines.offset)
    results.write(memoryview(data)[ends[0] : ends[-1]])
    return row_index + rows


def _pick(values: list[str], index: Any) -> pa.Array:
    """`values[i]` for every i of `index`, as an Arrow string array."""
    return pa.array(values, pa.string()).take(pa.array(index))


def _write_defects(
    rng: np.random.Generator,
    knr_ids: np.ndarray,
    starts: np.ndarray,
    failed: dict[int, np.ndarray],
    defects,
) -> None:
    n = len(knr_ids)
    model = rng.integers(0, len(_MODELS), n)
    colour = rng.integers(0, len(_COLOURS), n)
    engine = rng.integers(0, len(_ENGINES), n)
    blank_engine = rng.random(n) < 0.02
    any_failed = np.any([failed[g] for g in GROUPS], axis=0)
    # Unlabelled -2/#MULTIVALUE rows also appear for vehicles without a real defect.
    unlabelled = rng.random(n) < np.where(any_failed, 0.08, 0.02)
    for i in np.flatnonzero(any_failed | unlabelled):
        codes: list[int | str | float] = []
        groups: list[int] = []
        for g in GROUPS:
            if failed[g][i]:
                for _ in range(int(rng.integers(1, 4))):
                    form = int(rng.integers(0, 3))
                    codes.append(g if form == 0 else str(g) if form == 1 else float(g))
                    groups.append(g)
        if unlabelled[i]:
            codes.append(-2 if rng.random() < 0.5 else "#MULTIVALUE")
            groups.append(133)
        for code, group in zip(codes, groups, strict=True):
            when = starts[i] + np.timedelta64(int(rng.integers(1 * 86400, 5 * 86400)), "s")
            stamp = f"{str(when).replace('T', ' ')}.{int(rng.integers(0, 1000)):03d}"
            faults = _FAULTS[group]
            text = (
                f"{faults[int(rng.integers(0, len(faults)))]} "
                f"{_LOCATIONS[int(rng.integers(0, len(_LOCATIONS)))]}"
            )
            defects.writerow(
                [
                    str(knr_ids[i]),
                    _MODELS[model[i]],
                    _COLOURS[colour[i]],
                    "   " if blank_engine[i] else _ENGINES[engine[i]],
                    _STATIONS[int(rng.integers(0, len(_STATIONS)))],
                    f"user{int(rng.integers(100, 160))}",
                    _HALLS[int(rng.integers(0, len(_HALLS)))],
                    # Free text, as inspectors type it: written as a spreadsheet shows text.
                    neutralise(text),
                    code,
                    stamp,
                ]
            )
