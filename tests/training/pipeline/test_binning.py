import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting import binning as sklearn_binning

from training.pipeline.binning import GradientBoosting, shared_binning


def _data():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 8))
    X[rng.random(X.shape) < 0.1] = np.nan
    labels = [(np.nan_to_num(X[:, i]) > 0.4).astype(int) for i in range(3)]
    return X, labels


def _counting_bin_fits(monkeypatch):
    fits = []
    original = sklearn_binning._BinMapper.fit

    def fit(self, X, y=None, sample_weight=None):
        fits.append(X.shape)
        return original(self, X, y, sample_weight)

    monkeypatch.setattr(sklearn_binning._BinMapper, "fit", fit)
    return fits


def test_models_fitted_on_the_same_rows_bin_them_once_and_grow_the_same_trees(monkeypatch):
    X, labels = _data()
    options = {"max_depth": 2, "max_iter": 30, "early_stopping": False, "random_state": 0}
    alone = [HistGradientBoostingClassifier(**options).fit(X, y) for y in labels]
    fits = _counting_bin_fits(monkeypatch)
    with shared_binning():
        shared = [GradientBoosting(**options).fit(X, y) for y in labels]
        # Other rows are binned on their own.
        GradientBoosting(**options).fit(X[:300], labels[0][:300])
    assert fits == [X.shape, (300, X.shape[1])]
    for one, other in zip(alone, shared, strict=True):
        np.testing.assert_array_equal(one.predict_proba(X), other.predict_proba(X))


def test_outside_shared_binning_every_fit_bins_its_rows(monkeypatch):
    X, labels = _data()
    fits = _counting_bin_fits(monkeypatch)
    for y in labels[:2]:
        GradientBoosting(max_iter=5, early_stopping=False).fit(X, y)
    with shared_binning():
        GradientBoosting(max_iter=5, early_stopping=False, max_bins=63).fit(X, labels[0])
        # Other binning options: binned again.
        GradientBoosting(max_iter=5, early_stopping=False).fit(X, labels[1])
    assert len(fits) == 4
