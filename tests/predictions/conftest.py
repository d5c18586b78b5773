"""Tiny real models trained once per session (pure pandas), and stored test results per test."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlmodels.models import ModelVersion
from mlmodels.services import activate_model_version, clear_model_cache, register_model_version
from plant.demo import generate_demo_data
from plant.readers.columns import DEFECTS, RESULTS
from plant.readers.report import ValidationReport
from plant.readers.sniff import sniff_export
from plant.readers.validation import iter_clean_chunks
from training.pipeline.steps import build_features, build_labels, train_models

KINDS = ["fail", "group_2", "group_4"]


@dataclass
class Trained:
    """Fitted pipelines and thresholds, and the demo export they were trained on."""

    models: dict[str, dict[str, Any]]
    inverted_fail: dict[str, Any]
    raw_results: pd.DataFrame  # the export's rows as strings, as the plant sends them
    results: pd.DataFrame  # normalised
    features: pd.DataFrame  # the rows training built, one per KNR
    defects: pd.DataFrame  # normalised
    knrs: list[str]


def _read_clean(path: Path, kind: str) -> pd.DataFrame:
    report = ValidationReport(kind=kind, filename=path.name)
    return pd.concat(
        iter_clean_chunks(sniff_export(path, filename=path.name, kind=kind), report=report),
        ignore_index=True,
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    paths = generate_demo_data(knrs=300, out_dir=tmp_path_factory.mktemp("demo"), seed=5)
    results = _read_clean(paths["results"], RESULTS)
    defects = _read_clean(paths["defects"], DEFECTS)
    # The default estimator (gradient boosting, served by the compiled trees for few KNRs).
    params = {"estimator": "hist_gradient_boosting", "min_positives": 5}
    features, _, builder = build_features(results, params)
    labels = build_labels(defects, features.index)
    set_ = _TrainSet(features, labels[KINDS])
    models = train_models(set_, builder, params)["models"]
    assert sorted(models) == sorted(KINDS), "the demo data must support every kind"
    # The same features with the label flipped: a second version that ranks cars the other way.
    inverted = _TrainSet(features, 1 - labels[["fail"]])
    inverted_fail = train_models(inverted, builder, params)["models"]["fail"]
    raw = pd.read_csv(paths["results"], dtype=str, keep_default_na=False)
    return Trained(
        models=models,
        inverted_fail=inverted_fail,
        raw_results=raw,
        results=results,
        features=features,
        defects=defects,
        knrs=sorted(results["KNR"].unique()),
    )


@dataclass
class _TrainSet:
    """The shape train_models reads: features, labels and production time on one index."""

    features: pd.DataFrame
    labels: pd.DataFrame

    @property
    def knrs(self) -> pd.Index:
        return self.features.index

    @property
    def production_time(self) -> pd.Series:
        return pd.Series(range(len(self.features)), index=self.features.index, dtype="float64")


def _register(kind: str, entry: dict[str, Any]) -> ModelVersion:
    return register_model_version(
        type_model=kind,
        pipeline=entry["pipeline"],
        threshold=entry["threshold"],
        # 70 positives of 200 in the test set: clears the activation gate.
        metrics={
            "recall": 0.8, "precision": 0.5, "pr_auc": 0.6,
            "confusion_matrix": [[100, 30], [20, 50]],
        },
        feature_count=len(entry["feature_columns"]),
    )


@pytest.fixture
def active_models(db, trained: Trained) -> dict[str, ModelVersion]:
    """fail-v1, group_2-v1 and group_4-v1 active; fail-v2 (the inverted model) registered."""
    clear_model_cache()
    versions = {}
    for kind in KINDS:
        versions[kind] = _register(kind, trained.models[kind])
        activate_model_version(version=versions[kind])
    versions["fail_inverted"] = _register("fail", trained.inverted_fail)
    yield versions
    clear_model_cache()


def write_results_csv(trained: Trained, knrs: list[str], path: Path) -> Path:
    """A plant-like results export holding only these KNRs."""
    rows = trained.raw_results[trained.raw_results["KNR"].isin(knrs)]
    rows.to_csv(path, index=False)
    return path


@pytest.fixture
def stored_knrs(db, trained: Trained, tmp_path: Path) -> list[str]:
    """The first 12 demo KNRs imported as a results dataset (the import service)."""
    from plant.imports import import_dataset

    knrs = trained.knrs[:12]
    path = write_results_csv(trained, knrs, tmp_path / "results.csv")
    import_dataset(path=path, original_name="results.csv", kind=RESULTS)
    return knrs


@pytest.fixture(autouse=True)
def default_fail_groups(db) -> None:
    """The data migration's rows, whatever a test before left (MongoDB has no rollback)."""
    from django.apps import apps

    from plant.defaults import add_default_fail_groups

    add_default_fail_groups(apps, None)


DAYS = ("2024-03-04", "2024-03-05")
PER_DAY = 20


@pytest.fixture
def two_days(db, trained, tmp_path: Path) -> dict[str, list[str]]:
    """40 demo vehicles imported, 20 produced (last tested) on each of two days."""
    from plant.imports import import_dataset

    knrs = trained.knrs[: 2 * PER_DAY]
    rows = trained.raw_results[trained.raw_results["KNR"].isin(knrs)].copy()
    day_of = {knr: DAYS[i // PER_DAY] for i, knr in enumerate(knrs)}
    rows["DATA"] = rows["KNR"].map(day_of) + rows["DATA"].str[10:]
    path = tmp_path / "two-days.csv"
    rows.to_csv(path, index=False)
    import_dataset(path=path, original_name=path.name, kind="results")
    return {day: [k for k in knrs if day_of[k] == day] for day in DAYS}
