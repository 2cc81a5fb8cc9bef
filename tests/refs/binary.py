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


# -- binary focal cross-entropy -------------------------------------------------------------
def focal_ref(y, p, gamma=2.0, alpha=None, from_logits=False, label_smoothing=0.0, epsilon=None):
    """Lin et al.'s formula as Keras writes it: alpha_t (1 - p_t)^gamma BCE(y, p), with the BCE's
    p clipped to [epsilon, 1 - epsilon] when epsilon is given and the focal factor unclipped."""
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = 1.0 / (1.0 + np.exp(-p))
    pc = p if epsilon is None else np.clip(p, epsilon, 1 - epsilon)
    ce = -(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    p_t = y * p + (1 - y) * (1 - p)
    out = (1 - p_t) ** gamma * ce
    if alpha is not None:
        out = (alpha * y + (1 - alpha) * (1 - y)) * out
    return out


def _hard_logits(rng, shape=(4, 3)):
    return (rng.uniform(size=shape) > 0.5).astype(float), rng.normal(scale=3.0, size=shape)


def _focal_prob_extremes():
    return [
        (np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0, 1.0])),
        (np.array([0.5, 0.5, 1e-30, 1.0 - 1e-12]), np.array([0.0, 1.0, 0.0, 1.0])),
        (np.array([1.0, 0.0, 0.0, 1.0]), np.array([1e-300, 1 - 1e-16, 1e-300, 1 - 1e-16])),
        (np.array([1.0, 0.0]), np.array([1 - 1e-7, 1e-7])),
    ]


def _focal_logit_extremes():
    return [
        (np.array([1.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.0]), np.array([1e4, -1e4, -1e4, 1e4, 0.0, 0.0, 0.0])),
        (np.array([0.3, 0.3, 1e-30, 1e-30, 1.0, 0.0]), np.array([1e4, -1e4, 1e4, -1e4, 800.0, -800.0])),
        (np.array([1.0, 0.0, 0.7]), np.array([90.0, -90.0, -750.0])),
    ]


CASES += [
    Case("binary_focal_cross_entropy", _probs, focal_ref, extremes=_focal_prob_extremes, name="probs,soft"),
    Case("binary_focal_cross_entropy", _hard_probs, focal_ref,
         {"gamma": 0.5, "alpha": 0.25, "label_smoothing": 0.1}, extremes=_focal_prob_extremes,
         name="probs,gamma<1,alpha,smoothing"),
    Case("binary_focal_cross_entropy", _hard_probs, focal_ref, {"gamma": 1.5, "epsilon": 1e-7},
         extremes=_focal_prob_extremes, name="probs,keras-eps"),
    Case("binary_focal_cross_entropy", _logits, focal_ref, {"from_logits": True, "alpha": 0.25},
         extremes=_focal_logit_extremes, name="logits,alpha"),
    Case("binary_focal_cross_entropy", _hard_logits, focal_ref, {"from_logits": True, "gamma": 0.5},
         extremes=_focal_logit_extremes, name="logits,hard,gamma<1"),
    Case("binary_focal_cross_entropy", _hard_logits, focal_ref,
         {"from_logits": True, "gamma": 3.0, "label_smoothing": 0.2, "alpha": 0.8}, extremes=_focal_logit_extremes,
         name="logits,smoothing,gamma=3"),
    Case("binary_focal_cross_entropy", _logits, focal_ref, {"from_logits": True, "gamma": 0.0},
         extremes=_focal_logit_extremes, name="logits,gamma=0"),
    Case("binary_focal_cross_entropy", _hard_logits, focal_ref, {"from_logits": True, "gamma": 3.5},
         extremes=_focal_logit_extremes, name="logits,hard,gamma=3.5"),  # (the lean forms and fused kernel, no alpha)
    Case("binary_focal_cross_entropy", _probs, focal_ref, {"gamma": 0.5, "alpha": 0.75},
         extremes=_focal_prob_extremes, name="probs,gamma<1,alpha"),  # (the fused kernel's weighted, non-square form)
]
