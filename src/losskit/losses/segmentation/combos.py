"""Dice (or Jaccard) plus a per-pixel loss on logits: Dice + cross-entropy (MONAI's DiceCELoss,
nnU-Net's loss) and Dice + sigmoid focal loss (MONAI's DiceFocalLoss).
"""

from __future__ import annotations

from ..._array.validate import LossInputError, check_flag, check_number, check_rows_sum_to_one
from ..._array.xp import device_of
from ...spec import Boosting, Loss, Refusal
from .._ce_math import ce_dense_grad_hess, ce_dense_value
from .._common import along, bool_as_float, ignore_index_option, label_smoothing_option, option_array, row_sum_tolerance
from ..classification import bce_grad, bce_hess, bce_value, focal_grad, focal_hess, focal_value
from .activation import softmax_activated
from .overlap import DICE, JACCARD
from .ratio import ratio_from_stats, ratio_grad, ratio_hess, ratio_stats
from .samples import (
    expand_cotangent,
    implicit_sample_weight,
    softmax_class_axis,
    squeeze_reduced,
    sum_kept,
    summed_axes,
)

# Per sample s (the entries summed over ``axis``, as for the Dice loss):
#     l_s = lambda_dice * dice_s + lambda_term * (sum of term_e over the valid e in s) / count_s
# The term is the softmax cross-entropy of a pixel (its class axis reduced: with the class
# axis not summed, a pixel lies in every per-class sample of its image), or the elementwise
# sigmoid BCE / focal loss of an entry. count_s (valid pixels or entries of the sample) does
# not depend on y_pred, so the gradient of the term part is the kernel's gradient times
# lambda_term * sum over the samples holding e of cotangent_s / count_s. The Dice part is the
# ratio implementation (value, statistics, vector-Jacobian products); the terms are the
# kernels of the cross-entropy losses (softmax cross-entropy on a dense target) and of
# losses.classification (binary cross-entropy and binary focal loss from logits).


def _term_pixel_mask(xp, y_true, y_pred, ca, ignore_index):
    """0/1 validity of each pixel (class axis kept at size 1) for the softmax cross-entropy,
    or None: pixels whose class id is ``ignore_index``, or, for mask targets, pixels with any
    entry equal to it. ``include_background`` does not enter: the cross-entropy keeps class 0."""
    if ignore_index is None:
        return None
    yt = bool_as_float(xp, y_true, y_pred)
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
        ls = label_smoothing_option(opts["label_smoothing"])
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
        mask = _term_pixel_mask(xp, raw, y_pred, ca, ignore_index_option(opts["ignore_index"]))
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
    return ratio_stats(xp, y_true, y_pred, **o) + (sum_kept(xp, term * m, o["reduced"]), sum_kept(xp, m, o["reduced"]))


def _combo_from_stats(xp, stats, **o):
    dice = ratio_from_stats(xp, stats[:-2], **o)
    num, cnt = stats[-2], stats[-1]
    ok = cnt > 0
    mean = xp.where(ok, num / xp.where(ok, cnt, xp.ones_like(cnt)), xp.zeros_like(cnt))
    mean = squeeze_reduced(xp, xp.broadcast_to(mean, tuple(stats[0].shape)), o["reduced"])
    return o["lambda_dice"] * dice + o["lambda_term"] * mean


def _combo_value(xp, y_true, y_pred, **o):
    return _combo_from_stats(xp, _combo_stats(xp, y_true, y_pred, **o), **o)


def _combo_derivs(xp, y_true, y_pred, o, cotangent, order):
    """``lambda_dice`` times the Dice's vector-Jacobian product plus, per term e,
    ``lambda_term * sum over the samples s holding e of (cotangent_s / count_s)`` times the
    term's own derivative (a pixel's cross-entropy depends on that pixel's logits only)."""
    reduced = o["reduced"]
    ct = 1.0 if cotangent is None else cotangent
    fn = ratio_grad if order == 1 else ratio_hess
    out = fn(xp, y_true, y_pred, cotangent=o["lambda_dice"] * ct, **o)
    m = _combo_valid(xp, y_pred, o)
    cnt = sum_kept(xp, m, reduced)
    ok = cnt > 0
    inv = xp.where(ok, 1.0 / xp.where(ok, cnt, xp.ones_like(cnt)), xp.zeros_like(cnt))
    coef = xp.broadcast_to(o["lambda_term"] * expand_cotangent(xp, ct, reduced) * inv, _kept_shape(y_pred.shape, reduced))
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
    input_kind="logit",
    boosting=Boosting(refused=Refusal("coupled")),
    aliases=("dice_ce", "dice_ce_loss"),
    value=_combo_value,
    grad=_combo_grad,
    vjp=True,
    hess=_combo_hess,
    prepare=_make_combo_prepare("ce"),
    options={**_COMBO_OPTIONS, "activation": "softmax", "lambda_ce": 1.0, "label_smoothing": 0.0,
             "pos_weight": None},
    stays_on_torch=softmax_activated,
    structure="overlap",
    task="segmentation",
    inputs=("y_true: integer class ids, one-hot / probability masks (softmax) or masks in [0, 1] "
            "(sigmoid); y_pred: logits, classes on class_axis"),
    summary="Dice loss plus cross-entropy on logits (MONAI's DiceCELoss, nnU-Net's loss).",
    reduced_axes=summed_axes,
    coupled_axes=softmax_class_axis,
    implicit_weight=implicit_sample_weight,
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
    input_kind="logit",
    boosting=Boosting(refused=Refusal("coupled")),
    aliases=("dice_focal_loss",),
    value=_combo_value,
    grad=_combo_grad,
    vjp=True,
    hess=_combo_hess,
    prepare=_make_combo_prepare("focal"),
    options={**_COMBO_OPTIONS, "activation": "sigmoid", "lambda_focal": 1.0, "gamma": 2.0, "alpha": None},
    stays_on_torch=lambda opts: True,  # (its NumPy kernels measured 1.05-1.23x the torch ones at 2500-8000 elements)
    structure="overlap",
    task="segmentation",
    inputs="y_true: masks in [0, 1] or integer class ids; y_pred: logits, classes on class_axis",
    summary="Dice loss plus the sigmoid focal loss on logits (MONAI's DiceFocalLoss).",
    reduced_axes=summed_axes,
    coupled_axes=softmax_class_axis,
    implicit_weight=implicit_sample_weight,
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

LOSSES = (DICE_CROSS_ENTROPY, DICE_FOCAL)
