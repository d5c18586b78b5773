"""Reads of the model registry."""

from django.db.models import QuerySet

from mlmodels.models import Activation, ActiveModel, ModelVersion


def list_model_versions(*, type_model: str | None = None) -> QuerySet[ModelVersion]:
    """Every version, newest first within each kind; optionally of one kind."""
    versions = ModelVersion.objects.all()
    return versions.filter(type_model=type_model) if type_model else versions


def get_active_version(type_model: str) -> ModelVersion | None:
    """The active version of a kind, or None."""
    pointer = ActiveModel.objects.select_related("version").filter(type_model=type_model).first()
    return pointer.version if pointer else None


def list_active_versions() -> dict[str, ModelVersion]:
    """Kind → its active version."""
    return {p.type_model: p.version for p in ActiveModel.objects.select_related("version")}


def get_active_version_ids() -> set:
    """Primary keys of the active versions."""
    return set(ActiveModel.objects.values_list("version_id", flat=True))


def list_latest_versions() -> list[ModelVersion]:
    """The newest version of every kind."""
    latest: dict[str, ModelVersion] = {}
    for version in ModelVersion.objects.order_by("type_model", "-version"):
        latest.setdefault(version.type_model, version)
    return list(latest.values())


def list_activations(*, type_model: str | None = None) -> QuerySet[Activation]:
    """Activation history, newest first."""
    activations = Activation.objects.select_related("version", "previous_version", "activated_by")
    return activations.filter(type_model=type_model) if type_model else activations


def list_metric_history(metric: str = "pr_auc") -> dict[str, list[tuple[int, float | None]]]:
    """Kind → (version number, metric) of every version, oldest first."""
    history: dict[str, list[tuple[int, float | None]]] = {}
    rows = ModelVersion.objects.order_by("type_model", "version").values_list(
        "type_model", "version", metric
    )
    for kind, version, value in rows:
        history.setdefault(kind, []).append((version, value))
    return history


def list_versions_by_ids(ids: list[str]) -> list[ModelVersion]:
    """The versions with these primary keys (unknown ones are left out)."""
    return list(ModelVersion.objects.filter(pk__in=ids).select_related("training_run"))
