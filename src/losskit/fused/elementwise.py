"""Fused kernels of the elementwise course losses: MSE, binary cross-entropy (probabilities and
logits), hinge and the binary focal loss, each an element function run by the shared
drivers.

Each element function returns ``(value, gradient)`` of one element, with NaN as the value
outside its domain. Each keeps the reference's formula in the data's dtype: MSE and hinge give the same
bits; BCE differs only by ``_fastmath``'s float32 log, exp and log1p (within 4 ulp, as NumPy's
float32 functions are), which vectorise over eight lanes where libm calls do not vectorise.
"""

from __future__ import annotations

import functools

import numpy as np

from ..losses._common import complement_floor, prob_epsilon
from ..losses.margin import CHECKED_MARGIN
from .driver import NAN32, elementwise_kernels, finite_or_none, inline
from .fastmath import exp_data, log1p_data, log_data, log_or_log1m_data
from .plan import Plan, flat


def _plan(element, params, hard=None):
    """A Plan running ``element`` (``hard`` on blocks of 0/1 labels) over boxes of same-shaped,
    same-dtype y_true and y_pred."""
    value_kernel, value_grad_kernel = _kernels(element, hard)

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
    zero = one - one
    y = -one if t == zero else t
    z = margin - y * p
    ok = ((t == one) | (t == zero) | (t == -one)) & (z - z == zero)
    return (z if z > zero else zero) + (zero if ok else NAN32), (-y if z > zero else zero)


def _hinge_planner(y_true, y_pred, opts):
    margin = opts.get("margin")
    if not _same_float_pair(y_true, y_pred) or isinstance(margin, bool) or not isinstance(margin, (int, float)):
        return None
    if not abs(margin) <= CHECKED_MARGIN:  # the reference's bound: z = margin - y s stays finite
        return None
    return _plan(_hinge, (y_pred.dtype.type(margin), y_pred.dtype.type(1)))


# -- binary cross-entropy on probabilities, default floors: the reference's formula in the
# data's dtype, with a float32 log that vectorises over eight lanes ----------------------
@inline
def _bce(t, p, params):
    p_floor, q_floor, one, zero = params  # scalars of the data's dtype
    ok = (t >= zero) & (t <= one) & (p >= zero) & (p <= one)
    b = one - t
    pc = p if p > p_floor else p_floor
    u0 = one - p
    u = u0 if u0 > q_floor else q_floor
    log_q = log_or_log1m_data(False, u, p, u0)  # log1p(-p), not log of the rounded 1 - p
    value = -(t * log_data(pc) + b * log_q)
    grad = b * (one / u if u0 > q_floor else zero) - t * (one / pc if p > p_floor else zero)
    return value + (zero if ok else NAN32), grad


@inline
def _bce_hard(t, p, params):
    """_bce for a label of 0 or 1, with its bits: one logarithm, of the probability given to
    the true class (the other term is 0 times a finite log, a signed zero that adds nothing),
    and one division for the gradient. NaN for any other label (the driver then runs _bce)."""
    p_floor, q_floor, one, zero = params
    ok = (p >= zero) & (p <= one) & ((t == zero) | (t == one))
    pos = t == one
    pc = p if p > p_floor else p_floor
    u0 = one - p
    u = u0 if u0 > q_floor else q_floor
    x = pc if pos else u
    value = -log_or_log1m_data(pos, x, p, u0)  # _bce's log_p or log_q, one logarithm
    inv = one / x
    r = inv if ((p > p_floor) if pos else (u0 > q_floor)) else zero
    grad = (zero - r) if pos else (r - zero)
    return value + (zero if ok else NAN32), grad


# -- binary cross-entropy on logits: the reference's formula (softplus and sigmoid from one
# e = exp(-|x|)) in the data's dtype ------------------------------------------------------
@inline
def _logistic(t, x, one, zero):
    """``(ok, 1 - t, sigmoid(x), sigmoid(-x), t softplus(-x) + (1 - t) softplus(x))`` from one
    ``e = exp(-|x|)``, as the reference's logistic_parts; ``ok``: t in [0, 1] and x finite."""
    ok = (t >= zero) & (t <= one) & (x - x == zero)
    b = one - t
    pos = x >= zero
    e = exp_data(-x if pos else x)
    l1 = log1p_data(e)
    relu = x if pos else zero
    inv = one / (one + e)
    small = e * inv
    bce = t * ((relu - x) + l1) + b * (relu + l1)
    return ok, b, (inv if pos else small), (small if pos else inv), bce


@inline
def _bce_logits(t, x, params):
    one, zero = params  # scalars of the data's dtype
    ok, b, p, pbar, value = _logistic(t, x, one, zero)
    return value + (zero if ok else NAN32), b * p - t * pbar


def _bce_planner(y_true, y_pred, opts):
    if not _same_float_pair(y_true, y_pred):
        return None
    if opts.get("label_smoothing") != 0 or opts.get("pos_weight") is not None or opts.get("epsilon") is not None:
        return None
    from_logits = opts.get("from_logits")
    if from_logits is True:
        return _plan(_bce_logits, (y_pred.dtype.type(1), y_pred.dtype.type(0)))
    if from_logits is not False:
        return None
    eps = prob_epsilon(np, y_pred.dtype, None)
    floors = (eps, complement_floor(np, y_pred.dtype, eps))
    # the floors as the reference's clip sees them: rounded to the data's dtype
    return _plan(_bce, tuple(y_pred.dtype.type(f) for f in (*floors, 1, 0)), hard=_bce_hard)


# -- binary focal loss on logits, gamma >= 2: the reference's lean form (classification.
# _focal_numpy_value / _grad) from _bce_logits' softplus and sigmoid --------------------------
@inline
def _focal_logits(t, x, params):
    gamma, gm1, inv_gamma, a_pos, a_neg, ga_pos, ga_neg, square, weighted, one, zero = params
    ok, b, p, pbar, bce = _logistic(t, x, one, zero)
    q = t * pbar + b * p
    sq = square == one
    s = p * pbar
    inner = (s - (t * s) * (one + one)) * bce + (q * (b * p - t * pbar)) * inv_gamma  # c s B + q (p - y) / gamma
    value = bce * (q * q if sq else q**gamma)
    grad = inner * (q if sq else q**gm1)
    if weighted == one:
        value = value * (b * a_neg + t * a_pos)
        grad = grad * (b * ga_neg + t * ga_pos)
    else:
        grad = grad * gamma
    return value + (zero if ok else NAN32), grad


# -- binary focal loss on probabilities, default floors: the reference's form (classification.
# _focal_prob_parts with _bce's floored logarithms), the focal base floored at p's floor ----------
@inline
def _focal_probs(t, p, params):
    p_floor, q_floor, gamma, a_pos, a_neg, square, weighted, one, zero = params
    bce, bce_grad = _bce(t, p, (p_floor, q_floor, one, zero))  # (NaN outside the domain)
    b = one - t
    q = t * (one - p) + b * p
    up = q > p_floor
    qc = q if up else p_floor
    f = qc * qc if square == one else qc**gamma
    f1 = (gamma * (one - (t + t))) * (f / qc if up else zero)  # d f / d p
    value = f * bce
    grad = f1 * bce + f * bce_grad
    if weighted == one:
        a = t * a_pos + b * a_neg
        value, grad = a * value, a * grad
    return value, grad


def _focal_planner(y_true, y_pred, opts):
    from_logits, gamma, alpha = opts.get("from_logits"), opts.get("gamma"), opts.get("alpha")
    if not _same_float_pair(y_true, y_pred) or opts.get("label_smoothing") != 0 or not _number(gamma):
        return None
    if alpha is not None and not (_number(alpha) and 0.0 <= alpha <= 1.0):
        return None
    gamma, a = float(gamma), 1.0 if alpha is None else float(alpha)
    flags = (float(gamma == 2.0), float(alpha is not None), 1.0, 0.0)
    if from_logits is True and gamma >= 2.0:  # (below 2 the reference keeps its underflow branch)
        on_logits = (gamma, gamma - 1.0, 1.0 / gamma, a, 1.0 - a, gamma * a, gamma * (1.0 - a), *flags)
        return _plan(_focal_logits, tuple(y_pred.dtype.type(v) for v in on_logits))
    if from_logits is not False or opts.get("epsilon") is not None or not gamma >= 0.0:
        return None
    eps = prob_epsilon(np, y_pred.dtype, None)
    on_probs = (eps, complement_floor(np, y_pred.dtype, eps), gamma, a, 1.0 - a, *flags)
    return _plan(_focal_probs, tuple(y_pred.dtype.type(v) for v in on_probs))


def _number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


# kernel key (the ``fused`` trait of the records these kernels compute) -> planner
PLANNERS = {
    "mean_squared_error": _mse_planner,
    "binary_cross_entropy": _bce_planner,
    "hinge": _hinge_planner,
    "binary_focal_cross_entropy": _focal_planner,
}
