"""`manage.py train`: start a training run on every stored dataset."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crossline.commands import Once, progress_bar
from crossline.exceptions import CrosslineError
from training.models import TrainingRun
from training.pipeline.outcomes import FAILED, TRAINED
from training.runs import execute_training_run, start_training_run


class Command(BaseCommand):
    help = "Train models on every stored dataset (queued for a worker, or --wait to run here)."
    run_kind = TrainingRun.Kind.TRAIN

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Run in the foreground with a progress bar; exit 1 if the run fails.",
        )
        parser.add_argument(
            "--pipeline", type=str, action=Once, default="default",
            help="Pipeline definition name.",
        )

    def handle(self, *args, wait: bool, pipeline: str, **options) -> None:
        try:
            run = start_training_run(kind=self.run_kind, pipeline_name=pipeline, enqueue=not wait)
        except CrosslineError as exc:
            raise CommandError(str(exc)) from exc
        if not wait:
            self.stdout.write(
                f"{run} queued (task {run.task_id}); a django-q2 worker (manage.py qcluster) "
                "will run it."
            )
            return
        with progress_bar(self.stderr, total=100, desc=f"{self.run_kind} run {run.pk}") as bar:

            def show(current: TrainingRun) -> None:
                bar.set_postfix_str(current.current_step)
                bar.update(current.progress - bar.n)

            try:
                finished = execute_training_run(str(run.pk), on_progress=show)
            except Exception as exc:
                run.refresh_from_db()
                raise CommandError(
                    f"{run} failed in step {run.failed_step!r}: {run.error}"
                ) from exc
            if finished is None:
                raise CommandError(
                    f"{run} cannot start now: another run is running. It stays queued, and a "
                    "django-q2 worker (manage.py qcluster) starts it when that run ends."
                )
            bar.update(100 - bar.n)
        self.report(finished)

    def report(self, run: TrainingRun) -> None:
        """Print the run's outcome: versions, metrics, each kind's outcome, comparison."""
        self.stdout.write(self.style.SUCCESS(f"{run} in {run.duration_seconds:.1f} s"))
        for kind, metrics in run.metrics.items():
            self.stdout.write(
                f"  {kind:<18} {metrics['model_name']:<24} "
                f"PR-AUC {fmt(metrics['pr_auc'])} (plain approach "
                f"{fmt(metrics.get('plain_pr_auc'))})  recall {fmt(metrics['recall'])}  "
                f"precision {fmt(metrics['precision'])}  threshold {metrics['threshold']:.3f}"
                + judged_on(metrics.get("judged") or {})
            )
        for outcome in run.outcomes:
            kind = outcome["kind"]
            if outcome["status"] == TRAINED:
                told = f"trained: {outcome['model_name']}, {outcome['estimator']}"
            elif outcome["status"] == FAILED:
                told = f"failed in step {outcome['step']!r}: {outcome['error']}"
            else:
                told = f"skipped: {outcome['positives']} positive examples"
            self.stdout.write(f"  {kind:<18} {told}")
            for failure in outcome["candidate_errors"]:
                self.stdout.write(
                    f"  {kind:<18} candidate {failure['candidate']} failed: {failure['error']}"
                )
        for kind, entry in run.comparison.get("kinds", {}).items():
            self.stdout.write(f"  {kind:<18} {entry['message']}")


def fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def judged_on(judged: dict) -> str:
    """What the gate judged a version on, in a few words ("" when not recorded)."""
    if not judged.get("folds"):
        return ""
    return (
        f"  judged on {judged['folds']} time folds: {judged['positives']} positives, PR-AUC "
        f"{fmt(judged['pr_auc'])} (plain approach {fmt(judged['plain_pr_auc'])})"
    )
