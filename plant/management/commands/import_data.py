"""`manage.py import_data`: import plant exports (test results and defects) from files."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crossline.commands import progress_bar
from crossline.exceptions import InvalidUpload
from plant.imports import import_dataset
from plant.models import DatasetKind
from plant.readers.report import report_lines


class Command(BaseCommand):
    help = (
        "Import plant exports; every file is tried, and a refused file makes the command "
        "exit with status 1 after the others were imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--results", type=Path, action="append", default=[], metavar="PATH",
            help="A test results export (CSV, gzip'd CSV, .xlsx or Parquet); repeatable.",
        )
        parser.add_argument(
            "--defects", type=Path, action="append", default=[], metavar="PATH",
            help="A defects export (CSV, gzip'd CSV, .xlsx or Parquet); repeatable.",
        )
        parser.add_argument(
            "--no-progress", action="store_true", default=False,
            help="Do not show a progress bar on stderr.",
        )

    def handle(self, *args, results: list[Path], defects: list[Path], no_progress: bool,
               **options) -> None:
        files = [(DatasetKind.RESULTS, p) for p in results] + [
            (DatasetKind.DEFECTS, p) for p in defects
        ]
        if not files:
            raise CommandError("Name at least one file with --results PATH or --defects PATH.")
        missing = [str(p) for _, p in files if not p.is_file()]
        if missing:
            raise CommandError(f"No such file: {', '.join(missing)}")

        refused: list[str] = []
        # Results first: a file is independent of the others, so one refused file does not
        # stop the rest; re-run the command with the refused files only once they are fixed.
        for kind, path in files:
            try:
                dataset = self._import(kind, path, progress=not no_progress)
            except InvalidUpload as exc:
                self.stderr.write(self.style.ERROR(f"Refused: {exc}"))
                refused.append(f"{path}: {exc}")
                continue
            self.stdout.write(self.style.SUCCESS(
                f"Imported {path} as dataset {dataset.pk} ({kind}): "
                f"{dataset.knr_count:,} KNRs, {dataset.first_at:%Y-%m-%d} to "
                f"{dataset.last_at:%Y-%m-%d}."
            ))
            for line in report_lines(dataset.report):
                self.stdout.write(f"  {line}")
        if refused:
            raise CommandError(
                f"{len(refused)} of {len(files)} files refused:\n" + "\n".join(refused)
            )

    def _import(self, kind: str, path: Path, *, progress: bool):
        bar = progress_bar(
            self.stderr, enabled=progress, desc=path.name, unit=" rows", unit_scale=True,
            leave=False,
        )

        def on_progress(rows: int, expected: int | None) -> None:
            if expected and bar.total != expected:
                bar.total = max(expected, rows)
            bar.update(rows - bar.n)

        try:
            return import_dataset(path=path, original_name=path.name, kind=kind,
                                  on_progress=on_progress)
        finally:
            bar.close()
