"""Tests of the pipeline steps on tiny inline DataFrames."""

import io

import joblib
import numpy as np
import pandas as pd
import pytest

from crossline.exceptions import NothingToTrain
from mlmodels.thresholds import choose_threshold
from training.pipeline.estimators import (
    AnyFailure,
    SparseLogistic,
    blend_failure,
    make_pipeline,
    positive_scores,
    predict_positive,
)
from training.pipeline.explain import top_features
from training.pipeline.judging import expected_calibration_error, score_predictions
from training.pipeline.steps import (
    DEFECT_COLUMNS,
    _score_change,
    _time_order,
    build_features,
    build_labels,
    clean,
    describe_candidate,
    evaluate,
    load_datasets,
    production_times,
    split_by_time,
    train_models,
)

T0 = pd.Timestamp("2024-05-16 06:00:00")


def result_row(knr: str, name: str, value_id: float, value: float, status: int = 10,
               minute: int = 0, family: int = 2) -> dict:
    return {"KNR": knr, "NAME": name, "ID": family, "STATUS": status, "UNIT": "Nm",
            "VALUE_ID": value_id, "VALUE": value, "DATA": T0 + pd.Timedelta(minutes=minute)}


def defect_row(knr: str, group: int, falha: str = "RISCO") -> dict:
    return {"KNR": knr, "MODELO": "T-CROSS", "COR": "P0P0", "MOTOR": "DKL", "ESTACAO": "ZP8",
            "USUARIO": "u1", "HALLE": "H1", "FALHA": falha, "S_GROUP_ID": group, "DATA": T0}


def learnable_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vehicles whose torque on 012001 drives their failing, plus noise tests."""
    rng = np.random.default_rng(seed)
    rows, defects = [], []
    for i in range(n):
        knr = f"2024-{i:07d}"
        torque = rng.normal()
        rows.append(result_row(knr, "012001", 1.0, torque, minute=i))
        rows.append(result_row(knr, "042000", 1.0, rng.normal(), minute=i))
        if torque > 0.3:
            defects.append(defect_row(knr, 2))
        if torque > 0.8 and rng.random() < 0.9:
            defects.append(defect_row(knr, 4))
    return pd.DataFrame(rows), pd.DataFrame(defects)


def test_load_datasets_reads_paths_and_file_objects_with_only_the_needed_columns(tmp_path):
    results = pd.DataFrame([result_row("2024-0000001", "012001", 1.0, 2.5)])
    defects = pd.DataFrame([defect_row("2024-0000001", 4)])
    results.to_parquet(tmp_path / "r1.parquet")
    buffer = io.BytesIO()
    results.assign(KNR="2024-0000002").to_parquet(buffer)
    buffer.seek(0)
    defects.to_parquet(tmp_path / "d.parquet")

    loaded_results, loaded_defects = load_datasets(
        [tmp_path / "r1.parquet", buffer], [str(tmp_path / "d.parquet")]
    )

    assert list(loaded_results["KNR"]) == ["2024-0000001", "2024-0000002"]
    assert "UNIT" not in loaded_results.columns
    assert list(loaded_defects.columns) == ["KNR", "S_GROUP_ID", "DATA"]


def test_load_datasets_reads_knr_and_test_names_of_several_files_as_categories(tmp_path):
    results = pd.DataFrame([result_row("2024-0000001", "012001", 1.0, 2.5),
                            result_row("2024-0000003", "012001", 1.0, 2.5)])
    results.to_parquet(tmp_path / "r1.parquet")
    results.assign(KNR="2024-0000002", NAME="071000").to_parquet(tmp_path / "r2.parquet")

    loaded, _ = load_datasets([tmp_path / "r1.parquet", tmp_path / "r2.parquet"], None)

    assert isinstance(loaded["KNR"].dtype, pd.CategoricalDtype)
    assert isinstance(loaded["NAME"].dtype, pd.CategoricalDtype)
    assert list(loaded["KNR"].astype(str)) == [
        "2024-0000001", "2024-0000003", "2024-0000002", "2024-0000002"
    ]
    assert list(loaded["NAME"].astype(str)) == ["012001", "012001", "071000", "071000"]
    cleaned, _ = clean(loaded, pd.DataFrame(columns=DEFECT_COLUMNS))
    assert list(production_times(cleaned).index) == ["2024-0000001", "2024-0000002", "2024-0000003"]


def test_clean_drops_duplicates_and_rows_without_knr_and_coerces_types():
    results = pd.DataFrame([
        result_row("2024-0000001", "012001", 1.0, 2.5),
        result_row("2024-0000001", "012001", 1.0, 2.5),
        result_row("  ", "012001", 1.0, 1.0),
        result_row(None, "012001", 1.0, 1.0),
    ]).astype({"VALUE": object})
    results.loc[0, "VALUE"] = "2.5"
    defects = pd.DataFrame([defect_row("2024-0000001", 4), defect_row("2024-0000001", 4),
                            defect_row("2024-0000002", -2)]).astype({"S_GROUP_ID": object})
    defects.loc[0, "S_GROUP_ID"] = "4"

    cleaned_results, cleaned_defects = clean(results, defects)

    assert len(cleaned_results) == 1
    assert cleaned_results["VALUE"].dtype == np.float64
    assert cleaned_results["VALUE"].iloc[0] == 2.5
    assert list(cleaned_defects["S_GROUP_ID"]) == [4]
    assert cleaned_defects["S_GROUP_ID"].dtype == np.int64


def test_build_labels_marks_both_groups_of_a_knr_failing_in_two_groups():
    defects = pd.DataFrame([defect_row("2024-0000001", 2), defect_row("2024-0000001", 4),
                            defect_row("2024-0000001", 2, "OTHER"), defect_row("2024-0000002", 4)])
    vehicles = pd.Index(["2024-0000001", "2024-0000002", "2024-0000003"])

    labels = build_labels(defects, vehicles)

    assert labels.loc["2024-0000001", ["fail", "group_2", "group_4"]].tolist() == [1, 1, 1]
    assert labels.loc["2024-0000002", ["fail", "group_2", "group_4"]].tolist() == [1, 0, 1]


def test_build_labels_gives_zeros_to_tested_vehicles_without_defects_and_ignores_untested():
    defects = pd.DataFrame([defect_row("2024-0000001", 5), defect_row("2024-0000099", 9830946)])
    vehicles = pd.Series([T0, T0], index=["2024-0000001", "2024-0000002"])

    labels = build_labels(defects, vehicles)

    assert list(labels.index) == ["2024-0000001", "2024-0000002"]
    assert labels.loc["2024-0000002"].sum() == 0
    assert "group_9830946" not in labels.columns


def test_build_features_takes_nothing_from_the_defect_table():
    results, defects = learnable_data(40)

    features, production_time, _ = build_features(results, {})

    defect_only = {"MODELO", "COR", "MOTOR", "ESTACAO", "USUARIO", "HALLE", "FALHA", "S_GROUP_ID"}
    assert not any(part in defect_only for c in features.columns for part in c.split("|"))
    # Failing and passing vehicles get the same columns: nothing marks a failure.
    failing = set(defects["KNR"])
    assert features.loc[features.index.isin(failing)].notna().sum().gt(0).all()
    assert features.loc[~features.index.isin(failing)].notna().sum().gt(0).all()
    assert production_time["2024-0000007"] == T0 + pd.Timedelta(minutes=7)


def test_build_features_fits_its_tests_on_the_training_period_only():
    results, _ = learnable_data(50)
    late = pd.DataFrame([result_row("2024-0000049", "LATE_STATION", 1.0, 1.0, minute=49)])

    features, _, builder = build_features(pd.concat([results, late]), {"test_share": 0.2})

    assert "value|LATE_STATION#2|1" not in features.columns
    assert builder.tests_ == ["012001#2", "042000#2"]
    assert features.loc["2024-0000049", "n_other_tests"] == 1


def test_features_built_in_knr_ranges_equal_the_features_built_at_once(monkeypatch):
    results, _ = learnable_data(60)
    results = results.sample(frac=1.0, random_state=1)  # vehicles' rows interleaved
    results.loc[results.index[:5], "KNR"] = " " + results["KNR"].iloc[:5] + " "
    cleaned, _ = clean(results, pd.DataFrame(columns=DEFECT_COLUMNS))
    at_once, times, _ = build_features(cleaned, {})

    monkeypatch.setattr("training.pipeline.steps.FEATURE_CHUNK_ROWS", 7)
    in_ranges, ranged_times, _ = build_features(cleaned, {})
    from_raw, _, _ = build_features(results, {})

    pd.testing.assert_frame_equal(in_ranges, at_once)
    pd.testing.assert_frame_equal(from_raw, at_once)
    pd.testing.assert_series_equal(ranged_times, times)
    assert len(at_once) == 60


def test_split_by_time_puts_the_latest_knrs_in_the_test_set():
    # KNR order is the reverse of production order, so sorting by KNR would fail this test.
    knrs = [f"2024-{i:07d}" for i in range(10)]
    features = pd.DataFrame({"n_tests": range(10)}, index=knrs, dtype="float64")
    labels = pd.DataFrame({"fail": [0, 1] * 5}, index=knrs)
    production_time = pd.Series([T0 - pd.Timedelta(days=i) for i in range(10)], index=knrs)

    train, test = split_by_time(features, labels, production_time, test_share=0.3)

    assert set(test.knrs) == {"2024-0000000", "2024-0000001", "2024-0000002"}
    assert train.production_time.max() < test.production_time.min()
    assert list(test.labels.loc[test.knrs, "fail"]) == list(labels.loc[test.knrs, "fail"])


def test_fitted_estimator_scores_vehicles_with_missing_columns():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    for name in ("logistic_regression", "random_forest", "hist_gradient_boosting"):
        pipeline = make_pipeline(name).fit(X, y)

        proba = positive_scores(pipeline, pd.DataFrame({"a": [2.0], "b": [np.nan], "c": [0.0]}))

        assert proba.shape == (1,), name
        assert proba[0] > 0.5, name


def prepared(n: int, test_share: float, defects_extra=()):
    results, defects = learnable_data(n)
    defects = pd.concat([defects, pd.DataFrame(list(defects_extra))])
    results, defects = clean(results, defects)
    features, production_time, builder = build_features(results, {"test_share": test_share})
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, test_share)
    return results, train, test, builder


def test_train_models_skips_groups_below_min_positives_and_reports_their_count():
    _, train, _, builder = prepared(300, 0.2, [defect_row("2024-0000003", 137)])

    trained = train_models(
        train, builder, {"min_positives": 30, "estimator": "logistic_regression"}
    )

    assert set(trained["models"]) == {"fail", "group_2", "group_4"}
    assert trained["skipped"] == {"group_137": 1}
    fail = trained["models"]["fail"]
    assert fail["n_train"] == 240
    assert fail["feature_columns"] == builder.feature_names_
    assert fail["pipeline"].steps[0][1] is builder
    assert 0 < fail["threshold"] < 1


def test_the_threshold_comes_from_held_out_scores_of_the_latest_training_vehicles():
    _, train, _, builder = prepared(300, 0.2)

    trained = train_models(train, builder, {"estimator": "hist_gradient_boosting"})

    fail = trained["models"]["fail"]
    heldout = fail["heldout"]
    assert fail["threshold_source"] == "folds" and fail["folds"] == 2
    assert len(heldout["y_true"]) == len(heldout["scores"]) == 72  # 30% of 240
    assert heldout["y_true"] == train.labels["fail"].iloc[-72:].tolist()
    assert fail["threshold"] == choose_threshold(heldout["y_true"], heldout["scores"])


def test_training_without_labelled_vehicles_fails_with_a_clear_error():
    results, _ = learnable_data(100)
    results, defects = clean(results, pd.DataFrame({"KNR": [], "S_GROUP_ID": [], "DATA": []}))
    features, production_time, builder = build_features(results, {})
    train, _ = split_by_time(features, build_labels(defects, production_time), production_time)

    with pytest.raises(NothingToTrain, match="No kind has enough labelled vehicles.*fail 0"):
        train_models(train, builder, {"estimator": "hist_gradient_boosting"})


def test_a_test_only_one_vehicle_has_or_an_empty_feature_never_breaks_training():
    results, defects = learnable_data(200)
    only_one = pd.DataFrame([
        result_row("2024-0000190", "NEW_STATION", 1.0, 4.2, minute=190),  # held-out part
        result_row("2024-0000010", "STATUS_ONLY", np.nan, np.nan, minute=10),
    ])
    results, defects = clean(pd.concat([results, only_one]), defects)
    features, production_time, builder = build_features(results, {"test_share": 0.01})
    labels = build_labels(defects, production_time)
    train, _ = split_by_time(features, labels, production_time, 0.01)
    assert features.loc[train.knrs[:150], "value|NEW_STATION#2|1"].isna().all()

    trained = train_models(train, builder, {"estimator": "hist_gradient_boosting",
                                            "min_positives": 10})

    assert "fail" in trained["models"]


def test_evaluate_scores_each_kind_on_the_test_set_at_its_threshold():
    results, train, test, builder = prepared(300, 0.25)
    trained = train_models(train, builder, {"estimator": "logistic_regression",
                                            "threshold_policy": "recall", "target_recall": 0.9})

    evaluated = evaluate(trained, test, results)

    fail = evaluated["models"]["fail"]
    metrics = fail["metrics"]
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    assert tp + fn == metrics["support"]["positives"] == test.labels["fail"].sum()
    assert tn + fp == metrics["support"]["negatives"]
    assert metrics["recall"] == pytest.approx(tp / (tp + fn))
    assert metrics["threshold"] == fail["threshold"]
    assert metrics["flagged_share"] == pytest.approx((tp + fp) / 75)
    assert 0 <= metrics["brier"] < 0.25 and 0 <= metrics["ece"] < 0.5
    # The signal is one clean feature: a working model separates it almost perfectly.
    assert metrics["roc_auc"] > 0.95
    assert fail["n_test"] == 75
    assert fail["test_scores"]["y_true"] == test.labels["fail"].tolist()
    # The version's whole Pipeline, from the raw rows, gives the same test scores.
    from training.pipeline.estimators import predict_positive

    again = predict_positive(fail["pipeline"], evaluated["test_results"]).loc[test.knrs]
    np.testing.assert_allclose(again, fail["test_scores"]["scores"], rtol=1e-12)
    assert evaluated["test_set"] is test


def test_score_predictions_counts_probabilities_at_or_above_the_threshold_as_positive():
    y = pd.Series([0, 0, 1, 1] * 10)
    proba = np.array([0.1, 0.2, 0.6, 0.9] * 10)

    metrics = score_predictions(y, proba, 0.9)

    assert metrics["confusion_matrix"] == [[20, 0], [10, 10]]
    assert metrics["precision"] == 1.0
    assert metrics["recall"] == 0.5
    assert metrics["flagged_share"] == 0.25
    assert metrics["brier"] == pytest.approx(np.mean((proba - y) ** 2))


def test_expected_calibration_error_is_zero_when_rates_match_and_large_otherwise():
    y = np.array([1, 0, 0, 0] * 25 + [1, 1, 1, 0] * 25)
    calibrated = np.array([0.25] * 100 + [0.75] * 100)

    assert expected_calibration_error(y, calibrated) == pytest.approx(0.0)
    assert expected_calibration_error(y, 1 - calibrated) == pytest.approx(0.5)


def test_build_labels_without_any_defects_marks_every_vehicle_as_not_failing():
    defects = pd.DataFrame({"KNR": pd.Series(dtype=object), "S_GROUP_ID": pd.Series(dtype=int)})

    labels = build_labels(defects, ["2024-0000001", "2024-0000002"])

    assert labels["fail"].tolist() == [0, 0]
    assert list(labels.columns) == ["fail"]


def test_each_kind_keeps_the_candidate_its_held_out_part_favours():
    _, train, _, builder = prepared(300, 0.2)
    weak = {"max_iter": 1, "early_stopping": False, "learning_rate": 0.01}

    trained = train_models(train, builder, {
        "estimator": "hist_gradient_boosting",
        "candidates": {"hist_gradient_boosting": [weak, {}]},
        "refit": True,
    })

    fail = trained["models"]["fail"]
    assert fail["candidate"] == 1
    assert fail["pipeline"][-1].n_iter_ > 1
    assert fail["pipeline"][-1].early_stopping is False  # refitted with the found budget


def test_a_candidate_may_be_another_estimator_and_the_entry_names_the_winner():
    _, train, _, builder = prepared(300, 0.2)
    weak = {"max_iter": 1, "early_stopping": False, "learning_rate": 0.01}

    trained = train_models(train, builder, {
        "estimator": "hist_gradient_boosting",
        "candidates": {"hist_gradient_boosting": [
            weak, {"estimator": "sparse_logistic", "C": 0.5},
        ]},
    })

    group = trained["models"]["group_2"]
    assert group["candidate"] == 1
    assert group["estimator"] == "sparse_logistic (C 0.5)"
    model = group["pipeline"][-1]
    assert isinstance(model, SparseLogistic) and model.C == 0.5
    # Not refitted: the version is the fit that judged the latest block (15% of the period),
    # and its scores there are the held-out scores that set its threshold.
    latest = _time_order(train.knrs, train.production_time)[-36:]
    own = positive_scores(group["pipeline"][1:], train.features.loc[latest])
    np.testing.assert_allclose(own, group["heldout"]["scores"][-36:], rtol=1e-12)
    assert describe_candidate("hist_gradient_boosting", weak).startswith(
        "hist_gradient_boosting (max_iter 1, early_stopping False"
    )


def several_causes(n: int, rare_groups: bool, seed: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vehicles failing for one of five causes, each read by its own test.

    Each cause makes its group (2, 4, 5, 1, 133) likely, not certain, as on a real line. With
    `rare_groups`, the causes' defects are spread over forty groups too rare to model, and
    group 4 is noise: only the direct fail model can see the causes.
    """
    rng = np.random.default_rng(seed)
    rows, defects = [], []
    for i in range(n):
        knr = f"2024-{i:07d}"
        readings = rng.normal(size=5)
        for j, x in enumerate(readings):
            rows.append(result_row(knr, f"01200{j}", 1.0, x, minute=i))
        for group, x in zip((2, 4, 5, 1, 133), readings, strict=True):
            if rng.random() < 1 / (1 + np.exp(3.5 - 2.5 * x)):
                defects.append(defect_row(knr, 100 + i % 40 if rare_groups else group))
        if rare_groups and rng.random() < 0.2:
            defects.append(defect_row(knr, 4))
    return pd.DataFrame(rows), pd.DataFrame(defects)


def trained_on(results: pd.DataFrame, defects: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    results, defects = clean(results, defects)
    features, production_time, builder = build_features(results, {"test_share": 0.2})
    labels = build_labels(defects, production_time)
    train, _ = split_by_time(features, labels, production_time, 0.2)
    return train_models(train, builder, {"estimator": "hist_gradient_boosting"}), results


def test_blend_failure_weighs_the_direct_model_against_any_group_failing():
    direct = np.array([0.2, 0.9])
    groups = [np.array([0.5, 0.0]), np.array([0.5, 0.0])]

    assert blend_failure(direct, groups) == pytest.approx([(0.2 + 0.75) / 2, 0.45])
    assert blend_failure(direct, groups, 0.0) == pytest.approx([0.75, 0.0])
    assert blend_failure(direct, groups, 0.25) == pytest.approx([0.05 + 0.5625, 0.225])


def test_the_fail_model_combines_the_group_models_when_they_see_the_causes_better():
    trained, results = trained_on(*several_causes(1500, rare_groups=False))

    fail = trained["models"]["fail"]
    model = fail["pipeline"][-1]
    assert isinstance(model, AnyFailure)
    assert fail["combined_with"] == ["group_1", "group_2", "group_4", "group_5", "group_133"]
    # Each cause has a group model of its own: they carry at least half of the blend.
    assert fail["direct_weight"] == model.direct_weight <= 0.5
    # The version's probabilities are the blend of its parts', from the same raw rows.
    rows = results[results["KNR"].isin(results["KNR"].unique()[:40])]
    features = fail["pipeline"][0].transform(rows)
    expected = blend_failure(
        positive_scores(model.direct, features),
        [positive_scores(group, features) for group in model.groups],
        model.direct_weight,
    )
    assert predict_positive(fail["pipeline"], rows).to_numpy() == pytest.approx(expected)
    # Its page explains it like any other model: by the drop in PR-AUC when shuffled.
    importance = top_features(fail["pipeline"][1:], features, expected > np.median(expected))
    assert importance["method"] == "drop in PR-AUC when shuffled"
    assert {name for name, _ in importance["features"]} <= set(features.columns)
    heldout = fail["heldout"]
    assert fail["threshold"] == choose_threshold(heldout["y_true"], heldout["scores"])


def test_a_combined_fail_model_stored_before_it_had_a_weight_is_the_plain_mean():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    direct, group = (
        make_pipeline("logistic_regression").fit(X, (X[column] > 0).astype(int))
        for column in ("a", "b")
    )
    model = AnyFailure(direct, [group], direct_weight=0.25)
    # An artifact written before the weight existed unpickles without the attribute.
    stored = io.BytesIO()
    joblib.dump(model, stored)
    stored.seek(0)
    old = joblib.load(stored)
    del old.direct_weight

    mean = blend_failure(positive_scores(direct, X), [positive_scores(group, X)])
    assert old.predict_proba(X)[:, 1] == pytest.approx(mean)
    assert model.predict_proba(X)[:, 1] != pytest.approx(mean)


def test_the_fail_model_stays_direct_when_the_group_models_miss_the_causes():
    trained, _ = trained_on(*several_causes(1500, rare_groups=True))

    fail = trained["models"]["fail"]
    assert set(trained["models"]) == {"fail", "group_4"}
    assert not isinstance(fail["pipeline"][-1], AnyFailure)
    assert "combined_with" not in fail



def test_the_fail_models_combination_is_logged_in_words_with_the_direction_of_better():
    # Log loss is ranked negated; the log shows it as people know it, lower being better.
    assert _score_change("log_loss", -0.6274, -0.5741) == (
        "log loss 0.627 → 0.574 (lower is better)"
    )
    assert _score_change("average_precision", 0.61, 0.66) == (
        "PR-AUC 0.610 → 0.660 (higher is better)"
    )
