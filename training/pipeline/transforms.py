"""The columns an estimator reads of the feature frame, and the deviations its linear models
weigh: scikit-learn transformers over arrays (no Django).

Versions store these in their artifacts under `training.pipeline.estimators`, which keeps the
names importable.
"""

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.utils.validation import check_is_fitted

from training.pipeline.features import PIVOT_PREFIXES, READING_PREFIX


class InformativeColumns(TransformerMixin, BaseEstimator):
    """Keep the columns that carry information at fit: not all missing, not one constant.

    A test that no vehicle of the fitting period has a value for (one new station's test, a
    test seen only in later data) would otherwise break HistGradientBoosting's binning.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> "InformativeColumns":
        """Remember the columns with at least one value and more than one distinct state."""
        values = np.asarray(X, dtype=np.float64)
        missing = np.isnan(values)
        # fmin/fmax skip NaN; an all-missing column stays NaN and compares False.
        low = np.fmin.reduce(values, axis=0, initial=np.nan)
        high = np.fmax.reduce(values, axis=0, initial=np.nan)
        partly_missing = missing.any(axis=0) & ~missing.all(axis=0)
        self.keep_ = np.flatnonzero((high > low) | partly_missing)
        self.n_features_in_ = values.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """X restricted to the kept columns (a DataFrame stays a DataFrame)."""
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, self.keep_]
        return np.asarray(X)[:, self.keep_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The kept columns' names."""
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names[self.keep_]


class PivotColumns(InformativeColumns):
    """The feature frame's pivot: each test value's latest reading and each test's last NOK
    flag (`PIVOT_PREFIXES`), the view of the plain approach (one column per test value and
    status, one gradient-boosting model with scikit-learn's defaults)."""

    prefixes: tuple[str, ...] = PIVOT_PREFIXES

    def fit(self, X: pd.DataFrame, y: Any = None) -> "PivotColumns":
        """Remember the positions of the pivot's columns."""
        names = np.asarray(X.columns, dtype=object)
        self.keep_ = np.flatnonzero([str(name).startswith(self.prefixes) for name in names])
        if not len(self.keep_):
            raise ValueError(f"no columns named {' or '.join(self.prefixes)}… among the features")
        self.n_features_in_ = len(names)
        self.feature_names_in_ = names
        return self


class ReadingColumns(PivotColumns):
    """Each test value's latest reading alone (`value|…`): the view of `relaxed_logistic`."""

    prefixes = (READING_PREFIX,)


class WithDeviations(TransformerMixin, BaseEstimator):
    """Each standardised column, then its absolute deviation from its mean.

    A measurement too far from its usual value either way (a torque too high or too low)
    then weighs in a linear model as one too far in one direction does.
    """

    def fit(self, X: Any, y: Any = None) -> "WithDeviations":
        """Remember the number of columns (and their names, from a DataFrame)."""
        self.n_features_in_ = np.shape(X)[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """[X, |X|] side by side."""
        values = np.asarray(X, dtype=np.float64)
        return np.hstack([values, np.abs(values)])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input names, then `|name|` for each deviation."""
        check_is_fitted(self, "n_features_in_")
        names = input_features
        if names is None:
            names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray([*names, *(f"|{name}|" for name in names)], dtype=object)


class MedianImputer(SimpleImputer):
    """`SimpleImputer(strategy="median")` whose fit finds each column's median with
    `np.nanmedian` (a partition) instead of scikit-learn's masked-array median (a sort of a
    masked copy of the whole matrix): at 40M plant-shape rows that fit was an eighth of the
    training's CPU (bench/results/latest.md). The same medians (an empty column's is 0 with
    `keep_empty_features`), the same missing indicator and transform; any other strategy or
    missing value is scikit-learn's own fit.
    """

    def _dense_fit(self, X, strategy, missing_values, fill_value):
        if strategy != "median" or not _is_nan(missing_values):
            return super()._dense_fit(X, strategy, missing_values, fill_value)
        missing = np.isnan(X)
        self._fit_indicator(missing)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column with no value
            median = np.nanmedian(X, axis=0)
        median[np.isnan(median)] = 0 if self.keep_empty_features else np.nan
        return median


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)
