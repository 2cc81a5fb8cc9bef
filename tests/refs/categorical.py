"""Naive float64 references for the categorical family (distribution losses over a class axis).

Written from the textbook formulas on purpose: softmax as exp / sum(exp), one-hot matrices
built with np.eye, plain logs. Inputs keep them finite (no zero probabilities, moderate logits).
"""

import numpy as np

from .spec import Case

N, C = 4, 3


# -- input makers ----------------------------------------------------------------------------
def _soft_probs(rng, shape=(N, C)):
    """Soft target rows and predicted probability rows (both sum to 1)."""
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]), rng.dirichlet(np.full(shape[-1], 3.0), size=shape[:-1])


def _onehot_probs(rng, shape=(N, C)):
    y = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    return y, rng.dirichlet(np.full(shape[-1], 3.0), size=shape[:-1])


def _soft_logits(rng, shape=(N, C)):
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]), rng.normal(scale=2.0, size=shape)


def _onehot_logits(rng, shape=(N, C)):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])], rng.normal(scale=2.0, size=shape)


def _unnormalised(rng, shape=(N, C)):
    """Scores for renormalize=True: positive, rows not summing to 1."""
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]), rng.uniform(0.05, 1.0, size=shape)


def _axis1_probs(rng):
    """(batch, classes, spatial) layout for axis=1."""
    y, p = _soft_probs(rng, (2, 2, C))
    return np.ascontiguousarray(np.moveaxis(y, -1, 1)), np.ascontiguousarray(np.moveaxis(p, -1, 1))


def _axis1_logits(rng):
    y, x = _onehot_logits(rng, (2, 2, C))
    return np.ascontiguousarray(np.moveaxis(y, -1, 1)), np.ascontiguousarray(np.moveaxis(x, -1, 1))


def _labels_probs(rng, shape=(N,)):
    return rng.integers(0, C, size=shape), rng.dirichlet(np.full(C, 3.0), size=shape)


def _labels_logits(rng, shape=(N,)):
    return rng.integers(0, C, size=shape), rng.normal(scale=2.0, size=shape + (C,))


def _labels_unnormalised(rng):
    return rng.integers(0, C, size=N), rng.uniform(0.05, 1.0, size=(N, C))


def _labels_float_kept_axis(rng):
    """Keras's layout: float labels of shape (N, 1)."""
    y, x = _labels_logits(rng)
    return y[:, None].astype(float), x


def _labels_axis1_logits(rng):
    y, x = _labels_logits(rng, (2, 2))
    return y, np.ascontiguousarray(np.moveaxis(x, -1, 1))


# -- naive references ------------------------------------------------------------------------
def _last(a, axis):
    return np.moveaxis(np.asarray(a, dtype=float), axis, -1)


def _softmax(x):
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def _dist(p, from_logits, renormalize):
    if from_logits:
        return _softmax(p)
    return p / p.sum(axis=-1, keepdims=True) if renormalize else p


def _smooth(t, ls):
    return t * (1 - ls) + ls / t.shape[-1]


def _onehot(y, axis, n):
    return np.eye(n)[np.asarray(y, dtype=int).reshape(np.shape(y))]


def cce_ref(y, p, axis=-1, from_logits=False, label_smoothing=0.0, renormalize=False, epsilon=None):
    t, p = _smooth(_last(y, axis), label_smoothing), _dist(_last(p, axis), from_logits, renormalize)
    return -(t * np.log(p)).sum(axis=-1)


def _sparse_labels(y, p, axis):
    y = np.asarray(y)
    if y.ndim == np.ndim(p):  # Keras's kept class axis
        y = np.squeeze(y, axis=axis)
    return y


def scce_ref(y, p, axis=-1, **kw):
    y = _sparse_labels(y, p, axis)
    n = np.shape(p)[axis]
    return cce_ref(_onehot(y, axis, n), np.moveaxis(np.asarray(p, float), axis, -1), **kw)


def focal_ref(y, p, axis=-1, gamma=2.0, alpha=0.25, from_logits=False, label_smoothing=0.0, renormalize=False,
              epsilon=None):
    t, q = _smooth(_last(y, axis), label_smoothing), _dist(_last(p, axis), from_logits, renormalize)
    a = 1.0 if alpha is None else np.asarray(alpha, dtype=float)
    return (a * t * (1 - q) ** gamma * -np.log(q)).sum(axis=-1)


def sparse_focal_ref(y, p, axis=-1, **kw):
    y = _sparse_labels(y, p, axis)
    return focal_ref(_onehot(y, axis, np.shape(p)[axis]), np.moveaxis(np.asarray(p, float), axis, -1), **kw)


def poly1_ref(y, x, axis=-1, epsilon=2.0, label_smoothing=0.0):
    t, p = _smooth(_last(y, axis), label_smoothing), _softmax(_last(x, axis))
    return -(t * np.log(p)).sum(axis=-1) + epsilon * (t * (1 - p)).sum(axis=-1)


def gce_ref(y, p, axis=-1, q=0.5, from_logits=False, renormalize=False, epsilon=None):
    y = _sparse_labels(y, p, axis)
    prob = _dist(_last(p, axis), from_logits, renormalize)
    p_y = np.take_along_axis(prob, np.asarray(y, dtype=int)[..., None], axis=-1)[..., 0]
    return (1 - p_y**q) / q


# -- extremes: exact 0/1 probabilities, one-hot targets, logits of +-1e4 --------------------------
def _prob_extremes():
    return [
        (np.array([[1.0, 0.0, 0.0]]), np.array([[0.9, 0.1, 0.0]])),  # the course's NaN case
        (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])),
        (np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])),
        (np.array([[1.0, 0.0]]), np.array([[1e-300, 1.0 - 1e-16]])),
    ]


def _prob_extremes_3():
    return [(y, p) for y, p in _prob_extremes() if y.shape[-1] == 3]


def _logit_extremes():
    return [
        (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]),
         np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [40.0, 0.0, 0.0], [-1e4, 1e4, 1e4]])),
        (np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 0.0]])),
    ]


def _label_prob_extremes():
    return [
        (np.array([0, 1, 2]), np.array([[0.9, 0.1, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])),
        (np.array([[0], [1]]), np.array([[1e-300, 1.0 - 1e-16, 0.0], [0.0, 1.0, 0.0]])),
    ]


def _label_logit_extremes():
    return [
        (np.array([0, 0, 1, 2]), np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [40.0, 0.0, 0.0], [-1e4, 1e4, 1e4]])),
    ]


# -- inputs outside the domain: LossInputError ---------------------------------------------------
def _dense_invalid():
    ok_y, ok_p = np.array([[1.0, 0.0, 0.0]]), np.array([[0.7, 0.2, 0.1]])
    return [
        (ok_y, np.array([[0.7, 0.2, 0.3]])),  # row sums to 1.2
        (ok_y, np.array([[1.2, -0.1, -0.1]])),  # outside [0, 1]
        (np.array([[1.0, 1.0, 0.0]]), ok_p),  # target row sums to 2
        (np.array([[1.5, -0.5, 0.0]]), ok_p),  # negative target
        (np.array([0]), ok_p),  # integer labels belong to the sparse loss
    ]


def _dense_logit_invalid():
    return [(np.array([[1.0, 1.0, 0.0]]), np.array([[3.0, 0.0, -1.0]])),
            (np.array([[0.5, 0.6, -0.1]]), np.array([[3.0, 0.0, -1.0]]))]


def _sparse_invalid():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    return [
        (np.array([0, 3]), p),  # out of range
        (np.array([-1, 0]), p),
        (np.array([0.5, 1.0]), p),  # not whole numbers
        (np.array([True, False]), p),
        (np.eye(3)[[0, 2]], p),  # one-hot rows belong to the dense loss
        (np.array([0, 1]), np.array([[0.7, 0.2, 0.3], [0.1, 0.1, 0.8]])),  # row sums to 1.2
    ]


def _sparse_logit_invalid():
    return [(np.array([0, 3]), np.zeros((2, 3))), (np.array([[0, 1]]), np.zeros((2, 3)))]


# -- cases --------------------------------------------------------------------------------------
CCE, SCCE = "categorical_cross_entropy", "sparse_categorical_cross_entropy"
CFCE, SCFCE = "categorical_focal_cross_entropy", "sparse_categorical_focal_cross_entropy"
FD_PROB = 1e-8  # keeps finite-difference steps inside the row-sum tolerance (sum to 1 within ~2e-7)

CASES = [
    # categorical cross-entropy
    Case(CCE, _soft_probs, cce_ref, extremes=_prob_extremes, invalid=_dense_invalid, name="probs", fd_step=FD_PROB),
    Case(CCE, _onehot_probs, cce_ref, {"label_smoothing": 0.2}, extremes=_prob_extremes, fd_step=FD_PROB),
    Case(CCE, _unnormalised, cce_ref, {"renormalize": True}, extremes=_prob_extremes),
    Case(CCE, _soft_logits, cce_ref, {"from_logits": True}, extremes=_logit_extremes, invalid=_dense_logit_invalid),
    Case(CCE, _onehot_logits, cce_ref, {"from_logits": True, "label_smoothing": 0.1}, extremes=_logit_extremes),
    Case(CCE, _axis1_probs, cce_ref, {"axis": 1}, name="axis=1,probs", fd_step=FD_PROB),
    Case(CCE, _axis1_logits, cce_ref, {"axis": 1, "from_logits": True, "label_smoothing": 0.1}),
    # sparse categorical cross-entropy
    Case(SCCE, _labels_probs, scce_ref, extremes=_label_prob_extremes, invalid=_sparse_invalid, name="probs",
         fd_step=FD_PROB),
    Case(SCCE, _labels_logits, scce_ref, {"from_logits": True}, extremes=_label_logit_extremes,
         invalid=_sparse_logit_invalid),
    Case(SCCE, _labels_logits, scce_ref, {"from_logits": True, "label_smoothing": 0.2},
         extremes=_label_logit_extremes),
    Case(SCCE, _labels_unnormalised, scce_ref, {"renormalize": True, "label_smoothing": 0.1},
         extremes=_label_prob_extremes),
    Case(SCCE, _labels_float_kept_axis, scce_ref, {"from_logits": True}, name="logits,float (N,1) labels"),
    Case(SCCE, _labels_axis1_logits, scce_ref, {"axis": 1, "from_logits": True}),
    # focal
    Case(CFCE, _soft_probs, focal_ref, extremes=_prob_extremes, invalid=_dense_invalid, name="probs",
         fd_step=FD_PROB),
    Case(CFCE, _unnormalised, focal_ref, {"renormalize": True, "gamma": 0.5, "alpha": [0.2, 0.5, 1.0]},
         extremes=_prob_extremes_3, name="renormalize,gamma=0.5,alpha per class"),
    Case(CFCE, _soft_logits, focal_ref, {"from_logits": True}, extremes=_logit_extremes),
    Case(CFCE, _onehot_logits, focal_ref, {"from_logits": True, "gamma": 0.5, "alpha": None, "label_smoothing": 0.1},
         extremes=_logit_extremes),
    Case(CFCE, _soft_logits, focal_ref, {"from_logits": True, "gamma": 3.0, "alpha": [1.0, 2.0, 0.5]},
         extremes=_logit_extremes, name="logits,gamma=3,alpha per class"),
    Case(CFCE, _axis1_logits, focal_ref, {"axis": 1, "from_logits": True, "gamma": 1.0}),
    Case(SCFCE, _labels_probs, sparse_focal_ref, extremes=_label_prob_extremes, invalid=_sparse_invalid,
         name="probs", fd_step=FD_PROB),
    Case(SCFCE, _labels_logits, sparse_focal_ref, {"from_logits": True, "gamma": 1.5, "label_smoothing": 0.2},
         extremes=_label_logit_extremes),
    Case(SCFCE, _labels_logits, sparse_focal_ref, {"from_logits": True, "alpha": [0.2, 0.5, 1.0]},
         extremes=_label_logit_extremes, name="logits,alpha per class"),
    # Poly-1
    Case("poly1_cross_entropy", _soft_logits, poly1_ref, extremes=_logit_extremes, invalid=_dense_logit_invalid),
    Case("poly1_cross_entropy", _onehot_logits, poly1_ref, {"epsilon": -0.5, "label_smoothing": 0.1},
         extremes=_logit_extremes),
    # generalised cross-entropy
    Case("generalized_cross_entropy", _labels_probs, gce_ref, extremes=_label_prob_extremes,
         invalid=_sparse_invalid, name="probs", fd_step=FD_PROB),
    Case("generalized_cross_entropy", _labels_logits, gce_ref, {"from_logits": True, "q": 0.8},
         extremes=_label_logit_extremes),
    Case("generalized_cross_entropy", _labels_unnormalised, gce_ref, {"renormalize": True, "q": 0.3},
         extremes=_label_prob_extremes),
]
