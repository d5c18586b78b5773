"""The fitted feature builder: one feature path for training and prediction."""

import numpy as np
import pandas as pd
import pytest

from training.pipeline import features as features_module
from training.pipeline.features import (
    ResultFeatures,
    drop_duplicate_results,
    normalise_results,
)
from training.pipeline.steps import build_features, clean

T0 = pd.Timestamp("2024-05-16 06:00:00")


def row(knr: str, name: str, value_id: float, value: float, status: int = 10,
        minute: int = 0, family: int = 2) -> dict:
    return {"KNR": knr, "NAME": name, "ID": family, "STATUS": status, "UNIT": "Nm",
            "VALUE_ID": value_id, "VALUE": value, "DATA": T0 + pd.Timedelta(minutes=minute)}


def rows_of(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_each_test_gives_its_latest_value_its_last_status_and_its_runs():
    rows = rows_of(
        row("2024-0000001", "012001", 1.0, 10.0, status=13, minute=0),
        row("2024-0000001", "012001", 1.0, 20.0, minute=30),  # the retest, later
        row("2024-0000001", "012001", 2.0, 7.0, minute=0),
        row("2024-0000001", "071000", 80.0, np.nan, status=13, minute=5, family=1),
        row("2024-0000002", "012001", 1.0, 3.0, minute=5),
    )
    builder = ResultFeatures().fit(rows)

    features = builder.transform(rows)

    first = features.loc["2024-0000001"]
    assert first["value|012001#2|1"] == 20.0
    assert first["value|012001#2|2"] == 7.0
    assert (first["min|012001#2"], first["max|012001#2"]) == (7.0, 20.0)
    assert first["last_nok|012001#2"] == 0  # NOK first, OK on the retest
    assert first["runs|012001#2"] == 2
    assert first["last_nok|071000#1"] == 1
    assert (first["n_results"], first["n_nok"], first["n_tests"]) == (4, 2, 2)
    assert (first["n_nok_tests"], first["n_retests"]) == (2, 1)
    assert first["line_minutes"] == 30
    assert first["hour"] == 6 and first["shift"] == 0
    # A test the vehicle never ran is missing (and ran zero times), not "OK".
    second = features.loc["2024-0000002"]
    assert np.isnan(second["last_nok|071000#1"])
    assert second["runs|071000#1"] == 0
    assert "value|071000#1|80" not in features.columns  # status only: no value column


def test_rows_repeated_by_overlapping_exports_count_once():
    rows = rows_of(
        row("2024-0000001", "012001", 1.0, 10.0, status=13),
        row("2024-0000001", "012001", 2.0, 7.0),
        row("2024-0000002", "012001", 1.0, 3.0, minute=5),
    )
    builder = ResultFeatures().fit(rows)

    twice = builder.transform(pd.concat([rows, rows.iloc[:2]], ignore_index=True))

    pd.testing.assert_frame_equal(twice, builder.transform(rows))
    assert twice.loc["2024-0000001", "n_results"] == 2
    assert len(drop_duplicate_results(pd.concat([rows, rows]))) == 3


def messy_rows() -> pd.DataFrame:
    return rows_of(
        row(" 2024-0000002 ", "012001", 1.0, 3.0, minute=5),
        row("2024-0000001", "012001 ", 1.0, 10.0, status=13),
        row("2024-0000001", "012001", 2.0, 7.0, minute=1),
        row("2024-0000001", "012001", 2.0, 7.0, minute=1),  # repeated by another export
        row("2024-0000001", "071000", np.nan, 4.0, family=1, minute=3),
        row("2024-0000003", "012001", 1.0, 5.0, minute=9),
        row("", "012001", 1.0, 1.0),
    )


def test_normalised_rows_are_not_normalised_again_and_give_the_same_features():
    raw = messy_rows()
    builder = ResultFeatures().fit(raw)
    normalised = normalise_results(raw)
    some = normalised[normalised["KNR"] != "2024-0000002"]

    assert normalise_results(normalised) is normalised
    assert normalise_results(some) is some
    pd.testing.assert_frame_equal(builder.transform(normalised), builder.transform(raw))
    pd.testing.assert_frame_equal(
        builder.transform(some), builder.transform(raw).drop(index="2024-0000002")
    )
    assert ResultFeatures().fit(normalised).feature_names_ == builder.feature_names_


def test_normalised_rows_put_together_again_are_normalised_again():
    normalised = normalise_results(messy_rows())

    twice = normalise_results(pd.concat([normalised, normalised]))
    reordered = normalised.iloc[::-1]

    pd.testing.assert_frame_equal(twice, normalised)
    assert normalise_results(reordered) is not reordered


def test_categorical_text_gives_the_features_of_plain_text():
    raw = messy_rows()
    # Categories as a Parquet dictionary gives them: unsorted, some equal once stripped.
    categorical = raw.assign(
        KNR=pd.Categorical(raw["KNR"], categories=[*sorted(set(raw["KNR"]), reverse=True)]),
        NAME=raw["NAME"].astype("category"),
    )
    builder = ResultFeatures().fit(raw)

    from_categories = ResultFeatures().fit(categorical)

    assert from_categories.feature_names_ == builder.feature_names_
    pd.testing.assert_frame_equal(
        from_categories.transform(categorical), builder.transform(raw)
    )
    assert list(normalise_results(categorical)["KNR"].cat.categories) == [
        "", "2024-0000001", "2024-0000002", "2024-0000003"
    ]


def test_only_the_most_frequent_tests_get_columns_and_unseen_tests_are_ignored():
    rows = rows_of(
        *(row(f"2024-{i:07d}", "COMMON", 1.0, float(i)) for i in range(5)),
        *(row(f"2024-{i:07d}", "OFTEN", 1.0, float(i)) for i in range(3)),
        row("2024-0000000", "RARE", 1.0, 1.0),
    )
    builder = ResultFeatures(max_tests=2).fit(rows)

    assert builder.tests_ == ["COMMON#2", "OFTEN#2"]
    new_station = rows_of(row("2024-0000009", "NEW_STATION", 1.0, 5.0),
                          row("2024-0000009", "COMMON", 1.0, 4.0))
    features = builder.transform(new_station)
    assert list(features.columns) == builder.feature_names_
    assert features.loc["2024-0000009", "value|COMMON#2|1"] == 4.0
    assert features.loc["2024-0000009", "n_other_tests"] == 1


def test_prediction_builds_exactly_the_training_row_of_a_vehicle(tmp_path):
    # Generated vehicles, with (a) one KNR whose rows arrived twice in two overlapping
    # exports, (b) one with a test no vehicle of the training period had, (c) one missing
    # tests. The row prediction builds from that KNR's rows alone must equal training's.
    from plant.demo import generate_demo_data
    from plant.readers.report import ValidationReport
    from plant.readers.sniff import sniff_export
    from plant.readers.validation import iter_clean_chunks

    path = generate_demo_data(knrs=40, out_dir=tmp_path, seed=11)["results"]
    report = ValidationReport(kind="results", filename=path.name)
    info = sniff_export(path, filename=path.name, kind="results")
    results = pd.concat(iter_clean_chunks(info, report=report), ignore_index=True)
    knrs = sorted(results["KNR"].unique())
    twice, unseen, partial = knrs[3], knrs[-1], knrs[5]
    new_test = results[results["KNR"] == unseen].iloc[:1].assign(NAME="SECTION_NEW_00000099")
    exports = [
        results[results["KNR"] != partial],
        results[results["KNR"] == twice],  # the second export repeats this KNR's rows
        results[(results["KNR"] == partial) & ~results["NAME"].str.startswith("SECTION")],
        new_test,
    ]
    raw = pd.concat(exports, ignore_index=True)
    cleaned, _ = clean(raw, pd.DataFrame({"KNR": [], "S_GROUP_ID": [], "DATA": []}))
    features, _, builder = build_features(cleaned, {"test_share": 0.2})
    assert "runs|SECTION_NEW_00000099#2" not in features.columns  # only in the test period

    for knr in (twice, unseen, partial, knrs[0]):
        alone = builder.transform(raw[raw["KNR"] == knr])
        pd.testing.assert_frame_equal(alone, features.loc[[knr]])
    assert features.loc[twice, "n_results"] == (results["KNR"] == twice).sum()
    assert features.loc[partial].isna().sum() > features.loc[knrs[0]].isna().sum()


@pytest.mark.parametrize("time_features", [True, False])
def test_rows_without_a_time_or_value_still_give_a_row(time_features):
    rows = rows_of(row("2024-0000001", "012001", np.nan, np.nan))
    rows["DATA"] = pd.NaT
    builder = ResultFeatures(time_features=time_features).fit(rows)

    features = builder.transform(rows)

    assert list(features.index) == ["2024-0000001"]
    assert features.loc["2024-0000001", "n_results"] == 1


@pytest.mark.parametrize("copies", [1, 20_000])  # the small-input path and the frame path
def test_no_rows_and_rows_without_a_test_give_no_vehicle_rows(copies):
    builder = ResultFeatures().fit(rows_of(row("2024-0000001", "012001", 1.0, 0.9)))
    nameless = pd.concat([rows_of(row("2024-0000002", None, 1.0, 0.9))] * copies)

    for rows in (rows_of(row("2024-0000001", "012001", 1.0, 0.9)).iloc[:0], nameless):
        features = builder.transform(rows)

        assert features.empty
        assert list(features.columns) == list(builder.get_feature_names_out())


@pytest.mark.parametrize(
    ("first_test", "hour", "weekday", "shift", "shift_minutes"),
    [
        ("2024-06-03 22:30:00", 22.5, 0, 2, 30),  # a Monday, late shift
        ("2024-06-09 05:45:59", 5.75, 6, 2, 465),  # a Sunday, the last minutes of the night
        ("1969-12-31 14:01:00", 14 + 1 / 60, 2, 1, 1),  # before 1970: negative seconds
    ],
)
def test_the_line_times_come_from_the_vehicles_first_test(
    first_test, hour, weekday, shift, shift_minutes
):
    start = pd.Timestamp(first_test)
    rows = rows_of(
        row("2024-0000001", "012001", 1.0, 10.0),
        row("2024-0000001", "071000", 1.0, 1.0, family=1),
        row("2024-0000001", "012001", 1.0, 12.0),
    )
    rows["DATA"] = [start, start + pd.Timedelta(minutes=20), start + pd.Timedelta(minutes=90)]

    features = ResultFeatures().fit(rows).transform(rows).loc["2024-0000001"]

    assert features["hour"] == pytest.approx(hour, abs=0)
    assert (features["weekday"], features["shift"]) == (weekday, shift)
    assert features["shift_minutes"] == pytest.approx(shift_minutes)
    assert features["line_minutes"] == 90


def test_a_builder_fitted_again_builds_the_columns_of_its_new_fit():
    first = rows_of(
        row("2024-0000001", "012001", 1.0, 10.0),
        row("2024-0000001", "012001", 2.0, 7.0),
    )
    second = rows_of(
        row("2024-0000002", "SECTION_ZP8_00000001", 1.0, 24.0),
        row("2024-0000002", "SECTION_ZP8_00000001", 2.0, 31.0),
        row("2024-0000002", "SECTION_ZP8_00000001", 3.0, 27.0),
        row("2024-0000002", "042000", 1.0, 12.5, family=718),
    )
    builder = ResultFeatures().fit(first)
    builder.transform(first)  # the lookups made for the first fit

    refitted = builder.fit(second).transform(second)

    expected = ResultFeatures().fit(second).transform(second)
    pd.testing.assert_frame_equal(refitted, expected)
    assert refitted.loc["2024-0000002", "min|SECTION_ZP8_00000001#2"] == 24.0
    assert refitted.loc["2024-0000002", "max|SECTION_ZP8_00000001#2"] == 31.0
    assert refitted.loc["2024-0000002", "value|042000#718|1"] == 12.5


@pytest.mark.parametrize("rows_per_call", ["one vehicle", "pandas path"])
def test_a_reading_lands_in_the_column_its_test_and_sub_result_label_name(rows_per_call,
                                                                         monkeypatch):
    fitted = rows_of(
        *(row(knr, "012001", 1.0, 10.0) for knr in ("2024-0000001", "2024-0000002")),
        row("2024-0000001", "012001", 2.0, 11.0),
        *(row(knr, "012001|2", 3.0, 12.0)  # a "|" in the test's name
          for knr in ("2024-0000001", "2024-0000002")),
        *(row(knr, "071000", np.nan, 5.0, family=1)  # one value: sub-result 0
          for knr in ("2024-0000001", "2024-0000002")),
        row("2024-0000002", "033000", 1.0, 9.0),
    )
    builder = ResultFeatures(max_tests=3).fit(fitted)  # 033000 ran on one vehicle: not kept
    assert "value|033000#2|1" not in builder.feature_names_
    if rows_per_call == "pandas path":
        monkeypatch.setattr(features_module, "SMALL_ROWS", -1)
    later = rows_of(
        row("2024-0000003", "012001", 1.0000001, 20.0),  # labelled "1", as at fit
        row("2024-0000003", "012001", 37.0, 21.0),  # a sub-result not seen at fit
        row("2024-0000003", "012001|2", 3.0, 22.0),
        row("2024-0000003", "071000", 0.0, 6.0, family=1),
        row("2024-0000003", "071000", 2.0, 7.0, family=1),  # not seen at fit
        row("2024-0000003", "033000", 1.0, 8.0),  # a test not kept
        row("2024-0000003", "SECTION_NEW", 1.0, 9.0),  # a test never seen
    )

    features = builder.transform(later).loc["2024-0000003"]

    values = features[[c for c in features.index if c.startswith("value|")]]
    assert values.to_dict() == {
        "value|012001#2|1": 20.0, "value|012001#2|2": pytest.approx(np.nan, nan_ok=True),
        "value|012001|2#2|3": 22.0, "value|071000#1|0": 6.0,
    }
    assert features["n_other_tests"] == 2


@pytest.mark.parametrize("copies", [1, 800])  # the small-input path and the frame path
def test_a_multi_value_test_gives_the_mean_of_the_values_present(copies):
    section = "SECTION_ZP5_00000011"
    fitted = rows_of(
        *(row("2024-0000001", section, float(s), 18.0 + 2 * s) for s in (1, 2, 3)),
        row("2024-0000001", section, 4.0, 30.0),
        row("2024-0000001", "042000", 1.0, 12.5, family=718),
    )
    builder = ResultFeatures(section_means=True).fit(fitted)
    vehicles = [
        fitted,
        # Two screws measured, one not, one without a value: the mean of the two read.
        rows_of(
            row("2024-0000002", section, 1.0, 21.0),
            row("2024-0000002", section, 2.0, 25.0),
            row("2024-0000002", section, 3.0, np.nan),
            row("2024-0000002", "042000", 1.0, 12.0, family=718),
        ),
        # No screw of the section at all: no mean, not 0.
        rows_of(row("2024-0000003", "042000", 1.0, 12.0, family=718)),
        # Readings as large as an export may carry: their mean, not an overflow.
        rows_of(row("2024-0000004", section, 1.0, 1e308), row("2024-0000004", section, 2.0, 1e308)),
    ]
    rows = pd.concat(vehicles * copies, ignore_index=True)

    features = builder.transform(rows)

    mean = features[f"mean|{section}#2"]
    assert mean["2024-0000001"] == 24.0
    assert mean["2024-0000002"] == 23.0
    assert np.isnan(mean["2024-0000003"])
    assert mean["2024-0000004"] == pytest.approx(1e308)
    assert "mean|042000#718" not in features.columns  # one value: nothing to average
    assert list(features.columns[-1:]) == [f"mean|{section}#2"]


def test_a_builder_saved_before_section_means_builds_its_columns_as_before(tmp_path):
    import joblib

    rows = rows_of(
        row("2024-0000001", "012001", 1.0, 10.0),
        row("2024-0000001", "012001", 2.0, 7.0),
        row("2024-0000002", "012001", 1.0, 9.0),
    )
    builder = ResultFeatures().fit(rows)
    expected = builder.transform(rows)
    # As an artifact pickled before the option existed: no `section_means` in its state.
    del builder.section_means
    joblib.dump(builder, tmp_path / "builder.joblib")

    loaded = joblib.load(tmp_path / "builder.joblib")

    assert loaded.section_means is False
    pd.testing.assert_frame_equal(loaded.transform(rows), expected)
    assert not any(name.startswith("mean|") for name in loaded.feature_names_)
    # Fitted anew with the option, the same rows give the mean too.
    with_means = ResultFeatures(section_means=True).fit(rows).transform(rows)
    assert with_means.loc["2024-0000001", "mean|012001#2"] == 8.5
    pd.testing.assert_frame_equal(with_means[expected.columns], expected)
