"""Naive float64 references for binary (elementwise) classification losses."""

import numpy as np

from .spec import Case


def _probs(rng, shape=(4, 3)):
    return rng.uniform(size=shape), rng.uniform(0.02, 0.98, size=shape)


def _hard_probs(rng, shape=(4, 3)):
    return (rng.uniform(size=shape) > 0.5).astype(float), rng.uniform(0.02, 0.98, size=shape)


def _logits(rng, shape=(4, 3)):
    return rng.uniform(size=shape), rng.normal(scale=3.0, size=shape)


def bce_ref(y, p, from_logits=False, label_smoothing=0.0, pos_weight=None, epsilon=None):
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight)
    if from_logits:
        p = 1.0 / (1.0 + np.exp(-p))
    return -(pw * y * np.log(p) + (1 - y) * np.log(1 - p))


def _bce_extremes():
    return [
        (np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0, 1.0])),
        (np.array([0.5, 0.5]), np.array([0.0, 1.0])),
        (np.array([1.0, 0.0]), np.array([1e-300, 1 - 1e-16])),
    ]


def _logit_extremes():
    return [(np.array([1.0, 0.0, 1.0, 0.0, 0.5]), np.array([1e4, -1e4, -1e4, 1e4, 0.0]))]


def _bce_invalid():
    return [
        (np.array([1.0, 0.0]), np.array([1.5, 0.2])),  # probability > 1
        (np.array([1.0, 0.0]), np.array([-0.1, 0.2])),  # probability < 0
        (np.array([2.0, 0.0]), np.array([0.5, 0.2])),  # target > 1
    ]


CASES = [
    Case("binary_cross_entropy", _probs, bce_ref, extremes=_bce_extremes, invalid=_bce_invalid),
    Case("binary_cross_entropy", _hard_probs, bce_ref, {"label_smoothing": 0.2}, extremes=_bce_extremes),
    Case("binary_cross_entropy", _logits, bce_ref, {"from_logits": True}, extremes=_logit_extremes),
    Case("binary_cross_entropy", _logits, bce_ref, {"from_logits": True, "pos_weight": [0.5, 2.0, 3.0]},
         name="logits,pos_weight"),
]
