"""Direction losses between real vectors along an axis: cosine similarity and cosine distance."""

from __future__ import annotations

from .._array.lean import torch_untracked_pair
from .._array.validate import check_choice, check_number
from ..spec import Boosting, Loss, Refusal
from ._common import checked_axis, float_pair, nonempty_axis

# -- cosine similarity -----------------------------------------------------------------------------
_COSINE_FORMS = ("negative", "similarity", "distance")


# Every selection below is per row (a vector's norm floored or not), applied as a row-sized
# ``where`` or factor: a full-size ``where`` is a scalar loop on torch's CPU (~10x a pass).
def _scaled(xp, x, axis, eps):
    """``(u, ss, den, ok, norm)`` of a vector along ``axis``: ``u = x / 2^k`` (``2^k <= max|x| <
    2^(k+1)``), ``ss = sum u^2``, ``ok = |x| >= eps``, ``norm = max(|x|, eps)`` and ``den`` with
    ``x^ = u / den = x / norm`` (``sqrt(ss)``, or ``eps / 2^k`` below the floor: ``x / eps``, a
    linear map, so its derivatives are exact). The norm is computed on ``u``, so huge or tiny
    entries neither overflow nor underflow in the squares."""
    s = xp.max(xp.abs(x), axis=axis, keepdims=True)
    # scale by the power of two 2^floor(log2 max|x|): exact, and constant for autodiff (floor's
    # derivative is 0), so no derivative flows through the max and none overflows for tiny x
    s_safe = 2.0 ** xp.floor(xp.log2(xp.where(s > 0, s, xp.ones_like(s))))
    u = x / s_safe
    ss = xp.sum(u * u, axis=axis, keepdims=True)
    pos = ss > 0
    nu = xp.sqrt(xp.where(pos, ss, xp.ones_like(ss)))  # sqrt never sees 0 (its derivative is inf there)
    ok = pos & (s_safe * nu >= eps)
    # (s_safe kept above eps * 2 / max: eps / s_safe never overflows, for subnormal vectors too)
    den = xp.where(ok, nu, eps / xp.maximum(s_safe, eps * (2.0 / xp.finfo(x.dtype).max)))
    return u, ss, den, ok, xp.where(ok, s_safe * nu, eps * xp.ones_like(nu))


def _cosine(xp, st, sp, axis):
    """``cos`` per row (axis kept) from :func:`_scaled`'s parts: ``<u_t, u_p> / sqrt(ss_t ss_p)``
    where neither norm is floored (one rounding fewer than ``<t^, p^>``: parallel vectors give
    exactly 1), else ``<u_t, u_p> / (den_t den_p) = <t^, p^>``."""
    (ut, sst, dent, okt, _), (up, ssp, denp, okp, _) = st, sp
    both = okt & okp
    dot = xp.sum(ut * up, axis=axis, keepdims=True)
    return xp.where(both, dot / xp.sqrt(xp.where(both, sst * ssp, xp.ones_like(sst))), (dot / dent) / denp)


def _cos_prepare(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    axis = nonempty_axis(y_pred, opts["axis"])
    form = check_choice(opts["form"], _COSINE_FORMS, name="form")
    eps = check_number(opts["epsilon"], name="epsilon", lo=0.0, lo_open=True)
    return y_true, y_pred, {"axis": axis, "form": form, "epsilon": eps}


def _parts(xp, y_true, y_pred, axis, epsilon):
    """``(st, sp, t^, p^)``: both vectors' :func:`_scaled` parts and unit forms ``x^ = u / den``."""
    st, sp = _scaled(xp, y_true, axis, epsilon), _scaled(xp, y_pred, axis, epsilon)
    return st, sp, st[0] / st[2], sp[0] / sp[2]


def _cos_value_from(xp, parts, axis, form):
    st, sp, t_hat, p_hat = parts
    if form == "distance":
        # 1 - cos = |t^ - p^|^2 / 2 for unit vectors: no cancellation when they nearly align.
        # A floored (short) vector is not unit: add back its 1 - |x^|^2 = 1 - ss / den^2.
        def deficit(scaled):
            _, ss, den, ok, _ = scaled
            return xp.where(ok, xp.zeros_like(ss), 1.0 - (ss / den) / den)

        d = t_hat - p_hat
        total = xp.sum(d * d, axis=axis, keepdims=True) + deficit(st) + deficit(sp)
        return 0.5 * xp.squeeze(total, axis=axis)
    c = xp.squeeze(_cosine(xp, st, sp, axis), axis=axis)
    return -c if form == "negative" else c


def _cos_grad_from(xp, parts, axis, form, hess):
    """``(d l / dp, its Hessian diagonal or None)`` for ``form``'s sign, from ``d cos / dp =
    (t^ - cos p^) / n`` (below the floor ``t^ / eps``, the clamp's linear map: ``cos`` held 0
    there, Hessian 0)."""
    st, sp, t_hat, p_hat = parts
    c, n_p, p_ok = _cosine(xp, st, sp, axis), sp[4], sp[3]
    cp = xp.where(p_ok, c, xp.zeros_like(c)) * p_hat
    # the sign folded into the difference (b - a = -(a - b) exactly): no pass to negate
    g = ((t_hat - cp) if form == "similarity" else (cp - t_hat)) / n_p
    if not hess:
        return g, None
    # -2 p^ (d cos/dp) / n - cos (1 - p^2) / n^2, in the form's sign (g carries it already)
    first, second = -2.0 * g * p_hat / n_p, (c * (1.0 - p_hat * p_hat) / n_p) / n_p
    h = first - second if form == "similarity" else first + second
    return g, h * xp.astype(p_ok, h.dtype)


def _cos_value(xp, y_true, y_pred, *, axis, form, epsilon):
    return _cos_value_from(xp, _parts(xp, y_true, y_pred, axis, epsilon), axis, form)


def _cos_grad(xp, y_true, y_pred, *, axis, form, epsilon):
    return _cos_grad_from(xp, _parts(xp, y_true, y_pred, axis, epsilon), axis, form, hess=False)[0]


def _cos_hess(xp, y_true, y_pred, *, axis, form, epsilon):
    return _cos_grad_from(xp, _parts(xp, y_true, y_pred, axis, epsilon), axis, form, hess=True)[1]


def _cos_value_grad(xp, y_true, y_pred, *, axis, form, epsilon):
    """``(_cos_value, _cos_grad)`` from one set of norms and unit vectors (the same bits), on an
    untracked torch pair: the closed-form forward then holds the gradient; None otherwise."""
    if torch_untracked_pair(y_true, y_pred) is None:
        return None
    parts = _parts(xp, y_true, y_pred, axis, epsilon)
    return _cos_value_from(xp, parts, axis, form), _cos_grad_from(xp, parts, axis, form, hess=False)[0]


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
    value_grad=_cos_value_grad,
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
    value_grad=_cos_value_grad,
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
