"""Average precision that is fair to tied scores, and a paired bootstrap of two rankings.

scikit-learn's `average_precision_score` scores a block of tied scores once, at the precision
of the block's end: every positive in the block gets the block's mean precision, not what
an inspector working down the list meets on average. A model with few distinct scores loses
by it. On generated data, truth.csv's probability for group 133 takes 5 to 7 values (a NOK
flag and a NOK count), and breaking its ties at random is worth 1.16–1.31 × its own PR-AUC:
a model that reproduces truth's levels scores below a noisy one that happens to break the
ties. `expected_average_precision` is the mean average precision over every order of the
tied scores (McSherry and Najork, "Computing information retrieval performance measures
efficiently in the presence of tied scores", ECIR 2008); without ties it equals
scikit-learn's.
"""

import numpy as np


def expected_average_precision(y_true, scores) -> float:
    """Average precision averaged over every order of tied scores (nan without positives)."""
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    total = y.sum()
    if not total:
        return float("nan")
    # Blocks of equal scores: their first rank (0-based), size, positives, positives before.
    first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    size = np.diff(np.r_[first, len(s)])
    positives = np.add.reduceat(y, first)
    before = np.cumsum(positives) - positives
    block = np.repeat(np.arange(len(first)), size)
    k = np.arange(len(s)) - first[block] + 1  # the position inside the block, from 1
    n, p = size[block], positives[block]
    # The item at position k is a positive with probability p / n; given that, the positives
    # at positions up to k number 1 + (k − 1)(p − 1)/(n − 1) on average.
    spread = np.divide(p - 1, n - 1, out=np.zeros(len(s)), where=n > 1)
    precision = (before[block] + 1 + (k - 1) * spread) / (first[block] + k)
    return float(np.sum(p / n * precision) / total)


def paired_bootstrap(
    y_true, first, second, *, resamples: int = 1000, seed: int = 0, percentiles=(5, 95)
) -> tuple[float, ...]:
    """The `percentiles` (by default the 5th and 95th) of expected AP(first) − expected
    AP(second) over resamples of the same vehicles (drawn with replacement, both rankings on
    each draw)."""
    y = np.asarray(y_true)
    a, b = np.asarray(first), np.asarray(second)
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        if y[rows].any():
            differences.append(
                expected_average_precision(y[rows], a[rows])
                - expected_average_precision(y[rows], b[rows])
            )
    return tuple(float(v) for v in np.percentile(differences, percentiles))
