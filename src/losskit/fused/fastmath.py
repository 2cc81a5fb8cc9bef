"""log and exp for the fused kernels, from the bits and a short series, with no libm call, so
the compiler vectorises the loops that use them (a libm ``logf`` per element does not
vectorise and costs ~9 ns; these cost ~0.5-1 ns).

Three kinds:

- ``log``, ``exp``, ``log1p_unit``: float64 arithmetic for float32 data, relative error below
  2e-9 (1e-11 for ``log1p_unit``, used once per row), so a float32 result computed with them
  and rounded once is within an ulp of the correctly rounded one; ``log_for`` and friends
  choose them for float32 data;
- ``log32``, ``exp32``, ``log1p32``, ``log_or_log1m32``: float32 arithmetic (twice the
  lanes), within 1.3-4 ulp like NumPy's own float32 functions; ``log_data`` and friends
  choose them for float32 data;
- ``log64``, ``exp64``, ``log1p64``: float64 data, within 1-2 ulp of libm; the ``_for``
  and ``_data`` choosers take them for float64 data (``log1p_for``, once per row, and
  subnormal arguments stay libm's)."""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import types
from numba.extending import overload

# Compiled as functions of their own, with multiply-adds contracted into FMA instructions
# (fewer roundings, and 20% faster: a float32 log 0.55 -> 0.43 ns measured); LLVM inlines them
# into the kernels' loops, keeping that flag on their own operations only, so the kernels'
# arithmetic stays exact IEEE (numba would give an inlined function its caller's flags).
_fast = nb.njit(cache=True, error_model="numpy", fastmath={"contract"})

_LN2 = 0.6931471805599453
_LN2_HI = 0.693145751953125  # ln 2 in 16 bits: k * _LN2_HI is exact for |k| < 2**37
_LN2_LO = 1.4286068203094173e-06  # ln 2 - _LN2_HI
_INV_LN2 = 1.4426950408889634
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # the float64 bits of sqrt(1/2)
_EXP_MIN = -700.0  # below this, exp is under 1e-304: it rounds to 0 in float32 anyway
_ROUND_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer


@_fast
def log1p_near0(f):
    """log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: 2 atanh(s), s = f / (2 + f), |s| < 0.172,
    by its series to s**13 (the next term is below 1.3e-12 relative)."""
    s = f / (2.0 + f)
    z = s * s
    return 2.0 * s * (1.0 + z * (1.0 / 3 + z * (1.0 / 5 + z * (1.0 / 7 + z * (1.0 / 9 + z * (1.0 / 11 + z * (1.0 / 13)))))))


@_fast
def log(x):
    """log(x) for a positive normal float64 x: x = 2**e m with m in [sqrt(1/2), sqrt(2)),
    read from the bits, then e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1), by its series to s**9
    in Estrin's form (|s| < 0.172: the next term is below 2e-9 relative, 0 at x = 1)."""
    b = np.float64(x).view(np.int64)
    e = (b - _SQRT_HALF_BITS) >> 52
    f = np.int64(b - (e << 52)).view(np.float64) - 1.0
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    return e * _LN2 + (2.0 * s) * ((1.0 + z * (1.0 / 3)) + z2 * ((1.0 / 5 + z * (1.0 / 7)) + z2 * (1.0 / 9)))


@_fast
def log1p_unit(z):
    """log(1 + z) for z in [0, 1], without forming 1 + z: above sqrt(2) - 1 it is
    ln 2 + log1p((z - 1) / 2)."""
    big = z > 0.41421356237309503
    f = (z - 1.0) * 0.5 if big else z
    return (_LN2 if big else 0.0) + log1p_near0(f)


@_fast
def exp(y):
    """exp(y) for y <= 709 (values below -700 give exp(-700) ~ 1e-304, 0 in float32):
    y = k ln 2 + r with |r| <= ln 2 / 2, exp(r) by its Taylor series to r**7 in Estrin's form
    (relative error below 1e-8), 2**k from bits. k is rounded by adding 1.5 * 2**52 (its low
    bits are then k itself): no libm floor call."""
    y = max(y, _EXP_MIN)
    shifted = y * _INV_LN2 + _ROUND_SHIFT
    k = shifted - _ROUND_SHIFT
    r = (y - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    p = ((1.0 + r) + r2 * (0.5 + r * (1.0 / 6))) + (r2 * r2) * (
        (1.0 / 24 + r * (1.0 / 120)) + r2 * (1.0 / 720 + r * (1.0 / 5040)))
    # the low 12 bits of shifted's bits hold k + 1023 in [323, 1732] once 1023 is added
    return p * np.int64((np.float64(shifted).view(np.int64) + 1023) << 52).view(np.float64)


# -- log for float64 data: float64's precision, vectorisable ---------------------------------
_LN2_HI64 = 6.93147180369123816490e-01  # ln 2 with its low 32 bits zero: e * _LN2_HI64 is exact
_LN2_LO64 = 1.90821492927058770002e-10  # ln 2 - _LN2_HI64
_A0, _A1, _A2, _A3, _A4, _A5, _A6, _A7, _A8, _A9 = (2.0 / (2 * k + 3) for k in range(10))


@_fast
def log64(x):
    """log(x) for a positive normal float64 x within 1 ulp of libm's (4x faster, and the loops
    using it vectorise): as :func:`log`, with the series of 2 atanh(s) to s**21 (|s| < 0.172:
    the next term is below 1e-17 relative), 2s taken as f - s f to keep its rounding small."""
    b = np.float64(x).view(np.int64)
    e = (b - _SQRT_HALF_BITS) >> 52
    f = np.int64(b - (e << 52)).view(np.float64) - 1.0
    s = f / (2.0 + f)
    z = s * s
    q = _A9 * z + _A8
    q = q * z + _A7
    q = q * z + _A6
    q = q * z + _A5
    q = q * z + _A4
    q = q * z + _A3
    q = q * z + _A2
    q = q * z + _A1
    q = q * z + _A0
    ef = np.float64(e)
    return ef * _LN2_HI64 + (ef * _LN2_LO64 + ((f - s * f) + s * (z * q)))


_X0, _X1, _X2, _X3, _X4, _X5, _X6, _X7, _X8, _X9, _X10, _X11, _X12, _X13 = (
    1.0 / math.factorial(k) for k in range(14))
_EXP_MIN64 = -746.0  # exp is below half the smallest subnormal float64 from -745.14 on


@_fast
def exp64(y):
    """exp(y) for a float64 y <= 709 within an ulp of libm (subnormal results included):
    y = k ln 2 + r with |r| <= ln 2 / 2, exp(r) by its Taylor series to r**13 (the next term
    is below 5e-18 relative), 2**k applied in two halves so each factor is a normal float64."""
    y = y if y > _EXP_MIN64 else _EXP_MIN64
    shifted = y * _INV_LN2 + _ROUND_SHIFT
    k = shifted - _ROUND_SHIFT
    r = (y - k * _LN2_HI64) - k * _LN2_LO64
    p = _X13 * r + _X12
    p = p * r + _X11
    p = p * r + _X10
    p = p * r + _X9
    p = p * r + _X8
    p = p * r + _X7
    p = p * r + _X6
    p = p * r + _X5
    p = p * r + _X4
    p = p * r + _X3
    p = p * r + _X2
    p = p * r + _X1
    p = p * r + _X0
    ki = np.int64(np.float64(shifted).view(np.int64) - np.float64(_ROUND_SHIFT).view(np.int64))  # k
    half = ki >> 1
    s1 = np.int64((half + 1023) << 52).view(np.float64)
    s2 = np.int64((ki - half + 1023) << 52).view(np.float64)
    return (p * s1) * s2


@_fast
def log1p64(z):
    """log(1 + z) for a float64 z in [0, 1]: log64 of u = 1 + z corrected by u's rounding error."""
    u = 1.0 + z
    return log64(u) - ((u - 1.0) - z) / u


# -- log in float32 arithmetic: eight lanes instead of four --------------------------------
_F32 = np.float32
_SQRT_HALF_BITS32 = np.int32(0x3F3504F3)  # the float32 bits of sqrt(1/2)
_LN2_HI32 = _F32(0.693145751953125)  # 16 bits: e * _LN2_HI32 is exact for |e| < 256
_LN2_LO32 = _F32(1.4286068203094173e-06)
_ONE32 = _F32(1.0)
_HALF32 = _F32(0.5)
# P(f) for log1p(f) = f - f**2 / 2 + f**3 P(f) on [sqrt(1/2) - 1, sqrt(2) - 1]: least squares in
# the relative error of log1p on 4000 Chebyshev nodes (computed in float64 against mpmath)
_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7 = (_F32(c) for c in (
    0.33333354047279157, -0.2500085194354297, 0.1999982657295684, -0.16621369910241374,
    0.1422711403587552, -0.13202104208907905, 0.12620327488866498, -0.07362867871316682))


@_fast
def _split32(x):
    """``(e, f)`` with x = 2**e (1 + f) and 1 + f in [sqrt(1/2), sqrt(2)), read from the bits
    of a positive normal float32 x (f = m - 1 is exact)."""
    b = np.float32(x).view(np.int32)
    e = np.int32((b - _SQRT_HALF_BITS32) >> 23)
    return e, np.int32(b - (e << 23)).view(np.float32) - _ONE32


@_fast
def _log_ef32(e, f):
    """e ln 2 + log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: f - f**2 / 2 + f**3 P(f), P of
    degree 7 fitted to log1p's relative error on that interval (7e-9 before float32 rounding)."""
    f2 = f * f
    q = _L7 * f + _L6
    q = q * f + _L5
    q = q * f + _L4
    q = q * f + _L3
    q = q * f + _L2
    q = q * f + _L1
    q = q * f + _L0
    ef = np.float32(e)
    return ef * _LN2_HI32 + (ef * _LN2_LO32 + ((f - _HALF32 * f2) + (f2 * f) * q))


@_fast
def log32(x):
    """log(x) in float32 arithmetic for a positive normal float32 x, within 1.3 ulp (NumPy's
    float32 log: 4), with no division."""
    e, f = _split32(x)
    return _log_ef32(e, f)


_P_SMALL32 = _F32(0.29289)  # just under 1 - sqrt(1/2): -p stays in _log_ef32's interval
_I0, _IM1 = np.int32(0), np.int32(-1)


@_fast
def log_or_log1m32(pos, x, p):
    """log(x) where ``pos``; else log(1 - p) for p in [0, 1], x being 1 - p rounded to float32
    or a floor above it. One logarithm either way, of an exact argument: 1 - p rounds for
    p < 1/2, so up to 1 - sqrt(1/2) it is log1p(-p), and up to 1/2 log1p(1 - 2p) - ln 2
    (1 - 2p is exact there: Sterbenz); above 1/2, 1 - p is exact and x is split as usual."""
    e, f = _split32(x)
    small = p <= _P_SMALL32
    mid = p <= _HALF32
    f1 = -p if small else ((_ONE32 - (p + p)) if mid else f)
    e1 = _I0 if small else (_IM1 if mid else e)
    return _log_ef32(e if pos else e1, f if pos else f1)


_INV_LN2_32 = _F32(1.4426950408889634)
_ROUND_SHIFT32 = _F32(12582912.0)  # 1.5 * 2**23: adding it rounds a float32 to an integer
_EXP_MIN32 = _F32(-104.0)  # exp is below half the smallest subnormal float32 from -103.98 on
_E2, _E3, _E4, _E5, _E6, _E7 = (_F32(1 / 2), _F32(1 / 6), _F32(1 / 24), _F32(1 / 120), _F32(1 / 720),
                                _F32(1 / 5040))


@_fast
def exp32(y):
    """exp(y) in float32 arithmetic for a float32 y <= 0, within 2 ulp (subnormal results
    included): as :func:`exp`, with the series to r**7 and 2**k applied in two halves so
    each factor is a normal float32."""
    y = y if y > _EXP_MIN32 else _EXP_MIN32
    shifted = y * _INV_LN2_32 + _ROUND_SHIFT32
    k = shifted - _ROUND_SHIFT32
    r = (y - k * _LN2_HI32) - k * _LN2_LO32
    p = _ONE32 + r * (_ONE32 + r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7))))))
    ki = np.int32(np.float32(shifted).view(np.int32) - np.float32(_ROUND_SHIFT32).view(np.int32))  # k
    half = np.int32(ki >> 1)
    s1 = np.int32((half + 127) << 23).view(np.float32)
    s2 = np.int32((ki - half + 127) << 23).view(np.float32)
    return (p * s1) * s2


@_fast
def log1p32(z):
    """log(1 + z) in float32 arithmetic for a float32 z in [0, 1]: log32 of u = 1 + z corrected
    by u's rounding error (the log1p trick), within 4 ulp (measured 3.3)."""
    u = _ONE32 + z
    return log32(u) - ((u - _ONE32) - z) / u


# -- chosen when a kernel compiles, by the data's dtype (float64: the ones above, or libm) ---
# ``*_for(x, like)``: float64 arithmetic for data of ``like``'s dtype (any value of the data);
# ``*_data(x)``: arithmetic in x's own dtype.
def log_for(x, like):
    """log(x) (a positive normal float64) for data of ``like``'s dtype."""


def log1p_for(z, like):
    """log(1 + z), z in [0, 1], for data of ``like``'s dtype."""


def exp_for(y, like):
    """exp(y) for data of ``like``'s dtype."""


def log_data(x):
    """log(x) in x's own dtype: :func:`log32` for float32, :func:`log64` for float64."""


def log_or_log1m_data(pos, x, p, u0):
    """log(x) where ``pos``, else log(1 - p), with u0 = 1 - p rounded and x = u0 or a floor
    above it, in p's dtype: :func:`log_or_log1m32` for float32; for float64 log64(x)
    less u0's rounding error to first order, ((u0 - 1) + p) / x (the log1p trick)."""


def log1p_data(x):
    """log(1 + x), x in [0, 1], in x's own dtype: :func:`log1p32` for float32, libm for float64."""


def exp_data(x):
    """exp(x), x <= 0, in x's own dtype: :func:`exp32` for float32, libm for float64."""


def _by_dtype(for32, for64):
    def typer(x, like):
        return (lambda x, like: for32(x)) if like == types.float32 else (lambda x, like: for64(x))
    return typer


def _in_own_dtype(for32, for64):
    def typer(x):
        return (lambda x: for32(x)) if x == types.float32 else (lambda x: for64(x))
    return typer


overload(log_for, inline="always")(_by_dtype(log, log64))
overload(log1p_for, inline="always")(_by_dtype(log1p_unit, math.log1p))
overload(exp_for, inline="always")(_by_dtype(exp, exp64))
overload(log_data, inline="always")(_in_own_dtype(log32, log64))


@overload(log_or_log1m_data)  # not inlined by numba (the branch trips its SSA check); LLVM inlines it
def _log_or_log1m_ov(pos, x, p, u0):
    if p == types.float32:
        return lambda pos, x, p, u0: log_or_log1m32(pos, x, p)

    def impl(pos, x, p, u0):
        return log64(x) - (0.0 if pos else ((u0 - 1.0) + p) / x)
    return impl
overload(log1p_data, inline="always")(_in_own_dtype(log1p32, log1p64))
overload(exp_data, inline="always")(_in_own_dtype(exp32, exp64))
