"""Versions of one kind side by side: each metric on its own test set, and each later version's
difference from the first (the active version, when it is among them). The admin's comparison
page and `GET /api/models/compare/` show these same numbers."""

from __future__ import annotations

from dataclasses import dataclass

from crossline.exceptions import InvalidInput, NotFound
from mlmodels.models import ModelVersion
from mlmodels.selectors import get_active_version, list_versions_by_refs

# The order people read them in: ranking quality first, then the shares at the threshold.
COMPARED_METRICS = (
    "pr_auc", "plain_pr_auc", "roc_auc", "recall", "precision", "flagged_share", "f1_score",
    "mcc", "accuracy", "threshold",
)
# Higher is better for every score; the threshold and the share flagged are choices, and the
# plain approach's PR-AUC is a yardstick.
NEUTRAL_METRICS = frozenset({"threshold", "flagged_share", "plain_pr_auc"})
# Differences smaller than this are rounding, neither better nor worse.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class ComparedVersion:
    """One version's metrics, and its differences from the first version compared."""

    version: ModelVersion
    is_active: bool
    metrics: dict[str, float | None]
    # None for the first version, and where either value is undefined.
    differences: dict[str, float | None]
    better: list[str]
    worse: list[str]


@dataclass(frozen=True)
class Comparison:
    """Versions of one kind in the order compared; the first is the baseline."""

    type_model: str
    versions: list[ComparedVersion]


def comparison_error(versions: list[ModelVersion]) -> str:
    """Why these versions cannot be compared side by side ("" when they can)."""
    if len(versions) < 2:
        return "Select two or more versions to compare."
    return kinds_error(versions)


def kinds_error(versions: list[ModelVersion]) -> str:
    """Why these versions are not of one kind ("" when they are)."""
    kinds = {v.type_model for v in versions}
    if len(kinds) > 1:
        return f"Compare versions of one kind (selected: {', '.join(sorted(kinds))})."
    return ""


def order_for_comparison(
    versions: list[ModelVersion], active: ModelVersion | None
) -> list[ModelVersion]:
    """The active version first (the baseline) when it is compared, then newest first."""
    return sorted(versions, key=lambda v: (active is None or v.pk != active.pk, -v.version))


def compare_versions(versions: list[ModelVersion], active: ModelVersion | None) -> Comparison:
    """Each version's metrics and its differences from the first, in the order given."""
    baseline = versions[0]
    compared = []
    for index, version in enumerate(versions):
        metrics = {name: getattr(version, name) for name in COMPARED_METRICS}
        differences: dict[str, float | None] = {}
        for name, value in metrics.items():
            first = getattr(baseline, name)
            differences[name] = (
                value - first if index and value is not None and first is not None else None
            )
        scored = {
            name: difference
            for name, difference in differences.items()
            if name not in NEUTRAL_METRICS and difference is not None
            and abs(difference) > TOLERANCE
        }
        compared.append(
            ComparedVersion(
                version=version,
                is_active=active is not None and version.pk == active.pk,
                metrics=metrics,
                differences=differences,
                better=[name for name, difference in scored.items() if difference > 0],
                worse=[name for name, difference in scored.items() if difference < 0],
            )
        )
    return Comparison(type_model=baseline.type_model, versions=compared)


def get_version_comparison(refs: list[str]) -> Comparison:
    """Versions named by primary key or model name, compared as the admin's page does: the
    active version first when it is named, then newest first. NotFound names a reference that
    matches no version; InvalidInput a selection of several kinds."""
    versions, unknown = list_versions_by_refs(refs)
    if unknown:
        raise NotFound(f"No model version {', '.join(repr(ref) for ref in unknown)}.")
    error = kinds_error(versions)
    if error:
        raise InvalidInput(error, field="ids")
    active = get_active_version(versions[0].type_model)
    return compare_versions(order_for_comparison(versions, active), active)
