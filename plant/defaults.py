"""The eight fail groups' default indicated tests; the quality team edits them in the admin."""

from crossline.domain import FAIL_GROUPS

DEFAULT_INDICATED_TESTS: dict[int, list[str]] = {
    2: [
        "Centre console and tunnel fixation check",
        "Instrument panel rattle test",
    ],
    4: [
        "Door gap and flush measurement",
        "Door seal water test",
        "Door lock and window function check",
    ],
    5: [
        "Front bumper and headlamp alignment check",
        "Headlamp aim test",
        "Bonnet gap and flush check",
    ],
    1: [
        "Tailgate gap and flush check",
        "Rear lamp and bumper fixation check",
    ],
    9830946: [
        "Full CAN diagnostic scan",
        "Battery voltage test",
        "Wiring harness connector check",
    ],
    133: [
        "General visual inspection",
        "Missing parts and labels check",
    ],
    140: [
        "Vehicle documents and owner's manual check",
    ],
    137: [
        "Underbody inspection on the lift",
        "Underbody protection fixation check",
    ],
}


def add_default_fail_groups(apps, schema_editor) -> None:
    """Data migration (both databases): the eight fail groups with their default names and
    indicated tests, where missing (never over what the quality team edited)."""
    FailGroup = apps.get_model("plant", "FailGroup")
    for code, inspections in DEFAULT_INDICATED_TESTS.items():
        if not FailGroup.objects.filter(code=code).exists():
            FailGroup.objects.create(code=code, name=FAIL_GROUPS[code], inspections=inspections)


def remove_default_fail_groups(apps, schema_editor) -> None:
    """Reverse of the data migration."""
    FailGroup = apps.get_model("plant", "FailGroup")
    FailGroup.objects.filter(code__in=list(DEFAULT_INDICATED_TESTS)).delete()
