"""The Dice, Jaccard, Tversky, focal Tversky and generalised Dice loss records: their options
and documentation over the one ratio implementation of :mod:`.ratio`.
"""

from __future__ import annotations

from ...spec import Boosting, Loss, Refusal
from .activation import softmax_activated
from .ratio import make_ratio_prepare, ratio_from_stats, ratio_grad, ratio_hess, ratio_stats, ratio_value
from .samples import implicit_sample_weight, softmax_class_axis, summed_axes, summed_axes_with_classes

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


_FUSED = ("dice", "jaccard", "tversky")  # the kinds with fused kernels (losskit.fused.overlap; Tversky's on probabilities)


def _fused_at_scale(y_pred, opts):
    """The fused overlap kernels beat the torch ones on large inputs of probabilities, and (Dice,
    Jaccard; Tversky's decline a softmax) through a softmax from 256 classes on (Dice, forward +
    backward at 2^20 elements, one thread: 3.9 against 4.1 ms at 256, level at 128, 6 against
    10.5 at 16: the lean torch form's short rows win)."""
    return opts.get("activation") != "softmax" or y_pred.shape[-1] >= 256


def _ratio_record(name, aliases, kind, options, summary, doc):
    return Loss(
        name=name,
        input_kind="probability",
        boosting=Boosting(refused=Refusal("coupled")),
        fused=kind if kind in _FUSED else None,
        fused_at_scale=_fused_at_scale if kind in _FUSED else False,
        stays_on_torch=softmax_activated,
        aliases=aliases,
        value=ratio_value,
        grad=ratio_grad,
        vjp=True,
        hess=ratio_hess,
        prepare=make_ratio_prepare(kind),
        options=options,
        structure="overlap",
        task="segmentation",
        inputs=("y_true: masks/probabilities in [0, 1] or integer class ids; "
                "y_pred: probabilities in [0, 1], or logits with activation='sigmoid'|'softmax'|'tanh'"),
        summary=summary,
        reduced_axes=summed_axes_with_classes if kind == "generalized_dice" else summed_axes,
        coupled_axes=softmax_class_axis,
        implicit_weight=implicit_sample_weight,
        doc=doc,
        stats=ratio_stats,
        from_stats=ratio_from_stats,
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

LOSSES = (DICE, JACCARD, TVERSKY, FOCAL_TVERSKY, GENERALIZED_DICE)
