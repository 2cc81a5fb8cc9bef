"""Numerically stable primitives the array API standard lacks.

Each takes the namespace ``xp`` as a keyword and says in one line why it is stable.
All are branch-free (``where`` instead of Python ``if``), so they trace under ``jax.jit``
and build lazy Dask graphs.
"""

from __future__ import annotations

__all__ = [
    "softplus",
    "log_sigmoid",
    "sigmoid",
    "logsumexp",
    "log_softmax",
    "softmax",
    "xlogy",
    "bregman_kl",
    "clamp",
    "logistic_parts",
]


def clamp(x, lo=None, hi=None, *, xp):
    """``clip`` that accepts ``None`` bounds and keeps the dtype."""
    if lo is None and hi is None:
        return x
    return xp.clip(x, min=lo, max=hi)


def softplus(x, *, xp):
    """log(1 + e^x) as max(x, 0) + log1p(e^-|x|): exp never overflows, and log1p keeps
    the tiny values at large negative x (softplus(-40) = 4.2e-18, not 0). Both pieces are
    written with ``where`` rather than ``abs``/``maximum`` so autodiff is exact at x = 0
    to every order (abs's derivative 0 there would zero the Hessian)."""
    pos = x >= 0
    zero = xp.zeros_like(x)
    return xp.where(pos, x, zero) + xp.log1p(xp.exp(xp.where(pos, -x, x)))


def log_sigmoid(x, *, xp):
    """log(sigmoid(x)) = -softplus(-x), finite for every finite x."""
    return -softplus(-x, xp=xp)


def sigmoid(x, *, xp):
    """1 / (1 + e^-x) evaluated with e^-|x| so neither branch overflows (``where`` instead of
    ``abs`` keeps autodiff exact at x = 0)."""
    pos = x >= 0
    e = xp.exp(xp.where(pos, -x, x))
    return xp.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))


def _max_and_log1p_rest(x, axis, *, xp):
    """Split logsumexp(x) = m + log1p(rest) with m = max(x) and rest = sum(e^(x - m)) - 1
    summed without the leading 1, so a dominant class keeps the tiny remainder
    (logsumexp([40, 0, 0]) - 40 = 8.5e-18 instead of 0)."""
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    z = x - m
    below = xp.where(z < 0, xp.exp(z), xp.zeros_like(z))
    ties = xp.astype(z == 0, x.dtype)
    rest = xp.sum(below, axis=axis, keepdims=True) + (xp.sum(ties, axis=axis, keepdims=True) - 1.0)
    return m, xp.log1p(rest)


def logsumexp(x, axis=-1, *, keepdims=False, xp):
    """log(sum(e^x)) along ``axis``: shifted by the max (no overflow) and log1p of the
    remainder (no loss of the small terms next to a dominant one)."""
    m, l1p = _max_and_log1p_rest(x, axis, xp=xp)
    out = m + l1p
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(x, axis=-1, *, xp):
    """x - logsumexp(x), written as (x - m) - log1p(rest) so the dominant class's
    log-probability keeps full relative accuracy."""
    m, l1p = _max_and_log1p_rest(x, axis, xp=xp)
    return (x - m) - l1p


def softmax(x, axis=-1, *, xp):
    """exp(log_softmax(x)): no overflow, and each probability correctly rounded-ish."""
    return xp.exp(log_softmax(x, axis, xp=xp))


def xlogy(x, y, *, xp):
    """x * log(y) with 0 * log(0) = 0 exactly (the 0 log 0 of one-hot targets)."""
    zero = x == 0
    safe_y = xp.where(zero, xp.ones_like(y), y)
    return xp.where(zero, xp.zeros_like(x), x * xp.log(safe_y))


# Coefficients c_j of P(u) = sum_j c_j u^j with (1 + u) atanh(u) - u = u^2 P(u):
# c_0 = 1, c_1 = c_2 = 1/3, c_3 = c_4 = 1/5, ...  36 terms reach double precision for |u| <= 1/3.
_BREGMAN_COEFFS = tuple(1.0 / (2 * ((j + 1) // 2) + 1) for j in range(36))


def bregman_kl(t, q, *, xp):
    """t log(t/q) - t + q >= 0 for t >= 0, q > 0: the generalised KL term.

    Written as q f(r) with r = (t - q)/q and f(r) = (1 + r) log1p(r) - r. For nearly
    equal t and q (r in [-1/2, 1]) f is summed as a series in u = r/(2 + r), because the
    direct form subtracts two numbers that agree in most of their digits; t - q is exact
    there (Sterbenz). Outside that range the direct form loses at most ~2 bits.
    """
    r = (t - q) / q
    u = r / (2.0 + r)
    p = xp.zeros_like(u) + _BREGMAN_COEFFS[-1]
    for c in reversed(_BREGMAN_COEFFS[:-1]):
        p = p * u + c
    series = 2.0 * u * u * p / (1.0 - u)
    near = (r >= -0.5) & (r <= 1.0)
    safe_r = xp.where(near | (t == 0), xp.ones_like(r), r)
    direct = (1.0 + safe_r) * xp.log1p(safe_r) - safe_r
    f = xp.where(near, series, xp.where(t == 0, xp.ones_like(r), direct))
    return q * f


def logistic_parts(x, *, xp):
    """``(softplus(x), softplus(-x), sigmoid(x), sigmoid(-x))`` from one ``e = exp(-|x|)``.

    Stable like :func:`softplus` and :func:`sigmoid` (exp never overflows, log1p keeps the
    tails), and each branch is written as an analytic function of ``x`` (``-|x|`` is
    ``where(x >= 0, -x, x)``, not ``-abs(x)``), so autodiff of anything built on these parts
    is exact at ``x == 0`` too, to every order (``abs``'s derivative 0 at 0 would drop terms).
    """
    pos = x >= 0
    zero = xp.zeros_like(x)
    e = xp.exp(xp.where(pos, -x, x))
    l1 = xp.log1p(e)
    inv = 1.0 / (1.0 + e)
    small = e * inv
    sp_pos = xp.where(pos, x, zero) + l1
    sp_neg = xp.where(pos, zero, -x) + l1
    return sp_pos, sp_neg, xp.where(pos, inv, small), xp.where(pos, small, inv)
