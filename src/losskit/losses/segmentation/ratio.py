"""One implementation of the ratio losses ``1 - N / D`` (Dice, Jaccard, Tversky, focal Tversky,
generalised Dice): their options, sufficient statistics, value, and derivatives in the logits.

They are all ``1 - N / D`` (or a power of it) with ``N = a TP + s_nr`` and
``D = a TP + b FP + c FN + s_dr``; :func:`ratio_stats` and :func:`_ratio_derivs` compute the
per-element TP/FP/FN terms, their sums and the derivatives for all of them. The value is
evaluated as ``(b FP + c FN + s_dr - s_nr) / D`` with ``FP = sum(p (1 - y))`` and
``FN = sum(y (1 - p))`` summed element by element and ``1 - p`` taken from the logits
(``sigmoid(-x)``, ``-expm1(log_softmax(x))``), which keeps the value within a few ulp near a
perfect score (``1 - N/D`` would cancel every digit).
"""

from __future__ import annotations

import math

from ..._array.lean import torch_blocks, torch_softmax, torch_sum_kept, torch_untracked_pair
from ..._array.validate import LossInputError, check_axis, check_choice, check_flag, check_number, check_range
from .._common import along, ignore_index_option
from .activation import activate, chain, complement, probs, project
from .inputs import ACTIVATIONS, class_weights, prepare_pred, smoothing, targets
from .samples import axes_option, expand_cotangent, squeeze_reduced, sum_kept, values_axis

__all__ = ["ratio_stats", "ratio_from_stats", "ratio_value", "ratio_grad", "ratio_hess", "flat_below",
           "make_ratio_prepare"]

# Per element (target y, probability q): TP term t, FP term f, FN term n.
#   hard (default):   t = y q,        f = q (1 - y),  n = y (1 - q)
#   squared_pred:     t = y q,        f = q (q - y),  n = y (y - q)  (f + n = (q - y)^2)
#   soft_label:       t = min(y, q),  f = q - t,      n = y - t      (MONAI's L1 form)
# Per sample: N = a sum(t) + s_nr,  E = sum(b f + c n) + s_dr - s_nr,  D = N + E,
# value = E / D (= 1 - N / D), or phi(E / D) for the focal Tversky loss.


def _terms(xp, y, q, qc, mode, b, c):
    """Per-element ``(t, b f + c n)``, the latter summed element by element without
    cancellation: ``qc = 1 - q`` comes accurately from the activation, ``q - y`` is formed as
    ``(1 - y) - qc`` for targets above 1/2, and the squared form as ``b (q - y)^2``."""
    if mode == "hard":
        return y * q, b * (q * (1.0 - y)) + c * (y * qc)
    diff = xp.where(y > 0.5, (1.0 - y) - qc, q - y)  # q - y
    if mode == "squared":  # b f + c n = (q - y)(b q - c y); dice and Jaccard have b = c
        return y * q, (b * diff * diff) if b == c else diff * (b * q - c * y)
    below = q < y
    return xp.where(below, q, y), xp.where(below, -c * diff, b * diff)


def _term_derivs(xp, y, q, mode):
    """``(t', f', n', f'')`` with respect to q (t'' = n'' = 0; f'' is None when 0)."""
    if mode == "soft":
        t1 = xp.astype(q < y, q.dtype)
        return t1, 1.0 - t1, -t1, None
    if mode == "squared":
        return y, 2.0 * q - y, -y, 2.0
    return y, 1.0 - y, -y, None


# torch, hard terms, no mask (untracked): the same sums from fewer passes. Probabilities: the terms
# in place, no constant factors of 1; the statistics kept for this call's gradient, which is then
# ``alpha + beta y`` (two passes, where the generic form recomputed the statistics and its ten
# terms). Softmax: from torch's fused softmax and buffers updated in place (torch's ``where`` is a
# scalar loop on CPU, its ``exp`` is slower than the softmax's own, and every fresh array is a pass
# of page faults); large CPU inputs go block by block through two block-sized buffers (in cache and
# in the heap). The forward keeps its softmax for this call's gradient, as native autograd does:
# the backward then runs no exp.
def _lean_torch(y, x, o):
    """torch when ``(y, x)`` take the lean paths below (:func:`torch_untracked_pair`,
    probabilities or a softmax activation, hard mode, no mask), else None."""
    if o["activation"] not in (None, "softmax") or o["mode"] != "hard" or o["mask"] is not None:
        return None
    return torch_untracked_pair(y, x)


def _torch_prob_stats(torch, y, q, o):
    """:func:`ratio_stats` for :func:`_lean_torch`'s probabilities: ``b q (1 - y) + c y (1 - q)``
    as :func:`_terms` forms it (``1 - q`` is exact from ``q = 1/2`` on: no cancellation near a
    perfect score), factors of 1 left out."""
    _, b, c = o["coef"]
    err = _torch_hard_err(torch, y, q, torch.rsub(q, 1.0), b, c)
    return _summed_stats(torch, y, err, torch.mul(y, q), None, o)[0]


def _torch_hard_err(torch, y, q, qc, b, c, out=None):
    """``b q (1 - y) + c y qc`` (``qc``: ``1 - q``, accurate) as :func:`_terms` forms it, into
    ``out`` when given, factors of 1 left out."""
    err = torch.neg(y, out=out).add_(1.0).mul_(q)
    if b != 1.0:
        err.mul_(b)
    return err.addcmul_(y, qc, value=c)


def _torch_unit_stats(torch, y, q, o, e, f):
    """:func:`_torch_softmax_stats` for ``b = c = 1`` (Dice, Jaccard), in fewer passes. Below a
    row's largest ``q`` (so ``q <= 1/2``), ``err = q (1 - y) + y (1 - q)`` is ``(q + y) - 2 y q``
    to a few ulp: it is at least ``(q + y) / 3`` there, so the sum cancels little. At the largest
    (one per row; a tie's twin is at most 1/2 too) ``1 - q`` is the sum of the row's other
    entries, summed with that one zeroed, and its ``err`` is scattered in."""
    ca = o["class_axis"]
    qm, top = torch.max(q, dim=ca, keepdim=True)
    others = torch.sum(e.copy_(q).scatter_(ca, top, 0.0), dim=ca, keepdim=True)  # 1 - qm, accurate
    yq = torch.mul(y, q, out=f)
    yt = torch.gather(y, ca, top)
    err = torch.add(q, y, out=e).sub_(yq, alpha=2.0).scatter_(ca, top, qm * (1.0 - yt) + yt * others)
    return _summed_stats(torch, y, err, yq, others + qm, o)


def _summed_stats(torch, y, err, yq, q_rows, o):
    """``(stats, rows)`` of :func:`_torch_softmax_stats` from the per-element ``err`` and ``y q``
    terms and ``q_rows``, the sums of ``q`` along the class axis."""
    ca, dims, a = o["class_axis"], tuple(o["axes"]), o["coef"][0]
    s_err = torch_sum_kept(torch, err, dims)  # (no dims: err itself)
    s_num, rows = yq, None
    if ca in dims:
        s_num = torch.sum(s_num, dim=ca, keepdim=True)
        rows = (s_num, q_rows)
    s_num = torch_sum_kept(torch, s_num, dims)
    stats = [s_num.mul_(a) if a != 1.0 else s_num, s_err]
    if o["kind"] == "generalized_dice":
        stats.append(torch_sum_kept(torch, y, dims))
    return tuple(stats), rows


def _torch_softmax_stats(torch, y, q, o, e, f):
    """:func:`ratio_stats` for :func:`_lean_torch`'s case from ``q = softmax(x)``. ``e = q / max(q)``
    is exactly 1 at the row maxima and ``e^(x - m)`` (to rounding) below them, so ``f = frac(e)`` is
    ``e`` below them and 0 at them, ``rest = sum(f)`` (plus the ties, counted exactly) and ``1 - q``
    is ``1 - f / (1 + rest)`` below the maxima (``q <= 1/2``) and ``rest / (1 + rest)`` at them,
    both accurate (``1 - q`` itself would lose every digit of a confident prediction). ``e``, ``f``:
    two buffers like ``q``, overwritten. Returns ``(stats, rows)``: ``rows`` is ``(sum(q y),
    sum(q))`` along the class axis when it is summed (for :func:`_torch_hard_grad`), else None.
    (``b = c = 1`` along a contiguous class axis: :func:`_torch_unit_stats`. This way with weights,
    where ``(b q + c y) - (b + c) y q`` could cancel every digit of a small ``c y (1 - q)``, and
    along a strided class axis (channels first), where the unit form's max with indices, scatter
    and gather cost more than these passes: a generalised Dice on N x 4 x 128 x 256, forward +
    backward, 10.3 -> 6.8 ms; N x 32 x 128 x 128 level.)"""
    ca = o["class_axis"]
    _, b, c = o["coef"]
    if ca in o["axes"]:
        return _pooled_softmax_stats(torch, y, q, o, e, f)
    if b == 1.0 and c == 1.0 and q.stride(ca) == 1:  # (strided: a max with indices is slow there)
        return _torch_unit_stats(torch, y, q, o, e, f)
    qm = torch.amax(q, dim=ca, keepdim=True)
    e = torch.div(q, qm, out=e)
    total = torch.sum(e, dim=ca, keepdim=True)
    f = torch.frac(e, out=f)
    below = torch.sum(f, dim=ca, keepdim=True)
    rest = below + (torch.round(total - below) - 1.0)
    inv = 1.0 / (1.0 + rest)
    ind = e.sub_(f)  # 1 at the maxima, 0 below
    qc = f.mul_(-inv).add_(1.0).sub_(ind).addcmul_(ind, rest * inv)  # 1 - q
    err = _torch_hard_err(torch, y, q, qc, b, c, out=ind)
    return _summed_stats(torch, y, err, torch.mul(y, q, out=qc), total.mul_(qm), o)  # sum(q) = sum(e) max(q)


def _pooled_softmax_stats(torch, y, q, o, e, f):
    """:func:`_torch_softmax_stats` where the statistics pool the classes of a sample (the class
    axis is summed). Its probabilities sum to 1 along that axis, so its false negatives are the
    other classes' probabilities: ``sum_c y_c (1 - q_c) = sum_k q_k (Y - y_k)`` with ``Y = sum_c
    y_c``, and the pooled ``err`` sums ``q (b (1 - y) + c (Y - y))``, non-negative terms (``y_k <=
    Y``, ``y <= 1``) without ``1 - q`` (which would lose every digit of a confident prediction) or
    its accurate complement (a row max, a scatter and a gather, slow along a strided class axis)."""
    ca = o["class_axis"]
    _, b, c = o["coef"]
    big_y = torch.sum(y, dim=ca, keepdim=True)
    err = torch.mul(y, -(b + c), out=e).add_(big_y, alpha=c).add_(b).mul_(q)  # q ((b + c Y) - (b + c) y)
    return _summed_stats(torch, y, err, torch.mul(y, q, out=f), torch.sum(q, dim=ca, keepdim=True), o)


def _summed_blocks(torch, x, o):
    """``(dim, size)`` of :func:`losskit._array.stable.torch_blocks` when a large input can be
    taken in blocks along a summed axis (their statistics then add up, and the per-sample factors
    of the gradient are the same in every block), else ``(0, None)``."""
    dim, size = torch_blocks(x, o["class_axis"])
    return (dim, size) if size is not None and dim in o["axes"] else (0, None)


def _blocks(torch, x, o, *arrays):
    """The arrays in the blocks of :func:`_summed_blocks` (whole, when there is one block)."""
    dim, size = _summed_blocks(torch, x, o)
    if size is None:
        return [arrays]
    return zip(*(torch.split(a, size, dim) for a in arrays))


def _torch_blocked_stats(torch, y, x, o):
    """``(stats, q, rows)``: :func:`_torch_softmax_stats` block by block where :func:`_summed_blocks`
    allows, the softmax ``q`` of ``x`` and the blocks' ``rows`` joined (or None)."""
    ca = o["class_axis"]
    dim, size = _summed_blocks(torch, x, o)
    by_block = size is not None and dim == 0
    q = torch.empty_like(x, memory_format=torch.contiguous_format) if by_block else torch_softmax(torch, x, ca)
    total, bufs, rows = None, None, []
    for yb, qb, xb in _blocks(torch, x, o, y, q, x):
        if by_block:  # each block's softmax straight into q (contiguous blocks), still in cache for its sums
            torch_softmax(torch, xb, ca, qb)
        if bufs is None or bufs[0].shape != qb.shape:  # one pair for every block (a new one for a short last block)
            bufs = (torch.empty_like(qb), torch.empty_like(qb))
        part, row = _torch_softmax_stats(torch, yb, qb, o, *bufs)
        total = part if total is None else tuple(t.add_(p) for t, p in zip(total, part))
        rows.append(row)
    if rows[0] is None:
        return total, q, None
    return total, q, tuple(torch.cat(r, dim=dim) for r in zip(*rows))


def _torch_hard_grad(xp, torch, y, x, o, cotangent, stats):
    """The gradient of :func:`_ratio_derivs` (order 1) for :func:`_lean_torch`'s case: with hard
    terms ``gT = alpha + beta y`` per element (``alpha``, ``beta`` per sample); for probabilities
    that is the gradient, through a softmax it is projected through its Jacobian into the output,
    block by block as :func:`_torch_blocked_stats`. From the statistics (and softmax) of this
    call's value when it kept them. When a sample spans the class axis, ``alpha`` and ``beta`` are
    constant along it and the projection's ``sum(q gT)`` is ``alpha sum(q) + beta sum(q y)`` from
    the value's row sums: three passes."""
    q = None
    memo = o.get("memo", {}).get("stats")
    if memo is not None and memo[0] is y and memo[1] is x and memo[2] == x._version:
        stats, q, rows = memo[3] if stats is None else stats, memo[4], memo[5]
    softmax = o["activation"] == "softmax"
    if q is None and not softmax:
        stats = _torch_prob_stats(torch, y, x, o) if stats is None else stats
    elif q is None:
        own, q, rows = _torch_blocked_stats(torch, y, x, o)
        stats = own if stats is None else stats
    N, D, E, W = _ratio_totals(xp, stats, o)
    ok = torch.abs(D) > flat_below(torch, D.dtype)
    inv = torch.where(ok, 1.0 / torch.where(ok, D, 1.0), 0.0)
    R = N * inv
    a, b, c = o["coef"]
    alpha, beta = R * inv * b, inv * (R * (a - b - c) - a)
    if W is not None:  # the generalised Dice's class weights scale each class's terms
        alpha, beta = alpha * W, beta * W
    ct = expand_cotangent(xp, cotangent, o["reduced"])
    if ct is not None:
        alpha, beta = alpha * ct, beta * ct
    if not softmax:
        return torch.mul(y, beta).add_(alpha)
    ca = o["class_axis"]
    out = torch.empty_like(x)
    if rows is not None:
        shift = alpha - (alpha * rows[1] + beta * rows[0])  # alpha - sum(q gT) per row
        for yb, qb, ob, hb in _blocks(torch, x, o, y, q, out, shift):
            torch.mul(yb, beta, out=ob).add_(hb).mul_(qb)
        return out
    buf = None
    for yb, qb, ob in _blocks(torch, x, o, y, q, out):
        G = torch.mul(yb, beta, out=ob).add_(alpha)
        buf = torch.empty_like(qb) if buf is None or buf.shape != qb.shape else buf
        s = torch.sum(torch.mul(qb, G, out=buf), dim=ca, keepdim=True)
        G.sub_(s).mul_(qb)
    return out


_LEAN_KINDS = ("dice", "jaccard", "tversky", "generalized_dice")  # w1 = 1 (the focal Tversky's phi' aside)


def ratio_stats(xp, y_true, y_pred, *, q=None, **o):
    """Additive sufficient statistics, summed over ``axes`` (kept as size-1 axes):
    ``(sum a t, sum (b f + c n))`` and, for the generalised Dice, ``sum y`` per class."""
    torch = _lean_torch(y_true, y_pred, o) if q is None else None
    if torch is not None:
        if o["activation"] is None:
            stats, q, rows = _torch_prob_stats(torch, y_true, y_pred, o), y_pred, None
        else:
            stats, q, rows = _torch_blocked_stats(torch, y_true, y_pred, o)
        if "memo" in o:  # for the gradient of this call (see make_ratio_prepare)
            o["memo"]["stats"] = (y_true, y_pred, y_pred._version, stats, q, rows)
        return stats
    act, ca = o["activation"], o["class_axis"]
    a, b, c = o["coef"]
    if act == "softmax" and o["mode"] == "hard" and o["mask"] is None and ca in o["axes"]:
        # pooled classes: the false negatives as the other classes' probabilities (see
        # _pooled_softmax_stats), no complement (under torch.compile: no second exponential)
        q = activate(xp, y_pred, act, ca)[0] if q is None else q
        big_y = xp.sum(y_true, axis=ca, keepdims=True)
        t, err = y_true * q, q * ((b + c * big_y) - (b + c) * y_true)
    else:
        if q is None:
            q, qc = probs(xp, y_pred, act, ca)
        else:
            qc = complement(xp, y_pred, q, act, ca)
        t, err = _terms(xp, y_true, q, qc, o["mode"], b, c)
    num = a * t
    y = y_true
    m = o["mask"]
    if m is not None:
        num, err, y = num * m, err * m, y * m
    axes = o["axes"]
    out = (sum_kept(xp, num, axes), sum_kept(xp, err, axes))
    if o["kind"] == "generalized_dice":
        return out + (sum_kept(xp, y, axes),)
    return out


def _gdl_weights(xp, sy, w_type, class_axis):
    """MONAI's rule: w = 1/sum(y)^2 ("square"), 1/sum(y) ("simple") or 1 ("uniform"); an
    infinite weight (empty class) is replaced by the largest finite weight of its sample."""
    if w_type == "uniform":
        return xp.ones_like(sy)
    base = sy * sy if w_type == "square" else sy
    finite = base > 1.0 / xp.finfo(sy.dtype).max  # 1/base neither infinite nor overflowing
    w = xp.where(finite, 1.0 / xp.where(finite, base, xp.ones_like(base)), xp.zeros_like(base))
    return xp.where(finite, w, xp.max(w, axis=class_axis, keepdims=True))


def _ratio_totals(xp, stats, o):
    """Per-sample ``(N, D, E, W)`` (reduced axes kept); W: generalised Dice class weights.

    The generalised Dice weights are divided by their largest value in the sample, and the
    smoothing with them: numerator and denominator scale alike, so the value is unchanged,
    and nothing overflows however small a class volume (``1/sum(y)^2`` can reach 1e308)."""
    s_num, s_err = stats[0], stats[1]
    nr, dr = o["smooth_nr"], o["smooth_dr"]
    W = None
    if o["kind"] == "generalized_dice":
        ca = o["class_axis"]
        W = _gdl_weights(xp, stats[2], o["w_type"], ca)
        top = xp.max(W, axis=ca, keepdims=True)
        top = xp.where(top > 0, top, xp.ones_like(top))
        W = W / top
        s_num = xp.sum(W * s_num, axis=ca, keepdims=True)
        s_err = xp.sum(W * s_err, axis=ca, keepdims=True)
        nr, dr = nr / top, dr / top
    return s_num + nr, s_num + s_err + dr, s_err + (dr - nr), W


def _focal(xp, T, o):
    """(T + tau)^gamma - tau^gamma for T > 0, else 0 (see the focal Tversky docstring); a NaN T
    (a NaN prediction) stays NaN, not an empty sample's 0."""
    g, tau = o["gamma"], o["tau"]
    off = T <= 0
    Tc = xp.where(off, xp.zeros_like(T), T) + tau
    return xp.where(off, xp.zeros_like(T), Tc ** g - tau ** g), ~off, Tc


def ratio_from_stats(xp, stats, **o):
    N, D, E, _ = _ratio_totals(xp, stats, o)
    ok = D != 0
    v = xp.where(ok, E / xp.where(ok, D, xp.ones_like(D)), xp.zeros_like(D))
    if o["kind"] == "focal_tversky":
        v = _focal(xp, v, o)[0]
    return squeeze_reduced(xp, v, o["reduced"])


def ratio_value(xp, y_true, y_pred, **o):
    return ratio_from_stats(xp, ratio_stats(xp, y_true, y_pred, **o), **o)


def flat_below(xp, dtype):
    """Denominators below this are treated as empty by the derivatives (about 1e-146 in
    float64, 3e-16 in float32): there ``1/D^2`` would overflow, and with an empty target
    (the only way to get there unless the soft labels themselves are that small) the score
    is constant in ``p``, so 0 is the exact derivative."""
    fi = xp.finfo(dtype)
    return math.sqrt(fi.smallest_normal / fi.eps)


def _weighted_classes_coupled(o):
    """True when a softmax couples samples with different per-sample weights."""
    ca = o["class_axis"]
    return o["activation"] == "softmax" and ca not in o["reduced"]




def _ratio_derivs(xp, y_true, y_pred, o, cotangent, order, stats=None):
    """Gradient and Hessian diagonal of (cotangent-weighted) ratio losses in the logits.

    Per sample, with ``inv = 1/D``, ``R = N/D`` and per element ``a = n' inv``,
    ``b = d' inv`` (first derivatives in q of the element's numerator and denominator
    terms): the ratio loss has gradient ``gT = R b - a`` and Hessian
    ``H_jk = delta_jk R d''_j inv - b_j gT_k - gT_j b_k``; the focal loss ``phi(T)`` has
    ``phi' gT`` and ``phi'' gT gT^T + phi' H``. Everything is formed from these bounded
    ratios, so no ``0 * inf`` arises for near-empty samples.
    """
    if cotangent is None and o.get("sample_w") is not None and _weighted_classes_coupled(o):
        raise LossInputError(
            "the gradient of a class-weighted (class_weight or include_background=False) per-class "
            "score through a softmax needs the per-sample cotangent, which this version of "
            "losskit.core does not pass; sum the class axis, or use activation=None/'sigmoid'"
        )
    act, ca = o["activation"], o["class_axis"]
    torch = _lean_torch(y_true, y_pred, o) if order == 1 and o["kind"] in _LEAN_KINDS else None
    if torch is not None:
        return _torch_hard_grad(xp, torch, y_true, y_pred, o, cotangent, stats), None
    q, dq, d2q = activate(xp, y_pred, act, ca, derivs=True)
    if stats is None:  # else the totals over the whole input (the engine's boxes of a global loss)
        stats = ratio_stats(xp, y_true, y_pred, q=q, **o)
    N, D, E, W = _ratio_totals(xp, stats, o)
    ok = xp.abs(D) > flat_below(xp, D.dtype)
    zero = xp.zeros_like(D)
    inv = xp.where(ok, 1.0 / xp.where(ok, D, xp.ones_like(D)), zero)
    R = N * inv
    a, b, c = o["coef"]
    t1, f1, n1, f2 = _term_derivs(xp, y_true, q, o["mode"])
    num1 = a * t1
    den1 = num1 + (b * f1 + c * n1)
    den2 = None if f2 is None else b * f2 + xp.zeros_like(q)
    scale = o["mask"]
    if W is not None:
        scale = W if scale is None else scale * W
    if scale is not None:
        num1, den1 = num1 * scale, den1 * scale
        den2 = None if den2 is None else den2 * scale
    bb = den1 * inv
    gT = R * bb - num1 * inv
    w1, w2 = 1.0, None  # phi' and phi'' per sample (the plain ratio: 1 and 0)
    if o["kind"] == "focal_tversky":
        g = o["gamma"]
        _, pos, Tc = _focal(xp, E * inv, o)
        pos = pos & ok
        w1 = xp.where(pos, g * Tc ** (g - 1.0), zero)
        w2 = xp.where(pos, g * (g - 1.0) * Tc ** (g - 2.0), zero)
    ct = expand_cotangent(xp, cotangent, o["reduced"])
    if ct is not None:
        w1 = w1 * ct
        w2 = None if w2 is None else w2 * ct
    G = w1 * gT
    if order == 1:
        if act is None:
            return G, None
        if act == "softmax":
            return project(xp, q, G, ca), None
        return G * dq, None
    delta = None if den2 is None else w1 * R * den2 * inv  # the part of the q-Hessian on its diagonal only
    extra = None
    if act == "softmax" and ca in o["reduced"]:
        # the classes of a pixel share one sample: the rank-2 part of the q-Hessian contracted
        # with the softmax Jacobian column v: (gT.v) and (b.v) are projections
        Pg, Pb = project(xp, q, gT, ca), project(xp, q, bb, ca)
        extra = -2.0 * w1 * Pb * Pg
        if w2 is not None:
            extra = extra + w2 * Pg * Pg
        hq = delta
    else:
        hq = -2.0 * w1 * bb * gT
        if w2 is not None:
            hq = hq + w2 * gT * gT
        if delta is not None:
            hq = hq + delta
    if act is None:
        return G, hq
    return chain(xp, q, dq, d2q, G, hq, act, ca, extra)


def ratio_grad(xp, y_true, y_pred, cotangent=None, stats=None, **o):
    return _ratio_derivs(xp, y_true, y_pred, o, cotangent, 1, stats)[0]


def ratio_hess(xp, y_true, y_pred, cotangent=None, stats=None, **o):
    h = _ratio_derivs(xp, y_true, y_pred, o, cotangent, 2, stats)[1]
    return xp.zeros_like(y_pred) if h is None else h + xp.zeros_like(y_pred)


_COEF = {"dice": (2.0, 1.0, 1.0), "jaccard": (1.0, 1.0, 1.0), "generalized_dice": (2.0, 1.0, 1.0)}


def make_ratio_prepare(kind):
    def prepare(xp, y_true, y_pred, opts, validate):
        act = check_choice(opts["activation"], ACTIVATIONS, name="activation")
        y_pred = prepare_pred(xp, y_pred, validate)
        ndim = y_pred.ndim
        ignore_index = ignore_index_option(opts["ignore_index"])
        include_bg = check_flag(opts["include_background"], "include_background")
        cw_opt = opts.get("class_weight")
        needs_ca = act == "softmax" or not include_bg or cw_opt is not None or kind == "generalized_dice"
        ca = check_axis(opts["class_axis"], ndim, name="class_axis") if needs_ca else None
        y, valid, ca_ids = targets(xp, y_true, y_pred, class_axis=opts["class_axis"],
                                    ignore_index=ignore_index, validate=validate)
        ca = ca if ca is not None else ca_ids
        if act is None and validate:
            check_range(y_pred, 0.0, 1.0, xp=xp, name="y_pred",
                        what="probabilities in [0, 1] (pass activation='sigmoid' or 'softmax' for logits)")
        if ca is not None and y_pred.shape[ca] == 0:
            raise LossInputError(
                f"y_pred must have at least one class along class_axis={opts['class_axis']}; "
                f"got shape {tuple(y_pred.shape)}"
            )
        if act == "softmax" and y_pred.shape[ca] < 2:
            raise LossInputError(
                f"activation='softmax' needs at least 2 classes along class_axis={opts['class_axis']}; "
                f"y_pred has shape {tuple(y_pred.shape)} (use activation='sigmoid' for one channel)"
            )
        axes = axes_option(opts["axis"], ndim)
        if kind == "generalized_dice":
            axes = tuple(a for a in axes if a != ca)
            reduced = tuple(sorted(axes + (ca,)))
        else:
            reduced = axes
        nr, dr = smoothing(opts)
        squared = check_flag(opts.get("squared_pred", False), "squared_pred")
        soft = check_flag(opts["soft_label"], "soft_label")
        mode = "squared" if squared else ("soft" if soft else "hard")
        if kind in ("tversky", "focal_tversky"):
            alpha = check_number(opts["alpha"], name="alpha", lo=0.0)
            beta = check_number(opts["beta"], name="beta", lo=0.0)
            coef = (1.0, float(alpha), float(beta))
        else:
            coef = _COEF[kind]
        sample_w = None
        if cw_opt is not None or not include_bg:
            n = y_pred.shape[ca]
            if not include_bg and n < 2:
                raise LossInputError(
                    f"include_background=False needs at least 2 classes along class_axis={opts['class_axis']}; "
                    f"y_pred has shape {tuple(y_pred.shape)}"
                )
            w = class_weights(xp, cw_opt, n, include_bg, opts["class_axis"], y_pred, validate)
            if ca in reduced:
                if cw_opt is not None:
                    raise LossInputError(
                        f"class_weight weights per-class scores, but class_axis={opts['class_axis']} is "
                        f"summed (axis={opts['axis']!r}); leave the class axis out of axis"
                    )
                keep = along(xp, w, ca, ndim)
                valid = keep if valid is None else valid * keep
            else:
                sample_w = along(xp, w, values_axis(ca, reduced), ndim - len(reduced))
        out = {
            "kind": kind, "axes": axes, "reduced": reduced, "coef": coef, "mode": mode,
            "smooth_nr": nr, "smooth_dr": dr, "activation": act, "class_axis": ca,
            "mask": valid, "sample_w": sample_w,
        }
        if _lean_torch(y, y_pred, out) is not None:  # the value's statistics, kept for this call's gradient
            out["memo"] = {}
        if kind == "focal_tversky":
            out["gamma"] = float(check_number(opts["gamma"], name="gamma", lo=0.0, lo_open=True))
            out["tau"] = 1e-100 if xp.finfo(y_pred.dtype).bits >= 64 else 1e-15
        if kind == "generalized_dice":
            out["w_type"] = check_choice(opts["w_type"], ("square", "simple", "uniform"), name="w_type")
        return y, y_pred, out

    return prepare
