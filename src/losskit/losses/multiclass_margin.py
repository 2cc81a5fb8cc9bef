"""The multiclass margin losses: the categorical hinge (Crammer-Singer, and Keras's
CategoricalHinge) and Weston-Watkins's multi-margin loss (PyTorch's MultiMarginLoss).

The conventions of :mod:`losskit.losses.margin` hold here too (kinks as
:func:`~losskit._array.stable.positive_part`, tied maxima share the gradient evenly, Hessians
of the active piece). ``y_true`` is read by its shape: the shape of ``y_pred`` means one-hot
rows (or, with ``convention="keras"``, Keras's label rows), the shape without the class axis
integer class ids.
"""

from __future__ import annotations

from .._array.stable import positive_part
from .._array.validate import (
    LossInputError,
    check_axis,
    check_choice,
    check_finite,
    check_integer_labels,
    check_mode,
    check_number,
    check_range,
    check_real,
    check_rows_sum_to_one,
    check_shape,
    require,
)
from .._array.xp import as_array, compute_dtype, device_of
from ..spec import Boosting, Loss, Refusal
from ._common import bool_as_float, class_mask, float_pair, gather, option_array, take, wrapped_axis
from .margin import zero_hess

# ---------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------


def _check_one_hot_entries(xp, y_true, axis, ids_shape):
    mode = check_mode(y_true)
    if mode is None:
        return
    what = (f"y_true must be one-hot along axis {axis} (entries 0 or 1, one 1 per row) or integer "
            f"class ids of shape {ids_shape}")

    def explain():
        if bool(xp.any((y_true != 0.0) & (y_true != 1.0))):
            raise LossInputError(f"{what}; got entries other than 0 and 1")

    require(xp.all((y_true == 0.0) | (y_true == 1.0)), explain, what, mode=mode)


def _index_dtype(xp, like):
    try:
        return xp.__array_namespace_info__().default_dtypes(device=device_of(like))["indexing"]
    except (AttributeError, TypeError, KeyError):  # namespaces without the inspection API
        return xp.int64


def _prepare_classes(xp, y_true, y_pred, opts, validate, *, onehot, loss_name):
    """Shared checks of the multiclass margin losses.

    ``y_true`` is read by its shape: the shape of ``y_pred`` means one-hot (or, with
    ``onehot="keras"``, Keras's label rows), the shape of ``y_pred`` without the class axis
    means integer class ids. Returns ``(y_true, y_pred, axis, ids)``.
    """
    if y_true is None:
        raise LossInputError("y_true is required")
    check_real(y_pred, xp=xp, name="y_pred")
    if y_pred.ndim == 0:
        raise LossInputError(
            f"y_pred must have a class axis ({loss_name} scores of shape (..., n_classes)); got a 0-d array"
        )
    axis = check_axis(opts["axis"], y_pred.ndim)
    pshape = tuple(y_pred.shape)
    n_classes = pshape[axis]
    if n_classes == 0:
        raise LossInputError(f"y_pred must have at least one class along axis {axis}; got shape {pshape}")
    ids_shape = pshape[:axis] + pshape[axis + 1:]
    tshape = tuple(y_true.shape)
    if tshape == pshape:
        y_true = bool_as_float(xp, y_true, y_pred)
        y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
        if validate and onehot == "keras":
            check_range(y_true, -1.0, 1.0, xp=xp, name="y_true",
                        what="label rows with entries in [-1, 1] (one-hot {0, 1}, Keras's {-1, 1}, or all-zero)")
        elif validate:
            _check_one_hot_entries(xp, y_true, axis, ids_shape)
            hint = ("Soft or multi-label rows are not class labels; pass integer class ids of shape "
                    f"{ids_shape} or one-hot rows.")
            if onehot == "crammer_singer":
                hint += " For Keras's CategoricalHinge (which allows all-zero rows) use convention='keras'."
            check_rows_sum_to_one(y_true, axis, xp=xp, name="y_true (one-hot)", tol=0.5, hint=hint)
        return y_true, y_pred, axis, False
    if tshape == ids_shape:
        dt = y_true.dtype
        if dt == xp.bool or not (xp.isdtype(dt, "integral") or xp.isdtype(dt, "real floating")):
            raise LossInputError(f"y_true must hold integer class ids (shape {ids_shape}); got dtype {dt}")
        if validate:
            check_finite(y_true, xp=xp, name="y_true")
            check_integer_labels(y_true, n_classes, xp=xp, name="y_true")
        y_pred = as_array(xp, y_pred, dtype=compute_dtype(xp, y_pred))
        if validate:
            check_finite(y_pred, xp=xp, name="y_pred")
        idt = _index_dtype(xp, y_pred)
        if y_true.dtype != idt:
            y_true = xp.astype(y_true, idt)
        return y_true, y_pred, axis, True
    raise LossInputError(
        f"y_true must have y_pred's shape {pshape} (one-hot rows along axis {axis}) or the shape without "
        f"the class axis {ids_shape} (integer class ids); got shape {tshape}"
    )


def _true_mask(xp, y_true, y_pred, axis, ids):
    """Boolean mask of the true class, shaped like ``y_pred``. For ids: a comparison against
    an arange along the class axis (no one-hot matrix of numbers is built)."""
    if not ids:
        return y_true == 1.0
    return class_mask(xp, xp.expand_dims(y_true, axis=axis), axis, y_pred.shape[axis], like=y_pred)


def _true_score(xp, y_true, y_pred, axis, ids):
    """``s_y`` kept as a size-1 class axis: gathered with take_along_axis for ids, ``sum(y s)``
    for one-hot rows."""
    if ids:
        return gather(xp, y_pred, y_true, axis)
    return xp.sum(y_true * y_pred, axis=axis, keepdims=True)


def _class_weight(xp, weight, y_true, axis, ids):
    """``weight[y]`` per sample (shape without the class axis)."""
    if ids:
        return take(xp, weight, y_true)
    shape = [1] * y_true.ndim
    shape[axis] = weight.shape[0]
    return xp.sum(y_true * xp.reshape(weight, tuple(shape)), axis=axis)


# ---------------------------------------------------------------------------------------
# categorical (multiclass) hinge: Crammer-Singer and Keras's CategoricalHinge
# ---------------------------------------------------------------------------------------

_CONVENTIONS = ("crammer_singer", "keras")


def _cat_hinge_prepare(xp, y_true, y_pred, opts, validate):
    conv = check_choice(opts["convention"], _CONVENTIONS, name="convention")
    margin = float(check_number(opts["margin"], name="margin"))
    y_true, y_pred, axis, ids = _prepare_classes(
        xp, y_true, y_pred, opts, validate, onehot=conv, loss_name="categorical_hinge"
    )
    return y_true, y_pred, {"axis": axis, "margin": margin, "convention": conv, "ids": ids}


def _cat_hinge_parts(xp, y_true, y_pred, axis, margin, convention, ids):
    """``(z, v, m, is_true)``: ``z = margin + m - s_y`` with ``m = max(v)`` over the class
    axis (keepdims), ``v`` the values the max runs over, ``is_true`` the true-class mask."""
    is_true = _true_mask(xp, y_true, y_pred, axis, ids)
    s_y = _true_score(xp, y_true, y_pred, axis, ids)
    if convention == "keras":
        # neg = max((1 - y) s): the true class takes part in the max with the value 0.
        v = xp.where(is_true, xp.zeros_like(y_pred), y_pred) if ids else (1.0 - y_true) * y_pred
        m = xp.max(v, axis=axis, keepdims=True)
        return margin + m - s_y, v, m, is_true
    # Crammer-Singer: max over j != y; the true class is masked with -inf.
    v = xp.where(is_true, xp.full_like(y_pred, -float("inf")), y_pred)
    m = xp.max(v, axis=axis, keepdims=True)
    alone = xp.isinf(m)  # -inf only with a single class: no rival, loss 0 (a NaN rival or true score: NaN)
    m_safe = xp.where(alone, xp.zeros_like(m), m)
    z = margin + m_safe - s_y
    z = xp.where(alone & (z == z), -xp.ones_like(z), z)
    return z, v, m, is_true


def _cat_hinge_value(xp, y_true, y_pred, *, axis, margin, convention, ids):
    z, _, _, _ = _cat_hinge_parts(xp, y_true, y_pred, axis, margin, convention, ids)
    return xp.squeeze(positive_part(z, xp=xp), axis=axis)


def _cat_hinge_grad(xp, y_true, y_pred, *, axis, margin, convention, ids):
    z, v, m, is_true = _cat_hinge_parts(xp, y_true, y_pred, axis, margin, convention, ids)
    tie = xp.astype(v == m, y_pred.dtype)
    if convention == "crammer_singer":
        tie = xp.where(is_true, xp.zeros_like(tie), tie)
    count = xp.sum(tie, axis=axis, keepdims=True)
    share = tie / xp.where(count > 0, count, xp.ones_like(count))
    if convention == "keras":
        # d max((1 - y) s) / ds_j = share_j (1 - y_j): the true class's tie share is lost.
        d_neg = share * (xp.astype(~is_true, y_pred.dtype) if ids else 1.0 - y_true)
        d_pos = xp.astype(is_true, y_pred.dtype) if ids else y_true
    else:
        d_neg = share
        d_pos = xp.astype(is_true, y_pred.dtype)
    active = z > 0
    return xp.where(active, d_neg - d_pos, xp.zeros_like(y_pred))


CATEGORICAL_HINGE = Loss(
    name="categorical_hinge",
    input_kind="score",
    boosting=Boosting(
        refused=Refusal("piecewise_linear", "use sparse_categorical_cross_entropy or multi_margin with p=2"),
    ),
    aliases=("multiclass_hinge", "crammer_singer_hinge"),
    value=_cat_hinge_value,
    grad=_cat_hinge_grad,
    hess=zero_hess,
    prepare=_cat_hinge_prepare,
    options={"axis": -1, "margin": 1.0, "convention": "crammer_singer"},
    structure="distribution",
    task="multiclass classification",
    inputs=("y_true: one-hot rows shaped like y_pred, or integer class ids shaped like y_pred without the "
            "class axis; y_pred: real scores with the class axis `axis`"),
    summary="Multiclass hinge: max(0, margin + max_{j != y} s_j - s_y) (Crammer-Singer), or Keras's variant.",
    reduced_axes=wrapped_axis,
    doc="""Categorical (multiclass) hinge loss; one value per sample (the class ``axis`` is reduced).

    ``y_true`` is read by its shape: the shape of ``y_pred`` means one-hot rows (0/1 entries,
    booleans allowed); the shape of ``y_pred`` without the class axis means integer class ids
    (any integer dtype, or integer-valued floats). Class ids are gathered with
    ``take_along_axis``; no one-hot matrix is built.

    ``convention="crammer_singer"`` (default), with true class ``y`` and scores ``s``::

        l = max(0, margin + max_{j != y} s_j - s_y)

    Subgradient where the bracket is positive: ``-1`` on ``s_y`` and ``+1`` on the runner-up
    ``argmax_{j != y} s_j``, shared evenly among tied runners-up; 0 where the bracket is
    ``<= 0`` (also at the kink). This is what ``torch.autograd`` and ``jax.grad`` of the value
    return. Rows must be exactly one-hot (a row without a 1 raises). With a single class the
    loss is 0. Hessian 0.

    ``convention="keras"`` reproduces ``keras.losses.CategoricalHinge`` exactly::

        pos = sum_j y_j s_j,   neg = max_j (1 - y_j) s_j,   l = max(0, margin + neg - pos)

    The true class takes part in ``neg`` with the value 0, so ``neg >= 0``: the two
    conventions differ when every rival score is negative (Crammer-Singer then charges less).
    Any label rows with entries in ``[-1, 1]`` are accepted (Keras documents ``{0, 1}``
    one-hot and ``{-1, 1}``); an all-zero row gives ``max(0, margin + max_j s_j)``. Gradient
    ``share_j (1 - y_j) - y_j`` where the loss is positive, with ``share`` splitting the max
    evenly among tied entries of ``(1 - y) s``, as autodiff does.

    Options: ``axis=-1`` (class axis), ``margin=1.0``, ``convention="crammer_singer"``.

    Peers:

    - ``optax.multiclass_hinge_loss(scores, labels)`` (integer labels, no reduction) is
      Crammer-Singer with margin 1: ``reduction="none"``.
    - ``sklearn.metrics.hinge_loss`` with more than two classes is Crammer-Singer averaged
      over samples (labels encoded in sorted order): class ids, ``reduction="mean"``.
    - ``keras.losses.CategoricalHinge``: ``convention="keras"`` and
      ``reduction="sum_over_batch_size"`` (Keras's ``reduction=None``: ``reduction="none"``).
    - PyTorch's ``MultiMarginLoss`` sums over rivals instead of taking the max: see
      :func:`multi_margin`.

    Reference: K. Crammer, Y. Singer, "On the algorithmic implementation of multiclass
    kernel-based vector machines", JMLR 2 (2001).

    >>> import numpy as np, losskit as lk
    >>> s = np.array([[10.0, 3.0], [11.0, -2.0]])
    >>> lk.categorical_hinge(np.array([1, 0]), s, reduction="none")   # optax's test
    array([8., 0.])
    >>> y, s = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    >>> lk.categorical_hinge(y, s, convention="keras", reduction="none")   # all-zero 2nd row
    array([1.2, 1.6])
    """,
)


# ---------------------------------------------------------------------------------------
# multi_margin: Weston-Watkins, PyTorch's MultiMarginLoss
# ---------------------------------------------------------------------------------------


def _multi_margin_prepare(xp, y_true, y_pred, opts, validate):
    p = check_number(opts["p"], name="p", integer=True)
    p = int(check_choice(p, (1, 2), name="p"))
    margin = float(check_number(opts["margin"], name="margin"))
    y_true, y_pred, axis, ids = _prepare_classes(
        xp, y_true, y_pred, opts, validate, onehot="one_hot", loss_name="multi_margin"
    )
    weight = option_array(xp, opts["weight"], name="weight", like=y_pred, validate=validate, lo=0.0)
    if weight is not None:
        check_shape(weight, (y_pred.shape[axis],), name="weight", what="one weight per class")
    return y_true, y_pred, {"axis": axis, "p": p, "margin": margin, "weight": weight, "ids": ids}


def _mm_parts(xp, y_true, y_pred, axis, margin, ids):
    """``(zp, is_true)``: the positive parts of ``margin - s_y + s_j`` over rivals (NaN kept
    NaN); ``zp > 0`` marks the active terms."""
    is_true = _true_mask(xp, y_true, y_pred, axis, ids)
    z = margin - _true_score(xp, y_true, y_pred, axis, ids) + y_pred
    return xp.where((z <= 0) | is_true, xp.zeros_like(z), z), is_true


def _mm_scale(xp, y_true, y_pred, axis, weight, ids):
    """``weight[y] / C`` with a size-1 class axis (or the float ``1 / C``)."""
    c = 1.0 / y_pred.shape[axis]
    if weight is None:
        return c
    return xp.expand_dims(_class_weight(xp, weight, y_true, axis, ids), axis=axis) * c


def _mm_value(xp, y_true, y_pred, *, axis, p, margin, weight, ids):
    zp, _ = _mm_parts(xp, y_true, y_pred, axis, margin, ids)
    h = zp if p == 1 else zp * zp
    total = xp.sum(h, axis=axis, keepdims=True) * _mm_scale(xp, y_true, y_pred, axis, weight, ids)
    return xp.squeeze(total, axis=axis)


def _mm_grad(xp, y_true, y_pred, *, axis, p, margin, weight, ids):
    zp, is_true = _mm_parts(xp, y_true, y_pred, axis, margin, ids)
    d = xp.astype(zp > 0, y_pred.dtype) if p == 1 else 2.0 * zp
    rest = xp.sum(d, axis=axis, keepdims=True)
    g = d - xp.where(is_true, rest, xp.zeros_like(d))
    return g * _mm_scale(xp, y_true, y_pred, axis, weight, ids)


def _mm_hess(xp, y_true, y_pred, *, axis, p, margin, weight, ids):
    if p == 1:
        return xp.zeros_like(y_pred)
    zp, is_true = _mm_parts(xp, y_true, y_pred, axis, margin, ids)
    a = 2.0 * xp.astype(zp > 0, y_pred.dtype)
    h = a + xp.where(is_true, xp.sum(a, axis=axis, keepdims=True), xp.zeros_like(a))
    return h * _mm_scale(xp, y_true, y_pred, axis, weight, ids)


MULTI_MARGIN = Loss(
    name="multi_margin",
    input_kind="score",
    boosting=Boosting(
        refused=Refusal("piecewise_linear", "pass p=2 (the squared hinge)"),
        labels="ids",
        requires={"p": 2},
    ),
    aliases=("multi_margin_loss", "multimargin", "weston_watkins_hinge"),
    value=_mm_value,
    grad=_mm_grad,
    hess=_mm_hess,
    prepare=_multi_margin_prepare,
    options={"axis": -1, "p": 1, "margin": 1.0, "weight": None},
    structure="distribution",
    task="multiclass classification",
    inputs=("y_true: integer class ids shaped like y_pred without the class axis, or one-hot rows shaped "
            "like y_pred; y_pred: real scores with the class axis `axis`"),
    summary="Multiclass margin loss summed over rivals (Weston-Watkins; PyTorch's MultiMarginLoss).",
    reduced_axes=wrapped_axis,
    doc="""Multiclass margin loss (Weston-Watkins), PyTorch's ``MultiMarginLoss``; one value per sample.

    With true class ``y``, scores ``s`` over ``C`` classes and ``z_j = margin - s_y + s_j``::

        l = w[y] / C * sum_{j != y} max(0, z_j)^p,      p in {1, 2}

    Gradient (times ``w[y] / C``): on a rival ``j``, ``[z_j > 0]`` (p=1) or ``2 max(0, z_j)``
    (p=2); on ``s_y`` minus the sum of those. A term at its kink (``z_j = 0``) contributes 0,
    as autodiff of the value gives. Hessian diagonal: 0 for p=1; for p=2 (times ``w[y]/C``)
    ``2 [z_j > 0]`` on rivals and ``2 * #{j : z_j > 0}`` on ``s_y`` (0 at and beyond kinks).

    ``y_true``: integer class ids (shape of ``y_pred`` without the class axis) or one-hot rows
    (shape of ``y_pred``), told apart by shape.

    Options: ``axis=-1``, ``p=1``, ``margin=1.0``, ``weight=None`` (one non-negative weight
    per class, PyTorch's ``weight``). The class weight multiplies the sample's loss *inside the
    value*: PyTorch's ``reduction="mean"`` divides by the number of samples, not by the sum of
    the weights (unlike its cross-entropy), and so does losskit's ``"mean"`` here.

    Peers: ``torch.nn.functional.multi_margin_loss(input, target, p, margin, weight,
    reduction)``: the same options, ``(y_true, y_pred) = (target, input)``; identical values
    for ``reduction`` in ``"none"``, ``"mean"``, ``"sum"``. For the max over rivals instead of
    the sum (Crammer-Singer, optax, scikit-learn) see :func:`categorical_hinge`.

    Reference: J. Weston, C. Watkins, "Support vector machines for multi-class pattern
    recognition", ESANN (1999).

    >>> import numpy as np, losskit as lk
    >>> s = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> round(float(lk.multi_margin(np.array([3]), s)), 6)   # PyTorch's docs example
    0.325
    """,
)


LOSSES = (CATEGORICAL_HINGE, MULTI_MARGIN)
