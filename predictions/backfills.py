"""Data migrations of predictions, shared by both migration trees (SQLite and MongoDB)."""

from typing import Any

from crossline.domain import FAIL_GROUPS
from plant.backfills import move_content_type
from plant.defaults import DEFAULT_INDICATED_TESTS


def flag_and_date_existing_predictions(apps: Any, schema_editor: Any) -> None:
    """One meaning of "flagged" for earlier predictions, and their vehicle's production time."""
    Prediction = apps.get_model("predictions", "Prediction")
    try:
        Vehicle = apps.get_model("training", "Vehicle")
    except LookupError:
        # Vehicles moved to the plant app (same table): its migration may have run first.
        Vehicle = apps.get_model("plant", "Vehicle")
    rows = list(
        Prediction.objects.values_list("pk", "knr", "predicted_fail", "predicted_fail_codes")
    )
    produced = dict(
        Vehicle.objects.filter(knr__in=[knr for _, knr, _, _ in rows]).values_list(
            "knr", "last_test_at"
        )
    ) if rows else {}
    for pk, knr, fail, codes in rows:
        flagged_by = (["fail"] if fail else []) + [f"group_{int(c)}" for c in codes or []]
        Prediction.objects.filter(pk=pk).update(
            predicted_fail=bool(flagged_by), flagged_by=flagged_by, produced_at=produced.get(knr)
        )


def noop(apps: Any, schema_editor: Any) -> None:
    """Nothing to undo: the fields go with the schema."""


def add_default_indicated_tests(apps: Any, schema_editor: Any) -> None:
    """The eight fail groups' default indicated tests, where missing (history: plant's fail
    groups hold them since)."""
    IndicatedTest = apps.get_model("predictions", "IndicatedTest")
    for fail_group, inspections in DEFAULT_INDICATED_TESTS.items():
        # Never overwrite what the quality team already edited.
        if not IndicatedTest.objects.filter(fail_group=fail_group).exists():
            IndicatedTest.objects.create(
                fail_group=fail_group, zone=FAIL_GROUPS[fail_group], inspections=inspections
            )


def remove_default_indicated_tests(apps: Any, schema_editor: Any) -> None:
    """Reverse of `add_default_indicated_tests`."""
    IndicatedTest = apps.get_model("predictions", "IndicatedTest")
    IndicatedTest.objects.filter(fail_group__in=list(DEFAULT_INDICATED_TESTS)).delete()


def move_indicated_tests_to_fail_groups(apps: Any, schema_editor: Any) -> None:
    """plant's fail groups become exactly the indicated tests the team kept: their names
    (zones), inspections and primary keys (old admin links lead to the same group)."""
    IndicatedTest = apps.get_model("predictions", "IndicatedTest")
    FailGroup = apps.get_model("plant", "FailGroup")
    kept = list(IndicatedTest.objects.values_list("pk", "fail_group", "zone", "inspections"))
    # The defaults plant's own migration wrote give way to what the team kept (a group the
    # team deleted stays deleted).
    FailGroup.objects.all().delete()
    for pk, code, zone, inspections in kept:
        FailGroup.objects.create(pk=pk, code=code, name=zone, inspections=inspections)
    move_content_type(
        apps, old=("predictions", "indicatedtest"), new=("plant", "failgroup"),
        verbose_name="fail group",
    )


def move_fail_groups_back(apps: Any, schema_editor: Any) -> None:
    """Reverse of `move_indicated_tests_to_fail_groups`."""
    IndicatedTest = apps.get_model("predictions", "IndicatedTest")
    FailGroup = apps.get_model("plant", "FailGroup")
    for pk, code, name, inspections in FailGroup.objects.values_list(
        "pk", "code", "name", "inspections"
    ):
        IndicatedTest.objects.create(pk=pk, fail_group=code, zone=name, inspections=inspections)
    move_content_type(
        apps, old=("plant", "failgroup"), new=("predictions", "indicatedtest"),
        verbose_name="indicated test",
    )


def number_prediction_history(apps: Any, schema_editor: Any) -> None:
    """Generations for what was stored before them: per KNR its history rows 1, 2, … oldest
    first, and its current prediction the one after (one update per distinct number)."""
    Prediction = apps.get_model("predictions", "Prediction")
    PredictionHistory = apps.get_model("predictions", "PredictionHistory")
    by_number: dict[int, list[Any]] = {}
    counts: dict[str, int] = {}
    rows = PredictionHistory.objects.order_by("knr", "created_at", "pk").values_list("pk", "knr")
    for pk, knr in rows:
        counts[knr] = counts.get(knr, 0) + 1
        by_number.setdefault(counts[knr], []).append(pk)
    for number, pks in by_number.items():
        for begin in range(0, len(pks), 1000):
            PredictionHistory.objects.filter(pk__in=pks[begin : begin + 1000]).update(
                generation=number
            )
    by_count: dict[int, list[str]] = {}
    for knr, count in counts.items():
        by_count.setdefault(count + 1, []).append(knr)
    for generation, knrs in by_count.items():
        for begin in range(0, len(knrs), 1000):
            Prediction.objects.filter(knr__in=knrs[begin : begin + 1000]).update(
                generation=generation
            )
