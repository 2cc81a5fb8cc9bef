"""Naive float64 references for the divergence family (textbook formulas, written
independently of losskit's kernels: no Bregman rewriting, no series).

Probability-input cases with the default row check (``normalized=True``) use a 1e-8
finite-difference step, which stays inside the row-sum tolerance (``C 2^-24``); one case
per loss also runs with ``normalized=False``.
"""

import numpy as np

from .spec import Case


# -- helpers ---------------------------------------------------------------------------------
def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _xlogx_over(a, b):
    """a * log(a / b) with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0) / b), 0.0)


def _dirichlet(rng, shape, alpha=2.0):
    return rng.dirichlet(np.full(shape[-1], alpha), size=shape[:-1])


# -- references ------------------------------------------------------------------------------
def kl_ref(y, p, from_logits=False, log_target=False, normalized=True, epsilon=None, clip_target=False, axis=-1):
    t = np.exp(y) if log_target else y
    q = _softmax(p, axis) if from_logits else p
    if epsilon is not None:
        q = np.clip(q, epsilon, None) if not from_logits else q
        t = np.clip(t, epsilon, None) if clip_target else t
    return _xlogx_over(t, q).sum(axis=axis)


def reverse_kl_ref(y, p, from_logits=False, normalized=True, epsilon=None, axis=-1):
    q = _softmax(p, axis) if from_logits else p
    return _xlogx_over(q, y).sum(axis=axis)


def generalized_kl_ref(y, p, log_input=False, epsilon=None, axis=-1):
    q = np.exp(p) if log_input else p
    return (_xlogx_over(y, q) - y + q).sum(axis=axis)


def js_ref(y, p, from_logits=False, normalized=True, epsilon=None, axis=-1):
    q = _softmax(p, axis) if from_logits else p
    m = 0.5 * (y + q)
    return (0.5 * _xlogx_over(y, m) + 0.5 * _xlogx_over(q, m)).sum(axis=axis)


def cosine_ref(y, p, form="negative", epsilon=1e-8, axis=-1):
    ny = np.maximum(np.linalg.norm(y, axis=axis), epsilon)
    npred = np.maximum(np.linalg.norm(p, axis=axis), epsilon)
    c = (y * p).sum(axis=axis) / (ny * npred)
    return {"negative": -c, "similarity": c, "distance": 1.0 - c}[form]


def cosine_distance_ref(y, p, epsilon=1e-8, axis=-1):
    return cosine_ref(y, p, form="distance", epsilon=epsilon, axis=axis)


# -- inputs ------------------------------------------------------------------------------------
def _probs(rng, shape=(4, 3)):
    return _dirichlet(rng, shape), _dirichlet(rng, shape, alpha=4.0)


def _near_probs(rng, shape=(4, 5)):
    """Nearly equal distributions (the textbook sum cancels more as they get closer; 1e-2 keeps
    the naive float64 reference itself accurate to ~1e-12)."""
    q = _dirichlet(rng, shape, alpha=5.0)
    t = q * np.exp(rng.normal(scale=1e-2, size=shape))
    return t / t.sum(axis=-1, keepdims=True), q


def _one_hot_probs(rng, shape=(4, 3)):
    t = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    return t, _dirichlet(rng, shape, alpha=4.0)


def _keras_like(rng, shape=(4, 3)):
    """Unnormalised rows in [0, 1] with some exact zeros in y_true (Keras's peer inputs)."""
    t = rng.uniform(0.05, 0.95, size=shape)
    t[0, 1] = 0.0
    return t, rng.uniform(0.05, 0.95, size=shape)


def _logits(rng, shape=(4, 3)):
    return _dirichlet(rng, shape), rng.normal(scale=2.0, size=shape)


def _log_targets_logits(rng, shape=(4, 3)):
    return np.log(_dirichlet(rng, shape)), rng.normal(scale=2.0, size=shape)


def _log_targets_probs(rng, shape=(4, 3)):
    return np.log(_dirichlet(rng, shape)), _dirichlet(rng, shape, alpha=4.0)


def _logits_3d(rng):
    t = _dirichlet(rng, (2, 4, 3))
    return np.ascontiguousarray(np.moveaxis(t, -1, 1)), rng.normal(scale=2.0, size=(2, 3, 4))


def _measures(rng, shape=(4, 3)):
    t = rng.uniform(0.0, 3.0, size=shape)
    t[1, 2] = 0.0
    return t, rng.uniform(0.1, 3.0, size=shape)


def _log_measures(rng, shape=(4, 3)):
    t = rng.uniform(0.0, 3.0, size=shape)
    t[1, 2] = 0.0
    return t, rng.normal(scale=1.0, size=shape)


def _vectors(rng, shape=(4, 5)):
    return rng.normal(size=shape), rng.normal(size=shape)


def _near_vectors(rng, shape=(4, 5)):
    y = rng.normal(size=shape)
    return y, 1.7 * y + rng.normal(scale=0.05, size=shape)


# -- extremes ---------------------------------------------------------------------------------
def _prob_extremes():
    """Normalised rows: q exactly 0 where t > 0 (clamped), q equal to a one-hot t, 0 log 0."""
    return [
        (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0]])),
        (np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]), np.array([[1e-300, 1.0 - 1e-16, 0.0], [1.0, 0.0, 0.0]])),
        (np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]])),
    ]


def _unnormalised_extremes():
    """Rows that need not sum to 1 (normalized=False): all-zero rows, zeros against ones."""
    return [*_prob_extremes(),
            (np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]))]


def _logit_extremes():
    return [
        (np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.2, 0.3, 0.5]]),
         np.array([[-1e4, 1e4, 0.0], [1e4, -1e4, -1e4], [1e4, 1e4, -1e4]])),
        (np.array([[1.0, 0.0, 0.0]]), np.array([[1e4, -1e4, -1e4]])),
    ]


def _log_target_logit_extremes():
    return [(np.array([[0.0, -1e4, -1e4], [-0.6931471805599453, -0.6931471805599453, -800.0]]),
             np.array([[-1e4, 1e4, 0.0], [1e4, -1e4, -1e4]]))]


def _measure_extremes():
    return [
        (np.array([[0.0, 2.0, 0.0, 1e-300]]), np.array([[0.0, 0.0, 5.0, 1.0]])),
        (np.array([[1e30, 1.0, 0.0]]), np.array([[1e-30, 1e30, 0.0]])),
    ]


def _log_measure_extremes():
    return [(np.array([[0.0, 2.0, 3.0, 1e-300]]), np.array([[-1e4, -1e4, 80.0, 0.0]]))]


def _vector_extremes():
    return [
        (np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),
         np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])),
        (np.array([[1e-30, 0.0, 0.0], [1.0, 1.0, 0.0]]), np.array([[1.0, 1.0, 1.0], [1e-12, -1e-12, 0.0]])),
        (np.array([[1e200, -1e200, 1.0], [1e-200, 3e-200, 0.0]]), np.array([[1e200, 1e199, 0.0], [2e-200, 1e-200, 0.0]])),
        (np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 4.0, 6.0]])),
    ]


# -- inputs outside the domain: LossInputError -------------------------------------------------
def _prob_invalid():
    ok_t, ok_q = np.array([[1.0, 0.0, 0.0]]), np.array([[0.7, 0.2, 0.1]])
    return [
        (ok_t, np.array([[0.7, 0.2, 0.3]])),  # prediction row sums to 1.2
        (ok_t, np.array([[1.2, -0.1, -0.1]])),  # outside [0, 1]
        (np.array([[1.0, 1.0, 0.0]]), ok_q),  # target row sums to 2
        (np.array([[1.5, -0.5, 0.0]]), ok_q),  # outside [0, 1]
        (ok_t, np.array([0.7, 0.2, 0.1])),  # shapes differ
        (np.zeros((2, 0)), np.zeros((2, 0))),  # no classes
    ]


def _logit_invalid():
    x = np.array([[3.0, 0.0, -1.0]])
    return [(np.array([[1.0, 1.0, 0.0]]), x), (np.array([[0.5, 0.6, -0.1]]), x)]


def _log_target_invalid():
    x = np.array([[3.0, 0.0, -1.0]])
    return [(np.array([[0.1, -1.0, -2.0]]), x),  # a log-probability > 0
            (np.log(np.array([[0.5, 0.5, 0.5]])), x)]  # exp rows sum to 1.5


def _keras_invalid():
    return [(np.array([[0.5, 1.5]]), np.array([[0.5, 0.5]])), (np.array([[0.5, 0.5]]), np.array([[-0.1, 0.5]]))]


def _measure_invalid():
    return [(np.array([[-1.0, 2.0]]), np.array([[1.0, 1.0]])), (np.array([[1.0, 2.0]]), np.array([[1.0, -1e-300]]))]


def _log_measure_invalid():
    return [(np.array([[-1.0, 2.0]]), np.array([[1.0, 1.0]]))]


def _vector_invalid():
    return [(np.zeros((2, 3)), np.zeros((2, 4))), (np.array(1.0), np.array(2.0))]  # shapes differ; no vector axis


_NF = {"normalized": False}
FD_PROB = 1e-8  # keeps finite-difference steps inside the row-sum tolerance

CASES = [
    # Kullback-Leibler
    Case("kl_divergence", _probs, kl_ref, extremes=_prob_extremes, invalid=_prob_invalid, name="probs",
         fd_step=FD_PROB),
    Case("kl_divergence", _near_probs, kl_ref, dict(_NF), name="near-equal probs,normalized=False"),
    Case("kl_divergence", _one_hot_probs, kl_ref, dict(_NF), extremes=_unnormalised_extremes,
         name="one-hot probs,normalized=False"),
    Case("kl_divergence", _keras_like, kl_ref, {"normalized": False, "epsilon": 1e-7, "clip_target": True},
         extremes=_unnormalised_extremes, invalid=_keras_invalid, name="keras"),
    Case("kl_divergence", _logits, kl_ref, {"from_logits": True}, extremes=_logit_extremes, invalid=_logit_invalid),
    Case("kl_divergence", _log_targets_logits, kl_ref, {"from_logits": True, "log_target": True},
         extremes=_log_target_logit_extremes, invalid=_log_target_invalid),
    Case("kl_divergence", _log_targets_probs, kl_ref, {"log_target": True}, name="log_target,probs",
         fd_step=FD_PROB),
    Case("kl_divergence", _logits_3d, kl_ref, {"from_logits": True, "axis": 1}),
    # reverse KL
    Case("reverse_kl_divergence", _probs, reverse_kl_ref, extremes=_prob_extremes, invalid=_prob_invalid,
         name="probs", fd_step=FD_PROB),
    Case("reverse_kl_divergence", _near_probs, reverse_kl_ref, dict(_NF), extremes=_unnormalised_extremes,
         name="near-equal probs,normalized=False"),
    Case("reverse_kl_divergence", _logits, reverse_kl_ref, {"from_logits": True}, extremes=_logit_extremes,
         invalid=_logit_invalid),
    # generalized KL
    Case("generalized_kl_divergence", _measures, generalized_kl_ref, extremes=_measure_extremes,
         invalid=_measure_invalid, name="values"),
    Case("generalized_kl_divergence", _log_measures, generalized_kl_ref, {"log_input": True},
         extremes=_log_measure_extremes, invalid=_log_measure_invalid),
    # Jensen-Shannon
    Case("jensen_shannon_divergence", _probs, js_ref, extremes=_prob_extremes, invalid=_prob_invalid, name="probs",
         fd_step=FD_PROB),
    Case("jensen_shannon_divergence", _one_hot_probs, js_ref, dict(_NF), extremes=_unnormalised_extremes,
         name="one-hot probs,normalized=False"),
    Case("jensen_shannon_divergence", _near_probs, js_ref, dict(_NF), name="near-equal probs,normalized=False"),
    Case("jensen_shannon_divergence", _logits, js_ref, {"from_logits": True}, extremes=_logit_extremes,
         invalid=_logit_invalid),
    # cosine
    Case("cosine_similarity", _vectors, cosine_ref, extremes=_vector_extremes, invalid=_vector_invalid,
         name="negative"),
    Case("cosine_similarity", _vectors, cosine_ref, {"form": "similarity"}, extremes=_vector_extremes),
    Case("cosine_similarity", _near_vectors, cosine_ref, {"form": "distance", "epsilon": 1e-7},
         extremes=_vector_extremes),
    Case("cosine_distance", _vectors, cosine_distance_ref, extremes=_vector_extremes, invalid=_vector_invalid),
]
