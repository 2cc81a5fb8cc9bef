"""Naive float64 references for the regression family."""

import numpy as np

from .spec import Case


def _pair(rng, shape=(4, 3)):
    return rng.normal(size=shape), rng.normal(size=shape)


def mse_ref(y, p):
    return (y - p) ** 2


CASES = [
    Case("mean_squared_error", _pair, mse_ref,
         extremes=lambda: [(np.array([1e150, -1e150]), np.array([-1e150, 1e150])), (np.zeros(3), np.zeros(3))]),
]
