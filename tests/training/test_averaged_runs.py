"""An averaged candidate through a training run: registered, stored, loaded, predicting and
explaining as its parts do (on either database)."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlmodels.models import ModelVersion
from mlmodels.services import LoadedModel, load_pipeline
from plant.imports import import_dataset
from plant.selectors import get_results_frame
from predictions.explanations import explain
from training.models import PipelineDefinition, TrainingRun
from training.pipeline.definition import PIPELINES_DIR
from training.pipeline.estimators import (
    AnyFailure,
    MeanLogOdds,
    columns_read,
    predict_positive,
)
from training.pipeline.reasons import typical_values
from training.runs import execute_training_run, start_training_run

pytestmark = pytest.mark.django_db

PARTS = ["relaxed_logistic", "screened_logistic", "pairwise_logistic"]


@pytest.fixture(scope="session")
def demo_700(tmp_path_factory):
    from plant.demo import generate_demo_data

    # Enough vehicles for the fail model to be judged on the time folds (out-of-fold scores
    # with fewer judged positives, where averages are not tried).
    return generate_demo_data(
        knrs=700, out_dir=tmp_path_factory.mktemp("demo700"), seed=11, tests_per_knr=20
    )


@pytest.fixture
def averaged_pipeline(demo_700, settings):
    settings.CROSSLINE_MIN_POSITIVES = 25
    settings.CROSSLINE_GATE_MIN_POSITIVES = 5
    settings.CROSSLINE_GATE_MIN_LIFT = 1.0
    for kind in ("results", "defects"):
        import_dataset(path=demo_700[kind], original_name=demo_700[kind].name, kind=kind)
    definition = json.loads((PIPELINES_DIR / "default.json").read_text())
    definition["name"] = "averaged"
    # Trees too weak to beat the average (one iteration): the average is what is chosen.
    definition["params"]["candidates"] = {"hist_gradient_boosting": [
        {"max_iter": 1, "early_stopping": False, "learning_rate": 0.01},
        *({"estimator": name, "alone": False} for name in PARTS),
        {"average": "averaged_logistic", "of": PARTS},
    ]}
    PipelineDefinition.objects.create(name="averaged", definition=definition)


def test_an_averaged_version_is_stored_loaded_and_explained(averaged_pipeline, demo_700):
    run = start_training_run(enqueue=False, pipeline_name="averaged")
    run = execute_training_run(str(run.pk))

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    fail = next(o for o in run.outcomes if o["kind"] == "fail")
    assert fail["estimator"].startswith("averaged_logistic"), fail
    version = ModelVersion.objects.get(training_run=run, type_model="fail")
    pipeline = load_pipeline(version)
    model = pipeline[-1]
    average = model.direct[-1] if isinstance(model, AnyFailure) else model
    assert isinstance(average, MeanLogOdds) and len(average.parts) == 3
    # Permutation importance ran through its parts at registration.
    importance = version.diagnostics["importance"]
    assert importance["method"] == "drop in PR-AUC when shuffled" and importance["features"]

    knrs = pd.read_csv(demo_700["results"], dtype=str, index_col=0)["KNR"].str.strip().unique()
    rows = get_results_frame(list(knrs[-150:]))
    batch = predict_positive(pipeline, rows)
    assert np.isfinite(batch).all() and batch.between(0, 1).all()
    riskiest = batch.idxmax()
    one = predict_positive(pipeline, rows[rows["KNR"] == riskiest])  # the compiled paths
    assert one.loc[riskiest] == pytest.approx(batch.loc[riskiest], rel=1e-9)

    # Its typical values (what reasons set an input to) are its parts', for every input read.
    features = pipeline.steps[0][1].transform(rows)
    alone = Pipeline([pipeline.steps[0], ("average", average)])
    read = features.columns[columns_read(alone[1:])]
    assert len(read) and set(read) <= set(typical_values(alone).median)
    reasons = explain(
        LoadedModel(version, pipeline),
        pipeline.steps[0][1].transform(rows[rows["KNR"] == riskiest]),
        rows[rows["KNR"] == riskiest],
    )
    assert reasons[riskiest] and all(r["risk_drop"] > 0 for r in reasons[riskiest])
