"""log and exp for the float32 kernels: float64 arithmetic on float64 bits, no libm call, so
the compiler vectorises the loops that use them (a libm ``logf`` per element does not
vectorise and costs ~9 ns; these cost ~1-2 ns).

Accuracy: relative error below 1e-11 over their domains, so a float32 result computed with
them and rounded once is within an ulp of the correctly rounded one. They are for float32
data only: float64 kernels call ``math.log``/``math.exp``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import types
from numba.extending import overload

_LN2 = 0.6931471805599453
_LN2_HI = 0.693145751953125  # ln 2 in 16 bits: k * _LN2_HI is exact for |k| < 2**37
_LN2_LO = 1.4286068203094173e-06  # ln 2 - _LN2_HI
_INV_LN2 = 1.4426950408889634
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # the float64 bits of sqrt(1/2)
_EXP_MIN = -700.0
_ROUND_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer  # below this, exp is under 1e-304: it rounds to 0 in float32 anyway


@nb.njit(inline="always", cache=True, error_model="numpy")
def log1p_near0(f):
    """log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: 2 atanh(s), s = f / (2 + f), |s| < 0.172,
    by its series to s**13 (the next term is below 1.3e-12 relative)."""
    s = f / (2.0 + f)
    z = s * s
    return 2.0 * s * (1.0 + z * (1.0 / 3 + z * (1.0 / 5 + z * (1.0 / 7 + z * (1.0 / 9 + z * (1.0 / 11 + z * (1.0 / 13)))))))


@nb.njit(inline="always", cache=True, error_model="numpy")
def log(x):
    """log(x) for a positive normal float64 x: x = 2**e m with m in [sqrt(1/2), sqrt(2)),
    read from the bits, then e ln 2 + log1p(m - 1) (m - 1 is exact)."""
    b = np.float64(x).view(np.int64)
    e = (b - _SQRT_HALF_BITS) >> 52
    m = np.int64(b - (e << 52)).view(np.float64)
    return e * _LN2 + log1p_near0(m - 1.0)


@nb.njit(inline="always", cache=True, error_model="numpy")
def log1p_unit(z):
    """log(1 + z) for z in [0, 1], without forming 1 + z: above sqrt(2) - 1 it is
    ln 2 + log1p((z - 1) / 2)."""
    big = z > 0.41421356237309503
    f = (z - 1.0) * 0.5 if big else z
    return (_LN2 if big else 0.0) + log1p_near0(f)


@nb.njit(inline="always", cache=True, error_model="numpy")
def exp(y):
    """exp(y) for y <= 709 (values below -700 give exp(-700) ~ 1e-304, 0 in float32):
    y = k ln 2 + r with |r| <= ln 2 / 2, exp(r) by its Taylor series to r**11, 2**k from bits.
    k is rounded by adding 1.5 * 2**52 (its low bits are then k itself): no libm floor call."""
    y = max(y, _EXP_MIN)
    shifted = y * _INV_LN2 + _ROUND_SHIFT
    k = shifted - _ROUND_SHIFT
    r = (y - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720 + r * (
        1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800)))))))))))
    # the low 12 bits of shifted's bits hold k + 1023 in [323, 1732] once 1023 is added
    scale = np.int64((np.float64(shifted).view(np.int64) + 1023) << 52).view(np.float64)
    return p * scale


# -- by the data's dtype: these for float32 data, libm for float64 --------------------------
# ``like`` is any value of the data's dtype; the choice is made when the kernel compiles.
def log_for(x, like):
    """log(x) (a positive normal float64) for data of ``like``'s dtype."""


def log1p_for(z, like):
    """log(1 + z), z in [0, 1], for data of ``like``'s dtype."""


def exp_for(y, like):
    """exp(y) for data of ``like``'s dtype."""


def _by_dtype(fast, libm):
    def typer(x, like):
        return (lambda x, like: fast(x)) if like == types.float32 else (lambda x, like: libm(x))
    return typer


overload(log_for, inline="always")(_by_dtype(log, math.log))
overload(log1p_for, inline="always")(_by_dtype(log1p_unit, math.log1p))
overload(exp_for, inline="always")(_by_dtype(exp, math.exp))
