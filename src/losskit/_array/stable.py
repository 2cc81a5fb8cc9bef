"""Numerically stable primitives the array API standard lacks.

Each takes the namespace ``xp`` as a keyword and says in one line why it is stable.
All are branch-free (``where`` instead of Python ``if``), so they trace under ``jax.jit``
and build lazy Dask graphs.
"""

from __future__ import annotations

import math
import sys

from .lean import (
    torch_blocks,
    torch_exp_rest,
    torch_of,
    torch_rest,
    torch_row_blocks,
    torch_softmax,
    torch_untracked,
    torch_untracked_pair,
)

__all__ = [
    "positive_part",
    "softplus",
    "log_sigmoid",
    "sigmoid",
    "logsumexp",
    "log_softmax",
    "softmax",
    "xlogy",
    "bregman_kl",
    "bregman_kl_sums",
    "kl_logits_sums",
    "clamp",
    "logistic_parts",
    "softplus_pair",
    "sigmoid_pair",
    "sigmoid_slope",
    "inv_above",
    "sign",
    "neg_log_softmax_dot",
    "softmax_xent_grad",
    "sparse_softmax_xent_grad",
    "sparse_neg_log_softmax",
    "sparse_softmax_xent_value_grad",
    "softmax_xent_value_grad",
    "kl_logits_value_grad",
    "scaled_softmax_minus",
]


# ---------------------------------------------------------------------------------------
# JAX: under XLA elementwise work fuses into the passes around it, extra reductions and
# selects over the whole array do not (on CPU a max, a sum and the output pass fuse into one
# kernel only when the chain between them is plain arithmetic). These forms keep the same
# numbers with one max, two sums in one pass and no N x C ``where``.
# ---------------------------------------------------------------------------------------
def _jax_of(x):
    """jax when ``x`` is a JAX array or tracer (jax already imported), else None."""
    jax = sys.modules.get("jax")
    return jax if jax is not None and isinstance(x, jax.Array) else None


def constant(x):
    """``x`` as a constant of autodiff (torch's ``detach``, JAX's ``stop_gradient``), for a shift
    the result does not depend on (a softmax's max: ``x - m - log sum e^(x - m)`` is the same
    function of ``x`` for every constant ``m``, so its derivatives of every order are exact
    with ``m`` held, and the backward has no sums through the max to do)."""
    torch = torch_of(x)
    if torch is not None:
        return x.detach()
    jax = _jax_of(x)
    return x if jax is None else jax.lax.stop_gradient(x)


def _jax_rest(jnp, x, axis):
    """``(m, e, rest)`` of :func:`max_and_log1p_rest`: ``e = e^(x - m)`` and ``rest = sum(e) - 1``
    without the leading 1. ``e - floor(e)`` is 0 at the maxima (``e == 1``) and ``e`` below them,
    so its sum leaves them out, and ``round(total - below)`` counts them (both sums err by far
    less than 1/2). ``floor`` and ``round`` have derivative 0, so autodiff of ``rest`` is that of
    ``sum(e) - 1`` to every order. Rows with a non-finite max give NaN (``jax.nn.log_softmax``'s
    rule; a row-wise ``where`` there would split the fused pass)."""
    m = constant(jnp.max(x, axis=axis, keepdims=True))
    e = jnp.exp(x - m)
    total = jnp.sum(e, axis=axis, keepdims=True)
    below = jnp.sum(e - jnp.floor(e), axis=axis, keepdims=True)
    return m, e, below + (jnp.round(total - below) - 1.0)


def _jax_softmax_parts(jnp, x, axis):
    """``(e, rest, inv, u)``: ``p = e inv`` and ``u = (rest + (1 - e)) inv``, the accurate ``1 - p``
    (a sum of non-negative terms; ``1 - e`` is exactly 0 at the maxima, so there ``u = rest inv``).
    Both are shift-invariant functions of ``x``: autodiff of them is exact to every order."""
    _, e, rest = _jax_rest(jnp, x, axis)
    inv = 1.0 / (1.0 + rest)
    return e, rest, inv, (rest + (1.0 - e)) * inv


def _jax_hot(jnp, idx, x, ax):
    """The label column of ``x`` along ``ax`` as a boolean mask: ``idx`` (class ids holding ``ax``
    at size 1) against the class ``iota``, which XLA fuses into the pass that reads it."""
    shape = [1] * x.ndim
    shape[ax] = x.shape[ax]
    return idx == jnp.reshape(jnp.arange(x.shape[ax], dtype=idx.dtype), shape)


def sparse_neg_log_softmax(labels, x, axis=-1, *, xp):
    """``-log softmax(x)_y`` at the class ids ``labels`` (``x``'s shape without ``axis``; the axis
    kept, size 1) for JAX: ``(m - x_y) + log1p(other + expm1(x_y - m))`` with ``other`` the sum of
    ``e^(x - m)`` without the label's term. The remainder after the leading 1 is exact when the
    label holds the max (``expm1(0) = 0``) and a sum with ``other >= 1`` when it does not, from one
    sum where :func:`_jax_rest` takes two (XLA on CPU does not fuse two sums of one exponential).
    Untracked torch: from torch's fused softmax (see :func:`_sparse_xent_block`).
    None for other namespaces."""
    torch = torch_untracked(x)
    if torch is not None:
        return _sparse_xent_torch(torch, labels, x, axis, value=True, grad=False)[0]
    jax = _jax_of(x)
    if jax is None:
        return None
    jnp = jax.numpy
    ax = axis % x.ndim
    idx = jnp.clip(jnp.expand_dims(labels, ax), 0, max(x.shape[ax] - 1, 0))  # (as _common.gather)
    m = jnp.max(x, axis=ax, keepdims=True)
    x_y = jnp.take_along_axis(x, idx, axis=ax)
    # the label's term left out by a label mask before the exponential (e^-inf = 0): XLA:CPU fuses
    # it into the pass (a scatter of -inf into a copy of x: ~15% slower at 4096 x 1000)
    other = jnp.sum(jnp.exp(jnp.where(_jax_hot(jnp, idx, x, ax), -jnp.inf, x - m)), axis=ax, keepdims=True)
    z_y = x_y - m
    return jnp.log1p(other + jnp.expm1(z_y)) - z_y


def sign(x, *, xp):
    """``sign(x)`` with NaN kept, and no host read: array-api-compat's torch ``sign`` writes
    NaN through a boolean mask (a read of the mask per call). Torch's own ``sign`` gives 0 at
    NaN, so the result is ``maximum(sign(x), min(x, -2))``: equal to ``sign(x)`` everywhere
    else (never a tie: the second term is at most -2), NaN where ``x`` is. Untracked (no autodiff):
    ``sign(x) + clamp(x, 0, 0)`` (0, or NaN at NaN), the same numbers in two passes."""
    torch = torch_of(x)
    if torch is None:
        return xp.sign(x)
    if torch_untracked(x) is not None:
        return torch.sign(x).add_(torch.clamp(x, 0.0, 0.0))
    return torch.maximum(torch.sign(x), torch.clamp_max(x, -2.0))


def clamp(x, lo=None, hi=None, *, xp):
    """``clip`` that accepts ``None`` bounds and keeps the dtype."""
    if lo is None and hi is None:
        return x
    return xp.clip(x, min=lo, max=hi)


def positive_part(z, *, xp):
    """``max(0, z)`` as ``where(z <= 0, 0, z)``: +0 at and below the kink, where autodiff then
    gives the subgradient 0 (``maximum`` would split 1/2 at the tie in PyTorch), and a NaN kept
    NaN, as the peers' ``relu``/``maximum`` give (``where(z > 0, z, 0)`` would hide a diverged
    prediction behind a zero loss)."""
    return xp.where(z <= 0, xp.zeros_like(z), z)


def softplus(x, *, xp):
    """log(1 + e^x) as max(x, 0) + log1p(e^-|x|): exp never overflows, and log1p keeps
    the tiny values at large negative x (softplus(-40) = 4.2e-18, not 0). Both pieces are
    written with ``where`` rather than ``abs``/``maximum`` so autodiff is exact at x = 0
    to every order (abs's derivative 0 there would zero the Hessian). Untracked torch (no
    autodiff to keep exact): :func:`softplus_pair`'s first form, the same values without a
    ``where`` (a scalar loop on CPU)."""
    torch = torch_untracked(x)
    if torch is not None:
        return torch.clamp_min(x, 0.0).add_(x.abs().neg_().exp_().log1p_())
    pos = x >= 0
    zero = xp.zeros_like(x)
    return xp.where(pos, x, zero) + xp.log1p(xp.exp(xp.where(pos, -x, x)))


def log_sigmoid(x, *, xp):
    """log(sigmoid(x)) = -softplus(-x), finite for every finite x."""
    return -softplus(-x, xp=xp)


def sigmoid(x, *, xp):
    """1 / (1 + e^-x) evaluated with e^-|x| so neither branch overflows (``where`` instead of
    ``abs`` keeps autodiff exact at x = 0). On torch, torch's ``sigmoid`` (exact under
    autodiff too; it rounds results below the smallest normal to 0)."""
    torch = torch_of(x)
    if torch is not None:
        return torch.sigmoid(x)
    pos = x >= 0
    e = xp.exp(xp.where(pos, -x, x))
    return xp.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))


def max_and_log1p_rest(x, axis, *, xp):
    """Split logsumexp(x) = m + log1p(rest) with m = max(x) and rest = sum(e^(x - m)) - 1
    summed without the leading 1, so a dominant class keeps the tiny remainder
    (logsumexp([40, 0, 0]) - 40 = 8.5e-18 instead of 0)."""
    torch = torch_untracked(x)
    if torch is not None:  # the same sums without a where (see torch_rest), by blocks of rows
        pair = torch_row_blocks(torch, _max_and_log1p_rest_torch, axis, x, x, reduced=True)
        m, l1p = torch.split(pair, 1, dim=axis)
        return m, l1p
    jax = _jax_of(x)
    if jax is not None:  # one fused pass under XLA (see _jax_rest)
        m, _, rest = _jax_rest(jax.numpy, x, axis)
        return m, jax.numpy.log1p(rest)
    m, _, _, rest = _rest_parts(x, axis, xp=xp)
    return m, xp.log1p(rest)


def _rest_parts(x, axis, *, xp):
    """``(m, below, ties, rest)`` of :func:`max_and_log1p_rest` on the array-API path: ``below``
    is ``e^(x - m)`` below the maxima and 0 at them, ``ties`` 1 at them (so ``e^(x - m)`` is
    ``below + ties``), ``rest = sum(below) + (sum(ties) - 1)``."""
    m = constant(xp.max(x, axis=axis, keepdims=True))
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    z = x - m
    # z + z^2/2 = 0 at the maxima (z = 0), with expm1's first and second derivatives there:
    # autodiff sees the tied maxima (x = [0, 0] has Hessian 1/4 per entry, not 0). Not expm1
    # itself: NumPy's float32 expm1 is a scalar loop (~12 ns per element, for every element).
    below = xp.where(z < 0, xp.exp(z), z * (1.0 + 0.5 * z))
    ties = xp.astype(z == 0, x.dtype)
    rest = xp.sum(below, axis=axis, keepdims=True) + (xp.sum(ties, axis=axis, keepdims=True) - 1.0)
    return m, below, ties, rest


def softmax_pair(x, axis=-1, *, xp):
    """``(q, u)``: ``q = softmax(x)`` and its complement ``u = 1 - q``, accurate at a confident
    class, from one exponential: ``q = e / (1 + rest)`` and ``u = (rest + (1 - e)) / (1 + rest)``
    with ``e = e^(x - max)`` and ``rest = sum(e) - 1`` summed without the leading 1
    (:func:`max_and_log1p_rest`); ``u`` is a sum of non-negative terms (``1 - e`` is exactly 0 at
    the maxima). A probability far below the max keeps its relative accuracy (``exp(log_softmax)``
    loses ``|log p|`` ulp there). Autodiff of the array-API form is exact to second order, ties
    included (see :func:`_rest_parts`). While torch records ``x`` (``torch.compile``, a double
    backward): ``q`` is torch's softmax, whose derivative autograd and Inductor know, and ``u`` the
    accurate complement held constant plus ``(1 - q) - constant(1 - q)``: 0 in value, ``-dq`` in
    every derivative, so nothing differentiates the sums behind ``rest``."""
    jax = _jax_of(x)
    if jax is not None:
        e, _, inv, u = _jax_softmax_parts(jax.numpy, x, axis)
        return e * inv, u
    torch = torch_of(x)
    if torch is not None and x.requires_grad and torch.is_grad_enabled() and torch_untracked(x.detach()) is not None:
        q = torch.softmax(x, axis)
        comp = 1.0 - q
        return q, _softmax_pair_untracked(torch, x.detach(), axis)[1] + (comp - comp.detach())
    if torch is not None and torch_untracked(x) is not None:
        return _softmax_pair_untracked(torch, x, axis)
    _, below, ties, rest = _rest_parts(x, axis, xp=xp)
    e = below + ties
    inv = 1.0 / (1.0 + rest)
    return e * inv, (rest + (1.0 - e)) * inv


def _softmax_pair_untracked(torch, x, axis):
    """:func:`softmax_pair` on untracked torch: the frac form of :func:`_torch_softmax_parts` (no
    ``where``: a scalar loop on CPU), ``u = rest inv + (1 - e) inv``."""
    e, f, inv, u0 = _torch_softmax_parts(torch, x, axis)
    u = torch.neg(e, out=f).add_(1.0).mul_(inv).add_(u0)
    return e.mul_(inv), u


def _max_and_log1p_rest_torch(torch, _, x, axis):
    """``(m, log1p(rest))`` of :func:`max_and_log1p_rest` side by side along ``axis``."""
    m, _, e, total, finite = torch_exp_rest(torch, x, axis)
    return torch.cat([m, torch.log1p(torch_rest(torch, e.frac_(), total, finite, axis))], dim=axis)


def logsumexp(x, axis=-1, *, keepdims=False, xp):
    """log(sum(e^x)) along ``axis``: shifted by the max (no overflow) and log1p of the
    remainder (no loss of the small terms next to a dominant one)."""
    m, l1p = max_and_log1p_rest(x, axis, xp=xp)
    out = m + l1p
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(x, axis=-1, *, xp):
    """x - logsumexp(x), written as (x - m) - log1p(rest) so the dominant class's
    log-probability keeps full relative accuracy."""
    m, l1p = max_and_log1p_rest(x, axis, xp=xp)
    return (x - m) - l1p


def neg_log_softmax_dot(t, x, axis=-1, *, xp):
    """``sum_c t_c (-log softmax(x)_c)`` along ``axis`` (``t >= 0``): every term non-negative.
    On untracked torch ``sum(t (m - x)) + S log1p(rest)`` (``S = sum(t)``): the same terms
    regrouped, from one shifted copy updated in place instead of four fresh arrays."""
    torch = torch_untracked(x)
    if torch is None:
        m, l1p = max_and_log1p_rest(x, axis, xp=xp)
        return xp.sum(t * (l1p - (x - m)), axis=axis)
    return torch.squeeze(torch_row_blocks(torch, _neg_log_softmax_dot_torch, axis, t, x, reduced=True), dim=axis)


def _neg_log_softmax_dot_torch(torch, t, x, axis):
    _, z, e, total, finite = torch_exp_rest(torch, x, axis)
    l1p = torch.log1p(torch_rest(torch, e.frac_(), total, finite, axis))
    dot = torch.sum(z.mul_(t), dim=axis, keepdim=True)
    return torch.sum(t, dim=axis, keepdim=True) * l1p - dot


def _torch_softmax_parts(torch, x, axis):
    """``(e, f, inv, u0)`` for untracked torch: ``e = e^(x - m)`` (exactly 1 at the maxima),
    ``f = frac(e)`` (0 at the maxima, in the shifted copy's buffer), ``inv = 1 / (1 + rest)`` (so
    ``p = e inv``) and ``u0 = rest inv``, the accurate ``1 - p`` at the maxima (below them ``p <=
    1/2`` and ``1 - p`` rounds once)."""
    _, z, e, total, finite = torch_exp_rest(torch, x, axis)
    f = torch.frac(e, out=z)
    rest = torch_rest(torch, f, total, finite, axis)
    inv = 1.0 / (1.0 + rest)
    return e, f, inv, rest * inv


def softmax_xent_grad(t, x, axis=-1, *, xp):
    """d/dx of :func:`neg_log_softmax_dot`: ``(S - t) p - t u`` with ``(p, u)`` the softmax and its
    complement of :func:`softmax_pair` (``u`` accurate at the dominant class) and ``S = sum(t)``.
    On untracked torch ``S p - t`` below the maxima and ``(S - t) - S u0`` at them (both accurate:
    ``p <= 1/2`` below the maxima), in place in two buffers (torch's ``where`` is a scalar loop on
    CPU). JAX: ``((S e - t) - t rest) / (1 + rest)``, the same regrouped (``S e - t`` is exact at
    a one-hot maximum, ``e = 1``), four operations fewer in XLA's fused pass."""
    torch = torch_untracked(x)
    if torch is not None:
        return torch_row_blocks(torch, _softmax_xent_grad_torch, axis, t, x, reduced=False)
    jax = _jax_of(x)
    if jax is not None:  # (XLA:CPU's fused pass costs about one step per full-size operation)
        _, e, rest = _jax_rest(jax.numpy, x, axis)
        return ((xp.sum(t, axis=axis, keepdims=True) * e - t) - t * rest) * (1.0 / (1.0 + rest))
    p, u = softmax_pair(x, axis, xp=xp)
    return (xp.sum(t, axis=axis, keepdims=True) - t) * p - t * u


def _softmax_xent_grad_torch(torch, t, x, axis):
    e, f, inv, u0 = _torch_softmax_parts(torch, x, axis)
    return _softmax_xent_grad_from(torch, t, e, f, inv, u0, axis)


def _softmax_xent_grad_from(torch, t, e, f, inv, u0, axis, s=None):
    """:func:`softmax_xent_grad` from :func:`_torch_softmax_parts`, into ``e`` and ``f``."""
    s = torch.sum(t, dim=axis, keepdim=True) if s is None else s
    ind = e.sub_(f)  # 1 at the maxima, 0 below
    f.mul_(s * inv).addcmul_(ind, s * u0, value=-1.0)  # S p below the maxima, -S u0 at them
    return ind.mul_(s).sub_(t).add_(f)


def softmax_xent_value_grad(t, x, axis=-1, *, xp):
    """``(neg_log_softmax_dot with the axis kept, softmax_xent_grad)`` from one shifted
    exponential: untracked torch only (the closed-form forward then holds the gradient for its
    backward); None otherwise."""
    torch = torch_untracked(x)
    if torch is None:
        return None
    return torch_row_blocks(torch, _softmax_xent_value_grad_torch, axis, t, x, reduced="both")


def _softmax_xent_value_grad_torch(torch, t, x, axis, out=None):
    _, z, e, total, finite = torch_exp_rest(torch, x, axis, out)
    dot = torch.sum(z.mul_(t), dim=axis, keepdim=True)
    f = torch.frac(e, out=z)
    rest = torch_rest(torch, f, total, finite, axis)
    s = torch.sum(t, dim=axis, keepdim=True)
    inv = 1.0 / (1.0 + rest)
    value = s * torch.log1p(rest) - dot
    return value, _softmax_xent_grad_from(torch, t, e, f, inv, rest * inv, axis, s)


def scaled_softmax_minus(t, x, axis=-1, *, xp):
    """``S softmax(x) - t`` with ``S = sum(t)`` along ``axis``. On untracked torch from torch's fused
    ``softmax`` (one pass instead of the max, shift, exp, log1p and exp of ``exp(log_softmax)``),
    updated in place."""
    torch = torch_untracked(x)
    s = xp.sum(t, axis=axis, keepdims=True)
    jax = _jax_of(x) if torch is None else None
    if jax is not None:  # one sum: p needs no accurate complement (XLA:CPU takes two sums in two passes)
        jnp = jax.numpy
        e = jnp.exp(x - constant(jnp.max(x, axis=axis, keepdims=True)))
        return (s / jnp.sum(e, axis=axis, keepdims=True)) * e - t
    if torch is None:
        return s * softmax(x, axis, xp=xp) - t
    return torch_softmax(torch, x, axis).mul_(s).sub_(t)


def sparse_softmax_xent_grad(labels, x, axis=-1, *, xp):
    """:func:`softmax_xent_grad` for one-hot targets given as class ids (``labels``: ``x``'s shape
    without ``axis``, valid ids): ``p`` with ``-u_y`` at each label. Untracked torch only (the
    entries are set with ``scatter_``, which the array API lacks) and JAX (the label column as
    ``labels == iota``, fused into the output pass); None otherwise."""
    torch = torch_untracked(x)
    jax = _jax_of(x) if torch is None else None
    if jax is not None:
        jnp = jax.numpy
        e, _, inv, u = _jax_softmax_parts(jnp, x, axis)
        ax = axis % x.ndim
        return jnp.where(_jax_hot(jnp, jnp.expand_dims(labels, ax), x, ax), -u, e * inv)
    if torch is None:
        return None
    return _sparse_xent_torch(torch, labels, x, axis, value=False, grad=True)[1]


def sparse_softmax_xent_value_grad(labels, x, axis=-1, *, xp):
    """``(sparse_neg_log_softmax, sparse_softmax_xent_grad)`` from one softmax: untracked torch
    only (the closed-form forward then holds the gradient for its backward); None otherwise."""
    torch = torch_untracked(x)
    return None if torch is None else _sparse_xent_torch(torch, labels, x, axis, value=True, grad=True)


def _sparse_xent_torch(torch, labels, x, axis, *, value, grad):
    """``(-log p_y with the axis kept, or None; the gradient p - onehot(y), or None)`` on
    untracked torch, by blocks of whole rows along dim 0 (see :func:`torch_blocks`): each
    block's softmax, sums and gathers while it is in cache, written straight into the
    gradient's contiguous blocks."""
    ax = axis % x.ndim
    idx = torch.unsqueeze(labels, ax).clamp(0, max(x.shape[ax] - 1, 0))  # (ids as _common.gather takes them)
    out = torch.empty_like(x, memory_format=torch.contiguous_format) if grad else None
    dim, size = torch_blocks(x, ax)
    if size is None or dim != 0:
        return _sparse_xent_block(torch, idx, x, ax, out, value)
    outs = torch.split(out, size, 0) if grad else [None] * -(-x.shape[0] // size)
    nll = [_sparse_xent_block(torch, ib, xb, ax, ob, value)[0]
           for ib, xb, ob in zip(torch.split(idx, size, 0), torch.split(x, size, 0), outs)]
    return (torch.cat(nll, dim=0) if value else None), out


def _sparse_xent_block(torch, idx, x, axis, out, value):
    """One block of :func:`_sparse_xent_torch` from ``p = softmax(x)`` (torch's fused kernel: one
    pass where an ``exp`` of the shifted copy alone costs more on CPU), into ``out`` when given.

    The gradient is ``p`` with ``-u_y`` at the label, ``u_y = 1 - p_y`` summed as the other
    classes' ``p``: a sum of positive terms, accurate when ``p_y`` rounds to 1. The value: where
    ``p_y >= 1/2`` (the label holds the only max) ``log1p(u_y / p_y)``, ``u_y / p_y`` being the
    remainder after the leading 1 of the shifted exponentials' sum, kept when it is far below
    the rounding of ``1 + u_y``; below 1/2 the value is at least log 2 and ``(m - x_y) - log(max
    p)`` (``max p = 1 / sum e^(x - m)``: two non-negative terms) holds it to a rounding where
    ``p_y`` itself may underflow."""
    p = torch_softmax(torch, x, axis, out)
    nll = None
    if value:
        p_y, p_max = torch.gather(p, axis, idx), torch.amax(p, dim=axis, keepdim=True)
    u_y = torch.sum(p.scatter_(axis, idx, 0.0), dim=axis, keepdim=True)
    if value:
        far = (torch.amax(x, dim=axis, keepdim=True) - torch.gather(x, axis, idx)) - torch.log(p_max)
        nll = torch.where(p_y >= 0.5, torch.log1p(u_y / p_y), far)
    if out is not None:
        p.scatter_(axis, idx, u_y.neg_())
    return nll, out


def softmax(x, axis=-1, *, xp):
    """The ``q`` of :func:`softmax_pair` (no overflow, a few roundings); torch's own on torch."""
    torch = torch_of(x)
    if torch is None:
        return softmax_pair(x, axis, xp=xp)[0]
    return torch_softmax(torch, x, axis) if torch_untracked(x) is not None else torch.softmax(x, axis)


def xlogy(x, y, *, xp):
    """x * log(y) with 0 * log(0) = 0 exactly (the 0 log 0 of one-hot targets)."""
    zero = x == 0
    safe_y = xp.where(zero, xp.ones_like(y), y)
    return xp.where(zero, xp.zeros_like(x), x * xp.log(safe_y))


# (1 + u) atanh(u) - u = u^2 P(u) with P(u) = 1 + (u + u^2) G(u^2), G(z) = sum_k z^k / (2k + 3)
# (atanh(u) = u sum_k u^2k / (2k + 1)). For |u| <= 1/3, z <= 1/9: 8 terms of G reach single
# precision (the first omitted one is below 9^-8 / 19 = 1.2e-9 of G, times |u + u^2| <= 4/9),
# 18 double (9^-18 / 39 = 2.5e-19). Half the terms of the same series in u.
_BREGMAN_G = tuple(1.0 / (2 * k + 3) for k in range(18))
BREGMAN_TERMS = {32: 8, 64: 18}
_U_BOUND = 0.34  # just above the near region's |u| <= 1/3: clips only where the series is not used


def _bregman_series(d, u, *, xp):
    """``d u P(u)`` (see above): ``a log(a/b) - a + b`` for ``d = a - b``, ``u = d / (a + b)``."""
    z = u * u
    coeffs = _BREGMAN_G[: BREGMAN_TERMS.get(xp.finfo(u.dtype).bits, len(_BREGMAN_G))]
    g = z * coeffs[-1] + coeffs[-2]
    for c in reversed(coeffs[:-2]):
        g = g * z + c
    return (d * u) * ((u + z) * g + 1.0)


def _bregman_near(a, b, *, xp):
    """``a log(a/b) - a + b`` for ``b/2 <= a <= 2b`` as ``d u P(u)``, ``d = a - b`` (exact
    there, Sterbenz), ``u = d / (a + b)`` in [-1/3, 1/3]: since ``log(a/b) = 2 atanh(u)``,
    the term equals ``(a + b) u^2 P(u)`` with P above. No cancellation; about 1 ulp
    (at most 3 ulp measured), and no division by ``1 - u`` that autodiff could blow up."""
    d = a - b
    return _bregman_series(d, d / (a + b), xp=xp)


def bregman_kl(a, b, *, xp, log_a=None, log_b=None):
    """``a log(a/b) - a + b >= 0`` elementwise (the generalised KL term), with ``0 log 0 = 0``.

    ``a >= 0``; ``b > 0`` unless ``log_b`` is given (then ``b = exp(log_b)`` may have
    underflowed to 0). Near ``a = b`` (``b/2 <= a <= 2b``) the series :func:`_bregman_near`,
    because the direct form subtracts numbers that agree in most of their digits there;
    elsewhere the direct form, which does not cancel. Every branch sees safe inputs, so
    autodiff through the untaken branch never meets inf or NaN.
    """
    one = xp.ones_like(a)
    d = a - b
    near = (a >= 0.5 * b) & (a <= 2.0 * b)
    if log_b is not None:
        near = near & (b > 0)
    # outside the near region u = d, clipped: bounded, so the untaken series stays finite
    u = xp.clip(d / xp.where(near, a + b, one), min=-_U_BOUND, max=_U_BOUND)
    series = _bregman_series(d, u, xp=xp)
    pos = a > 0
    a_s = xp.where(pos, a, one)
    if log_a is None and log_b is None:
        # log(a/b) rounds once (accurate for a/b far from 1); log a - log b only where a/b
        # could overflow or underflow (both within [sqrt(tiny), sqrt(max)], so second
        # derivatives of a/b cannot overflow either). a = 0: a_s = 1 and the term a lr is 0.
        half = 0.5 * math.log(float(xp.finfo(a.dtype).max)) - 1.0
        lo, hi = math.exp(-half), math.exp(half)
        ok = (a_s > lo) & (a_s < hi) & (b > lo) & (b < hi)
        lr = xp.log(a_s / xp.where(ok, b, one)) - xp.log(xp.where(ok, one, b))
        return xp.where(near, series, (a * lr - a) + b)
    la = xp.log(a_s) if log_a is None else xp.where(pos, log_a, 0.0 * one)
    lb = xp.log(xp.where(pos, b, one)) if log_b is None else xp.where(pos, log_b, 0.0 * one)
    # a = 0: a_s = 1 and lr = 0, so the product is 0 without another where
    return xp.where(near, series, (a_s * (la - lb) - a) + b)


def bregman_kl_sums(a, b, axis=-1, *, xp):
    """``sum(bregman_kl(a, b))`` along ``axis`` (``b > 0``). On an untracked torch pair (same
    shape) the same numbers, as :func:`kl_logits_sums` does them: block by block, both forms
    evaluated everywhere on bounded inputs and one exact blend, ``log(a/b)`` with one rounding
    of the ratio (``log a - log b`` only where the ratio leaves the floats)."""
    torch = torch_untracked_pair(a, b)
    if torch is None:
        return xp.sum(bregman_kl(a, b, xp=xp), axis=axis)
    return torch.squeeze(torch_row_blocks(torch, _bregman_row_sums, axis, a, b, reduced=True), dim=axis)


def _bregman_row_sums(torch, a, b, axis):
    fi = torch.finfo(b.dtype)
    a_s = torch.where(a > 0, a, 1.0)  # a <= 0: its ratio term a log(1/b), as bregman_kl's
    lr = torch.div(a_s, b).log_()
    lr = torch.where(torch.isfinite(lr), lr, torch.log(a_s).sub_(torch.log(b)))
    direct = lr.mul_(a).sub_(a).add_(b)  # (a log(a/b) - a) + b
    blended = _bregman_blend_torch(torch, direct, a, b, fi, a_s, torch.empty_like(a), torch.empty_like(a))
    return torch.sum(blended, dim=axis, keepdim=True)


def _bregman_blend_torch(torch, direct, a, b, fi, d, u, w):
    """``direct``, the direct form of :func:`bregman_kl`'s terms, with the series blended in where
    ``b/2 <= a <= 2b`` (by ``|u| <= 1/3``, up to rounding at the ends): both evaluated everywhere
    on bounded inputs (``a + b = 0``: ``u = 0``, term 0), then one exact blend (``lerp`` with weight
    0 or 1 returns an end point exactly). ``d``, ``u``, ``w``: buffers like ``a``, overwritten
    (``w`` may be ``b``'s, which is read before it)."""
    torch.sub(a, b, out=d)
    u = torch.add(a, b, out=u).clamp_min_(fi.tiny)
    u = torch.div(d, u, out=u)
    near = torch.abs(u, out=w).le_(1.0 / 3.0)
    u.clamp_(-_U_BOUND, _U_BOUND)
    # _bregman_series' Horner steps, in place
    coeffs = _BREGMAN_G[: BREGMAN_TERMS.get(fi.bits, len(_BREGMAN_G))]
    z = u * u
    g = torch.mul(z, coeffs[-1]).add_(coeffs[-2])
    for c in reversed(coeffs[:-2]):
        g.mul_(z).add_(c)
    return direct.lerp_(g.mul_(z.add_(u)).add_(1.0).mul_(d.mul_(u)), near)


def kl_logits_sums(t, x, axis=-1, *, xp):
    """``sum(bregman_kl(t, q, log_b=log q))`` along ``axis`` with ``q = softmax(x)``: the
    Bregman part of ``KL(t || q)`` from logits, one value per row. On an untracked torch pair
    (same shape) the same numbers block by block: the two forms and the series of
    :func:`bregman_kl`, each evaluated everywhere on bounded inputs (so both are finite), then
    one exact blend (``lerp`` with weight 0 or 1 returns an end point exactly) instead of seven
    scalar-loop ``where``s; the blocks' buffers are reused from the heap, where whole-size
    temporaries would each cost their page faults and their memory."""
    torch = torch_untracked_pair(t, x)
    if torch is None:
        lq = log_softmax(x, axis, xp=xp)
        return xp.sum(bregman_kl(t, xp.exp(lq), log_b=lq, xp=xp), axis=axis)
    return torch.squeeze(torch_row_blocks(torch, _kl_logits_row_sums, axis, t, x, reduced=True), dim=axis)


def kl_logits_value_grad(t, x, axis=-1, *, xp):
    """``(kl_logits_sums with the axis kept, S softmax(x) - t)`` (``S = sum(t)``, the gradient of KL
    from logits) from one shifted exponential: an untracked torch pair only (the closed-form
    forward then holds the gradient for its backward); None otherwise."""
    torch = torch_untracked_pair(t, x)
    if torch is None:
        return None
    return torch_row_blocks(torch, _kl_logits_row_sums_and_grad, axis, t, x, reduced="both")


def _kl_logits_row_sums(torch, t, x, axis):
    return torch.sum(_kl_logits_terms_torch(torch, t, x, axis), dim=axis, keepdim=True)


def _kl_logits_row_sums_and_grad(torch, t, x, axis, out=None):
    grad = torch.empty_like(x) if out is None else out
    return torch.sum(_kl_logits_terms_torch(torch, t, x, axis, grad), dim=axis, keepdim=True), grad


def _kl_logits_terms_torch(torch, t, x, axis, grad=None):
    """The terms of :func:`kl_logits_sums` on untracked torch, in six buffers (and ``S q - t`` into
    ``grad`` when given). ``t = 0``: ``t (log max(t, tiny) - log q)`` is 0 (a ``-inf`` log q makes
    that 0 inf: NaN, set back to 0); ``t + q = 0``: ``u = 0``, term 0."""
    fi = torch.finfo(x.dtype)
    _, lq, q, total, finite = torch_exp_rest(torch, x, axis)
    d = torch.frac(q)
    rest = torch_rest(torch, d, total, finite, axis)
    lq.sub_(torch.log1p(rest))  # log q as log_softmax's
    q.div_(rest.add_(1.0))  # q = e^(x - m) / (1 + rest): two roundings, no second exp
    if grad is not None:
        torch.mul(q, torch.sum(t, dim=axis, keepdim=True), out=grad).sub_(t)
    direct = torch.clamp_min(t, fi.tiny * fi.eps).log_().sub_(lq).mul_(t)
    direct.nan_to_num_(nan=0.0, posinf=math.inf).sub_(t).add_(q)  # (t (log t - log q) - t) + q
    return _bregman_blend_torch(torch, direct, t, q, fi, d, lq, q)


def _exp_neg_abs(x, *, xp):
    """``(x >= 0, e^-|x|)``, with ``-|x|`` written as ``where(x >= 0, -x, x)`` so autodiff of
    anything built on it is exact at ``x == 0`` too, to every order (``abs``'s derivative 0
    at 0 would drop terms)."""
    pos = x >= 0
    return pos, xp.exp(xp.where(pos, -x, x))


def _softplus_from(x, pos, e, *, xp):
    l1 = xp.log1p(e)
    relu = xp.where(pos, x, xp.zeros_like(x))
    return relu + l1, (relu - x) + l1


def _sigmoid_from(pos, e, *, xp):
    inv = 1.0 / (1.0 + e)
    small = e * inv
    return xp.where(pos, inv, small), xp.where(pos, small, inv)


def sigmoid_slope(x, *, xp):
    """``sigmoid(x) sigmoid(-x)`` (the sigmoid's derivative) as ``e / (1 + e)^2`` with
    ``e = exp(-|x|)``: accurate, not 0, in both tails. For derivative kernels (``abs`` is
    fine there: nothing differentiates them)."""
    e = xp.exp(-xp.abs(x))
    d = 1.0 + e
    return e / (d * d)


def inv_above(x, floor, *, xp):
    """``1 / x`` where ``x > floor``, else 0 (the derivative of a log clamped at the floor),
    without a ``where`` and without dividing by 0."""
    return xp.astype(x > floor, x.dtype) / xp.clip(x, min=floor)


def _softplus_pair_torch(torch, x):
    """:func:`softplus_pair` for an untracked torch tensor, the same values: ``-|x|``, ``max(x,
    0)`` and ``max(-x, 0)`` as ``abs``/``clamp`` (no ``where``), temporaries updated in place."""
    l1 = torch.abs(x).neg_().exp_().log1p_()
    return torch.clamp_min(x, 0.0).add_(l1), torch.clamp_max(x, 0.0).neg_().add_(l1)


def _softplus_pair_tracked(torch, x):
    """:func:`softplus_pair` while torch records ``x`` (``torch.compile``, a double backward), the
    same values without a ``where``: ``relu`` (derivative 0 at 0) and ``-|x|`` as ``x - 2 relu(x)``,
    so both pieces take the ``x <= 0`` formula at 0 and autodiff is exact there to every order.
    (Inductor compiles a ``where`` to slower CPU code: BCE's compiled forward 13-14 ms with them,
    6.5-11 with ``abs``, in side-by-side runs at 4096 x 1000.) At ``x = +inf`` both are NaN (``inf -
    inf``), where the ``where`` form gives ``(inf, NaN)``: BCE, the caller, is NaN there either way."""
    relu = torch.relu(x)
    l1 = torch.log1p(torch.exp(x - 2.0 * relu))
    return relu + l1, (relu - x) + l1


def softplus_pair(x, *, xp):
    """``(softplus(x), softplus(-x))`` from one ``e = exp(-|x|)`` and one log1p: stable like
    :func:`softplus` (``max(x, 0) - x`` is exactly ``max(-x, 0)``)."""
    torch = torch_of(x)
    if torch is not None:
        return _softplus_pair_torch(torch, x) if torch_untracked(x) is not None else _softplus_pair_tracked(torch, x)
    pos, e = _exp_neg_abs(x, xp=xp)
    return _softplus_from(x, pos, e, xp=xp)


def sigmoid_pair(x, *, xp):
    """``(sigmoid(x), sigmoid(-x))`` from one ``e = exp(-|x|)``: each tail keeps its tiny
    values (``sigmoid(-x)`` is not computed as ``1 - sigmoid(x)``). On torch, torch's
    ``sigmoid`` of ``x`` and ``-x`` (see :func:`sigmoid`)."""
    torch = torch_of(x)
    if torch is not None:
        return torch.sigmoid(x), torch.sigmoid(-x)
    pos, e = _exp_neg_abs(x, xp=xp)
    return _sigmoid_from(pos, e, xp=xp)


def logistic_parts(x, *, xp):
    """``(softplus(x), softplus(-x), sigmoid(x), sigmoid(-x))`` from one ``e = exp(-|x|)``."""
    torch = torch_untracked(x)
    if torch is not None:
        return (*_softplus_pair_torch(torch, x), *sigmoid_pair(x, xp=xp))
    pos, e = _exp_neg_abs(x, xp=xp)
    return (*_softplus_from(x, pos, e, xp=xp), *_sigmoid_from(pos, e, xp=xp))
