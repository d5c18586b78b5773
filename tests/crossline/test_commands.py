"""Every crossline command: an option given twice accumulates or is refused, never dropped."""

import argparse
import io

import pytest
from django.core.management import CommandError, call_command, get_commands, load_command_class

from crossline.commands import Once, progress_bar

APPS = {"crossline", "plant", "training", "mlmodels", "predictions", "monitoring"}
# Django's own options (verbosity, settings, …) behave as Django decides.
DJANGO_OPTIONS = {
    "--version", "--verbosity", "--settings", "--pythonpath", "--traceback", "--no-color",
    "--force-color", "--skip-checks", "--help",
}


def crossline_options() -> list[tuple[str, argparse.Action]]:
    """(command, option) for every option of crossline's own commands."""
    found = []
    for name, app in sorted(get_commands().items()):
        if app not in APPS:
            continue
        parser = load_command_class(app, name).create_parser("manage.py", name)
        for action in parser._actions:
            if action.option_strings and not set(action.option_strings) & DJANGO_OPTIONS:
                found.append((name, action))
    return found


def test_crossline_has_the_commands_this_test_checks():
    assert {name for name, _ in crossline_options()} >= {
        "bootstrap", "generate_demo_data", "import_data", "list_models", "predict", "retrain",
        "set_active_model", "train",
    }


@pytest.mark.parametrize(
    "command, action", crossline_options(), ids=lambda x: getattr(x, "dest", x)
)
def test_an_option_given_twice_accumulates_or_is_refused(command, action):
    if action.nargs == 0:
        return  # a flag: given twice, it is still set
    if isinstance(action, argparse._AppendAction | argparse._ExtendAction):
        return  # accumulates: every value is kept
    assert isinstance(action, Once), f"{command} {action.option_strings[0]} keeps only the last"
    value = accepted_value(action)
    option = action.option_strings[0]
    with pytest.raises(CommandError, match=f"{option}.*given more than once"):
        call_command(command, option, value, option, value, stdout=io.StringIO(),
                     stderr=io.StringIO())


def accepted_value(action: argparse.Action) -> str:
    """A value the option's own type accepts, so that only the repetition can be refused."""
    for value in ("1", "2025-01-01", "x"):
        try:
            (action.type or str)(value)
        except (ValueError, TypeError, argparse.ArgumentTypeError):
            continue
        if not action.choices or value in action.choices:
            return value
    return action.choices[0] if action.choices else "x"


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_progress_bar_redraws_one_line_on_a_terminal():
    terminal = Terminal()
    with progress_bar(terminal, total=5, desc="rows") as bar:
        for _ in range(5):
            bar.update(1)
    drawn = terminal.getvalue()
    assert drawn.count("\r") >= 2
    assert "5/5" in drawn
    assert drawn.rstrip("\n").count("\n") == 0


def test_a_progress_bar_stays_quiet_when_the_output_is_not_a_terminal():
    stream = io.StringIO()
    with progress_bar(stream, total=5, desc="rows") as bar:
        bar.update(5)
    assert stream.getvalue() == ""
