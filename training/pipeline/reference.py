"""The drift reference of a run's vehicles: every feature column binned once, after the features
are built, so that each production month can later be checked against it (`mlmodels.drift`).

A pure step over DataFrames (no Django). Every kind a run trains reads the same feature
builder's columns, so one reference serves them all; each version adds only its ranking of
the columns (its importances), when it is registered.
"""

from typing import Any

import pandas as pd

from mlmodels import drift
from training.pipeline.registry import step


@step("build_drift_reference")
def build_drift_reference(
    features: pd.DataFrame, production_time: pd.Series, params: dict[str, Any]
) -> dict[str, Any]:
    """The reference of every vehicle the run read (its training and test periods): bins,
    value shares and missing shares per column, and thresholds from its production months."""
    return drift.build_reference(
        features,
        production_time,
        min_vehicles=int(params.get("drift_min_vehicles", drift.MIN_VEHICLES)),
    )
