"""Default indicated tests for the eight fail groups; the quality team edits them in the admin."""

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


def add_default_indicated_tests(apps, schema_editor) -> None:
    """Data migration (both databases): add the defaults that are missing."""
    IndicatedTest = apps.get_model("predictions", "IndicatedTest")
    for fail_group, inspections in DEFAULT_INDICATED_TESTS.items():
        # Never overwrite what the quality team already edited.
        if not IndicatedTest.objects.filter(fail_group=fail_group).exists():
            IndicatedTest.objects.create(
                fail_group=fail_group, zone=FAIL_GROUPS[fail_group], inspections=inspections
            )


def remove_default_indicated_tests(apps, schema_editor) -> None:
    """Reverse of the data migration."""
    IndicatedTest = apps.get_model("predictions", "IndicatedTest")
    IndicatedTest.objects.filter(fail_group__in=list(DEFAULT_INDICATED_TESTS)).delete()
