"""`manage.py set_active_model NAME`: make a model version the active version of its kind."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crossline.commands import Once
from crossline.exceptions import NotFound
from mlmodels.selectors import list_activations
from mlmodels.services import activate_model_by_name


class Command(BaseCommand):
    help = "Set a model version (by its model_name, e.g. fail-v3) as the active one of its kind."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_name", type=str, help="The version's model_name, e.g. fail-v3.")
        parser.add_argument(
            "--reason", type=str, action=Once, default="set as active (command)",
            help="Kept in the history.",
        )

    def handle(self, *args, model_name: str, reason: str, **options) -> None:
        try:
            pointer = activate_model_by_name(model_name=model_name, reason=reason)
        except NotFound as error:
            raise CommandError(f"{error} `manage.py list_models` shows the names.") from None
        kind = pointer.version.type_model
        previous = get_previous_name(kind)
        was = f" (was {previous})" if previous and previous != model_name else ""
        self.stdout.write(f"{model_name} is now the active {kind} model{was}.")


def get_previous_name(kind: str) -> str | None:
    """The version the latest activation of `kind` replaced."""
    last = list_activations(type_model=kind).first()
    return last.previous_version.model_name if last and last.previous_version else None
