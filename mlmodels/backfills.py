"""Data migrations of the registry, shared by both migration trees (SQLite and MongoDB)."""

from typing import Any

from django.conf import settings

from crossline.groups import grant
from mlmodels.gate import check_eligibility, count_test_set


def judge_existing_versions(apps: Any, schema_editor: Any) -> None:
    """Apply the activation gate to versions registered before it existed."""
    ModelVersion = apps.get_model("mlmodels", "ModelVersion")
    for version in ModelVersion.objects.all():
        positives, vehicles = count_test_set({"confusion_matrix": version.confusion_matrix})
        gate = check_eligibility(
            positives=positives,
            vehicles=vehicles,
            pr_auc=version.pr_auc,
            min_positives=settings.CROSSLINE_GATE_MIN_POSITIVES,
            min_lift=settings.CROSSLINE_GATE_MIN_LIFT,
        )
        flagged = None
        if positives is not None and vehicles:
            (_, fp), (_, tp) = version.confusion_matrix
            flagged = (fp + tp) / vehicles
        ModelVersion.objects.filter(pk=version.pk).update(
            eligible=gate.eligible,
            eligibility=gate.reason[:255],
            test_positives=gate.positives,
            test_prevalence=gate.prevalence,
            flagged_share=flagged,
            threshold_policy="chosen in training",
        )


def number_existing_activations(apps: Any, schema_editor: Any) -> None:
    """Number each kind's activation history in time order; the pointer holds the last number.

    An active version below the gate stops predicting (no override was given for it); the next
    eligible version of its kind replaces it.
    """
    Activation = apps.get_model("mlmodels", "Activation")
    ActiveModel = apps.get_model("mlmodels", "ActiveModel")
    counts: dict[str, int] = {}
    for activation in Activation.objects.order_by("activated_at", "pk"):
        counts[activation.type_model] = counts.get(activation.type_model, 0) + 1
        Activation.objects.filter(pk=activation.pk).update(sequence=counts[activation.type_model])
    for pointer in ActiveModel.objects.all():
        ActiveModel.objects.filter(pk=pointer.pk).update(
            generation=counts.get(pointer.type_model, 0)
        )


def noop(apps: Any, schema_editor: Any) -> None:
    """Nothing to undo: the fields go with the schema."""


# The registry's part of the "Quality lead" group: its protected actions, and the pages
# they are taken on (as of migration 0005; a later permission comes with a migration of its own).
QUALITY_LEAD_GRANT = grant(
    "mlmodels",
    [
        "activate_modelversion",
        "override_gate",
        "archive_modelversion",
        "delete_modelversion",
        "change_thresholdpolicy",
        "view_modelversion",
        "view_activemodel",
        "view_activation",
    ],
)
