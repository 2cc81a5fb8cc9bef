"""Naive float64 references for the margin family (hinge, squared hinge, perceptron, soft
margin, categorical hinge, multi-margin).

The references are the textbook formulas written with Python loops over samples and
classes, independently of the kernels. The generators keep every input a safe distance
from the kinks (``margin - y s = 0``, ties of a max, ``z_j = 0``) so that finite
differences are taken where the losses are smooth.
"""

import numpy as np

from .spec import Case, away_from

GAP = 0.05


# -- binary (elementwise) ------------------------------------------------------------------
def _signs(y):
    return np.where(y == 0, -1.0, y.astype(float))


def hinge_ref(y, s, margin=1.0):
    return np.maximum(0.0, margin - _signs(y) * s)


def squared_hinge_ref(y, s, margin=1.0):
    return np.maximum(0.0, margin - _signs(y) * s) ** 2


def perceptron_ref(y, s):
    return np.maximum(0.0, -_signs(y) * s)


def soft_margin_ref(y, s):
    """log(1 + exp(-y s)), written as logaddexp(0, -y s) so large margins do not overflow."""
    return np.logaddexp(0.0, -_signs(y) * s)


def _binary(labels, kinks, shape=(4, 3)):
    def make(rng):
        y = rng.choice(np.asarray(labels, dtype=float), size=shape)
        s = rng.normal(scale=2.0, size=shape)
        return y, away_from(s, kinks, GAP)

    return make


def _binary_extremes(margin=1.0, huge=True):
    """Saturated scores and scores exactly at the kink; ``huge`` adds scores near the top of
    float64 (not for squared losses, whose true value there exceeds the float range)."""
    def extremes():
        out = [
            (np.array([1.0, -1.0, 0.0, 1.0, 0.0]), np.array([1e4, -1e4, 1e4, -1e4, 0.0])),
            (np.array([1.0, -1.0, 0.0]), np.array([margin, -margin, -margin])),  # exactly at the kink
        ]
        if huge:
            out.append((np.array([1.0, 0.0, 1.0, 0.0]), np.array([1e300, -1e300, -1e300, 1e300])))
        return out

    return extremes


def _binary_invalid():
    return [
        (np.array([1.0, 0.5]), np.array([0.3, 0.2])),  # soft label
        (np.array([2.0, 1.0]), np.array([0.3, 0.2])),  # label 2
        (np.array([1.0, -1.0]), np.array([0.3, 0.2, 0.1])),  # shape mismatch
    ]


# -- multiclass --------------------------------------------------------------------------
def _rows(y, s, axis, ids):
    """Iterate (true class, scores row, label row or None) over the samples."""
    s = np.moveaxis(np.asarray(s, dtype=float), axis, -1)
    out_shape = s.shape[:-1]
    if ids:
        yy = np.asarray(y)
        for idx in np.ndindex(out_shape):
            yield idx, int(yy[idx]), s[idx], None
    else:
        yy = np.moveaxis(np.asarray(y, dtype=float), axis, -1)
        for idx in np.ndindex(out_shape):
            row = yy[idx]
            t = int(np.argmax(row)) if row.max() > 0 else -1
            yield idx, t, s[idx], row


def categorical_hinge_ref(y, s, axis=-1, margin=1.0, convention="crammer_singer"):
    ids = np.asarray(y).ndim == np.asarray(s).ndim - 1
    out = np.zeros(np.delete(np.asarray(s).shape, axis % np.asarray(s).ndim))
    for idx, t, row, lab in _rows(y, s, axis, ids):
        c = len(row)
        if convention == "keras":
            if lab is None:
                lab = np.zeros(c)
                lab[t] = 1.0
            pos = sum(lab[j] * row[j] for j in range(c))
            neg = max((1.0 - lab[j]) * row[j] for j in range(c))
            out[idx] = max(0.0, margin + neg - pos)
        else:
            rivals = [row[j] for j in range(c) if j != t]
            out[idx] = max(0.0, margin + max(rivals) - row[t]) if rivals else 0.0
    return out


def multi_margin_ref(y, s, axis=-1, p=1, margin=1.0, weight=None):
    ids = np.asarray(y).ndim == np.asarray(s).ndim - 1
    out = np.zeros(np.delete(np.asarray(s).shape, axis % np.asarray(s).ndim))
    for idx, t, row, _ in _rows(y, s, axis, ids):
        c = len(row)
        total = 0.0
        for j in range(c):
            if j != t:
                total += max(0.0, margin - row[t] + row[j]) ** p
        w = 1.0 if weight is None else weight[t]
        out[idx] = w * total / c
    return out


def _row_ok(row, t, margin, kind):
    rivals = np.delete(row, t)
    if kind == "cs":
        top = np.sort(rivals)[::-1]
        if len(top) > 1 and top[0] - top[1] < 2 * GAP:  # tie of the max
            return False
        return abs(margin + top[0] - row[t]) > 2 * GAP
    if kind == "keras":
        neg = max(0.0, rivals.max())
        top = np.sort(np.append(rivals, 0.0))[::-1]
        if top[0] - top[1] < 2 * GAP:  # tie of the max of (1 - y) s, the true class counting as 0
            return False
        return abs(margin + neg - row[t]) > 2 * GAP
    return bool(np.all(np.abs(margin - row[t] + rivals) > 2 * GAP))  # weston-watkins


def _multiclass(kind, *, shape=(4, 3), axis=-1, onehot=False, margin=1.0, scale=1.5):
    """Scores with the class axis ``axis``, every sample away from its kinks; labels as ids
    (int64) or one-hot rows."""

    def make(rng):
        ax = axis % len(shape)
        c = shape[ax]
        rest = shape[:ax] + shape[ax + 1:]
        t = rng.integers(0, c, size=rest)
        rows = np.zeros(rest + (c,))
        for idx in np.ndindex(rest):
            for _ in range(1000):
                row = rng.normal(scale=scale, size=c)
                if _row_ok(row, t[idx], margin, kind):
                    break
            else:
                raise AssertionError("could not draw a row away from the kinks")
            rows[idx] = row
        s = np.ascontiguousarray(np.moveaxis(rows, -1, ax))
        if onehot:
            y = np.ascontiguousarray(np.moveaxis(np.eye(c)[t], -1, ax))
            return y, s
        return t.astype(np.int64), s

    return make


def _keras_rows(rng):
    """Keras label rows: one-hot rows, an all-zero row, and a row whose rivals are all
    negative (the true class's 0 wins neg = max((1 - y) s))."""
    y, s = _multiclass("keras", onehot=True)(rng)
    y[0], s[0] = np.array([0.0, 1.0, 0.0]), np.array([-0.6, 0.3, -1.2])
    y[1] = 0.0
    # the all-zero row: neg = max(s), pos = 0; keep it away from its kink and from ties
    s[1] = np.array([0.7, -0.4, 0.1])
    return y, s


def _keras_ids(rng):
    y, s = _multiclass("keras")(rng)
    y[0], s[0] = 1, np.array([-0.6, 0.3, -1.2])  # every rival negative
    return y, s


def _multiclass_extremes(huge=True):
    out = [
        (np.array([0, 2]), np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])),
        (np.array([1, 1]), np.array([[0.0, 1.0, 0.0], [2.0, 2.0, 2.0]])),  # kink, ties
        (np.array([0, 0, 0]), np.zeros((3, 1))),  # a single class
        (np.eye(3)[[0, 2]], np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])),
    ]
    if huge:
        out.append((np.array([0, 1]), np.array([[1e300, -1e300], [-1e300, 1e300]])))
    return out


def _keras_extremes():
    return [
        (np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])),
        (np.array([[0.0, 1.0], [0.0, 0.0]]), np.zeros((2, 2))),
        (np.array([0, 1]), np.array([[-1e4, -1e4], [0.0, 0.0]])),
    ]


def _cs_invalid():
    return [
        (np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), np.ones((2, 3))),  # all-zero row (Keras only)
        (np.array([[0.2, 0.8, 0.0], [0.0, 1.0, 0.0]]), np.ones((2, 3))),  # soft labels
        (np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]), np.ones((2, 3))),  # two ones
        (np.array([0, 3]), np.ones((2, 3))),  # class id out of range
        (np.array([-1, 0]), np.ones((2, 3))),  # negative class id
        (np.array([0.5, 1.0]), np.ones((2, 3))),  # non-integer class id
        (np.array([0, 1, 2]), np.ones((2, 3))),  # neither shape
        (np.array(0), np.array(1.0)),  # no class axis
        (np.zeros((2,), dtype=np.int64), np.ones((2, 0))),  # no classes
    ]


def _keras_invalid():
    return [
        (np.array([[0.0, 2.0], [0.0, 0.0]]), np.ones((2, 2))),
        (np.array([[0.0, 1.0]]), np.ones((2, 2))),
    ]


_W = [0.5, 2.0, 1.5]

CASES = [
    # hinge
    Case("hinge", _binary([-1.0, 1.0], [1.0, -1.0]), hinge_ref, name="pm1",
         extremes=_binary_extremes(), invalid=_binary_invalid),
    Case("hinge", _binary([0.0, 1.0], [1.0, -1.0]), hinge_ref, name="01", extremes=_binary_extremes()),
    Case("hinge", _binary([-1.0, 0.0, 1.0], [0.5, -0.5]), hinge_ref, {"margin": 0.5}, name="mixed,margin=0.5"),
    # squared hinge
    Case("squared_hinge", _binary([-1.0, 1.0], [1.0, -1.0]), squared_hinge_ref, name="pm1",
         extremes=_binary_extremes(huge=False), invalid=_binary_invalid),
    Case("squared_hinge", _binary([0.0, 1.0], [2.0, -2.0]), squared_hinge_ref, {"margin": 2.0},
         name="01,margin=2", extremes=_binary_extremes(2.0, huge=False)),
    # perceptron
    Case("perceptron", _binary([-1.0, 1.0], [0.0]), perceptron_ref, name="pm1",
         extremes=_binary_extremes(0.0), invalid=_binary_invalid),
    Case("perceptron", _binary([0.0, 1.0], [0.0]), perceptron_ref, name="01"),
    # soft margin (logistic loss on {-1, 1} labels): smooth, no kinks to avoid
    Case("soft_margin", _binary([-1.0, 1.0], []), soft_margin_ref, name="pm1",
         extremes=_binary_extremes(), invalid=_binary_invalid),
    Case("soft_margin", _binary([0.0, 1.0], []), soft_margin_ref, name="01"),
    # categorical hinge, Crammer-Singer
    Case("categorical_hinge", _multiclass("cs"), categorical_hinge_ref, name="ids",
         extremes=_multiclass_extremes, invalid=_cs_invalid),
    Case("categorical_hinge", _multiclass("cs", onehot=True), categorical_hinge_ref, name="onehot"),
    Case("categorical_hinge", _multiclass("cs", shape=(2, 4, 3), axis=1, margin=0.5), categorical_hinge_ref,
         {"axis": 1, "margin": 0.5}, name="ids,axis=1,margin=0.5"),
    Case("categorical_hinge", _multiclass("cs", shape=(4, 2), scale=0.8), categorical_hinge_ref, name="ids,2class"),
    # categorical hinge, Keras's convention
    Case("categorical_hinge", _keras_rows, categorical_hinge_ref, {"convention": "keras"}, name="keras,onehot+zero",
         extremes=_keras_extremes, invalid=_keras_invalid),
    Case("categorical_hinge", _keras_ids, categorical_hinge_ref, {"convention": "keras"},
         name="keras,ids"),
    # multi-margin (Weston-Watkins)
    Case("multi_margin", _multiclass("ww"), multi_margin_ref, name="ids,p=1",
         extremes=_multiclass_extremes, invalid=_cs_invalid),
    Case("multi_margin", _multiclass("ww"), multi_margin_ref, {"p": 2}, name="ids,p=2",
         extremes=lambda: _multiclass_extremes(huge=False)),
    Case("multi_margin", _multiclass("ww", onehot=True, margin=0.7), multi_margin_ref,
         {"p": 2, "margin": 0.7, "weight": _W}, name="onehot,p=2,margin=0.7,weight"),
    Case("multi_margin", _multiclass("ww", shape=(3, 2, 3), axis=0), multi_margin_ref,
         {"axis": 0, "weight": _W}, name="ids,axis=0,weight"),
]
