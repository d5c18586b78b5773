"""`manage.py generate_demo_data`: write plant-like demo exports and their true probabilities."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from training.demo import generate_demo_data


class Command(BaseCommand):
    help = "Write demo results, defects and truth.csv (the rule's true probabilities) to a folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--knrs", type=int, required=True, help="Number of vehicles.")
        parser.add_argument("--out", type=Path, required=True, help="Folder to write to.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed (same seed, "
                            "same files).")
        parser.add_argument("--tests-per-knr", type=int, default=40,
                            help="About how many result rows each vehicle gets.")

    def handle(self, *args, knrs: int, out: Path, seed: int, tests_per_knr: int,
               **options) -> None:
        if knrs < 1:
            raise CommandError("--knrs must be at least 1.")
        if tests_per_knr < 1:
            raise CommandError("--tests-per-knr must be at least 1.")
        if out.exists() and not out.is_dir():
            raise CommandError(f"{out} exists and is not a folder.")
        paths = generate_demo_data(knrs=knrs, out_dir=out, seed=seed,
                                   tests_per_knr=tests_per_knr)
        for kind, path in paths.items():
            self.stdout.write(f"{kind}: {path}")
