"""Data migrations of predictions, shared by both migration trees (SQLite and MongoDB)."""

from typing import Any

from django.db import models

from crossline.domain import FAIL_GROUPS
from crossline.groups import QUALITY_LEAD, grant
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


# The group that decides on capacities (created by the permissions' data migrations, which
# give it this permission too where it did not exist yet).
QUALITY_LEAD_GROUP = QUALITY_LEAD


def create_inspection_capacity(apps: Any, schema_editor: Any) -> None:
    """The one capacity row (nothing set: no capacity, the setting's labelling window), and its
    change permission given to the quality lead group where that group exists."""
    InspectionCapacity = apps.get_model("predictions", "InspectionCapacity")
    if not InspectionCapacity.objects.exists():
        InspectionCapacity.objects.create(key="plant")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    # Created here, not only after migrating: the group gets it in this same migration.
    content_type, _ = ContentType.objects.get_or_create(
        app_label="predictions", model="inspectioncapacity"
    )
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="change_inspectioncapacity",
        defaults={"name": "Can change inspection capacity"},
    )
    for group in Group.objects.filter(name__iexact=QUALITY_LEAD_GROUP):
        group.permissions.add(permission)


def fill_feedback_recorded_before_prediction(apps: Any, schema_editor: Any) -> None:
    """Predictions of vehicles whose defects were imported before they were predicted get
    their real fail groups (earlier versions filled only later imports)."""
    Prediction = apps.get_model("predictions", "Prediction")
    Vehicle = apps.get_model("plant", "Vehicle")
    waiting = set(Prediction.objects.filter(real_fail_codes__isnull=True).values_list(
        "knr", flat=True
    ))
    by_codes: dict[tuple[int, ...], list[str]] = {}
    for knr, framed in Vehicle.objects.filter(has_defects=True).values_list(
        "knr", "fail_group_codes"
    ):
        codes = tuple(sorted({int(code) for code in framed.split(",") if code}))
        if knr in waiting and codes:
            by_codes.setdefault(codes, []).append(knr)
    for codes, knrs in by_codes.items():
        for begin in range(0, len(knrs), 1000):
            Prediction.objects.filter(knr__in=knrs[begin : begin + 1000]).update(
                real_fail_codes=list(codes)
            )


# Predictions' part of the "Quality lead" group (as of migration 0009): deleting a prediction,
# changing the inspection capacity (0008 gave it to a group that existed then), their pages.
QUALITY_LEAD_GRANT = grant(
    "predictions", ["delete_prediction", "view_prediction", "change_inspectioncapacity"]
)


def risk_of_earlier_predictions(apps: Any, schema_editor: Any) -> None:
    """Earlier predictions' risk: their fail model's probability (the worklist's order)."""
    Prediction = apps.get_model("predictions", "Prediction")
    Prediction.objects.filter(p_fail__isnull=False).update(risk=models.F("p_fail"))


# The quality lead group reads the worklist (as of migration 0010).
WORKLIST_GRANT = grant("predictions", ["view_worklist"])
