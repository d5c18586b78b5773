"""Registry fixtures: tiny real scikit-learn pipelines registered through the service."""

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlmodels.models import ModelVersion
from mlmodels.services import register_model_version

METRICS = {
    "accuracy": 0.81,
    "precision": 0.52,
    "recall": 0.74,
    "f1_score": 0.61,
    "roc_auc": 0.83,
    "pr_auc": 0.66,
    "mcc": 0.41,
    "confusion_matrix": [[100, 30], [20, 50]],  # 70 positives of 200: clears the gate
    "support": {"positives": 70, "negatives": 130},
}


@pytest.fixture(scope="session")
def tiny_pipeline() -> Pipeline:
    """A LogisticRegression with its scaler, fitted on 20 rows."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(20, 3))
    labels = (features[:, 0] + 0.3 * features[:, 1] > 0).astype(int)
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
        features, labels
    )


# A test set of 200 vehicles with 12 positives (below the gate's 30).
FEW_POSITIVES = {"confusion_matrix": [[180, 8], [4, 8]]}
# 70 positives of 200 (prevalence 0.35): PR-AUC 0.40 is below the gate's 0.447 (odds 1.5× 0.35's).
NO_SKILL = {"pr_auc": 0.40}
# Four time folds (three blocks of the training period and the test set) of 1,320 vehicles with
# 66 positives (prevalence 0.05): PR-AUC 0.31 clears the gate's 0.073.
JUDGED = {"folds": 4, "vehicles": 1320, "positives": 66, "pr_auc": 0.31, "plain_pr_auc": 0.27}


@pytest.fixture
def register(tiny_pipeline) -> Callable[..., ModelVersion]:
    """Register the next version of a kind; keyword metrics override the defaults."""

    def register_version(
        type_model: str = "fail",
        threshold: float = 0.35,
        heldout: dict | None = None,
        test_scores: dict | None = None,
        judged: dict | None = None,
        **metrics,
    ):
        return register_model_version(
            type_model=type_model,
            pipeline=tiny_pipeline,
            threshold=threshold,
            metrics={**METRICS, **metrics},
            data={"datasets": [{"id": "1", "kind": "results", "sha256": "0" * 64,
                                "name": "results.csv"}]},
            heldout=heldout,
            test_scores=test_scores,
            judged=judged,
        )

    return register_version
