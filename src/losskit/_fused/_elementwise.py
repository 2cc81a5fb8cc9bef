"""Fused kernels of the elementwise course losses: MSE, binary cross-entropy (probabilities and
logits) and hinge, each an element function run by the shared drivers.

Each element function returns ``(value, gradient)`` of one element, with NaN as the value
outside its domain. Float32 data keeps the reference's float32 arithmetic where that is exact
or cheap (MSE, hinge: the same bits) and otherwise computes in float64 with the vectorisable
``_fastmath`` functions (BCE: within an ulp of the exact value, where the float32 reference is
within a few).
"""

from __future__ import annotations

import functools

import numpy as np

from ..losses._common import complement_floor, prob_epsilon
from . import Plan, flat
from ._driver import NAN, elementwise_kernels, finite_or_none, inline
from ._fastmath import exp_for, log1p_for, log_for


def _plan(element, params):
    """A Plan running ``element`` over boxes of same-shaped, same-dtype y_true and y_pred."""
    value_kernel, value_grad_kernel = _kernels(element)

    def value(yt, yp):
        f = flat(yt, yp)
        return None if f is None else finite_or_none(value_kernel(*f, params))

    def value_grad(yt, yp, g, scale):
        f = flat(yt, yp, g)
        return None if f is None else finite_or_none(value_grad_kernel(*f, float(scale), params))

    return Plan(value=value, value_grad=value_grad)


_kernels = functools.lru_cache(maxsize=None)(elementwise_kernels)


def _same_float_pair(y_true, y_pred):
    return y_true is not None and y_true.dtype == y_pred.dtype and y_true.shape == y_pred.shape


# -- mean squared error: the reference's float32 bits ------------------------------------
@inline
def _mse(t, p, params):
    d = p - t
    return d * d, 2.0 * d  # a non-finite input makes d * d NaN or inf: not handled


def _mse_planner(y_true, y_pred, opts):
    return _plan(_mse, (0.0,)) if _same_float_pair(y_true, y_pred) else None


# -- hinge: labels -1/0/1 (0 read as -1), the reference's float32 bits --------------------
@inline
def _hinge(t, p, params):
    margin, one = params  # scalars of the data's dtype: z has the reference's bits
    y = -one if t == 0 else t
    z = margin - y * p
    ok = ((t == 1) | (t == 0) | (t == -1)) & (z - z == 0)
    return (z if z > 0 else 0.0) + (0.0 if ok else NAN), (-y if z > 0 else 0.0)


def _hinge_planner(y_true, y_pred, opts):
    margin = opts.get("margin")
    if not _same_float_pair(y_true, y_pred) or isinstance(margin, bool) or not isinstance(margin, (int, float)):
        return None
    if not abs(margin) <= 1e30:  # the reference's "checked" bound: z stays finite
        return None
    return _plan(_hinge, (y_pred.dtype.type(margin), y_pred.dtype.type(1)))


# -- binary cross-entropy on probabilities, default floors -------------------------------
@inline
def _bce(t, p, params):
    p_floor, q_floor = params
    a = np.float64(t)
    b = 1.0 - a
    x = np.float64(p)
    ok = (a >= 0) & (a <= 1) & (x >= 0) & (x <= 1)
    xc = max(x, p_floor)
    u0 = 1.0 - x
    u = max(u0, q_floor)
    log_q = log_for(u, p) - ((u0 - 1.0) + x) / u  # log1p(-p): the correction is 0 where 1 - p is exact
    value = -(a * log_for(xc, p) + b * log_q)
    grad = b * ((u0 > q_floor) / u) - a * ((x > p_floor) / xc)
    return value + (0.0 if ok else NAN), grad


# -- binary cross-entropy on logits ------------------------------------------------------
@inline
def _bce_logits(t, p, params):
    a = np.float64(t)
    b = 1.0 - a
    x = np.float64(p)
    ok = (a >= 0) & (a <= 1) & (x - x == 0)
    pos = x >= 0
    e = exp_for(-x if pos else x, p)  # exp(-|x|)
    l1 = log1p_for(e, p)
    relu = x if pos else 0.0
    inv = 1.0 / (1.0 + e)
    small = e * inv
    value = a * ((relu - x) + l1) + b * (relu + l1)  # a softplus(-x) + b softplus(x)
    grad = b * (inv if pos else small) - a * (small if pos else inv)
    return value + (0.0 if ok else NAN), grad


def _bce_planner(y_true, y_pred, opts):
    if not _same_float_pair(y_true, y_pred):
        return None
    if opts.get("label_smoothing") != 0 or opts.get("pos_weight") is not None or opts.get("epsilon") is not None:
        return None
    from_logits = opts.get("from_logits")
    if from_logits is True:
        return _plan(_bce_logits, (0.0, 0.0))
    if from_logits is not False:
        return None
    eps = prob_epsilon(np, y_pred.dtype, None)
    floors = (eps, complement_floor(np, y_pred.dtype, eps))
    # the floors as the reference's clip sees them: rounded to the data's dtype
    return _plan(_bce, tuple(float(y_pred.dtype.type(f)) for f in floors))


PLANNERS = {
    "mean_squared_error": _mse_planner,
    "binary_cross_entropy": _bce_planner,
    "hinge": _hinge_planner,
}
