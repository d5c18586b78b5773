"""What a version carries for monitoring: its run's drift reference (a file in storage, shared by
the versions trained together), its ranking of the columns, and the production months of its
test scores, from which its estimated-performance reference is rebuilt at its threshold."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError

from crossline.exceptions import ArtifactTampered, NotFound
from mlmodels import drift, estimation, thresholds
from mlmodels.models import DriftReference, ModelVersion, VersionReference, VersionScores


def store_drift_reference(
    *, reference: dict[str, Any], feature_fingerprint: str, training_run: Any = None
) -> DriftReference:
    """Store a run's drift reference once (a second call for the same run and feature builder
    returns the first one)."""
    if training_run is not None:
        stored = DriftReference.objects.filter(
            training_run=training_run, feature_fingerprint=feature_fingerprint
        ).first()
        if stored is not None:
            return stored
    # mtime=0: the same reference gives the same bytes, hence the same SHA-256.
    payload = gzip.compress(json.dumps(reference, allow_nan=False).encode(), mtime=0)
    path = default_storage.save(
        f"drift/{feature_fingerprint[:12]}-{uuid.uuid4().hex[:12]}.json.gz", ContentFile(payload)
    )
    try:
        return DriftReference.objects.create(
            training_run=training_run,
            feature_fingerprint=feature_fingerprint,
            file=path,
            sha256=hashlib.sha256(payload).hexdigest(),
            size_bytes=len(payload),
            columns=len(reference["columns"]),
            vehicles=int(reference["vehicles"]),
            months=dict(reference.get("months", {})),
            warnings=list(reference.get("warnings", [])),
        )
    except IntegrityError:
        # Stored by a second attempt of the same run meanwhile: its row and file stand.
        default_storage.delete(path)
        return DriftReference.objects.get(
            training_run=training_run, feature_fingerprint=feature_fingerprint
        )
    except BaseException:
        default_storage.delete(path)
        raise


def load_drift_reference(stored: DriftReference) -> dict[str, Any]:
    """The reference's JSON, refused unless the file matches its SHA-256."""
    try:
        with default_storage.open(stored.file, "rb") as handle:
            payload = handle.read()
    except FileNotFoundError:
        raise NotFound(f"The drift reference {stored.file} is missing from storage.") from None
    if hashlib.sha256(payload).hexdigest() != stored.sha256:
        raise ArtifactTampered(
            f"The drift reference {stored.file} does not match its registered SHA-256."
        )
    return json.loads(gzip.decompress(payload))


def record_version_reference(
    *,
    version: ModelVersion,
    reference: DriftReference,
    importances: Iterable[Sequence[Any]] | None = None,
) -> VersionReference | None:
    """Link a version to its run's drift reference, with the importances that rank its columns
    (default: the top features its diagnostics keep); None if the version is gone."""
    if importances is None:
        importances = ((version.diagnostics or {}).get("importance") or {}).get("features") or []
    pairs = [[str(name), float(value)] for name, value in importances]
    if not ModelVersion.objects.filter(pk=version.pk).exists():
        # Deleted meanwhile (the reaper discarded its run): nothing to link.
        return None
    linked, _ = VersionReference.objects.update_or_create(
        version=version, defaults={"reference": reference, "importances": pairs}
    )
    return linked


def get_version_reference(version: ModelVersion) -> VersionReference | None:
    """The version's link to its drift reference, or None (trained before references)."""
    return VersionReference.objects.select_related("reference").filter(version=version).first()


def ranked_reference(reference: dict[str, Any], link: VersionReference) -> dict[str, Any]:
    """The shared reference as one version sees it: its columns ranked by its importances."""
    return {**reference, **drift.rank_columns(reference, link.importances)}


def release_unused_reference(reference_id: Any) -> bool:
    """Delete a drift reference (row and file) that no version links to any more."""
    if reference_id is None or VersionReference.objects.filter(reference_id=reference_id).exists():
        return False
    stored = DriftReference.objects.filter(pk=reference_id).first()
    if stored is None:
        return False
    stored.delete()
    default_storage.delete(stored.file)
    return True


# --- the months of the test scores -------------------------------------------------------------


def encode_months(months: Sequence[str]) -> list[list[Any]]:
    """Months in order as [month, count] runs: a handful for a test set in time order."""
    runs: list[list[Any]] = []
    for month in months:
        label = str(month)
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    return runs


def decode_months(runs: Sequence[Sequence[Any]]) -> list[str]:
    """The months `encode_months` encoded, one per score."""
    return [str(month) for month, count in runs for _ in range(int(count))]


def record_test_months(*, version: ModelVersion, months: Sequence[str]) -> bool:
    """Keep the production month of each of the version's test scores (in their order)."""
    scores = VersionScores.objects.filter(version=version).first()
    if scores is None or not scores.test:
        return False
    if len(months) != int(scores.test["n"]):
        raise ValueError(f"{len(months)} months for {scores.test['n']} test scores")
    return (
        VersionScores.objects.filter(pk=scores.pk).update(test_months=encode_months(months)) == 1
    )


def list_test_months(version: ModelVersion) -> list[str]:
    """The production month of each of the version's test scores ([] when not kept)."""
    scores = VersionScores.objects.filter(version=version).only("test_months").first()
    return decode_months(scores.test_months) if scores and scores.test_months else []


def get_performance_reference(version: ModelVersion) -> dict[str, Any] | None:
    """The version's estimated-performance reference at its current threshold, from its test
    scores (the version itself scoring vehicles it never learned from, in production order),
    by their production months; None without test scores."""
    scores = VersionScores.objects.filter(version=version).first()
    if scores is None or not scores.test:
        return None
    y, s = thresholds.decode_scores(scores.test)
    months = decode_months(scores.test_months) if scores.test_months else None
    return estimation.build_performance_reference(y, s, version.threshold, months)
