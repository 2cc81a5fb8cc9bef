"""Fused kernels of the distribution losses with their default options: categorical
cross-entropy (probabilities or logits), sparse categorical cross-entropy (integer labels;
probabilities or logits) and KL divergence (probabilities).

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
it, ``0 log 0 = 0`` for zero targets, ties of a row's maximum (``_math._max_and_log1p_rest``),
and exponentials that underflow (float32 data: ``e^z`` is 0 below ``z = -150 ln 2``, where the
reference's float32 ``exp`` rounds to 0).

Accuracy against the reference kernels: box totals within ~1e-7 relative in float32 (the
reference rounds each row value to float32, nothing is rounded here before the float64
total) and a few ulp in float64; gradients elementwise within ~1-2 float32 ulp or a few
float64 ulp, except where the reference's own expression cancels (soft targets with
``S p_c ~ t_c`` on logits), where the agreement is absolute, to a few ulp of the row's
largest term.

Speed (one thread, float32, 2-core AVX-512 machine, data in cache): CCE on one-hot rows ~1.0
ns per element at C = 10 (value; 1.4 with the gradient), ~0.45 from C = 32; KL ~4; figures at
1e7 elements, against the peers, in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import types
from numba.extending import overload

from ..losses._common import prob_epsilon, row_sum_tolerance
from . import Plan, flag, flat
from .driver import BLOCK, NAN, block_sum, finite_or_none, inline, jit
from .fastmath import exp_for, log1p_for, log64, log_for
from .fastmath import log as fast_log

__all__ = ["PLANNERS"]

# row-level helpers: compiled as functions of their own (LLVM still inlines them), not
# inlined into each kernel by numba, which halved the cold compile time (~40 s for all)
_helper = nb.njit(nogil=True, cache=True, error_model="numpy")

_SHORT = 32  # rows up to this length are reduced four at a time
# CCE rows from this length are checked and reduced one row per pass (_row_scan). Measured at
# 1e7 float32 on 2 threads: C = 16 4.2 vs 5.5 ms, 32 2.8 vs 5.0; shorter rows are faster
# with the flat check and four rows at a time (C = 10: 6.0 vs 9.0 ms, 12: 6.0 vs 7.4)
_SCAN = 16
# logits beyond these are outside the domain (see the module docstring)
_LOGIT_MAX = {np.dtype(np.float32): 1e30, np.dtype(np.float64): 1e300}
# below this, float32's exp rounds to 0 (2**-150); float64 data: libm's exp underflows alike
_Z_FLUSH = {np.dtype(np.float32): -150 * math.log(2.0), np.dtype(np.float64): -math.inf}
# (1 + u) atanh(u) - u = u^2 (1 + (u + u^2) G(u^2)), G(z) = sum_k z^k / (2k + 3): the series
# of _math.bregman_kl; 8 terms reach float32's precision for |u| <= 1/3, 18 float64's.
_G = tuple(1.0 / (2 * k + 3) for k in range(18))
_TWO600, _LN2_600 = 2.0**600, 600 * math.log(2.0)


# ---------------------------------------------------------------------------------------
# helpers chosen by the data's dtype when a kernel compiles (``like``: any value of the
# data, as for _fastmath.log_for): float32 data use _fastmath's vectorisable log and exp
# (float32-grade, ~1e-9 relative), float64 data call libm.
# ---------------------------------------------------------------------------------------


def _neg_xlog(t, q, like):
    """-t log(q) for q > 0 normal; 0 where t = 0."""


def _bregman(t, q, inv, like):
    """t log(t/q) - t + q >= 0 for t in [0, 1], q in [floor, 1] and inv = 1/q, plus the
    rounding error of the difference t - q where that is not exact (float64 data)."""


def _sum_diffs(buf, m, like):
    """sum(buf[:m]) of KL's differences t - q."""


def _f32(like):
    return like == types.float32


@overload(_neg_xlog)  # not inlined by numba (the branch trips its SSA check); LLVM inlines it
def _neg_xlog_ov(t, q, like):
    if _f32(like):
        return lambda t, q, like: -t * fast_log(q)  # no branch: the loop vectorises

    def impl(t, q, like):  # float64 data: 0 where t = 0, not -0 (the reference's 0 log 0)
        v = -t * log64(q)
        return v if t != 0.0 else 0.0
    return impl


@_helper  # a function of its own, small enough for LLVM to inline into the vectorised loop
def _bregman32(t, q, inv):
    # float32 data in float64 arithmetic: t - q is exact (or negligible next to the term),
    # and the direct form's roundings cost ~1.5 ulp / u^2 of the term, 3e-12 for |u| >= 1/128,
    # so the series is needed only below that, to u^7 (3 terms of G). fast_log's error adds at
    # most 2e-8 relative (t/q near sqrt(2) or sqrt(1/2)). Both forms are computed and one
    # selected: the loop vectorises.
    d = t - q
    u = d / (t + q)
    z = u * u
    series = (d * u) * ((u + z) * (_G[0] + z * (_G[1] + z * _G[2])) + 1.0)
    direct = (t * fast_log(t * inv if t > 0.0 else 1.0) - t) + q
    return series if abs(u) <= 0.0078125 else direct


# Float64 data: too long for LLVM to inline, so numba inlines it, which it does only for code
# without branches or conditional expressions (they trip its SSA check): both forms are
# computed and one kept by an exact blend b x + (1 - b) y for a 0/1 b (1 x + 0 y is x, the
# other term a signed zero of a finite value). Inlined, the loop vectorises: float64 KL
# 12.5 -> 7.6 ns per element measured (called, it stayed scalar).
@inline
def _bregman64(t, q):
    # as _math.bregman_kl: the series for q/2 <= t <= 2q (18 terms), else the direct form,
    # plus the rounding error of t - q
    d = t - q
    bb = d - t
    err = (t - (d - bb)) + (-q - bb)  # TwoSum: t - q == d + err exactly
    u = d / (t + q)
    z = u * u
    g = _G[17]  # Horner, written out: a loop here would stay a loop in the vectorised one
    g = g * z + _G[16]
    g = g * z + _G[15]
    g = g * z + _G[14]
    g = g * z + _G[13]
    g = g * z + _G[12]
    g = g * z + _G[11]
    g = g * z + _G[10]
    g = g * z + _G[9]
    g = g * z + _G[8]
    g = g * z + _G[7]
    g = g * z + _G[6]
    g = g * z + _G[5]
    g = g * z + _G[4]
    g = g * z + _G[3]
    g = g * z + _G[2]
    g = g * z + _G[1]
    g = g * z + _G[0]
    series = (d * u) * ((u + z) * g + 1.0)
    # t / q is subnormal below t ~ 1e-150 (q >= e^-100): t is scaled by 2**600 there first;
    # t = 0 takes the normal 1e-300 (t log(.) is then 0, and the term q)
    tiny = np.float64(t <= 1e-150)
    lr = log64(max(t * (1.0 + tiny * (_TWO600 - 1.0)), 1e-300) / q) - tiny * _LN2_600
    direct = (t * lr - t) + q
    near = np.float64((t >= 0.5 * q) & (t <= 2.0 * q))
    return (near * series + (1.0 - near) * direct) + err


@overload(_bregman, inline="always")
def _bregman_ov(t, q, inv, like):
    if _f32(like):
        return lambda t, q, inv, like: _bregman32(t, q, inv)
    return lambda t, q, inv, like: _bregman64(t, q)


@overload(_sum_diffs, inline="always")
def _sum_diffs_ov(buf, m, like):
    if _f32(like):
        # float32 data: the float64 differences are exact where they matter (nearly equal
        # rows), and small: plain sums lose nothing the float32 result would keep
        return lambda buf, m, like: block_sum(buf, m)

    def neumaier(buf, m, like):
        # float64 data: compensated, since for nearly equal rows this sum (the rows' own
        # rounding) is the value's leading part, and the reference sums it error-free
        s = 0.0
        c = 0.0
        for j in range(m):
            x = buf[j]
            t = s + x
            c += ((s - t) + x) if abs(s) >= abs(x) else ((x - t) + s)
            s = t
        return s + c
    return neumaier


@inline
def _in_tol(s, tau):
    return abs(s - 1.0) <= tau  # False for NaN


@inline
def _log1p_rest(r, like):
    """log(1 + r) for r >= 0 (once per row: _fastmath's accuracy)."""
    return log1p_for(r, like) if r <= 1.0 else log_for(1.0 + r, like)


# ---------------------------------------------------------------------------------------
# per-row reductions over a block of rows
# ---------------------------------------------------------------------------------------
@_helper
def _seg_sums(buf, m, j0, C, out):
    """out[k] += the sum of buf[i], i < m, over the entries of row k (buf[i] is entry j0 + i
    of the block; out holds finite values). Short rows (whole rows in buf, j0 = 0): four rows
    at a time, summed in out's dtype (float64 for sums that enter a value, the data's dtype
    for sums that are only checked, as in _rows_sum_to_one)."""
    if C <= _SHORT:
        nr = m // C
        z = out[0] - out[0]  # 0 in out's dtype
        k = 0
        while k + 4 <= nr:
            b4 = buf[k * C:(k + 4) * C]  # a view: its indices are known to be >= 0 (no wraparound code)
            a0 = a1 = a2 = a3 = z
            for c in range(C):
                a0 += b4[c]
                a1 += b4[C + c]
                a2 += b4[2 * C + c]
                a3 += b4[3 * C + c]
            out[k] += a0
            out[k + 1] += a1
            out[k + 2] += a2
            out[k + 3] += a3
            k += 4
        while k < nr:
            br = buf[k * C:(k + 1) * C]
            a0 = z
            for c in range(C):
                a0 += br[c]
            out[k] += a0
            k += 1
    else:
        j = 0
        while j < m:
            k = (j0 + j) // C
            e = min(m, (k + 1) * C - j0)
            out[k] += block_sum(buf[j:e], e - j)
            j = e


@_helper
def _count_outside(xb, n, lo, hi):
    """How many of xb[:n] are not in [lo, hi] (NaN included)."""
    bad = 0
    for i in range(n):
        v = xb[i]
        bad += not ((v >= lo) & (v <= hi))
    return bad


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
# logits: SCCE and CCE
# ---------------------------------------------------------------------------------------
@_helper
def _exps(zb, m, zmin, eb, gb, grad, like):
    """eb[i] = e^zb[i] where zb[i] < 0, else 0 (the maxima: rest's sum leaves them out), and
    with ``grad`` gb[i] = e^zb[i] (1 at the maxima); 0 below zmin (float32's underflow)."""
    if grad:
        for i in range(m):
            z = zb[i]
            e = exp_for(z, like) if z >= zmin else 0.0
            eb[i] = e if z < 0.0 else 0.0
            gb[i] = e
    else:
        for i in range(m):
            z = zb[i]
            e = exp_for(z, like) if z >= zmin else 0.0
            eb[i] = e if z < 0.0 else 0.0


@_helper
def _long_max(xr, C):
    """The maximum of a long row, eight running maxima (NaN is rejected before)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = xr[0]
    c = 0
    while c + 8 <= C:
        a0 = max(a0, xr[c])
        a1 = max(a1, xr[c + 1])
        a2 = max(a2, xr[c + 2])
        a3 = max(a3, xr[c + 3])
        a4 = max(a4, xr[c + 4])
        a5 = max(a5, xr[c + 5])
        a6 = max(a6, xr[c + 6])
        a7 = max(a7, xr[c + 7])
        c += 8
    while c < C:
        a0 = max(a0, xr[c])
        c += 1
    return max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))


@_helper
def _softmax_rows(xb, tb, nr, C, zmin, zb, eb, vb, mx, rest, ssum, vsum, gb, grad, dense):
    """Row quantities of log-softmax for the block's nr rows (_math._max_and_log1p_rest):
    mx[k], the row's maximum, and rest[k] = sum_{x < max} e^(x - max) + (ties - 1), the sum
    without its leading 1, so a dominant class keeps its tiny remainder. With ``grad``,
    gb = e^(x - max) (1 at the maxima); with ``dense`` targets tb, ssum[k] = sum_c t_c and
    vsum[k] = sum_c t_c (max - x_c) (non-negative terms).

    Rows of at most BLOCK entries: each row's max and its shifted entries x - max (exact in
    float64 for float32 data) go to zb, then one flat pass of exponentials over the block
    and the per-row sums. Longer rows (one per block): the max, then chunks of BLOCK."""
    n = nr * C
    rest[:nr] = 0.0
    ssum[:nr] = 0.0
    vsum[:nr] = 0.0
    like = xb[0]
    if C <= BLOCK:
        for k in range(nr):
            xr = xb[k * C:(k + 1) * C]
            zr = zb[k * C:(k + 1) * C]
            m = xr[0]
            for c in range(C):
                v = xr[c]
                m = v if v > m else m
            mf = np.float64(m)
            ties = 0
            for c in range(C):
                z = np.float64(xr[c]) - mf
                zr[c] = z
                ties += z == 0.0
            mx[k] = mf
            rest[k] = ties - 1.0
        _exps(zb, n, zmin, eb, gb, grad, like)
        _seg_sums(eb, n, 0, C, rest)
        if dense:
            for i in range(n):
                vb[i] = np.float64(tb[i]) * -zb[i]
            _seg_sums(tb, n, 0, C, ssum)
            _seg_sums(vb, n, 0, C, vsum)
    else:
        for k in range(nr):  # one row
            xr = xb[k * C:(k + 1) * C]
            m = _long_max(xr, C)
            ties = 0
            for c in range(C):
                ties += xr[c] == m
            mf = np.float64(m)
            mx[k] = mf
            acc = ties - 1.0
            for j0 in range(0, C, BLOCK):
                mm = min(BLOCK, C - j0)
                xc = xr[j0:j0 + mm]
                for i in range(mm):
                    zb[i] = np.float64(xc[i]) - mf
                _exps(zb, mm, zmin, eb, gb[k * C + j0:k * C + j0 + mm], grad, like)
                acc += block_sum(eb, mm)
                if dense:
                    tc = tb[k * C + j0:k * C + j0 + mm]
                    for i in range(mm):
                        vb[i] = np.float64(tc[i]) * -zb[i]
                    ssum[k] += block_sum(tc, mm)
                    vsum[k] += block_sum(vb, mm)
            rest[k] = acc


@jit
def _scce_logits(lab, x, g, scale, C, lmax, zmin, grad):
    """SCCE on logits: per row log1p(rest) + (max - x_y); gradient softmax(x) - onehot(y), the
    true class as -(1 - p_y) (rest / (1 + rest) at a maximum: no cancellation).
    Domain: labels in [0, C), finite logits within +-lmax."""
    rows = x.size // C
    rb = max(1, BLOCK // C)
    w = min(BLOCK, rb * C)
    zb = np.empty(w)
    eb = np.empty(w)
    mx = np.empty(rb)
    rest = np.empty(rb)
    unused = np.empty(rb)
    vals = np.empty(rb)
    total = 0.0
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * C, nr * C
        xb = x[b0:b0 + n]
        bad = _count_outside(xb, n, -lmax, lmax)
        for k in range(nr):
            y = np.int64(lab[r0 + k])
            bad += (y < 0) | (y >= C)
        if bad:
            return NAN
        gb = g[b0:b0 + n] if grad else g
        _softmax_rows(xb, xb, nr, C, zmin, zb, eb, eb, mx, rest, unused, unused, gb, grad, False)
        for k in range(nr):
            y = np.int64(lab[r0 + k])
            vals[k] = _log1p_rest(rest[k], xb[0]) - (np.float64(xb[k * C + y]) - mx[k])
        total += block_sum(vals, nr)
        if grad:
            for k in range(nr):
                y = np.int64(lab[r0 + k])
                inv = 1.0 / (1.0 + rest[k])
                si = scale * inv
                gr = gb[k * C:(k + 1) * C]
                ey = np.float64(gr[y])  # e^(x_y - max): 1 at a maximum
                for c in range(C):
                    gr[c] = gr[c] * si
                u = rest[k] * inv if ey == 1.0 else 1.0 - ey * inv
                gr[y] = -u * scale
    return total


@jit
def _cce_logits(t, x, g, scale, C, lmax, zmin, tau, grad):
    """CCE on logits against target rows t >= 0 summing to 1: per row
    S log1p(rest) + sum_c t_c (max - x_c) (both parts non-negative), S = sum_c t_c; gradient
    (S - t_c) p_c - t_c (1 - p_c), with 1 - p = rest / (1 + rest) where e^(x - max) = 1.
    Domain: finite logits within +-lmax, t >= 0, rows of t summing to 1."""
    rows = x.size // C
    rb = max(1, BLOCK // C)
    w = min(BLOCK, rb * C)
    zb = np.empty(w)
    eb = np.empty(w)
    vb = np.empty(w)
    mx = np.empty(rb)
    rest = np.empty(rb)
    ssum = np.empty(rb)
    vsum = np.empty(rb)
    vals = np.empty(rb)
    total = 0.0
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * C, nr * C
        xb, tb = x[b0:b0 + n], t[b0:b0 + n]
        if _count_outside(xb, n, -lmax, lmax) + _count_outside(tb, n, 0.0, 2.0):
            return NAN
        gb = g[b0:b0 + n] if grad else g
        _softmax_rows(xb, tb, nr, C, zmin, zb, eb, vb, mx, rest, ssum, vsum, gb, grad, True)
        ok = 0
        for k in range(nr):
            ok += _in_tol(ssum[k], tau)
            vals[k] = ssum[k] * _log1p_rest(rest[k], xb[0]) + vsum[k]
        if ok != nr:
            return NAN
        total += block_sum(vals, nr)
        if grad:
            for k in range(nr):
                inv = 1.0 / (1.0 + rest[k])
                ui = rest[k] * inv
                s = ssum[k]
                gr = gb[k * C:(k + 1) * C]
                tr = tb[k * C:(k + 1) * C]
                for c in range(C):
                    e = np.float64(gr[c])
                    a = np.float64(tr[c])
                    pc = e * inv
                    u = ui if e == 1.0 else 1.0 - pc
                    gr[c] = ((s - a) * pc - a * u) * scale
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
    if flags != [False, False, True, False]:
        return None
    dt, C = common
    if not isinstance(y_true, np.ndarray) or y_true.dtype != dt or y_true.shape != y_pred.shape:
        return None
    return _make_plan(_kl_prob, dt, C, (_floor(dt), _half_tol(dt, C)), True)


PLANNERS = {
    "categorical_cross_entropy": _cce_planner,
    "sparse_categorical_cross_entropy": _scce_planner,
    "kl_divergence": _kl_planner,
}
