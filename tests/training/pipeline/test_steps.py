"""Tests of the pipeline steps on tiny inline DataFrames."""

import io

import numpy as np
import pandas as pd
import pytest

from training.pipeline.estimators import ColumnAligner, make_pipeline
from training.pipeline.steps import (
    build_features,
    build_labels,
    choose_threshold,
    clean,
    evaluate,
    load_datasets,
    score_model,
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


def test_build_features_aggregates_values_and_nok_counts_per_knr():
    results = pd.DataFrame([
        result_row("2024-0000001", "012001", 1.0, 10.0),
        result_row("2024-0000001", "012001", 1.0, 20.0, status=13),
        result_row("2024-0000001", "012001", 2.0, 7.0),
        result_row("2024-0000001", "SECTION_ZP8_00000001", np.nan, np.nan, status=13),
        result_row("2024-0000002", "012001", 1.0, 3.0, minute=5),
    ])

    features, production_time = build_features(results)

    first = features.loc["2024-0000001"]
    assert first["v|012001|1"] == 15.0
    assert first["v|012001|2"] == 7.0
    assert first["nok|012001"] == 1
    assert first["runs|012001"] == 3
    assert first["nok|SECTION_ZP8_00000001"] == 1
    assert (first["n_tests"], first["n_nok"], first["n_names"]) == (4, 2, 2)
    # A test the vehicle never ran is missing, not "zero NOKs".
    assert np.isnan(features.loc["2024-0000002", "nok|SECTION_ZP8_00000001"])
    assert production_time["2024-0000002"] == T0 + pd.Timedelta(minutes=5)


def test_build_features_takes_nothing_from_the_defect_table():
    results, defects = learnable_data(40)

    features, _ = build_features(results)

    defect_only = {"MODELO", "COR", "MOTOR", "ESTACAO", "USUARIO", "HALLE", "FALHA", "S_GROUP_ID"}
    assert not any(part in defect_only for c in features.columns for part in c.split("|"))
    allowed_prefixes = ("v|", "nok|", "runs|", "n_")
    assert all(c.startswith(allowed_prefixes) for c in features.columns)
    # Failing and passing vehicles get the same columns: nothing marks a failure.
    failing = set(defects["KNR"])
    assert features.loc[features.index.isin(failing)].notna().sum().gt(0).all()
    assert features.loc[~features.index.isin(failing)].notna().sum().gt(0).all()


def test_build_features_for_one_vehicle_equals_its_row_in_bulk():
    results, _ = learnable_data(30)
    bulk, _ = build_features(results)
    knr = "2024-0000007"

    alone, _ = build_features(results[results["KNR"] == knr])

    aligned = ColumnAligner().fit(bulk).transform(alone)
    pd.testing.assert_series_equal(aligned.loc[knr], bulk.loc[knr])


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


def test_column_aligner_ignores_unseen_columns_and_fills_missing_with_nan():
    train = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    aligner = ColumnAligner().fit(train)

    out = aligner.transform(pd.DataFrame({"b": [5.0], "new": [9.0]}))

    assert list(out.columns) == ["a", "b"]
    assert np.isnan(out.loc[0, "a"])
    assert out.loc[0, "b"] == 5.0


def test_fitted_pipeline_predicts_one_vehicle_with_missing_and_unseen_columns():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    for name in ("logistic_regression", "random_forest", "hist_gradient_boosting"):
        pipeline = make_pipeline(name).fit(X, y)

        proba = pipeline.predict_proba(pd.DataFrame({"a": [2.0], "zzz": [1.0]}))

        assert proba.shape == (1, 2), name
        assert proba[0, 1] > 0.5, name


@pytest.mark.parametrize("target", [0.5, 0.8, 0.95])
def test_choose_threshold_is_the_highest_reaching_the_target_recall(target):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    proba = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)

    threshold = choose_threshold(y, proba, target_recall=target)

    recall = ((proba >= threshold) & (y == 1)).sum() / y.sum()
    assert recall >= target
    higher = np.nextafter(threshold, 1.0)
    assert ((proba >= higher) & (y == 1)).sum() / y.sum() < target


def test_train_models_skips_groups_below_min_positives_and_reports_their_count():
    results, defects = learnable_data(300)
    defects = pd.concat([defects, pd.DataFrame([defect_row("2024-0000003", 137)])])
    features, production_time = build_features(results)
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, 0.2)

    trained = train_models(train, {"min_positives": 30, "estimator": "logistic_regression"})

    assert set(trained["models"]) == {"fail", "group_2", "group_4"}
    assert trained["skipped"] == {"group_137": 1}
    fail = trained["models"]["fail"]
    assert fail["n_train"] == 240
    assert fail["feature_columns"] == list(features.columns)
    assert 0 < fail["threshold"] < 1


def test_evaluate_scores_each_kind_on_the_test_set_at_its_threshold():
    results, defects = learnable_data(300)
    features, production_time = build_features(results)
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, 0.25)
    trained = train_models(train, {"estimator": "logistic_regression", "target_recall": 0.9})

    evaluated = evaluate(trained, test)

    metrics = evaluated["models"]["fail"]["metrics"]
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    assert tp + fn == metrics["support"]["positives"] == test.labels["fail"].sum()
    assert tn + fp == metrics["support"]["negatives"]
    assert metrics["recall"] == pytest.approx(tp / (tp + fn))
    assert metrics["threshold"] == evaluated["models"]["fail"]["threshold"]
    # The signal is one clean feature: a working model separates it almost perfectly.
    assert metrics["roc_auc"] > 0.95
    assert evaluated["models"]["fail"]["n_test"] == 75
    assert evaluated["test_set"] is test


def test_score_model_counts_predictions_at_or_above_the_threshold_as_positive():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 10})
    y = pd.Series([0, 0, 1, 1] * 10)
    pipeline = make_pipeline("logistic_regression").fit(X, y)
    proba = pipeline.predict_proba(X)[:, 1]

    metrics = score_model(pipeline, float(np.sort(proba)[-10]), X, y)

    assert metrics["confusion_matrix"] == [[20, 0], [10, 10]]
    assert metrics["precision"] == 1.0
    assert metrics["recall"] == 0.5


def test_build_labels_without_any_defects_marks_every_vehicle_as_not_failing():
    defects = pd.DataFrame({"KNR": pd.Series(dtype=object), "S_GROUP_ID": pd.Series(dtype=int)})

    labels = build_labels(defects, ["2024-0000001", "2024-0000002"])

    assert labels["fail"].tolist() == [0, 0]
    assert list(labels.columns) == ["fail"]


def test_one_vehicle_features_equal_the_bulk_rows_on_plant_like_data(tmp_path):
    # The one-KNR path (prediction) and the grouped path (training) must agree exactly,
    # on data with NOK results, missing values, status-only tests and several sub-results.
    from training.demo import generate_demo_data
    from training.ingest import ValidationReport, iter_clean_chunks

    path = generate_demo_data(knrs=25, out_dir=tmp_path, seed=11)["results"]
    report = ValidationReport(kind="results", filename=path.name)
    results = pd.concat(
        iter_clean_chunks(path, filename=path.name, kind="results", report=report)
    )
    bulk, bulk_time = build_features(results)
    assert results["VALUE"].isna().any() and (results["STATUS"] == 13).any()

    for knr in bulk.index:
        alone, alone_time = build_features(results[results["KNR"] == knr])
        assert len(alone) == 1
        expected = bulk.loc[knr].dropna()
        pd.testing.assert_series_equal(
            alone.loc[knr].reindex(expected.index), expected, check_names=False
        )
        assert set(alone.columns) == set(expected.index)
        assert alone_time.loc[knr] == bulk_time.loc[knr]
