"""The demo-data generator: plant-like quirks, a known rule, and reproducible files."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from plant.demo import generate_demo_data
from plant.readers.columns import DEFECTS, RESULTS
from plant.readers.report import ValidationReport
from plant.readers.sniff import sniff_export
from plant.readers.validation import iter_clean_chunks


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_demo_data(knrs=200, out_dir=tmp_path_factory.mktemp("demo"), seed=7)


def ingest(path, kind):
    report = ValidationReport(kind=kind, filename=path.name)
    info = sniff_export(path, filename=path.name, kind=kind)
    frame = pd.concat(iter_clean_chunks(info, report=report))
    return frame, report


def test_files_have_the_documented_columns(demo):
    with gzip.open(demo["results"], "rt", encoding="utf-8") as f:
        assert f.readline().rstrip("\n") == ",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA"
    defects = pd.read_csv(demo["defects"], dtype=str)
    assert list(defects.columns) == [
        "KNR", "MODELO", "COR", "MOTOR", "ESTACAO", "USUARIO", "HALLE", "FALHA", "S_GROUP_ID",
        "DATA",
    ]
    truth = pd.read_csv(demo["truth"], dtype={"KNR": str})
    assert list(truth.columns) == [
        "KNR", "p_fail", "p_1", "p_2", "p_4", "p_5", "p_133", "p_137", "p_140", "p_9830946",
    ]
    assert len(truth) == 200 and truth["KNR"].is_unique


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(demo, tmp_path):
    again = generate_demo_data(knrs=200, out_dir=tmp_path / "again", seed=7)
    other = generate_demo_data(knrs=200, out_dir=tmp_path / "other", seed=8)

    for name in ("results", "defects", "truth"):
        assert again[name].read_bytes() == demo[name].read_bytes()
    assert other["results"].read_bytes() != demo["results"].read_bytes()


def test_truth_is_a_probability_and_p_fail_combines_the_groups(demo):
    truth = pd.read_csv(demo["truth"], dtype={"KNR": str})
    groups = truth.filter(like="p_").drop(columns="p_fail")

    assert ((truth.filter(like="p_") >= 0) & (truth.filter(like="p_") <= 1)).all().all()
    combined = 1 - (1 - groups).prod(axis=1)
    assert (combined - truth["p_fail"]).abs().max() < 1e-5
    assert 0.3 < truth["p_fail"].mean() < 0.7
    assert truth["p_137"].mean() < 0.05 and truth["p_140"].mean() < 0.05


def test_demo_imports_back_with_only_the_deliberate_quirks(demo):
    results, results_report = ingest(demo["results"], RESULTS)
    defects, defects_report = ingest(demo["defects"], DEFECTS)
    truth = pd.read_csv(demo["truth"], dtype={"KNR": str})

    assert results_report.rows_rejected == 0 and defects_report.rows_rejected == 0
    assert results_report.values_unparseable < 0.01 * results_report.rows_read
    assert defects_report.rows_dropped > 0
    assert set(results["KNR"]) == set(truth["KNR"])
    assert set(defects["KNR"]) <= set(truth["KNR"])
    assert set(results["ID"]) == {1, 2, 718}
    assert results["UNIT"].isna().any() and (results["UNIT"] == "Nm").any()
    assert results.groupby("KNR").size().between(20, 45).all()
    assert set(defects["S_GROUP_ID"]) <= {2, 4, 5, 1, 9830946, 133, 140, 137}
    # Later KNRs are produced later, so a split by production time makes sense.
    first_seen = results.groupby("KNR")["DATA"].min().sort_index()
    assert first_seen.is_monotonic_increasing
    assert (first_seen.iloc[-1] - first_seen.iloc[0]).days > 300
    # Defects are found after the vehicle's tests.
    last_test = results.groupby("KNR")["DATA"].max()
    assert (defects["DATA"] > defects["KNR"].map(last_test)).all()


def test_defect_rows_follow_the_truth(demo):
    defects, _ = ingest(demo["defects"], DEFECTS)
    truth = pd.read_csv(demo["truth"], dtype={"KNR": str}).set_index("KNR")

    failed = truth.index.isin(defects["KNR"])
    # Vehicles that failed had a clearly higher true risk than those that did not.
    assert truth["p_fail"][failed].mean() > truth["p_fail"][~failed].mean() + 0.1


def test_tests_per_knr_controls_rows_per_vehicle_and_plain_csv_is_possible(tmp_path):
    paths = generate_demo_data(knrs=20, out_dir=tmp_path, seed=1, tests_per_knr=120,
                               compress=False)

    assert paths["results"].name == "results.csv"
    results, _ = ingest(paths["results"], RESULTS)
    assert results.groupby("KNR").size().median() > 100


def test_a_wide_export_is_drawn_in_chunks_of_bounded_rows_and_written_whole(
    tmp_path, monkeypatch
):
    import plant.demo as demo_module

    chunks = []
    write_chunk = demo_module._write_chunk

    def spy(rng, plan, knr_ids, *args):
        chunks.append(len(knr_ids))
        return write_chunk(rng, plan, knr_ids, *args)

    monkeypatch.setattr(demo_module, "CHUNK_ROWS", 2_000)
    monkeypatch.setattr(demo_module, "_write_chunk", spy)
    paths = generate_demo_data(knrs=23, out_dir=tmp_path, seed=3, tests_per_knr=400)

    assert chunks == [5, 5, 5, 5, 3]  # 2,000 rows / 400 per vehicle
    raw = pd.read_csv(paths["results"], dtype={"KNR": str})
    assert raw.iloc[:, 0].tolist() == list(range(len(raw)))  # every chunk, in order
    truth = pd.read_csv(paths["truth"], dtype={"KNR": str})
    assert raw["KNR"].drop_duplicates().tolist() == truth["KNR"].tolist()
    assert raw.groupby("KNR").size().min() > 300


def shifted_readings(folder, test: str) -> pd.DataFrame:
    results = pd.read_csv(folder / "results.csv.gz", dtype=str)
    rows = results[results["NAME"] == test]
    return pd.DataFrame({"KNR": rows["KNR"], "VALUE_ID": rows["VALUE_ID"],
                         "time": pd.to_datetime(rows["DATA"], format="mixed"),
                         "value": pd.to_numeric(rows["VALUE"].str.strip().str.replace(",", "."),
                                                errors="coerce")}).reset_index(drop=True)


def test_a_drift_moves_its_tests_from_its_date_on_and_leaves_the_rest_as_drawn(tmp_path):
    from plant.demo import Drift, strongest_tests

    since = np.datetime64("2024-07-01T00:00:00")
    plain = generate_demo_data(knrs=400, out_dir=tmp_path / "plain", seed=5, compress=True)
    drifted = generate_demo_data(knrs=400, out_dir=tmp_path / "drifted", seed=5,
                                 drift=Drift(since=since, tests=strongest_tests(1)))
    test = strongest_tests(1)[0]
    before, after = (shifted_readings(p.parent, test) for p in
                     (plain["results"], drifted["results"]))
    assert before[["KNR", "VALUE_ID", "time"]].equals(after[["KNR", "VALUE_ID", "time"]])
    late = before["time"] >= pd.Timestamp(since)
    assert 0 < late.sum() < len(before)
    assert np.array_equal(after["value"][~late], before["value"][~late], equal_nan=True)
    moved = (after["value"][late] - before["value"][late]).dropna().to_numpy()
    assert len(moved) > 50
    # One standard deviation down (printed with the readings' decimals).
    spread = before["value"][~late].std()
    assert np.allclose(moved, -spread, rtol=0.15)
    # Another test's readings do not move.
    other = "SECTION_TUR_00000004"
    assert np.array_equal(shifted_readings(tmp_path / "plain", other)["value"],
                          shifted_readings(tmp_path / "drifted", other)["value"], equal_nan=True)
