"""Fused kernels for the global overlap losses: ``dice`` with ``axis=None`` (one score from sums
over every element), probabilities in ``y_pred`` (``activation=None``) and masks or soft labels
of the same shape and dtype in ``y_true``, with or without ``squared_pred``, any smoothing; or
logits with ``activation="softmax"`` over the last axis (hard terms, no ``squared_pred``).

The reference (losses/segmentation, ``ratio_stats`` / ``_ratio_derivs`` with ``a, b, c =
2, 1, 1``), per element ``y, q``, every operation in the data's dtype:

- ``stats``: ``(sum 2 (y q), sum err)`` with ``err = q (1 - y) + y (1 - q)`` (hard), or
  ``diff * diff`` with ``diff = (1 - y) - (1 - q)`` for ``y > 0.5`` else ``q - y``
  (``squared_pred``), each sum in float64 (shape ``(1,) * ndim``, the kept axes).
- ``grad`` from the totals: ``N = s_num + nr``, ``D = (s_num + s_err) + dr``,
  ``inv = 1 / D`` (0 where ``|D|`` is below the derivatives' floor), ``R = N inv``; per element
  ``num1 = 2 y``, ``den1 = num1 + ((1 - y) - y)`` (squared: ``num1 + ((2 q - y) - y)``) and
  ``g = ct (R (den1 inv) - num1 inv)``.

The kernels repeat these operations one for one in the same dtypes (the element terms of the
statistics in the data's dtype, rounded exactly as NumPy rounds them, then summed in float64),
so the statistics differ from the reference's only by the order of the float64 additions and
the gradient is the reference's bit for bit.

Domain of ``stats``: every ``y`` and ``q`` in [0, 1] (NaN fails the comparisons), which is
exactly what the reference's validation accepts for these options (finite, ``y_true`` and
``y_pred`` in [0, 1]); a box with any other element returns None. ``stats_grad`` has no domain:
for these options the reference's gradient is this formula for every input (nothing is clamped
or guarded per element; the totals' guard is computed here the reference's way), so it
reproduces the reference on any box, e.g. after ``validate=False`` sent a box's statistics to
the reference kernels.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..losses.segmentation import flat_below, smoothing
from .driver import BLOCK, block_sum, inline, jit
from .plan import Plan, flag, flat

# ---------------------------------------------------------------------------------------
# kernels (``one``, ``two``: 1 and 2 in the data's dtype, so float32 data is computed in float32)
# ---------------------------------------------------------------------------------------


@jit
def _dice_stats(t, p, one, squared):
    """``(sum y q, sum err)`` over the box in float64; NaN when an element is outside [0, 1]."""
    n = p.size
    zero = one - one  # 0 and 1/2 in the data's dtype too: the comparisons stay in float32
    half = one / (one + one)
    nan = zero / zero  # NaN in the data's dtype: float32 data stay float32 (eight lanes, not four)
    b_tp = np.empty(BLOCK, dtype=p.dtype)  # the terms in the data's dtype, as the reference rounds them
    b_err = np.empty(BLOCK, dtype=p.dtype)
    s_tp = 0.0
    s_err = 0.0
    for start in range(0, n, BLOCK):
        m = min(BLOCK, n - start)
        tb = t[start:start + m]  # block views: indices from range(m) are known to be >= 0, so the
        pb = p[start:start + m]  # loads are contiguous vector loads (t[start + j] is not: gathers)
        if squared:
            for j in range(m):
                y = tb[j]
                q = pb[j]
                ok = (y >= zero) & (y <= one) & (q >= zero) & (q <= one)
                qc = one - q
                d = ((one - y) - qc) if y > half else (q - y)
                b_tp[j] = y * q + (zero if ok else nan)
                b_err[j] = d * d
        else:
            for j in range(m):
                y = tb[j]
                q = pb[j]
                ok = (y >= zero) & (y <= one) & (q >= zero) & (q <= one)
                b_tp[j] = y * q + (zero if ok else nan)
                b_err[j] = q * (one - y) + y * (one - q)
        s_tp += block_sum(b_tp, m)
        s_err += block_sum(b_err, m)
    return s_tp, s_err


@jit
def _dice_grad(t, g, one, two, r, inv, ct):
    """``g = ct (R (den1 inv) - num1 inv)``, hard terms (no ``y_pred`` needed)."""
    for i in range(g.size):
        y = t[i]
        num1 = two * y
        den1 = num1 + ((one - y) - y)
        g[i] = ct * (r * (den1 * inv) - num1 * inv)


@jit
def _dice_grad_squared(t, p, g, one, two, r, inv, ct):
    """As :func:`_dice_grad` with the squared terms: ``f' = 2 q - y``."""
    for i in range(g.size):
        y = t[i]
        num1 = two * y
        den1 = num1 + ((two * p[i] - y) - y)
        g[i] = ct * (r * (den1 * inv) - num1 * inv)


# ---------------------------------------------------------------------------------------
# softmax activation (classes on the last axis): rows of C logits
# ---------------------------------------------------------------------------------------


@inline
def _softmax_row(x, start, c, q, u):
    """``q = softmax(x[start:start + c])`` and ``u = 1 - q`` in float64 into ``q`` and ``u``; False
    when a logit is not finite. Below the first maximum ``q <= 1/2`` and ``1 - q`` rounds once; at
    it ``1 - q = rest / (1 + rest)`` with ``rest`` the sum of the other shifted exponentials (``1 -
    q`` would lose every digit of a confident row)."""
    m = x[start]
    top = 0
    for k in range(c):
        v = x[start + k]
        if not (abs(v) < np.inf):
            return False
        if v > m:
            m = v
            top = k
    rest = 0.0
    for k in range(c):
        e = math.exp(float(x[start + k]) - float(m))
        q[k] = e
        if k != top:
            rest += e
    inv = 1.0 / (1.0 + rest)
    for k in range(c):
        q[k] = inv if k == top else q[k] * inv
        u[k] = rest * inv if k == top else 1.0 - q[k]
    return True


@jit
def _softmax_dice_stats(t, x, c, kept):
    """``(sum y q, sum err)`` over the rows in float64, ``q`` the softmax of each row of ``c`` logits
    and ``err = q (1 - y) + y (1 - q)``; NaN when a logit is not finite or a ``y`` is outside [0, 1].
    A ``kept`` of x's size (float64; empty: none) receives ``q`` for the gradient pass."""
    q = np.empty(c)
    u = np.empty(c)
    keep = kept.size > 0
    s_tp = 0.0
    s_err = 0.0
    for start in range(0, x.size, c):
        if not _softmax_row(x, start, c, q, u):
            return np.nan, np.nan
        for k in range(c):
            y = float(t[start + k])
            if not (y >= 0.0 and y <= 1.0):
                return np.nan, np.nan
            s_tp += y * q[k]
            s_err += q[k] * (1.0 - y) + y * u[k]
            if keep:
                kept[start + k] = q[k]
    return s_tp, s_err


@jit
def _softmax_dice_grad(t, x, g, c, r, inv, ct, kept):
    """``g = q (gT - sum(q gT))`` per row, the softmax Jacobian applied to the hard terms ``gT = ct
    (R inv - 2 y inv)`` of :func:`_dice_grad`, in float64, written in ``g``'s dtype; as the
    reference's ``project``: ``q ((gT - w) + sum(q (w - gT)))`` with ``w`` the ``gT`` of the row's
    largest ``q`` (no cancellation at a confident class). ``q`` from ``kept`` when the statistics
    pass kept it (the same numbers: the exponentials once per call, not twice)."""
    q = np.empty(c)
    u = np.empty(c)
    gt = np.empty(c)
    keep = kept.size > 0
    for start in range(0, x.size, c):
        if keep:
            for k in range(c):
                q[k] = kept[start + k]
        else:
            _softmax_row(x, start, c, q, u)
        top = 0
        for k in range(c):
            gt[k] = ct * (r * inv - 2.0 * float(t[start + k]) * inv)
            if q[k] > q[top]:
                top = k
        w = gt[top]
        s = 0.0
        for k in range(c):
            s += q[k] * (w - gt[k])
        for k in range(c):
            g[start + k] = q[k] * ((gt[k] - w) + s)


# ---------------------------------------------------------------------------------------
# the planner
# ---------------------------------------------------------------------------------------

_NONE_KEPT = np.empty(0)  # no softmax kept between the passes


_DICE_DEFAULTS = {  # options that must hold exactly these values (else the reference runs)
    "axis": None,
    "class_weight": None,
    "ignore_index": None,
}
_DICE_KNOWN = {"axis", "smooth", "smooth_nr", "smooth_dr", "activation", "class_axis", "class_weight",
               "include_background", "ignore_index", "soft_label", "squared_pred"}


def _dice_planner(y_true, y_pred, opts):
    if not (isinstance(y_true, np.ndarray) and isinstance(y_pred, np.ndarray)):
        return None
    dtype = y_pred.dtype
    if dtype not in (np.float32, np.float64) or y_true.dtype != dtype or y_true.shape != y_pred.shape:
        return None
    if y_pred.ndim == 0 or not set(opts) <= _DICE_KNOWN:
        return None
    if any(opts.get(k, v) is not v for k, v in _DICE_DEFAULTS.items()):
        return None
    if flag(opts.get("include_background", True)) is not True or flag(opts.get("soft_label", False)) is not False:
        return None
    squared = flag(opts.get("squared_pred", False))
    activation = opts.get("activation")
    if squared is None or activation not in (None, "softmax"):
        return None
    softmax = activation == "softmax"
    if softmax:  # classes on the last axis (rows of C logits), hard terms
        ca = opts.get("class_axis", 1)
        if squared or y_pred.ndim < 2 or not isinstance(ca, int) or isinstance(ca, bool):
            return None
        if not -y_pred.ndim <= ca < y_pred.ndim or ca % y_pred.ndim != y_pred.ndim - 1:
            return None
        c = y_pred.shape[-1]
    try:  # the reference's own parsing (floats, >= 0); it raises its own error on bad values
        nr, dr = smoothing({k: opts.get(k) for k in ("smooth", "smooth_nr", "smooth_dr")})
    except Exception:  # noqa: BLE001 - the reference reports it
        return None
    one, two = dtype.type(1), dtype.type(2)

    def stats(yt, yp, kept=_NONE_KEPT):
        if yt.shape != yp.shape or yt.dtype != dtype or yp.dtype != dtype:
            return None
        views = flat(yt, yp)
        if views is None:
            return None
        if softmax:
            s_tp, s_err = _softmax_dice_stats(views[0], views[1], c, kept)
        else:
            s_tp, s_err = _dice_stats(views[0], views[1], one, squared)
        if not (math.isfinite(s_tp) and math.isfinite(s_err)):
            return None
        shape = (1,) * yp.ndim
        return np.full(shape, 2.0 * s_tp), np.full(shape, s_err)  # sum(2 t) = 2 sum(t), exactly

    def stats_value(totals):
        """The loss from these totals (one sample): ``ratio_from_stats``' ``E / D`` (0 where
        ``D`` is 0) in NumPy scalars of the totals' dtype, the same roundings as its arrays'."""
        pair = scalars(totals)
        if pair is None:
            return None
        s_num, s_err = pair
        D = s_num + s_err + dr  # _ratio_totals
        return (s_err + (dr - nr)) / D if D != 0 else D.dtype.type(0)

    def stats_grad(totals, cotangent):
        """The box writer for these totals and cotangent (their scalars computed once per
        call, not per box: NumPy's scalar operations hold the GIL), or None."""
        pair = scalars(totals)
        if pair is None:
            return None
        s_num, s_err = pair
        # _ratio_totals and the guard of _ratio_derivs, in the totals' dtype
        N = s_num + nr
        D = s_num + s_err + dr
        inv = 1.0 / D if abs(D) > flat_below(np, D.dtype) else D.dtype.type(0)  # (NaN: 0, as np.where)
        R = N * inv
        if cotangent is None:
            ct = one  # the reference's w1 = 1.0: G = gT, and 1 * gT is gT
        elif isinstance(cotangent, numbers.Real) and not isinstance(cotangent, np.generic):
            ct = np.result_type(dtype, R.dtype).type(cotangent)  # a Python number: NumPy's weak scalar
        else:
            ct = np.asarray(cotangent)
            if ct.size != 1 or ct.dtype.kind != "f":
                return None
            ct = ct.reshape(-1)[0]

        def write(yt, yp, g, kept=_NONE_KEPT):
            if yt.shape != yp.shape or g.shape != yp.shape or yt.dtype != dtype or yp.dtype != dtype:
                return False
            views = flat(yt, yp, g)
            if views is None:
                return False
            if softmax:
                _softmax_dice_grad(views[0], views[1], views[2], c, float(R), float(inv), float(ct), kept)
            elif squared:
                _dice_grad_squared(views[0], views[1], views[2], one, two, R, inv, ct)
            else:
                _dice_grad(views[0], views[2], one, two, R, inv, ct)
            return True

        return write

    return Plan(stats=stats, stats_grad=stats_grad, stats_value=stats_value, keeps=softmax)


def scalars(totals):
    """Two float totals of one element each as NumPy scalars of their dtype, or None."""
    if len(totals) != 2:
        return None
    s_num, s_err = (np.asarray(s) for s in totals)
    if s_num.size != 1 or s_err.size != 1 or s_num.dtype.kind != "f" or s_err.dtype.kind != "f":
        return None
    return s_num.reshape(-1)[0], s_err.reshape(-1)[0]


# kernel key (the ``fused`` trait of the records these kernels compute) -> planner
PLANNERS = {"dice": _dice_planner}
