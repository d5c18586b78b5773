"""Average precision over every order of tied scores, and the paired bootstrap."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from bench.ranking import expected_average_precision, paired_bootstrap


def mean_over_orders(y: np.ndarray, scores: np.ndarray) -> float:
    """The definition: average precision of every order of the tied scores, averaged."""
    blocks = [np.flatnonzero(scores == value) for value in sorted(set(scores), reverse=True)]
    values = []
    for orders in itertools.product(*(itertools.permutations(b) for b in blocks)):
        ranked = np.concatenate(orders)
        hits = np.cumsum(y[ranked])
        values.append(np.sum(y[ranked] * hits / np.arange(1, len(y) + 1)) / y.sum())
    return float(np.mean(values))


@pytest.mark.parametrize("seed", range(6))
def test_equals_the_mean_over_every_order_of_tied_scores(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 8)
    y[0] = 1
    scores = rng.integers(0, 3, 8).astype(float)
    assert expected_average_precision(y, scores) == pytest.approx(mean_over_orders(y, scores))


def test_equals_scikit_learn_without_ties_and_exceeds_it_for_a_mixed_tied_block():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    scores = rng.random(300)
    assert expected_average_precision(y, scores) == pytest.approx(
        average_precision_score(y, scores)
    )
    # One positive, one negative, tied at the top: scikit-learn counts precision 1/2 for the
    # positive; in half of the orders it comes first (precision 1), so the mean is 3/4.
    y, scores = np.array([1, 0, 0]), np.array([0.9, 0.9, 0.1])
    assert average_precision_score(y, scores) == pytest.approx(0.5)
    assert expected_average_precision(y, scores) == pytest.approx(0.75)


def test_paired_bootstrap_separates_a_better_ranking_and_not_an_equal_one():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    good = y + rng.normal(0, 0.5, 400)
    poor = y + rng.normal(0, 2.0, 400)
    low, high = paired_bootstrap(y, good, poor, resamples=200)
    assert 0 < low < high
    low, high = paired_bootstrap(y, good, good, resamples=50)
    assert low == high == 0


def test_paired_bootstrap_gives_the_percentiles_asked_of_the_same_resamples():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    first = y + rng.normal(0, 1.0, 300)
    second = y + rng.normal(0, 1.2, 300)
    wide_low, low, high, wide_high = paired_bootstrap(
        y, first, second, resamples=200, percentiles=(2.5, 5, 95, 97.5)
    )
    assert (low, high) == paired_bootstrap(y, first, second, resamples=200)
    assert wide_low < low < high < wide_high
