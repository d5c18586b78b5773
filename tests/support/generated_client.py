"""A client generated from crossline's schema with openapi-python-client, and the checks that
its answers are typed: shared by the tests that read the API through such a client."""

import datetime
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import types
import typing
import urllib.request
from pathlib import Path

import attrs

PACKAGE = "crossline_client"


def fetch_schema(url: str) -> dict:
    """The OpenAPI schema as JSON, asked for without credentials."""
    request = urllib.request.Request(
        f"{url}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def generate_client(schema: dict, folder: Path) -> Path:
    """Generate the client package into `folder`; the folder to put on sys.path."""
    path = folder / "schema.json"
    path.write_text(json.dumps(schema))
    # The generator formats its output with ruff when it finds it: the venv's, on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(path),
         "--output-path", str(folder / PACKAGE), "--meta", "none"],
        env=env, check=True, capture_output=True, text=True, timeout=300,
    )
    return folder


def import_every_module() -> dict[str, str]:
    """Import each module of the generated package; module → error, for those that fail."""
    package = importlib.import_module(PACKAGE)
    errors = {}
    for info in pkgutil.walk_packages(package.__path__, f"{PACKAGE}."):
        try:
            importlib.import_module(info.name)
        except Exception as error:
            errors[info.name] = f"{type(error).__name__}: {error}"
    return errors


# --- typed answers -----------------------------------------------------------------------------


def declared_types(cls: type) -> dict[str, str]:
    """A generated model's fields and their annotations as written (strings: the generated
    modules use `from __future__ import annotations`)."""
    annotations: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(vars(klass).get("__annotations__", {}))
    if len(annotations) > 1:
        # `additional_properties` is the generator's catch-all for keys the schema does not
        # name; in a map (a class with nothing else) it is the map itself.
        annotations.pop("additional_properties", None)
    return annotations


def resolve(annotation: str) -> typing.Any:
    """An annotation string evaluated in the generated package's namespace."""
    models = importlib.import_module(f"{PACKAGE}.models")
    client_types = importlib.import_module(f"{PACKAGE}.types")
    namespace = {**vars(client_types), **vars(models), "datetime": datetime, "Any": typing.Any}
    # Annotations of the code the generator just wrote, nothing a user sent.
    return eval(annotation, namespace)


def conforms(value: typing.Any, declared: typing.Any, where: str, problems: list[str]) -> bool:
    """Whether `value` is of the declared type; nested models are checked field by field."""
    origin, args = typing.get_origin(declared), typing.get_args(declared)
    if origin in (types.UnionType, typing.Union):
        return any(conforms(value, arg, where, []) for arg in args) and (
            not attrs.has(type(value)) or not typed_problems(value, where, problems)
        )
    if origin is list:
        return isinstance(value, list) and all(
            conforms(item, args[0], f"{where}[{i}]", problems) for i, item in enumerate(value)
        )
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(key, str) and conforms(item, args[1], f"{where}.{key}", problems)
            for key, item in value.items()
        )
    if declared is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if declared is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if attrs.has(declared):
        return isinstance(value, declared) and not typed_problems(value, where, problems)
    return isinstance(value, declared)


def typed_problems(obj: typing.Any, where: str, problems: list[str]) -> list[str]:
    """Fields of a generated model (and of the models inside it) typed Any or holding a value
    of another type than declared; appended to `problems`."""
    found = []
    for name, annotation in declared_types(type(obj)).items():
        place = f"{where}.{name}"
        if re.search(r"\bAny\b", annotation):
            found.append(f"{place}: typed {annotation}")
            continue
        value = getattr(obj, name)
        if not conforms(value, resolve(annotation), place, found):
            found.append(f"{place}: {value!r} is not {annotation}")
    problems.extend(found)
    return found


def typed(obj: typing.Any, expected: type, where: str) -> typing.Any:
    """`obj`, after checking it is an `expected` model whose every field is typed and holds a
    value of its type."""
    assert isinstance(obj, expected), f"{where}: {obj!r}"
    problems: list[str] = []
    typed_problems(obj, where, problems)
    assert not problems, problems
    return obj
