"""Fail groups by name, read from the team's editable mapping (the indicated tests)."""

from django.apps import apps

# Used when the mapping has no row for a code (DOMAIN.md's names).
DEFAULT_NAMES = {
    2: "Central part",
    4: "Doors",
    5: "Front",
    1: "Rear",
    9830946: "Electrical",
    133: "General",
    140: "Documentation",
    137: "External floor",
}
FAIL_KIND = "fail"
GROUP_PREFIX = "group_"


def fail_group_names() -> dict[int, str]:
    """Code → name, the team's edits over the defaults (one query)."""
    # Looked up by name: the mapping belongs to the predictions app, above this one.
    mapping = apps.get_model("predictions", "IndicatedTest")
    return {**DEFAULT_NAMES, **dict(mapping.objects.values_list("fail_group", "zone"))}


def fail_group_label(code: int | str, names: dict[int, str] | None = None) -> str:
    """A fail group as people read it: its name, or its code when it has none."""
    names = fail_group_names() if names is None else names
    try:
        return names.get(int(code)) or str(code)
    except (TypeError, ValueError):
        return str(code)


def kind_label(kind: str, names: dict[int, str] | None = None) -> str:
    """A model kind as people read it: "any defect" or the fail group's name."""
    if kind == FAIL_KIND:
        return "Any defect"
    if kind.startswith(GROUP_PREFIX):
        return fail_group_label(kind.removeprefix(GROUP_PREFIX), names)
    return kind
