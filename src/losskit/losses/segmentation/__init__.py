"""Overlap losses for segmentation: Dice and its relatives (Jaccard/IoU, Tversky, focal Tversky,
generalised Dice) and the Lovasz extensions of the Jaccard loss (hinge and softmax).

Conventions shared by the family (each loss's docstring repeats what it needs):

- A *sample* is what remains after summing ``axis`` (``None`` = every axis: one global score,
  the course's formula). ``axis=(2, 3)`` on ``(B, C, H, W)`` gives one score per (image,
  class); ``reduction="mean"`` then averages them (MONAI's ``batch=False``), and
  ``axis=(0, 2, 3)`` sums the batch first (MONAI's ``batch=True``).
- ``y_true`` is either a mask/probability map of ``y_pred``'s shape (float, integer or
  boolean), or a map of integer class ids of ``y_pred``'s shape without the class axis (or with
  a size-1 class axis, MONAI's ``to_onehot_y``), which is one-hot encoded against
  ``arange(C)`` on ``class_axis``. The form is read from the shapes, never guessed from values.
- ``activation``: ``None`` (``y_pred`` holds probabilities in [0, 1]), ``"sigmoid"``,
  ``"softmax"`` (along ``class_axis``, default 1 = channels-first as in MONAI; use
  ``class_axis=-1`` for channels-last) or ``"tanh"`` (MONAI's ``other_act=torch.tanh``). The
  gradient and Hessian diagonal are taken with respect to the logits, through the activation,
  including its curvature (and, for the softmax, its coupling of the classes of a pixel).
- ``ignore_index``: entries of ``y_true`` equal to it are left out of every sum (for a class-id
  map, the whole pixel, all classes). ``include_background=False`` drops class 0;
  ``class_weight`` weights the per-class scores. Both need the class axis, and when the class
  axis is not summed they act as per-sample weights (so dropped classes leave the mean's
  denominator, PyTorch's rule); when it is summed, ``include_background=False`` removes class
  0's entries from the sums instead.

Dice, Jaccard, Tversky, focal Tversky and generalised Dice are all ``1 - N / D`` (or a power of
it) with ``N = a TP + s_nr`` and ``D = a TP + b FP + c FN + s_dr``; one private implementation
(:func:`_ratio_stats`, :func:`_ratio_derivs`) computes the per-element TP/FP/FN terms, their
sums and the derivatives for all of them. The value is evaluated as ``(b FP + c FN + s_dr -
s_nr) / D`` with ``FP = sum(p (1 - y))`` and ``FN = sum(y (1 - p))`` summed element by element
and ``1 - p`` taken from the logits (``sigmoid(-x)``, ``-expm1(log_softmax(x))``), which keeps
the value within a few ulp near a perfect score (``1 - N/D`` would cancel every digit).
"""

from __future__ import annotations

import math
import numbers

from ..._array.stable import log_softmax, sigmoid, sigmoid_slope, softmax
from ..._array.validate import (
    LossInputError,
    check_axis,
    check_choice,
    check_finite,
    check_flag,
    check_integer_labels,
    check_number,
    check_range,
    check_real,
    check_rows_sum_to_one,
)
from ..._array.xp import as_array, compute_dtype, device_of, is_concrete, is_numpy
from ...spec import Loss
from .._common import along, option_array, row_sum_tolerance
from ..categorical import ce_dense_grad_hess, ce_dense_value
from ..classification import bce_grad, bce_hess, bce_value, focal_grad, focal_hess, focal_value

_ACTIVATIONS = (None, "sigmoid", "softmax", "tanh")

# ---------------------------------------------------------------------------------------
# option parsing and input canonicalisation (shared by every overlap loss)
# ---------------------------------------------------------------------------------------




def _axes(axis, ndim):
    """``axis`` (None, an int or a sequence of ints) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        axis = (axis,)
    if not isinstance(axis, (tuple, list)):
        raise LossInputError(f"axis must be None, an integer or a tuple of integers; got {axis!r}")
    out = tuple(check_axis(a, ndim, name="axis") for a in axis)
    if len(set(out)) != len(out):
        raise LossInputError(f"axis must not repeat an axis; got {tuple(axis)!r}")
    return tuple(sorted(out))


def _ignore_option(value):
    if value is None:
        return None
    return int(check_number(value, name="ignore_index", integer=True))


def _prepare_pred(xp, y_pred, validate):
    check_real(y_pred, xp=xp, name="y_pred")
    y_pred = as_array(xp, y_pred, dtype=compute_dtype(xp, y_pred))
    if validate:
        check_finite(y_pred, xp=xp, name="y_pred")
    return y_pred


def _check_binary(xp, y, valid, *, validate):
    if not (validate and is_concrete(y)):
        return
    bad = (y != 0.0) & (y != 1.0)
    if valid is not None:
        bad = bad & (valid > 0)
    if bool(xp.any(bad)):
        n = int(xp.sum(xp.astype(bad, xp.int32)))
        raise LossInputError(f"y_true must hold binary labels 0 or 1 for a Lovasz loss; got {n} other value(s)")


def _targets(xp, y_true, y_pred, *, class_axis, ignore_index, validate, binary=False, ids_allowed=True):
    """``y_true`` as a float array of ``y_pred``'s shape, plus the ``ignore_index`` mask.

    Returns ``(y, valid, ca)``: ``valid`` is None or a 0/1 float array broadcasting to
    ``y_pred``; ``ca`` is the normalised class axis when ``y_true`` held class ids, else None.
    """
    if y_true is None:
        raise LossInputError("y_true is required")
    dtype, ndim = y_pred.dtype, y_pred.ndim
    if y_true.dtype == xp.bool:
        y_true = xp.astype(y_true, dtype)
    check_real(y_true, xp=xp, name="y_true")
    pshape, tshape = tuple(y_pred.shape), tuple(y_true.shape)
    if tshape == pshape:
        valid = None
        y = as_array(xp, y_true, dtype=dtype)
        if ignore_index is not None:
            keep = y_true != ignore_index
            valid = xp.astype(keep, dtype)
            y = xp.where(keep, y, xp.zeros_like(y))
        if validate:
            check_finite(y, xp=xp, name="y_true")
            if binary:
                _check_binary(xp, y, valid, validate=validate)
            else:
                check_range(y, 0.0, 1.0, xp=xp, name="y_true",
                            what="targets in [0, 1] (masks or probabilities; pass validate=False to skip)")
        return y, valid, None
    if not ids_allowed or ndim == 0:
        raise LossInputError(f"y_true must have y_pred's shape {pshape}; got {tshape}")
    ca = check_axis(class_axis, ndim, name="class_axis")
    n = pshape[ca]
    without = pshape[:ca] + pshape[ca + 1:]
    with_one = pshape[:ca] + (1,) + pshape[ca + 1:]
    if tshape == without:
        ids = xp.expand_dims(y_true, axis=ca)
    elif tshape == with_one and n > 1:
        ids = y_true
    else:
        raise LossInputError(
            f"y_true must have y_pred's shape {pshape} (masks or probabilities), or hold class ids "
            f"with shape {without} or {with_one} (class_axis={class_axis}); got {tshape}"
        )
    if validate:
        check_integer_labels(ids, n, xp=xp, name="y_true", ignore_index=ignore_index)
    valid = None
    if ignore_index is not None:
        keep = ids != ignore_index
        valid = xp.astype(keep, dtype)
        ids = xp.where(keep, ids, xp.zeros_like(ids))
    classes = xp.astype(xp.arange(n, device=device_of(y_pred)), ids.dtype)
    y = xp.astype(ids == along(xp, classes, ca, ndim), dtype)
    return y, valid, ca


def _class_weights(xp, cw_opt, n, include_bg, ca, like, validate):
    """Per-class weights (1-D, length ``n``) with class 0 zeroed when the background is dropped."""
    dev = device_of(like)
    w = xp.ones(n, dtype=like.dtype, device=dev)
    if cw_opt is not None:
        arr = option_array(xp, cw_opt, name="class_weight", like=like, validate=validate, lo=0.0)
        if arr.ndim == 0:
            w = w * arr
        elif arr.ndim == 1 and arr.shape[0] == n:
            w = arr
        elif arr.ndim == 1 and not include_bg and arr.shape[0] == n - 1:
            w = xp.concat([xp.zeros(1, dtype=like.dtype, device=dev), arr])
        else:
            alt = "" if include_bg else f" or ({n - 1},) for the classes after the background"
            raise LossInputError(
                f"class_weight must be a scalar or hold one weight per class ({n},) along "
                f"class_axis={ca}{alt}; got shape {tuple(arr.shape)}"
            )
    if not include_bg:
        w = w * xp.astype(xp.arange(n, device=dev) != 0, like.dtype)
    return w


def smoothing(opts):
    s = check_number(opts["smooth"], name="smooth", lo=0.0)
    nr = s if opts["smooth_nr"] is None else check_number(opts["smooth_nr"], name="smooth_nr", lo=0.0)
    dr = s if opts["smooth_dr"] is None else check_number(opts["smooth_dr"], name="smooth_dr", lo=0.0)
    return float(nr), float(dr)


def _values_axis(axis, reduced):
    """Position of ``axis`` of y_pred in the per-sample values (after removing ``reduced``)."""
    return axis - sum(1 for a in reduced if a < axis)


def _squeeze(xp, x, axes):
    return xp.squeeze(x, axis=tuple(axes)) if axes and x.ndim else x


def _sum(xp, x, axes):
    """Sum over ``axes`` keeping them (size 1); float64 accumulation on the NumPy float32 path."""
    if not axes:
        return x
    if is_numpy(xp) and x.dtype == xp.float32:
        return xp.astype(xp.sum(x, axis=tuple(axes), dtype=xp.float64, keepdims=True), xp.float32)
    return xp.sum(x, axis=tuple(axes), keepdims=True)


def _expand_ct(xp, cotangent, reduced):
    """The per-sample cotangent (values' shape) with the reduced axes re-inserted."""
    if cotangent is None or isinstance(cotangent, numbers.Real) or cotangent.ndim == 0:
        return cotangent
    for a in sorted(reduced):
        cotangent = xp.expand_dims(cotangent, axis=a)
    return cotangent


# ---------------------------------------------------------------------------------------
# activations and their first two derivatives
# ---------------------------------------------------------------------------------------


def _activate(xp, x, activation, class_axis, derivs=False):
    """``(q, q', q'')`` for elementwise activations; for the softmax ``(q, None, None)``
    (its Jacobian couples the classes and is applied by the callers)."""
    if activation is None:
        return x, None, None
    if activation == "softmax":
        return softmax(x, axis=class_axis, xp=xp), None, None
    if activation == "sigmoid":
        q = sigmoid(x, xp=xp)
        if not derivs:
            return q, None, None
        d1 = sigmoid_slope(x, xp=xp)
        return q, d1, d1 * (1.0 - 2.0 * q)
    q = xp.tanh(x)
    if not derivs:
        return q, None, None
    e = xp.exp(-2.0 * xp.abs(x))
    d1 = 4.0 * e / ((1.0 + e) * (1.0 + e))  # 1 - tanh^2 without cancellation
    return q, d1, -2.0 * q * d1


def _complement(xp, x, q, activation, class_axis):
    """1 - q to full relative accuracy: sigmoid(-x), 2 sigmoid(-2x) for tanh, -expm1(log_softmax)
    for the softmax (``1 - q`` would lose every digit of a confident prediction)."""
    if activation is None:
        return 1.0 - q  # exact for q >= 1/2 (Sterbenz)
    if activation == "sigmoid":
        return sigmoid(-x, xp=xp)
    if activation == "tanh":
        return 2.0 * sigmoid(-2.0 * x, xp=xp)
    return -xp.expm1(log_softmax(x, axis=class_axis, xp=xp))


def _probs(xp, x, activation, class_axis):
    """``(q, 1 - q)`` for the value paths (one log-softmax for both)."""
    if activation == "softmax":
        ls = log_softmax(x, axis=class_axis, xp=xp)
        return xp.exp(ls), -xp.expm1(ls)
    q = _activate(xp, x, activation, class_axis)[0]
    return q, _complement(xp, x, q, activation, class_axis)


def _chain(xp, q, dq, d2q, G, hq_diag, activation, class_axis, extra=None):
    """Gradient and Hessian diagonal with respect to the logits.

    ``G``: d(weighted sum of values)/dq per element; ``hq_diag``: the part of the q-Hessian
    that is diagonal per element (already weighted by the cotangent). For the softmax,
    ``extra`` is the contribution of the off-diagonal q-Hessian within a pixel, when the
    classes of a pixel share one sample.
    """
    if activation is None:
        return G, hq_diag
    if activation != "softmax":
        h = G * d2q
        return G * dq, h if hq_diag is None else h + hq_diag * dq * dq
    S = xp.sum(q * G, axis=class_axis, keepdims=True)
    gx = q * (G - S)
    # sum_j G_j d^2 q_j / dx_i^2 = (1 - 2 q_i) * gx_i for the softmax
    h = (1.0 - 2.0 * q) * gx
    if hq_diag is not None:
        c = hq_diag
        v = q * (1.0 - q)
        h = h + c * v * v + q * q * (xp.sum(c * q * q, axis=class_axis, keepdims=True) - c * q * q)
    if extra is not None:
        h = h + extra
    return gx, h


# ---------------------------------------------------------------------------------------
# Dice / Jaccard / Tversky / focal Tversky / generalised Dice: one ratio implementation
# ---------------------------------------------------------------------------------------
#
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


def _ratio_stats(xp, y_true, y_pred, *, q=None, **o):
    """Additive sufficient statistics, summed over ``axes`` (kept as size-1 axes):
    ``(sum a t, sum (b f + c n))`` and, for the generalised Dice, ``sum y`` per class."""
    act, ca = o["activation"], o["class_axis"]
    if q is None:
        q, qc = _probs(xp, y_pred, act, ca)
    else:
        qc = _complement(xp, y_pred, q, act, ca)
    a, b, c = o["coef"]
    t, err = _terms(xp, y_true, q, qc, o["mode"], b, c)
    num = a * t
    y = y_true
    m = o["mask"]
    if m is not None:
        num, err, y = num * m, err * m, y * m
    axes = o["axes"]
    out = (_sum(xp, num, axes), _sum(xp, err, axes))
    if o["kind"] == "generalized_dice":
        out = out + (_sum(xp, y, axes),)
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
    """(T + tau)^gamma - tau^gamma for T > 0, else 0 (see the focal Tversky docstring)."""
    g, tau = o["gamma"], o["tau"]
    pos = T > 0
    Tc = xp.where(pos, T, xp.zeros_like(T)) + tau
    return xp.where(pos, Tc ** g - tau ** g, xp.zeros_like(T)), pos, Tc


def _ratio_from_stats(xp, stats, **o):
    N, D, E, _ = _ratio_totals(xp, stats, o)
    ok = D != 0
    v = xp.where(ok, E / xp.where(ok, D, xp.ones_like(D)), xp.zeros_like(D))
    if o["kind"] == "focal_tversky":
        v = _focal(xp, v, o)[0]
    return _squeeze(xp, v, o["reduced"])


def _ratio_value(xp, y_true, y_pred, **o):
    return _ratio_from_stats(xp, _ratio_stats(xp, y_true, y_pred, **o), **o)


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


def _project(xp, q, v, axis):
    """The softmax Jacobian applied to ``v`` along the class axis: q (v - sum(q v))."""
    return q * (v - xp.sum(q * v, axis=axis, keepdims=True))


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
    q, dq, d2q = _activate(xp, y_pred, act, ca, derivs=True)
    if stats is None:  # else the totals over the whole input (the engine's boxes of a global loss)
        stats = _ratio_stats(xp, y_true, y_pred, q=q, **o)
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
    ct = _expand_ct(xp, cotangent, o["reduced"])
    if ct is not None:
        w1 = w1 * ct
        w2 = None if w2 is None else w2 * ct
    G = w1 * gT
    if order == 1:
        if act is None:
            return G, None
        if act == "softmax":
            return _project(xp, q, G, ca), None
        return G * dq, None
    delta = None if den2 is None else w1 * R * den2 * inv  # the part of the q-Hessian on its diagonal only
    extra = None
    if act == "softmax" and ca in o["reduced"]:
        # the classes of a pixel share one sample: the rank-2 part of the q-Hessian contracted
        # with the softmax Jacobian column v: (gT.v) and (b.v) are projections
        Pg, Pb = _project(xp, q, gT, ca), _project(xp, q, bb, ca)
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
    return _chain(xp, q, dq, d2q, G, hq, act, ca, extra)


def _ratio_grad(xp, y_true, y_pred, cotangent=None, stats=None, **o):
    return _ratio_derivs(xp, y_true, y_pred, o, cotangent, 1, stats)[0]


def _ratio_hess(xp, y_true, y_pred, cotangent=None, stats=None, **o):
    h = _ratio_derivs(xp, y_true, y_pred, o, cotangent, 2, stats)[1]
    return xp.zeros_like(y_pred) if h is None else h + xp.zeros_like(y_pred)


def _reduced(ndim, opts):
    """Axes summed into a sample: from prepared options, or from the raw ones (the engine and
    the streaming accumulator ask before preparing)."""
    if "reduced" in opts:
        return opts["reduced"]
    return _axes(opts["axis"], ndim)


def _softmax_class_axis(ndim, opts):
    """The class axis when a softmax runs over it: the classes of a pixel share its logits."""
    if opts.get("activation") == "softmax" and ndim:
        return (check_axis(opts.get("class_axis", 1), ndim, name="class_axis"),)
    return ()


def _reduced_with_classes(ndim, opts):
    if "reduced" in opts:
        return opts["reduced"]
    ca = check_axis(opts["class_axis"], ndim, name="class_axis")
    return tuple(sorted(set(_axes(opts["axis"], ndim)) | {ca}))


def _sample_weight(xp, y_true, y_pred, **o):
    return o.get("sample_w")


_COEF = {"dice": (2.0, 1.0, 1.0), "jaccard": (1.0, 1.0, 1.0), "generalized_dice": (2.0, 1.0, 1.0)}


def _make_ratio_prepare(kind):
    def prepare(xp, y_true, y_pred, opts, validate):
        act = check_choice(opts["activation"], _ACTIVATIONS, name="activation")
        y_pred = _prepare_pred(xp, y_pred, validate)
        ndim = y_pred.ndim
        ignore_index = _ignore_option(opts["ignore_index"])
        include_bg = check_flag(opts["include_background"], "include_background")
        cw_opt = opts.get("class_weight")
        needs_ca = act == "softmax" or not include_bg or cw_opt is not None or kind == "generalized_dice"
        ca = check_axis(opts["class_axis"], ndim, name="class_axis") if needs_ca else None
        y, valid, ca_ids = _targets(xp, y_true, y_pred, class_axis=opts["class_axis"],
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
        axes = _axes(opts["axis"], ndim)
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
            w = _class_weights(xp, cw_opt, n, include_bg, opts["class_axis"], y_pred, validate)
            if ca in reduced:
                if cw_opt is not None:
                    raise LossInputError(
                        f"class_weight weights per-class scores, but class_axis={opts['class_axis']} is "
                        f"summed (axis={opts['axis']!r}); leave the class axis out of axis"
                    )
                keep = along(xp, w, ca, ndim)
                valid = keep if valid is None else valid * keep
            else:
                sample_w = along(xp, w, _values_axis(ca, reduced), ndim - len(reduced))
        out = {
            "kind": kind, "axes": axes, "reduced": reduced, "coef": coef, "mode": mode,
            "smooth_nr": nr, "smooth_dr": dr, "activation": act, "class_axis": ca,
            "mask": valid, "sample_w": sample_w,
        }
        if kind == "focal_tversky":
            out["gamma"] = float(check_number(opts["gamma"], name="gamma", lo=0.0, lo_open=True))
            out["tau"] = 1e-100 if xp.finfo(y_pred.dtype).bits >= 64 else 1e-15
        if kind == "generalized_dice":
            out["w_type"] = check_choice(opts["w_type"], ("square", "simple", "uniform"), name="w_type")
        return y, y_pred, out

    return prepare


_SHARED_OPTIONS = {
    "axis": None,
    "smooth": 1.0,
    "smooth_nr": None,
    "smooth_dr": None,
    "activation": None,
    "class_axis": 1,
    "class_weight": None,
    "include_background": True,
    "ignore_index": None,
    "soft_label": False,
}

_SHARED_DOC_HEAD = """
    Options shared by the overlap losses (defaults in brackets):

    - ``axis`` [None]: axes summed into one score. None = every axis: one global score over
      everything, the course's formula. ``axis=(2, 3)`` on ``(B, C, H, W)`` scores every
      (image, class) pair and ``reduction="mean"`` averages them (per-class averaging, MONAI's
      ``batch=False``); ``axis=(0, 2, 3)`` gives one score per class over the batch (MONAI's
      ``batch=True``); ``axis=(1, 2, 3)`` one score per image (Keras's example).
    - ``smooth`` [1.0; 1e-5 for generalized_dice]: the course's smoothing, added to numerator and denominator;
      ``smooth_nr`` / ``smooth_dr`` [None = ``smooth``] set them separately.
    - ``activation`` [None]: None (``y_pred`` holds probabilities in [0, 1]), ``"sigmoid"``,
      ``"softmax"`` (over ``class_axis``) or ``"tanh"``, applied to logits ``y_pred``.
      Derivatives are taken with respect to the logits, through the activation.
    - ``class_axis`` [1]: the class (channel) axis, channels-first as in MONAI; pass
      ``class_axis=-1`` for channels-last ``(B, H, W, C)`` (Keras, optax). Only used by the
      softmax, class-id targets, ``class_weight`` and ``include_background``.
    - ``y_true``: masks/probabilities of ``y_pred``'s shape (float, int or bool), or integer
      class ids of ``y_pred``'s shape without the class axis (or with a size-1 class axis, as
      MONAI's ``to_onehot_y=True`` expects), one-hot encoded against ``arange(C)``.
"""

_CLASS_WEIGHT_DOC = """
    - ``class_weight`` [None]: a scalar or one weight per class; the class axis must not be
      summed. The per-class scores are weighted like ``sample_weight``: "mean" is
      ``sum(w l) / sum(w)``.
"""

_SHARED_DOC_TAIL = """
    - ``include_background`` [True]: False drops class 0. With the class axis not summed it is
      a zero weight for class 0's scores (they leave the mean's denominator; with
      ``reduction="none"`` their entries are 0); with the class axis summed, class 0's
      entries are left out of the sums.
    - ``ignore_index`` [None]: entries of ``y_true`` equal to it are left out of every sum (for
      a class-id map the whole pixel, all classes), as MONAI's ``ignore_index`` for label maps.
    - ``soft_label`` [False]: MONAI's L1 formulation ``TP = sum(min(y, p))``,
      ``FP = sum(p - min(y, p))``, ``FN = sum(y - min(y, p))``, which scores a soft target
      against itself as 0; identical to the default for hard targets. Assumes ``y_pred >= 0``
      (MONAI's ``|p|`` differs from ``p`` only for negative predictions, e.g. tanh). Its
      (sub)gradient at ``p == y`` is the one of the ``p >= y`` piece.
    - ``validate`` [True]: checks ``y_true`` in [0, 1] (or class ids in range), probabilities in
      [0, 1] when ``activation`` is None, finiteness and shapes; ``validate=False`` reproduces
      Keras on out-of-range inputs.
"""

_SHARED_DOC = _SHARED_DOC_HEAD.rstrip("\n") + _CLASS_WEIGHT_DOC + _SHARED_DOC_TAIL.lstrip("\n")

_EMPTY_DOC = """
    Empty masks: with ``s_nr == s_dr > 0`` an empty target scored against an empty
    prediction gives 0 (perfect). With zero smoothing the 0/0 of two empty masks is defined as
    0 too (evaluated with a ``where`` guard, so value, gradient and Hessian stay finite; the
    gradient there is 0, which is also what autodiff of the guarded value returns). Without
    smoothing an empty target scores 1 against any non-empty prediction, a constant, so its
    derivatives are 0; they are also set to 0 where the denominator is below about 1e-146
    (float64) or 3e-16 (float32), where ``1/D^2`` would overflow (only near-empty targets and
    predictions get there).
"""


def _ratio_record(name, aliases, kind, options, summary, doc):
    return Loss(
        name=name,
        aliases=aliases,
        value=_ratio_value,
        grad=_ratio_grad,
        vjp=True,
        hess=_ratio_hess,
        prepare=_make_ratio_prepare(kind),
        options=options,
        structure="overlap",
        task="segmentation",
        inputs=("y_true: masks/probabilities in [0, 1] or integer class ids; "
                "y_pred: probabilities in [0, 1], or logits with activation='sigmoid'|'softmax'|'tanh'"),
        summary=summary,
        reduced_axes=_reduced_with_classes if kind == "generalized_dice" else _reduced,
        coupled_axes=_softmax_class_axis,
        implicit_weight=_sample_weight,
        doc=doc,
        stats=_ratio_stats,
        from_stats=_ratio_from_stats,
        stats_grad=True,
        streamable=True,
    )


_STREAM_DOC = """
    Streaming: ``stats`` gives additive sufficient statistics (``sum a TP`` and
    ``sum (b FP + c FN)`` per sample, summed over ``axis`` with those axes kept as size 1);
    summing them over chunks of any summed axis and calling ``from_stats`` gives exactly the
    value of the whole array, so the global (``axis=None``) score is accumulated chunk by chunk.
"""

DICE = _ratio_record(
    "dice",
    ("dice_loss", "soft_dice"),
    "dice",
    {**_SHARED_OPTIONS, "squared_pred": False},
    "Soft Dice loss 1 - (2 sum(y p) + s) / (sum(y) + sum(p) + s); per image/class with axis.",
    """Soft Dice loss (Milletari et al. 2016; Sorensen-Dice coefficient).

    Per sample (the entries summed over ``axis``), with ``p`` the probabilities (after
    ``activation``), ``y`` the target and smoothing ``s_nr``, ``s_dr``::

        l = 1 - (2 TP + s_nr) / D,   TP = sum(y p),   D = sum(y) + sum(p) + s_dr
          = (FP + FN + s_dr - s_nr) / D,   FP = sum(p (1 - y)),  FN = sum(y (1 - p))

    With ``squared_pred=True`` (V-Net, MONAI) ``D = sum(y^2) + sum(p^2) + s_dr``.

    Gradient, with ``R = (2 TP + s_nr) / D``: ``dl/dp_i = -(2 y_i - R) / D``
    (squared: ``-(2 y_i - 2 R p_i) / D``). Hessian diagonal (in p):
    ``2 (2 y_i - R) / D^2`` (squared: ``(2 R + 2 (2 y_i - 2 R p_i) 2 p_i / D) / D``). Through
    an activation ``p = act(x)`` the gradient is multiplied by ``act'`` and the Hessian
    diagonal is ``h_p act'^2 + g_p act''``; for the softmax the exact diagonal of the
    logits' Hessian is returned, including the coupling of the classes of a pixel.
    """ + _EMPTY_DOC + _SHARED_DOC + """
    - ``squared_pred`` [False]: squares in the denominator (MONAI's ``squared_pred``).
    """ + _STREAM_DOC + """
    Peers (the course: ``axis=None``, ``smooth=1``, the defaults):

    - Keras ``keras.losses.Dice(axis=None)``: ``smooth_nr=0, smooth_dr=1e-7`` (Keras adds
      ``epsilon()`` to the denominator only), same ``axis``; Keras's default reduction
      divides by the number of scores: ``reduction="sum_over_batch_size"`` (the plain mean
      without weights). Keras does not check ranges (its own tests use ``y_true = 2``):
      ``validate=False`` for such inputs.
    - MONAI ``DiceLoss(...)(input, target)`` (prediction first!): ``lk.dice(target, input,
      axis=(2, ..., n-1), smooth_nr=1e-5, smooth_dr=1e-5)``; ``batch=True`` -> ``axis=(0, 2,
      ..., n-1)``; ``sigmoid=True`` / ``softmax=True`` / ``other_act=torch.tanh`` ->
      ``activation="sigmoid"`` / ``"softmax"`` / ``"tanh"`` (MONAI skips the softmax on one
      channel; losskit raises); ``to_onehot_y=True`` -> pass the ``(B, 1, ...)`` label map
      (detected from its shape); ``include_background``, ``squared_pred``, ``soft_label``,
      ``ignore_index`` (label maps) map one to one; ``jaccard=True`` -> :func:`jaccard` with
      ``smooth_nr/2, smooth_dr/2``; ``weight=w`` -> ``class_weight=w`` with
      ``reduction="sum_over_batch_size"`` (MONAI multiplies the scores by ``w`` and divides by
      ``B * C``; with ``include_background=False`` it divides by ``B * (C - 1)``: take
      ``reduction="sum"`` and divide). MONAI's ``reduction="none"`` shape ``(B, C, 1, ...)``
      is losskit's ``(B, C)`` reshaped; without the background MONAI returns
      ``(B, C - 1, ...)`` where losskit keeps a 0 column. MONAI's gradients through the
      softmax with ``include_background=False`` or ``weight``: see the note below.
    - optax ``optax.losses.dice_loss(logits, targets)`` (channels-last, softmax, per image and
      class, ``smooth`` on both sides of ``(I + s) / ((P + T)/2 + s)``): ``lk.dice(targets,
      logits, activation="softmax", class_axis=-1, axis=(1, ..., n-2), smooth=2 * s)``.

    Note on gradients: with ``activation="softmax"`` and the class axis not summed, the
    classes of a pixel are separate samples coupled by the softmax. When their weights differ
    (``class_weight``, ``include_background=False``, or a ``sample_weight`` that varies along
    the class axis) the gradient must weight each class's score inside the softmax Jacobian;
    the kernels receive the per-sample cotangent from ``losskit.core`` (``vjp=True``) and
    return the exact vector-Jacobian product.

    Reference: F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully Convolutional Neural
    Networks for Volumetric Medical Image Segmentation", 3DV 2016.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 1.0], [0.0, 0.0]])
    >>> p = np.array([[0.9, 0.6], [0.2, 0.0]])
    >>> round(float(lk.dice(y, p)), 6)              # the course: 1 - (2*1.5 + 1) / (2 + 1.7 + 1)
    0.148936
    >>> float(lk.dice(np.zeros((2, 2)), np.zeros((2, 2))))   # empty vs empty: perfect
    0.0
    >>> lk.dice(y, p, axis=1, reduction="none").round(6)     # one score per row
    array([0.111111, 0.166667])
    """,
)

JACCARD = _ratio_record(
    "jaccard",
    ("jaccard_loss", "iou_loss", "soft_jaccard"),
    "jaccard",
    {**_SHARED_OPTIONS, "squared_pred": False},
    "Soft Jaccard (IoU) loss 1 - (I + s) / (sum(y) + sum(p) - I + s).",
    """Soft Jaccard (intersection-over-union) loss.

    Per sample::

        l = 1 - (TP + s_nr) / D,   TP = sum(y p),   D = sum(y) + sum(p) - TP + s_dr
          = (FP + FN + s_dr - s_nr) / D  with FP = sum(p (1 - y)), FN = sum(y (1 - p))

    (``squared_pred=True``: ``D = sum(y^2) + sum(p^2) - TP + s_dr``). Gradient with
    ``R = (TP + s_nr) / D``: ``dl/dp_i = -(y_i - R (1 - y_i)) / D``; Hessian diagonal
    ``2 (y_i - R (1 - y_i)) (1 - y_i) / D^2``, chained through the activation as in
    :func:`dice`.
    """ + _EMPTY_DOC + _SHARED_DOC + """
    - ``squared_pred`` [False]: squares in the denominator.
    """ + _STREAM_DOC + """
    Peers: MONAI ``DiceLoss(jaccard=True, smooth_nr=a, smooth_dr=b)`` computes
    ``1 - (2 TP + a) / (2 (TP + FP + FN) + b)``: ``lk.jaccard(target, input, smooth_nr=a/2,
    smooth_dr=b/2, axis=(2, ..., n-1))`` with the other options as in :func:`dice`.
    segmentation_models_pytorch ``JaccardLoss(smooth=s)`` is ``smooth_nr=smooth_dr=s`` (it
    clamps the denominator at ``eps`` instead of adding it).

    Reference: M. A. Rahman, Y. Wang, "Optimizing Intersection-over-Union in Deep Neural
    Networks for Image Segmentation", ISVC 2016.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([1.0, 1.0, 0.0, 0.0])
    >>> p = np.array([0.9, 0.6, 0.2, 0.0])
    >>> round(float(lk.jaccard(y, p, smooth=0.0)), 6)   # 1 - 1.5 / (2 + 1.7 - 1.5)
    0.318182
    """,
)

TVERSKY = _ratio_record(
    "tversky",
    ("tversky_loss",),
    "tversky",
    {**_SHARED_OPTIONS, "alpha": 0.5, "beta": 0.5},
    "Tversky loss 1 - (TP + s) / (TP + alpha FP + beta FN + s); alpha=beta=0.5 is Dice.",
    """Tversky loss (Salehi et al. 2017): Dice with separate weights on false positives and
    false negatives.

    Per sample, ``TP = sum(y p)``, ``FP = sum(p (1 - y))``, ``FN = sum((1 - p) y)``::

        l = 1 - (TP + s_nr) / D,   D = TP + alpha FP + beta FN + s_dr
          = (alpha FP + beta FN + s_dr - s_nr) / D

    ``alpha = beta = 0.5`` is the Dice loss with halved smoothing, ``alpha = beta = 1`` the
    Jaccard loss. Gradient with ``R = (TP + s_nr) / D``: ``dl/dp_i = -(y_i - R d_i) / D``,
    ``d_i = y_i + alpha (1 - y_i) - beta y_i``; Hessian diagonal ``2 (y_i - R d_i) d_i / D^2``,
    chained through the activation as in :func:`dice`.
    """ + _EMPTY_DOC + """    With ``alpha = 0`` a prediction scored against an empty target has
    ``D = 0`` too, and is scored 0 (false positives cost nothing then).
    """ + _SHARED_DOC + """
    - ``alpha`` [0.5], ``beta`` [0.5]: weights of false positives and false negatives.
    """ + _STREAM_DOC + """
    Peers: Keras ``keras.losses.Tversky(alpha, beta, axis=None)``: ``smooth_nr=0,
    smooth_dr=1e-7``, same ``axis``, ``reduction="sum_over_batch_size"`` (``validate=False``
    for Keras's out-of-range test inputs). Mind Keras's ``alpha``/``beta``: Keras 3.15 computes
    its "fp" as ``sum((1 - y_pred) y_true)``, so its ``alpha`` weighs the false negatives
    (``lk.tversky(..., alpha=keras_beta, beta=keras_alpha)``, which its own test
    ``Tversky(alpha=0.2, beta=0.8) -> 0.7916667`` confirms), while the Keras test suite of
    commit 3422977a5e38 expects ``alpha`` on the false positives (0.76190472,
    ``alpha=keras_alpha``). With ``alpha == beta`` (the default) both agree. MONAI ``TverskyLoss(alpha,
    beta)(input, target)``: ``lk.tversky(target, input, alpha=alpha, beta=beta,
    smooth_nr=1e-5, smooth_dr=1e-5, axis=(2, ..., n-1))``; ``batch``, ``sigmoid``,
    ``softmax``, ``other_act``, ``to_onehot_y``, ``include_background``, ``soft_label`` and
    ``ignore_index`` map as for :func:`dice`; MONAI's ``reduction="none"`` is ``(B, C)`` as in
    losskit. optax ``optax.losses.dice_loss(logits, targets, alpha=.., beta=.., smooth=s)``
    (channels-last, softmax): ``lk.tversky(targets, logits, alpha=.., beta=.., smooth=s,
    activation="softmax", class_axis=-1, axis=(1, ..., n-2))``.

    Reference: S. S. M. Salehi, D. Erdogmus, A. Gholipour, "Tversky loss function for image
    segmentation using 3D fully convolutional deep networks", MLMI 2017.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([1.0, 1.0, 0.0, 0.0])
    >>> p = np.array([0.9, 0.6, 0.2, 0.0])
    >>> round(float(lk.tversky(y, p, alpha=0.3, beta=0.7, smooth=0.0)), 6)  # TP 1.5, FP 0.2, FN 0.5
    0.21466
    """,
)

FOCAL_TVERSKY = _ratio_record(
    "focal_tversky",
    ("focal_tversky_loss",),
    "focal_tversky",
    {**_SHARED_OPTIONS, "alpha": 0.3, "beta": 0.7, "gamma": 0.75},
    "Focal Tversky loss (Tversky loss)^gamma.",
    """Focal Tversky loss (Abraham & Khan 2019): the Tversky loss raised to ``gamma``.

    Per sample, with ``T`` the :func:`tversky` loss of the same options::

        l = T^gamma        (evaluated as (T + tau)^gamma - tau^gamma, see below)

    Gradient ``gamma T^(gamma-1) dT``; Hessian diagonal
    ``gamma (gamma-1) T^(gamma-2) dT^2 + gamma T^(gamma-1) d2T`` (``dT``, ``d2T`` as in
    :func:`tversky`, through the activation). For ``gamma < 2`` these grow without bound as
    ``T -> 0`` (a near-perfect score), so losskit shifts ``T`` by ``tau = 1e-100`` (float64)
    or ``1e-15`` (float32): the value differs from ``T^gamma`` by less than
    ``gamma tau T^(gamma-1)`` (about 1e-100 in float64), and value, gradient and Hessian
    stay finite everywhere. At ``T <= 0`` (a perfect score, or ``smooth_nr > smooth_dr``) the
    value is 0 and the gradient 0, which is what autodiff of the guarded value returns.
    """ + _EMPTY_DOC + _SHARED_DOC + """
    - ``alpha`` [0.3], ``beta`` [0.7]: weights of false positives and false negatives. The
      paper writes ``TI = TP / (TP + a FN + b FP)`` with ``a = 0.7``: its ``a`` is our
      ``beta``.
    - ``gamma`` [0.75] > 0: the exponent. The paper's ``gamma = 4/3`` is the exponent
      ``1/gamma = 0.75``; segmentation_models_pytorch's ``TverskyLoss(gamma=g)`` uses ``g``
      directly (its default 1 is the plain Tversky loss).
    """ + _STREAM_DOC + """
    Reference: N. Abraham, N. M. Khan, "A Novel Focal Tversky Loss Function with Improved
    Attention U-Net for Lesion Segmentation", ISBI 2019.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([1.0, 1.0, 0.0, 0.0])
    >>> p = np.array([0.9, 0.6, 0.2, 0.0])
    >>> round(float(lk.focal_tversky(y, p, smooth=0.0)), 6)   # 0.21466 ** 0.75
    0.315365
    """,
)

GENERALIZED_DICE = _ratio_record(
    "generalized_dice",
    ("generalized_dice_loss", "generalised_dice", "gdl"),
    "generalized_dice",
    {k: v for k, v in {**_SHARED_OPTIONS, "smooth": 1e-5, "w_type": "square"}.items() if k != "class_weight"},
    "Generalised Dice loss: class-weighted Dice with weights 1/sum(y)^2 (Sudre et al. 2017).",
    """Generalised Dice loss (Sudre et al. 2017), MONAI's formulation.

    The classes are always summed into the sample, with weights from the target volumes::

        w_c = 1 / sum(y_c)^2  ("square"),  1 / sum(y_c)  ("simple"),  1  ("uniform")
        l = 1 - (2 sum_c w_c TP_c + s_nr) / (sum_c w_c (2 TP_c + FP_c + FN_c) + s_dr)

    with ``TP_c, FP_c, FN_c`` as in :func:`dice`, summed over ``axis`` per class. An empty
    class has an infinite weight, which is replaced by the largest finite weight of its
    sample (MONAI's rule); when every class of a sample is empty all weights are 0, the score
    is ``1 - s_nr / s_dr``, and 0 when both are 0 (MONAI returns NaN there). The weights
    depend on ``y_true`` only, so gradient and Hessian are those of :func:`dice` with each
    element's terms multiplied by its class weight.

    ``axis`` [None] names the summed non-class axes (the class axis may be listed or not):
    None is one global score; ``axis=(2, ..., n-1)`` one score per image (MONAI's default);
    ``axis=(0, 2, ..., n-1)`` MONAI's ``batch=True``. ``smooth`` defaults to 1e-5 (MONAI),
    not 1: with weights ``1/sum(y)^2`` the sums are of order ``1/sum(y)`` and a smoothing of
    1 would swamp them. ``include_background=False`` leaves class 0 out of the sums and of the
    max-weight rule. There is no ``class_weight`` (the weights are the point of this loss).
    """ + _SHARED_DOC_HEAD.rstrip("\n") + "\n" + _SHARED_DOC_TAIL.lstrip("\n") + """
    - ``w_type`` ["square"]: ``"square"``, ``"simple"`` or ``"uniform"``.

    Streaming: ``stats`` keeps the class axis (``sum 2 TP``, ``sum (FP + FN)`` and ``sum y``
    per class), so the class weights of the whole array are computed in ``from_stats``.

    Peers: MONAI ``GeneralizedDiceLoss(...)(input, target)``: ``lk.generalized_dice(target,
    input, axis=(2, ..., n-1))`` (``batch=True``: ``axis=(0, 2, ..., n-1)``), ``w_type``,
    ``smooth_nr``, ``smooth_dr``, ``sigmoid``/``softmax``/``other_act``, ``to_onehot_y``,
    ``include_background`` and ``soft_label`` as in :func:`dice`; MONAI's
    ``reduction="none"`` shape ``(B, 1, ...)`` is losskit's ``(B,)``. optax's
    ``multiclass_generalized_dice_loss`` normalises its weights and adds ``1e-7`` to
    ``sum(y)^2``: not reproduced.

    Reference: C. H. Sudre, W. Li, T. Vercauteren, S. Ourselin, M. J. Cardoso, "Generalised
    Dice overlap as a deep learning loss function for highly unbalanced segmentations",
    DLMIA 2017.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[[0, 0, 1, 1]]])                   # (B, H, W) class ids, 2 classes
    >>> x = np.array([[[[2.0, 1.0, -1.0, -2.0]]], [[[-2.0, -1.0, 1.0, 2.0]]]]).transpose(1, 0, 2, 3)
    >>> round(float(lk.generalized_dice(y, x, activation="softmax", axis=(2, 3))), 6)  # w = 1/4, 1/4
    0.068594
    """,
)


# ---------------------------------------------------------------------------------------
# Lovasz hinge and Lovasz softmax (Berman, Rannen Triki, Blaschko 2018)
# ---------------------------------------------------------------------------------------


def _layout(ndim, reduced, class_axis=None):
    """Axis order that puts the kept axes first, then the class axis, then the summed axes."""
    kept = [a for a in range(ndim) if a not in reduced and a != class_axis]
    mid = [] if class_axis is None else [class_axis]
    summed = [a for a in reduced if a != class_axis]
    return kept + mid + summed, len(kept) + len(mid)


def _to_rows(xp, a, order, nlead):
    """``a`` permuted to ``order`` and its summed axes flattened into the last axis."""
    a = xp.permute_dims(a, tuple(order))
    lead = tuple(a.shape[:nlead])
    k = 1
    for s in a.shape[nlead:]:
        k *= s
    return xp.reshape(a, lead + (k,))


def _from_rows(xp, a, shape, order):
    """Inverse of :func:`_to_rows` for an array of the flattened shape."""
    permuted = tuple(shape[i] for i in order)
    a = xp.reshape(a, permuted)
    inverse = [0] * len(order)
    for i, o in enumerate(order):
        inverse[o] = i
    return xp.permute_dims(a, tuple(inverse))


def _lovasz_sorted(xp, err, fg, valid):
    """Sort ``err`` (last axis) descending, ignored entries last, and return
    ``(err_sorted, lovasz_weights_sorted, perm)`` where the weights are the increments of the
    Jaccard loss along the sorted order (Berman et al., Algorithm 1)."""
    key = xp.where(valid > 0, err, xp.full_like(err, -math.inf))
    perm = xp.argsort(key, axis=-1, descending=True, stable=True)
    e_s = xp.take_along_axis(err, perm, axis=-1)
    g_s = xp.take_along_axis(fg * valid, perm, axis=-1)
    v_s = xp.take_along_axis(valid, perm, axis=-1)
    gts = xp.sum(g_s, axis=-1, keepdims=True)
    inter = gts - xp.cumulative_sum(g_s, axis=-1)
    union = gts + xp.cumulative_sum((1.0 - g_s) * v_s, axis=-1)
    ok = union > 0
    jac = xp.where(ok, 1.0 - inter / xp.where(ok, union, xp.ones_like(union)), xp.zeros_like(union))
    prev = xp.concat([xp.zeros_like(jac[..., :1]), jac[..., :-1]], axis=-1)
    return e_s, (jac - prev) * v_s, perm


def _unsort(xp, a_sorted, perm):
    inv = xp.argsort(perm, axis=-1, stable=True)
    return xp.take_along_axis(a_sorted, inv, axis=-1)


def _full_valid(xp, valid, like):
    if valid is None:
        return xp.ones_like(like)
    return xp.broadcast_to(valid, tuple(like.shape)) + xp.zeros_like(like)


def _check_sortable(xp, name):
    for fn in ("argsort", "take_along_axis", "cumulative_sum"):
        if not hasattr(xp, fn):
            raise LossInputError(
                f"{name} sorts the errors of each sample and needs {fn}(), which the array namespace "
                f"{getattr(xp, '__name__', xp)} lacks (Dask has no take_along_axis); evaluate it on "
                "NumPy, PyTorch or JAX arrays (e.g. after .compute())"
            )


# -- Lovasz hinge (binary) ------------------------------------------------------------------
def _lovasz_hinge_prepare(xp, y_true, y_pred, opts, validate):
    _check_sortable(xp, "lovasz_hinge")
    y_pred = _prepare_pred(xp, y_pred, validate)
    ignore_index = _ignore_option(opts["ignore_index"])
    y, valid, _ = _targets(xp, y_true, y_pred, class_axis=None, ignore_index=ignore_index,
                           validate=validate, binary=True, ids_allowed=False)
    axes = _axes(opts["axis"], y_pred.ndim)
    return y, y_pred, {"reduced": axes, "mask": valid}


def _hinge_parts(xp, y_true, y_pred, o):
    order, nlead = _layout(y_pred.ndim, o["reduced"])
    signs = 2.0 * y_true - 1.0
    err = 1.0 - y_pred * signs
    rows = [_to_rows(xp, a, order, nlead) for a in (err, y_true, _full_valid(xp, o["mask"], y_pred))]
    e_s, w_s, perm = _lovasz_sorted(xp, *rows)
    return e_s, w_s, perm, order, signs


def _lovasz_hinge_value(xp, y_true, y_pred, **o):
    e_s, w_s, _, _, _ = _hinge_parts(xp, y_true, y_pred, o)
    relu = xp.where(e_s > 0, e_s, xp.zeros_like(e_s))
    return xp.sum(relu * w_s, axis=-1)


def _lovasz_hinge_grad(xp, y_true, y_pred, cotangent=None, **o):
    e_s, w_s, perm, order, signs = _hinge_parts(xp, y_true, y_pred, o)
    ge = _unsort(xp, xp.where(e_s > 0, w_s, xp.zeros_like(w_s)), perm)
    g = -_from_rows(xp, ge, tuple(y_pred.shape), order) * signs
    ct = _expand_ct(xp, cotangent, o["reduced"])
    return g if ct is None else g * ct


def _lovasz_hinge_hess(xp, y_true, y_pred, cotangent=None, **o):
    return xp.zeros_like(y_pred)


LOVASZ_HINGE = Loss(
    name="lovasz_hinge",
    aliases=("lovasz_hinge_loss",),
    value=_lovasz_hinge_value,
    grad=_lovasz_hinge_grad,
    vjp=True,
    hess=_lovasz_hinge_hess,
    prepare=_lovasz_hinge_prepare,
    options={"axis": None, "ignore_index": None},
    structure="overlap",
    task="segmentation",
    inputs="y_true: binary masks 0/1 (ignore_index allowed); y_pred: real scores (logits) of the same shape",
    summary="Lovasz hinge: convex surrogate of the binary Jaccard loss on logits (Berman et al. 2018).",
    reduced_axes=_reduced,
    coupled_axes=_softmax_class_axis,
    implicit_weight=None,
    streamable=False,
    doc="""Lovasz hinge loss (Berman et al. 2018), binary.

    Per sample (the entries summed over ``axis``), with signs ``s = 2 y - 1`` and hinge
    errors ``e_i = 1 - x_i s_i`` of the logits ``x``: sort the errors in decreasing order
    ``e_(1) >= e_(2) >= ...`` and let ``J_k`` be the Jaccard loss of predicting the first
    ``k`` sorted entries positive, ``J_k = 1 - (G - cum_k(y)) / (G + cum_k(1 - y))`` with
    ``G = sum(y)`` (Algorithm 1 of the paper). Then::

        l = sum_k relu(e_(k)) (J_k - J_(k-1))

    the Lovasz extension of the Jaccard loss evaluated at the hinge errors. Gradient
    ``dl/dx_i = -s_i (J_k - J_(k-1)) [e_i > 0]`` with ``k`` the rank of ``e_i``; the
    Hessian is 0: the loss is piecewise linear in the logits (linear between changes of the
    sort order and the ReLU kinks), so 0 is its Hessian almost everywhere and what autodiff
    returns. At ``e_i == 0`` the subgradient of the ReLU is 0 and ties in the sort are
    broken stably (first index first), as autodiff of the value does.

    Options: ``axis`` [None] (None: one score over everything, Berman's ``per_image=False``;
    ``axis=(1, ..., n-1)``: one score per image, ``per_image=True``, the reference code's
    default for this loss), ``ignore_index`` [None] (entries of ``y_true`` equal to it are
    left out, Berman's ``ignore``). ``y_true`` must hold 0/1 labels; an image with no valid
    entry scores 0; an image with no positive scores ``relu(max error)``.

    Not streamable: the loss of a sample depends on the global sort order of its errors, so
    it has no additive statistics; evaluate each sample at once (per-image scores with
    ``axis=(1, ..., n-1)`` are independent of each other).

    Peers: the reference implementation ``lovasz_losses.lovasz_hinge(logits, labels,
    per_image, ignore)`` (PyTorch, ``(B, H, W)``): ``lk.lovasz_hinge(labels, logits, axis=(1,
    2) if per_image else None, ignore_index=ignore)``, mean reduction.

    Reference: M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovasz-Softmax loss: A
    tractable surrogate for the optimization of the intersection-over-union measure in
    neural networks", CVPR 2018.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([1.0, 1.0, 0.0, 0.0])
    >>> x = np.array([2.0, -0.5, 0.5, -3.0])
    >>> float(lk.lovasz_hinge(y, x))  # sorted errors 1.5, 1.5, -1, -2 weighted 1/2, 1/6, 1/3, 0
    1.0
    """,
)


# -- Lovasz softmax (multi-class) -------------------------------------------------------------
def _lovasz_softmax_prepare(xp, y_true, y_pred, opts, validate):
    _check_sortable(xp, "lovasz_softmax")
    act = check_choice(opts["activation"], _ACTIVATIONS, name="activation")
    y_pred = _prepare_pred(xp, y_pred, validate)
    ndim = y_pred.ndim
    ignore_index = _ignore_option(opts["ignore_index"])
    include_bg = check_flag(opts["include_background"], "include_background")
    ca = check_axis(opts["class_axis"], ndim, name="class_axis")
    y, valid, _ = _targets(xp, y_true, y_pred, class_axis=opts["class_axis"], ignore_index=ignore_index,
                           validate=validate, binary=True)
    if act is None and validate:
        check_range(y_pred, 0.0, 1.0, xp=xp, name="y_pred",
                    what="probabilities in [0, 1] (pass activation='softmax' for logits)")
    n = y_pred.shape[ca]
    if act == "softmax" and n < 2:
        raise LossInputError(f"activation='softmax' needs at least 2 classes along class_axis={ca}")
    if not include_bg and n < 2:
        raise LossInputError(f"include_background=False needs at least 2 classes along class_axis={ca}")
    classes = check_choice(opts["classes"], ("present", "all"), name="classes")
    cw = _class_weights(xp, opts["class_weight"], n, include_bg, opts["class_axis"], y_pred, validate)
    axes = tuple(a for a in _axes(opts["axis"], ndim) if a != ca)
    reduced = tuple(sorted(axes + (ca,)))
    return y, y_pred, {"reduced": reduced, "class_axis": ca, "activation": act, "mask": valid,
                       "classes": classes, "cw": cw}


def _softmax_parts(xp, y_true, y_pred, o, derivs=False):
    ca = o["class_axis"]
    act = o["activation"]
    q, dq, d2q = _activate(xp, y_pred, act, ca, derivs=derivs)
    fg = y_true
    err = xp.where(fg > 0.5, _complement(xp, y_pred, q, act, ca), q)  # |fg - q| for fg in {0, 1}, linear in q
    order, nlead = _layout(y_pred.ndim, o["reduced"], ca)
    valid = _full_valid(xp, o["mask"], y_pred)
    E, F, V = (_to_rows(xp, a, order, nlead) for a in (err, fg, valid))  # (kept..., C, K)
    e_s, w_s, perm = _lovasz_sorted(xp, E, F, V)
    per_class = xp.sum(e_s * w_s, axis=-1)  # (kept..., C)
    cw = o["cw"]
    if o["classes"] == "present":
        cw = cw * xp.astype(xp.sum(F * V, axis=-1) > 0, cw.dtype)
    else:
        cw = cw + xp.zeros_like(per_class)
    total = xp.sum(cw, axis=-1, keepdims=True)
    ok = total > 0
    share = xp.where(ok, cw / xp.where(ok, total, xp.ones_like(total)), xp.zeros_like(cw))
    return q, dq, d2q, fg, per_class, share, w_s, perm, order


def _lovasz_softmax_value(xp, y_true, y_pred, **o):
    _, _, _, _, per_class, share, _, _, _ = _softmax_parts(xp, y_true, y_pred, o)
    return xp.sum(share * per_class, axis=-1)


def _lovasz_softmax_derivs(xp, y_true, y_pred, o, cotangent, order_):
    q, dq, d2q, fg, _, share, w_s, perm, order = _softmax_parts(xp, y_true, y_pred, o, derivs=True)
    ge = _unsort(xp, w_s * xp.expand_dims(share, axis=-1), perm)
    G = _from_rows(xp, ge, tuple(y_pred.shape), order) * xp.where(fg > 0.5, -xp.ones_like(q), xp.ones_like(q))
    ct = _expand_ct(xp, cotangent, o["reduced"])
    if ct is not None:
        G = G * ct
    act = o["activation"]
    if act is None:
        return G, xp.zeros_like(y_pred)
    return _chain(xp, q, dq, d2q, G, None, act, o["class_axis"])


def _lovasz_softmax_grad(xp, y_true, y_pred, cotangent=None, **o):
    return _lovasz_softmax_derivs(xp, y_true, y_pred, o, cotangent, 1)[0]


def _lovasz_softmax_hess(xp, y_true, y_pred, cotangent=None, **o):
    return _lovasz_softmax_derivs(xp, y_true, y_pred, o, cotangent, 2)[1]


LOVASZ_SOFTMAX = Loss(
    name="lovasz_softmax",
    aliases=("lovasz_softmax_loss",),
    value=_lovasz_softmax_value,
    grad=_lovasz_softmax_grad,
    vjp=True,
    hess=_lovasz_softmax_hess,
    prepare=_lovasz_softmax_prepare,
    options={"axis": None, "activation": None, "class_axis": 1, "classes": "present",
             "class_weight": None, "include_background": True, "ignore_index": None},
    structure="overlap",
    task="segmentation",
    inputs=("y_true: integer class ids or one-hot masks; "
            "y_pred: class probabilities, or logits with activation='softmax'"),
    summary="Lovasz-softmax: surrogate of the mean per-class Jaccard loss (Berman et al. 2018).",
    reduced_axes=_reduced_with_classes,
    implicit_weight=None,
    streamable=False,
    doc="""Lovasz-softmax loss (Berman et al. 2018), multi-class.

    Per sample and class ``c``, with probabilities ``p_c`` (after ``activation``) and the
    class mask ``y_c``: errors ``e_i = |y_ci - p_ci|`` (``1 - p`` on the class, ``p`` off it),
    sorted decreasingly, weighted by the increments ``J_k - J_(k-1)`` of the Jaccard loss of
    the class along that order (see :func:`lovasz_hinge`)::

        l_c = sum_k e_(k) (J_k - J_(k-1)),    l = sum_c w_c l_c / sum_c w_c

    where ``w_c`` is ``class_weight`` (1 by default, 0 for class 0 with
    ``include_background=False``) times 1 for ``classes="all"`` or ``[class c occurs in the
    sample]`` for ``classes="present"`` (the default, as the reference code); a sample with
    no weighted class scores 0. Gradient ``dl/dp_ci = (w_c / sum w) (J_k - J_(k-1)) * (-1 if
    y_ci else +1)``; the loss is piecewise linear in the probabilities, so their Hessian is 0
    almost everywhere; with ``activation="softmax"``/``"sigmoid"`` the returned Hessian
    diagonal is the exact one in the logits, ``sum_j g_j d^2 p_j / dx_i^2`` (for the softmax
    ``(1 - 2 p_i) dl/dx_i``). Ties in the sort are broken stably, as autodiff of the value does.

    Options: ``axis`` [None] (the non-class axes summed into a sample; the class axis is
    always reduced: None = one score over everything, Berman's ``per_image=False``;
    ``axis=(2, ..., n-1)`` one score per image, ``per_image=True``), ``activation`` [None:
    ``y_pred`` holds probabilities, as the reference code expects; ``"softmax"`` for
    logits], ``class_axis`` [1], ``classes`` ["present" | "all"], ``class_weight`` [None],
    ``include_background`` [True], ``ignore_index`` [None] (pixels left out, Berman's
    ``ignore``). ``y_true`` holds class ids (shape of ``y_pred`` without the class axis or
    with a size-1 class axis) or 0/1 masks of ``y_pred``'s shape.

    Not streamable: each class's loss depends on the global sort order of its errors over
    the sample, which admits no additive statistics.

    Peers: the reference ``lovasz_losses.lovasz_softmax(probas, labels, classes, per_image,
    ignore)`` (``(B, C, H, W)`` probabilities): ``lk.lovasz_softmax(labels, probas,
    classes=classes, axis=(2, 3) if per_image else None, ignore_index=ignore)``. Its
    ``classes`` list of class ids is ``class_weight`` with 1 on those classes and 0 elsewhere
    together with ``classes="all"``.

    Reference: M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovasz-Softmax loss: A
    tractable surrogate for the optimization of the intersection-over-union measure in
    neural networks", CVPR 2018.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[0, 1, 1]])                                  # (B, N) class ids
    >>> p = np.array([[[0.8, 0.4, 0.1]], [[0.2, 0.6, 0.9]]]).transpose(1, 0, 2)   # (B, C, N)
    >>> round(float(lk.lovasz_softmax(y, p)), 6)   # mean of class 0 (0.3) and class 1 (0.266667)
    0.283333
    """,
)


# ---------------------------------------------------------------------------------------
# Dice + cross-entropy and Dice + focal (MONAI's DiceCELoss and DiceFocalLoss)
# ---------------------------------------------------------------------------------------
#
# Per sample s (the entries summed over ``axis``, as for the Dice loss):
#     l_s = lambda_dice * dice_s + lambda_term * (sum of term_e over the valid e in s) / count_s
# The term is the softmax cross-entropy of a pixel (its class axis reduced: with the class
# axis not summed, a pixel lies in every per-class sample of its image), or the elementwise
# sigmoid BCE / focal loss of an entry. count_s (valid pixels or entries of the sample) does
# not depend on y_pred, so the gradient of the term part is the kernel's gradient times
# lambda_term * sum over the samples holding e of cotangent_s / count_s. The Dice part is the
# ratio implementation above (value, statistics, vector-Jacobian products); the terms are the
# kernels of _categorical (softmax cross-entropy on a dense target) and _classification
# (binary cross-entropy and binary focal loss from logits).


def _term_pixel_mask(xp, y_true, y_pred, ca, ignore_index):
    """0/1 validity of each pixel (class axis kept at size 1) for the softmax cross-entropy,
    or None: pixels whose class id is ``ignore_index``, or, for mask targets, pixels with any
    entry equal to it. ``include_background`` does not enter: the cross-entropy keeps class 0."""
    if ignore_index is None:
        return None
    yt = xp.astype(y_true, y_pred.dtype) if y_true.dtype == xp.bool else y_true
    keep = xp.astype(yt != ignore_index, y_pred.dtype)
    if tuple(yt.shape) == tuple(y_pred.shape):
        return xp.min(keep, axis=ca, keepdims=True)
    if yt.ndim == y_pred.ndim - 1:
        return xp.expand_dims(keep, axis=ca)
    return keep  # class ids with a size-1 class axis


def _check_ce_rows(xp, y, mask, y_true, y_pred, ca):
    """Mask targets of the softmax cross-entropy: valid rows along the class axis sum to 1."""
    if tuple(y_true.shape) != tuple(y_pred.shape):
        return  # class ids, one-hot encoded by _targets
    n = y_pred.shape[ca]
    rows = y if mask is None else xp.where(mask > 0, y, xp.full_like(y, 1.0 / n))
    tol = row_sum_tolerance(xp, n, y_true.dtype, fallback=y_pred.dtype)
    check_rows_sum_to_one(
        rows, ca, xp=xp, name="y_true", tol=tol,
        hint="The softmax cross-entropy needs one-hot or probability rows along class_axis: pass integer "
             "class ids, or activation='sigmoid' for multi-label masks.",
    )


def _make_combo_prepare(term):
    lam_name = "lambda_ce" if term == "ce" else "lambda_focal"
    what = "cross-entropy" if term == "ce" else "focal loss"

    def prepare(xp, y_true, y_pred, opts, validate):
        act = opts["activation"]
        if act not in ("softmax", "sigmoid"):
            raise LossInputError(
                f"activation must be 'softmax' or 'sigmoid': y_pred holds logits, which the {what} needs; got {act!r}"
            )
        lam_d = float(check_number(opts["lambda_dice"], name="lambda_dice", lo=0.0))
        lam_t = float(check_number(opts[lam_name], name=lam_name, lo=0.0))
        record = JACCARD if check_flag(opts["jaccard"], "jaccard") else DICE
        raw = y_true
        y, y_pred, o = record.prepare(xp, y_true, y_pred, opts, validate)  # every Dice option checked here
        o = {**o, "lambda_dice": lam_d, "lambda_term": lam_t}
        if term == "focal":
            gamma = float(check_number(opts["gamma"], name="gamma", lo=0.0))
            alpha = opts["alpha"]
            if alpha is not None:
                alpha = float(check_number(alpha, name="alpha", lo=0.0, hi=1.0))
            return y, y_pred, {**o, "term": "focal", "gamma": gamma, "alpha": alpha}
        ls = float(check_number(opts["label_smoothing"], name="label_smoothing", lo=0.0, hi=1.0))
        if act == "sigmoid":
            pw = option_array(xp, opts["pos_weight"], name="pos_weight", like=y_pred, validate=validate, lo=0.0)
            if pw is not None:
                ps, ys = tuple(pw.shape), tuple(y_pred.shape)
                if len(ps) > len(ys) or any(a not in (1, b) for a, b in zip(ps[::-1], ys[::-1])):
                    raise LossInputError(
                        f"pos_weight must be a scalar or broadcast to y_pred's shape {ys} (e.g. (C, 1, 1) for one "
                        f"weight per channel of (B, C, H, W) logits); got shape {ps}"
                    )
            return y, y_pred, {**o, "term": "bce", "label_smoothing": ls, "pos_weight": pw}
        if opts["pos_weight"] is not None:
            raise LossInputError("pos_weight weighs the positives of the sigmoid BCE; it needs activation='sigmoid'")
        ca = o["class_axis"]
        n = y_pred.shape[ca]
        cw = None
        if opts["class_weight"] is not None:
            arr = option_array(xp, opts["class_weight"], name="class_weight", like=y_pred, validate=validate, lo=0.0)
            if arr.ndim == 1 and arr.shape[0] != n:
                raise LossInputError(
                    f"class_weight of dice_cross_entropy with activation='softmax' needs one weight per class "
                    f"({n},) along class_axis={opts['class_axis']}, the background's included (the "
                    f"cross-entropy keeps every class); got shape {tuple(arr.shape)}"
                )
            cw = arr if arr.ndim == 0 else along(xp, arr, ca, y_pred.ndim)
        mask = _term_pixel_mask(xp, raw, y_pred, ca, _ignore_option(opts["ignore_index"]))
        if validate:
            _check_ce_rows(xp, y, mask, raw, y_pred, ca)
        return y, y_pred, {**o, "term": "softmax_ce", "label_smoothing": ls, "ce_weight": cw, "ce_mask": mask}

    return prepare


def _kept_shape(shape, reduced):
    return tuple(1 if a in reduced else n for a, n in enumerate(shape))


def _combo_mask(o):
    """0/1 validity of the terms (None: all valid): pixels for the softmax cross-entropy,
    the Dice's entries (ignored ones and, with the class axis summed, class 0 without the
    background) for the BCE and the focal loss."""
    return o["ce_mask"] if o["term"] == "softmax_ce" else o["mask"]


def _combo_target(y, x, o):
    """The target the term is evaluated against (label smoothing and the CE's class weights)."""
    ls = o.get("label_smoothing", 0.0)
    if o["term"] == "softmax_ce":
        t = y if not ls else (1.0 - ls) * y + ls / x.shape[o["class_axis"]]
        return t if o["ce_weight"] is None else o["ce_weight"] * t
    if o["term"] == "bce" and ls:
        return (1.0 - ls) * y + 0.5 * ls
    return y


def _combo_terms(xp, y, x, o):
    """The cross-entropy of every pixel (class axis kept at size 1), or the BCE / focal loss
    of every entry."""
    t = _combo_target(y, x, o)
    if o["term"] == "softmax_ce":
        ca = o["class_axis"]
        v = ce_dense_value(xp, t, x, axis=ca, from_logits=True, renormalize=False, epsilon=None)
        return xp.expand_dims(v, axis=ca)
    if o["term"] == "bce":
        return bce_value(xp, t, x, from_logits=True, pos_weight=o["pos_weight"], epsilon=None)
    return focal_value(xp, t, x, from_logits=True, epsilon=None, gamma=o["gamma"], alpha=o["alpha"])


def _combo_term_derivs(xp, y, x, o, order):
    """Gradient (order 1) or Hessian diagonal (2) of ``sum_e term_e`` (unmasked), shaped like ``x``."""
    t = _combo_target(y, x, o)
    if o["term"] == "softmax_ce":
        return ce_dense_grad_hess(xp, t, x, axis=o["class_axis"], from_logits=True, renormalize=False,
                                   epsilon=None)[order - 1]
    if o["term"] == "bce":
        fn = bce_grad if order == 1 else bce_hess
        return fn(xp, t, x, from_logits=True, pos_weight=o["pos_weight"], epsilon=None)
    fn = focal_grad if order == 1 else focal_hess
    return fn(xp, t, x, from_logits=True, epsilon=None, gamma=o["gamma"], alpha=o["alpha"])


def _combo_valid(xp, x, o):
    """The terms' 0/1 validity as a full array of the terms' shape."""
    shape = tuple(x.shape)
    if o["term"] == "softmax_ce":
        shape = _kept_shape(shape, (o["class_axis"],))
    ones = xp.ones(shape, dtype=x.dtype, device=device_of(x))
    mask = _combo_mask(o)
    return ones if mask is None else mask * ones


def _combo_stats(xp, y_true, y_pred, **o):
    """The Dice statistics plus the terms' per-sample ``(sum, count)``: all additive over chunks."""
    m = _combo_valid(xp, y_pred, o)
    term = _combo_terms(xp, y_true, y_pred, o)
    return _ratio_stats(xp, y_true, y_pred, **o) + (_sum(xp, term * m, o["reduced"]), _sum(xp, m, o["reduced"]))


def _combo_from_stats(xp, stats, **o):
    dice = _ratio_from_stats(xp, stats[:-2], **o)
    num, cnt = stats[-2], stats[-1]
    ok = cnt > 0
    mean = xp.where(ok, num / xp.where(ok, cnt, xp.ones_like(cnt)), xp.zeros_like(cnt))
    mean = _squeeze(xp, xp.broadcast_to(mean, tuple(stats[0].shape)), o["reduced"])
    return o["lambda_dice"] * dice + o["lambda_term"] * mean


def _combo_value(xp, y_true, y_pred, **o):
    return _combo_from_stats(xp, _combo_stats(xp, y_true, y_pred, **o), **o)


def _combo_derivs(xp, y_true, y_pred, o, cotangent, order):
    """``lambda_dice`` times the Dice's vector-Jacobian product plus, per term e,
    ``lambda_term * sum over the samples s holding e of (cotangent_s / count_s)`` times the
    term's own derivative (a pixel's cross-entropy depends on that pixel's logits only)."""
    reduced = o["reduced"]
    ct = 1.0 if cotangent is None else cotangent
    fn = _ratio_grad if order == 1 else _ratio_hess
    out = fn(xp, y_true, y_pred, cotangent=o["lambda_dice"] * ct, **o)
    m = _combo_valid(xp, y_pred, o)
    cnt = _sum(xp, m, reduced)
    ok = cnt > 0
    inv = xp.where(ok, 1.0 / xp.where(ok, cnt, xp.ones_like(cnt)), xp.zeros_like(cnt))
    coef = xp.broadcast_to(o["lambda_term"] * _expand_ct(xp, ct, reduced) * inv, _kept_shape(y_pred.shape, reduced))
    if o["term"] == "softmax_ce" and o["class_axis"] not in reduced:
        coef = xp.sum(coef, axis=o["class_axis"], keepdims=True)  # a pixel lies in every class's sample
    return out + (coef * m) * _combo_term_derivs(xp, y_true, y_pred, o, order)


def _combo_grad(xp, y_true, y_pred, cotangent=None, **o):
    return _combo_derivs(xp, y_true, y_pred, o, cotangent, 1)


def _combo_hess(xp, y_true, y_pred, cotangent=None, **o):
    return _combo_derivs(xp, y_true, y_pred, o, cotangent, 2)


_COMBO_OPTIONS = {
    "axis": None,
    "smooth": 1e-5,
    "smooth_nr": None,
    "smooth_dr": None,
    "class_axis": 1,
    "class_weight": None,
    "include_background": True,
    "ignore_index": None,
    "soft_label": False,
    "squared_pred": False,
    "jaccard": False,
    "lambda_dice": 1.0,
}

_COMBO_DICE_DOC = """
    Dice options, as in :func:`dice` (defaults in brackets): ``axis`` [None: one global
    score; ``axis=(2, ..., n-1)`` one score per (image, class), MONAI's default;
    ``axis=(0, 2, ..., n-1)`` MONAI's ``batch=True``], ``smooth`` [1e-5, MONAI's default, not
    the course's 1], ``smooth_nr`` / ``smooth_dr`` [None = ``smooth``], ``class_axis`` [1,
    channels first; -1 for channels last], ``squared_pred`` [False], ``soft_label`` [False],
    ``jaccard`` [False: True scores the soft Jaccard loss of :func:`jaccard` instead of the
    Dice loss, with the same smoothing semantics]. ``y_true`` holds masks / probabilities of
    ``y_pred``'s shape or integer class ids (shape without the class axis, or with it at size
    1, MONAI's ``to_onehot_y=True`` input), one-hot encoded against ``arange(C)``.
    ``lambda_dice`` [1.0] >= 0 weighs the Dice part.
"""

DICE_CROSS_ENTROPY = Loss(
    name="dice_cross_entropy",
    aliases=("dice_ce", "dice_ce_loss"),
    value=_combo_value,
    grad=_combo_grad,
    vjp=True,
    hess=_combo_hess,
    prepare=_make_combo_prepare("ce"),
    options={**_COMBO_OPTIONS, "activation": "softmax", "lambda_ce": 1.0, "label_smoothing": 0.0,
             "pos_weight": None},
    structure="overlap",
    task="segmentation",
    inputs=("y_true: integer class ids, one-hot / probability masks (softmax) or masks in [0, 1] "
            "(sigmoid); y_pred: logits, classes on class_axis"),
    summary="Dice loss plus cross-entropy on logits (MONAI's DiceCELoss, nnU-Net's loss).",
    reduced_axes=_reduced,
    coupled_axes=_softmax_class_axis,
    implicit_weight=_sample_weight,
    stats=_combo_stats,
    from_stats=_combo_from_stats,
    streamable=True,
    doc="""Dice loss plus cross-entropy on logits: MONAI's ``DiceCELoss``, nnU-Net's training loss.

    Per sample ``s`` (the entries summed over ``axis``, as for :func:`dice`)::

        l_s  = lambda_dice * dice_s + lambda_ce * CE_s
        CE_s = (1 / n_s) * sum of ce_i over the kept pixels (softmax) or entries (sigmoid) i of s

    - ``activation="softmax"`` (default): the Dice scores ``p = softmax(x)`` over
      ``class_axis``, and ``ce_i = -sum_c w_c t_ic log p_ic`` is the softmax cross-entropy of
      pixel ``i`` (its class axis reduced) against its one-hot / probability row ``t_i``,
      after label smoothing ``(1 - eps) t + eps / C``, with ``w = class_weight`` (1 by
      default): PyTorch's ``F.cross_entropy(x, t, weight=w, reduction="none")``. ``n_s`` is
      the number of kept pixels of the sample. With the class axis not summed (per-class
      scores) a pixel lies in every class's sample of its image, so ``CE_s`` is the image's
      mean cross-entropy, repeated in each of its classes' scores.
    - ``activation="sigmoid"``: the Dice scores ``p = sigmoid(x)`` entrywise and ``ce_i`` is
      the binary cross-entropy of entry ``i`` from its logit (:func:`binary_cross_entropy`
      with ``from_logits=True``, ``pos_weight``, label smoothing ``(1 - eps) y + eps / 2``);
      ``n_s`` counts the kept entries of the sample (multi-label segmentation).

    With per-(image, class) samples, ``reduction="mean"`` is therefore ``lambda_dice`` times
    the mean Dice score plus ``lambda_ce`` times the cross-entropy averaged over every pixel:
    exactly MONAI's value.

    Gradient: ``lambda_dice`` times the Dice gradient of :func:`dice` (through the
    activation, the softmax's class coupling included) plus ``lambda_ce * c_i * dce_i/dx``,
    where ``c_i`` is the sum, over the samples ``s`` holding pixel/entry ``i``, of
    ``cotangent_s / n_s`` (``n_s`` does not depend on ``x``). Softmax:
    ``dce_i/dx_ic = S_i p_ic - w_c t_ic`` with ``S_i = sum_c w_c t_ic``, Hessian diagonal
    ``S_i p_ic (1 - p_ic)``; sigmoid: ``(1 - y) sigmoid(x) - w+ y sigmoid(-x)``, Hessian
    ``(w+ y + 1 - y) sigmoid(x) sigmoid(-x)``. The returned Hessian diagonal is the sum of
    the Dice's exact diagonal and this one (the cross-entropy of a pixel depends only on its
    own logits). The cross-entropy uses the kernels of
    :func:`categorical_cross_entropy` and :func:`binary_cross_entropy` (logits up to +-1e4
    stay finite and exact).
    """ + _COMBO_DICE_DOC + """
    Options of the combination:

    - ``activation`` ["softmax"]: ``"softmax"`` or ``"sigmoid"`` (``y_pred`` holds logits).
      The softmax needs at least 2 classes and mask targets whose rows sum to 1.
    - ``lambda_ce`` [1.0] >= 0; ``label_smoothing`` [0.0] (cross-entropy only, as MONAI).
    - ``include_background`` [True]: False drops class 0 from the Dice (a zero weight for
      class 0's per-class scores, or class 0's entries left out of the sums when the class
      axis is summed, as :func:`dice`); the softmax cross-entropy keeps every class (MONAI),
      the sigmoid BCE drops class 0's entries as the Dice does.
    - ``class_weight`` [None]: a scalar or one weight per class (the background's included
      for the softmax). It weighs the per-class scores as in :func:`dice` (per-sample weights,
      so ``"mean"`` divides by their total; the class axis must not be summed) and, with the
      softmax, the classes of the cross-entropy (``w_c`` above). With the sigmoid each
      class's BCE mean is part of that class's score and carries its weight.
    - ``pos_weight`` [None]: the BCE's weight of positive entries (sigmoid only), as
      PyTorch's ``BCEWithLogitsLoss(pos_weight=...)``: a scalar or an array broadcasting to
      ``y_pred`` (``(C, 1, 1)`` for one weight per channel of ``(B, C, H, W)`` logits).
    - ``ignore_index`` [None]: entries of ``y_true`` equal to it leave the Dice sums (as
      :func:`dice`) and the cross-entropy mean (``n_s`` counts kept pixels only, PyTorch's
      rule within each sample). For mask targets a pixel with any such entry leaves the
      softmax cross-entropy.

    Empty masks: the Dice part as :func:`dice` (an empty target scored against an empty
    prediction gives 0 with smoothing); the cross-entropy is finite for every target and
    logit. A sample with no kept pixel has a cross-entropy part of 0 (derivative 0).

    Streaming: ``stats`` is the Dice's statistics plus the per-sample sum and count of the
    cross-entropy terms, all additive over chunks, so the global (``axis=None``) and
    ``batch=True``-like scores accumulate chunk by chunk.

    Peers: MONAI ``DiceCELoss(...)(input, target)`` (prediction first; ``(B, C, ...)``
    logits) with ``softmax=True`` and ``reduction="mean"``: ``lk.dice_cross_entropy(target,
    input, axis=(2, ..., n-1), lambda_dice=ld, lambda_ce=lc, smooth_nr=.., smooth_dr=..)``;
    ``batch=True`` -> ``axis=(0, 2, ..., n-1)``; ``to_onehot_y=True`` with ``(B, 1, ...)``
    labels -> pass the labels (read from the shape), one-hot targets -> pass them;
    ``include_background``, ``squared_pred`` and ``label_smoothing`` map one to one;
    ``jaccard=True`` -> ``jaccard=True`` with ``smooth_nr / 2``, ``smooth_dr / 2``. One
    channel (MONAI then uses ``BCEWithLogitsLoss(pos_weight=weight)``): ``activation="sigmoid",
    pos_weight=weight``. ``weight=w`` (C > 1): ``class_weight=w`` with ``lambda_dice = ld *
    mean(w')`` (``w'`` the Dice's weights: ``w[1:]`` without the background; MONAI divides the
    weighted Dice scores by their number, losskit by their total weight) and ``lambda_ce = lc``
    for one-hot float targets (PyTorch divides by the pixel count) or ``lc * N / sum_i
    w[y_i]`` for label maps (PyTorch's weighted mean; ``N`` pixels). MONAI's
    ``reduction="sum"`` is ``reduction="sum"`` with ``lambda_ce = lc * n / C'`` (``n`` pixels
    per sample, ``C'`` scored classes). MONAI's ``sigmoid=True`` with C > 1 pairs a sigmoid
    Dice with the softmax cross-entropy: that is ``ld * lk.dice(target, input,
    activation="sigmoid", axis=.., smooth=1e-5) + lc * lk.sparse_categorical_cross_entropy(labels,
    input, from_logits=True, axis=1)`` (:func:`categorical_cross_entropy` for one-hot
    targets), two calls; ``activation="sigmoid"`` here pairs it with the per-entry BCE.
    MONAI's ``DiceCELoss`` has no ``ignore_index`` and no ``reduction="none"``.

    Reference: F. Isensee, P. F. Jaeger, S. A. A. Kohl, J. Petersen, K. H. Maier-Hein,
    "nnU-Net: a self-configuring method for deep learning-based biomedical image
    segmentation", Nature Methods 18, 2021; F. Milletari et al., V-Net, 3DV 2016 (Dice).

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[[0, 1], [1, 1]]])                                    # (B, H, W) class ids
    >>> x = np.array([[[[2.0, -1.0], [0.0, -2.0]], [[-2.0, 1.0], [0.5, 2.0]]]])   # (B, C, H, W) logits
    >>> l = lk.dice_cross_entropy(y, x, axis=(2, 3))    # mean over (image, class) scores
    >>> dice = lk.dice(y, x, axis=(2, 3), activation="softmax", smooth=1e-5)
    >>> ce = lk.sparse_categorical_cross_entropy(y, x, from_logits=True, axis=1)
    >>> round(float(l), 6), bool(np.isclose(l, dice + ce))
    (0.314408, True)
    """,
)

DICE_FOCAL = Loss(
    name="dice_focal",
    aliases=("dice_focal_loss",),
    value=_combo_value,
    grad=_combo_grad,
    vjp=True,
    hess=_combo_hess,
    prepare=_make_combo_prepare("focal"),
    options={**_COMBO_OPTIONS, "activation": "sigmoid", "lambda_focal": 1.0, "gamma": 2.0, "alpha": None},
    structure="overlap",
    task="segmentation",
    inputs="y_true: masks in [0, 1] or integer class ids; y_pred: logits, classes on class_axis",
    summary="Dice loss plus the sigmoid focal loss on logits (MONAI's DiceFocalLoss).",
    reduced_axes=_reduced,
    coupled_axes=_softmax_class_axis,
    implicit_weight=_sample_weight,
    stats=_combo_stats,
    from_stats=_combo_from_stats,
    streamable=True,
    doc="""Dice loss plus the sigmoid focal loss on logits: MONAI's ``DiceFocalLoss``.

    Per sample ``s`` (the entries summed over ``axis``, as for :func:`dice`)::

        l_s = lambda_dice * dice_s + lambda_focal * F_s
        F_s = (1 / n_s) * sum over the kept entries i of s of alpha_t (1 - p_t)^gamma BCE(y_i, x_i)

    where the focal term is :func:`binary_focal_cross_entropy` of each entry from its logit
    (``p = sigmoid(x)``, ``p_t = y p + (1 - y)(1 - p)``, ``alpha_t = alpha y + (1 - alpha)(1 -
    y)`` or 1 with ``alpha=None``) and ``n_s`` the number of kept entries of the sample. The
    focal loss is always the per-entry sigmoid one, whatever the Dice's ``activation``
    (``"sigmoid"``, the default, or ``"softmax"``), as in MONAI's ``DiceFocalLoss``. With
    per-(image, class) samples ``reduction="mean"`` is ``lambda_dice`` times the mean Dice
    score plus ``lambda_focal`` times the focal loss averaged over every entry: MONAI's value.

    Gradient: ``lambda_dice`` times the Dice gradient of :func:`dice` (through the
    activation) plus ``lambda_focal * cotangent_s / n_s`` times the focal gradient of each
    entry; the Hessian diagonal is the Dice's exact diagonal plus the focal one scaled the
    same way (both from their kernels; formulas in :func:`dice` and
    :func:`binary_focal_cross_entropy`, finite for logits up to +-1e4 and every ``gamma >= 0``).
    """ + _COMBO_DICE_DOC + """
    Options of the combination:

    - ``activation`` ["sigmoid"]: the Dice's activation, ``"sigmoid"`` or ``"softmax"``
      (``y_pred`` holds logits).
    - ``lambda_focal`` [1.0] >= 0; ``gamma`` [2.0] >= 0; ``alpha`` [None, or a number in
      [0, 1]: the weight of positive entries].
    - ``include_background`` [True]: False drops class 0 from both parts (MONAI): a zero
      weight for class 0's per-class scores, or class 0's entries left out of the sums and
      of the focal mean when the class axis is summed.
    - ``class_weight`` [None]: weighs the per-class scores, both parts, as in :func:`dice`
      (per-sample weights; the class axis must not be summed).
    - ``ignore_index`` [None]: entries of ``y_true`` equal to it (for a class-id map, the
      whole pixel) leave the Dice sums and the focal mean.

    Empty masks: the Dice part as :func:`dice`; a sample with no kept entry has a focal part
    of 0 (derivative 0).

    Streaming: ``stats`` is the Dice's statistics plus the per-sample sum and count of the
    focal terms, additive over chunks.

    Peers: MONAI ``DiceFocalLoss(...)(input, target)`` (prediction first; ``(B, C, ...)``
    logits): ``lk.dice_focal(target, input, axis=(2, ..., n-1), activation="sigmoid"`` (MONAI
    ``sigmoid=True``) or ``"softmax"`` (``softmax=True``), ``gamma=.., alpha=.., lambda_dice=..,
    lambda_focal=.., smooth_nr=.., smooth_dr=..)``; ``batch=True`` -> ``axis=(0, 2, ...,
    n-1)``; ``to_onehot_y=True`` -> pass the ``(B, 1, ...)`` label map; ``include_background``
    and ``squared_pred`` map one to one; ``jaccard=True`` -> ``jaccard=True`` with
    ``smooth_nr / 2``, ``smooth_dr / 2``. MONAI's ``reduction="mean"`` is losskit's
    ``"mean"``, and its ``"sum"`` (which sums the per-(image, class) spatial means of the focal
    loss) is losskit's ``"sum"``, with or without the background (with ``batch=True``:
    ``lambda_focal = B * lf``, as MONAI's focal sum still counts every image). ``weight=w``:
    ``class_weight=w`` with ``reduction="sum"`` divided by the number of scores MONAI
    averages (``B * C'``, or ``C'`` with ``batch=True``; ``C'`` the scored classes), i.e.
    ``reduction="sum_over_batch_size"`` when the background is included. Not reproduced: a
    per-class ``alpha`` sequence (MONAI weights positive entries of class ``c`` by
    ``alpha[c]``), ``reduction="none"`` (MONAI broadcasts the ``(B, C)`` Dice scores against
    the ``(B, C, H, W)`` focal terms), and MONAI's focal base ``sigmoid(-x (2y - 1))`` for soft
    targets (``1 - p_t`` here; equal for hard labels).

    Reference: W. Zhu et al., "AnatomyNet: Deep learning for fast and fully automated
    whole-volume segmentation of head and neck anatomy", Medical Physics 46, 2019 (Dice plus
    focal loss); T.-Y. Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[[[1.0, 0.0], [1.0, 1.0]]]])            # (B, C, H, W) mask, one channel
    >>> x = np.array([[[[2.0, -1.0], [0.5, -2.0]]]])          # logits
    >>> l = lk.dice_focal(y, x, axis=(2, 3))
    >>> dice = lk.dice(y, x, axis=(2, 3), activation="sigmoid", smooth=1e-5)
    >>> focal = lk.binary_focal_cross_entropy(y, x, from_logits=True)
    >>> round(float(l), 6), bool(np.isclose(l, dice + focal))
    (0.772135, True)
    """,
)

LOSSES = (DICE, JACCARD, TVERSKY, FOCAL_TVERSKY, GENERALIZED_DICE, LOVASZ_HINGE, LOVASZ_SOFTMAX,
          DICE_CROSS_ENTROPY, DICE_FOCAL)
