"""`manage.py bootstrap`: make a fresh installation usable (admin user, demo data, a model)."""

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django_q.models import Schedule

from crossline.commands import Once
from crossline.domain import kind_label
from crossline.exceptions import NoActiveModel
from plant.demo import generate_demo_data
from plant.imports import import_dataset
from plant.models import Dataset
from plant.selectors import get_fail_group_labels
from predictions.capacity import get_capacity, set_inspection_capacity
from predictions.services import predict_since
from training.runs import execute_training_run, start_training_run
from training.tasks import REAPER_SCHEDULE

# The demo's plant works two whole months, January and February 2024 (60 days): 2,000 vehicles
# make about 33 a production day. A day of fewer than 20 vehicles cannot keep a worklist within
# both its cap and 5 points of the capacity (floor(0.2 × n) / n is 0% or 33% for n = 5); a
# plant's days hold hundreds. The last hour is left empty so that the last vehicle's tests
# (about half an hour) end on the last day, not alone on a day of their own.
DEMO_START = datetime(2024, 1, 1)
DEMO_DAYS = 60 - 1 / 24


# The demo's inspection capacity: a fifth of each production day's vehicles.
DEMO_CAPACITY = 0.2


class Command(BaseCommand):
    help = "Create the admin user if missing; --demo-knrs: import, train and predict demo data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--username", type=str, action=Once, default="admin", help="Admin user name."
        )
        parser.add_argument(
            "--demo-knrs",
            type=int,
            action=Once,
            default=0,
            help="On an empty installation, generate this many demo vehicles, import them, "
            "train and predict (0: no demo data).",
        )

    def handle(self, *args, username: str, demo_knrs: int, **options) -> None:
        user = self.ensure_admin(username)
        self.ensure_schedules()
        if demo_knrs > 0 and not Dataset.objects.exists():
            self.load_demo(demo_knrs, user)

    def ensure_admin(self, username: str):
        User = get_user_model()
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            note = settings.VAR_DIR / "admin-password.txt"
            where = f" (password in {note})" if note.exists() else ""
            self.stdout.write(f"Admin user {username!r} exists{where}.")
            return existing
        password = os.environ.get("CROSSLINE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        if "CROSSLINE_ADMIN_PASSWORD" not in os.environ:
            note = settings.VAR_DIR / "admin-password.txt"
            note.write_text(f"{username}\n{password}\n")
            note.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Admin user {username!r}, password: {password}"))
        return user

    def ensure_schedules(self) -> None:
        """The schedules the django-q2 cluster runs: the reaper."""
        # The labelling window is read when metrics are counted: the daily task that closed
        # the feedback window of earlier versions is gone.
        Schedule.objects.filter(func="predictions.tasks.close_feedback_window").delete()
        # The period's run time goes to the reaper, which claims it: several worker clusters
        # may each queue the same period (crossline/schedules.py).
        Schedule.objects.update_or_create(
            name=REAPER_SCHEDULE,
            defaults={
                "func": "training.tasks.reap_stale_work",
                "schedule_type": Schedule.MINUTES,
                "minutes": 1,
                "repeats": -1,
                "intended_date_kwarg": "intended",
            },
        )

    def load_demo(self, knrs: int, user) -> None:
        out_dir = settings.VAR_DIR / "demo"
        self.stdout.write(f"Generating demo data for {knrs} vehicles in {out_dir} …")
        files = generate_demo_files(knrs, out_dir)
        for kind in ("results", "defects"):
            dataset = import_dataset(
                path=files[kind], original_name=files[kind].name, kind=kind, user=user
            )
            self.stdout.write(
                f"Imported {dataset.original_name}: {dataset.rows_accepted} rows accepted, "
                f"{dataset.rows_rejected} rejected, {dataset.knr_count} KNRs."
            )
        self.stdout.write("Training the first models (about a minute) …")
        run = start_training_run(user=user, enqueue=False)
        run = execute_training_run(str(run.pk))
        labels = get_fail_group_labels()
        for kind, metrics in run.metrics.items():
            below = not metrics.get("eligible", True)
            gate = f"  below the activation gate: {metrics['eligibility']}" if below else ""
            # PR-AUC is undefined when the test set holds no positive of the kind.
            pr_auc = "n/a" if metrics["pr_auc"] is None else f"{metrics['pr_auc']:.3f}"
            self.stdout.write(
                f"  {metrics['model_name']:<18} {kind_label(kind, labels):<22} PR-AUC {pr_auc}"
                f"{gate}"
            )
        if not get_capacity().is_set:
            # A team's list, not every vehicle the threshold policies flag (about 70% of the
            # demo's): staff change it under Predictions › Inspection capacity.
            set_inspection_capacity(share=DEMO_CAPACITY, user=user)
            self.stdout.write(
                f"Inspection capacity: {get_capacity().describe()} (change it in the admin)."
            )
        try:
            predictions = predict_since(datetime(1970, 1, 1, tzinfo=UTC))
        except NoActiveModel as error:
            # Too little demo data for any model to clear the activation gate: crossline still
            # serves; the operator sees why nothing was predicted.
            self.stdout.write(self.style.WARNING(f"Nothing predicted: {error}"))
            return
        flagged = sum(p.predicted_fail for p in predictions)
        self.stdout.write(
            self.style.SUCCESS(
                f"Predicted {len(predictions)} vehicles: {flagged} flagged for extra inspection."
            )
        )


def generate_demo_files(knrs: int, out_dir: Path) -> dict[str, Path]:
    """The demo exports `bootstrap` imports: `knrs` vehicles over DEMO_DAYS from DEMO_START."""
    return generate_demo_data(
        knrs=knrs, out_dir=out_dir, seed=0, start=DEMO_START, days=DEMO_DAYS
    )
