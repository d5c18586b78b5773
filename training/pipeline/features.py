"""From long test-result rows to one feature row per KNR: the fitted preparation of every model.

`ResultFeatures` is fitted once per training run (the tests it keeps are fixed at fit) and
travels inside every version's Pipeline, so prediction replays exactly what training ran, for
stored rows and uploaded files alike.
"""

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

RESULT_COLUMNS = ("KNR", "NAME", "ID", "STATUS", "VALUE_ID", "VALUE", "DATA")
# What makes two result rows the same result: one vehicle, one test (NAME within its family
# ID), one sub-result (VALUE_ID), at one time. Overlapping exports repeat rows with this key;
# a retest of the same test later is a new result. Features and vehicle counts both use it.
RESULT_KEY = ("KNR", "NAME", "ID", "VALUE_ID", "DATA")
STATUS_NOK = 13
AGGREGATES = ("n_results", "n_nok", "n_tests", "n_nok_tests", "n_retests", "n_other_tests")
TIMES = ("hour", "weekday", "shift", "shift_minutes", "line_minutes")
# The line runs three 8-hour shifts from 06:00.
SHIFT_START_HOUR = 6
SHIFT_HOURS = 8


def normalise_results(results: pd.DataFrame) -> pd.DataFrame:
    """Result rows with typed columns, without rows lacking a KNR or test, one row per key."""
    knr = results["KNR"].astype("string").str.strip()
    name = results["NAME"].astype("string").str.strip()
    frame = pd.DataFrame(
        {
            "KNR": knr,
            "NAME": name,
            "ID": pd.to_numeric(results["ID"], errors="coerce").astype("Int64"),
            "STATUS": pd.to_numeric(results["STATUS"], errors="coerce").astype("Int64"),
            "VALUE_ID": pd.to_numeric(results["VALUE_ID"], errors="coerce").astype("float64"),
            "VALUE": pd.to_numeric(results["VALUE"], errors="coerce").astype("float64"),
            "DATA": pd.to_datetime(results["DATA"], errors="coerce"),
        },
        index=results.index,
    )
    keep = knr.notna() & (knr != "") & name.notna() & (name != "")
    return drop_duplicate_results(frame[keep.to_numpy()])


def drop_duplicate_results(results: pd.DataFrame) -> pd.DataFrame:
    """The rows with their first occurrence of each result key (see RESULT_KEY)."""
    return results.drop_duplicates(subset=list(RESULT_KEY), ignore_index=True)


def count_results(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(results, NOK results) of one vehicle's rows, each result key counted once."""
    seen: set[tuple[Any, ...]] = set()
    nok = 0
    for row in rows:
        key = tuple(row.get(column) for column in RESULT_KEY)
        if key not in seen:
            seen.add(key)
            nok += row.get("STATUS") == STATUS_NOK
    return len(seen), nok


def row_tests(results: pd.DataFrame) -> pd.Series:
    """Each row's test: its NAME and family ID (`012001#1`)."""
    family = results["ID"].astype("Int64").astype("string").fillna("")
    return results["NAME"].astype("string") + "#" + family


def _value_id_label(value_id: pd.Series) -> pd.Series:
    # A missing sub-result index means a test with one value: label it 0.
    return value_id.fillna(0.0).map("{:g}".format).astype("string")


class ResultFeatures(TransformerMixin, BaseEstimator):
    """Long result rows → one row per KNR: aggregates, line times, and per kept test its
    latest values, whether its last result was NOK and how often it ran.

    The `max_tests` tests run on the most vehicles at fit are kept (bounded width at plant
    scale); other tests count only in the aggregates. Missing means "not run".
    """

    def __init__(self, max_tests: int = 500, time_features: bool = True) -> None:
        self.max_tests = max_tests
        self.time_features = time_features

    def fit(self, X: pd.DataFrame, y: Any = None) -> "ResultFeatures":
        """Choose the tests and sub-results to keep from these rows."""
        rows = self._prepare(X)
        vehicles = rows.drop_duplicates(["KNR", "test"]).groupby("test", sort=False).size()
        # Most vehicles first; the test id breaks ties so that a fit is reproducible.
        order = sorted(vehicles.items(), key=lambda item: (-item[1], item[0]))
        self.tests_ = [str(test) for test, _ in order[: int(self.max_tests)]]
        kept = rows[rows["test"].isin(self.tests_) & rows["VALUE"].notna()]
        pairs = kept[["test", "sub"]].drop_duplicates().sort_values(["test", "sub"])
        self.values_ = [f"{t}|{s}" for t, s in zip(pairs["test"], pairs["sub"], strict=True)]
        self.feature_names_ = [
            *AGGREGATES,
            *(TIMES if self.time_features else ()),
            *(f"last_nok|{t}" for t in self.tests_),
            *(f"runs|{t}" for t in self.tests_),
            *(f"value|{p}" for p in self.values_),
        ]
        # Versions trained together share this builder: prediction builds their rows once.
        text = json.dumps([self.get_params(), self.feature_names_])
        self.fingerprint_ = hashlib.sha256(text.encode()).hexdigest()
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """One float row per KNR (sorted), with exactly the columns fixed at fit."""
        rows = self._prepare(X)
        knrs = pd.Index(np.unique(rows["KNR"].to_numpy(dtype=object)), dtype="string", name="KNR")
        n_tests, n_values = len(self.tests_), len(self.values_)
        parts: list[np.ndarray] = []
        k = knrs.get_indexer(rows["KNR"])
        nok = (rows["STATUS"] == STATUS_NOK).fillna(False).to_numpy(dtype=bool)
        test_index = pd.Index(self.tests_).get_indexer(rows["test"])

        # Aggregates over every test, kept or not.
        per_test = pd.DataFrame({"k": k, "t": rows["test"].to_numpy(), "nok": nok})
        per_test["time"] = rows["DATA"].to_numpy()
        tests = per_test.groupby(["k", "t"], sort=False).agg(
            nok=("nok", "max"), runs=("time", "nunique")
        )
        tk = tests.index.get_level_values("k").to_numpy()
        kept_test = pd.Index(self.tests_).get_indexer(tests.index.get_level_values("t")) >= 0
        n = len(knrs)
        parts.append(
            np.column_stack(
                [
                    np.bincount(k, minlength=n),
                    np.bincount(k, weights=nok, minlength=n),
                    np.bincount(tk, minlength=n),
                    np.bincount(tk, weights=tests["nok"].to_numpy(dtype=float), minlength=n),
                    np.bincount(tk, weights=tests["runs"].to_numpy() > 1, minlength=n),
                    np.bincount(tk, weights=~kept_test, minlength=n),
                ]
            )
        )
        if self.time_features:
            parts.append(self._times(rows["DATA"], k, n))

        # Per kept test: its last result NOK, and how many times it ran (0 = not run).
        known = test_index >= 0
        last_nok = np.full((n, n_tests), np.nan)
        runs = np.zeros((n, n_tests))
        if known.any():
            last = rows.loc[known, ["DATA"]].assign(k=k[known], t=test_index[known], nok=nok[known])
            # Rows are in time order (ties: export order): the last row is the last result.
            latest = last.drop_duplicates(["k", "t"], keep="last")
            last_nok[latest["k"].to_numpy(), latest["t"].to_numpy()] = latest["nok"].to_numpy()
            timed = last.drop_duplicates(["k", "t", "DATA"])
            np.add.at(runs, (timed["k"].to_numpy(), timed["t"].to_numpy()), 1.0)
        parts.extend([last_nok, runs])

        # Per kept sub-result: its latest numeric value.
        values = np.full((n, n_values), np.nan)
        pair = pd.Index(self.values_).get_indexer(rows["test"] + "|" + rows["sub"])
        measured = (pair >= 0) & rows["VALUE"].notna().to_numpy()
        if measured.any():
            picked = pd.DataFrame(
                {"k": k[measured], "p": pair[measured], "v": rows["VALUE"].to_numpy()[measured]}
            ).drop_duplicates(["k", "p"], keep="last")
            values[picked["k"].to_numpy(), picked["p"].to_numpy()] = picked["v"].to_numpy()
        parts.append(values)

        matrix = np.hstack(parts).astype(np.float64)
        return pd.DataFrame(matrix, index=knrs, columns=self.feature_names_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The feature columns fixed at fit."""
        return np.asarray(self.feature_names_, dtype=object)

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in RESULT_COLUMNS if c not in X.columns]
        if missing:
            raise ValueError(f"test-result rows need the columns {missing}")
        rows = normalise_results(X)
        rows = rows.assign(test=row_tests(rows), sub=_value_id_label(rows["VALUE_ID"]))
        # Time order per vehicle; the stable sort keeps export order among equal times.
        return rows.sort_values(["KNR", "DATA"], kind="stable", ignore_index=True)

    @staticmethod
    def _times(data: pd.Series, k: np.ndarray, n: int) -> np.ndarray:
        stamps = data.to_numpy(dtype="datetime64[s]").astype("int64").astype(np.float64)
        stamps[data.isna().to_numpy()] = np.nan
        first = np.full(n, np.inf)
        last = np.full(n, -np.inf)
        np.fmin.at(first, k, stamps)
        np.fmax.at(last, k, stamps)
        first[np.isinf(first)] = np.nan
        last[np.isinf(last)] = np.nan
        start = pd.to_datetime(pd.Series(first), unit="s")
        hour = (start.dt.hour + start.dt.minute / 60).to_numpy(dtype=float)
        since_shift = (hour - SHIFT_START_HOUR) % 24
        return np.column_stack(
            [
                hour,
                start.dt.day_of_week.to_numpy(dtype=float),
                since_shift // SHIFT_HOURS,
                (since_shift % SHIFT_HOURS) * 60,
                (last - first) / 60,
            ]
        )
