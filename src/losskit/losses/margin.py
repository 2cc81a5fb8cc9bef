"""Margin losses: hinge, squared hinge, perceptron (binary, elementwise) and the multiclass
hinges: Crammer-Singer / Keras categorical hinge and Weston-Watkins (PyTorch's MultiMarginLoss).

All of them are piecewise linear or piecewise quadratic in the scores. Conventions shared by
the family:

- Binary labels are ``{-1, 1}`` or ``{0, 1}``; a 0 is read as -1 element by element
  (``where(y == 0, -1, y)``), so the rule needs no look at the whole array and works under
  ``jax.jit``. Any other label value raises :class:`losskit.LossInputError`.
- Every kink ``max(0, z)`` is :func:`~losskit._array.stable.positive_part`, ``where(z <= 0, 0,
  z)``: at ``z == 0`` the loss is 0 and the (sub)gradient is 0, which is also what
  ``torch.autograd`` and ``jax.grad`` of the value return, and a NaN ``z`` stays NaN.
- Ties of a ``max`` over classes share the gradient evenly among the tied entries, as the
  autodiff of ``xp.max`` does in PyTorch (``amax``) and JAX.
- Hessians are 0 where the loss is piecewise linear; for squared pieces they are the
  Hessian of the active piece, and 0 at and beyond the kink.
"""

from __future__ import annotations

import math

from .._array.lean import torch_untracked_pair
from .._array.stable import positive_part
from .._array.validate import (
    LossInputError,
    bounds_ok,
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
    enforced,
    on_host,
    require,
)
from .._array.xp import as_array, compute_dtype, device_of, host_view
from ..spec import Boosting, Loss, Refusal
from ._common import bool_as_float, class_mask, count_true, float_pair, gather, option_array, take, wrapped_axis

# ---------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------


def _signed_labels(xp, y_true, mode=None):
    """``{-1, 1}`` or ``{0, 1}`` labels as ``{-1, 1}``; 0 is read as -1 per element (jit-safe).

    ``y - (y == 0)`` is ``where(y == 0, -1, y)`` bit for bit, for every value (NaN and inf
    included), in three cheap passes instead of a ``where`` and a ``ones_like``. Where
    validation reads the values anyway (``mode`` "read", or "collect" with a NumPy view, which
    reads without a torch read) labels without a 0 are returned as they are, which is the same
    array, after one ``any``."""
    view = host_view(y_true) if mode in ("read", "collect") else None
    if mode == "read" or view is not None:
        if not bool(xp.any(y_true == 0.0) if view is None else (view == 0.0).any()):
            return y_true
    torch = torch_untracked_pair(y_true, y_true)
    if torch is not None:  # float-only passes into one fresh buffer (a bool temporary is a slow pass)
        eq = torch.eq(y_true, 0.0, out=torch.empty_like(y_true))
        return torch.sub(y_true, eq, out=eq)
    return y_true - xp.astype(y_true == 0.0, y_true.dtype)


def _check_signed_labels(xp, y_true, y_pred, signed) -> bool:
    """The checks of ``float_pair`` plus the label set: the labels and ``y_pred``'s finiteness.

    ``signed * signed == 1`` everywhere (one min and one max of the squares) proves every
    label is -1, 0 or 1, hence finite, so ``y_true``'s own finiteness pass is skipped. When
    that fails, the explanation runs the checks in the order and with the messages of the
    exact path. Returns True when the values are checked: labels in ``{-1, 1}`` and finite
    scores (false where there are no values to check, or the checks do not stop the call)."""
    mode = check_mode(y_true)
    if mode is None or math.prod(y_true.shape) == 0:
        check_finite(y_pred, xp=xp, name="y_pred")
        return False

    def explain():
        check_finite(y_true, xp=xp, name="y_true")
        check_finite(y_pred, xp=xp, name="y_pred")
        bad = (y_true != 1.0) & (y_true != 0.0) & (y_true != -1.0)
        if bool(xp.any(bad)):
            lo = float(xp.min(xp.where(bad, y_true, xp.full_like(y_true, float("inf")))))
            hi = float(xp.max(xp.where(bad, y_true, xp.full_like(y_true, float("-inf")))))
            raise LossInputError(
                "y_true must hold binary labels in {-1, 1} or {0, 1} (0 is read as -1); "
                f"got {count_true(xp, bad)} other value(s) (between {lo:g} and {hi:g})"
            )

    labels, lxp = on_host(signed, xp, mode)  # CPU tensors: NumPy views, no torch read
    require(bounds_ok(labels * labels, 1.0, 1.0, xp=lxp), explain,
            "y_true must hold binary labels in {-1, 1} or {0, 1}", mode=mode)
    check_finite(y_pred, xp=xp, name="y_pred")  # after the labels: a failure explains them first
    return enforced(mode)


# Margins up to this size cannot turn ``margin - y s`` (finite y in {-1, 1}, finite s) into
# -inf in float32 or float64: the exact result stays within half an ulp of the largest float.
CHECKED_MARGIN = 1e30


def prepare_binary(xp, y_true, y_pred, opts, validate, *, with_margin=True):
    y_true = bool_as_float(xp, y_true, y_pred)
    y_true, y_pred = float_pair(xp, y_true, y_pred, False)  # dtype and shape; values below
    signed = _signed_labels(xp, y_true, check_mode(y_true) if validate else None)
    checked = bool(validate) and _check_signed_labels(xp, y_true, y_pred, signed)
    out = {}
    if with_margin:
        out["margin"] = float(check_number(opts["margin"], name="margin"))
        checked = checked and abs(out["margin"]) <= CHECKED_MARGIN
    out["checked"] = checked
    return signed, y_pred, out


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
# hinge, squared hinge, perceptron (elementwise)
# ---------------------------------------------------------------------------------------


def _hinge_prepare(xp, y_true, y_pred, opts, validate):
    return prepare_binary(xp, y_true, y_pred, opts, validate)


# ``checked`` (set by prepare when validation read the values): labels are exactly -1 or 1,
# scores finite and ``z = margin - y s`` finite. The kernels then write ``max(0, z)`` and its
# subgradient as products with the 0/1 mask ``[z > 0]`` (cheap passes) instead of a ``where``
# and a ``zeros_like``, with the same bits: ``z [z > 0] + 0`` is ``where(z <= 0, 0, z)`` for
# finite z (the ``+ 0`` turns the -0 of a negative z into +0), ``0 - y [z > 0]`` is
# ``where(z > 0, -y, 0)`` for finite y, and ``y s < margin`` is ``z > 0`` (a rounded
# difference has the sign of the exact one). Unchecked inputs (validate=False, traced arrays)
# keep the ``where``s, whose value keeps a NaN ``z`` NaN: a diverged score is no zero loss.
def _hinge_z(y_true, y_pred, margin):
    return margin - y_true * y_pred


def _active(xp, z):
    return xp.astype(z > 0, z.dtype)


# torch, untracked (the closed-form route's forward and backward): the same bits from float-only
# passes over one fresh buffer, updated in place (torch's ``where`` and bool-to-float casts are
# scalar loops on CPU, and every fresh array is a pass of page faults). ``-(y s) + margin`` is
# ``margin - y s`` rounded alike and never -0 (``margin + 0.0`` is not -0), so ``clamp_min``
# gives the ``where``'s bits, a NaN kept NaN; ``y s < margin`` is ``z > 0`` (NaN: neither), and
# unchecked gradients map the NaN of ``0 * y`` (a non-finite label) to the ``where``'s 0.
def _hinge_value_torch(torch, y_true, y_pred, margin):
    return torch.mul(y_true, y_pred).neg_().add_(margin + 0.0).clamp_min_(0.0)


def _hinge_grad_torch(torch, y_true, y_pred, margin, checked):
    g = torch.mul(y_true, y_pred)
    g = torch.lt(g, margin, out=g).mul_(y_true).neg_().add_(0.0)  # -y [y s < margin], zeros +0
    return g if checked else g.nan_to_num_(0.0, math.inf, -math.inf)


def _hinge_value(xp, y_true, y_pred, *, margin, checked=False):
    torch = torch_untracked_pair(y_true, y_pred)
    if torch is not None:
        return _hinge_value_torch(torch, y_true, y_pred, margin)
    z = _hinge_z(y_true, y_pred, margin)
    if checked:
        return z * _active(xp, z) + 0.0
    return positive_part(z, xp=xp)


def _hinge_grad(xp, y_true, y_pred, *, margin, checked=False):
    torch = torch_untracked_pair(y_true, y_pred)
    if torch is not None:
        return _hinge_grad_torch(torch, y_true, y_pred, margin, checked)
    if checked:
        t = y_true * y_pred
        return 0.0 - y_true * xp.astype(t < margin, t.dtype)
    z = _hinge_z(y_true, y_pred, margin)
    return xp.where(z > 0, -y_true, xp.zeros_like(z))


def _zero_hess(xp, y_true, y_pred, **opts):
    return xp.zeros_like(y_pred)


BINARY_INPUTS = ("y_true: labels in {-1, 1} or {0, 1} (0 means -1); "
                  "y_pred: real scores (decision values, logits) of the same shape")

HINGE = Loss(
    name="hinge",
    input_kind="score",
    boosting=Boosting(
        refused=Refusal("piecewise_linear", "use squared_hinge or binary_cross_entropy as a smooth surrogate"),
    ),
    fused="hinge",
    aliases=("hinge_loss",),
    value=_hinge_value,
    grad=_hinge_grad,
    hess=_zero_hess,
    prepare=_hinge_prepare,
    options={"margin": 1.0},
    structure="elementwise",
    task="binary classification",
    inputs=BINARY_INPUTS,
    summary="Hinge loss max(0, margin - y s) of a linear (SVM-style) classifier.",
    doc="""Hinge loss, elementwise.

    Per element, with label ``y`` in ``{-1, 1}`` (a 0 label is read as -1, element by element)
    and score ``s``: ``l = max(0, margin - y s)``.
    Subgradient ``-y`` where ``margin - y s > 0``, else 0 (also exactly at the kink, which is
    what ``torch.autograd`` and ``jax.grad`` of the value return). Hessian 0 (piecewise linear).

    Options: ``margin=1.0``. Labels other than -1, 0, 1 raise :class:`losskit.LossInputError`.
    Boolean labels are accepted (True = 1, False = -1).

    Peers:

    - ``keras.losses.Hinge`` / ``keras.losses.hinge``: converts labels ``2 y - 1`` only when
      *all* labels are in ``{0, 1}``; losskit maps each 0 to -1, so the two agree except on
      arrays that mix -1, 0 and 1 (Keras then keeps the 0s, and ``y = 0`` costs ``margin``).
      Keras averages the last axis per sample and divides by the number of samples:
      ``reduction="sum_over_batch_size"`` gives the same number (with per-row
      ``sample_weight`` too); Keras's ``reduction="sum"`` sums the row means:
      ``reduction="sum", sample_weight=1 / n`` with ``n = y_pred.shape[-1]``; Keras's
      ``reduction=None`` is the row mean of ``reduction="none"``.
    - ``optax.hinge_loss(scores, targets)`` (scores first, ``{-1, 1}`` targets, no reduction):
      ``reduction="none"``.
    - ``sklearn.metrics.hinge_loss`` (binary): maps the smaller of the two labels to -1 and the
      larger to +1 (e.g. ``{0, 2}``); map labels that way, then ``reduction="mean"``.
    - PyTorch has no binary hinge loss; ``torch.nn.HingeEmbeddingLoss`` is a different loss.

    Reference: C. Cortes, V. Vapnik, "Support-vector networks", Machine Learning 20 (1995).

    >>> import numpy as np, losskit as lk
    >>> float(lk.hinge(np.array([0, 1]), np.array([-2.0, 2.0])))   # 0 is the negative class
    0.0
    >>> lk.hinge(np.array([1.0, -1.0, 1.0]), np.array([0.5, 0.5, 1.0]), reduction="none")
    array([0.5, 1.5, 0. ])
    >>> lk.hinge.grad(np.array([1.0, -1.0, 1.0]), np.array([0.5, 0.5, 1.0]), reduction="sum")
    array([-1.,  1.,  0.])
    """,
)


def _sq_hinge_value(xp, y_true, y_pred, *, margin, checked=False):
    z = _hinge_z(y_true, y_pred, margin)
    zp = z * _active(xp, z) if checked else positive_part(z, xp=xp)
    return zp * zp  # a -0 of the checked zp squares to +0


def _sq_hinge_grad(xp, y_true, y_pred, *, margin, checked=False):
    z = _hinge_z(y_true, y_pred, margin)
    zp = z * _active(xp, z) + 0.0 if checked else positive_part(z, xp=xp)
    return -2.0 * y_true * zp


def _sq_hinge_hess(xp, y_true, y_pred, *, margin, checked=False):
    z = _hinge_z(y_true, y_pred, margin)
    if checked:  # 2 y^2 is exactly 2 for y in {-1, 1}
        return 2.0 * _active(xp, z)
    return xp.where(z > 0, 2.0 * y_true * y_true, xp.zeros_like(z))


SQUARED_HINGE = Loss(
    name="squared_hinge",
    input_kind="score",
    aliases=(),
    value=_sq_hinge_value,
    grad=_sq_hinge_grad,
    hess=_sq_hinge_hess,
    prepare=_hinge_prepare,
    options={"margin": 1.0},
    structure="elementwise",
    task="binary classification",
    inputs=BINARY_INPUTS,
    summary="Squared hinge loss max(0, margin - y s)^2 (L2-SVM); differentiable, with a kink in its Hessian.",
    doc="""Squared hinge loss, elementwise.

    Per element, with label ``y`` in ``{-1, 1}`` (a 0 label is read as -1, element by element)
    and score ``s``: ``l = max(0, margin - y s)^2``; gradient ``-2 y max(0, margin - y s)``
    (continuous). Hessian: ``2`` (``2 y^2``) where ``margin - y s > 0``, the Hessian of the
    active piece, and 0 at and beyond the kink, as autodiff of the value gives.

    Options: ``margin=1.0``. Labels other than -1, 0, 1 raise :class:`losskit.LossInputError`.

    Peers: ``keras.losses.SquaredHinge`` (labels converted ``2 y - 1`` only when all are in
    ``{0, 1}``; mean over the last axis, then ``reduction="sum_over_batch_size"``; see
    :func:`hinge` for the label and reduction mapping); scikit-learn's ``LinearSVC(loss=
    "squared_hinge")`` objective, and ``SGDClassifier(loss="squared_hinge")``. PyTorch and
    optax have no squared hinge loss.

    Reference: C.-P. Lee, C.-J. Lin, "A study on L2-loss (squared hinge-loss) multiclass SVM",
    Neural Computation 25 (2013).

    >>> import numpy as np, losskit as lk
    >>> y, s = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    >>> round(float(lk.squared_hinge(y, s)), 6)   # Keras's SquaredHinge test value
    1.86
    >>> lk.squared_hinge.grad_hess(np.array([1.0]), np.array([0.25]), reduction="sum")
    (array([-1.5]), array([2.]))
    """,
)


def _perceptron_prepare(xp, y_true, y_pred, opts, validate):
    return prepare_binary(xp, y_true, y_pred, opts, validate, with_margin=False)


def _perceptron_value(xp, y_true, y_pred, *, checked=False):
    return _hinge_value(xp, y_true, y_pred, margin=0.0, checked=checked)


def _perceptron_grad(xp, y_true, y_pred, *, checked=False):
    return _hinge_grad(xp, y_true, y_pred, margin=0.0, checked=checked)


PERCEPTRON = Loss(
    name="perceptron",
    input_kind="score",
    boosting=Boosting(
        refused=Refusal("piecewise_linear", "use squared_hinge or binary_cross_entropy as a smooth surrogate"),
    ),
    aliases=("perceptron_loss",),
    value=_perceptron_value,
    grad=_perceptron_grad,
    hess=_zero_hess,
    prepare=_perceptron_prepare,
    options={},
    structure="elementwise",
    task="binary classification",
    inputs=BINARY_INPUTS,
    summary="Perceptron loss max(0, -y s): the hinge without a margin.",
    doc="""Perceptron loss, elementwise.

    Per element, with label ``y`` in ``{-1, 1}`` (a 0 label is read as -1, element by element)
    and score ``s``: ``l = max(0, -y s)``, the hinge loss with ``margin=0``. Subgradient ``-y``
    where ``y s < 0`` (a mistake), else 0, also at ``y s = 0`` (what autodiff of the value gives).
    Hessian 0.

    Peers: ``optax.perceptron_loss(scores, targets)`` (scores first, ``{-1, 1}`` targets, no
    reduction): ``reduction="none"``. ``sklearn.linear_model.Perceptron`` /
    ``SGDClassifier(loss="perceptron")`` minimise the same loss.

    Reference: F. Rosenblatt, "The perceptron: a probabilistic model for information storage
    and organization in the brain", Psychological Review 65 (1958).

    >>> import numpy as np, losskit as lk
    >>> lk.perceptron(np.array([1.0, -1.0]), np.array([10.0, 20.0]), reduction="none")
    array([ 0., 20.])
    """,
)


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
    hess=_zero_hess,
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

LOSSES = (HINGE, SQUARED_HINGE, PERCEPTRON, CATEGORICAL_HINGE, MULTI_MARGIN)

