"""`manage.py retrain`: train challengers and compare them with the active models."""

from training.management.commands.train import Command as TrainCommand
from training.models import TrainingRun


class Command(TrainCommand):
    help = "Train challengers on all data and compare them with the active models (same test set)."
    run_kind = TrainingRun.Kind.RETRAIN
