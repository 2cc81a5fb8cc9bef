"""The loops every fused kernel shares.

A kernel's per-element work is a small inlined function; the drivers here run it over a box in
blocks of ``BLOCK`` elements. Each block's values go to a small buffer in the data's dtype,
summed there by :func:`values_sum` (in vector lanes, so neither loop has a serial dependency),
then added to the float64 total. The order of every addition is fixed by the box
alone, so results never depend on threads.

Domain: an element function returns NaN as its value for an element outside its kernel's
domain, so one non-finite total says "not handled" (the total of finite values can only
overflow to inf where the reference would give inf too; that box then also goes to the
reference).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

BLOCK = 512
NAN = math.nan
NAN32 = np.float32(math.nan)  # added to a float32 value, the result stays float32 (NAN would make it float64)

jit = nb.njit(nogil=True, cache=True, error_model="numpy")  # numpy error model: x / 0 is inf, no check
inline = nb.njit(inline="always", cache=True, error_model="numpy")


# Reassociation is allowed in this one function and nowhere else: the compiler then sums in
# vector lanes (4 ns -> 0.4 per element of MSE measured: the eight scalar running sums it
# replaced did not vectorise). Its order is fixed once compiled, so a total still depends on
# the buffer alone, never on threads; the kernels' element arithmetic stays exact IEEE (numba
# would apply these flags to anything inlined at its level, so LLVM inlines it instead).
@nb.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def block_sum(buf, m):
    """Sum of ``buf[:m]`` in float64."""
    s = 0.0
    for j in range(m):
        s += np.float64(buf[j])
    return s


@nb.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})
def values_sum(buf, m):
    """Sum of the non-negative per-element values ``buf[:m]`` in buf's own dtype, as float64.

    For float32 values this doubles the vector lanes of :func:`block_sum` (MSE at 1e7 float32
    on 2 threads: 1.9 -> 1.6 ms measured). Each lane adds at most BLOCK / 16 = 32 values, so a
    block's relative error stays under 36 float32 ulp for non-negative values (measured: under
    5 on constant, uniform and skewed blocks); blocks are then added in float64, where their
    independent errors average out (the totals agree with a float64 sum to ~1e-9).
    """
    s = buf.dtype.type(0)
    for j in range(m):
        s += buf[j]
    return np.float64(s)


@inline
def _no_hard(t, p, params):
    """The ``hard`` of kernels without one (never run; inlining ``element`` twice instead
    trips numba's SSA check)."""
    return p + NAN32, p


def elementwise_kernels(element, hard=None):
    """``(value, value_grad)`` box kernels running ``element(t, p, params) -> (value, gradient)``:

    - ``value(t, p, params)``: the float64 sum of the values;
    - ``value_grad(t, p, g, scale, params)``: the same, also writing ``g[i] = scale * gradient``
      (in g's dtype).

    ``hard``: a cheaper element function for labels of exactly 0 or 1 (BCE's single
    logarithm) with ``element``'s bits there, and NaN as its value for any other label. Each
    block tries it first; a block it gives NaN is run again with ``element``, which then
    also runs the rest of the box (soft labels pay for one wasted block per box, not a label
    check per block: that check cost as much as a third of the hard element).

    Built per element function, with the element as a closure constant: numba inlines it
    into the loop only then (passed as an argument it stays a call, and the loop does not
    vectorise: 40 vs 9 ns per element measured for BCE on logits). Closures are not cached
    on disk, so each process compiles these on first use (~1 s each).
    """
    has_hard = hard is not None
    hard = _no_hard if hard is None else hard  # a closure constant either way; unused without has_hard

    @nb.njit(nogil=True, error_model="numpy")
    def value(t, p, params):
        n = p.size
        buf = np.empty(BLOCK, dtype=p.dtype)  # values in the data's dtype, as the reference
        total = 0.0
        try_hard = has_hard
        for start in range(0, n, BLOCK):
            m = min(BLOCK, n - start)
            tb, pb = t[start:start + m], p[start:start + m]  # block views: contiguous vector loads
            if try_hard:
                for j in range(m):
                    v, _ = hard(tb[j], pb[j], params)
                    buf[j] = v
                s = values_sum(buf, m)
                if not math.isnan(s):
                    total += s
                    continue
                try_hard = False
            for j in range(m):
                v, _ = element(tb[j], pb[j], params)
                buf[j] = v
            total += values_sum(buf, m)
        return total

    @nb.njit(nogil=True, error_model="numpy")
    def value_grad(t, p, g, scale, params):
        n = p.size
        buf = np.empty(BLOCK, dtype=p.dtype)  # values in the data's dtype, as the reference
        total = 0.0
        try_hard = has_hard
        for start in range(0, n, BLOCK):
            m = min(BLOCK, n - start)
            tb, pb, gb = t[start:start + m], p[start:start + m], g[start:start + m]
            if try_hard:
                for j in range(m):
                    v, d = hard(tb[j], pb[j], params)
                    buf[j] = v
                    gb[j] = d * scale
                s = values_sum(buf, m)
                if not math.isnan(s):
                    total += s
                    continue
                try_hard = False
            for j in range(m):
                v, d = element(tb[j], pb[j], params)
                buf[j] = v
                gb[j] = d * scale
            total += values_sum(buf, m)
        return total

    return value, value_grad


def finite_or_none(total):
    """The box total as a Python float, or None (not handled) when it is not finite."""
    total = float(total)
    return total if math.isfinite(total) else None
