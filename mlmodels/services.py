"""Writes to the model registry: registering versions, activating them, loading artifacts."""

import hashlib
import io
import platform
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import joblib
import numpy
import pandas
import sklearn
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from crossline.exceptions import (
    AlreadyActive,
    ArtifactTampered,
    Conflict,
    IneligibleVersion,
    InvalidInput,
    NoActiveModel,
    NotFound,
)
from mlmodels import thresholds
from mlmodels.gate import Eligibility, check_eligibility, count_test_set
from mlmodels.models import (
    Activation,
    ActiveModel,
    ModelVersion,
    ThresholdPolicy,
    VersionScores,
)
from mlmodels.signals import model_version_activated

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


Scores = dict[str, Any]  # {"y_true": [0/1 …], "scores": [float …]}
# {"folds", "vehicles", "positives", "pr_auc", "plain_pr_auc"}: every vehicle judged out of time.
Judged = dict[str, Any]


def _has_scores(scores: Scores | None) -> bool:
    return bool(scores) and len(scores.get("scores") or []) > 0


def judge_eligibility(metrics: dict[str, Any], judged: Judged | None = None) -> Eligibility:
    """The activation gate, with today's settings, applied to every vehicle the version was
    judged on out of time (`judged`: the time folds and the test set), else to its test set."""
    if judged:
        folds = judged["folds"]
        return check_eligibility(
            positives=judged["positives"],
            vehicles=judged["vehicles"],
            pr_auc=judged.get("pr_auc"),
            min_positives=settings.CROSSLINE_GATE_MIN_POSITIVES,
            min_lift=settings.CROSSLINE_GATE_MIN_LIFT,
            evidence=(
                f"{folds} time fold{'s' if folds != 1 else ''} ({judged['vehicles']:,} vehicles)"
            ),
        )
    positives, vehicles = count_test_set(metrics)
    return check_eligibility(
        positives=positives,
        vehicles=vehicles,
        pr_auc=metrics.get("pr_auc"),
        min_positives=settings.CROSSLINE_GATE_MIN_POSITIVES,
        min_lift=settings.CROSSLINE_GATE_MIN_LIFT,
    )


def get_threshold_policy(type_model: str) -> tuple[str, float | None]:
    """(policy, value) for a kind: its ThresholdPolicy, else the default F2."""
    stored = ThresholdPolicy.objects.filter(type_model=type_model).first()
    return (stored.policy, stored.value) if stored else (thresholds.F2, None)


def threshold_fields(
    *, type_model: str, heldout: dict[str, Any] | None, test: dict[str, Any] | None
) -> dict[str, Any]:
    """A version's threshold from its held-out scores under the kind's policy, and the
    threshold-dependent test-set metrics at it; empty without held-out scores."""
    if not heldout:
        return {}
    policy, value = get_threshold_policy(type_model)
    threshold = thresholds.choose_threshold(*thresholds.decode_scores(heldout), policy=policy,
                                            value=value)
    fields: dict[str, Any] = {
        "threshold": threshold,
        "threshold_policy": thresholds.describe_policy(policy, value),
    }
    if test:
        at = thresholds.metrics_at_threshold(*thresholds.decode_scores(test), threshold)
        fields.update({name: at[name] for name in THRESHOLD_METRICS})
    return fields


# The metrics that move with the threshold (PR-AUC and ROC-AUC do not).
THRESHOLD_METRICS = (
    "accuracy", "precision", "recall", "f1_score", "mcc", "confusion_matrix", "flagged_share"
)


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
    heldout: Scores | None = None,
    test_scores: Scores | None = None,
    judged: Judged | None = None,
) -> ModelVersion:
    """Store a fitted Pipeline as a joblib artifact and register it as the next version.

    With held-out scores the threshold follows the kind's policy (`threshold` is then only
    the training's suggestion); with test scores the threshold-dependent metrics are
    computed at that threshold. The activation gate is judged here, on `judged` (every
    vehicle judged out of time) if given, else on the test set, and stored.
    """
    encoded_heldout = (
        thresholds.encode_scores(heldout["y_true"], heldout["scores"])
        if _has_scores(heldout) else None
    )
    encoded_test = (
        thresholds.encode_scores(test_scores["y_true"], test_scores["scores"])
        if _has_scores(test_scores) else None
    )
    fields: dict[str, Any] = {
        "threshold": float(threshold),
        "threshold_policy": "chosen in training",
        **{field: metrics.get(field) for field in METRIC_FIELDS},
        "confusion_matrix": metrics.get("confusion_matrix", []),
        "flagged_share": _flagged_share(metrics.get("confusion_matrix")),
    }
    fields.update(
        threshold_fields(type_model=type_model, heldout=encoded_heldout, test=encoded_test)
    )
    gate = judge_eligibility({**metrics, "confusion_matrix": fields["confusion_matrix"]}, judged)
    test_positives, test_vehicles = count_test_set({"confusion_matrix": fields["confusion_matrix"]})
    judged = judged or {}

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
                registered = ModelVersion.objects.create(
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
                    support=metrics.get("support", {}),
                    test_positives=test_positives,
                    test_prevalence=test_positives / test_vehicles if test_vehicles else None,
                    plain_pr_auc=metrics.get("plain_pr_auc"),
                    judged_folds=judged.get("folds"),
                    judged_vehicles=judged.get("vehicles"),
                    judged_positives=judged.get("positives"),
                    judged_pr_auc=judged.get("pr_auc"),
                    judged_plain_pr_auc=judged.get("plain_pr_auc"),
                    eligible=gate.eligible,
                    eligibility=gate.reason[:255],
                    diagnostics=diagnostics or {},
                    **fields,
                )
        except IntegrityError:
            # Another run registered the same version number first: take the next one.
            default_storage.delete(path)
            continue
        except BaseException:
            default_storage.delete(path)
            raise
        if encoded_heldout or encoded_test:
            try:
                VersionScores.objects.create(
                    version=registered, heldout=encoded_heldout, test=encoded_test
                )
            except BaseException:
                registered.delete()
                default_storage.delete(path)
                raise
        return registered
    raise Conflict(f"Could not register a new {type_model} version: too many concurrent writers.")


def _flagged_share(matrix: Any) -> float | None:
    try:
        (tn, fp), (fn, tp) = matrix
    except (TypeError, ValueError):
        return None
    total = tn + fp + fn + tp
    return (fp + tp) / total if total else None


def set_threshold_policy(
    *, type_model: str, policy: str, value: float | None = None, user=None
) -> ThresholdPolicy:
    """Choose how a kind's threshold is set, and recompute its versions' thresholds now."""
    try:
        value = thresholds.validate_policy(policy, value)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if not ModelVersion.objects.filter(type_model=type_model).exists():
        raise NotFound(f"No model versions of kind {type_model!r}.")
    user = user if getattr(user, "is_authenticated", False) else None
    try:
        stored, _ = ThresholdPolicy.objects.update_or_create(
            type_model=type_model, defaults={"policy": policy, "value": value, "updated_by": user}
        )
    except IntegrityError:
        # Another request created the kind's row first: this change is the later one.
        ThresholdPolicy.objects.filter(type_model=type_model).update(
            policy=policy, value=value, updated_by=user, updated_at=timezone.now()
        )
        stored = ThresholdPolicy.objects.get(type_model=type_model)
    recompute_thresholds(type_model=type_model)
    return stored


def recompute_thresholds(*, type_model: str) -> list[ModelVersion]:
    """Apply the kind's policy to every version with stored held-out scores (no retraining)."""
    updated = []
    for scores in VersionScores.objects.filter(version__type_model=type_model):
        fields = threshold_fields(type_model=type_model, heldout=scores.heldout, test=scores.test)
        if fields:
            ModelVersion.objects.filter(pk=scores.version_id).update(**fields)
            updated.append(scores.version_id)
    return list(ModelVersion.objects.filter(pk__in=updated))


def read_verified_artifact(version: ModelVersion) -> bytes:
    """A version's artifact bytes, refused unless they match the registered SHA-256."""
    try:
        with default_storage.open(version.artifact_path, "rb") as stored:
            payload = stored.read()
    except FileNotFoundError:
        raise NotFound(f"The artifact of {version.model_name} is missing from storage.") from None
    if hashlib.sha256(payload).hexdigest() != version.artifact_sha256:
        # joblib is pickle: an artifact that is not byte-for-byte what crossline wrote is never
        # unpickled, nor set as active.
        raise ArtifactTampered(
            f"The artifact of {version.model_name} does not match its registered SHA-256; "
            "it was not loaded."
        )
    return payload


def activate_model_version(
    *, version: ModelVersion, user=None, reason: str = "", override: bool = False
) -> Activation:
    """Make `version` the one active version of its kind; returns the history row written.

    A version below the activation gate needs `override=True` and a reason (else
    IneligibleVersion); the artifact is checked against its SHA-256 first (ArtifactTampered);
    the version already active is a no-op (AlreadyActive). Nothing changes on any refusal.
    """
    reason = (reason or "").strip()
    if ModelVersion.objects.filter(pk=version.pk, archived_at__isnull=False).exists():
        raise Conflict(
            f"{version.model_name} is archived: unarchive it before setting it as active."
        )
    if not version.eligible:
        if not override:
            raise IneligibleVersion(
                f"{version.model_name} is below the activation gate ({version.eligibility}); "
                "activating it needs an override with a reason."
            )
        if not reason:
            raise IneligibleVersion(
                f"{version.model_name} is below the activation gate: give the reason for the "
                "override."
            )
    read_verified_artifact(version)
    user = user if getattr(user, "is_authenticated", False) else None
    activation = _move_pointer(
        version, user=user, reason=reason, override=not version.eligible, expected=_ANY
    )
    assert activation is not None
    # An archive racing this activation may have flagged the version after the check above;
    # the active version is never archived (the archive looks at the pointer after its write).
    ModelVersion.objects.filter(pk=version.pk, archived_at__isnull=False).update(archived_at=None)
    return activation


_ANY = object()


def _move_pointer(
    version: ModelVersion, *, user, reason: str, override: bool, expected: Any
) -> Activation | None:
    """Compare-and-set the kind's pointer to `version`, then record what it replaced.

    `expected` is the version id the pointer must hold (None: no pointer yet), or _ANY; when
    the pointer holds something else the move is not made and None is returned.
    """
    kind = version.type_model
    for _attempt in range(ACTIVATION_ATTEMPTS):
        current = (
            ActiveModel.objects.filter(type_model=kind).values("version_id", "generation").first()
        )
        current_id = current["version_id"] if current else None
        if expected is not _ANY and current_id != expected:
            return None
        if current_id == version.pk:
            raise AlreadyActive(f"{version.model_name} is already the active {kind} model.")
        now = timezone.now()
        fields = {
            "version": version, "activated_at": now, "activated_by": user, "override": override
        }
        if current is None:
            generation = 1
            try:
                with transaction.atomic():
                    ActiveModel.objects.create(type_model=kind, generation=generation, **fields)
            except IntegrityError:
                continue  # Another activation created the pointer first: compare against it.
        else:
            # Compare-and-set on the version and the generation: the move happens only if no
            # other activation came between the read and this write, so the history row below
            # records the version this activation really replaced.
            generation = current["generation"] + 1
            moved = ActiveModel.objects.filter(
                type_model=kind, version_id=current_id, generation=current["generation"]
            ).update(generation=generation, **fields)
            if moved != 1:
                continue
        activation = Activation.objects.create(
            type_model=kind,
            version=version,
            previous_version_id=current_id,
            activated_by=user,
            activated_at=now,
            sequence=generation,
            override=override,
            reason=reason[:200],
        )
        model_version_activated.send_robust(sender=Activation, activation=activation)
        return activation
    raise Conflict(f"Could not activate {version.model_name}: too many concurrent activations.")


def activate_model_by_name(
    *, model_name: str, user=None, reason: str = "", override: bool = False
) -> Activation:
    """Activate the version called `model_name`."""
    version = ModelVersion.objects.filter(model_name=model_name).first()
    if version is None:
        raise NotFound(f"No model version named {model_name!r}.")
    return activate_model_version(version=version, user=user, reason=reason, override=override)


def activate_if_none_active(*, version: ModelVersion) -> bool:
    """Activate an eligible `version` when its kind has no version able to predict (the first
    training, or an active version below the gate without an override); never an ineligible one.
    """
    if not version.eligible or version.archived:
        return False
    pointer = ActiveModel.objects.select_related("version").filter(
        type_model=version.type_model
    ).first()
    if pointer is not None and (pointer.override or pointer.version.eligible):
        return False
    try:
        read_verified_artifact(version)
        activation = _move_pointer(
            version,
            user=None,
            reason=(
                "first trained version of its kind" if pointer is None
                else f"first eligible version of its kind (replaces {pointer.version.model_name})"
            ),
            override=False,
            expected=pointer.version_id if pointer else None,
        )
    except AlreadyActive:
        return False
    return activation is not None


def load_pipeline(version: ModelVersion) -> Any:
    """Load a version's fitted Pipeline after checking its artifact against the registry."""
    return joblib.load(io.BytesIO(read_verified_artifact(version)))


@dataclass(frozen=True)
class LoadedModel:
    """An active version with its fitted Pipeline, as cached by a process."""

    version: ModelVersion
    pipeline: Any


# What makes a kind's loaded model current, read on every request in one light query: its
# pointer (moved by every activation, in any process) and the fields of its version that the
# artifact, the gate and a threshold policy change write. Annotations, not `values()` across
# the foreign key: MongoDB (mongoeco) answers fields projected across a join with 1.
_VERSION_FIELDS = {
    f"version_{name}": F(f"version__{name}")
    for name in ("artifact_sha256", "eligible", "threshold", "threshold_policy")
}
_CURRENT = ("type_model", "version_id", "generation", "override", *_VERSION_FIELDS)
_cache: dict[str, tuple[tuple[Any, ...], LoadedModel]] = {}
_cache_lock = threading.Lock()
# `last_used` is written at most this often per version: the write was a query (and on SQLite
# the database's write lock) in every prediction.
MARK_USED_EVERY = timedelta(minutes=1)
_marked: dict[Any, datetime] = {}
_NEVER = datetime.min.replace(tzinfo=UTC)


def get_active_models() -> dict[str, LoadedModel]:
    """The active version of every kind that may predict (eligible, or activated with an
    override), loaded; a kind is reloaded when its pointer or its version's threshold, gate or
    artifact has changed, by this process or another.

    A kind without one (the fails-at-all kind included) is left out, never guessed;
    NoActiveModel only when no kind at all can predict.
    """
    usable = {
        row.type_model: row
        for row in ActiveModel.objects.annotate(**_VERSION_FIELDS).values_list(
            *_CURRENT, named=True
        )
        if row.override or row.version_eligible
    }
    if not usable:
        below = ", ".join(
            f"{p.version.model_name} ({p.version.eligibility})"
            for p in ActiveModel.objects.select_related("version")
        )
        raise NoActiveModel(
            "No active model able to predict: train one, or set a version as active."
            + (f" Active but below the activation gate: {below}." if below else "")
        )
    with _cache_lock:
        for kind in list(_cache):
            if kind not in usable:
                del _cache[kind]
        stale = [kind for kind, key in usable.items() if _cache.get(kind, (None,))[0] != key]
        fresh = ModelVersion.objects.in_bulk([usable[kind].version_id for kind in stale])
        for kind in stale:
            version = fresh[usable[kind].version_id]
            cached = _cache.get(kind)
            if cached is not None and _same_artifact(cached[1].version, version):
                # A new threshold, gate or pointer generation: the same fitted model.
                loaded = LoadedModel(version=version, pipeline=cached[1].pipeline)
            else:
                loaded = LoadedModel(version=version, pipeline=load_pipeline(version))
            _cache[kind] = (usable[kind], loaded)
        return {kind: loaded for kind, (_, loaded) in _cache.items()}


def _same_artifact(cached: ModelVersion, version: ModelVersion) -> bool:
    return (cached.pk, cached.artifact_sha256) == (version.pk, version.artifact_sha256)


def clear_model_cache() -> None:
    """Forget every loaded model (tests; after restoring a database)."""
    with _cache_lock:
        _cache.clear()
        _marked.clear()


def mark_models_used(versions: list[ModelVersion]) -> None:
    """Record that these versions made a prediction now (to the minute)."""
    now = timezone.now()
    with _cache_lock:
        due = [v.pk for v in versions if now - _marked.get(v.pk, _NEVER) >= MARK_USED_EVERY]
        _marked.update(dict.fromkeys(due, now))
    if due:
        ModelVersion.objects.filter(pk__in=due).update(last_used=now)
