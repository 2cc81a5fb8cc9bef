"""Margin losses: hinge, squared hinge, perceptron (binary, elementwise); the multiclass hinges
(Crammer-Singer / Keras categorical hinge, Weston-Watkins) are in
:mod:`losskit.losses.multiclass_margin`.

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
    check_finite,
    check_mode,
    check_number,
    enforced,
    on_host,
    require,
)
from .._array.xp import host_view
from ..spec import Boosting, Loss, Refusal
from ._common import bool_as_float, count_true, float_pair

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


def zero_hess(xp, y_true, y_pred, **opts):
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
    fused_at_scale=True,
    aliases=("hinge_loss",),
    value=_hinge_value,
    grad=_hinge_grad,
    hess=zero_hess,
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
    hess=zero_hess,
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


LOSSES = (HINGE, SQUARED_HINGE, PERCEPTRON)
