"""Each kind's outcome in a run (trained with which candidate, failed with its error, skipped for
too few positives), and the check that catches a fit whose probabilities are unusable before
they reach a threshold or a metric."""

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from crossline.domain import FAIL_KIND, fail_group_of, kind_label
from training.pipeline.estimators import positive_scores

TRAINED, FAILED, SKIPPED = "trained", "failed", "skipped"

# An error as stored with a run: one line, no longer than this (scikit-learn's messages run
# to a paragraph of advice after the first sentence that says what happened).
ERROR_CHARS = 300


class FitFailed(Exception):
    """Every candidate of a kind failed; `failures` maps each candidate to its error."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        super().__init__(f"every candidate failed ({', '.join(self.failures) or 'none given'})")


class KindsFailed(Exception):
    """No kind could be trained or scored; `failed` maps each failed kind to its failure."""

    def __init__(self, failed: dict[str, dict[str, Any]]) -> None:
        self.failed = dict(failed)
        told = "; ".join(f"{kind}: {failure['error']}" for kind, failure in self.failed.items())
        super().__init__(f"no kind could be trained: {told}")


def describe_error(error: BaseException) -> str:
    """The error's type and message on one line, cut to ERROR_CHARS."""
    text = re.sub(r"\s+", " ", f"{type(error).__name__}: {error}").strip()
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def kind_failure(step: str, error: BaseException, positives: int) -> dict[str, Any]:
    """A kind's failure as the run keeps it: the step, the error, each candidate's error."""
    return {
        "step": step,
        "error": describe_error(error),
        "positives": positives,
        "candidate_errors": dict(getattr(error, "failures", {})),
    }


def require_finite(scores: Any, what: str) -> np.ndarray:
    """The scores as floats, or ValueError when any is not a finite probability."""
    scores = np.asarray(scores, dtype=np.float64)
    bad = int((~np.isfinite(scores) | (scores < 0) | (scores > 1)).sum())
    if bad:
        raise ValueError(f"{bad} of {len(scores)} {what} are not finite probabilities")
    return scores


def checked_scores(estimator: Any, features: Any, what: str) -> np.ndarray:
    """P(positive) of a fitted estimator for each row, checked by `require_finite`."""
    return require_finite(positive_scores(estimator, features), what)


def registered_line(
    versions: dict[str, tuple[str, str | None]], failed: dict[str, dict[str, Any]],
    labels: Mapping[int, str],
) -> str:
    """A run's log line: the versions registered (kind → name and, below the activation gate,
    why), each with its kind in the team's words ("group_2-v1 (2 Central part)"), and the kinds
    that failed."""
    named = {kind: f"{name} ({kind_label(kind, labels)})" for kind, (name, _) in versions.items()}
    below = [f"{named[kind]}: {why}" for kind, (_, why) in versions.items() if why is not None]
    failures = [f"{kind} ({kind_label(kind, labels)}): {f['error']}" for kind, f in failed.items()]
    return (
        f"registered {', '.join(named.values())}"
        + (f"; below the activation gate: {'; '.join(below)}" if below else "")
        + (f"; failed: {'; '.join(failures)}" if failures else "")
    )


def kind_outcomes(result: dict[str, Any], model_names: dict[str, str]) -> list[dict[str, Any]]:
    """Every kind of a run's result, the fail model first: trained (the version registered,
    the candidate that won, the candidates that failed), failed or skipped."""
    outcomes = []
    for kind, entry in result["models"].items():
        if kind not in model_names:
            continue
        estimator = entry.get("estimator")
        if entry.get("combined_with"):
            estimator = (
                f"{estimator}, combined with the group models (direct model weighing "
                f"{entry['direct_weight']:g})"
            )
        outcomes.append(
            _outcome(kind, TRAINED, entry.get("n_train_positives"), entry.get("candidate_errors"),
                     model_name=model_names[kind], estimator=estimator)
        )
    for kind, failure in result.get("failed", {}).items():
        outcomes.append(
            _outcome(kind, FAILED, failure.get("positives"), failure.get("candidate_errors"),
                     step=failure["step"], error=failure["error"])
        )
    for kind, positives in result["skipped"].items():
        outcomes.append(_outcome(kind, SKIPPED, positives, None))
    return sorted(outcomes, key=lambda o: (o["kind"] != FAIL_KIND, fail_group_of(o["kind"]) or 0))


def _outcome(
    kind: str, status: str, positives: int | None, candidate_errors: dict[str, str] | None,
    **fields: str | None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "status": status,
        "model_name": None,
        "estimator": None,
        "step": None,
        "error": None,
        **fields,
        "positives": positives,
        "candidate_errors": [
            {"candidate": candidate, "error": error}
            for candidate, error in (candidate_errors or {}).items()
        ],
    }
