"""`manage.py generate_demo_data`: write plant-like demo exports and their true probabilities."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crossline.commands import Once
from plant.demo import FIRST_KNR_NUMBER, KNR_YEAR, generate_demo_data
from plant.selectors import get_highest_knr


class Command(BaseCommand):
    help = "Write demo results, defects and truth.csv (the rule's true probabilities) to a folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--knrs", type=int, action=Once, required=True,
                            help="Number of vehicles.")
        parser.add_argument("--out", type=Path, action=Once, required=True,
                            help="Folder to write to.")
        parser.add_argument("--seed", type=int, action=Once, default=0,
                            help="Random seed (same seed and stored KNRs, same files).")
        parser.add_argument("--tests-per-knr", type=int, action=Once, default=40,
                            help="About how many result rows each vehicle gets.")

    def handle(self, *args, knrs: int, out: Path, seed: int, tests_per_knr: int,
               **options) -> None:
        if knrs < 1:
            raise CommandError("--knrs must be at least 1.")
        if tests_per_knr < 1:
            raise CommandError("--tests-per-knr must be at least 1.")
        if out.exists() and not out.is_dir():
            raise CommandError(f"{out} exists and is not a folder.")
        # New vehicles get new KNRs: reusing a stored one would merge two vehicles' histories
        # once the files are imported.
        highest = get_highest_knr(prefix=f"{KNR_YEAR}-")
        first = FIRST_KNR_NUMBER if highest is None else max(
            FIRST_KNR_NUMBER, int(highest.partition("-")[2]) + 1
        )
        try:
            paths = generate_demo_data(knrs=knrs, out_dir=out, seed=seed,
                                       tests_per_knr=tests_per_knr, first_knr_number=first)
        except ValueError as exc:
            raise CommandError(f"{exc} (the highest stored KNR is {highest}).") from None
        after = f", after the highest stored KNR {highest}" if highest else ""
        self.stdout.write(f"KNRs from {KNR_YEAR}-{first:07d}{after}.")
        for kind, path in paths.items():
            self.stdout.write(f"{kind}: {path}")
