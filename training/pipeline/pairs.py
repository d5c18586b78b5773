"""The terms of `pairwise_logistic`: each standardised reading, its deviation, and the products
of the few readings shallow trees split on most (plain numpy and scikit-learn, no Django)."""

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted


class PairTerms(TransformerMixin, BaseEstimator):
    """[z, |z|, z_a·z_b, |z_a|·z_b] of standardised columns z, cut at ±`limit` first, each term
    standardised again and the products weighed by `product_weight`.

    A linear model of z and |z| cannot see a risk that is the product of two readings (a gap
    that matters only when the screws beside it are loose, a deviation that counts only after
    a long cure): it needs their product. Every pair of thousands of columns is too many, so
    the pairs are those of the `screen` columns that a few depth-2 boosted trees, fitted on the
    same rows, gain most from (a depth-2 tree splits on a second column given the first, so
    an interaction's columns rank high even when neither moves the risk alone). Both products
    z_a·z_b and, with `deviations`, |z_a|·z_b for a ≠ b: the second is an effect of b whose
    strength grows with a's deviation either way. Every term lies within ±limit² before its
    standardisation.

    The products are many and mostly noise: weighed by `product_weight` < 1, an L1 penalty
    on the terms is stronger on them than on the readings and their deviations (as if its
    strength were divided by the weight for them alone: twice as strong at 0.5), so that a
    product is kept only for a clear effect and, where none is, the model is the relaxed one
    (at 0.67 the folds chose it for two groups of a world without products, on products kept
    by chance, and both judged lower than the relaxed model: bench/results/fail_pairs.md).
    """

    def __init__(
        self,
        screen: int = 12,
        limit: float = 4.0,
        deviations: bool = True,
        product_weight: float = 0.5,
        random_state: Any = None,
    ) -> None:
        self.screen = screen
        self.limit = limit
        self.deviations = deviations
        self.product_weight = product_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "PairTerms":
        """Screen the columns the trees gain most from; list their pairs."""
        values = np.clip(np.asarray(X, dtype=np.float64), -self.limit, self.limit)
        self.n_features_in_ = values.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.screened_ = self._screen(values, np.asarray(y))
        screened = [int(a) for a in self.screened_]
        pairs = [(a, b, False) for i, a in enumerate(screened) for b in screened[i + 1:]]
        if self.deviations:
            pairs += [(a, b, True) for a in screened for b in screened if a != b]
        left, right, absolute = zip(*pairs, strict=True) if pairs else ((), (), ())
        self.left_ = np.asarray(left, dtype=np.intp)
        self.right_ = np.asarray(right, dtype=np.intp)
        self.left_absolute_ = np.asarray(absolute, dtype=bool)
        terms = self._terms(values)
        self.mean_ = terms.mean(axis=0)
        spread = terms.std(axis=0)
        # A constant term (a product of a column with nothing but its mean) stays zero.
        self.scale_ = np.where(spread > 1e-12, spread, 1.0)
        self.weight_ = np.r_[np.ones(2 * values.shape[1]),
                             np.full(len(self.left_), float(self.product_weight))]
        return self

    def _screen(self, values: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The (sorted) columns with the largest total split gain, at most `screen` of them."""
        if self.screen < 2 or values.shape[1] < 2:
            return np.empty(0, dtype=np.intp)
        trees = HistGradientBoostingClassifier(
            max_depth=2,
            max_iter=50,
            learning_rate=0.1,
            min_samples_leaf=20,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(values, labels)
        gain = np.zeros(values.shape[1])
        for iteration in trees._predictors:
            for predictor in iteration:
                inner = predictor.nodes[~predictor.nodes["is_leaf"].astype(bool)]
                np.add.at(gain, inner["feature_idx"].astype(np.intp), inner["gain"])
        ranked = np.argsort(-gain, kind="stable")[: self.screen]
        return np.sort(ranked[gain[ranked] > 0]).astype(np.intp)

    def transform(self, X: Any) -> np.ndarray:
        """The terms (the columns, their absolute values, the listed products), standardised,
        the products weighed."""
        check_is_fitted(self, "scale_")
        terms = self._terms(np.clip(np.asarray(X, dtype=np.float64), -self.limit, self.limit))
        return (terms - self.mean_) / self.scale_ * self.weight_

    def _terms(self, z: np.ndarray) -> np.ndarray:
        return np.hstack([z, np.abs(z), pair_products(z, self.left_, self.right_,
                                                      self.left_absolute_)])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """`name`, `|name|`, then `a*b` or `|a|*b` for each product."""
        check_is_fitted(self, "left_")
        names = input_features
        if names is None:
            names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(self.n_features_in_)]
        names = np.asarray(names, dtype=object)
        products = [
            f"{'|' + names[a] + '|' if absolute else names[a]}*{names[b]}"
            for a, b, absolute in zip(self.left_, self.right_, self.left_absolute_, strict=True)
        ]
        return np.asarray([*names, *(f"|{n}|" for n in names), *products], dtype=object)


def pair_products(
    z: np.ndarray, left: np.ndarray, right: np.ndarray, left_absolute: np.ndarray
) -> np.ndarray:
    """z_a·z_b, or |z_a|·z_b where `left_absolute`, for each listed pair (a, b) of columns."""
    first = z[:, left]
    first = np.where(left_absolute, np.abs(first), first)
    return first * z[:, right]
