"""Fits that cannot be poisoned: every candidate on extreme values, and failures kept apart."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from crossline.domain import FAIL_KIND
from training.pipeline import fitting
from training.pipeline.definition import list_definition_files, load_definition_file
from training.pipeline.estimators import (
    ESTIMATORS,
    AnyFailure,
    SparseLogistic,
    make_pipeline,
    positive_scores,
    predict_positive,
    version_pipeline,
)
from training.pipeline.fitting import fit_estimator
from training.pipeline.outcomes import KindsFailed, kind_outcomes
from training.pipeline.steps import (
    COMBINED,
    build_features,
    build_labels,
    clean,
    evaluate,
    split_by_time,
    train_models,
)

from .test_steps import defect_row, result_row, several_causes

# What a plant export may carry in VALUE, and what a DataFrame given to prediction may carry.
EXTREMES = (1e308, -1e308, 1e-308, np.inf, -np.inf, np.nan)


def every_candidate() -> list[dict]:
    """Each registered estimator, and each candidate of the shipped pipeline definitions:
    an estimator or a candidate added later is covered without touching this test."""
    candidates = [{"estimator": name} for name in sorted(ESTIMATORS)]
    for path in list_definition_files():
        for name, listed in load_definition_file(path).params.get("candidates", {}).items():
            # An average is its parts' fits (test_averaged.py); a part kept for averages
            # only is fitted here as a candidate of its own.
            candidates += [
                {"estimator": name, **{k: v for k, v in candidate.items() if k != "alone"}}
                for candidate in listed
                if "average" not in candidate
            ]
    unique = {tuple(sorted(c.items())): c for c in candidates}
    return list(unique.values())


def poisoned(results: pd.DataFrame) -> pd.DataFrame:
    """The rows, one reading of every tenth vehicle replaced by an extreme value in turn, with
    a test that only the oldest vehicles ran (all missing afterwards: in the held-out part and
    the test set) and one that only the newest ran (all missing in the older part)."""
    results = results.copy()
    knrs = np.array(sorted(results["KNR"].unique()))
    tests = np.array(sorted(results["NAME"].unique()))
    spoilt = pd.DataFrame({"KNR": knrs[::10], "NAME": np.resize(tests, len(knrs[::10]))})
    hit = results[["KNR", "NAME"]].merge(spoilt, how="left", indicator=True)["_merge"] == "both"
    results.loc[hit.to_numpy(), "VALUE"] = np.resize(np.array(EXTREMES), int(hit.sum()))
    stations = (("OLD_STATION", knrs[: len(knrs) // 4]), ("NEW_STATION", knrs[-len(knrs) // 3:]))
    first = results.groupby("KNR").head(1).set_index("KNR")
    extra = [
        {**first.loc[knr].to_dict(), "KNR": knr, "NAME": name, "VALUE": value}
        for name, ran in stations
        for knr, value in zip(ran, np.resize(np.array([1e308, 3.0, -1e308, 2.0]), len(ran)),
                              strict=True)
    ]
    return pd.concat([results, pd.DataFrame(extra)], ignore_index=True)


@pytest.fixture(scope="module")
def poisoned_data():
    results, defects = several_causes(600, rare_groups=False)
    results, defects = clean(poisoned(results), defects)
    features, production_time, builder = build_features(results, {"test_share": 0.2})
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, 0.2)
    return results, train, test, builder


def assert_predictions(pipeline: Pipeline, results: pd.DataFrame, what: str) -> None:
    """Finite probabilities from raw rows, for a batch (scikit-learn's path) and one KNR at a
    time (the compiled fast paths), the same either way."""
    batch = predict_positive(pipeline, results)
    assert np.isfinite(batch).all() and batch.between(0, 1).all(), what
    np.testing.assert_allclose(batch, pipeline.predict_proba(results)[:, 1], rtol=1e-9)
    for knr in batch.index[::30]:
        one = predict_positive(pipeline, results[results["KNR"] == knr])
        assert one.loc[knr] == pytest.approx(batch.loc[knr], rel=1e-9, abs=1e-12), what


@pytest.mark.parametrize("validation_share", [0.3, 0.01], ids=["folds", "out_of_fold"])
@pytest.mark.parametrize(
    "candidate", every_candidate(), ids=lambda c: " ".join(f"{v}" for v in c.values())
)
def test_every_candidate_trains_and_predicts_on_extreme_values(
    poisoned_data, candidate, validation_share
):
    results, train, test, builder = poisoned_data
    assert np.isinf(train.features.to_numpy()).any()  # the builder passes the extremes on
    new_station = train.features["value|NEW_STATION#2|1"]
    fit_part = int(len(train) * 0.8)
    assert new_station.iloc[:fit_part].isna().all() and new_station.iloc[fit_part:].notna().any()
    assert test.features["value|OLD_STATION#2|1"].isna().all()
    name = candidate["estimator"]
    params = {
        "estimator": name,
        "candidates": {name: [candidate]},
        "min_positives": 20,
        "validation_share": validation_share,
        # Fewer trees than in production: what is tested is that the fits go through.
        "estimator_options": {
            "hist_gradient_boosting": {"max_iter": 60},
            "random_forest": {"n_estimators": 60},
        },
    }

    trained = train_models(train, builder, params)
    evaluated = evaluate(trained, test, results)

    assert trained["failed"] == {} and evaluated["failed"] == {}
    assert {"fail", "group_1", "group_2", "group_4", "group_5"} <= set(evaluated["models"])
    source = "folds" if validation_share > 0.1 else "out_of_fold"
    for kind, entry in evaluated["models"].items():
        # The candidate and, for the fail model, the combination with the groups went through.
        assert entry["candidate_errors"] == {}, kind
        assert entry["threshold_source"] == source, kind
        for scores in (entry["heldout"]["scores"], entry["test_scores"]["scores"]):
            assert np.isfinite(scores).all() and 0 <= min(scores) <= max(scores) <= 1, kind
        assert_predictions(entry["pipeline"], results, kind)
    fail = evaluated["models"][FAIL_KIND]
    assert fail["metrics"]["pr_auc"] > fail["metrics"]["support"]["positives"] / len(test)
    # The combined fail model, whether or not it won here.
    direct = fail["pipeline"][-1].direct if "combined_with" in fail else fail["pipeline"][1:]
    groups = [evaluated["models"][k]["pipeline"][1:] for k in ("group_1", "group_2", "group_4")]
    combined = Pipeline([("any_failure", AnyFailure(direct, groups, 0.25))])
    assert_predictions(version_pipeline(builder, combined), results, "combined")


def test_every_estimator_fits_columns_of_huge_counts_and_extremes():
    rng = np.random.default_rng(5)
    n = 400
    # Named as the feature builder names them, so that every estimator's view keeps them.
    X = pd.DataFrame({
        "value|reading#2|1": rng.normal(size=n),
        "value|count#2|1": rng.integers(1, 4, size=n) * 1e15,  # out of all proportion
        "value|extreme#2|1": np.resize(np.array([*EXTREMES, 1.0, 2.0]), n),
        "value|tiny#2|1": rng.choice([1e-308, 5e-324, 0.0], size=n),
        "value|missing_first#2|1": np.r_[np.full(n // 2, np.nan), rng.normal(size=n - n // 2)],
        "value|missing_last#2|1": np.r_[rng.normal(size=n - n // 4), np.full(n // 4, np.nan)],
    })
    y = pd.Series((X["value|reading#2|1"] + rng.normal(size=n) > 0.8).astype(int))
    fit_rows, validation_rows = X.index[: n // 2], X.index[n // 2:]
    rows = X.iloc[validation_rows].copy()
    rows.iloc[:8] = [[np.inf, -np.inf, 1e308, np.nan, -1e308, 1e-308]] * 8

    for name in sorted(ESTIMATORS):
        estimator = fit_estimator(
            make_pipeline(name), X.loc[fit_rows], y.loc[fit_rows],
            (X.loc[validation_rows], y.loc[validation_rows]),
        )
        few, many = positive_scores(estimator, rows.iloc[:8]), positive_scores(estimator, rows)
        assert np.isfinite(many).all() and ((many >= 0) & (many <= 1)).all(), name
        np.testing.assert_allclose(few, many[:8], rtol=1e-9, err_msg=name)


# Failures kept apart --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_data():
    results, defects = several_causes(600, rare_groups=False)
    results, defects = clean(results, defects)
    features, production_time, builder = build_features(results, {"test_share": 0.2})
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, 0.2)
    return results, train, test, builder


def failing_fits(monkeypatch, rule) -> None:
    """Make `fit_estimator` raise where `rule(template, y)` says so."""
    original = fitting.fit_estimator

    def fit(template, X, y, validation=None):
        if rule(template, y):
            raise RuntimeError(f"no room to fit {y.name}")
        return original(template, X, y, validation)

    monkeypatch.setattr(fitting, "fit_estimator", fit)


def is_sparse(template: Pipeline) -> bool:
    # The relaxed model is a SparseLogistic too: only the sparse candidate itself fails.
    return type(template[-1]) is SparseLogistic


def test_a_failing_candidate_is_recorded_and_its_kind_trains_on_the_others(
    plain_data, monkeypatch
):
    results, train, test, builder = plain_data
    failing_fits(monkeypatch, lambda template, y: y.name == "group_2" and is_sparse(template))

    trained = train_models(train, builder, {"min_positives": 20})

    group_2 = trained["models"]["group_2"]
    assert group_2["estimator"] in {
        "hist_gradient_boosting", "relaxed_logistic", "pairwise_logistic",
        "screened_logistic", "plain_gradient_boosting", "averaged_logistic",
    }
    assert group_2["candidate_errors"] == {
        "sparse_logistic (C 0.02)": "RuntimeError: no room to fit group_2"
    }
    assert all(trained["models"][k]["candidate_errors"] == {} for k in ("group_1", "group_4"))
    assert trained["failed"] == {}


def test_a_kind_whose_every_candidate_fails_leaves_the_others_trained(plain_data, monkeypatch):
    results, train, test, builder = plain_data
    failing_fits(monkeypatch, lambda template, y: y.name == "group_4")
    logged: list[str] = []

    trained = train_models(train, builder, {"min_positives": 20}, log=logged.append)
    evaluated = evaluate(trained, test, results)

    assert set(evaluated["models"]) == {"fail", "group_1", "group_2", "group_5", "group_133"}
    failure = evaluated["failed"]["group_4"]
    assert failure["step"] == "train_models"
    assert failure["error"].startswith("FitFailed: every candidate failed")
    assert failure["candidate_errors"] == {
        "hist_gradient_boosting": "RuntimeError: no room to fit group_4",
        "sparse_logistic (C 0.02)": "RuntimeError: no room to fit group_4",
        "relaxed_logistic": "RuntimeError: no room to fit group_4",
        "pairwise_logistic": "RuntimeError: no room to fit group_4",
        "screened_logistic": "RuntimeError: no room to fit group_4",
        "plain_gradient_boosting": "RuntimeError: no room to fit group_4",
        "averaged_logistic": "left out: relaxed_logistic, screened_logistic, pairwise_logistic "
        "failed",
    }
    assert failure["positives"] == int(train.labels["group_4"].sum())
    assert any(line.startswith("group_4: failed, FitFailed") for line in logged)
    # The fail model combines with the group models that trained, not with the failed one.
    assert "group_4" not in evaluated["models"]["fail"].get("combined_with", [])
    outcomes = kind_outcomes(evaluated, {k: f"{k}-v1" for k in evaluated["models"]})
    assert [(o["kind"], o["status"]) for o in outcomes] == [
        ("fail", "trained"), ("group_1", "trained"), ("group_2", "trained"),
        ("group_4", "failed"), ("group_5", "trained"), ("group_133", "trained"),
    ]


def test_training_fails_as_a_whole_only_when_every_kind_fails(plain_data, monkeypatch):
    _, train, _, builder = plain_data
    failing_fits(monkeypatch, lambda template, y: True)

    with pytest.raises(KindsFailed, match="no kind could be trained: fail: FitFailed"):
        train_models(train, builder, {"min_positives": 20})


def test_a_failing_combination_leaves_the_direct_fail_model(plain_data, monkeypatch):
    _, train, _, builder = plain_data

    def broken(*args, **kwargs):
        raise FloatingPointError("overflow in the blend")

    monkeypatch.setattr("training.pipeline.steps.blend_failure", broken)
    trained = train_models(train, builder, {"min_positives": 20})

    fail = trained["models"][FAIL_KIND]
    assert "combined_with" not in fail
    assert fail["candidate_errors"] == {COMBINED: "FloatingPointError: overflow in the blend"}


class NotANumber(ClassifierMixin, BaseEstimator):
    """A fitted model whose probabilities are not numbers."""

    classes_ = np.array([0, 1])

    def predict_proba(self, X):
        return np.full((len(X), 2), np.nan)


def test_a_kind_whose_test_scores_are_not_probabilities_fails_alone(plain_data):
    results, train, test, builder = plain_data
    trained = train_models(train, builder, {"min_positives": 20})
    broken = Pipeline([("model", NotANumber())])
    trained["models"]["group_2"]["pipeline"] = version_pipeline(builder, broken)

    evaluated = evaluate(trained, test, results)

    assert "group_2" not in evaluated["models"] and "group_1" in evaluated["models"]
    assert evaluated["failed"]["group_2"]["step"] == "evaluate"
    assert "are not finite probabilities" in evaluated["failed"]["group_2"]["error"]


# Judged on time folds, beside the plain approach --------------------------------------------


def test_the_latest_blocks_are_judged_each_after_a_fit_on_every_vehicle_before_it():
    order = pd.Index([f"2024-{i:07d}" for i in range(100)])

    folds = fitting.time_folds(order, {"validation_share": 0.3, "folds": 3})

    assert [list(judged) for _, judged in folds] == [
        list(order[70:80]), list(order[80:90]), list(order[90:])
    ]
    assert [list(fit) for fit, _ in folds] == [list(order[:70]), list(order[:80]), list(order[:90])]


def readings(n: int, seed: int, columns: str = "abcd") -> pd.DataFrame:
    """Feature rows named as the builder names a test's value, in production order."""
    rng = np.random.default_rng(seed)
    index = pd.Index([f"2024-{i:07d}" for i in range(n)], name="KNR")
    return pd.DataFrame(
        rng.normal(size=(n, len(columns))), index=index,
        columns=[f"value|{c}#2|1" for c in columns],
    )


def candidates(*names: str) -> tuple[list[Pipeline], list[str]]:
    from training.pipeline.steps import _candidate_template, describe_candidate

    params = {"estimator_options": {}, "random_state": 0}
    listed = [{"estimator": name} for name in names]
    return (
        [_candidate_template(names[0], c, params) for c in listed],
        [describe_candidate(names[0], c) for c in listed],
    )


FOLD_PARAMS = {"validation_share": 0.3, "folds": 3, "select_by": "log_loss", "refit": True,
               "random_state": 0}


def test_a_block_is_scored_by_a_fit_on_the_vehicles_before_it_alone():
    X = readings(600, 1)
    y = pd.Series((X.iloc[:, 0] + np.random.default_rng(2).normal(size=600) > 1).astype(int),
                  index=X.index)
    templates, labels = candidates("sparse_logistic")
    first = fitting.fit_kind(templates, labels, X, y, X.index, FOLD_PARAMS)
    # The second block's labels turned upside down: only the block after it can tell.
    flipped = y.copy()
    flipped.iloc[480:540] = 1 - flipped.iloc[480:540]

    second = fitting.fit_kind(templates, labels, X, flipped, X.index, FOLD_PARAMS)

    assert first.folds == second.folds == 3 and first.source == "folds"
    np.testing.assert_array_equal(first.scores[:120], second.scores[:120])
    assert not np.allclose(first.scores[120:], second.scores[120:])


def three_way_interaction(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Failing when an odd number of three readings are high: trees of depth 2 and a linear
    model see nothing of it; deeper trees on the pivot do."""
    X = readings(n, seed)
    high = (X.iloc[:, :3] > 0).sum(axis=1) % 2 == 1
    rng = np.random.default_rng(seed + 1)
    y = pd.Series((rng.random(n) < np.where(high, 0.6, 0.1)).astype(int), index=X.index)
    return X, y


def test_the_plain_approach_is_chosen_when_it_ranks_the_judged_vehicles_better():
    X, y = three_way_interaction(2000, 3)
    templates, labels = candidates(
        "hist_gradient_boosting", "sparse_logistic", "plain_gradient_boosting"
    )
    templates[0].set_params(model__max_depth=2, model__learning_rate=0.05)

    fit = fitting.fit_kind(templates, labels, X, y, X.index, FOLD_PARAMS, plain=2)

    assert fit.chosen == 2 and labels[fit.chosen] == "plain_gradient_boosting"
    assert fit.plain is fit.estimator
    np.testing.assert_array_equal(fit.plain_scores, fit.scores)


@pytest.mark.parametrize("confidence", [0, 0.9])
def test_whatever_the_selection_prefers_the_version_never_ranks_below_the_plain_approach(
    monkeypatch, confidence
):
    from sklearn.metrics import average_precision_score

    X, y = three_way_interaction(1500, 5)
    templates, labels = candidates("sparse_logistic", "plain_gradient_boosting")
    # A selection that prefers the worse ranker: the plain approach still wins.
    monkeypatch.setattr(
        fitting, "selection_score", lambda metric, y, s: -average_precision_score(y, s)
    )

    params = {**FOLD_PARAMS, "plain_override_confidence": confidence}

    fit = fitting.fit_kind(templates, labels, X, y, X.index, params, plain=1)

    # Clearly better on these vehicles: the plain approach replaces the selection's choice.
    assert fit.chosen == 1 and fit.replaced == 0
    assert average_precision_score(fit.y_heldout, fit.scores) >= average_precision_score(
        fit.y_heldout, fit.plain_scores
    )


def latent_risk(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels drawn from a risk, the risk itself (the best possible ranking) and the risk
    read through `noise`: a worse ranking that a sample may favour by chance."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=n)
    risk = 1 / (1 + np.exp(4 - 2 * latent))
    y = (rng.random(n) < risk).astype(int)
    noisy = 1 / (1 + np.exp(4 - 2 * (latent + rng.normal(scale=noise, size=n))))
    return y, risk, noisy


def test_a_lead_by_chance_in_average_precision_is_not_ranking_better():
    from sklearn.metrics import average_precision_score

    y, risk, noisy = latent_risk(1000, 2, 0.6)
    # On these 1,000 vehicles (75 positives) the noisy ranking's AP is a little higher...
    assert 0 < average_precision_score(y, noisy) - average_precision_score(y, risk) < 0.01
    assert fitting.ranks_better(y, noisy, risk)
    # ...on many more it is far lower: the lead was chance, and resamples show it.
    y_many, risk_many, noisy_many = latent_risk(100_000, 3, 0.6)
    assert average_precision_score(y_many, risk_many) - average_precision_score(
        y_many, noisy_many
    ) > 0.1
    assert not fitting.ranks_better(y, noisy, risk, confidence=0.9)
    # A lead a resample keeps: the risk against a ranking that hardly knows it.
    y, risk, vague = latent_risk(1000, 2, 3.0)
    assert fitting.ranks_better(y, risk, vague, confidence=0.9)


def test_resampled_average_precision_is_scikit_learns_on_each_resample():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.1).astype(int)
    scores = np.round(rng.random(300) + 0.4 * y, 1)  # many ties, ranked as blocks
    counts = fitting._resample_counts(y, 40, seed=0)

    got = fitting.resampled_average_precision(y, scores, counts)

    assert (counts[:, y == 1].sum(axis=1) == y.sum()).all()  # every draw holds each class
    want = [average_precision_score(np.repeat(y, c), np.repeat(scores, c)) for c in counts]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("confidence", [0, 0.9])
def test_the_plain_approach_leading_by_chance_replaces_a_better_candidate_only_without_confidence(
    monkeypatch, confidence
):
    y_judged, risk, noisy = latent_risk(1000, 2, 0.6)
    X = readings(2000, 9)
    y = pd.Series(np.r_[(X.iloc[:1000, 0] > 1).astype(int), y_judged], index=X.index)
    templates, labels = candidates("sparse_logistic", "plain_gradient_boosting")
    judged_scores = {"sparse_logistic": risk, "plain_gradient_boosting": noisy}

    def judge(template, X, y, folds):
        # Each candidate fitted for real, its judged scores made: the risk, and plain's
        # noisy reading of it that happens to rank these vehicles a little better.
        name = labels[next(i for i, t in enumerate(templates) if t is template)]
        return fitting.fit_estimator(template, X.iloc[:1000], y.iloc[:1000]), judged_scores[name]

    monkeypatch.setattr(fitting, "_judge_on_folds", judge)
    params = {**FOLD_PARAMS, "validation_share": 0.5, "folds": 2,
              "plain_override_confidence": confidence}

    fit = fitting.fit_kind(templates, labels, X, y, X.index, params, plain=1)

    # The log loss prefers the risk; only the point comparison of APs swaps it for plain.
    if confidence:
        assert fit.chosen == 0 and fit.replaced is None
        np.testing.assert_array_equal(fit.scores, risk)
    else:
        assert fit.chosen == 1 and fit.replaced == 0


def test_the_plain_approach_beside_a_better_version_is_refitted_on_the_whole_period():
    X = readings(800, 7)
    y = pd.Series((X.iloc[:, 0] + 0.5 * np.random.default_rng(8).normal(size=800) > 1)
                  .astype(int), index=X.index)
    templates, labels = candidates("sparse_logistic", "plain_gradient_boosting")

    fit = fitting.fit_kind(templates, labels, X, y, X.index, FOLD_PARAMS, plain=1)

    assert fit.chosen == 0
    assert fit.plain is not fit.estimator
    assert fit.plain[-1].n_iter_ == 100  # scikit-learn's default budget, on every vehicle
    assert len(fit.plain_scores) == len(fit.scores) == 240


def test_the_gate_counts_the_positives_of_every_fold_not_of_the_test_set_alone():
    from mlmodels.services import judge_eligibility

    # A group of about 5% of 2,000 vehicles: some twenty positives in the test set, under the
    # gate's thirty; the blocks of the training period before it hold as many again.
    rng = np.random.default_rng(11)
    results, defects = [], []
    for i in range(2000):
        knr = f"2024-{i:07d}"
        x = rng.normal(size=3)
        for j, value in enumerate(x):
            results.append(result_row(knr, f"04200{j}", 1.0, value, minute=i))
        if rng.random() < 1 / (1 + np.exp(4.6 - 2.2 * x[0])):
            defects.append(defect_row(knr, 9830946))
        if rng.random() < 0.4:
            defects.append(defect_row(knr, 2))
    results, defects = clean(pd.DataFrame(results), pd.DataFrame(defects))
    features, production_time, builder = build_features(results, {"test_share": 0.2})
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, 0.2)

    evaluated = evaluate(train_models(train, builder, {}), test, results)

    entry = evaluated["models"]["group_9830946"]
    judged = entry["judged"]
    test_positives = entry["metrics"]["support"]["positives"]
    assert test_positives < 30 <= judged["positives"]
    assert judged["folds"] == 3 and judged["vehicles"] == 400 + 480
    assert judged["positives"] == test_positives + sum(entry["heldout"]["y_true"])
    assert judge_eligibility(entry["metrics"], judged).eligible
    on_the_test_set_alone = judge_eligibility(entry["metrics"])
    assert not on_the_test_set_alone.eligible
    assert "positives in the test set" in on_the_test_set_alone.reason
