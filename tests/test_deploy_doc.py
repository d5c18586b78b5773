"""docs/deploy.md states what is true of the code: its variables, commands, settings and files."""

import re
import shlex

import pytest
from django.core.management import get_commands, load_command_class

from tests.support.live_server import ROOT

DEPLOY = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
SETTINGS = (ROOT / "crossline" / "settings.py").read_text(encoding="utf-8")
VARIABLE = re.compile(r"\b(?:CROSSLINE|DJANGO|MONGODB)_[A-Z_]*[A-Z]\b")
# Read by `manage.py bootstrap`, not by the settings.
READ_ELSEWHERE = {"CROSSLINE_ADMIN_PASSWORD"}


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)


def manage_commands() -> list[list[str]]:
    """Every `manage.py …` command line in the document's code blocks, as arguments."""
    commands = []
    for block in code_blocks(DEPLOY):
        for line in block.splitlines():
            if "manage.py " not in line:
                continue
            rest = line.split("manage.py ", 1)[1].split(" #", 1)[0]
            commands.append(shlex.split(rest))
    return commands


def test_every_variable_the_settings_read_is_documented_and_none_other():
    read = set(re.findall(r'"((?:CROSSLINE|DJANGO|MONGODB)_[A-Z_]+)"', SETTINGS))
    documented = set(VARIABLE.findall(DEPLOY))
    assert read - documented == set()
    assert documented - read - READ_ELSEWHERE == set()
    assert documented >= READ_ELSEWHERE


def test_every_django_setting_named_is_set_by_crossline():
    named = set(re.findall(r"\b(?:SECURE|CSRF|SESSION)_[A-Z_]*[A-Z]\b", DEPLOY))
    assert named, "the document names the HTTPS settings"
    for name in named:
        assert re.search(rf"^\s*{name}\s*=", SETTINGS, re.MULTILINE), name


@pytest.mark.parametrize("args", manage_commands(), ids=" ".join)
def test_every_command_runs_with_the_arguments_given(args):
    name, *options = args
    app = get_commands().get(name)
    assert app is not None, f"no command {name!r}"
    command = load_command_class(app, name)
    command.create_parser("manage.py", name).parse_args(options)


def test_the_document_names_commands_of_every_kind():
    names = {args[0] for args in manage_commands()}
    assert {"migrate", "bootstrap", "collectstatic", "serve", "qcluster"} <= names


def test_every_file_named_exists():
    named = set(re.findall(r"`((?:crossline|tests|bench|docs|training)/[\w./]*)`", DEPLOY))
    assert named
    missing = [path for path in named if not (ROOT / path).exists()]
    assert missing == []


def test_the_readme_links_the_document():
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
