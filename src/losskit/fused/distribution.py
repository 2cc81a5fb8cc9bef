"""Fused kernels of the distribution losses with their default options: categorical
cross-entropy (probabilities or logits), sparse categorical cross-entropy (integer labels;
probabilities or logits) and KL divergence (probabilities or logits). This module holds the
kernels on probabilities and the planners; :mod:`.logits` the kernels on logits, :mod:`.rows`
the row-level helpers both use.

Layout: a box holds whole rows (the class axis is last and never cut), read as C-contiguous
1-D views with ``C`` entries per row. The kernels walk the box in blocks of whole rows
(``BLOCK // C`` rows, or one row when ``C > BLOCK``): per-row reductions first (maxima, sums,
the row-sum checks), then flat, vectorised passes over the block's elements in chunks of at
most ``BLOCK``, with the row quantities read per segment. Short rows (``C <= 32``) are reduced
four rows at a time (four independent running sums instead of one serial chain per row), in
the data's dtype where the sums are only checked; longer rows by :func:`~._driver.block_sum`;
CCE's rows of 16 or more classes in one reassociated pass each (:func:`_row_scan`).
Per-element values go to small float64 buffers, so every total depends on the box alone,
never on threads.

Values are computed in float64. The per-element ``log`` and ``exp`` are :mod:`._fastmath`'s
vectorisable bit-level functions: for float32 data with the ~1e-9 relative accuracy that
results rounded to float32 need, for float64 data within an ulp or two of libm. Which one a
kernel uses is fixed when it compiles, by the data's dtype (the ``like`` convention of
``_fastmath.log_for``). Per-row logarithms use ``_fastmath.log1p_for``/``log_for``.

Domains (a box outside one returns ``None``; the engine then runs the reference kernels on it,
with their validation): each implies that the reference ``prepare(..., validate=True)`` passes.

- finite inputs; probabilities (``y_pred`` without ``from_logits``, KL's ``y_true``) in
  [0, 1]; CCE targets >= 0; labels in ``[0, C)``; logits within ``+-1e30`` (float32) or
  ``+-1e300`` (float64), so that no reference intermediate (``x - max``, a row's
  ``sum t (max - x)``) overflows;
- every row the reference checks sums to 1 within HALF its tolerance
  ``max(sqrt(eps), C 2**-24)`` (``losses._common.row_sum_tolerance``). The reference and
  these kernels sum in the data's dtype (here in at most 32-long runs or vector lanes,
  whose error is far under the margin); the margin covers the reference's error: at most
  ``(C - 1) 2**-24`` in any order, under half the tolerance for ``C <= 64`` (rows the
  namespace sums by a matrix product), and NumPy's pairwise sums of longer rows err by
  ``O(log C)`` ulp, far under ``C 2**-25``.

Inside the domains the reference's edge cases are reproduced, not excluded: the probability
floor ``epsilon`` (``losses._common.prob_epsilon``: e^-40 rounded to float32, as NumPy
compares it, or e^-100 in float64) inside the logarithms and the zero gradient at or below
it, ``0 log 0 = 0`` for zero targets, ties of a row's maximum (``_math.max_and_log1p_rest``),
and exponentials that underflow (float32 data: ``e^z`` is 0 below ``z = -150 ln 2``, where the
reference's float32 ``exp`` rounds to 0).

Accuracy against the reference kernels: box totals within ~1e-7 relative in float32 (the
reference rounds each row value to float32, nothing is rounded here before the float64
total) and a few ulp in float64; gradients elementwise within ~1-2 float32 ulp or a few
float64 ulp, except where the reference's own expression cancels (soft targets with
``S p_c ~ t_c`` on logits), where the agreement is absolute, to a few ulp of the row's
largest term.

Speed (one thread, float32, 2-core AVX-512 machine, data in cache): CCE on one-hot rows ~1.0
ns per element at C = 10 (value; 1.4 with the gradient), ~0.45 from C = 32; KL ~4 (from
logits with the gradient, C = 100: 73 ms for 1e7 elements on 2 threads); figures at 1e7
elements, against the peers, in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ..losses._common import prob_epsilon, row_sum_tolerance
from .driver import BLOCK, NAN, block_sum, finite_or_none, jit
from .fastmath import log_for
from .logits import _cce_logits, _kl_logits, _scce_logits
from .plan import Plan, flag, flat
from .rows import _SHORT, _bregman, _count_outside, _helper, _in_tol, _neg_xlog, _seg_sums, _sum_diffs

__all__ = ["PLANNERS"]


# CCE rows from this length are checked and reduced one row per pass (_row_scan). Measured at
# 1e7 float32 on 2 threads: C = 16 4.2 vs 5.5 ms, 32 2.8 vs 5.0; shorter rows are faster
# with the flat check and four rows at a time (C = 10: 6.0 vs 9.0 ms, 12: 6.0 vs 7.4)
_SCAN = 16
# logits beyond these are outside the domain (see the module docstring)
_LOGIT_MAX = {np.dtype(np.float32): 1e30, np.dtype(np.float64): 1e300}
# below this, float32's exp rounds to 0 (2**-150); float64 data: libm's exp underflows alike
_Z_FLUSH = {np.dtype(np.float32): -150 * math.log(2.0), np.dtype(np.float64): -math.inf}


# ---------------------------------------------------------------------------------------
# probabilities: CCE, SCCE and KL
# ---------------------------------------------------------------------------------------
@_helper
def _rows_sum_to_one(tb, pb, nr, C, tau, st, sp, dot):
    """Rows of tb and pb (the block's first nr rows) each sum to 1 within tau (NaN fails).
    With a non-empty ``dot`` (short rows only), also dot[k] = sum_c t_c p_c in the same pass.

    Short rows are summed in the data's dtype, four rows of both at a time (eight running
    sums; 3x faster than float64 sums, which cost conversions): a float32 sum of at most 32
    entries in [0, 1] errs by at most 31 2**-24 < 2e-6, a hundredth of the half tolerance."""
    n = nr * C
    if C <= _SHORT and dot.size:
        z = tb[0] - tb[0]
        k = 0
        while k + 4 <= nr:
            t4 = tb[k * C:(k + 4) * C]
            p4 = pb[k * C:(k + 4) * C]
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = d0 = d1 = d2 = d3 = z
            for c in range(C):
                a0 += t4[c]
                a1 += t4[C + c]
                a2 += t4[2 * C + c]
                a3 += t4[3 * C + c]
                b0 += p4[c]
                b1 += p4[C + c]
                b2 += p4[2 * C + c]
                b3 += p4[3 * C + c]
                d0 += t4[c] * p4[c]
                d1 += t4[C + c] * p4[C + c]
                d2 += t4[2 * C + c] * p4[2 * C + c]
                d3 += t4[3 * C + c] * p4[3 * C + c]
            st[k], st[k + 1], st[k + 2], st[k + 3] = a0, a1, a2, a3
            sp[k], sp[k + 1], sp[k + 2], sp[k + 3] = b0, b1, b2, b3
            dot[k], dot[k + 1], dot[k + 2], dot[k + 3] = d0, d1, d2, d3
            k += 4
        while k < nr:
            tr = tb[k * C:(k + 1) * C]
            pr = pb[k * C:(k + 1) * C]
            a0 = b0 = d0 = z
            for c in range(C):
                a0 += tr[c]
                b0 += pr[c]
                d0 += tr[c] * pr[c]
            st[k], sp[k], dot[k] = a0, b0, d0
            k += 1
    elif C <= _SHORT:
        z = tb[0] - tb[0]  # 0 in the data's dtype (NaN for a NaN or infinite entry: fails)
        k = 0
        while k + 4 <= nr:
            t4 = tb[k * C:(k + 4) * C]  # views: their indices are known to be >= 0
            p4 = pb[k * C:(k + 4) * C]
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = z
            for c in range(C):
                a0 += t4[c]
                a1 += t4[C + c]
                a2 += t4[2 * C + c]
                a3 += t4[3 * C + c]
                b0 += p4[c]
                b1 += p4[C + c]
                b2 += p4[2 * C + c]
                b3 += p4[3 * C + c]
            st[k], st[k + 1], st[k + 2], st[k + 3] = a0, a1, a2, a3
            sp[k], sp[k + 1], sp[k + 2], sp[k + 3] = b0, b1, b2, b3
            k += 4
        while k < nr:
            tr = tb[k * C:(k + 1) * C]
            pr = pb[k * C:(k + 1) * C]
            a0 = b0 = z
            for c in range(C):
                a0 += tr[c]
                b0 += pr[c]
            st[k], sp[k] = a0, b0
            k += 1
    else:
        st[:nr] = 0.0
        sp[:nr] = 0.0
        for j0 in range(0, n, BLOCK):
            m = min(BLOCK, n - j0)
            _seg_sums(tb[j0:j0 + m], m, j0, C, st)
            _seg_sums(pb[j0:j0 + m], m, j0, C, sp)
    ok = 0
    for k in range(nr):
        ok += _in_tol(st[k], tau) & _in_tol(sp[k], tau)
    return ok == nr


@_helper
def _one_hot_in_unit(tb, pb, n, zero, one):
    """Every t of tb[:n] is 0 or 1 and every p of pb[:n] in [0, 1] (NaN fails); ``zero`` and
    ``one`` in the data's dtype, so float32 data are compared in float32."""
    bad = 0
    for i in range(n):
        a = tb[i]
        x = pb[i]
        bad += ((a != zero) & (a != one)) | (not ((x >= zero) & (x <= one)))
    return bad == 0


# Reassociation in this one function (as in _driver.block_sum): its sums run in vector lanes.
@nb.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def _row_scan(tr, pr, zero, one):
    """One pass over a row (C >= _SCAN) of targets and probabilities: ``(bad, sum t,
    sum p, sum t p)``, the sums in the data's dtype, ``bad`` counting the targets that are not
    0 or 1 and the probabilities outside [0, 1] (NaN included).

    The lanes' sums of entries in [0, 1] err by at most C 2**-24 / 8 (eight lanes or more),
    under a sixteenth of the half tolerance ``max(sqrt(eps), C 2**-24) / 2``
    (row_sum_tolerance); for a one-hot row, sum t p is p at the 1, exactly (every other
    product is 0)."""
    bad = 0
    st = sp = dot = zero
    for c in range(tr.size):
        a = tr[c]
        x = pr[c]
        bad += ((a != zero) & (a != one)) | (not ((x >= zero) & (x <= one)))
        st += a
        sp += x
        dot += a * x
    return bad, st, sp, dot


@jit
def _cce_prob(t, p, g, scale, C, eps, tau, grad):
    """CCE on probabilities: per row -sum_c t_c log max(p_c, eps); gradient -t_c / p_c (0 where
    p_c <= eps). Domain: t >= 0, p in [0, 1], rows of both summing to 1.

    A block of one-hot rows (targets 0 or 1, rows summing to 1: a single 1) takes one
    logarithm per row, of p at the 1 (the other terms are -0 log q = -0), and one division
    per row for the gradient, whose other entries are -0 t / q = -0 as in the general form.
    Rows of C >= _SCAN entries are checked, summed and dotted in one pass each (_row_scan)."""
    rows = p.size // C
    rb = max(1, BLOCK // C)
    buf = np.empty(BLOCK)
    st = np.empty(rb)
    sp = np.empty(rb)
    # t . p per row, in the data's dtype: for one-hot rows p at the 1, exactly (every other
    # product is 0, so no order of the sum rounds)
    hot = np.zeros(rb, dtype=p.dtype)
    zero, one = hot[0], np.ones(1, dtype=p.dtype)[0]
    vals = np.empty(rb)
    total = 0.0
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * C, nr * C
        tb, pb = t[b0:b0 + n], p[b0:b0 + n]
        if C >= _SCAN:
            hard = True
            for k in range(nr):
                bad, s_t, s_p, hot[k] = _row_scan(tb[k * C:(k + 1) * C], pb[k * C:(k + 1) * C], zero, one)
                if not (_in_tol(np.float64(s_t), tau) & _in_tol(np.float64(s_p), tau)):
                    return NAN
                hard &= bad == 0
        else:
            # the vectorised flat check first: it brings the block into L1 with many loads in
            # flight before the row sums' scalar loop (no gain measurable above this machine's noise)
            hard = _one_hot_in_unit(tb, pb, n, zero, one)
            if not _rows_sum_to_one(tb, pb, nr, C, tau, st, sp, hot):
                return NAN
        if hard:  # rows summing to 1: a single 1 each
            for k in range(nr):
                vals[k] = _neg_xlog(1.0, max(np.float64(hot[k]), eps), hot[k])
            total += block_sum(vals, nr)
            if grad:
                for k in range(nr):
                    x = np.float64(hot[k])
                    # the general form's entries, (-t r) scale rounded: that at the 1, -0 elsewhere
                    v = g.dtype.type((-1.0 * ((x > eps) / max(x, eps))) * scale)
                    tr = t[b0 + k * C:b0 + (k + 1) * C]
                    gr = g[b0 + k * C:b0 + (k + 1) * C]
                    for c in range(C):
                        gr[c] = v if tr[c] == one else -zero
            continue
        for j0 in range(b0, b0 + n, BLOCK):
            m = min(BLOCK, b0 + n - j0)
            tb, pb = t[j0:j0 + m], p[j0:j0 + m]
            if grad:
                gb = g[j0:j0 + m]
                for j in range(m):
                    a, x = np.float64(tb[j]), np.float64(pb[j])
                    ok = (a >= 0.0) & (x >= 0.0) & (x <= 1.0)
                    xc = max(x, eps)
                    buf[j] = _neg_xlog(a, xc, pb[j]) + (0.0 if ok else NAN)
                    gb[j] = (-a * ((x > eps) / xc)) * scale
            else:
                for j in range(m):
                    a, x = np.float64(tb[j]), np.float64(pb[j])
                    ok = (a >= 0.0) & (x >= 0.0) & (x <= 1.0)
                    buf[j] = _neg_xlog(a, max(x, eps), pb[j]) + (0.0 if ok else NAN)
            total += block_sum(buf, m)
    return total


@jit
def _kl_prob(t, p, g, scale, C, eps, tau, grad):
    """KL(t || q) on probabilities, q = max(p, eps): per row sum_c [t log(t/q) - t + q] (non-negative
    Bregman terms, a series near t = q) plus sum_c (t - q) summed apart (float64 data: with the
    differences' rounding errors, compensated), as _divergence._kl_value. Gradient -t / p (0 where p <= eps).
    Domain: t and p in [0, 1], rows of both summing to 1."""
    rows = p.size // C
    rb = max(1, BLOCK // C)
    bufb = np.empty(BLOCK)
    bufd = np.empty(BLOCK)
    st = np.empty(rb)
    sp = np.empty(rb)
    total = 0.0
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * C, nr * C
        if not _rows_sum_to_one(t[b0:b0 + n], p[b0:b0 + n], nr, C, tau, st, sp, st[:0]):
            return NAN
        for j0 in range(b0, b0 + n, BLOCK):
            m = min(BLOCK, b0 + n - j0)
            tb, pb = t[j0:j0 + m], p[j0:j0 + m]
            if grad:
                gb = g[j0:j0 + m]
                for j in range(m):
                    a, x = np.float64(tb[j]), np.float64(pb[j])
                    ok = (a >= 0.0) & (a <= 1.0) & (x >= 0.0) & (x <= 1.0)
                    q = max(x, eps)
                    inv = 1.0 / q
                    bufb[j] = _bregman(a, q, inv, pb[j]) + (0.0 if ok else NAN)
                    bufd[j] = a - q
                    gb[j] = (-a * ((x > eps) * inv)) * scale
            else:
                for j in range(m):
                    a, x = np.float64(tb[j]), np.float64(pb[j])
                    ok = (a >= 0.0) & (a <= 1.0) & (x >= 0.0) & (x <= 1.0)
                    q = max(x, eps)
                    bufb[j] = _bregman(a, q, 1.0 / q, pb[j]) + (0.0 if ok else NAN)
                    bufd[j] = a - q
            total += block_sum(bufb, m) + _sum_diffs(bufd, m, pb[0])
    return total


@jit
def _scce_prob(lab, p, g, scale, C, eps, tau, grad):
    """SCCE on probabilities: per row -log max(p_y, eps); gradient -1 / p_y on the true class
    (0 where p_y <= eps), -0 elsewhere (-t / p with t = 0). Domain: labels in [0, C), p in
    [0, 1], rows summing to 1."""
    rows = p.size // C
    rb = max(1, BLOCK // C)
    sp = np.empty(rb, dtype=p.dtype)  # row sums that are only checked: the data's dtype (_seg_sums)
    vals = np.empty(rb)
    total = 0.0
    nz = -0.0 * scale
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * C, nr * C
        pb = p[b0:b0 + n]
        sp[:nr] = 0.0
        for j0 in range(0, n, BLOCK):
            m = min(BLOCK, n - j0)
            _seg_sums(pb[j0:j0 + m], m, j0, C, sp)
        bad = _count_outside(pb, n, 0.0, 1.0)
        for k in range(nr):
            y = np.int64(lab[r0 + k])
            bad += (y < 0) | (y >= C) | (not _in_tol(sp[k], tau))
        if bad:
            return NAN
        for k in range(nr):
            y = np.int64(lab[r0 + k])
            x = np.float64(pb[k * C + y])
            xc = max(x, eps)
            vals[k] = -log_for(xc, pb[k * C + y])
            if grad:
                gr = g[b0 + k * C:b0 + (k + 1) * C]
                for c in range(C):
                    gr[c] = nz
                gr[y] = -((x > eps) / xc) * scale
        total += block_sum(vals, nr)
    return total


# ---------------------------------------------------------------------------------------
# planners
# ---------------------------------------------------------------------------------------
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_zero(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) and v == 0


def _common(y_pred, opts, known):
    """(dtype, C) when y_pred and the options fit the kernels (known option names only, the
    class axis last), else None."""
    if not isinstance(y_pred, np.ndarray) or y_pred.dtype not in _FLOATS or y_pred.ndim < 1:
        return None
    axis = opts.get("axis", -1)
    if set(opts) - set(known) or not _is_int(axis) or int(axis) not in (-1, y_pred.ndim - 1):
        return None
    C = int(y_pred.shape[-1])
    return (y_pred.dtype, C) if C >= 1 else None


def _floor(dt):
    """The default probability floor as the reference compares it: rounded to the dtype."""
    return float(dt.type(prob_epsilon(np, dt, None)))


def _half_tol(dt, C):
    return 0.5 * row_sum_tolerance(np, C, dt)


def _make_plan(kernel, dt, C, args, dense):
    """Plan callables around ``kernel(y_true, y_pred, g, scale, C, *args, grad)``; ``dense``:
    y_true has y_pred's shape, else one integer label per row."""

    def views(yt, yp):
        if not isinstance(yt, np.ndarray) or yp.dtype != dt or yp.size % C:
            return None
        if yt.size * (1 if dense else C) != yp.size:
            return None
        if (yt.dtype != dt) if dense else (yt.dtype.kind not in "iu"):
            return None
        if not dense and yt.dtype != np.int64:  # one compiled kernel for every label dtype (uint64
            yt = yt.astype(np.int64)  # from 2**63 wraps to negative ids: out of range, as it should)
        return flat(yt, yp)

    def value(yt, yp):
        v = views(yt, yp)
        if v is None:
            return None
        t, p = v
        return finite_or_none(kernel(t, p, p[:0], 0.0, C, *args, False))

    def value_grad(yt, yp, g, scale):
        v = views(yt, yp)
        if v is None or np.ndim(scale) != 0 or g.dtype != dt or g.shape != yp.shape or not g.flags.c_contiguous:
            return None
        t, p = v
        return finite_or_none(kernel(t, p, g.reshape(-1), float(scale), C, *args, True))

    return Plan(value=value, value_grad=value_grad)


_CCE_KNOWN = ("axis", "from_logits", "label_smoothing", "class_weight", "renormalize", "epsilon")


def _cce_from_logits(opts):
    """``from_logits`` (a bool) when every other option has its default, else None."""
    from_logits = flag(opts.get("from_logits", False))
    if from_logits is None or flag(opts.get("renormalize", False)) is not False:
        return None
    if not _is_zero(opts.get("label_smoothing", 0.0)):
        return None
    if opts.get("class_weight") is not None or opts.get("epsilon") is not None:
        return None
    return from_logits


def _cce_planner(y_true, y_pred, opts):
    common = _common(y_pred, opts, _CCE_KNOWN)
    from_logits = _cce_from_logits(opts)
    if common is None or from_logits is None:
        return None
    dt, C = common
    if not isinstance(y_true, np.ndarray) or y_true.dtype != dt or y_true.shape != y_pred.shape:
        return None
    if from_logits:
        return _make_plan(_cce_logits, dt, C, (_LOGIT_MAX[dt], _Z_FLUSH[dt], _half_tol(dt, C)), True)
    return _make_plan(_cce_prob, dt, C, (_floor(dt), _half_tol(dt, C)), True)


def _scce_planner(y_true, y_pred, opts):
    common = _common(y_pred, opts, (*_CCE_KNOWN, "ignore_index"))
    from_logits = _cce_from_logits(opts)
    if common is None or from_logits is None or opts.get("ignore_index") is not None:
        return None
    dt, C = common
    if not isinstance(y_true, np.ndarray) or y_true.dtype.kind not in "iu":
        return None
    rows = y_pred.shape[:-1]
    if y_true.shape not in (rows, (*rows, 1)):  # Keras's (N, 1) labels too: the same values
        return None
    if from_logits:
        return _make_plan(_scce_logits, dt, C, (_LOGIT_MAX[dt], _Z_FLUSH[dt]), False)
    return _make_plan(_scce_prob, dt, C, (_floor(dt), _half_tol(dt, C)), False)


_KL_KNOWN = ("from_logits", "log_target", "normalized", "epsilon", "clip_target", "axis")


def _kl_planner(y_true, y_pred, opts):
    common = _common(y_pred, opts, _KL_KNOWN)
    if common is None or opts.get("epsilon") is not None:
        return None
    flags = [flag(opts.get(k, d)) for k, d in
             (("from_logits", False), ("log_target", False), ("normalized", True), ("clip_target", False))]
    if flags not in ([False, False, True, False], [True, False, True, False]):
        return None
    dt, C = common
    if not isinstance(y_true, np.ndarray) or y_true.dtype != dt or y_true.shape != y_pred.shape:
        return None
    if flags[0]:
        return _make_plan(_kl_logits, dt, C, (_LOGIT_MAX[dt], _Z_FLUSH[dt], _half_tol(dt, C)), True)
    return _make_plan(_kl_prob, dt, C, (_floor(dt), _half_tol(dt, C)), True)


# kernel key (the ``fused`` trait of the records these kernels compute) -> planner
PLANNERS = {
    "categorical_cross_entropy": _cce_planner,
    "sparse_categorical_cross_entropy": _scce_planner,
    "kl_divergence": _kl_planner,
}
