"""Bounded columns: what every estimator sees instead of the raw feature values."""

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class RobustBounds(TransformerMixin, BaseEstimator):
    """Each column as its distance from its median in units of its spread, cut at ±`limit`;
    missing stays missing.

    Median and spread come from the finite values at fit, so that no value an export may carry
    (±1e308, ±inf, a count out of all proportion) reaches a model, and an extreme reading
    still counts as extreme in its own direction. The spread is the interquartile range, or
    where that is nil (a NOK flag, a count that is mostly 1) the 1st-99th percentile range,
    else the whole range. The map is monotonic, so trees split as before except among values
    beyond the limit.
    """

    # Quantiles are read from at most this many rows (evenly spaced): a fit's cost stays flat
    # at plant scale, and the spread barely moves.
    MAX_ROWS = 5_000

    # Chosen by measurement (bench/results/bounded_inputs.md): on clean demo data 3, 5 and 10
    # give the same PR-AUC; with extreme values in some vehicles' readings, 3 lost the least.
    def __init__(self, limit: float = 3.0) -> None:
        self.limit = limit

    def fit(self, X: Any, y: Any = None) -> "RobustBounds":
        """Learn each column's median and spread from its finite values."""
        values = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = values.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        sample = values
        if len(values) > self.MAX_ROWS:
            rows = np.linspace(0, len(values) - 1, self.MAX_ROWS).round().astype(np.intp)
            sample = values[rows]
        # Non-finite values sort last with NaN: each column's finite values come first.
        ordered = np.sort(np.where(np.isfinite(sample), sample, np.nan), axis=0)
        counts = np.isfinite(ordered).sum(axis=0)
        if not len(ordered):
            ordered = np.full((1, self.n_features_in_), np.nan)
        columns = np.arange(self.n_features_in_)

        def quantile(q: float) -> np.ndarray:
            # Nearest rank: a value the column holds, no arithmetic that could overflow.
            at = np.round(q * np.maximum(counts - 1, 0)).astype(np.intp)
            return np.where(counts > 0, ordered[at, columns], 0.0)

        with np.errstate(over="ignore", invalid="ignore"):
            iqr, central, whole = (quantile(1 - q) - quantile(q) for q in (0.25, 0.01, 0.0))
        spread = np.ones(self.n_features_in_)
        # The first usable of the interquartile, 1st-99th percentile and whole ranges.
        for candidate in (whole, central, iqr):
            spread = np.where(np.isfinite(candidate) & (candidate > 0), candidate, spread)
        self.center_ = quantile(0.5)
        self.spread_ = spread
        return self

    def transform(self, X: Any) -> pd.DataFrame | np.ndarray:
        """The bounded columns as floats (a DataFrame stays a DataFrame)."""
        check_is_fitted(self, "center_")
        bounded = bound_columns(np.asarray(X), self.center_, self.spread_, self.limit)
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(bounded, index=X.index, columns=X.columns, copy=False)
        return bounded

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input names: one bounded column for each."""
        names = input_features
        if names is None:
            names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray(names, dtype=object)


def bound_columns(
    values: np.ndarray, center: np.ndarray, spread: np.ndarray, limit: float
) -> np.ndarray:
    """(values − center) / spread cut at ±limit, NaN kept: RobustBounds' map, also used by
    the compiled formula so that both give the same numbers."""
    bounded = np.array(values, dtype=np.float64)  # the one copy: the rest works in place
    # An overflow gives ±inf, cut to ±limit like any value that far out; ±inf the same.
    with np.errstate(over="ignore", invalid="ignore"):
        np.subtract(bounded, center, out=bounded)
        np.divide(bounded, spread, out=bounded)
    return np.clip(bounded, -limit, limit, out=bounded)
