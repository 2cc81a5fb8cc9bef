"""Classification losses on binary targets (elementwise): cross-entropy and its relatives."""

from __future__ import annotations

import numpy as np

from .._array.lean import torch_elementwise_blocks, torch_untracked_pair
from .._array.stable import inv_above, logistic_parts, sigmoid_pair, sigmoid_slope, softplus_pair
from .._array.validate import check_flag, check_number
from ..spec import Boosting, Loss
from ._common import complement_floor, float_pair, option_array, prob_epsilon


# -- binary cross-entropy ----------------------------------------------------------------
def _bce_prepare(xp, y_true, y_pred, opts, validate):
    probabilities = None if opts["from_logits"] else (
        0.0, 1.0, "probabilities in [0, 1] (pass from_logits=True for logits)")
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate, true_range=(0.0, 1.0, "targets in [0, 1]"),
                                pred_range=probabilities)
    ls = check_number(opts["label_smoothing"], name="label_smoothing", lo=0.0, hi=1.0)
    if ls:
        y_true = y_true * (1.0 - ls) + 0.5 * ls
    pw = option_array(xp, opts["pos_weight"], name="pos_weight", like=y_pred, validate=validate, lo=0.0)
    eps = prob_epsilon(xp, y_pred.dtype, opts["epsilon"])
    floors = (eps, complement_floor(xp, y_pred.dtype, eps))  # floors for p and for 1 - p
    return y_true, y_pred, {"from_logits": check_flag(opts["from_logits"], "from_logits"), "pos_weight": pw, "epsilon": floors}


def _pos(y, pw):
    return y if pw is None else pw * y


def _log_complement(xp, p, q_floor):
    """log(max(1 - p, q_floor)) with log1p's accuracy for small p, in one log: ``u = 1 - p``
    is exact for p >= 1/2 (Sterbenz); below that, ``(u - 1) + p`` is exactly the rounding
    error of ``u`` and dividing it by ``u`` corrects the log to first order (the log1p
    trick). The floor keeps p = 1 finite; where it binds (1 - p < q_floor, exact) the
    correction is 0."""
    u0 = 1.0 - p
    u = xp.clip(u0, min=q_floor)
    return xp.log(u) - ((u0 - 1.0) + p) / u  # the rounding error of the unclamped 1 - p


def _bce_logits_torch(torch, y, x, pw, grad):
    """:func:`bce_value` / :func:`bce_grad` from logits on an untracked torch pair: the same
    expressions in a few buffers updated in place, block by block (every fresh large array costs
    its page faults on CPU). Value ``a softplus(-x) + b softplus(x)`` with ``softplus(-+x) =
    log1p(e^-|x|) + max(-+x, 0)``; gradient ``b sigmoid(x) - a sigmoid(-x)``; ``a = w+ y``,
    ``b = 1 - y``."""
    def block(yb, xb, out):
        return _bce_logits_block(torch, yb, xb, pw, grad, None if out is None else out[0])

    if pw is not None and pw.ndim:  # per-class w+: whole
        return block(y, x, None)
    return torch_elementwise_blocks(block, y, x)


def _bce_logits_block(torch, y, x, pw, grad, out):
    """Without ``pos_weight`` (``a + b = 1``) the blend of the two sides is torch's ``lerp`` with
    weight ``y``: one pass instead of forming ``1 - y`` and two products, exact at ``y = 0`` and
    ``1`` (it returns an end point) and accurate between (its ``w >= 1/2`` branch steps back from
    the end, so neither side is cancelled). The result goes into ``out`` when given. ``-|x| =
    min(x, 0) - max(x, 0)``: the two parts the softplus terms add."""
    if grad:
        s, s_neg = torch.sigmoid(x), torch.neg(x).sigmoid_()
        if pw is None:
            return torch.lerp(s, s_neg.neg_(), y, out=s if out is None else out)  # (1 - y) s - y s_neg
        return torch.mul(s, torch.neg(y).add_(1.0), out=s if out is None else out).addcmul_(s_neg, pw * y, value=-1.0)
    lo, hi = torch.clamp_max(x, 0.0), torch.clamp_min(x, 0.0)
    l1 = torch.sub(lo, hi).exp_().log1p_()  # log1p(e^-|x|)
    sp_pos = hi.add_(l1)
    sp_neg = l1.sub_(lo)  # l1 - min(x, 0) = softplus(-x)
    if pw is None:
        return torch.lerp(sp_pos, sp_neg, y, out=sp_pos if out is None else out)
    return torch.mul(sp_neg, pw * y, out=sp_neg if out is None else out).addcmul_(torch.neg(y).add_(1.0), sp_pos)


def _bce_probs_torch(torch, y, p, pw, floors, grad):
    """:func:`bce_value` / :func:`bce_grad` from probabilities on an untracked torch pair, as
    :func:`_bce_logits_torch`: the same expressions (:func:`_log_complement`, ``inv_above``) in
    three buffers, block by block."""
    def block(yb, pb, out):
        return _bce_probs_block(torch, yb, pb, pw, floors, grad)

    return block(y, p, None) if pw is not None and pw.ndim else torch_elementwise_blocks(block, y, p)


def _bce_probs_block(torch, y, p, pw, floors, grad):
    p_floor, q_floor = floors
    a = y if pw is None else pw * y
    u = torch.neg(p).add_(1.0)  # 1 - p
    if grad:  # b / (1 - p) - a / p, each 0 below its floor
        lo = torch.clamp_min(u, q_floor)
        g = u.gt_(q_floor).div_(lo)
        inv_p = torch.gt(p, p_floor, out=torch.empty_like(p)).div_(torch.clamp_min(p, p_floor, out=lo))
        return g.mul_(torch.neg(y, out=lo).add_(1.0)).addcmul_(inv_p, a, value=-1.0)
    corr = torch.sub(u, 1.0).add_(p)  # the rounding error of 1 - p
    log_q = u.clamp_min_(q_floor)
    corr.div_(log_q)
    log_q.log_().sub_(corr)
    log_p = torch.clamp_min(p, p_floor).log_()
    return log_p.mul_(a).addcmul_(torch.neg(y, out=corr).add_(1.0), log_q).neg_()


def bce_value(xp, y_true, y_pred, *, from_logits, pos_weight, epsilon):
    torch = torch_untracked_pair(y_true, y_pred)
    if torch is not None:
        if from_logits:
            return _bce_logits_torch(torch, y_true, y_pred, pos_weight, grad=False)
        return _bce_probs_torch(torch, y_true, y_pred, pos_weight, epsilon, grad=False)
    a, b = _pos(y_true, pos_weight), 1.0 - y_true
    if from_logits:
        sp_pos, sp_neg = softplus_pair(y_pred, xp=xp)
        return a * sp_neg + b * sp_pos
    p_floor, q_floor = epsilon
    log_p = xp.log(xp.clip(y_pred, min=p_floor))
    return -(a * log_p + b * _log_complement(xp, y_pred, q_floor))


def bce_grad(xp, y_true, y_pred, *, from_logits, pos_weight, epsilon):
    torch = torch_untracked_pair(y_true, y_pred)
    if torch is not None:
        if from_logits:
            return _bce_logits_torch(torch, y_true, y_pred, pos_weight, grad=True)
        return _bce_probs_torch(torch, y_true, y_pred, pos_weight, epsilon, grad=True)
    a, b = _pos(y_true, pos_weight), 1.0 - y_true
    if from_logits:
        s, s_neg = sigmoid_pair(y_pred, xp=xp)
        return b * s - a * s_neg
    return b * inv_above(1.0 - y_pred, epsilon[1], xp=xp) - a * inv_above(y_pred, epsilon[0], xp=xp)


def bce_hess(xp, y_true, y_pred, *, from_logits, pos_weight, epsilon):
    a, b = _pos(y_true, pos_weight), 1.0 - y_true
    if from_logits:
        return (a + b) * sigmoid_slope(y_pred, xp=xp)
    inv_p = inv_above(y_pred, epsilon[0], xp=xp)
    inv_q = inv_above(1.0 - y_pred, epsilon[1], xp=xp)
    return a * inv_p * inv_p + b * inv_q * inv_q


BINARY_CROSS_ENTROPY = Loss(
    name="binary_cross_entropy",
    input_kind="probability",
    boosting=Boosting(start="log_odds", start_if_default=("pos_weight",)),
    fused="binary_cross_entropy",
    fused_at_scale=True,
    aliases=("binary_crossentropy", "bce", "sigmoid_binary_cross_entropy"),
    value=bce_value,
    grad=bce_grad,
    hess=bce_hess,
    prepare=_bce_prepare,
    options={"from_logits": False, "label_smoothing": 0.0, "pos_weight": None, "epsilon": None},
    structure="elementwise",
    task="binary classification",
    inputs="y_true: targets in [0, 1] (hard or soft labels); y_pred: probabilities, or logits with from_logits=True",
    summary="Log loss of independent binary (multi-label) predictions.",
    doc="""Binary cross-entropy (log loss), elementwise.

    Per element, with target ``y`` (after label smoothing ``y (1 - s) + s/2``) and ``w+ = pos_weight``:

    - probabilities: ``l = -(w+ y log p + (1 - y) log(1 - p))``,
      gradient ``-w+ y / p + (1 - y) / (1 - p)``, Hessian ``w+ y / p^2 + (1 - y) / (1 - p)^2``.
      ``p`` and ``1 - p`` are floored at ``epsilon`` inside the logs only, so ``0 log 0 = 0``
      and a confident wrong prediction costs ``-log(epsilon)``: 100 in float64 (PyTorch's
      ``BCELoss`` clamp) and 40 in float32 by default (the largest caps at which the
      Hessian ``1/p^2`` stays finite). ``1 - p`` is floored at ``max(eps, 1 - fl(1 - eps))``,
      i.e. exactly "p clipped to [eps, 1 - eps] in the compute dtype". Below a floor the
      gradient is 0, as autodiff of the clamp gives. Keras clips at ``epsilon=1e-7`` in
      float32; pass ``epsilon=1e-7`` with float32 inputs to reproduce Keras to the bit.
    - ``from_logits=True``: ``l = w+ y softplus(-x) + (1 - y) softplus(x)``, exact for every
      finite logit (no clipping); gradient ``(1 - y) sigmoid(x) - w+ y sigmoid(-x)``, Hessian
      ``(w+ y + 1 - y) sigmoid(x) sigmoid(-x)``.

    Options: ``from_logits=False``, ``label_smoothing=0.0`` (Keras/optax convention),
    ``pos_weight=None`` (PyTorch's ``BCEWithLogitsLoss(pos_weight=...)``: a scalar or an
    array broadcasting against ``y_pred``, e.g. one weight per class on the last axis),
    ``epsilon=None``.

    Peers: ``torch.nn.functional.binary_cross_entropy(_with_logits)``,
    ``keras.losses.BinaryCrossentropy`` (mean over the last axis, then
    ``reduction="sum_over_batch_size"``), ``optax.sigmoid_binary_cross_entropy`` (logits,
    ``reduction="none"``), ``sklearn.metrics.log_loss``.

    >>> import numpy as np, losskit as lk
    >>> y, p = np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.9, 0.1])
    >>> round(float(lk.binary_cross_entropy(y, p)), 6)   # the course formula gives nan here
    0.05268
    """,
)


# -- binary focal cross-entropy ------------------------------------------------------------
# Notation: y the (smoothed) target, x the logit or p the probability, p_t = y p + (1-y)(1-p),
# q = 1 - p_t = y (1 - p) + (1 - y) p (the focal base), f = q^gamma, B the binary
# cross-entropy and A = alpha y + (1 - alpha)(1 - y) (1 when alpha is None). The loss is A f B.
def _focal_prepare(xp, y_true, y_pred, opts, validate):
    bce_opts = {"from_logits": opts["from_logits"], "label_smoothing": opts["label_smoothing"],
                "pos_weight": None, "epsilon": opts["epsilon"]}
    y_true, y_pred, bce_opts = _bce_prepare(xp, y_true, y_pred, bce_opts, validate)
    gamma = float(check_number(opts["gamma"], name="gamma", lo=0.0))
    alpha = opts["alpha"]
    if alpha is not None:
        alpha = float(check_number(alpha, name="alpha", lo=0.0, hi=1.0))
    return y_true, y_pred, {"from_logits": bce_opts["from_logits"], "epsilon": bce_opts["epsilon"],
                            "gamma": gamma, "alpha": alpha}


def _alpha_t(y, alpha):
    return None if alpha is None else alpha * y + (1.0 - alpha) * (1.0 - y)


def _focal_logit_parts(xp, y, x, gamma):
    """(f, B, p, 1 - p, q) for logits ``x``.

    ``q = y sigmoid(-x) + (1 - y) sigmoid(x)`` is accurate to a few ulp (a sum of two
    non-negative accurate terms), so ``f = q**gamma`` is too; only where ``q`` underflows
    (|x| > ~708 in float64, ~87 in float32, hard labels) is ``f = exp(gamma log q)`` with
    ``log q`` in log-sigmoid form (``-softplus(+-x)``, or a log-sum-exp for soft labels), which
    stays exact for +-1e4 and keeps tiny gamma right (sigmoid(-800)**0.01 = e^-8, not 0).
    """
    sp_pos, sp_neg, p, pbar = logistic_parts(x, xp=xp)
    one = xp.ones_like(x)
    q = y * pbar + (1.0 - y) * p
    bce = y * sp_neg + (1.0 - y) * sp_pos
    if gamma == 0.0:
        return one, bce, p, pbar, q
    big = q >= xp.finfo(q.dtype).smallest_normal
    soft = (y > 0.0) & (y < 1.0)
    ys = xp.where(soft, y, 0.5 * one)
    u = xp.log(ys) - sp_pos  # log(y sigmoid(-x))
    v = xp.log1p(-ys) - sp_neg  # log((1 - y) sigmoid(x))
    ge = u >= v
    hi, lo = xp.where(ge, u, v), xp.where(ge, v, u)
    log_q = xp.where(y == 1.0, -sp_pos, xp.where(y == 0.0, -sp_neg, hi + xp.log1p(xp.exp(lo - hi))))
    f = xp.where(big, xp.where(big, q, one) ** gamma, xp.exp(gamma * log_q))
    return f, bce, p, pbar, q


def _focal_ratio(xp, y, p, pbar, q):
    """r = sigmoid(x) sigmoid(-x) / q, so that d log q / dx = (1 - 2y) r; 0 <= r <= 2.

    Exactly ``sigmoid(x)`` for y = 1 and ``sigmoid(-x)`` for y = 0 (no 0/0 where q underflows)."""
    pos = q > 0.0
    soft = p * pbar / xp.where(pos, q, xp.ones_like(q))
    return xp.where(y == 1.0, p, xp.where(y == 0.0, pbar, xp.where(pos, soft, xp.zeros_like(q))))


# torch (untracked, gamma >= 2): the same numbers in fewer passes, in place, without ``where``
# (a scalar loop on CPU). Where q underflows (q < smallest normal), q^gamma B and every term of
# the gradient underflow to 0 for gamma >= 2 (q^2 < tiny^2, and B ~ |x| stays below ~750 until q
# is exactly 0), so the exp(gamma log q) branch only ever gives 0 there, as q**gamma does; and
# the gradient is written
# q^(gamma - 1) (gamma c s B + q (p - y)) (s = p (1 - p) = r q), with no division by q.
def _focal_torch(y, x, gamma):
    """torch when the lean form below applies to ``(y, x)`` (:func:`torch_untracked_pair`,
    ``gamma >= 2``), else None."""
    return None if gamma < 2.0 else torch_untracked_pair(y, x)


def _focal_torch_parts(torch, y, x):
    """``(p, 1 - p, 1 - y, B, q)``: ``B = l1 + y max(-x, 0) + (1 - y) max(x, 0)`` with ``l1 =
    log1p(e^-|x|)`` (the two softplus terms share l1; every term non-negative)."""
    p, pbar, ybar = torch.sigmoid(x), torch.neg(x).sigmoid_(), 1.0 - y
    bce = torch.abs(x).neg_().exp_().log1p_()
    t = torch.clamp_min(x, 0.0)
    bce.addcmul_(ybar, t).addcmul_(y, torch.clamp(x, max=0.0, out=t), value=-1.0)
    q = torch.mul(y, pbar, out=t).addcmul_(ybar, p)
    return p, pbar, ybar, bce, q


def _focal_torch_alpha(ybar, y, alpha, scale):
    """``scale alpha_t`` in ``ybar``'s buffer (None when there is neither)."""
    if alpha is None:
        return None if scale == 1.0 else ybar.fill_(scale)
    return ybar.mul_(scale * (1.0 - alpha)).add_(y, alpha=scale * alpha)


def _focal_torch_blocks(torch, y, x, gamma, alpha, *, value, grad):
    """:func:`_focal_torch_block` over the blocks of a large pair (one call when small)."""
    return torch_elementwise_blocks(lambda yb, xb, out: _focal_torch_block(torch, yb, xb, gamma, alpha, value, grad),
                                    y, x, outputs=2 if value and grad else 1)


def _focal_torch_block(torch, y, x, gamma, alpha, value, grad):
    """The value, the gradient, or both (a pair) from one :func:`_focal_torch_parts`."""
    p, pbar, ybar, bce, q = _focal_torch_parts(torch, y, x)
    out = None
    if grad:
        d = torch.mul(ybar, p).addcmul_(y, pbar, value=-1.0)  # p - y
        s = pbar.mul_(p)
        out = s.addcmul_(y, s, value=-2.0).mul_(bce)  # c s B
        q_gm1 = q if gamma == 2.0 else torch.pow(q, gamma - 1.0)
        out.addcmul_(q, d, value=1.0 / gamma).mul_(q_gm1)
        a = _focal_torch_alpha(torch.clone(ybar) if value else ybar, y, alpha, gamma)
        out = out if a is None else out.mul_(a)
        if not value:
            return out
    v = bce.mul_(q.square_() if gamma == 2.0 else q.pow_(gamma))
    a = _focal_torch_alpha(ybar, y, alpha, 1.0)
    v = v if a is None else v.mul_(a)
    return (v, out) if grad else v


def _focal_prob_parts(xp, y, p, epsilon, gamma):
    """(f, f', f'') in p with the focal base floored: f = max(q, epsilon)^gamma."""
    floor = epsilon[0]  # (floor of p, floor of 1 - p) as prepared for BCE; q takes p's
    q = y * (1.0 - p) + (1.0 - y) * p
    ok = q > floor
    qc = xp.where(ok, q, xp.full_like(q, floor))  # not clip: at q == floor, autodiff gives 0 here too
    f = qc**gamma
    c = 1.0 - 2.0 * y
    fq = xp.where(ok, f / qc, xp.zeros_like(f))  # f / q, 0 where the floor holds f constant
    return f, gamma * c * fq, (gamma * (gamma - 1.0)) * (c * c) * (fq / qc)


# NumPy (nothing differentiates it): the same lean form from one e = exp(-|x|), for gamma >= 2;
# the generic form's underflow branch and its seven wheres cost 3-4x the time on small arrays.
def _focal_numpy(y, x, gamma):
    return gamma >= 2.0 and type(x) is np.ndarray and type(y) is np.ndarray and y.shape == x.shape


def _focal_numpy_parts(xp, y, x):
    """``(p, 1 - p, 1 - y, B, q)`` as :func:`_focal_torch_parts`, on NumPy arrays."""
    sp_pos, sp_neg, p, pbar = logistic_parts(x, xp=xp)
    ybar = 1.0 - y
    return p, pbar, ybar, y * sp_neg + ybar * sp_pos, y * pbar + ybar * p


def _focal_numpy_alpha(y, ybar, alpha, scale):
    return scale if alpha is None else ybar * (scale * (1.0 - alpha)) + y * (scale * alpha)


def _focal_numpy_value(xp, y, x, gamma, alpha):
    _, _, ybar, bce, q = _focal_numpy_parts(xp, y, x)
    return bce * (q * q if gamma == 2.0 else q**gamma) * _focal_numpy_alpha(y, ybar, alpha, 1.0)


def _focal_numpy_grad(xp, y, x, gamma, alpha):
    p, pbar, ybar, bce, q = _focal_numpy_parts(xp, y, x)
    s = p * pbar
    out = ((s - 2.0 * (y * s)) * bce + q * (ybar * p - y * pbar) * (1.0 / gamma))  # c s B + q (p - y) / gamma
    out = out * (q if gamma == 2.0 else q ** (gamma - 1.0))
    return out * _focal_numpy_alpha(y, ybar, alpha, gamma)


def focal_value(xp, y_true, y_pred, *, from_logits, epsilon, gamma, alpha):
    torch = _focal_torch(y_true, y_pred, gamma) if from_logits else None
    if torch is not None:
        return _focal_torch_blocks(torch, y_true, y_pred, gamma, alpha, value=True, grad=False)
    if from_logits and _focal_numpy(y_true, y_pred, gamma):
        return _focal_numpy_value(xp, y_true, y_pred, gamma, alpha)
    if from_logits:
        f, bce, *_ = _focal_logit_parts(xp, y_true, y_pred, gamma)
    else:
        f = _focal_prob_parts(xp, y_true, y_pred, epsilon, gamma)[0]
        bce = bce_value(xp, y_true, y_pred, from_logits=False, pos_weight=None, epsilon=epsilon)
    out = f * bce
    a = _alpha_t(y_true, alpha)
    return out if a is None else a * out


def _focal_derivatives(xp, y, x, *, from_logits, epsilon, gamma, alpha, order):
    torch = _focal_torch(y, x, gamma) if from_logits and order == 1 else None
    if torch is not None:
        return _focal_torch_blocks(torch, y, x, gamma, alpha, value=False, grad=True)
    if from_logits and order == 1 and _focal_numpy(y, x, gamma):
        return _focal_numpy_grad(xp, y, x, gamma, alpha)
    if from_logits:
        f, bce, p, pbar, q = _focal_logit_parts(xp, y, x, gamma)
        r = _focal_ratio(xp, y, p, pbar, q)
        c = 1.0 - 2.0 * y
        u = c * r  # d log q / dx
        d = (1.0 - y) * p - y * pbar  # dB/dx = p - y
        if order == 1:
            out = f * (gamma * u * bce + d)
        else:
            dlogq2 = (gamma - 1.0) * u * u + c * r * (pbar - p)  # (f''/f) / gamma
            out = f * (gamma * dlogq2 * bce + 2.0 * gamma * u * d + p * pbar)
    else:
        f, f1, f2 = _focal_prob_parts(xp, y, x, epsilon, gamma)
        kw = {"from_logits": False, "pos_weight": None, "epsilon": epsilon}
        bce, b1 = bce_value(xp, y, x, **kw), bce_grad(xp, y, x, **kw)
        if order == 1:
            out = f1 * bce + f * b1
        else:
            out = f2 * bce + 2.0 * f1 * b1 + f * bce_hess(xp, y, x, **kw)
    a = _alpha_t(y, alpha)
    return out if a is None else a * out


def focal_grad(xp, y_true, y_pred, **opts):
    return _focal_derivatives(xp, y_true, y_pred, order=1, **opts)


def focal_value_grad(xp, y_true, y_pred, *, from_logits, epsilon, gamma, alpha):
    """``(focal_value, focal_grad)`` from one pass over the shared parts (the sigmoids, the BCE
    term, the focal base) for logits with ``gamma >= 2`` on an untracked torch pair; None
    otherwise."""
    torch = _focal_torch(y_true, y_pred, gamma) if from_logits else None
    return None if torch is None else _focal_torch_blocks(torch, y_true, y_pred, gamma, alpha, value=True, grad=True)


def focal_hess(xp, y_true, y_pred, **opts):
    return _focal_derivatives(xp, y_true, y_pred, order=2, **opts)


BINARY_FOCAL_CROSS_ENTROPY = Loss(
    name="binary_focal_cross_entropy",
    input_kind="probability",
    aliases=("binary_focal_crossentropy", "sigmoid_focal_loss", "focal"),
    fused="binary_focal_cross_entropy",
    value=focal_value,
    grad=focal_grad,
    value_grad=focal_value_grad,
    hess=focal_hess,
    prepare=_focal_prepare,
    options={"gamma": 2.0, "alpha": None, "from_logits": False, "label_smoothing": 0.0, "epsilon": None},
    structure="elementwise",
    task="binary classification",
    inputs="y_true: targets in [0, 1] (hard or soft labels); y_pred: probabilities, or logits with from_logits=True",
    summary="Binary cross-entropy scaled by (1 - p_t)^gamma: down-weights easy examples (Lin et al.).",
    doc="""Binary focal cross-entropy (sigmoid focal loss), elementwise.

    Per element, with target ``y`` (after label smoothing ``y (1 - s) + s/2``), probability
    ``p`` (``sigmoid(x)`` for logits ``x``), ``p_t = y p + (1 - y)(1 - p)`` and ``q = 1 - p_t``:

    ``l = alpha_t q^gamma BCE(y, p)``, with ``alpha_t = alpha y + (1 - alpha)(1 - y)`` when
    ``alpha`` is a number and ``alpha_t = 1`` when ``alpha=None``. ``gamma = 0`` gives
    :func:`binary_cross_entropy` (times ``alpha_t``).

    Derivatives, with ``c = 1 - 2y``, ``f = q^gamma`` and ``B = BCE``:

    - ``from_logits=True``: ``s = p (1 - p)``, ``r = s / q`` (``= p`` for ``y = 1``,
      ``1 - p`` for ``y = 0``, always in [0, 2]), ``u = d log q / dx = c r``;
      gradient ``alpha_t f (gamma u B + p - y)``, Hessian
      ``alpha_t f (gamma ((gamma - 1) u^2 + c r (1 - 2p)) B + 2 gamma u (p - y) + s)``.
      Every term is ``f`` times a bounded factor, so value, gradient and Hessian are finite
      and smooth for every finite logit and every ``gamma >= 0``, including ``gamma < 1``:
      in logit space ``q = sigmoid(-+x)`` never reaches 0. ``q`` is computed directly (a few
      ulp) and ``f = q**gamma``; where ``q`` underflows (logits beyond ~+-708 in float64),
      ``f = exp(gamma log q)`` with ``log q = -softplus(+-x)`` (log-sum-exp for soft labels),
      exact at +-1e4. ``B = y softplus(-x) + (1 - y) softplus(x)`` (no clipping).
    - probabilities: gradient ``alpha_t (f' B + f B')``, Hessian
      ``alpha_t (f'' B + 2 f' B' + f B'')`` with ``f' = gamma c q^(gamma - 1)``,
      ``f'' = gamma (gamma - 1) c^2 q^(gamma - 2)`` and ``B', B''`` those of
      :func:`binary_cross_entropy` (``p`` and ``1 - p`` floored at ``epsilon`` in the logs).
      For ``gamma < 1``, ``q^gamma`` is not differentiable at ``p_t = 1`` (``f'`` is
      unbounded there; for ``gamma < 2`` so is ``f''``), so in the probability path the focal
      base is floored too: ``f = max(q, epsilon)^gamma``, with ``f' = f'' = 0`` where
      ``q <= epsilon`` (what autodiff of the floor gives: it is written as a ``where``, so
      ``q == epsilon`` also gives 0 in PyTorch and JAX). For hard labels the loss there is
      at most ``epsilon^gamma * -log(1 - epsilon)``, about ``epsilon^(1 + gamma)``: the floor
      never changes a value you can see, and it bounds the Hessian by about
      ``epsilon^(gamma - 1)`` (finite at ``p`` exactly 0 or 1, where the exact Hessian of
      ``(1 - p)^(1 + gamma)`` is infinite for ``gamma < 1``).

    Options: ``gamma=2.0`` (>= 0), ``alpha=None`` (or a number in [0, 1], the weight of the
    positive class), ``from_logits=False``, ``label_smoothing=0.0`` (applied to ``y`` before
    ``p_t`` and ``alpha_t``, as Keras does), ``epsilon=None`` (as :func:`binary_cross_entropy`:
    ``e^-100`` in float64, ``e^-40`` in float32; probabilities only).

    Peers and the options that reproduce them:

    - ``keras.losses.BinaryFocalCrossentropy(gamma, alpha, apply_class_balancing, from_logits,
      label_smoothing)``: ``gamma=gamma``, ``alpha=alpha if apply_class_balancing else None``,
      ``epsilon=1e-7`` on float32 inputs, ``reduction="sum_over_batch_size"`` (Keras averages
      the last axis, then divides the weighted sum by the number of rows: for equal-length
      rows that is losskit's elementwise ``sum_over_batch_size`` with row weights broadcast over
      the last axis). Keras clips ``p`` into ``[1e-7, 1 - 1e-7]`` in the BCE but uses the
      unclipped ``p`` in ``(1 - p_t)^gamma``; losskit floors ``q`` at ``epsilon`` as above, which
      differs from Keras by less than ``epsilon^(1 + gamma)`` per element. With
      ``from_logits=True`` Keras applies a float32 sigmoid and then the clipped BCE, so a
      logit beyond about +-16 costs at most ``-log(1.19e-7) = 15.94``; losskit's logit path is
      exact (no clipping) and agrees with Keras only where that clip is inactive. To
      reproduce Keras there too, pass ``sigmoid(x)`` in float32 as probabilities with
      ``epsilon=1e-7``.
    - ``optax.sigmoid_focal_loss(logits, labels, alpha, gamma)``: ``from_logits=True``,
      same ``alpha`` and ``gamma``, ``reduction="none"`` (optax's arguments come
      predictions first).
    - ``torchvision.ops.sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2)``:
      ``from_logits=True, alpha=0.25`` (``alpha=-1`` there is ``alpha=None``); its
      ``reduction="mean"``/``"sum"``/``"none"`` are losskit's.
    - ``monai.losses.FocalLoss(use_softmax=False, gamma, alpha)`` on ``(B, C, ...)`` logits:
      ``from_logits=True``, same ``gamma`` and scalar ``alpha``; MONAI's ``reduction="mean"``
      averages every element (losskit's ``"mean"``); its ``"sum"`` sums the per-(B, C)
      spatial means (losskit ``reduction="sum"`` with ``sample_weight=1/n_spatial``); its
      ``weight`` (per class) is ``sample_weight`` shaped ``(1, C, 1, ...)``;
      ``to_onehot_y`` / ``include_background=False`` are one-hot encoding / dropping channel 0
      before the call. MONAI's focal base for soft targets is ``sigmoid(-x (2y - 1))``, not
      ``1 - p_t`` (the two agree for hard labels), and a per-class ``alpha`` sequence there
      weights positives only (losskit: ``sample_weight``).

    Reference: T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollar, "Focal Loss for Dense
    Object Detection", ICCV 2017 (arXiv:1708.02002).

    >>> import numpy as np, losskit as lk
    >>> y, p = np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.9, 0.2, 0.3, 1.0])
    >>> lk.binary_focal_cross_entropy(y, p, reduction="none")   # 0.1^2 * -log(0.9), ...; p = 1 for y = 0 costs -log(e^-100)
    array([1.05360516e-03, 8.92574205e-03, 5.89946674e-01, 1.00000000e+02])
    >>> x = np.array([1e4, -1e4, 3.0])   # logits: exact, with finite derivatives at +-1e4
    >>> lk.binary_focal_cross_entropy.grad(np.array([1.0, 1.0, 0.0]), x, from_logits=True, reduction="sum")
    array([ 0.        , -1.        ,  1.12674988])
    """,
)

LOSSES = (BINARY_CROSS_ENTROPY, BINARY_FOCAL_CROSS_ENTROPY)
