"""Data migrations of predictions, shared by both migration trees (SQLite and MongoDB)."""

from typing import Any


def flag_and_date_existing_predictions(apps: Any, schema_editor: Any) -> None:
    """One meaning of "flagged" for earlier predictions, and their vehicle's production time."""
    Prediction = apps.get_model("predictions", "Prediction")
    Vehicle = apps.get_model("training", "Vehicle")
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
