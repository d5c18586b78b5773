"""An averaged candidate: the mean log-odds of candidates already judged, chosen like any
other, kept as one fitted object that predicts, explains and saves like its parts."""

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import Pipeline

from crossline.exceptions import InvalidPipeline
from training.pipeline import explain, fitting
from training.pipeline.definition import DEFAULT_PARAMS
from training.pipeline.estimators import (
    AnyFailure,
    MeanLogOdds,
    columns_read,
    make_pipeline,
    mean_log_odds,
    positive_scores,
    version_pipeline,
)
from training.pipeline.reasons import typical_values
from training.pipeline.screen import ScreenedReadings
from training.pipeline.steps import evaluate, train_models

from .test_fitting import assert_predictions, failing_fits, plain_data, poisoned_data  # noqa: F401

AVERAGED = ["relaxed_logistic", "screened_logistic", "pairwise_logistic"]


def averaged_only(**average) -> dict:
    """Parameters whose candidates are the average of three linear candidates and trees too
    weak to beat it (one iteration)."""
    return {
        "min_positives": 20,
        "candidates": {"hist_gradient_boosting": [
            {"max_iter": 1, "early_stopping": False, "learning_rate": 0.01},
            *({"estimator": name, "alone": False} for name in AVERAGED),
            {"average": "averaged_logistic", "of": AVERAGED, **average},
        ]},
    }


def test_the_mean_is_the_sigmoid_of_the_mean_log_odds_kept_off_zero_and_one():
    first, second = np.array([0.2, 0.9, 0.0, 1.0]), np.array([0.6, 0.5, 0.5, 1.0])

    mean = mean_log_odds([first, second])

    np.testing.assert_allclose(mean[:2], expit((logit(first[:2]) + logit(second[:2])) / 2))
    assert np.isfinite(mean).all() and ((mean > 0) & (mean < 1)).all()
    assert mean[2] < 0.01 and mean[3] > 0.99


def halves(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """A risk that is the sum of two readings, each candidate seeing one of them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a", "b"])
    p = expit(-2.0 + 1.5 * X["a"] + 1.5 * X["b"])
    return X, pd.Series((rng.random(n) < p).astype(int), index=X.index)


def one_column(name: str) -> Pipeline:
    return Pipeline([
        ("view", ColumnTransformer([(name, "passthrough", [name])])),
        ("model", LogisticRegression()),
    ])


def test_the_average_competes_with_its_parts_on_their_fold_scores_and_wins_when_better():
    X, y = halves(3000, seed=0)
    params = {**DEFAULT_PARAMS, "validation_share": 0.3, "folds": 2}
    templates = [one_column("a"), one_column("b")]

    fit = fitting.fit_kind(
        templates, ["a alone", "b alone", "both"], X, y, X.index, params, averages=[(0, 1)]
    )

    assert fit.chosen == 2
    folds = fitting.time_folds(X.index, params)
    parts = [fitting._judge_on_folds(template, X, y, folds) for template in templates]
    np.testing.assert_allclose(fit.scores, mean_log_odds([scores for _, scores in parts]))
    model = fit.estimator.steps[-1][1]
    assert isinstance(model, MeanLogOdds) and len(model.parts) == 2
    # Refitted, its parts are fitted on the whole period, linear ones too.
    whole = [fitting.fit_estimator(template, X, y) for template in templates]
    np.testing.assert_allclose(
        positive_scores(fit.estimator, X), mean_log_odds([positive_scores(m, X) for m in whole])
    )
    # Not refitted, they are the fits for the latest block: the scores there are its own.
    kept = fitting.fit_kind(templates, ["a alone", "b alone", "both"], X, y, X.index,
                            {**params, "refit": False}, averages=[(0, 1)])
    latest = folds[-1][1]
    np.testing.assert_allclose(
        positive_scores(kept.estimator, X.loc[latest]), kept.scores[-len(latest):], rtol=1e-12
    )


def test_an_average_that_wins_the_blocks_by_a_hair_needs_confidence_to_be_chosen():
    # The risk is nearly one reading's: the model of both readings and the average of it with
    # the one-reading model rank alike, and the average's log loss is lower by chance.
    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(3000, 2)), columns=["a", "b"])
    y = pd.Series((rng.random(3000) < expit(-2 + 1.5 * X["a"] + 0.3 * X["b"])).astype(int),
                  index=X.index)
    both = Pipeline([("view", ColumnTransformer([("ab", "passthrough", ["a", "b"])])),
                     ("model", LogisticRegression())])
    templates, labels = [one_column("a"), both], ["a alone", "a and b", "both averaged"]

    def chosen(confidence: float) -> int:
        params = {**DEFAULT_PARAMS, "validation_share": 0.3, "folds": 2,
                  "average_confidence": confidence}
        return fitting.fit_kind(templates, labels, X, y, X.index, params,
                                averages=[(0, 1)]).chosen

    assert chosen(0) == 2
    assert chosen(DEFAULT_PARAMS["average_confidence"]) == 1


def test_a_candidate_kept_for_the_averages_alone_is_never_chosen_by_itself():
    X, _ = halves(3000, seed=1)
    y = pd.Series((X["a"] > 1).astype(int), index=X.index)  # the first candidate is right
    params = {**DEFAULT_PARAMS, "validation_share": 0.3, "folds": 2}
    templates, labels = [one_column("a"), one_column("b")], ["a alone", "b alone", "both"]

    free = fitting.fit_kind(templates, labels, X, y, X.index, params, averages=[(0, 1)])
    kept = fitting.fit_kind(templates, labels, X, y, X.index, params, averages=[(0, 1)],
                            within_averages=frozenset({0}))

    assert free.chosen == 0
    assert kept.chosen == 2


def test_the_averaged_version_trains_predicts_and_saves_on_extreme_values(
    poisoned_data, tmp_path  # noqa: F811
):
    results, train, test, builder = poisoned_data

    trained = train_models(train, builder, averaged_only())
    evaluated = evaluate(trained, test, results)

    assert evaluated["failed"] == {} and evaluated["models"]
    for kind, entry in trained["models"].items():
        assert entry["estimator"] == "averaged_logistic", kind
        assert entry["candidate_errors"] == {}
        pipeline = entry["pipeline"]
        if kind == "fail" and "combined_with" in entry:
            pipeline = version_pipeline(builder, entry["pipeline"][-1].direct)
        average = pipeline[-1]
        assert isinstance(average, MeanLogOdds) and len(average.parts) == 3
        assert_predictions(entry["pipeline"], results, kind)
        # What it reads is what its parts read; nothing else can change its scores.
        read = columns_read(pipeline[1:])
        union = np.unique(np.concatenate([columns_read(part) for part in average.parts]))
        np.testing.assert_array_equal(read, union)
        path = tmp_path / f"{kind}.joblib"
        joblib.dump(entry["pipeline"], path)
        np.testing.assert_array_equal(
            joblib.load(path).predict_proba(results)[:, 1],
            entry["pipeline"].predict_proba(results)[:, 1],
        )
    rows = train.features.iloc[:8].copy()
    rows.iloc[:, :6] = np.tile([1e308, -1e308, 1e-308, np.inf, -np.inf, np.nan], (8, 1))
    scores = positive_scores(trained["models"]["group_2"]["pipeline"][1:], rows, any_size=True)
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()


def test_an_average_whose_part_failed_is_left_out_and_the_kind_trains_on_the_others(
    plain_data, monkeypatch  # noqa: F811
):
    _, train, _, builder = plain_data
    failing_fits(monkeypatch, lambda template, y: y.name == "group_2"
                 and isinstance(template.steps[0][1], ScreenedReadings))

    trained = train_models(train, builder, {"min_positives": 20})

    group_2 = trained["models"]["group_2"]
    assert group_2["candidate_errors"] == {
        "screened_logistic": "RuntimeError: no room to fit group_2",
        "averaged_logistic": "left out: screened_logistic failed",
    }
    assert group_2["estimator"] != "averaged_logistic"
    assert "averaged_logistic" not in trained["models"]["group_1"]["candidate_errors"]


@pytest.mark.parametrize(("candidates", "error"), [
    ([{}, {"average": "both", "of": ["hist_gradient_boosting", "relaxed"]}],
     "average 'both': no candidate 'relaxed' (candidates: hist_gradient_boosting)"),
    ([{}, {"estimator": "relaxed_logistic"}, {"average": "both", "of": ["relaxed_logistic"]}],
     "average 'both': 'of' must list two candidates or more"),
    ([{}, {"estimator": "relaxed_logistic"},
      {"average": "relaxed_logistic", "of": ["hist_gradient_boosting", "relaxed_logistic"]}],
     "average 'relaxed_logistic': needs a name of its own"),
    ([{}, {"estimator": "relaxed_logistic", "alone": False}],
     "relaxed_logistic: not to be chosen alone, yet in no average"),
    ([{"alone": False}, {"estimator": "relaxed_logistic", "alone": False},
      {"average": "both", "of": ["hist_gradient_boosting", "relaxed_logistic"]}],
     "every candidate is kept for averages: one must stand alone"),
])
def test_an_average_of_unknown_candidates_is_refused_before_any_fit(
    plain_data, monkeypatch, candidates, error  # noqa: F811
):
    _, train, _, builder = plain_data
    failing_fits(monkeypatch, lambda template, y: pytest.fail("fitted before the check"))

    with pytest.raises(InvalidPipeline) as refused:
        train_models(train, builder, {"candidates": {"hist_gradient_boosting": candidates}})
    assert str(refused.value) == error


@pytest.fixture(scope="module")
def averaged():
    rng = np.random.default_rng(2)
    names = [*(f"value|T{c}#2|1" for c in "abcd"), "runs|Te#2", "n_nok"]
    X = pd.DataFrame(rng.normal(size=(400, 6)), columns=names)
    y = ((X.iloc[:, 0] + X.iloc[:, 1] > 1) | (X.iloc[:, 4] > 1.3)).astype(int)
    parts = [
        make_pipeline("relaxed_logistic").fit(X, y),  # reads the readings alone
        make_pipeline("hist_gradient_boosting", options={"max_iter": 10, "max_depth": 2})
        .fit(X, y),
    ]
    return X, y.to_numpy(), Pipeline([("average", MeanLogOdds(parts))])


def test_an_average_is_explained_by_re_scoring_only_the_parts_a_column_feeds(
    averaged, monkeypatch
):
    X, y, average = averaged
    parts = average[-1].parts
    direct = make_pipeline("logistic_regression").fit(X, y)
    # Nested in a combined fail model, still taken apart down to the parts scored alone.
    combined = Pipeline([("any", AnyFailure(direct, [average, parts[1]], direct_weight=0.3))])
    for model, leaves in ((average, parts), (combined, [direct, *parts, parts[1]])):
        found, join = explain._scoring_parts(model)
        assert [id(m) for m in found] == [id(m) for m in leaves]
        np.testing.assert_allclose(
            join([positive_scores(m, X) for m in found]), model.predict_proba(X)[:, 1],
            rtol=1e-12,
        )
    viewed: list[object] = []
    original_of = explain._View.of.__func__
    monkeypatch.setattr(explain._View, "of", classmethod(
        lambda cls, part, features: viewed.append(part) or original_of(cls, part, features)
    ))

    drops = explain._permutation_drops(average, X, y, random_state=0)

    assert [id(v) for v in viewed] == [id(p) for p in parts]
    rng = np.random.default_rng(0)
    whole = average.predict_proba(X)[:, 1]
    for j in sorted(columns_read(average)):
        moved = X.copy()
        moved.iloc[:, j] = rng.permutation(moved.iloc[:, j].to_numpy())
        expected = average_precision_score(y, whole) - average_precision_score(
            y, average.predict_proba(moved)[:, 1]
        )
        assert drops[j] == pytest.approx(expected, abs=1e-12)
    assert set(np.flatnonzero(drops)) <= set(columns_read(average))


def test_an_averaged_versions_typical_values_are_its_parts(averaged):
    X, _, average = averaged
    version = Pipeline([("features", "passthrough"), *average.steps])

    typical = typical_values(version)

    # The first part keeps the four readings; the second adds the other columns.
    assert set(typical.median) == set(X.columns)
    first = typical_values(Pipeline([("features", "passthrough"), *average[-1].parts[0].steps]))
    assert set(first.median) == set(X.columns[:4])
    assert all(typical.median[name] == first.median[name] for name in first.median)
