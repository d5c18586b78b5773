"""The readings of the tests that bear on a kind, screened test by test: the view of
`screened_logistic`.

Where a group's risk is the sum of many small deviations, each screw's reading carries too
little of it for an L1 penalty to keep it apart from noise, though a test's screws together
do: the tool, the joint and the station are the test's. Screening whole tests (every
sub-result's reading and deviation at once) by a score test keeps those tests, and an L2
fit of their columns then weighs every screw (on generated data, such groups from 0.77-0.82
to 0.96-0.99 of the truth's PR-AUC, bench/results/fail_screened.md).

Plain classes over arrays (no Django).
"""

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.pipeline.bounds import RobustBounds
from training.pipeline.features import READING_PREFIX
from training.pipeline.transforms import (
    InformativeColumns,
    MedianImputer,
    ReadingColumns,
    WithDeviations,
)

# The L2 strength of the fit a second screen tests against: RelaxedLogistic's refit_C.
SECOND_SCREEN_C = 0.1


def reading_test(name: str) -> str:
    """A reading column's test, `NAME#ID` of `value|NAME#ID|sub` (a name without a
    sub-result is a test of its own)."""
    reading = name.removeprefix(READING_PREFIX)
    test, separator, _ = reading.rpartition("|")
    return test if separator else reading


def score_statistics(
    values: np.ndarray, labels: np.ndarray, groups: np.ndarray, fitted: np.ndarray | None = None
) -> np.ndarray:
    """Each group's score (Rao) statistic for a logistic model's columns of that group,
    tested against the intercept alone, or against a fitted model's probabilities per row
    (`fitted`), and its degrees of freedom: (statistic, rank) per group `0 … groups.max()`.

    The score is X'(y − p) and the information X'WX on columns centred with the weights
    W = p(1 − p): at the intercept alone every row's p is the prevalence, so W is one number
    and the centring the plain mean. One matrix product for all groups, no fit per group.
    """
    fitted = np.full(len(labels), np.mean(labels)) if fitted is None else fitted
    weights = fitted * (1.0 - fitted)
    total = weights.sum()
    centre = weights @ values / total if total > 0 else values.mean(axis=0)
    centred = values - centre
    score = centred.T @ (labels - fitted)
    stats = np.zeros((int(groups.max()) + 1, 2))
    for group in np.unique(groups):
        columns = np.flatnonzero(groups == group)
        part = centred[:, columns]
        information = (part * weights[:, None]).T @ part
        u = score[columns]
        solved, _, rank, _ = np.linalg.lstsq(information, u, rcond=None)
        stats[group] = float(u @ solved), rank
    return stats


class ScreenedReadings(ReadingColumns):
    """Each test value's latest reading (`value|…`), of the tests whose readings and
    deviations together tell the fitting labels apart beyond chance (score test, p <
    `alpha`); the most telling test at least. With `second_alpha`, a second screen: each test
    left, against an L2 logistic fit of the tests kept (p < `second_alpha`). Once the strong
    tests explain part of the labels, a weak test's share of what is left stands out
    (bench/results/fail_second_screen.md).

    The test sees the columns as the model after it does (bounded, medians filled,
    standardised, with their deviations), so no extreme value sways it.
    """

    # Versions saved before the second screen existed unpickle without it.
    second_alpha: float | None = None

    def __init__(self, alpha: float = 0.01, second_alpha: float | None = None) -> None:
        self.alpha = alpha
        self.second_alpha = second_alpha

    def fit(self, X: pd.DataFrame, y: Any = None) -> "ScreenedReadings":
        """Keep the reading columns of the tests that pass the screen on these labels."""
        if y is None:
            raise ValueError("ScreenedReadings screens tests on labels: fit it with y")
        super().fit(X)
        readings = X.iloc[:, self.keep_]
        prepared = make_pipeline(
            InformativeColumns(),
            RobustBounds(),
            MedianImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            WithDeviations(),
        )
        values = prepared.fit_transform(readings)
        informative = prepared.steps[0][1].keep_
        tests = np.asarray([reading_test(str(name)) for name in readings.columns], dtype=object)
        names, codes = np.unique(tests[informative], return_inverse=True)
        if not len(names):
            return self  # nothing varies: the model after it fits its offset alone
        labels = np.asarray(y, dtype=np.float64)
        stats = score_statistics(values, labels, np.concatenate([codes, codes]))
        p_values = chi2.sf(stats[:, 0], np.maximum(stats[:, 1], 1))
        passed = p_values < self.alpha
        passed[np.argmin(p_values)] = True
        if self.second_alpha is not None:
            passed |= self._second_screen(values, labels, np.concatenate([codes, codes]), passed)
        self.tests_ = names[passed]
        self.keep_ = self.keep_[np.isin(tests, self.tests_)]
        return self

    def _second_screen(
        self, values: np.ndarray, labels: np.ndarray, groups: np.ndarray, passed: np.ndarray
    ) -> np.ndarray:
        """The tests not passed whose columns tell the labels apart beyond the fit of those
        passed (the screened model's own L2 strength)."""
        inside = passed[groups]
        model = LogisticRegression(C=SECOND_SCREEN_C, max_iter=2000)
        fitted = model.fit(values[:, inside], labels).predict_proba(values[:, inside])[:, 1]
        stats = score_statistics(values, labels, groups, fitted)
        return ~passed & (chi2.sf(stats[:, 0], np.maximum(stats[:, 1], 1)) < self.second_alpha)
