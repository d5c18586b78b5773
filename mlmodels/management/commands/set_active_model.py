"""`manage.py set_active_model NAME`: make a model version the active version of its kind."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crossline.commands import Once
from crossline.exceptions import AlreadyActive, CrosslineError, IneligibleVersion, NotFound
from mlmodels.services import activate_model_by_name

DEFAULT_REASON = "set as active (command)"


class Command(BaseCommand):
    help = "Set a model version (by its model_name, e.g. fail-v3) as the active one of its kind."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_name", type=str, help="The version's model_name, e.g. fail-v3.")
        parser.add_argument(
            "--override",
            action="store_true",
            help="Activate a version below the activation gate (needs --reason).",
        )
        parser.add_argument(
            "--reason", type=str, action=Once, default="",
            help="Why; kept in the activation history.",
        )

    def handle(self, *args, model_name: str, override: bool, reason: str, **options) -> None:
        if not reason.strip() and not override:
            reason = DEFAULT_REASON
        try:
            activation = activate_model_by_name(
                model_name=model_name, reason=reason, override=override
            )
        except AlreadyActive as done:
            # Nothing to do is not a failure: the operator's wish already holds.
            self.stdout.write(str(done))
            return
        except NotFound as error:
            raise CommandError(f"{error} `manage.py list_models` shows the names.") from None
        except IneligibleVersion as error:
            raise CommandError(f'{error} Use --override --reason "…".') from None
        except CrosslineError as error:
            raise CommandError(str(error)) from None
        kind = activation.type_model
        previous = activation.previous_version
        was = f" (was {previous.model_name})" if previous else ""
        forced = f" Gate overridden: {activation.reason}" if activation.override else ""
        self.stdout.write(f"{model_name} is now the active {kind} model{was}.{forced}")
