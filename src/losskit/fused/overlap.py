"""Fused kernels for the global overlap losses: ``dice`` and ``jaccard`` with ``axis=None`` (one
score from sums over every element), probabilities in ``y_pred`` (``activation=None``) and masks or soft labels
of the same shape and dtype in ``y_true``, with or without ``squared_pred``, any smoothing; or
logits with ``activation="softmax"`` over the last axis (hard terms, no ``squared_pred``).

The reference (losses/segmentation, ``ratio_stats`` / ``_ratio_derivs`` with ``a, b, c =
2, 1, 1`` for Dice, ``1, 1, 1`` for Jaccard), per element ``y, q``, every operation in the
data's dtype:

- ``stats``: ``(sum a (y q), sum err)`` with ``err = q (1 - y) + y (1 - q)`` (hard), or
  ``diff * diff`` with ``diff = (1 - y) - (1 - q)`` for ``y > 0.5`` else ``q - y``
  (``squared_pred``), each sum in float64 (shape ``(1,) * ndim``, the kept axes).
- ``grad`` from the totals: ``N = s_num + nr``, ``D = (s_num + s_err) + dr``,
  ``inv = 1 / D`` (0 where ``|D|`` is below the derivatives' floor), ``R = N inv``; per element
  ``num1 = a y``, ``den1 = num1 + ((1 - y) - y)`` (squared: ``num1 + ((2 q - y) - y)``) and
  ``g = ct (R (den1 inv) - num1 inv)``.

The kernels repeat these operations one for one in the same dtypes (the element terms of the
statistics in the data's dtype, rounded exactly as NumPy rounds them, then summed in float64),
so the statistics differ from the reference's only by the order of the float64 additions and
the gradient is the reference's bit for bit. The softmax kernels compute in float64 (the
exponentials by :mod:`.fastmath`, ``1 - q`` never formed at a row's maximum) and agree with
the exact values to a few ulp (tests/test_fused_overlap.py, against mpmath).

Domain of ``stats``: every ``y`` and ``q`` in [0, 1] (NaN fails the comparisons), which is
exactly what the reference's validation accepts for these options (finite, ``y_true`` and
``y_pred`` in [0, 1]); a box with any other element returns None. ``stats_grad`` has no domain:
for these options the reference's gradient is this formula for every input (nothing is clamped
or guarded per element; the totals' guard is computed here the reference's way), so it
reproduces the reference on any box, e.g. after ``validate=False`` sent a box's statistics to
the reference kernels.
"""

from __future__ import annotations

import functools
import math
import numbers

import numba as nb
import numpy as np

from .._array.validate import check_number
from ..losses.segmentation import flat_below, smoothing
from .distribution import _LOGIT_MAX, _Z_FLUSH
from .driver import BLOCK, block_sum, jit
from .fastmath import exp_for
from .logits import _long_max, _softmax_rows
from .plan import Plan, flag, flat
from .rows import _count_outside
from .rows import _helper as jit_helper

# ---------------------------------------------------------------------------------------
# kernels (``one``, ``two``: 1 and 2 in the data's dtype, so float32 data is computed in float32)
# ---------------------------------------------------------------------------------------


@jit
def _dice_stats(t, p, one, squared, b, c):
    """``(sum y q, sum err)`` over the box in float64; NaN when an element is outside [0, 1]
    (``b``, ``c``: the false positives' and negatives' weights, 1 unless Tversky's)."""
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
                b_err[j] = b * (q * (one - y)) + c * (y * (one - q))
        s_tp += block_sum(b_tp, m)
        s_err += block_sum(b_err, m)
    return s_tp, s_err


@jit
def _dice_grad(t, g, one, a, b, c, r, inv, ct):
    """``g = ct (R (den1 inv) - num1 inv)``, hard terms (no ``y_pred`` needed)."""
    for i in range(g.size):
        y = t[i]
        num1 = a * y
        den1 = num1 + (b * (one - y) + c * (-y))
        g[i] = ct * (r * (den1 * inv) - num1 * inv)


@jit
def _dice_grad_squared(t, p, g, one, two, a, r, inv, ct):
    """As :func:`_dice_grad` with the squared terms: ``f' = 2 q - y``."""
    for i in range(g.size):
        y = t[i]
        num1 = a * y
        den1 = num1 + ((two * p[i] - y) - y)
        g[i] = ct * (r * (den1 * inv) - num1 * inv)


# ---------------------------------------------------------------------------------------
# softmax activation (classes on the last axis): rows of C logits
# ---------------------------------------------------------------------------------------


@jit_helper
def _first_equal(a, c, v):
    """The index of the first of the ``c`` entries of ``a`` equal to ``v`` (``c``: none), by an
    integer min, which vectorises."""
    top = c
    for j in range(c):
        top = min(top, j if a[j] == v else c)
    return top


# A row's sums may be reassociated (summed in vector lanes) as driver.block_sum's: their order is
# fixed once compiled; the per-element terms are exact IEEE (exp_for's own function is compiled
# apart, with its own flags).
@nb.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def _sums(e, t, m):
    """``(sum e, sum y, sum y e)`` over ``m`` entries, in float64."""
    se = 0.0
    sy = 0.0
    sye = 0.0
    for j in range(m):
        ej = np.float64(e[j])
        y = np.float64(t[j])
        se += ej
        sy += y
        sye += y * ej
    return se, sy, sye


@nb.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def _exp_sums(x, t, m, mx, zmin, kept, keep, like):
    """:func:`_sums` of ``e = e^(x - mx)`` (0 below ``zmin``) over ``m`` entries (possibly none),
    ``e`` written to ``kept`` in its dtype with ``keep``; ``like``: a value of the data."""
    se = 0.0
    sy = 0.0
    sye = 0.0
    for j in range(m):
        z = np.float64(x[j]) - mx
        e = exp_for(z, like) if z >= zmin else 0.0
        if keep:
            kept[j] = e
        y = np.float64(t[j])
        se += e
        sy += y
        sye += y * e
    return se, sy, sye


@jit_helper
def _row_sums(e, t, c):
    """``(y_top, sum e, sum y, sum y e)``: the ``y`` of the row's first maximum (its first ``e ==
    1``) and :func:`_sums` over the other entries (two plain loops either side of it: no masks);
    NaN ``y_top`` when no ``e`` is 1."""
    top = _first_equal(e, c, 1.0)
    if top == c:
        return np.nan, 0.0, 0.0, 0.0
    a = _sums(e[:top], t[:top], top)
    b = _sums(e[top + 1:], t[top + 1:], c - top - 1)
    return np.float64(t[top]), a[0] + b[0], a[1] + b[1], a[2] + b[2]


@jit_helper
def _long_row(x, t, kept, keep, c, zmin):
    """:func:`_row_sums` of a long row from its logits, ``e = e^(x - max)`` (written to ``kept``
    with ``keep``) made in the loops that sum it: a max, the first maximum's index, then the
    two loops."""
    m = _long_max(x, c)
    top = _first_equal(x, c, m)
    mx = np.float64(m)
    a = _exp_sums(x[:top], t[:top], top, mx, zmin, kept[:top], keep, m)
    b = _exp_sums(x[top + 1:], t[top + 1:], c - top - 1, mx, zmin, kept[top + 1:], keep, m)
    if keep:
        kept[top] = 1.0
    return np.float64(t[top]), a[0] + b[0], a[1] + b[1], a[2] + b[2]


# Rows of at least this many logits take _long_row, one row at a time; shorter ones go by blocks of
# rows through _softmax_rows' flat pass of exponentials (statistics at 400000 float32 elements, one
# thread: rows of 16 1.4x faster by blocks, 32 1.2x, 64 even, 128 1.4x slower, 1000 1.4x).
_LONG_ROW = 64


@jit
def _softmax_dice_stats(t, x, kept, c, lmax, zmin):
    """``(sum y q, sum err)`` over the rows in float64, ``q`` the softmax of each row of ``c`` logits
    and ``err = q (1 - y) + y (1 - q)``; NaN when a logit is outside +-lmax (or NaN) or a ``y``
    outside [0, 1]. ``kept`` (x's size; empty: none) receives ``e^(x - max)`` in x's dtype for
    :func:`_softmax_dice_grad`. Rows go in blocks of about BLOCK entries (one long row at a
    time). Per row, with ``inv = 1 / (1 + rest)``, ``rest`` the sum of the exponentials but the
    first maximum's (its ``e`` is 1), and the sums over those others (``q <= 1/2``): there ``err =
    q + y - 2 y q`` is at least ``(q + y) / 3``, so its sum ``inv rest + Y - 2 inv YE`` cancels
    little; at the maximum ``q = inv`` and ``1 - q = rest inv``."""
    rows = x.size // c
    rb = max(1, BLOCK // c)
    long = c >= _LONG_ROW
    w = 0 if long else rb * c  # (long rows need no block buffers)
    zb, eb, eg = np.empty(w), np.empty(w), np.empty(w)
    mx, rest, unused = np.empty(rb), np.empty(rb), np.empty(rb)
    keep = kept.size > 0
    s_tp = 0.0
    s_err = 0.0
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * c, nr * c
        xb, tb = x[b0:b0 + n], t[b0:b0 + n]
        if _count_outside(xb, n, -lmax, lmax) + _count_outside(tb, n, 0.0, 1.0):
            return np.nan, np.nan
        if not long:  # eg = e^(x - max), 1 at the maxima
            _softmax_rows(xb, xb, nr, c, zmin, zb, eb, eb, mx, rest, unused, unused, eg, True, False)
            if keep:
                kb = kept[b0:b0 + n]
                for i in range(n):
                    kb[i] = eg[i]
        for k in range(nr):
            if long:
                y_top, e_rest, y_rest, ye_rest = _long_row(xb[k * c:(k + 1) * c], tb[k * c:(k + 1) * c],
                                                           kept[b0 + k * c:b0 + (k + 1) * c], keep, c, zmin)
            else:
                y_top, e_rest, y_rest, ye_rest = _row_sums(eg[k * c:(k + 1) * c], tb[k * c:(k + 1) * c], c)
            inv = 1.0 / (1.0 + e_rest)
            s_tp += inv * (ye_rest + y_top)
            s_err += (inv * e_rest + y_rest - 2.0 * (inv * ye_rest)) + inv * ((1.0 - y_top) + y_top * e_rest)
    return s_tp, s_err


@jit
def _softmax_dice_grad(t, g, c, r, inv, ct, k):
    """``g = q (gT - sum(q gT))`` per row, the softmax Jacobian applied to the hard terms ``gT = ct
    (R inv - k y inv)`` of :func:`_dice_grad` (``k = a - R (a - 2)``: 2 for Dice), in float64, written in ``g``'s dtype over the
    exponentials ``e^(x - max)`` :func:`_softmax_dice_stats` kept there (no second softmax;
    float32 data: ``q`` from the float32 ``e``, within an ulp of the first pass's). As the
    reference's ``project``, ``gT - w`` is taken against ``w``, the ``gT`` of the row's first
    maximum: with ``b = k ct inv``, ``g = q (s - b (y - y_top))`` where ``s = b sum(q (y - y_top))
    = b (YE - y_top E) / (1 + E)`` from the sums over the other entries (no cancellation at a
    confident class). False (``g`` partly written) where a row holds no kept maximum."""
    b = ct * (k * inv)
    for start in range(0, g.size, c):
        er, tr = g[start:start + c], t[start:start + c]
        y_top, e_rest, _, ye_rest = _row_sums(er, tr, c)
        if y_top != y_top:
            return False
        qi = 1.0 / (1.0 + e_rest)
        s = b * (qi * (ye_rest - y_top * e_rest))
        bq = b * qi
        for j in range(c):
            e = np.float64(er[j])
            er[j] = (e * qi) * s - (e * bq) * (np.float64(tr[j]) - y_top)
    return True


# ---------------------------------------------------------------------------------------
# the planner
# ---------------------------------------------------------------------------------------

_NOT_KEPT = {np.dtype(d): np.empty(0, dtype=d) for d in (np.float32, np.float64)}  # no kept array

_DICE_DEFAULTS = {  # options that must hold exactly these values (else the reference runs)
    "axis": None,
    "class_weight": None,
    "ignore_index": None,
}
_DICE_KNOWN = {"axis", "smooth", "smooth_nr", "smooth_dr", "activation", "class_axis", "class_weight",
               "include_background", "ignore_index", "soft_label", "squared_pred"}
_A = {"dice": 2.0, "jaccard": 1.0, "tversky": 1.0}  # the coefficient of TP (ratio._COEF)


def _overlap_planner(kind, y_true, y_pred, opts):
    """The plan of the global score: ``a = 2`` (Dice) or ``1`` (Jaccard, Tversky), the same
    statistics (``a TP``; ``a`` a power of two, so ``a sum(t)`` is ``sum(a t)`` exactly) and
    gradients; Tversky's weights ``b, c`` on probabilities with hard terms only."""
    if not (isinstance(y_true, np.ndarray) and isinstance(y_pred, np.ndarray)):
        return None
    dtype = y_pred.dtype
    if dtype not in (np.float32, np.float64) or y_true.dtype != dtype or y_true.shape != y_pred.shape:
        return None
    a, b, c = _A[kind], 1.0, 1.0
    if kind == "tversky":
        if opts.get("activation") is not None or opts.get("squared_pred", False) is not False:
            return None
        try:  # the reference's own parsing; it raises its own error on bad values
            b = float(check_number(opts.get("alpha"), name="alpha", lo=0.0))
            c = float(check_number(opts.get("beta"), name="beta", lo=0.0))
        except Exception:  # noqa: BLE001 - the reference reports it
            return None
        opts = {k: v for k, v in opts.items() if k not in ("alpha", "beta")}
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
        lmax, zmin = _LOGIT_MAX[dtype], _Z_FLUSH[dtype]
    try:  # the reference's own parsing (floats, >= 0); it raises its own error on bad values
        nr, dr = smoothing({k: opts.get(k) for k in ("smooth", "smooth_nr", "smooth_dr")})
    except Exception:  # noqa: BLE001 - the reference reports it
        return None
    one, two, a_d, b_d, c_d = dtype.type(1), dtype.type(2), dtype.type(a), dtype.type(b), dtype.type(c)

    def stats(yt, yp, kept=None):
        if yt.shape != yp.shape or yt.dtype != dtype or yp.dtype != dtype:
            return None
        views = flat(yt, yp) if kept is None else flat(yt, yp, kept)
        if views is None:
            return None
        if softmax:
            s_tp, s_err = _softmax_dice_stats(views[0], views[1], views[2] if kept is not None else _NOT_KEPT[dtype],
                                              c, lmax, zmin)
        else:
            s_tp, s_err = _dice_stats(views[0], views[1], one, squared, b_d, c_d)
        if not (math.isfinite(s_tp) and math.isfinite(s_err)):
            return None
        shape = (1,) * yp.ndim
        return np.full(shape, a * s_tp), np.full(shape, s_err)  # sum(a t) = a sum(t), exactly

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

        def write(yt, yp, g):
            if yt.shape != yp.shape or g.shape != yp.shape or yt.dtype != dtype or yp.dtype != dtype:
                return False
            views = flat(yt, yp, g)
            if views is None:
                return False
            if softmax:  # (k = a - R (a - 2): exactly 2 for Dice)
                return _softmax_dice_grad(views[0], views[2], c, float(R), float(inv), float(ct),
                                          float(a - R * (a - 2)))
            if squared:
                _dice_grad_squared(views[0], views[1], views[2], one, two, a_d, R, inv, ct)
            else:
                _dice_grad(views[0], views[2], one, a_d, b_d, c_d, R, inv, ct)
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
PLANNERS = {kind: functools.partial(_overlap_planner, kind) for kind in _A}
