"""The plain reference: a pivot of every test's value per KNR, one HistGradientBoosting per kind.

What a careful engineer would try first (the issue's "plain approach"): pandas pivots of each
(NAME, VALUE_ID)'s value and NOK status per KNR, scikit-learn's HistGradientBoostingClassifier
with its defaults for every kind, on the same split by production time as crossline. Used by
`bench/train_quality.py` as the bar each fail group must clear.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from training.pipeline.steps import (  # noqa: E402
    build_labels,
    clean,
    production_times,
    split_by_time,
    training_kinds,
)


def pivot_features(results: pd.DataFrame) -> pd.DataFrame:
    """One row per KNR: every (NAME, VALUE_ID)'s mean value and whether any result was NOK."""
    # The pivot of pandas' `pivot_table(aggfunc="mean")` and `("max")`, built with integer
    # codes and bincount: pivot_table grouped 20M rows by a per-row "NAME|VALUE_ID" string.
    knr_codes, knrs = pd.factorize(results["KNR"], sort=True)
    name_codes, names = pd.factorize(results["NAME"])
    value_id = results["VALUE_ID"].fillna(0)
    id_codes, value_ids = pd.factorize(value_id)
    pair_codes, pairs = pd.factorize(name_codes.astype("int64") * len(value_ids) + id_codes)
    # A test is named as pivot_table's column was: str(NAME) + "|" + str(VALUE_ID).
    pair_labels = (
        pd.Series(names[pairs // len(value_ids)]).astype(str)
        + "|"
        + pd.Series(value_ids[pairs % len(value_ids)], dtype=value_id.dtype).astype(str)
    )
    test_codes, tests = pd.factorize(pair_labels, sort=True)
    test_of_row = test_codes[pair_codes]
    shape = (len(knrs), len(tests))
    cell = knr_codes.astype("int64") * len(tests) + test_of_row

    value = results["VALUE"].to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(value)
    value_sum = np.bincount(cell[present], weights=value[present], minlength=cell_count(shape))
    value_n = np.bincount(cell[present], minlength=cell_count(shape))
    # A result without a status is skipped, as pivot_table's max skipped its NaN.
    status = results["STATUS"]
    known = status.notna().to_numpy()
    nok = (status == 13).fillna(False).to_numpy(dtype=bool)
    nok_n = np.bincount(cell[known & nok], minlength=cell_count(shape))
    status_n = np.bincount(cell[known], minlength=cell_count(shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(value_n > 0, value_sum / value_n, np.nan).reshape(shape)
    noks = np.where(status_n > 0, (nok_n > 0).astype("float64"), np.nan).reshape(shape)

    # pivot_table's dropna: no all-NaN column, and no KNR without a value or a status.
    value_columns = (value_n.reshape(shape) > 0).any(axis=0)
    nok_columns = (status_n.reshape(shape) > 0).any(axis=0)
    rows = ((value_n.reshape(shape) > 0) | (status_n.reshape(shape) > 0)).any(axis=1)
    labels = np.asarray(tests, dtype=object)
    columns = [f"v|{c}" for c in labels[value_columns]] + [
        f"nok|{c}" for c in labels[nok_columns]
    ]
    features = pd.DataFrame(
        np.concatenate([values[:, value_columns], noks[:, nok_columns]], axis=1)[rows],
        index=pd.Index(pd.Index(knrs[rows]).astype("string"), name="KNR"),
        columns=pd.Index(columns),
    )
    return features.sort_index()


def cell_count(shape: tuple[int, int]) -> int:
    return shape[0] * shape[1]


def plain_reference(
    results: pd.DataFrame,
    defects: pd.DataFrame,
    *,
    test_share: float = 0.2,
    min_positives: int = 30,
    random_state: int = 0,
) -> dict[str, dict]:
    """Per kind: the test KNRs' labels and scores, and the seconds the whole run took."""
    started = time.perf_counter()
    results, defects = clean(results, defects)
    features = pivot_features(results)
    production_time = production_times(results).reindex(features.index)
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, test_share)
    out: dict[str, dict] = {}
    # One OpenMP thread, as crossline's pipeline fits: on a busy 2-core host the second
    # thread's spinning made these fits 4x dearer in CPU time for the same models.
    with threadpool_limits(limits=1):
        for kind in training_kinds(train.labels):
            y = train.labels[kind]
            if y.sum() < min_positives or len(y) - y.sum() < min_positives:
                continue
            model = HistGradientBoostingClassifier(random_state=random_state)
            model.fit(train.features, y)
            out[kind] = {
                "y_true": (
                    test.labels[kind].to_numpy() if kind in test.labels else np.zeros(len(test))
                ),
                "scores": model.predict_proba(test.features)[:, 1],
                "knrs": test.knrs,
            }
    return {"kinds": out, "seconds": time.perf_counter() - started}
