"""The Lovasz hinge and Lovasz-softmax losses (Berman, Rannen Triki, Blaschko 2018): the
Lovasz extension of the Jaccard loss over each sample's errors sorted in decreasing order.
"""

from __future__ import annotations

import math

import numpy as np

from ..._array.lean import torch_of
from ..._array.stable import positive_part
from ..._array.validate import LossInputError, check_axis, check_choice, check_flag, check_range
from ...spec import Boosting, Loss, Refusal
from .._common import ignore_index_option
from .activation import activate, chain, complement
from .inputs import ACTIVATIONS, class_weights, prepare_pred, targets
from .samples import axes_option, expand_cotangent, softmax_class_axis, summed_axes, summed_axes_with_classes


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
    Jaccard loss along the sorted order (Berman et al., Algorithm 1). The sorted errors are 0
    at ignored entries (whose weights are 0): their predictions are never read, a NaN there
    included, as Berman's reference code drops them."""
    kept = valid > 0
    key = xp.where(kept, err, xp.full_like(err, -math.inf))
    perm = xp.argsort(key, axis=-1, descending=True, stable=True)
    e_s = _take(xp, xp.where(kept, err, xp.zeros_like(err)), perm)
    g_s = _take(xp, fg * valid, perm)
    v_s = _take(xp, valid, perm)
    gts = xp.sum(g_s, axis=-1, keepdims=True)
    inter = gts - xp.cumulative_sum(g_s, axis=-1)
    neg = (1.0 - g_s) * v_s
    union = gts + xp.cumulative_sum(neg, axis=-1)
    # The increments J_i - J_(i-1) of J = 1 - r, r = inter / union (r = 1 before the first entry
    # and where the union is empty, J = 0 there), as non-negative terms: inter and union step by
    # -g_i and +neg_i, so r_(i-1) - r_i = (r_(i-1) neg_i + g_i) / union_i. The difference of the
    # J's themselves cancels: increments of about 1/n between values near 1 lost log2(n) bits
    # (a float32 gradient over 3e5 pixels was off by 1e-2 of its largest entry).
    ok = union > 0
    safe = xp.where(ok, union, xp.ones_like(union))
    r = xp.where(ok, inter / safe, xp.ones_like(union))
    r_prev = xp.concat([xp.ones_like(r[..., :1]), r[..., :-1]], axis=-1)
    step = xp.where(ok, (r_prev * neg + g_s) / safe, xp.zeros_like(union))
    return e_s, step * v_s, perm


def _take(xp, a, perm):
    """``a`` in the order of ``perm`` along the last axis (``torch.gather`` on torch: array-api-compat's
    ``take_along_axis`` first maps negative indices, three full passes a sort's indices never need)."""
    torch = torch_of(a)
    return xp.take_along_axis(a, perm, axis=-1) if torch is None else torch.gather(a, -1, perm)


def _unsort(xp, a_sorted, perm):
    """``a_sorted`` back in the unsorted order: a scatter through ``perm`` on torch and NumPy (no
    second sort), the inverse permutation's ``argsort`` elsewhere (the array API has no scatter)."""
    torch = torch_of(a_sorted)
    if torch is not None:
        return torch.empty_like(a_sorted).scatter_(-1, perm, a_sorted)
    if isinstance(a_sorted, np.ndarray):
        out = np.empty_like(a_sorted)
        np.put_along_axis(out, perm, a_sorted, axis=-1)
        return out
    return xp.take_along_axis(a_sorted, xp.argsort(perm, axis=-1, stable=True), axis=-1)


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
    y_pred = prepare_pred(xp, y_pred, validate)
    ignore_index = ignore_index_option(opts["ignore_index"])
    y, valid, _ = targets(xp, y_true, y_pred, class_axis=None, ignore_index=ignore_index,
                           validate=validate, binary=True, ids_allowed=False)
    axes = axes_option(opts["axis"], y_pred.ndim)
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
    relu = positive_part(e_s, xp=xp)  # (ignored entries are 0)
    return xp.sum(relu * w_s, axis=-1)


def _lovasz_hinge_grad(xp, y_true, y_pred, cotangent=None, **o):
    e_s, w_s, perm, order, signs = _hinge_parts(xp, y_true, y_pred, o)
    ge = _unsort(xp, xp.where(e_s > 0, w_s, xp.zeros_like(w_s)), perm)
    g = -_from_rows(xp, ge, tuple(y_pred.shape), order) * signs
    ct = expand_cotangent(xp, cotangent, o["reduced"])
    return g if ct is None else g * ct


def _lovasz_hinge_hess(xp, y_true, y_pred, cotangent=None, **o):
    return xp.zeros_like(y_pred)


LOVASZ_HINGE = Loss(
    name="lovasz_hinge",
    input_kind="score",
    boosting=Boosting(refused=Refusal("coupled")),
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
    reduced_axes=summed_axes,
    coupled_axes=softmax_class_axis,
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
    act = check_choice(opts["activation"], ACTIVATIONS, name="activation")
    y_pred = prepare_pred(xp, y_pred, validate)
    ndim = y_pred.ndim
    ignore_index = ignore_index_option(opts["ignore_index"])
    include_bg = check_flag(opts["include_background"], "include_background")
    ca = check_axis(opts["class_axis"], ndim, name="class_axis")
    y, valid, _ = targets(xp, y_true, y_pred, class_axis=opts["class_axis"], ignore_index=ignore_index,
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
    cw = class_weights(xp, opts["class_weight"], n, include_bg, opts["class_axis"], y_pred, validate)
    axes = tuple(a for a in axes_option(opts["axis"], ndim) if a != ca)
    reduced = tuple(sorted(axes + (ca,)))
    return y, y_pred, {"reduced": reduced, "class_axis": ca, "activation": act, "mask": valid,
                       "classes": classes, "cw": cw}


def _softmax_parts(xp, y_true, y_pred, o, derivs=False):
    ca = o["class_axis"]
    act = o["activation"]
    q, dq, d2q = activate(xp, y_pred, act, ca, derivs=derivs)
    fg = y_true
    err = xp.where(fg > 0.5, complement(xp, y_pred, q, act, ca), q)  # |fg - q| for fg in {0, 1}, linear in q
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
    ct = expand_cotangent(xp, cotangent, o["reduced"])
    if ct is not None:
        G = G * ct
    act = o["activation"]
    if act is None:
        return G, xp.zeros_like(y_pred)
    return chain(xp, q, dq, d2q, G, None, act, o["class_axis"])


def _lovasz_softmax_grad(xp, y_true, y_pred, cotangent=None, **o):
    return _lovasz_softmax_derivs(xp, y_true, y_pred, o, cotangent, 1)[0]


def _lovasz_softmax_hess(xp, y_true, y_pred, cotangent=None, **o):
    return _lovasz_softmax_derivs(xp, y_true, y_pred, o, cotangent, 2)[1]


LOVASZ_SOFTMAX = Loss(
    name="lovasz_softmax",
    input_kind="probability",
    boosting=Boosting(refused=Refusal("coupled")),
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
    reduced_axes=summed_axes_with_classes,
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

LOSSES = (LOVASZ_HINGE, LOVASZ_SOFTMAX)
