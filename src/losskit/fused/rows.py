"""Row-level helpers of the distribution kernels (:mod:`.distribution`, :mod:`.logits`): the
per-element terms chosen by the data's dtype when a kernel compiles, and per-row reductions
over a block of rows. See :mod:`.distribution` for the layout, domains and accuracy."""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import types
from numba.extending import overload

from .._array.stable import BREGMAN_TERMS
from .driver import block_sum, inline
from .fastmath import log as fast_log
from .fastmath import log1p_for, log64, log_for

# row-level helpers: compiled as functions of their own (LLVM still inlines them), not
# inlined into each kernel by numba, which halved the cold compile time (~40 s for all)
_helper = nb.njit(nogil=True, cache=True, error_model="numpy")

_SHORT = 32  # rows up to this length are reduced four at a time

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


@inline
def _horner_low(g, z):
    """``g z^8 + G_7 z^7 + ... + G_0``: the last eight Horner steps of the Bregman series' G(z),
    written out (a loop here would stay a loop in the vectorised one)."""
    g = g * z + _G[7]
    g = g * z + _G[6]
    g = g * z + _G[5]
    g = g * z + _G[4]
    g = g * z + _G[3]
    g = g * z + _G[2]
    g = g * z + _G[1]
    return g * z + _G[0]


@inline
def _horner8(z):
    """The first 8 terms of G(z) (float32 data): 0 z + G_7 is G_7 for the finite z = u^2 <= 1."""
    return _horner_low(0.0, z)


@inline
def _horner18(z):
    """The 18 terms of G(z) (float64 data), Horner's steps from G_17 down."""
    g = _G[17]
    g = g * z + _G[16]
    g = g * z + _G[15]
    g = g * z + _G[14]
    g = g * z + _G[13]
    g = g * z + _G[12]
    g = g * z + _G[11]
    g = g * z + _G[10]
    g = g * z + _G[9]
    g = g * z + _G[8]
    return _horner_low(g, z)


def bregman_g(z, like):
    """G(z) of the Bregman series to the reference's length for the data's dtype
    (``_array.stable.BREGMAN_TERMS``: 8 terms for float32 data, 18 for float64)."""


assert BREGMAN_TERMS == {32: 8, 64: 18}, "bregman_g's lengths are the reference's"
overload(bregman_g, inline="always")(
    lambda z, like: (lambda z, like: _horner8(z)) if _f32(like) else (lambda z, like: _horner18(z)))


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
    g = _horner18(z)
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


def sum_minus_one(t, m, like):
    """``sum(t[:m]) - 1`` for targets ``t >= 0`` summing to about 1, to within a rounding of the
    result (a row of nearly equal distributions is of the size of its targets' own rounding)."""


_EXACT32 = 2.0 ** -29  # float32 values from here on are multiples of 2**-52: their sums below 2 are exact


@nb.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def _sum_minus_one32(t, m):
    # float32 targets of at least 2**-29 sum exactly in float64, in any order (partial sums below
    # 2 are multiples of 2**-52), so the lanes may reassociate; the smaller ones, below 2e-6 in
    # all, err by ~1e-22. big - 1 is exact (Sterbenz), then one rounding.
    big = 0.0
    small = 0.0
    for j in range(m):
        a = np.float64(t[j])
        exact = a >= _EXACT32
        big += a if exact else 0.0
        small += 0.0 if exact else a
    return (big - 1.0) + small


@_helper
def _sum_minus_one64(t, m):
    # float64 targets: a compensated sum (TwoSum, its error terms carried apart), serial
    s = -1.0
    c = 0.0
    for j in range(m):
        a = t[j]
        sa = s + a
        bb = sa - s
        c += (s - (sa - bb)) + (a - bb)
        s = sa
    return s + c


overload(sum_minus_one, inline="always")(
    lambda t, m, like: (lambda t, m, like: _sum_minus_one32(t, m)) if _f32(like)
    else (lambda t, m, like: _sum_minus_one64(t, m)))


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
