"""Gradient boosting that bins a training frame once per run, whichever kind it is fitted for.

scikit-learn's HistGradientBoostingClassifier first cuts every column into at most 255 bins
at the training rows' quantiles, then grows trees on the bin numbers. The bins depend on the
rows and their values only, never on the labels; a run fits every kind on the same blocks of
vehicles, so each kind recomputed the same quantiles: at the plant's width (thousands of
columns, about a thousand vehicles) the binning was a fifth of a run's CPU time. Inside
`shared_binning` a model fitted on rows binned before takes the bins already made, and grows
the same trees as without.
"""

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

# The bins kept for reuse, newest last (None: outside `shared_binning`, nothing is kept).
_SHARED: ContextVar["OrderedDict[tuple, tuple[Any, np.ndarray]] | None"] = ContextVar(
    "shared_bins", default=None
)
# The most binned data kept at once: a run's blocks at the plant's scale (49,000 vehicles,
# some 3,000 columns, one byte a value) fit in it; beyond it the oldest are let go.
MAX_SHARED_BYTES = 1 << 30


@contextmanager
def shared_binning() -> Iterator[None]:
    """Within this block, gradient-boosting models fitted on the same training rows bin them
    once."""
    token = _SHARED.set(OrderedDict())
    try:
        yield
    finally:
        _SHARED.reset(token)


class GradientBoosting(HistGradientBoostingClassifier):
    """HistGradientBoostingClassifier, whose training data's bins are shared within
    `shared_binning`: the same rows, values and binning options give the bins made before."""

    def _bin_data(self, X: Any, sample_weight: Any, is_training_data: bool) -> np.ndarray:
        shared = _SHARED.get()
        if shared is None or not is_training_data or sample_weight is not None:
            return super()._bin_data(X, sample_weight, is_training_data)
        mapper = self._bin_mapper
        values = np.ascontiguousarray(X)
        key = (
            values.shape,
            values.dtype.str,
            mapper.n_bins,
            mapper.subsample,
            int(self._random_seed),
            repr(mapper.is_categorical),
            repr(mapper.known_categories),
            hashlib.blake2b(values.data, digest_size=20).hexdigest(),
        )
        if key in shared:
            shared.move_to_end(key)
            self._bin_mapper, binned = shared[key]
            return binned
        binned = super()._bin_data(X, sample_weight, is_training_data)
        # Read-only: a model that wrote into the bins another one shares would fail loudly.
        binned.flags.writeable = False
        shared[key] = (self._bin_mapper, binned)
        while sum(b.nbytes for _, b in shared.values()) > MAX_SHARED_BYTES and len(shared) > 1:
            shared.popitem(last=False)
        return binned
