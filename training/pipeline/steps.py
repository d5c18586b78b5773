"""Pipeline steps: pure functions over DataFrames (only `load_datasets` reads files)."""

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from typing import IO, Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from crossline.domain import FAIL_KIND, GROUP_PREFIX, NO_GROUP_CODE, group_kind
from training.pipeline.definition import DEFAULT_PARAMS
from training.pipeline.estimators import make_pipeline, positive_proba
from training.pipeline.registry import step

RESULT_COLUMNS = ["KNR", "NAME", "ID", "STATUS", "VALUE_ID", "VALUE", "DATA"]
DEFECT_COLUMNS = ["KNR", "S_GROUP_ID", "DATA"]
STATUS_NOK = 13
# Below this many positives in the validation slice its threshold is too noisy; the
# threshold then comes from out-of-fold predictions over the whole training set.
MIN_VALIDATION_POSITIVES = 10

FileSource = str | PathLike[str] | IO[bytes]
Log = Callable[[str], None]


@dataclass
class TrainingData:
    """Features, labels and production time of one set of KNRs, aligned on the KNR index."""

    features: pd.DataFrame
    labels: pd.DataFrame
    production_time: pd.Series

    @property
    def knrs(self) -> pd.Index:
        """Return the KNRs of this set."""
        return self.features.index

    def __len__(self) -> int:
        return len(self.features)


def _as_list(files: FileSource | Iterable[FileSource] | None) -> list[FileSource]:
    if files is None:
        return []
    if isinstance(files, str | PathLike) or hasattr(files, "read"):
        return [files]  # type: ignore[list-item]
    return list(files)  # type: ignore[arg-type]


def _read_parquet_files(files: list[FileSource], columns: list[str]) -> pd.DataFrame:
    if not files:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    frames = [pd.read_parquet(source, columns=columns) for source in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


@step("load_datasets")
def load_datasets(
    results_files: FileSource | Iterable[FileSource],
    defects_files: FileSource | Iterable[FileSource] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and concatenate the normalised Parquet files, only the columns training needs."""
    results = _read_parquet_files(_as_list(results_files), RESULT_COLUMNS)
    defects = _read_parquet_files(_as_list(defects_files), DEFECT_COLUMNS)
    return results, defects


def _clean_knr(frame: pd.DataFrame) -> pd.DataFrame:
    knr = frame["KNR"].astype("string").str.strip()
    frame = frame.assign(KNR=knr)
    return frame[knr.notna() & (knr != "")]


@step("clean")
def clean(results: pd.DataFrame, defects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalise types, drop rows without a KNR or test and drop duplicate rows."""
    results = _clean_knr(results)
    results = results.assign(
        NAME=results["NAME"].astype("string").str.strip(),
        ID=pd.to_numeric(results["ID"], errors="coerce").astype("Int64"),
        STATUS=pd.to_numeric(results["STATUS"], errors="coerce").astype("Int64"),
        VALUE_ID=pd.to_numeric(results["VALUE_ID"], errors="coerce").astype("float64"),
        VALUE=pd.to_numeric(results["VALUE"], errors="coerce").astype("float64"),
        DATA=pd.to_datetime(results["DATA"], errors="coerce"),
    )
    results = results[results["NAME"].notna() & (results["NAME"] != "")]
    results = results.drop_duplicates(ignore_index=True)

    defects = _clean_knr(defects)
    group = pd.to_numeric(defects["S_GROUP_ID"], errors="coerce")
    # "Unexplained" carries no label; the importer drops it too, this keeps steps safe.
    defects = defects.assign(S_GROUP_ID=group)[group.notna() & (group != NO_GROUP_CODE)]
    defects = defects.assign(
        S_GROUP_ID=defects["S_GROUP_ID"].astype("int64"),
        DATA=pd.to_datetime(defects["DATA"], errors="coerce"),
    ).drop_duplicates(ignore_index=True)
    return results, defects


def _vehicle_index(vehicles: pd.Index | pd.Series | pd.DataFrame | Iterable[str]) -> pd.Index:
    if isinstance(vehicles, pd.Series | pd.DataFrame):
        index = vehicles.index
    else:
        index = pd.Index(list(vehicles) if not isinstance(vehicles, pd.Index) else vehicles)
    return pd.Index(index.astype("string"), name="KNR").unique()


@step("build_labels")
def build_labels(
    defects: pd.DataFrame, vehicles: pd.Index | pd.Series | pd.DataFrame | Iterable[str]
) -> pd.DataFrame:
    """Per tested KNR: `fail` and one 0/1 column `group_<code>` per fail group seen."""
    knrs = _vehicle_index(vehicles)
    # Every (KNR, group) pair counts: a vehicle failing in several groups is positive in
    # each (the original kept one group per KNR).
    pairs = defects[["KNR", "S_GROUP_ID"]].drop_duplicates()
    pairs = pairs[pairs["KNR"].isin(knrs)]
    groups = pd.crosstab(pairs["KNR"].astype("string"), pairs["S_GROUP_ID"]).clip(upper=1)
    groups.columns = [group_kind(code) for code in groups.columns]
    groups = groups.reindex(index=knrs, fill_value=0)
    labels = pd.DataFrame({FAIL_KIND: (groups.sum(axis=1) > 0)}, index=knrs)
    labels = labels.join(groups).astype("int64")
    labels.index.name = "KNR"
    return labels


def _value_id_label(value_id: float) -> str:
    return "0" if pd.isna(value_id) else f"{value_id:g}"


@step("build_features")
def build_features(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Per KNR wide features from test results only, and the production time (first DATA)."""
    knr = results["KNR"].astype("string")
    name = results["NAME"].astype("string")
    status = pd.to_numeric(results["STATUS"], errors="coerce")
    value = pd.to_numeric(results["VALUE"], errors="coerce").astype("float64")
    # A missing sub-result index means a test with one value: label it 0.
    value_id = pd.to_numeric(results["VALUE_ID"], errors="coerce").fillna(0.0)
    is_nok = (status == STATUS_NOK).astype("int64")
    frame = pd.DataFrame(
        {"KNR": knr, "NAME": name, "VALUE_ID": value_id, "VALUE": value, "NOK": is_nok}
    )
    production = pd.to_datetime(results["DATA"], errors="coerce")
    if len(frame) and knr.nunique() == 1:
        return _one_vehicle_features(frame, production)

    values = (
        frame.dropna(subset=["VALUE"])
        .groupby(["KNR", "NAME", "VALUE_ID"], sort=False)["VALUE"]
        .mean()
        .unstack(["NAME", "VALUE_ID"])
    )
    values.columns = [f"v|{n}|{_value_id_label(v)}" for n, v in values.columns]

    per_test = frame.groupby(["KNR", "NAME"], sort=False)["NOK"].agg(["sum", "size"])
    noks = per_test["sum"].unstack("NAME")
    noks.columns = [f"nok|{n}" for n in noks.columns]
    # A test run more than once on one car (a retest after a NOK) is itself a signal.
    runs = per_test["size"].unstack("NAME")
    runs.columns = [f"runs|{n}" for n in runs.columns]

    totals = per_test.groupby(level="KNR", sort=False).agg(
        n_tests=("size", "sum"), n_nok=("sum", "sum"), n_names=("size", "size")
    )
    totals["n_nok_tests"] = (per_test["sum"] > 0).groupby(level="KNR", sort=False).sum()

    features = pd.concat([totals, noks, runs, values], axis=1).astype("float64")
    features.index = pd.Index(features.index.astype("string"), name="KNR")
    features = features.sort_index()
    production_time = (
        production.groupby(knr, sort=False)
        .min()
        .reindex(features.index)
        .rename("production_time")
    )
    return features, production_time


def _one_vehicle_features(
    frame: pd.DataFrame, production: pd.Series
) -> tuple[pd.DataFrame, pd.Series]:
    """build_features for one KNR without groupby: prediction's path, where pandas' grouping
    machinery costs more than the arithmetic (same columns and values as the bulk path)."""
    knr = str(frame["KNR"].iloc[0])
    names = frame["NAME"].to_numpy(dtype=object)
    value_ids = frame["VALUE_ID"].to_numpy(dtype="float64")
    values = frame["VALUE"].to_numpy(dtype="float64")
    noks = frame["NOK"].to_numpy(dtype="int64")

    row: dict[str, float] = {}
    nok_by_name: dict[str, int] = {}
    runs_by_name: dict[str, int] = {}
    for test, nok in zip(names, noks, strict=True):
        nok_by_name[test] = nok_by_name.get(test, 0) + int(nok)
        runs_by_name[test] = runs_by_name.get(test, 0) + 1
    row["n_tests"] = float(len(frame))
    row["n_nok"] = float(noks.sum())
    row["n_names"] = float(len(runs_by_name))
    row["n_nok_tests"] = float(sum(count > 0 for count in nok_by_name.values()))
    row.update({f"nok|{test}": float(count) for test, count in nok_by_name.items()})
    row.update({f"runs|{test}": float(count) for test, count in runs_by_name.items()})

    sums: dict[tuple[str, float], list[float]] = {}
    for test, value_id, value in zip(names, value_ids, values, strict=True):
        if not np.isnan(value):
            sums.setdefault((test, value_id), []).append(value)
    for (test, value_id), measured in sums.items():
        row[f"v|{test}|{_value_id_label(value_id)}"] = float(np.mean(measured))

    index = pd.Index([knr], dtype="string", name="KNR")
    features = pd.DataFrame([row], index=index, dtype="float64")
    production_time = pd.Series([production.min()], index=index, name="production_time")
    return features, production_time


@step("split_by_time")
def split_by_time(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    production_time: pd.Series,
    test_share: float = 0.2,
) -> tuple[TrainingData, TrainingData]:
    """Split KNRs by production time: the most recent `test_share` is the test set."""
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    order = _time_order(features.index, production_time)
    n_test = max(1, math.ceil(len(order) * test_share))
    if n_test >= len(order):
        raise ValueError(f"{len(order)} vehicles are too few to split off a test set")
    train_knrs, test_knrs = order[:-n_test], order[-n_test:]
    labels = labels.reindex(features.index, fill_value=0)
    times = production_time.reindex(features.index)

    def subset(knrs: pd.Index) -> TrainingData:
        return TrainingData(features.loc[knrs], labels.loc[knrs], times.loc[knrs])

    return subset(train_knrs), subset(test_knrs)


def _time_order(knrs: pd.Index, production_time: pd.Series) -> pd.Index:
    # KNR breaks ties so the split is reproducible; vehicles without a time count as oldest.
    frame = pd.DataFrame({"time": production_time.reindex(knrs).to_numpy()}, index=knrs)
    frame["knr"] = knrs
    return frame.sort_values(["time", "knr"], na_position="first").index


def choose_threshold(y_true: Any, proba: Any, target_recall: float = 0.8) -> float:
    """Return the highest threshold whose recall (proba ≥ threshold) reaches the target."""
    y = np.asarray(y_true).astype(bool)
    scores = np.sort(np.asarray(proba, dtype=np.float64)[y])[::-1]
    if len(scores) == 0:
        return 0.5
    # Catching the k highest-scored positives gives recall k/P; the k-th score is the
    # highest threshold still catching them (ties only raise recall).
    needed = min(len(scores), max(1, math.ceil(target_recall * len(scores) - 1e-9)))
    return float(scores[needed - 1])


def _out_of_fold_proba(
    template: Pipeline, X: pd.DataFrame, y: pd.Series, random_state: int
) -> np.ndarray:
    n_splits = int(min(3, y.sum(), (1 - y).sum()))
    proba = np.zeros(len(y))
    if n_splits < 2:
        return proba
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    for fit_rows, predict_rows in folds.split(X, y):
        model = clone(template).fit(X.iloc[fit_rows], y.iloc[fit_rows])
        proba[predict_rows] = positive_proba(model, X.iloc[predict_rows])
    return proba


def _threshold_from_training(
    template: Pipeline, train_set: TrainingData, y: pd.Series, params: dict[str, Any]
) -> tuple[float, str]:
    # The threshold is chosen on training data only, never on the test set (that would make
    # the test recall meet its target by construction). First choice: fit on the older part
    # of the train set and pick the threshold on its latest slice, which mimics how the model
    # meets next month's cars; too few positives there → out-of-fold predictions.
    target = float(params["target_recall"])
    order = _time_order(train_set.knrs, train_set.production_time)
    n_validation = math.ceil(len(order) * float(params["validation_share"]))
    fit_knrs, validation_knrs = order[:-n_validation], order[-n_validation:]
    y_fit, y_validation = y.loc[fit_knrs], y.loc[validation_knrs]
    if (
        n_validation > 0
        and y_validation.sum() >= MIN_VALIDATION_POSITIVES
        and 0 < y_fit.sum() < len(y_fit)
    ):
        model = clone(template).fit(train_set.features.loc[fit_knrs], y_fit)
        proba = positive_proba(model, train_set.features.loc[validation_knrs])
        return choose_threshold(y_validation, proba, target), "validation"
    proba = _out_of_fold_proba(template, train_set.features, y, int(params["random_state"]))
    return choose_threshold(y, proba, target), "out_of_fold"


def training_kinds(labels: pd.DataFrame) -> list[str]:
    """Return the model kinds a label table supports: `fail`, then each `group_<code>`."""
    groups = sorted(
        (c for c in labels.columns if c.startswith(GROUP_PREFIX)),
        key=lambda c: int(c.removeprefix(GROUP_PREFIX)),
    )
    return [FAIL_KIND, *groups] if FAIL_KIND in labels.columns else groups


@step("train_models")
def train_models(
    train_set: TrainingData, params: dict[str, Any], log: Log | None = None
) -> dict[str, Any]:
    """Fit one Pipeline per kind with enough positives; return models and skipped kinds."""
    params = {**DEFAULT_PARAMS, **params}
    emit = log or (lambda message: None)
    # OpenMP threads spin while they wait: on a busy host (web, other workers) two threads
    # made HistGradientBoosting fit 10× slower than one; null keeps the library default.
    with threadpool_limits(limits=params["n_threads"]):
        return _train_models(train_set, params, emit)


def _train_models(train_set: TrainingData, params: dict[str, Any], emit: Log) -> dict[str, Any]:
    min_positives = int(params["min_positives"])
    models: dict[str, dict[str, Any]] = {}
    skipped: dict[str, int] = {}
    for kind in training_kinds(train_set.labels):
        y = train_set.labels[kind].astype("int64")
        positives = int(y.sum())
        if positives < min_positives or len(y) - positives < min_positives:
            skipped[kind] = positives
            emit(f"{kind}: skipped, {positives} positives (minimum {min_positives})")
            continue
        started = time.perf_counter()
        template = make_pipeline(params["estimator"], random_state=int(params["random_state"]))
        threshold, source = _threshold_from_training(template, train_set, y, params)
        pipeline = clone(template).fit(train_set.features, y)
        fit_seconds = time.perf_counter() - started
        models[kind] = {
            "pipeline": pipeline,
            "threshold": threshold,
            "threshold_source": source,
            "feature_columns": list(train_set.features.columns),
            "n_train": len(y),
            "n_train_positives": positives,
            "fit_seconds": round(fit_seconds, 3),
        }
        emit(f"{kind}: trained on {len(y)} KNRs ({positives} positive) in {fit_seconds:.1f}s")
    return {"models": models, "skipped": skipped}


def score_model(
    pipeline: Pipeline, threshold: float, X_test: pd.DataFrame, y_test: pd.Series
) -> dict[str, Any]:
    """Return the test metrics of a fitted pipeline at its threshold (proba ≥ threshold)."""
    y = np.asarray(y_test).astype("int64")
    proba = positive_proba(pipeline, X_test)
    predicted = (proba >= threshold).astype("int64")
    both_classes = 0 < y.sum() < len(y)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1_score": float(f1_score(y, predicted, zero_division=0)),
        # Undefined with one class in the test set: None rather than a misleading number.
        "roc_auc": float(roc_auc_score(y, proba)) if both_classes else None,
        "pr_auc": float(average_precision_score(y, proba)) if y.sum() > 0 else None,
        "mcc": float(matthews_corrcoef(y, predicted)),
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "support": {"positives": int(y.sum()), "negatives": int(len(y) - y.sum())},
        "threshold": float(threshold),
    }


@step("evaluate")
def evaluate(models: dict[str, Any], test_set: TrainingData) -> dict[str, Any]:
    """Score every trained kind on the test set; return models, skipped kinds and the test set."""
    evaluated: dict[str, dict[str, Any]] = {}
    for kind, entry in models["models"].items():
        y_test = (
            test_set.labels[kind] if kind in test_set.labels else pd.Series(0, index=test_set.knrs)
        )
        metrics = score_model(entry["pipeline"], entry["threshold"], test_set.features, y_test)
        evaluated[kind] = {**entry, "metrics": metrics, "n_test": len(test_set)}
    return {"models": evaluated, "skipped": dict(models["skipped"]), "test_set": test_set}
