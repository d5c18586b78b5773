"""`manage.py list_models`: the registered model versions with their key metrics."""

from django.core.management.base import BaseCommand, CommandParser

from crossline.commands import Once
from mlmodels.hooks import realised_metrics_by_version
from mlmodels.models import ModelVersion
from mlmodels.selectors import get_active_version_ids, list_model_versions

# pr_auc and plain_pr_auc: on the test set; folds to judged_plain: what the gate judged (every
# vehicle judged out of time), the version's PR-AUC there and the plain approach's.
COLUMNS = (
    "kind", "name", "version", "active", "eligible", "pr_auc", "plain_pr_auc", "recall",
    "precision", "flagged", "threshold", "folds", "positives", "judged_pr_auc", "judged_plain",
    "realised_recall", "realised_precision", "closed", "open", "created", "archived",
    "estimator", "gate",
)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


class Command(BaseCommand):
    help = "List model versions by kind (* marks the active one) with test and realised metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--type-model", type=str, action=Once, default=None,
            help="Only this kind, e.g. fail or group_4.",
        )
        parser.add_argument(
            "--archived", action="store_true",
            help="List the archived versions too (left out by default, as in the admin).",
        )

    def handle(self, *args, type_model: str | None, archived: bool, **options) -> None:
        shown = None if archived else False  # every version, or the ones not archived
        versions = list(list_model_versions(type_model=type_model, archived=shown))
        of_kind = f" of kind {type_model}" if type_model else ""
        if versions:
            self.write_table(versions)
        else:
            self.stdout.write(f"No model versions{of_kind}.")
        hidden = list_model_versions(type_model=type_model, archived=True).count()
        if hidden and not archived:
            self.stdout.write(
                f"{hidden} archived version{'s' if hidden > 1 else ''}{of_kind} not listed "
                "(--archived lists them)."
            )

    def write_table(self, versions: list[ModelVersion]) -> None:
        active_ids = get_active_version_ids()
        # Over the vehicles whose labelling window closed; `open` are still inside it.
        realised = realised_metrics_by_version()
        rows = [
            (
                v.type_model,
                v.model_name,
                str(v.version),
                "*" if v.pk in active_ids else "",
                "yes" if v.eligible else "no",
                _number(v.pr_auc),
                _number(v.plain_pr_auc),
                _number(v.recall),
                _number(v.precision),
                _number(v.flagged_share),
                _number(v.threshold),
                _count(v.judged_folds),
                _count(v.judged_positives),
                _number(v.judged_pr_auc),
                _number(v.judged_plain_pr_auc),
                _number(realised.get(v.model_name, {}).get("recall")),
                _number(realised.get(v.model_name, {}).get("precision")),
                str(realised.get(v.model_name, {}).get("n", 0)),
                str(realised.get(v.model_name, {}).get("open", 0)),
                f"{v.created_at:%Y-%m-%d %H:%M}",
                f"{v.archived_at:%Y-%m-%d}" if v.archived else "-",
                v.estimator or "-",
                v.eligibility,
            )
            for v in versions
        ]
        widths = [max(len(row[i]) for row in (COLUMNS, *rows)) for i in range(len(COLUMNS))]
        for row in (COLUMNS, *rows):
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
