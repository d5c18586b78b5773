"""Writes to the model registry: registering versions, activating them, loading artifacts."""

import hashlib
import io
import platform
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import joblib
import numpy
import pandas
import sklearn
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError
from django.utils import timezone

from crossline.domain import FAIL_KIND
from crossline.exceptions import ArtifactTampered, Conflict, NoActiveModel, NotFound
from mlmodels.models import Activation, ActiveModel, ModelVersion

METRIC_FIELDS = ("accuracy", "precision", "recall", "f1_score", "roc_auc", "pr_auc", "mcc")
# Each failed compare-and-set means another activation succeeded, so this bounds only how many
# activations of one kind may race at once.
ACTIVATION_ATTEMPTS = 50


def library_versions() -> dict[str, str]:
    """The versions a fitted Pipeline depends on when it is loaded again."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "joblib": joblib.__version__,
    }


def register_model_version(
    *,
    type_model: str,
    pipeline: Any,
    threshold: float,
    metrics: dict[str, Any],
    training_run=None,
    data: dict | None = None,
    pipeline_name: str = "",
    feature_count: int = 0,
    n_train: int = 0,
    n_test: int = 0,
    diagnostics: dict | None = None,
) -> ModelVersion:
    """Store a fitted Pipeline as a joblib artifact and register it as the next version."""
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer, compress=3)
    payload = buffer.getvalue()
    sha256 = hashlib.sha256(payload).hexdigest()
    for _attempt in range(5):
        version = (
            ModelVersion.objects.filter(type_model=type_model).aggregate(n=Max("version"))["n"] or 0
        ) + 1
        model_name = f"{type_model}-v{version}"
        # A name of its own per attempt: GridFS replaces a file saved under an existing name, so
        # two writers racing for the same version number would otherwise delete each other's
        # artifact when the loser cleans up.
        path = default_storage.save(
            f"artifacts/{type_model}/{model_name}-{uuid.uuid4().hex[:12]}.joblib",
            ContentFile(payload),
        )
        try:
            # A savepoint, so that on SQLite a duplicate inside a caller's transaction can be
            # retried; on MongoDB it does nothing and the unique index alone decides.
            with transaction.atomic():
                return ModelVersion.objects.create(
                    type_model=type_model,
                    model_name=model_name,
                    version=version,
                    artifact_path=path,
                    artifact_sha256=sha256,
                    training_run=training_run,
                    data=data or {},
                    pipeline_name=pipeline_name,
                    library_versions=library_versions(),
                    feature_count=feature_count,
                    n_train=n_train,
                    n_test=n_test,
                    confusion_matrix=metrics.get("confusion_matrix", []),
                    support=metrics.get("support", {}),
                    threshold=threshold,
                    diagnostics=diagnostics or {},
                    **{field: metrics.get(field) for field in METRIC_FIELDS},
                )
        except IntegrityError:
            # Another run registered the same version number first: take the next one.
            default_storage.delete(path)
        except BaseException:
            default_storage.delete(path)
            raise
    raise Conflict(f"Could not register a new {type_model} version: too many concurrent writers.")


def activate_model_version(*, version: ModelVersion, user=None, reason: str = "") -> ActiveModel:
    """Make `version` the one active version of its kind: one write on the kind's pointer row."""
    kind = version.type_model
    for _attempt in range(ACTIVATION_ATTEMPTS):
        now = timezone.now()
        fields = {"version": version, "activated_at": now, "activated_by": user}
        previous_id = (
            ActiveModel.objects.filter(type_model=kind).values_list("version_id", flat=True).first()
        )
        if previous_id is None:
            try:
                with transaction.atomic():
                    pointer = ActiveModel.objects.create(type_model=kind, **fields)
            except IntegrityError:
                continue  # Another activation created the pointer first: compare against it.
        else:
            # Compare-and-set: move the pointer only if it still points where we read it, so the
            # history records the version each activation really replaced.
            moved = ActiveModel.objects.filter(type_model=kind, version_id=previous_id).update(
                **fields
            )
            if moved != 1:
                continue
            pointer = ActiveModel.objects.get(type_model=kind)
        Activation.objects.create(
            type_model=kind,
            version=version,
            previous_version_id=previous_id,
            activated_by=user,
            activated_at=now,
            reason=reason,
        )
        return pointer
    raise Conflict(f"Could not activate {version.model_name}: too many concurrent activations.")


def activate_model_by_name(*, model_name: str, user=None, reason: str = "") -> ActiveModel:
    """Activate the version called `model_name`."""
    version = ModelVersion.objects.filter(model_name=model_name).first()
    if version is None:
        raise NotFound(f"No model version named {model_name!r}.")
    return activate_model_version(version=version, user=user, reason=reason)


def activate_if_none_active(*, version: ModelVersion) -> bool:
    """Activate `version` when its kind has no active version yet (the first training)."""
    if ActiveModel.objects.filter(type_model=version.type_model).exists():
        return False
    try:
        with transaction.atomic():
            ActiveModel.objects.create(
                type_model=version.type_model, version=version, activated_at=timezone.now()
            )
    except IntegrityError:
        return False
    Activation.objects.create(
        type_model=version.type_model,
        version=version,
        activated_at=timezone.now(),
        reason="first trained version of its kind",
    )
    return True


def delete_model_version(*, version: ModelVersion) -> None:
    """Delete a version and its artifact; the active version of a kind cannot be deleted."""
    if ActiveModel.objects.filter(version=version).exists():
        raise Conflict(
            f"{version.model_name} is the active {version.type_model} model: activate "
            "another version first."
        )
    path = version.artifact_path
    try:
        version.delete()
    except ProtectedError:
        # It was set as active between the check above and the delete.
        raise Conflict(
            f"{version.model_name} was just set as active; it was not deleted."
        ) from None
    default_storage.delete(path)


def load_pipeline(version: ModelVersion) -> Any:
    """Load a version's fitted Pipeline after checking its artifact against the registry."""
    try:
        with default_storage.open(version.artifact_path, "rb") as stored:
            payload = stored.read()
    except FileNotFoundError:
        raise NotFound(f"The artifact of {version.model_name} is missing from storage.") from None
    if hashlib.sha256(payload).hexdigest() != version.artifact_sha256:
        # joblib is pickle: an artifact that is not byte-for-byte what crossline wrote is never
        # unpickled.
        raise ArtifactTampered(
            f"The artifact of {version.model_name} does not match its registered SHA-256; "
            "it was not loaded."
        )
    return joblib.load(io.BytesIO(payload))


@dataclass(frozen=True)
class LoadedModel:
    """An active version with its fitted Pipeline, as cached by a process."""

    version: ModelVersion
    pipeline: Any


_cache: dict[str, LoadedModel] = {}
_cache_lock = threading.Lock()


def get_active_models() -> dict[str, LoadedModel]:
    """The active version of every kind, loaded; reloads a kind when its pointer has moved."""
    pointers = {
        pointer.type_model: pointer.version
        for pointer in ActiveModel.objects.select_related("version")
    }
    if FAIL_KIND not in pointers:
        raise NoActiveModel("No active fails-at-all model: train one, or set a version as active.")
    with _cache_lock:
        for kind in list(_cache):
            if kind not in pointers:
                del _cache[kind]
        for kind, version in pointers.items():
            cached = _cache.get(kind)
            if cached is None or cached.version.pk != version.pk:
                _cache[kind] = LoadedModel(version=version, pipeline=load_pipeline(version))
        return dict(_cache)


def clear_model_cache() -> None:
    """Forget every loaded model (tests; after restoring a database)."""
    with _cache_lock:
        _cache.clear()


def mark_models_used(versions: list[ModelVersion]) -> None:
    """Record that these versions made a prediction now."""
    ModelVersion.objects.filter(pk__in=[v.pk for v in versions]).update(last_used=timezone.now())
