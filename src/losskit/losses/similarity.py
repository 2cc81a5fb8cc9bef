"""Direction losses between real vectors along an axis: cosine similarity and cosine distance."""

from __future__ import annotations

from .._array.validate import check_choice, check_number
from ..spec import Boosting, Loss, Refusal
from ._common import checked_axis, float_pair, nonempty_axis

# -- cosine similarity -----------------------------------------------------------------------------
_COSINE_FORMS = ("negative", "similarity", "distance")


def _unit(xp, x, axis, eps):
    """``(x^, u, ss, ok, norm)``: ``x^ = x / max(|x|, eps)``, ``u = x / 2^k`` (``2^k <= max|x| <
    2^(k+1)``), ``ss = sum u^2``,
    ``ok = |x| >= eps`` and ``norm = max(|x|, eps)``. The norm is computed on ``u``, so huge or
    tiny entries neither overflow nor underflow in the squares; ``x / eps`` below the floor
    (a linear map, so its derivatives are exact)."""
    one = xp.ones_like(x)
    s = xp.max(xp.abs(x), axis=axis, keepdims=True)
    # scale by the power of two 2^floor(log2 max|x|): exact, and constant for autodiff (floor's
    # derivative is 0), so no derivative flows through the max and none overflows for tiny x
    s_safe = 2.0 ** xp.floor(xp.log2(xp.where(s > 0, s, xp.ones_like(s))))
    u = x / s_safe
    ss = xp.sum(u * u, axis=axis, keepdims=True)
    pos = ss > 0
    nu = xp.sqrt(xp.where(pos, ss, xp.ones_like(ss)))  # sqrt never sees 0 (its derivative is inf there)
    ok = pos & (s_safe * nu >= eps)
    nu_ok = xp.where(ok, nu, xp.ones_like(nu))
    unit = xp.where(ok, u / nu_ok, x / eps)
    norm = xp.where(ok, s_safe * nu_ok, eps * xp.ones_like(nu))
    return unit, xp.where(ok, u, 0.0 * one), xp.where(ok, ss, xp.ones_like(ss)), ok, norm


def _unit_vectors(xp, y_true, y_pred, axis, eps):
    """(t^, p^, cos, max(|p|, eps), t_ok, p_ok). When neither norm is floored,
    ``cos = <u_t, u_p> / sqrt(ss_t ss_p)`` (one rounding fewer than <t^, p^>: parallel vectors
    give exactly 1)."""
    t_hat, ut, sst, okt, _ = _unit(xp, y_true, axis, eps)
    p_hat, up, ssp, okp, n_p = _unit(xp, y_pred, axis, eps)
    both = okt & okp
    c_scaled = xp.sum(ut * up, axis=axis, keepdims=True) / xp.sqrt(sst * ssp)
    c_plain = xp.sum(t_hat * p_hat, axis=axis, keepdims=True)
    return t_hat, p_hat, xp.where(both, c_scaled, c_plain), n_p, okt, okp


def _cos_prepare(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    axis = nonempty_axis(y_pred, opts["axis"])
    form = check_choice(opts["form"], _COSINE_FORMS, name="form")
    eps = check_number(opts["epsilon"], name="epsilon", lo=0.0, lo_open=True)
    return y_true, y_pred, {"axis": axis, "form": form, "epsilon": eps}


def _cos_value(xp, y_true, y_pred, *, axis, form, epsilon):
    t_hat, p_hat, c, _, t_ok, p_ok = _unit_vectors(xp, y_true, y_pred, axis, epsilon)
    if form == "distance":
        # 1 - cos = |t^ - p^|^2 / 2 for unit vectors: no cancellation when they nearly align.
        # A clamped (short) vector is not unit: add back its 1 - |x^|^2.
        def deficit(x_hat, ok):
            sq = xp.sum(x_hat * x_hat, axis=axis, keepdims=True)
            return xp.where(ok, 0.0 * sq, 1.0 - sq)

        d = t_hat - p_hat
        total = xp.sum(d * d, axis=axis, keepdims=True) + deficit(t_hat, t_ok) + deficit(p_hat, p_ok)
        return 0.5 * xp.squeeze(total, axis=axis)
    c = xp.squeeze(c, axis=axis)
    return -c if form == "negative" else c


def _cos_parts(xp, y_true, y_pred, axis, epsilon):
    t_hat, p_hat, c, n_p, _, p_ok = _unit_vectors(xp, y_true, y_pred, axis, epsilon)
    g = xp.where(p_ok, (t_hat - c * p_hat) / n_p, t_hat / epsilon)  # d cos / d p
    h = xp.where(p_ok, -2.0 * g * p_hat / n_p - (c * (1.0 - p_hat * p_hat) / n_p) / n_p, 0.0 * g)
    return g, h


def _cos_grad(xp, y_true, y_pred, *, axis, form, epsilon):
    g, _ = _cos_parts(xp, y_true, y_pred, axis, epsilon)
    return g if form == "similarity" else -g


def _cos_hess(xp, y_true, y_pred, *, axis, form, epsilon):
    _, h = _cos_parts(xp, y_true, y_pred, axis, epsilon)
    return h if form == "similarity" else -h


_COS_DOC_COMMON = """
    Per sample (over ``axis``): ``cos = <t, p> / (max(|t|, eps) max(|p|, eps))``. A zero
    (or shorter than ``eps``) vector has cosine 0 with everything, never NaN: its
    normalised form is ``x / eps``, so for ``|p| < eps`` the gradient is ``t^ / eps``
    (large but finite) and the Hessian 0, as autodiff of the clamp gives.

    With ``t^ = t / max(|t|, eps)``, ``p^ = p / |p|``, ``n = |p| >= eps``:
    ``d cos / dp = (t^ - cos p^) / n``; Hessian diagonal
    ``d2 cos / dp_j2 = -2 p^_j (t^_j - cos p^_j) / n^2 - cos (1 - p^_j^2) / n^2``.
    Norms are computed on ``x / max|x|``, so huge or tiny entries neither overflow nor
    underflow.

    ``form`` picks the sign convention (the value and its derivatives follow it):

    - ``"negative"``: ``-cos`` in ``[-1, 1]``, minimised when the vectors align: Keras's
      ``CosineSimilarity`` / ``keras.losses.cosine_similarity``.
    - ``"similarity"``: ``+cos``: optax's ``cosine_similarity`` and PyTorch's
      ``F.cosine_similarity`` (a similarity, not a loss).
    - ``"distance"``: ``1 - cos`` in ``[0, 2]``: optax's ``cosine_distance``, PyTorch's
      ``CosineEmbeddingLoss`` for target ``+1``, scipy's ``cosine``. Computed as
      ``|t^ - p^|^2 / 2``, accurate when the vectors nearly align.

    ``epsilon`` floors each norm: Keras uses ``1e-7`` (``epsilon=1e-7``), PyTorch ``1e-8``
    (the default here); optax floors the SQUARED norm at its ``epsilon`` (default 0, NaN for
    zero vectors): ``epsilon=sqrt(optax_epsilon)``, or the default for optax's 0 on nonzero
    vectors. Keras reduces with ``reduction="sum_over_batch_size"``; optax does not reduce
    (``reduction="none"``); arguments are ``(y_true, y_pred)`` here, ``(predictions,
    targets)`` in optax (the value is symmetric; the derivative is w.r.t. ``y_pred``).

    Reference: https://en.wikipedia.org/wiki/Cosine_similarity
"""

COSINE_SIMILARITY = Loss(
    name="cosine_similarity",
    input_kind="score",
    boosting=Boosting(refused=Refusal("target_vector")),
    aliases=("cosine_proximity",),
    value=_cos_value,
    grad=_cos_grad,
    hess=_cos_hess,
    prepare=_cos_prepare,
    options={"form": "negative", "epsilon": 1e-8, "axis": -1},
    structure="distribution",
    reduced_axes=checked_axis,
    task="embedding / direction matching",
    inputs="y_true, y_pred: real vectors along axis",
    summary="Cosine similarity loss: -cos(y_true, y_pred) by default (Keras's sign), or +cos, or 1 - cos.",
    doc="""Cosine similarity as a loss; by default the NEGATIVE cosine (Keras's convention), so
    minimising it aligns ``y_pred`` with ``y_true``.
""" + _COS_DOC_COMMON + """
    Options: ``form="negative"``, ``epsilon=1e-8``, ``axis=-1``. See also
    :func:`cosine_distance` (``form="distance"`` by default).

    >>> import numpy as np, losskit as lk
    >>> y, p = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 0.0], [2.0, 2.0], [1.0, 2.0]])
    >>> lk.cosine_similarity(y, p, reduction="none").tolist()   # a zero vector gives 0, not nan
    [-0.0, -1.0, -0.0]
    """,
)


def _cosd_prepare(xp, y_true, y_pred, opts, validate):
    return _cos_prepare(xp, y_true, y_pred, {**opts, "form": "distance"}, validate)


COSINE_DISTANCE = Loss(
    name="cosine_distance",
    input_kind="score",
    boosting=Boosting(refused=Refusal("target_vector")),
    aliases=(),
    value=_cos_value,
    grad=_cos_grad,
    hess=_cos_hess,
    prepare=_cosd_prepare,
    options={"epsilon": 1e-8, "axis": -1},
    structure="distribution",
    reduced_axes=checked_axis,
    task="embedding / direction matching",
    inputs="y_true, y_pred: real vectors along axis",
    summary="Cosine distance 1 - cos(y_true, y_pred), in [0, 2].",
    doc="""Cosine distance ``1 - cos(y_true, y_pred)``: :func:`cosine_similarity` with
    ``form="distance"``.
""" + _COS_DOC_COMMON + """
    Options: ``epsilon=1e-8``, ``axis=-1``.

    >>> import numpy as np, losskit as lk
    >>> lk.cosine_distance(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 3.0], [-2.0, 0.0]]), reduction="none").tolist()
    [1.0, 2.0]
    """,
)

LOSSES = (
    COSINE_SIMILARITY,
    COSINE_DISTANCE,
)
