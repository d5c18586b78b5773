"""From long test-result rows to one feature row per KNR: the fitted preparation of every model.

`ResultFeatures` is fitted once per training run (the tests it keeps are fixed at fit) and
travels inside every version's Pipeline, so prediction replays exactly what training ran, for
stored rows and uploaded files alike.
"""

import hashlib
import json
import weakref
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

# Rows with one result key are one result: features and vehicle counts count them alike.
from plant.results import RESULT_KEY, STATUS_NOK
from training.pipeline.line_times import TIMES, line_times

RESULT_COLUMNS = ("KNR", "NAME", "ID", "STATUS", "VALUE_ID", "VALUE", "DATA")
AGGREGATES = ("n_results", "n_nok", "n_tests", "n_nok_tests", "n_retests", "n_other_tests")
# The columns that make the per-vehicle pivot of the plain approach: each test value's latest
# reading and each test's last NOK flag.
READING_PREFIX = "value|"
PIVOT_PREFIXES = (READING_PREFIX, "last_nok|")
# The `attrs` key marking `normalise_results` output, and the column types it has.
NORMALISED = "normalised_results"
_NORMALISED_DTYPES = {
    "ID": "Int64",
    "STATUS": "Int64",
    "VALUE_ID": "float64",
    "VALUE": "float64",
}


def normalise_results(results: pd.DataFrame) -> pd.DataFrame:
    """Result rows with typed columns, without rows lacking a KNR or test, one row per key.

    A frame this returned, or rows of it in the same order, comes back as is (`is_normalised`):
    training normalises the rows once and the feature builder does not copy them again.
    """
    if is_normalised(results):
        return results
    knr = _stripped_text(results["KNR"])
    name = _stripped_text(results["NAME"])
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
    keep = (knr.notna() & (knr != "") & name.notna() & (name != "")).to_numpy(dtype=bool)
    if not keep.all():
        frame = frame[keep]
    frame = drop_duplicate_results(frame)
    frame.attrs[NORMALISED] = True
    return frame


def is_normalised(results: pd.DataFrame) -> bool:
    """Whether these rows are `normalise_results` output or rows of it in the same order.

    Row filters and slices keep the mark (pandas carries `attrs`); a strictly increasing index
    rules out rows repeated or reordered since, e.g. two frames concatenated.
    """
    return (
        results.attrs.get(NORMALISED) is True
        and results.index.is_monotonic_increasing
        and results.index.is_unique
        and all(str(results.dtypes.get(c)) == t for c, t in _NORMALISED_DTYPES.items())
    )


def _stripped_text(column: pd.Series) -> pd.Series:
    """Text without surrounding blanks; categorical text stays categorical (sorted categories)
    and only its categories are stripped: a Parquet dictionary column is never expanded."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return column.astype("string").str.strip()
    stripped = pd.Index(column.cat.categories.astype("string").str.strip())
    # Categories equal once stripped become one; sorted so that codes follow text order.
    remap, categories = pd.factorize(stripped, sort=True)
    codes = column.cat.codes.to_numpy()
    codes = np.where(codes < 0, -1, remap[codes])
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype="string")),
        index=column.index,
        name=column.name,
    )


def drop_duplicate_results(results: pd.DataFrame) -> pd.DataFrame:
    """The rows with their first occurrence of each result key (see RESULT_KEY)."""
    duplicated = _duplicated_keys(results)
    if duplicated.any():
        results = results[~duplicated]
    return results.reset_index(drop=True)


# From this many rows, keys are hashed to one integer per row first: comparing five columns
# row by row was 10 of the 30 CPU seconds of a month of 20M rows.
HASHED_KEYS_FROM = 100_000
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _duplicated_keys(results: pd.DataFrame) -> np.ndarray:
    """Whether each row repeats an earlier row's result key (pandas' `duplicated`, exactly):
    only the rows whose key hash is shared are compared column by column."""
    if len(results) < HASHED_KEYS_FROM:
        return results.duplicated(subset=list(RESULT_KEY)).to_numpy()
    hashed = np.zeros(len(results), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in RESULT_KEY:
            hashed ^= _key_integers(results[column])
            hashed *= _GOLDEN
            hashed ^= hashed >> np.uint64(29)
    duplicated = np.zeros(len(results), dtype=bool)
    # Sorted rather than hashed again: a hash table of 20M rows took ten times as long.
    ordered = np.sort(hashed, kind="stable")
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):
        shared = np.isin(hashed, np.unique(repeated))
        duplicated[shared] = results[shared].duplicated(subset=list(RESULT_KEY)).to_numpy()
    return duplicated


def _key_integers(column: pd.Series) -> np.ndarray:
    """A key column as one integer per row, equal wherever `duplicated` sees equal values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
    elif pd.api.types.is_datetime64_any_dtype(column.dtype):
        codes = column.to_numpy().view(np.int64)
    elif pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64) + 0.0  # -0.0 and 0.0 alike
        codes = np.where(np.isnan(values), np.nan, values).view(np.int64)
    else:
        codes = pd.factorize(column)[0]
    return codes.astype(np.int64).view(np.uint64)


def row_tests(results: pd.DataFrame) -> pd.Series:
    """Each row's test: its NAME and family ID (`012001#1`)."""
    family = results["ID"].astype("Int64").astype("string").fillna("")
    return results["NAME"].astype("string") + "#" + family


def _test_codes(results: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Each row's test as a code into the tests (`row_tests` labels, first seen first).

    Coded from (NAME, ID) integer codes: a label string is built per distinct test, not per row.
    """
    name_codes, names = pd.factorize(results["NAME"])
    id_codes, ids = pd.factorize(results["ID"], use_na_sentinel=False)
    n_ids = max(len(ids), 1)
    pair_codes, pairs = pd.factorize(name_codes.astype(np.int64) * n_ids + id_codes)
    tests = row_tests(
        pd.DataFrame(
            {
                "NAME": pd.Index(names).astype("string").take(pairs // n_ids),
                "ID": pd.Index(ids).take(pairs % n_ids),
            }
        )
    )
    # Two (NAME, ID) pairs with one label would be one test, as with labels per row.
    label_codes, labels = pd.factorize(tests)
    return label_codes[pair_codes], pd.Index(labels, dtype="string")


def _value_id_codes(value_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's sub-result index (missing = 0) as a code into the distinct indexes."""
    filled = np.where(np.isnan(value_id), 0.0, value_id).astype(np.float64)
    # Coded by bit pattern: each distinct float keeps its own label, as when labelled per row.
    codes, bits = pd.factorize(filled.view(np.int64))
    return codes, bits.view(np.float64)


def _check_columns(X: pd.DataFrame) -> None:
    missing = [c for c in RESULT_COLUMNS if c not in X.columns]
    if missing:
        raise ValueError(f"test-result rows need the columns {missing}")


def _last_rows(group_of_row: np.ndarray, groups: int) -> np.ndarray:
    """For each group, the position of its last row."""
    last = np.zeros(groups, dtype=np.intp)
    np.maximum.at(last, group_of_row, np.arange(len(group_of_row), dtype=np.intp))
    return last


def _value_id_label(value_id: pd.Series) -> pd.Series:
    # A missing sub-result index means a test with one value: label it 0.
    return value_id.fillna(0.0).map("{:g}".format).astype("string")


class _Rows(NamedTuple):
    """normalise_results' rows as arrays: vehicles by sorted code, tests by first appearance."""

    knr_codes: np.ndarray
    knr_values: np.ndarray
    test_codes: np.ndarray
    test_values: np.ndarray
    dates: np.ndarray  # datetime64[ns], NaT where missing
    nok: np.ndarray
    value: np.ndarray
    value_id: np.ndarray


def _frame_rows(X: pd.DataFrame) -> _Rows:
    rows = normalise_results(X)
    knr_codes, knr_values = pd.factorize(rows["KNR"], sort=True)
    # Coded from (NAME, ID) codes: a label string per distinct test, not per row (at 20M rows
    # the strings per row were a third of building the features).
    test_codes, test_values = _test_codes(rows)
    return _Rows(
        knr_codes=knr_codes,
        knr_values=np.asarray(knr_values, dtype=object),
        test_codes=test_codes,
        test_values=np.asarray(test_values, dtype=object),
        dates=rows["DATA"].to_numpy(dtype="datetime64[ns]"),
        nok=(rows["STATUS"] == STATUS_NOK).fillna(False).to_numpy(dtype=bool),
        value=rows["VALUE"].to_numpy(dtype=np.float64),
        value_id=rows["VALUE_ID"].to_numpy(dtype=np.float64),
    )


# Up to this many rows (a few vehicles) the rows are normalised in plain Python: pandas' fixed
# cost per call was most of a one-vehicle prediction. Larger inputs stay vectorised.
SMALL_ROWS = 2_000


def _texts(column: pd.Series) -> list[Any] | None:
    """Stripped strings (None where missing), or None unless every value is text or missing."""
    if isinstance(column.dtype, pd.StringDtype):
        # Converted at once: element by element, an Arrow-backed column cost 1 µs a value.
        values = column.to_numpy(dtype=object, na_value=None).tolist()
        return [None if value is None else value.strip() for value in values]
    if column.dtype != object:
        return None
    texts: list[Any] = []
    for value in column.tolist():
        if isinstance(value, str):
            texts.append(value.strip())
        elif value is None or value is pd.NA or (isinstance(value, float) and value != value):
            texts.append(None)
        else:
            return None
    return texts


def _numbers(column: pd.Series, *, integers: bool) -> np.ndarray | None:
    """A numeric column as floats (NaN where missing); None where pandas' coercion could
    differ (text, booleans) or, for `integers`, where `astype("Int64")` would refuse."""
    if pd.api.types.is_bool_dtype(column.dtype) or not pd.api.types.is_numeric_dtype(
        column.dtype
    ):
        return None
    numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
    if integers:
        present = numbers[~np.isnan(numbers)]
        if (np.abs(present) >= 2**53).any() or (present != np.floor(present)).any():
            return None
    return numbers


def _small_rows(X: pd.DataFrame) -> _Rows | None:
    """_frame_rows in plain Python for already typed columns (text, numbers, naive times, as
    stored rows arrive); None when a column needs pandas' parsing."""
    data = X["DATA"]
    if not pd.api.types.is_datetime64_dtype(data.dtype):
        return None
    knr, name = _texts(X["KNR"]), _texts(X["NAME"])
    family, status = _numbers(X["ID"], integers=True), _numbers(X["STATUS"], integers=True)
    value, value_id = _numbers(X["VALUE"], integers=False), _numbers(X["VALUE_ID"], integers=False)
    if any(column is None for column in (knr, name, family, status, value, value_id)):
        return None
    dates = data.to_numpy(dtype="datetime64[ns]")
    stamps = dates.view("int64").tolist()
    families = [None if f != f else int(f) for f in family.tolist()]
    value_ids = [None if v != v else v for v in value_id.tolist()]
    # normalise_results: rows without a KNR or test left out, the first row of each key kept.
    kept: list[int] = []
    seen: set[tuple[Any, ...]] = set()
    for i, (vehicle, test) in enumerate(zip(knr, name, strict=True)):
        if vehicle and test:
            key = (vehicle, test, families[i], value_ids[i], stamps[i])
            if key not in seen:
                seen.add(key)
                kept.append(i)
    vehicles = sorted({knr[i] for i in kept})
    vehicle_code = {vehicle: j for j, vehicle in enumerate(vehicles)}
    test_code: dict[str, int] = {}
    tests = [
        test_code.setdefault(
            f"{name[i]}#{'' if families[i] is None else families[i]}", len(test_code)
        )
        for i in kept
    ]
    rows = np.array(kept, dtype=np.intp)
    return _Rows(
        knr_codes=np.array([vehicle_code[knr[i]] for i in kept], dtype=np.intp),
        knr_values=np.array(vehicles, dtype=object),
        test_codes=np.array(tests, dtype=np.intp),
        test_values=np.array(list(test_code), dtype=object),
        dates=dates[rows],
        nok=status[rows] == STATUS_NOK,
        value=value[rows],
        value_id=value_id[rows],
    )


def _time_order(knr_codes: np.ndarray, stamps: np.ndarray) -> np.ndarray | None:
    """The rows' order by vehicle, then time (stable); None when they are in it already."""
    if len(knr_codes) > 1:
        # Compared, not subtracted: a missing time (NaT, the lowest int64) would overflow.
        same, later = knr_codes[1:] == knr_codes[:-1], knr_codes[1:] > knr_codes[:-1]
        if not (later | (same & (stamps[1:] >= stamps[:-1]))).all():
            return np.lexsort((stamps, knr_codes))
    return None


def _take(values: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    return values if order is None else values[order]


def _group_codes(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each key's group (a code) and the distinct keys, for keys in [0, size).

    A vehicle × test grid is a few million cells: counted in a dense array, cheaper than
    sorting or hashing millions of rows; a sparse grid (few rows, many of both) is hashed.
    """
    if size <= max(4 * len(keys), 1 << 20):
        present = np.bincount(keys, minlength=size) > 0
        groups = np.flatnonzero(present)
        code_of_key = np.zeros(size, dtype=np.intp)
        code_of_key[groups] = np.arange(len(groups))
        return code_of_key[keys], groups
    codes, groups = pd.factorize(keys)
    return codes, np.asarray(groups)


class _Lookups(NamedTuple):
    """A fitted builder's columns as lookups: kept test → position, each value column's
    position by kept test and sub-result label (a table, -1 where none; the labels' columns in
    it), and the value columns of each multi-value test (positions, grouped; each group's
    start)."""

    tests: dict[str, int]
    value_table: tuple[np.ndarray, dict[str, int]]
    spread: tuple[np.ndarray, np.ndarray]
    columns: pd.Index  # the frame's columns, one Index for every frame this builder makes


# Per fitted builder, beside it rather than on it: the saved artifact stays what was fitted.
_lookups: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ResultFeatures(TransformerMixin, BaseEstimator):
    """Long result rows → one row per KNR: aggregates, line times, and per kept test its
    latest values (and their minimum, maximum and, with `section_means`, mean over its
    sub-results), whether its last result was NOK and how often it ran.

    The `max_tests` tests run on the most vehicles at fit are kept (bounded width at plant
    scale); other tests count only in the aggregates. Missing means "not run".
    """

    def __init__(
        self, max_tests: int = 500, time_features: bool = True, section_means: bool = False
    ) -> None:
        self.max_tests = max_tests
        self.time_features = time_features
        # A screw section's tool offsets all its screws alike: their mean shows the offset
        # that each screw alone hides in its own scatter.
        self.section_means = section_means

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Versions saved before section means existed were built without them.
        super().__setstate__({"section_means": False, **state})

    def fit(self, X: pd.DataFrame, y: Any = None) -> "ResultFeatures":
        """Choose the tests and sub-results to keep from these rows."""
        _check_columns(X)
        rows = normalise_results(X)
        test_codes, tests = _test_codes(rows)
        knr_codes = pd.factorize(rows["KNR"])[0]
        n_tests = max(len(tests), 1)
        # Vehicles per test: distinct (vehicle, test) codes.
        runs = pd.unique(knr_codes.astype(np.int64) * n_tests + test_codes)
        vehicles = np.bincount(runs % n_tests, minlength=len(tests))
        # Most vehicles first; the test id breaks ties so that a fit is reproducible.
        counts = zip(tests, vehicles.tolist(), strict=True)
        order = sorted(counts, key=lambda item: (-item[1], item[0]))
        self.tests_ = [str(test) for test, _ in order[: int(self.max_tests)]]
        kept = np.isin(test_codes, tests.get_indexer(self.tests_))
        kept &= rows["VALUE"].notna().to_numpy()
        pairs = self._kept_pairs(tests, test_codes[kept], rows["VALUE_ID"].to_numpy()[kept])
        self.values_ = [f"{t}|{s}" for t, s in zip(pairs["test"], pairs["sub"], strict=True)]
        # Tests with several sub-results (a screw section): their weakest and strongest value.
        per_test = pairs.groupby("test", sort=True).size()
        self.spread_ = [str(t) for t in per_test.index[per_test.to_numpy() > 1]]
        self.feature_names_ = [
            *AGGREGATES,
            *(TIMES if self.time_features else ()),
            *(f"last_nok|{t}" for t in self.tests_),
            *(f"runs|{t}" for t in self.tests_),
            *(f"value|{p}" for p in self.values_),
            *(f"min|{t}" for t in self.spread_),
            *(f"max|{t}" for t in self.spread_),
            *(f"mean|{t}" for t in self.spread_ if self.section_means),
        ]
        # Versions trained together share this builder: prediction builds their rows once.
        text = json.dumps([self.get_params(), self.feature_names_])
        self.fingerprint_ = hashlib.sha256(text.encode()).hexdigest()
        _lookups.pop(self, None)  # fitted again: the lookups follow the new columns
        return self

    @staticmethod
    def _kept_pairs(tests: pd.Index, codes: np.ndarray, value_id: np.ndarray) -> pd.DataFrame:
        """The distinct (test, sub-result label) pairs of these rows, sorted."""
        value_id_of_row, value_ids = _value_id_codes(value_id)
        n_values = max(len(value_ids), 1)
        pairs = pd.unique(codes.astype(np.int64) * n_values + value_id_of_row)
        frame = pd.DataFrame(
            {
                "test": tests.take(pairs // n_values),
                "sub": _value_id_label(pd.Series(value_ids[pairs % n_values], dtype="float64")),
            }
        )
        return frame.drop_duplicates().sort_values(["test", "sub"])

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """One float row per KNR (sorted), with exactly the columns fixed at fit."""
        _check_columns(X)
        rows = _small_rows(X) if len(X) <= SMALL_ROWS else None
        if rows is None:
            rows = _frame_rows(X)
        # Integer codes and numpy throughout: a one-KNR prediction pays no pandas grouping
        # overhead, and a million rows stay vectorised.
        knr_codes, test_codes, test_values = rows.knr_codes, rows.test_codes, rows.test_values
        knrs = pd.Index(rows.knr_values, dtype="string", name="KNR")
        n, n_codes = len(knrs), max(len(test_values), 1)
        stamps = rows.dates.view("int64")
        # Time order per vehicle; lexsort is stable, so export order breaks ties. Stored rows
        # usually come in that order already (exports list a vehicle's tests along the line).
        order = _time_order(knr_codes, stamps)
        k, code, stamp = _take(knr_codes, order), _take(test_codes, order), _take(stamps, order)
        nok = _take(rows.nok, order)
        value = _take(rows.value, order)
        value_id = _take(rows.value_id, order)

        # One entry per (vehicle, test): whether any result was NOK, distinct times it ran,
        # and its last row (rows are in time order).
        pair = k.astype(np.int64) * n_codes + code
        pair_of_row, pairs = _group_codes(pair, n * n_codes)
        pair_nok = np.bincount(pair_of_row, weights=nok, minlength=len(pairs)) > 0
        # A pair's rows in time order: a stable sort by pair keeps the vehicle's time order.
        by_time = np.argsort(pair_of_row, kind="stable")
        sorted_pairs, sorted_stamps = pair_of_row[by_time], stamp[by_time]
        new_run = np.ones(len(sorted_pairs), dtype=bool)
        new_run[1:] = (sorted_pairs[1:] != sorted_pairs[:-1]) | (
            sorted_stamps[1:] != sorted_stamps[:-1]
        )
        pair_runs = np.bincount(sorted_pairs[new_run], minlength=len(pairs))
        last_row = _last_rows(pair_of_row, len(pairs))
        pair_k = pairs // n_codes
        kept_tests = self._lookups().tests
        vocabulary = np.array([kept_tests.get(t, -1) for t in test_values], dtype=np.intp)
        pair_test = vocabulary[pairs % n_codes] if len(pairs) else np.zeros(0, dtype=np.intp)
        kept = pair_test >= 0

        parts: list[np.ndarray] = [
            np.column_stack(
                [
                    np.bincount(k, minlength=n),
                    np.bincount(k, weights=nok, minlength=n),
                    np.bincount(pair_k, minlength=n),
                    np.bincount(pair_k, weights=pair_nok, minlength=n),
                    np.bincount(pair_k, weights=pair_runs > 1, minlength=n),
                    np.bincount(pair_k, weights=~kept, minlength=n),
                ]
            )
        ]
        if self.time_features:
            parts.append(line_times(_take(rows.dates, order), k, n))

        # Per kept test: its last result NOK, and how many times it ran (0 = not run).
        last_nok = np.full((n, len(self.tests_)), np.nan)
        runs = np.zeros((n, len(self.tests_)))
        last_nok[pair_k[kept], pair_test[kept]] = nok[last_row[kept]]
        runs[pair_k[kept], pair_test[kept]] = pair_runs[kept]
        parts.extend([last_nok, runs])

        # Per kept sub-result: its latest numeric value.
        values = np.full((n, len(self.values_)), np.nan)
        column = self._value_columns(vocabulary, code, value_id)
        measured = (column >= 0) & ~np.isnan(value)
        if measured.any():
            cell = k[measured].astype(np.int64) * len(self.values_) + column[measured]
            cell_of_row, cells = _group_codes(cell, n * len(self.values_))
            latest = _last_rows(cell_of_row, len(cells))
            values[cells // len(self.values_), cells % len(self.values_)] = (
                value[measured][latest]
            )
        parts.append(values)
        parts.extend(self._spread(values))

        matrix = np.hstack(parts).astype(np.float64)
        # The columns' Index made once: from the list of names it cost a millisecond a frame.
        return pd.DataFrame(matrix, index=knrs, columns=self._lookups().columns)

    def _value_columns(
        self, vocabulary: np.ndarray, code: np.ndarray, value_id: np.ndarray
    ) -> np.ndarray:
        """Each row's value column (-1 if its sub-result has none), from its kept test
        (`vocabulary`: each test code's position among the kept tests, -1 if not kept) and
        its sub-result's label, looked up in one array."""
        if not len(code):
            return np.zeros(0, dtype=np.intp)
        table, subs = self._lookups().value_table
        # A label per distinct sub-result index (a handful), not per row or pair.
        value_id_of_row, value_ids = _value_id_codes(value_id)
        sub = np.array([subs.get(f"{v:g}", -1) for v in value_ids.tolist()], dtype=np.intp)
        test, sub = vocabulary[code], sub[value_id_of_row]
        found = (test >= 0) & (sub >= 0)
        return np.where(found, table[np.where(found, test, 0), np.where(found, sub, 0)], -1)

    def _spread(self, values: np.ndarray) -> list[np.ndarray]:
        """Per multi-value test, the minimum and maximum (and with `section_means` the mean) of
        its latest sub-result values present; missing where none is."""
        if not self.spread_:
            return [np.full((len(values), 0), np.nan) for _ in range(2 + self.section_means)]
        columns, starts = self._lookups().spread
        # Each test's sub-result columns side by side, reduced in one call per statistic;
        # fmin/fmax skip missing sub-results, and a vehicle without any stays missing.
        block = values[:, columns]
        spread = [np.fmin.reduceat(block, starts, axis=1), np.fmax.reduceat(block, starts, axis=1)]
        if self.section_means:
            present = ~np.isnan(block)
            counts = np.add.reduceat(present, starts, axis=1).astype(np.float64)
            counts[counts == 0] = np.nan
            # Each value divided by its test's count before summing: a sum of readings as
            # large as 1e308 would overflow, a sum of their shares stays within them.
            test_of_column = np.repeat(np.arange(len(starts)), np.diff([*starts, len(columns)]))
            shares = np.where(present, block, 0.0) / counts[:, test_of_column]
            spread.append(np.add.reduceat(shares, starts, axis=1))
        return spread

    def _lookups(self) -> "_Lookups":
        """Lookups derived from the fitted columns, made once per fitted builder: remade in
        every call they were half of a one-vehicle transform at the plant's width."""
        lookups = _lookups.get(self)
        if lookups is None:
            test_of_value = [p.rsplit("|", 1)[0] for p in self.values_]
            spread = {test: i for i, test in enumerate(self.spread_)}
            # Value columns by their multi-value test, in column order within each test.
            grouped = sorted(
                (spread[t], j) for j, t in enumerate(test_of_value) if t in spread
            )
            order = np.array([j for _, j in grouped], dtype=np.intp)
            groups = np.array([i for i, _ in grouped], dtype=np.intp)
            starts = np.searchsorted(groups, np.arange(len(self.spread_)))
            tests = {test: j for j, test in enumerate(self.tests_)}
            lookups = _Lookups(
                tests=tests,
                value_table=self._value_table(tests),
                spread=(order, starts),
                columns=pd.Index(self.feature_names_),
            )
            _lookups[self] = lookups
        return lookups

    def _value_table(self, tests: dict[str, int]) -> tuple[np.ndarray, dict[str, int]]:
        # A value column is named `test|sub`: a sub-result label has no "|", so the last one
        # separates the two.
        pairs = [name.rsplit("|", 1) for name in self.values_]
        subs = {sub: i for i, sub in enumerate(dict.fromkeys(sub for _, sub in pairs))}
        table = np.full((max(len(tests), 1), max(len(subs), 1)), -1, dtype=np.intp)
        for j, (test, sub) in enumerate(pairs):
            table[tests[test], subs[sub]] = j
        return table, subs

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The feature columns fixed at fit."""
        return np.asarray(self.feature_names_, dtype=object)
