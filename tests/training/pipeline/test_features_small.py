"""The few-vehicle path of ResultFeatures.transform builds exactly the pandas path's rows."""

import numpy as np
import pandas as pd
import pytest

from training.pipeline import features as features_module
from training.pipeline.features import ResultFeatures, _small_rows


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A few hundred generated vehicles' rows as an export holds them, with the oddities of
    real exports: overlapping exports, unseen tests, missing tests, padded text, missing
    sub-result, status, time, family, KNR or test."""
    from plant.demo import generate_demo_data
    from plant.readers.report import ValidationReport
    from plant.readers.sniff import sniff_export
    from plant.readers.validation import iter_clean_chunks

    out = tmp_path_factory.mktemp("small")
    path = generate_demo_data(knrs=300, out_dir=out, seed=5, compress=False)["results"]
    report = ValidationReport(kind="results", filename=path.name)
    results = pd.concat(
        iter_clean_chunks(sniff_export(path, filename=path.name, kind="results"), report=report),
        ignore_index=True,
    )
    knrs = sorted(results["KNR"].unique())
    rng = np.random.default_rng(7)

    odd = results.copy()
    odd["ID"] = odd["ID"].astype("Int64")
    odd["STATUS"] = odd["STATUS"].astype("Int64")
    picks = lambda share: rng.random(len(odd)) < share  # noqa: E731
    odd.loc[picks(0.05), "VALUE_ID"] = np.nan
    odd.loc[picks(0.05), "VALUE"] = np.nan
    odd.loc[picks(0.05), "STATUS"] = pd.NA
    odd.loc[picks(0.03), "ID"] = pd.NA
    odd.loc[picks(0.03), "DATA"] = pd.NaT
    odd.loc[picks(0.02), "NAME"] = "SECTION_NEW_00000042"
    odd.loc[picks(0.1), "NAME"] = "  " + odd["NAME"] + " "
    odd.loc[picks(0.1), "KNR"] = " " + odd["KNR"] + "\t"
    odd.loc[picks(0.01), "NAME"] = " "
    odd.loc[picks(0.01), "NAME"] = np.nan
    odd.loc[picks(0.005), "KNR"] = ""
    # Missing tests: some vehicles lose a third of their rows.
    odd = odd[~(odd["KNR"].isin(knrs[::7]) & picks(0.33)[: len(odd)])]
    # Overlapping exports: a second export repeats some vehicles' rows, shuffled.
    again = odd[odd["KNR"].isin(knrs[::5])].sample(frac=0.8, random_state=3)
    stored = pd.concat([odd, again], ignore_index=True)
    # The builder is fitted on part of the vehicles, without one test: both paths meet tests
    # and vehicles the model never saw.
    unseen = stored["NAME"].str.strip() == results["NAME"].iloc[0]
    builder = ResultFeatures(max_tests=60).fit(stored[stored["KNR"].isin(knrs[:150]) & ~unseen])
    return builder, stored, knrs


def both_paths(builder, rows, monkeypatch, small_limit=features_module.SMALL_ROWS):
    monkeypatch.setattr(features_module, "SMALL_ROWS", -1)
    slow = builder.transform(rows)
    monkeypatch.setattr(features_module, "SMALL_ROWS", small_limit)
    assert _small_rows(rows) is not None
    fast = builder.transform(rows)
    return fast, slow


def test_every_vehicle_alone_gets_the_same_row_on_both_paths(exports, monkeypatch):
    builder, stored, knrs = exports
    for knr in knrs:
        rows = stored[stored["KNR"].str.strip() == knr]
        fast, slow = both_paths(builder, rows, monkeypatch)
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)


@pytest.mark.parametrize("convert", ["stored", "plain numpy", "text columns as objects"])
def test_a_batch_gets_the_same_rows_on_both_paths(exports, monkeypatch, convert):
    builder, stored, _ = exports
    rows = stored
    if convert == "plain numpy":
        rows = stored.assign(
            ID=stored["ID"].astype("float64"), STATUS=stored["STATUS"].astype("float64"),
            DATA=stored["DATA"].astype("datetime64[ns]"),
        )
    elif convert == "text columns as objects":
        rows = stored.assign(KNR=stored["KNR"].astype(object), NAME=stored["NAME"].astype(object))

    fast, slow = both_paths(builder, rows, monkeypatch, small_limit=len(rows))

    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert len(fast) == stored["KNR"].str.strip().replace("", np.nan).dropna().nunique()
    assert fast.isna().any().any() and (fast["n_other_tests"] > 0).any()


def test_rows_needing_pandas_parsing_take_the_pandas_path(exports):
    builder, stored, knrs = exports
    rows = stored[stored["KNR"] == knrs[0]]
    as_text = rows.assign(DATA=rows["DATA"].astype(str), VALUE=rows["VALUE"].astype(str))
    half = rows.assign(ID=rows["ID"].astype("float64") + 0.5)

    assert _small_rows(as_text) is None and _small_rows(half) is None
    pd.testing.assert_frame_equal(builder.transform(as_text), builder.transform(rows))
    with pytest.raises(TypeError):
        builder.transform(half)  # pandas refuses a family number that is not whole
