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
    for kind in training_kinds(train.labels):
        y = train.labels[kind]
        if y.sum() < min_positives or len(y) - y.sum() < min_positives:
            continue
        model = HistGradientBoostingClassifier(random_state=random_state)
        model.fit(train.features, y)
        out[kind] = {
            "y_true": test.labels[kind].to_numpy() if kind in test.labels else np.zeros(len(test)),
            "scores": model.predict_proba(test.features)[:, 1],
            "knrs": test.knrs,
        }
    return {"kinds": out, "seconds": time.perf_counter() - started}
