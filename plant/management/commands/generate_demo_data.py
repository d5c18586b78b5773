"""`manage.py generate_demo_data`: write plant-like demo exports and their true probabilities."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from crossline.commands import Once
from plant.demo import (
    DRIFT_SDS,
    FIRST_KNR_NUMBER,
    KNR_YEAR,
    SPAN_DAYS,
    START,
    STRONGEST_TESTS,
    Drift,
    generate_demo_data,
    strongest_tests,
)
from plant.selectors import get_highest_knr, get_latest_test_time

# A next set starts on the day after the latest stored test, when the line's first shift does.
LINE_START_HOUR = 6
# Every set this command writes comes from one line (its tests and their nominal values: those
# of the first set, `make run`'s, seed 0); the seed varies the vehicles.
LINE_SEED = 0


class Command(BaseCommand):
    help = "Write demo results, defects and truth.csv (the rule's true probabilities) to a folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--knrs", type=int, action=Once, required=True,
                            help="Number of vehicles.")
        parser.add_argument("--out", type=Path, action=Once, required=True,
                            help="Folder to write to.")
        parser.add_argument("--seed", type=int, action=Once, default=0,
                            help="Random seed of the vehicles (same seed and stored data, same "
                                 "files; the line's tests are always the same).")
        parser.add_argument("--tests-per-knr", type=int, action=Once, default=40,
                            help="About how many result rows each vehicle gets.")
        parser.add_argument("--days", type=float, action=Once, default=SPAN_DAYS,
                            help=f"Days of production the vehicles spread over (default "
                                 f"{SPAN_DAYS}; 7 for a week).")
        parser.add_argument("--drift-from", type=date, action=Once, default=None,
                            metavar="YYYY-MM-DD",
                            help="From this day on, shift the readings of the --drift-tests.")
        parser.add_argument("--drift-tests", type=str, action=Once, default="5",
                            metavar="N|NAME,NAME",
                            help="With --drift-from: the first N of the demo's strongest tests "
                                 f"({', '.join(STRONGEST_TESTS)}), or some of them by name, "
                                 "separated by commas (default 5).")
        parser.add_argument("--drift-sds", type=float, action=Once, default=DRIFT_SDS,
                            help="How far the readings move, in each test's standard "
                                 f"deviations (default {DRIFT_SDS:g}: down).")

    def handle(self, *args, knrs: int, out: Path, seed: int, tests_per_knr: int, days: float,
               drift_from: datetime | None, drift_tests: str, drift_sds: float,
               **options) -> None:
        if knrs < 1:
            raise CommandError("--knrs must be at least 1.")
        if tests_per_knr < 1:
            raise CommandError("--tests-per-knr must be at least 1.")
        if not days > 0:
            raise CommandError("--days must be above 0.")
        if out.exists() and not out.is_dir():
            raise CommandError(f"{out} exists and is not a folder.")
        # New vehicles get new KNRs: reusing a stored one would merge two vehicles' histories
        # once the files are imported.
        highest = get_highest_knr(prefix=f"{KNR_YEAR}-")
        first = FIRST_KNR_NUMBER if highest is None else max(
            FIRST_KNR_NUMBER, int(highest.partition("-")[2]) + 1
        )
        start = next_start()
        drift = None
        if drift_from is not None:
            try:
                drift = Drift(since=np.datetime64(drift_from, "s"),
                              tests=drift_test_names(drift_tests), sds=drift_sds)
            except ValueError as exc:
                raise CommandError(f"--drift-tests: {exc}.") from None
        try:
            paths = generate_demo_data(knrs=knrs, out_dir=out, seed=seed,
                                       tests_per_knr=tests_per_knr, first_knr_number=first,
                                       start=start, days=days, drift=drift,
                                       plan_seed=LINE_SEED)
        except ValueError as exc:
            raise CommandError(f"{exc} (the highest stored KNR is {highest}).") from None
        after = f", after the highest stored KNR {highest}" if highest else ""
        self.stdout.write(f"KNRs from {KNR_YEAR}-{first:07d}{after}.")
        end = start + timedelta(days=days)
        self.stdout.write(f"Production from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}.")
        if drift is not None:
            self.stdout.write(
                f"From {drift_from:%Y-%m-%d} the readings of {', '.join(drift.tests)} move by "
                f"{drift.sds:+g} of their standard deviation."
            )
        for kind, path in paths.items():
            self.stdout.write(f"{kind}: {path}")


def next_start() -> datetime:
    """Where a new demo set starts: the line's first shift on the day after the latest stored
    test (plant time), or the demo's first day when nothing is stored."""
    latest = get_latest_test_time()
    if latest is None:
        return START.astype(datetime)
    day = timezone.localtime(latest).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, LINE_START_HOUR)


def drift_test_names(text: str) -> tuple[str, ...]:
    """The tests `--drift-tests` names: a count of the strongest, or names."""
    text = text.strip()
    if text.isdigit():
        return strongest_tests(int(text))
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in STRONGEST_TESTS]
    if not names or unknown:
        raise ValueError(
            f"{'unknown test ' + ', '.join(unknown) if unknown else 'no test'}: give a number "
            f"or names among the demo's measured tests {', '.join(STRONGEST_TESTS)}"
        )
    return names


def date(text: str) -> datetime:
    """A day as YYYY-MM-DD (midnight, plant time)."""
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"not a date YYYY-MM-DD: {text!r}") from None
