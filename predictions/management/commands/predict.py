"""`manage.py predict`: predict KNRs with the active models and write a CSV."""

from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from crossline.commands import Once, progress_bar
from crossline.exceptions import CrosslineError
from mlmodels.selectors import list_active_versions
from predictions import services
from predictions.exports import predictions_csv
from predictions.models import Prediction


def _since(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime(day.year, day.month, day.day)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


class Command(BaseCommand):
    help = "Predict KNRs with the active models and write one CSV row per KNR."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--knr", type=str, nargs="+", action="extend", metavar="KNR",
                            help="KNRs whose stored test results to predict; repeatable.")
        source.add_argument("--results", type=Path, action=Once, metavar="PATH",
                            help="A test-results export to predict (not stored as a dataset).")
        source.add_argument("--since", type=str, action=Once, metavar="DATE",
                            help="Predict every vehicle first tested on or after this date.")
        parser.add_argument("--out", type=Path, action=Once, metavar="PATH.csv",
                            help="Write the CSV here instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path | None = options["out"]
        if out is not None and not out.parent.is_dir():
            raise CommandError(f"The folder of --out {out} does not exist.")
        with progress_bar(self.stderr, unit=" KNRs", leave=False) as bar:
            predictions = self._predict(options, lambda done: bar.update(done - bar.n))
        groups = sorted(
            version.fail_group for version in list_active_versions().values()
            if version.fail_group is not None
        )
        text = predictions_csv(predictions, groups=groups)
        if out is None:
            self.stdout.write(text, ending="")
        else:
            out.write_text(text, encoding="utf-8")
        flagged = sum(p.predicted_fail for p in predictions)
        self.stderr.write(
            f"Predicted {len(predictions)} KNRs ({flagged} flagged)"
            + (f"; wrote {out}" if out else "")
        )

    def _predict(self, options: dict[str, Any], progress: services.Progress) -> list[Prediction]:
        try:
            if options["knr"]:
                return services.predict_knrs(knrs=options["knr"])
            if options["results"]:
                path: Path = options["results"]
                if not path.is_file():
                    raise CommandError(f"No such file: {path}")
                return services.predict_results_file(
                    path, filename=path.name, on_progress=progress
                )
            try:
                since = _since(options["since"])
            except ValueError:
                raise CommandError(
                    f"--since {options['since']!r} is not a date (YYYY-MM-DD)."
                ) from None
            return services.predict_since(since, on_progress=progress)
        except CrosslineError as exc:
            raise CommandError(str(exc)) from exc
