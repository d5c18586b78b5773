"""The plain reference's pivot is pandas' pivot_table, built faster."""

import numpy as np
import pandas as pd

from bench.plain_reference import pivot_features


def pivot_table_features(results: pd.DataFrame) -> pd.DataFrame:
    """The plain approach as first written: pandas pivot_table of value and NOK per KNR."""
    frame = results.assign(
        test=results["NAME"].astype(str) + "|" + results["VALUE_ID"].fillna(0).astype(str),
        nok=(results["STATUS"] == 13).astype("float64"),
    )
    values = frame.pivot_table(index="KNR", columns="test", values="VALUE", aggfunc="mean")
    noks = frame.pivot_table(index="KNR", columns="test", values="nok", aggfunc="max")
    values.columns = [f"v|{c}" for c in values.columns]
    noks.columns = [f"nok|{c}" for c in noks.columns]
    features = pd.concat([values, noks], axis=1)
    features.index = pd.Index(features.index.astype("string"), name="KNR")
    return features.sort_index()


def results_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3_000
    frame = pd.DataFrame(
        {
            "KNR": pd.array([f"2024-{k:07d}" for k in rng.integers(0, 120, n)], dtype="string"),
            "NAME": pd.array([f"T{t:02d}" for t in rng.integers(0, 15, n)], dtype="string"),
            "STATUS": pd.array(rng.choice([10, 13], n, p=[0.9, 0.1]), dtype="Int64"),
            "VALUE_ID": rng.integers(1, 4, n).astype("float64"),
            "VALUE": rng.normal(10, 2, n),
        }
    )
    # Holes as exports have them: no value (status-only tests), no status, no value id; one
    # test never measured, one KNR with nothing but holes; repeated results of one test.
    frame.loc[frame.index[::7], "VALUE"] = np.nan
    frame.loc[frame["NAME"] == "T03", "VALUE"] = np.nan
    frame.loc[frame.index[::11], "STATUS"] = pd.NA
    frame.loc[frame.index[::13], "VALUE_ID"] = np.nan
    empty = frame.iloc[:2].assign(
        KNR="2024-9999999", VALUE=np.nan, STATUS=pd.array([pd.NA, pd.NA], dtype="Int64")
    )
    return pd.concat([frame, empty], ignore_index=True)


def test_pivot_equals_pandas_pivot_table():
    for seed in range(3):
        results = results_frame(seed)
        expected = pivot_table_features(results)
        assert results["STATUS"].dtype == "Int64"  # as the pipeline's clean() types it
        assert "v|T03|1.0" not in expected.columns and "2024-9999999" not in expected.index
        pd.testing.assert_frame_equal(pivot_features(results), expected, rtol=1e-12)
