"""Reads of the model registry."""

from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from crossline.exceptions import NotFound
from mlmodels.models import Activation, ActiveModel, ModelVersion, ThresholdPolicy, VersionScores
from mlmodels.thresholds import decode_scores


def list_model_versions(
    *, type_model: str | None = None, archived: bool | None = None
) -> QuerySet[ModelVersion]:
    """Versions newest first within each kind; optionally of one kind, and only archived
    (True) or only not archived (False) ones."""
    versions = ModelVersion.objects.all()
    if type_model:
        versions = versions.filter(type_model=type_model)
    if archived is not None:
        versions = versions.filter(archived_at__isnull=not archived)
    return versions


def was_ever_active(version: ModelVersion) -> bool:
    """Whether the version predicted at some time: the pointer or the history names it."""
    return (
        ActiveModel.objects.filter(version=version).exists()
        or Activation.objects.filter(Q(version=version) | Q(previous_version=version)).exists()
    )


def get_ever_active_ids(ids: list) -> set:
    """Of these version primary keys, those the pointer or the activation history names."""
    named = set(ActiveModel.objects.filter(version__in=ids).values_list("version_id", flat=True))
    for current, previous in Activation.objects.filter(
        Q(version__in=ids) | Q(previous_version__in=ids)
    ).values_list("version_id", "previous_version_id"):
        named.update((current, previous))
    return named & set(ids)


def get_active_version(type_model: str) -> ModelVersion | None:
    """The active version of a kind, or None."""
    pointer = ActiveModel.objects.select_related("version").filter(type_model=type_model).first()
    return pointer.version if pointer else None


def list_active_versions() -> dict[str, ModelVersion]:
    """Kind → its active version."""
    return {p.type_model: p.version for p in ActiveModel.objects.select_related("version")}


def list_predicting_versions() -> dict[str, ModelVersion]:
    """Kind → its active version, for kinds whose version may predict (eligible, or activated
    with an override)."""
    return {
        p.type_model: p.version
        for p in ActiveModel.objects.select_related("version")
        if p.override or p.version.eligible
    }


def get_active_version_ids() -> set:
    """Primary keys of the active versions."""
    return set(ActiveModel.objects.values_list("version_id", flat=True))


def list_latest_versions() -> list[ModelVersion]:
    """The newest version of every kind, archived ones left out."""
    latest: dict[str, ModelVersion] = {}
    for version in list_model_versions(archived=False).order_by("type_model", "-version"):
        latest.setdefault(version.type_model, version)
    return list(latest.values())


def list_activations(*, type_model: str | None = None) -> QuerySet[Activation]:
    """Activation history, newest first."""
    activations = Activation.objects.select_related("version", "previous_version", "activated_by")
    return activations.filter(type_model=type_model) if type_model else activations


def get_activation(pk: Any) -> Activation | None:
    """An activation (history row) by primary key, with its version; None if unknown."""
    return Activation.objects.select_related("version").filter(pk=pk).first()


def has_later_activation(activation: Activation) -> bool:
    """Whether any kind was activated after this activation (made in the same moment or
    later, recorded after it)."""
    later = Activation.objects.filter(activated_at__gt=activation.activated_at)
    same_moment = Activation.objects.filter(
        activated_at=activation.activated_at, pk__gt=activation.pk
    )
    return later.exists() or same_moment.exists()


def get_thresholds_by_name() -> dict[str, float]:
    """Model name → its version's decision threshold, for every version."""
    return dict(ModelVersion.objects.values_list("model_name", "threshold"))


def get_test_scores(version: ModelVersion) -> np.ndarray | None:
    """A version's scores on its test set, or None when none are kept."""
    encoded = VersionScores.objects.filter(version=version).values_list("test", flat=True).first()
    if not encoded:
        return None
    return decode_scores(encoded)[1]


def list_metric_history(metric: str = "pr_auc") -> dict[str, list[tuple[int, float | None]]]:
    """Kind → (version number, metric) of every version, oldest first."""
    history: dict[str, list[tuple[int, float | None]]] = {}
    rows = ModelVersion.objects.order_by("type_model", "version").values_list(
        "type_model", "version", metric
    )
    for kind, version, value in rows:
        history.setdefault(kind, []).append((version, value))
    return history


def list_versions_by_refs(refs: list[str]) -> tuple[list[ModelVersion], list[str]]:
    """The versions named by primary key or model name, each once in the order first named;
    and the references that name none."""
    by_name = {v.model_name: v for v in ModelVersion.objects.filter(model_name__in=refs)}
    pks = [ref for ref in refs if _is_primary_key(ref)]
    by_pk = {str(v.pk): v for v in ModelVersion.objects.filter(pk__in=pks)} if pks else {}
    versions: dict[object, ModelVersion] = {}
    unknown = []
    for ref in refs:
        version = by_name.get(ref) or by_pk.get(ref)
        if version is None:
            unknown.append(ref)
        else:
            versions.setdefault(version.pk, version)
    return list(versions.values()), unknown


def _is_primary_key(ref: str) -> bool:
    """Whether `ref` is a primary key as crossline writes it: a number on SQLite (within 64
    bits; `int()` would also take '٣'), an ObjectId's hex on MongoDB."""
    try:
        pk = ModelVersion._meta.pk.to_python(ref)
    except (ValidationError, ValueError, TypeError):
        return False
    return str(pk) == ref and not (isinstance(pk, int) and pk >= 2**63)


def list_threshold_policies() -> list[ThresholdPolicy]:
    """The policy of every kind with versions; kinds without a stored one get the default."""
    stored = {p.type_model: p for p in ThresholdPolicy.objects.select_related("updated_by")}
    kinds = sorted(set(ModelVersion.objects.values_list("type_model", flat=True)) | set(stored))
    return [stored.get(kind) or ThresholdPolicy(type_model=kind) for kind in kinds]


def get_threshold_policy_record(type_model: str) -> ThresholdPolicy:
    """A kind's policy (the default, unsaved, when none is stored); NotFound for a kind with
    no versions."""
    stored = ThresholdPolicy.objects.filter(type_model=type_model).first()
    if stored is not None:
        return stored
    if not ModelVersion.objects.filter(type_model=type_model).exists():
        raise NotFound(f"No model versions of kind {type_model!r}.")
    return ThresholdPolicy(type_model=type_model)
