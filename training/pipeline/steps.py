"""Pipeline steps: pure functions over DataFrames (only `load_datasets` reads files)."""

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from crossline.domain import FAIL_KIND, GROUP_PREFIX, NO_GROUP_CODE, group_kind
from crossline.exceptions import NothingToTrain
from mlmodels import thresholds
from training.pipeline.binning import shared_binning
from training.pipeline.definition import DEFAULT_PARAMS
from training.pipeline.estimators import (
    PLAIN,
    AnyFailure,
    blend_failure,
    make_pipeline,
    version_pipeline,
)
from training.pipeline.features import RESULT_COLUMNS, ResultFeatures, normalise_results
from training.pipeline.fitting import (
    ALONE,
    AVERAGE,
    KindFit,
    candidate_averages,
    fit_kind,
    override_confidence,
    ranks_better,
    selection_score,
)
from training.pipeline.judging import (
    judged_evidence,
    pr_auc,
    score_predictions,
)
from training.pipeline.outcomes import KindsFailed, checked_scores, describe_error, kind_failure
from training.pipeline.registry import step

DEFECT_COLUMNS = ["KNR", "S_GROUP_ID", "DATA"]
# The direct model's shares tried in the combined fail model (1 is the direct model alone).
DIRECT_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
# The combined fail model, named as a candidate of the fail model.
COMBINED = "combined with the group models"
# Result rows per feature-building call: a vehicle's features come from its rows alone, so
# building them in KNR ranges bounds the builder's working arrays (about 200 bytes a row).
FEATURE_CHUNK_ROWS = 2_000_000

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


def _read_parquet_files(
    files: list[FileSource], columns: list[str], categorical: tuple[str, ...] = ()
) -> pd.DataFrame:
    if not files:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    # Text columns with few distinct values (KNR, test NAME) are read as dictionaries and
    # become categoricals: a code per row instead of a string per row.
    tables = [
        pq.read_table(source, columns=columns, read_dictionary=list(categorical))
        for source in files
    ]
    table = pa.concat_tables(tables).unify_dictionaries() if len(tables) > 1 else tables[0]
    del tables
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    # Reading held several times the table in Arrow's pool; hand what it freed back.
    pa.default_memory_pool().release_unused()
    return frame


@step("load_datasets")
def load_datasets(
    results_files: FileSource | Iterable[FileSource],
    defects_files: FileSource | Iterable[FileSource] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and concatenate the normalised Parquet files, only the columns training needs."""
    results = _read_parquet_files(
        _as_list(results_files), list(RESULT_COLUMNS), categorical=("KNR", "NAME")
    )
    defects = _read_parquet_files(_as_list(defects_files), DEFECT_COLUMNS)
    return results, defects


def _clean_knr(frame: pd.DataFrame) -> pd.DataFrame:
    knr = frame["KNR"].astype("string").str.strip()
    frame = frame.assign(KNR=knr)
    return frame[knr.notna() & (knr != "")]


@step("clean")
def clean(results: pd.DataFrame, defects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalise types, drop rows without a KNR or test, keep one row per result key."""
    results = normalise_results(results)

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


def production_times(results: pd.DataFrame) -> pd.Series:
    """Each KNR's production time: its first test (sorted by KNR)."""
    times = pd.to_datetime(results["DATA"], errors="coerce")
    knr = results["KNR"]
    if not isinstance(knr.dtype, pd.CategoricalDtype):
        knr = knr.astype("string")
    # A categorical KNR groups without a string per row; observed=True leaves out the
    # categories of rows filtered away.
    first = times.groupby(knr, sort=True, observed=True).min()
    first.index = pd.Index(first.index.astype("string"), name="KNR")
    return first.sort_index().rename("production_time")


@step("build_features")
def build_features(
    results: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.Series, ResultFeatures]:
    """Fit the feature builder on the training period's KNRs; build every KNR's row once.

    The same fitted builder is the first step of every kind's Pipeline, so prediction
    replays this preparation exactly.
    """
    params = {**DEFAULT_PARAMS, **params}
    production_time = production_times(results)
    order = _time_order(production_time.index, production_time)
    train_knrs = order[: len(order) - _test_size(len(order), float(params["test_share"]))]
    builder = ResultFeatures(
        max_tests=int(params["max_tests"]),
        time_features=bool(params["time_features"]),
        section_means=bool(params["section_means"]),
    )
    builder.fit(results[results["KNR"].isin(train_knrs)])
    features = _transform_by_knr_ranges(builder, results)
    return features, production_time.reindex(features.index), builder


def _transform_by_knr_ranges(builder: ResultFeatures, results: pd.DataFrame) -> pd.DataFrame:
    """`builder.transform(results)`, built on about FEATURE_CHUNK_ROWS rows at a time."""
    if len(results) <= FEATURE_CHUNK_ROWS:
        return builder.transform(results)
    # As the builder will see them (one KNR's rows could differ in blanks): a no-op after clean.
    results = normalise_results(results)
    knr, _ = pd.factorize(results["KNR"], sort=True)
    rows_up_to = np.cumsum(np.bincount(knr[knr >= 0]))
    cuts = np.searchsorted(rows_up_to, np.arange(0, len(knr), FEATURE_CHUNK_ROWS), "right")
    edges = np.unique(np.r_[cuts, len(rows_up_to)])
    features = pd.concat(
        [
            builder.transform(results[(knr >= low) & (knr < high)])
            for low, high in zip(edges[:-1], edges[1:], strict=True)
        ]
    )
    # Ranges follow the KNR order of the whole; a frame whose KNRs sort otherwise is sorted.
    return features if features.index.is_monotonic_increasing else features.sort_index()


def _test_size(n_vehicles: int, test_share: float) -> int:
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    n_test = max(1, math.ceil(n_vehicles * test_share))
    if n_test >= n_vehicles:
        raise ValueError(f"{n_vehicles} vehicles are too few to split off a test set")
    return n_test


@step("split_by_time")
def split_by_time(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    production_time: pd.Series,
    test_share: float = 0.2,
) -> tuple[TrainingData, TrainingData]:
    """Split KNRs by production time: the most recent `test_share` is the test set."""
    order = _time_order(features.index, production_time)
    n_test = _test_size(len(order), test_share)
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


def training_kinds(labels: pd.DataFrame) -> list[str]:
    """Return the model kinds a label table supports: `fail`, then each `group_<code>`."""
    groups = sorted(
        (c for c in labels.columns if c.startswith(GROUP_PREFIX)),
        key=lambda c: int(c.removeprefix(GROUP_PREFIX)),
    )
    return [FAIL_KIND, *groups] if FAIL_KIND in labels.columns else groups


@step("train_models")
def train_models(
    train_set: TrainingData,
    feature_builder: ResultFeatures,
    params: dict[str, Any],
    log: Log | None = None,
) -> dict[str, Any]:
    """Fit one Pipeline per kind with enough positives; return models, skipped and failed kinds.

    A kind whose fit fails is listed in `failed` with its error; the others train on. Only a
    run where no kind trains fails as a whole.
    """
    params = {**DEFAULT_PARAMS, **params}
    emit = log or (lambda message: None)
    # OpenMP threads spin while they wait: on a busy host (web, other workers) two threads
    # made HistGradientBoosting fit 10× slower than one; null keeps the library default.
    # Every kind is fitted on the same blocks of vehicles: their bins are made once.
    with threadpool_limits(limits=params["n_threads"]), shared_binning():
        trained = _train_models(train_set, feature_builder, params, emit)
    if not trained["models"] and trained["failed"]:
        raise KindsFailed(trained["failed"])
    if not trained["models"]:
        counts = ", ".join(f"{kind} {n}" for kind, n in trained["skipped"].items()) or "none"
        raise NothingToTrain(
            f"No kind has enough labelled vehicles to train on: {len(train_set)} vehicles in "
            f"the training period, positives per kind: {counts} (minimum "
            f"{params['min_positives']} positives and negatives). Import the defects of the "
            "tested vehicles."
        )
    return trained


def _train_models(
    train_set: TrainingData, feature_builder: ResultFeatures, params: dict[str, Any], emit: Log
) -> dict[str, Any]:
    min_positives = int(params["min_positives"])
    name = params["estimator"]
    # Candidates: variations of the estimator's options, or ({"estimator": ...}) another
    # estimator with its own options; each kind keeps the one its held-out part favours.
    candidates = params.get("candidates", {}).get(name) or [{}]
    # The averages of candidates count after the single ones, whatever their place.
    singles = [c for c in candidates if AVERAGE not in c]
    templates = [_candidate_template(name, candidate, params) for candidate in singles]
    labels = [describe_candidate(name, candidate) for candidate in singles]
    averages = candidate_averages(candidates, labels)
    labels += averages.names
    plain = next((i for i, c in enumerate(singles) if c.get("estimator", name) == PLAIN), None)
    models: dict[str, dict[str, Any]] = {}
    skipped: dict[str, int] = {}
    failed: dict[str, dict[str, Any]] = {}
    order = _time_order(train_set.knrs, train_set.production_time)
    fitted: dict[str, tuple[Pipeline, pd.Series, pd.Series]] = {}
    for kind in training_kinds(train_set.labels):
        y = train_set.labels[kind].astype("int64")
        positives = int(y.sum())
        if positives < min_positives or len(y) - positives < min_positives:
            skipped[kind] = positives
            emit(f"{kind}: skipped, {positives} positives (minimum {min_positives})")
            continue
        started = time.perf_counter()
        try:
            fit = fit_kind(
                templates, labels, train_set.features, y, order, params, plain,
                averages.parts, averages.within_only,
            )
            heldout = _heldout_entry(fit.y_heldout, fit.scores, params)
        except Exception as error:
            failed[kind] = kind_failure("train_models", error, positives)
            emit(f"{kind}: failed, {failed[kind]['error']}")
            for label, text in failed[kind]["candidate_errors"].items():
                emit(f"{kind}: candidate {label} failed, {text}")
            continue
        for label, text in fit.failures.items():
            emit(f"{kind}: candidate {label} failed, {text}")
        if fit.replaced is not None:
            emit(
                f"{kind}: the plain approach ranked the judged vehicles better than "
                f"{labels[fit.replaced]}{_confidence_text(params)}: it replaces it"
            )
        fit_seconds = time.perf_counter() - started
        models[kind] = {
            "pipeline": version_pipeline(feature_builder, fit.estimator),
            "threshold_source": fit.source,
            "folds": fit.folds,
            "candidate": fit.chosen,
            "estimator": labels[fit.chosen],
            "candidate_errors": fit.failures,
            "plain_replaced": None if fit.replaced is None else labels[fit.replaced],
            **heldout,
            "plain": _plain_entry(fit),
            "feature_columns": list(train_set.features.columns),
            "n_train": len(y),
            "n_train_positives": positives,
            "fit_seconds": round(fit_seconds, 3),
        }
        scores = pd.Series(fit.scores, index=fit.y_heldout.index)
        fitted[kind] = (fit.estimator, fit.y_heldout, scores)
        emit(
            f"{kind}: trained on {len(y)} KNRs ({positives} positive) in {fit_seconds:.1f}s, "
            f"{labels[fit.chosen]} judged on {fit.folds} blocks"
        )
    if FAIL_KIND in fitted:
        try:
            _combine_fail_with_groups(models, fitted, feature_builder, params, emit)
        except Exception as error:
            # The direct fail model stands; the combination is one more candidate that failed.
            models[FAIL_KIND]["candidate_errors"][COMBINED] = describe_error(error)
            emit(f"{FAIL_KIND}: candidate {COMBINED} failed, {describe_error(error)}")
    return {"models": models, "skipped": skipped, "failed": failed}


def _plain_entry(fit: KindFit) -> dict[str, Any] | None:
    """The plain approach beside a kind's version: its estimator fitted on the whole period
    (None if that failed) and its scores on the judged vehicles; None when not judged."""
    if fit.plain_scores is None:
        return None
    return {"estimator": fit.plain, "scores": [float(v) for v in fit.plain_scores]}


def describe_candidate(name: str, candidate: dict[str, Any]) -> str:
    """A candidate in words: its estimator, then the options it sets itself."""
    options = dict(candidate)
    name = options.pop("estimator", name)
    options.pop(ALONE, None)
    own = ", ".join(f"{key} {value}" for key, value in options.items())
    return f"{name} ({own})" if own else name


def _candidate_template(name: str, candidate: dict[str, Any], params: dict[str, Any]) -> Pipeline:
    """The unfitted Pipeline of one candidate: its estimator's options, then its own."""
    options = dict(candidate)
    name = options.pop("estimator", name)
    options.pop(ALONE, None)
    return make_pipeline(
        name,
        random_state=int(params["random_state"]),
        options={**params.get("estimator_options", {}).get(name, {}), **options},
    )


def _heldout_entry(y: pd.Series, scores: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A kind's held-out labels and scores, and the threshold the pipeline's policy picks."""
    policy = params["threshold_policy"]
    value = float(params["target_recall"]) if policy == thresholds.RECALL else None
    return {
        "threshold": thresholds.choose_threshold(y, scores, policy=policy, value=value),
        "heldout": {"y_true": [int(v) for v in y], "scores": [float(v) for v in scores]},
    }


def _combine_fail_with_groups(
    models: dict[str, dict[str, Any]],
    fitted: dict[str, tuple[Pipeline, pd.Series, pd.Series]],
    feature_builder: ResultFeatures,
    params: dict[str, Any],
    emit: Log,
) -> None:
    """Make the fail model an `AnyFailure` of the direct model and the group models when its
    held-out scores are better (`select_by`), judged on the fail model's held-out vehicles;
    the direct model's weight in it is the one of DIRECT_WEIGHTS that scores best there."""
    direct, y_fail, fail_scores = fitted[FAIL_KIND]
    groups = [kind for kind in fitted if kind != FAIL_KIND]
    if not groups or not all(y_fail.index.isin(fitted[k][2].index).all() for k in groups):
        return
    group_scores = [fitted[k][2].reindex(y_fail.index).to_numpy() for k in groups]
    alone = selection_score(params["select_by"], y_fail, fail_scores.to_numpy())
    blends = {
        weight: blend_failure(fail_scores.to_numpy(), group_scores, weight)
        for weight in DIRECT_WEIGHTS
    }
    ranks = {w: selection_score(params["select_by"], y_fail, b) for w, b in blends.items()}
    weight = max(ranks, key=lambda w: (ranks[w], w))
    if ranks[weight] <= alone:
        emit(f"{FAIL_KIND}: the direct model alone scored better on held-out vehicles")
        return
    plain = models[FAIL_KIND].get("plain")
    if plain and ranks_better(
        y_fail, plain["scores"], blends[weight], override_confidence(params)
    ):
        emit(
            f"{FAIL_KIND}: the plain approach ranked held-out vehicles better than the blend"
            f"{_confidence_text(params)}"
        )
        return
    estimator = Pipeline(
        [("any_failure", AnyFailure(direct, [fitted[kind][0] for kind in groups], weight))]
    )
    models[FAIL_KIND].update(
        pipeline=version_pipeline(feature_builder, estimator),
        combined_with=groups,
        direct_weight=weight,
        **_heldout_entry(y_fail, blends[weight], params),
    )
    emit(
        f"{FAIL_KIND}: combined with {', '.join(groups)}, the direct model's share "
        f"{weight:.0%}: held-out vehicles predicted better, "
        f"{_score_change(params['select_by'], alone, ranks[weight])}"
    )


def _confidence_text(params: dict[str, Any]) -> str:
    """How sure the plain approach's override had to be, as people read it."""
    confidence = override_confidence(params)
    return f" in at least {confidence:.0%} of paired resamples" if confidence else ""


def _score_change(select_by: str, before: float, after: float) -> str:
    """A selection score's change as people read it (log loss is kept negated to rank)."""
    if select_by == "log_loss":
        return f"log loss {-before:.3f} → {-after:.3f} (lower is better)"
    return f"PR-AUC {before:.3f} → {after:.3f} (higher is better)"


@step("evaluate")
def evaluate(
    models: dict[str, Any], test_set: TrainingData, results: pd.DataFrame
) -> dict[str, Any]:
    """Score every trained kind on the test set; return models, skipped and failed kinds and
    the test set. A kind that cannot be scored joins the failed ones; the others go on.

    `test_results` (the test KNRs' result rows) lets an older version be scored on them too.
    """
    evaluated: dict[str, dict[str, Any]] = {}
    failed = dict(models.get("failed", {}))
    for kind, entry in models["models"].items():
        y_test = (
            test_set.labels[kind] if kind in test_set.labels else pd.Series(0, index=test_set.knrs)
        )
        try:
            # One thread, as the fits: OpenMP threads spinning on a busy host made the same
            # scoring take anywhere from 3 to 31 CPU seconds.
            with threadpool_limits(limits=1):
                proba = checked_scores(entry["pipeline"][1:], test_set.features, "test scores")
            metrics = score_predictions(y_test, proba, entry["threshold"])
        except Exception as error:
            failed[kind] = kind_failure("evaluate", error, entry["n_train_positives"])
            continue
        plain = _plain_test_scores(entry, test_set.features)
        evaluated[kind] = {
            **entry,
            "metrics": {**metrics, "plain_pr_auc": pr_auc(y_test, plain)},
            "judged": judged_evidence(entry, y_test, proba, plain),
            "n_test": len(test_set),
            "test_scores": {
                "y_true": [int(v) for v in y_test],
                "scores": [float(v) for v in proba],
            },
        }
    if not evaluated and failed:
        raise KindsFailed(failed)
    return {
        "models": evaluated,
        "skipped": dict(models["skipped"]),
        "failed": failed,
        "test_set": test_set,
        "test_results": results[results["KNR"].isin(test_set.knrs)],
    }


def _plain_test_scores(entry: dict[str, Any], features: pd.DataFrame) -> np.ndarray | None:
    """The plain approach's test scores beside a kind's version (None when it has none, or
    they cannot be had: the yardstick is left out, the version stands)."""
    plain = entry.get("plain") or {}
    if plain.get("estimator") is None:
        return None
    try:
        with threadpool_limits(limits=1):
            return checked_scores(plain["estimator"], features, "plain test scores")
    except Exception:
        return None
