"""Naive float64 references for the segmentation (overlap) family.

Written from the textbook formulas, independently of losskit's kernels: plain ``np.sum`` of
``y * p`` etc., one-hot through ``np.eye``, Lovasz by filtering the ignored pixels and looping
over samples and classes exactly as the reference implementation (Berman et al. 2018) does.
"""

import numpy as np

from .spec import Case, away_from

SHAPE = (2, 3, 2, 2)  # (B, C, H, W)


# -- inputs -----------------------------------------------------------------------------------
def _soft_probs(rng, shape=SHAPE):
    return rng.uniform(size=shape), rng.uniform(0.02, 0.98, size=shape)


def _hard_logits(rng, shape=SHAPE):
    return (rng.uniform(size=shape) > 0.5).astype(float), rng.normal(scale=2.0, size=shape)


def _ids_logits(rng, shape=SHAPE, class_axis=1):
    n = shape[class_axis]
    ids_shape = shape[:class_axis] + shape[class_axis + 1:] if class_axis >= 0 else shape[:-1]
    return rng.integers(0, n, size=ids_shape), rng.normal(scale=2.0, size=shape)


def _ids_logits_last(rng):
    return _ids_logits(rng, (2, 2, 2, 3), class_axis=-1)


def _onehot_logit_rows(rng):
    """One-hot rows (N x C, y_pred's dtype: the fused softmax Dice's layout) and logits with a
    confident correct row, a tied row and a confident wrong one."""
    ids = rng.integers(0, 4, size=8)
    x = rng.normal(scale=2.0, size=(8, 4))
    x[0, ids[0]] += 30.0
    x[1] = 0.0
    x[2, (ids[2] + 1) % 4] += 30.0
    return np.eye(4)[ids], x


def _ids1_ignore_logits(rng):
    ids = rng.integers(-1, 3, size=(2, 1, 2, 2))
    ids[0, 0, 0, 0] = 1
    ids[1, 0, 1, 1] = -1
    return ids, rng.normal(scale=2.0, size=SHAPE)


def _ids_absent_class(rng):
    """Class ids where class 2 is absent from image 0 (an empty class mask)."""
    ids = np.array([[[0, 1], [1, 0]], [[2, 1], [0, 2]]])
    return ids, rng.normal(scale=2.0, size=SHAPE)


def _soft_probs_away(rng):
    """Soft targets and probabilities at least 0.02 apart (soft_label has a kink at p == y)."""
    y, p = _soft_probs(rng)
    return y, np.where(np.abs(p - y) < 0.02, np.where(y > 0.5, y - 0.05, y + 0.05), p)


def _softmax_probs_ids(rng):
    ids, x = _ids_absent_class(rng)
    return ids, _softmax(x, 1)


def _binary_logits_hw(rng):
    y = (rng.uniform(size=(2, 3, 3)) > 0.5).astype(float)
    return y, away_from(rng.normal(scale=2.0, size=(2, 3, 3)), [-1.0, 1.0], 0.05)


def _binary_logits_ignore(rng):
    y = (rng.uniform(size=(2, 3, 3)) > 0.5).astype(np.int64)
    y[0, 0, :2] = 255
    y[1, 2, 2] = 255
    return y, away_from(rng.normal(scale=2.0, size=(2, 3, 3)), [-1.0, 1.0], 0.05)


# -- naive helpers ----------------------------------------------------------------------------
def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _act(p, activation, class_axis):
    if activation is None:
        return p
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-p))
    if activation == "tanh":
        return np.tanh(p)
    return _softmax(p, class_axis)


def _targets(y, shape, class_axis, ignore_index):
    """(one-hot / mask float array of ``shape``, valid mask of ``shape``)."""
    y = np.asarray(y)
    if y.shape == tuple(shape):
        valid = np.ones(shape) if ignore_index is None else (y != ignore_index).astype(float)
        return np.where(valid > 0, y, 0).astype(float), valid
    ca = class_axis % len(shape)
    if y.ndim == len(shape):
        y = np.squeeze(y, axis=ca)
    valid = np.ones(y.shape) if ignore_index is None else (y != ignore_index).astype(float)
    ids = np.where(valid > 0, y, 0)
    onehot = np.moveaxis(np.eye(shape[ca])[ids], -1, ca)
    valid = np.broadcast_to(np.expand_dims(valid, ca), shape)
    return onehot, valid


def _smooth(smooth, smooth_nr, smooth_dr):
    return (smooth if smooth_nr is None else smooth_nr), (smooth if smooth_dr is None else smooth_dr)


def _inputs(y, p, activation, class_axis, ignore_index, include_background, axis):
    q = _act(p, activation, class_axis)
    Y, M = _targets(y, p.shape, class_axis, ignore_index)
    M = M.copy()
    if not include_background:  # only used with the class axis summed
        ca = class_axis % p.ndim
        assert axis is None or ca in np.atleast_1d(axis)
        idx = [slice(None)] * p.ndim
        idx[ca] = 0
        M[tuple(idx)] = 0.0
    return Y, q, M


def _ratio(num, den):
    num, den = np.asarray(num, float), np.asarray(den, float)
    safe = np.where(den == 0, 1.0, den)
    return np.where(den == 0, 0.0, 1.0 - num / safe)


# -- references -------------------------------------------------------------------------------
def dice_ref(y, p, axis=None, smooth=1.0, smooth_nr=None, smooth_dr=None, activation=None, class_axis=1,
             include_background=True, ignore_index=None, soft_label=False, squared_pred=False):
    Y, q, M = _inputs(y, p, activation, class_axis, ignore_index, include_background, axis)
    nr, dr = _smooth(smooth, smooth_nr, smooth_dr)
    if squared_pred:
        inter = np.sum(Y * q * M, axis=axis)
        den = np.sum(Y * Y * M, axis=axis) + np.sum(q * q * M, axis=axis)
    elif soft_label:
        inter = np.sum(np.minimum(Y, q) * M, axis=axis)
        den = np.sum(Y * M, axis=axis) + np.sum(q * M, axis=axis)
    else:
        inter = np.sum(Y * q * M, axis=axis)
        den = np.sum(Y * M, axis=axis) + np.sum(q * M, axis=axis)
    return _ratio(2 * inter + nr, den + dr)


def jaccard_ref(y, p, axis=None, smooth=1.0, smooth_nr=None, smooth_dr=None, activation=None, class_axis=1,
                include_background=True, ignore_index=None, soft_label=False, squared_pred=False):
    Y, q, M = _inputs(y, p, activation, class_axis, ignore_index, include_background, axis)
    nr, dr = _smooth(smooth, smooth_nr, smooth_dr)
    inter = np.sum((np.minimum(Y, q) if soft_label else Y * q) * M, axis=axis)
    if squared_pred:
        union = np.sum(Y * Y * M, axis=axis) + np.sum(q * q * M, axis=axis) - inter
    else:
        union = np.sum(Y * M, axis=axis) + np.sum(q * M, axis=axis) - inter
    return _ratio(inter + nr, union + dr)


def tversky_ref(y, p, axis=None, alpha=0.5, beta=0.5, smooth=1.0, smooth_nr=None, smooth_dr=None, activation=None,
                class_axis=1, include_background=True, ignore_index=None, soft_label=False):
    Y, q, M = _inputs(y, p, activation, class_axis, ignore_index, include_background, axis)
    nr, dr = _smooth(smooth, smooth_nr, smooth_dr)
    if soft_label:
        tp = np.sum(np.minimum(Y, q) * M, axis=axis)
        fp = np.sum(np.maximum(q - Y, 0) * M, axis=axis)
        fn = np.sum(np.maximum(Y - q, 0) * M, axis=axis)
    else:
        tp = np.sum(Y * q * M, axis=axis)
        fp = np.sum(q * (1 - Y) * M, axis=axis)
        fn = np.sum((1 - q) * Y * M, axis=axis)
    return _ratio(tp + nr, tp + alpha * fp + beta * fn + dr)


def focal_tversky_ref(y, p, gamma=0.75, alpha=0.3, beta=0.7, **kw):
    t = tversky_ref(y, p, alpha=alpha, beta=beta, **kw)
    return np.maximum(t, 0.0) ** gamma


def generalized_dice_ref(y, p, axis=None, smooth=1e-5, smooth_nr=None, smooth_dr=None, activation=None,
                         class_axis=1, include_background=True, ignore_index=None, soft_label=False,
                         w_type="square"):
    ca = class_axis % p.ndim
    ax = tuple(a for a in (range(p.ndim) if axis is None else np.atleast_1d(axis) % p.ndim) if a != ca)
    Y, q, M = _inputs(y, p, activation, class_axis, ignore_index, True, None)
    if not include_background:
        Y, q, M = (np.delete(a, 0, axis=ca) for a in (Y, q, M))
    nr, dr = _smooth(smooth, smooth_nr, smooth_dr)
    tp = np.sum((np.minimum(Y, q) if soft_label else Y * q) * M, axis=ax)
    sy = np.sum(Y * M, axis=ax)
    sp = np.sum(q * M, axis=ax)
    # the class axis of the per-class sums
    cpos = ca - sum(1 for a in ax if a < ca)
    tp, sy, sp = (np.moveaxis(a, cpos, -1) for a in (tp, sy, sp))
    with np.errstate(divide="ignore"):
        w = {"square": 1.0 / sy ** 2, "simple": 1.0 / sy, "uniform": np.ones_like(sy)}[w_type]
    out = np.zeros(tp.shape[:-1])
    for idx in np.ndindex(out.shape):
        wi = w[idx].copy()
        inf = np.isinf(wi)
        wi[inf] = 0.0
        wi[inf] = wi.max()
        num = 2 * np.sum(wi * tp[idx]) + nr
        den = np.sum(wi * (sy[idx] + sp[idx])) + dr
        out[idx] = 0.0 if den == 0 else 1.0 - num / den
    return out


def _lovasz_grad(gt_sorted):
    gts = gt_sorted.sum()
    inter = gts - np.cumsum(gt_sorted)
    union = gts + np.cumsum(1.0 - gt_sorted)
    jac = 1.0 - inter / union
    jac[1:] = jac[1:] - jac[:-1]
    return jac


def _lovasz_hinge_flat(logits, labels):
    if labels.size == 0:
        return 0.0
    signs = 2.0 * labels - 1.0
    errors = 1.0 - logits * signs
    order = np.argsort(-errors, kind="stable")
    return float(np.dot(np.maximum(errors[order], 0.0), _lovasz_grad(labels[order])))


def lovasz_hinge_ref(y, p, axis=None, ignore_index=None):
    y = np.asarray(y)
    axes = tuple(range(p.ndim)) if axis is None else tuple(np.atleast_1d(axis) % p.ndim)
    kept = [a for a in range(p.ndim) if a not in axes]
    P = np.moveaxis(p, kept, list(range(len(kept))))
    Yv = np.moveaxis(y, kept, list(range(len(kept))))
    out = np.zeros(P.shape[:len(kept)])
    for idx in np.ndindex(out.shape):
        lab, log = Yv[idx].ravel(), P[idx].ravel()
        keep = np.ones(lab.shape, bool) if ignore_index is None else lab != ignore_index
        out[idx] = _lovasz_hinge_flat(log[keep], lab[keep].astype(float))
    return out


def lovasz_softmax_ref(y, p, axis=None, activation=None, class_axis=1, classes="present", ignore_index=None):
    ca = class_axis % p.ndim
    q = _act(p, activation, ca)
    y = np.asarray(y)
    if y.ndim == p.ndim:
        y = np.squeeze(y, axis=ca)
    q = np.moveaxis(q, ca, -1)  # (..., C); y: (...)
    axes = tuple(range(y.ndim)) if axis is None else tuple(
        a - (a > ca) for a in (np.atleast_1d(axis) % p.ndim) if a != ca)
    kept = [a for a in range(y.ndim) if a not in axes]
    Q = np.moveaxis(q, kept, list(range(len(kept))))
    Yv = np.moveaxis(y, kept, list(range(len(kept))))
    n = q.shape[-1]
    out = np.zeros(Q.shape[:len(kept)])
    for idx in np.ndindex(out.shape):
        lab = Yv[idx].ravel()
        prob = Q[idx].reshape(-1, n)
        if ignore_index is not None:
            keep = lab != ignore_index
            lab, prob = lab[keep], prob[keep]
        losses = []
        for c in range(n):
            fg = (lab == c).astype(float)
            if classes == "present" and fg.sum() == 0:
                continue
            errors = np.abs(fg - prob[:, c])
            order = np.argsort(-errors, kind="stable")
            losses.append(np.dot(errors[order], _lovasz_grad(fg[order])) if lab.size else 0.0)
        out[idx] = np.mean(losses) if losses else 0.0
    return out


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _per_sample_mean(term, mask, axis, like):
    """Sum of ``term * mask`` over ``axis`` divided by the count of ``mask`` (0 when empty),
    broadcast to the Dice scores' shape ``like``."""
    m = np.broadcast_to(mask, term.shape)
    num, cnt = np.sum(term * m, axis=axis), np.sum(m, axis=axis)
    mean = np.where(cnt > 0, num / np.where(cnt > 0, cnt, 1.0), 0.0)
    return np.broadcast_to(mean, np.shape(like))


def _dice_part(y, p, jaccard, **kw):
    return (jaccard_ref if jaccard else dice_ref)(y, p, **kw)


def dice_cross_entropy_ref(y, p, axis=None, smooth=1e-5, smooth_nr=None, smooth_dr=None, activation="softmax",
                           class_axis=1, include_background=True, ignore_index=None, soft_label=False,
                           squared_pred=False, jaccard=False, lambda_dice=1.0, lambda_ce=1.0, label_smoothing=0.0,
                           pos_weight=None):
    """lambda_dice * Dice + lambda_ce * the sample's mean cross-entropy (pixels for the softmax,
    entries for the sigmoid), ignored pixels/entries out of the mean."""
    kw = dict(axis=axis, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, activation=activation,
              class_axis=class_axis, include_background=include_background, ignore_index=ignore_index,
              soft_label=soft_label, squared_pred=squared_pred)
    d = _dice_part(y, p, jaccard, **kw)
    ls = label_smoothing
    if activation == "softmax":
        ca = class_axis % p.ndim
        Y, V = _targets(y, p.shape, class_axis, ignore_index)
        t = (1 - ls) * Y + ls / p.shape[ca]
        ce = -np.sum(t * np.log(_softmax(p, ca)), axis=ca, keepdims=True)  # one value per pixel
        mask = np.min(V, axis=ca, keepdims=True)  # a pixel counts when none of its entries is ignored
    else:
        Y, q, mask = _inputs(y, p, activation, class_axis, ignore_index, include_background, axis)
        t = (1 - ls) * Y + ls / 2
        pw = 1.0 if pos_weight is None else pos_weight
        ce = -(pw * t * np.log(q) + (1 - t) * np.log(1 - q))
    return lambda_dice * d + lambda_ce * _per_sample_mean(ce, mask, axis, d)


def dice_focal_ref(y, p, axis=None, smooth=1e-5, smooth_nr=None, smooth_dr=None, activation="sigmoid",
                   class_axis=1, include_background=True, ignore_index=None, soft_label=False, squared_pred=False,
                   jaccard=False, lambda_dice=1.0, lambda_focal=1.0, gamma=2.0, alpha=None):
    """lambda_dice * Dice + lambda_focal * the sample's mean sigmoid focal loss (Lin et al.)."""
    kw = dict(axis=axis, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, activation=activation,
              class_axis=class_axis, include_background=include_background, ignore_index=ignore_index,
              soft_label=soft_label, squared_pred=squared_pred)
    d = _dice_part(y, p, jaccard, **kw)
    Y, _, mask = _inputs(y, p, None, class_axis, ignore_index, include_background, axis)
    s = _sigmoid(p)
    pt = Y * s + (1 - Y) * (1 - s)
    at = 1.0 if alpha is None else alpha * Y + (1 - alpha) * (1 - Y)
    focal = at * (1 - pt) ** gamma * -(Y * np.log(s) + (1 - Y) * np.log(1 - s))
    return lambda_dice * d + lambda_focal * _per_sample_mean(focal, mask, axis, d)


# -- extremes ----------------------------------------------------------------------------------
def _prob_extremes():
    z, o = np.zeros(SHAPE), np.ones(SHAPE)
    half = np.zeros(SHAPE)
    half[:, :, 0] = 1.0
    return [(z, z), (o, o), (z, o), (o, z), (half, half), (half, 1.0 - half), (o, np.full(SHAPE, 1e-300))]


def _logit_extremes():
    z, o = np.zeros(SHAPE), np.ones(SHAPE)
    big = np.full(SHAPE, 1e4)
    mixed = np.where(np.indices(SHAPE).sum(axis=0) % 2 == 0, 1e4, -1e4)
    return [(z, -big), (o, big), (z, big), (o, -big), (o, mixed), ((mixed > 0) * 1.0, mixed), (z, np.zeros(SHAPE))]


def _ids_extremes():
    ids = np.zeros((2, 2, 2), dtype=np.int64)
    ids[1] = 2
    big = np.full(SHAPE, -1e4)
    right = big.copy()
    right[:, 0][ids == 0] = 1e4
    right[:, 2][ids == 2] = 1e4
    wrong = -right
    return [(ids, big), (ids, right), (ids, wrong), (ids, np.zeros(SHAPE))]


def _ids_last_extremes():
    return [(y, np.moveaxis(p, 1, -1)) for y, p in _ids_extremes()]


def _ids1_extremes():
    return [(np.expand_dims(y, 1), p) for y, p in _ids_extremes()] + [
        (np.full((2, 1, 2, 2), -1), np.full(SHAPE, 1e4))]


def _softmax_prob_extremes():
    ids = np.array([[[0, 1], [1, 0]], [[2, 2], [2, 2]]])
    onehot = np.moveaxis(np.eye(3)[ids], -1, 1)
    return [(ids, onehot), (ids, 1.0 - onehot), (ids, np.full(SHAPE, 1 / 3))]


def _hinge_extremes():
    z, o = np.zeros((2, 3, 3)), np.ones((2, 3, 3))
    big = np.full((2, 3, 3), 1e4)
    return [(z, -big), (o, big), (z, big), (o, -big), (z, np.zeros((2, 3, 3)))]


def _hinge_ignore_extremes():
    return _hinge_extremes() + [(np.full((2, 3, 3), 255), np.ones((2, 3, 3)))]


CASES = [
    # Dice: the course's global score, MONAI-style per (image, class) scores, softmax + class ids
    Case("dice", _soft_probs, dice_ref, name="course", extremes=_prob_extremes),
    Case("dice", _hard_logits, dice_ref, {"axis": (2, 3), "smooth": 1e-5, "activation": "sigmoid"},
         name="monai,sigmoid", extremes=_logit_extremes),
    Case("dice", _ids_logits, dice_ref, {"axis": (2, 3), "activation": "softmax"},
         name="softmax,ids", extremes=_ids_extremes),
    Case("dice", _ids1_ignore_logits, dice_ref,
         {"activation": "softmax", "include_background": False, "ignore_index": -1},
         name="global,softmax,no_background,ignore", extremes=_ids1_extremes),
    Case("dice", _soft_probs, dice_ref, {"axis": (0, 2, 3), "squared_pred": True}, name="batch,squared_pred",
         extremes=_prob_extremes),
    Case("dice", _soft_probs_away, dice_ref, {"axis": (2, 3), "soft_label": True, "smooth": 1e-4},
         name="soft_label", extremes=_prob_extremes),
    Case("dice", _hard_logits, dice_ref, {"axis": (2, 3), "smooth": 0.0, "activation": "sigmoid"},
         name="no_smoothing,sigmoid", extremes=_logit_extremes),
    Case("dice", _hard_logits, dice_ref, {"axis": (2, 3), "smooth": 1e-4, "activation": "tanh"}, name="tanh"),
    Case("dice", _ids_logits_last, dice_ref, {"axis": (1, 2), "activation": "softmax", "class_axis": -1},
         name="channels_last,softmax", extremes=_ids_last_extremes),
    Case("dice", _soft_probs, dice_ref, {"smooth_nr": 0.0, "smooth_dr": 1e-7}, name="keras"),
    Case("dice", _onehot_logit_rows, dice_ref, {"activation": "softmax"}, name="rows,softmax"),
    # Jaccard
    Case("jaccard", _soft_probs, jaccard_ref, name="course", extremes=_prob_extremes),
    Case("jaccard", _hard_logits, jaccard_ref, {"axis": (2, 3), "smooth": 1e-5, "activation": "sigmoid"},
         name="sigmoid", extremes=_logit_extremes),
    Case("jaccard", _ids_logits, jaccard_ref, {"activation": "softmax", "squared_pred": True},
         name="global,softmax,squared", extremes=_ids_extremes),
    # Tversky
    Case("tversky", _hard_logits, tversky_ref,
         {"axis": (2, 3), "alpha": 0.3, "beta": 0.7, "activation": "sigmoid", "smooth": 1e-5},
         name="sigmoid", extremes=_logit_extremes),
    Case("tversky", _soft_probs_away, tversky_ref, {"soft_label": True, "alpha": 0.2, "beta": 0.9},
         name="global,soft_label", extremes=_prob_extremes),
    Case("tversky", _ids_logits, tversky_ref, {"axis": (2, 3), "activation": "softmax", "smooth": 0.0, "alpha": 0.0},
         name="softmax,alpha0", extremes=_ids_extremes),
    # focal Tversky
    Case("focal_tversky", _soft_probs, focal_tversky_ref, {"axis": (2, 3)}, name="default",
         extremes=_prob_extremes),
    Case("focal_tversky", _ids_logits, focal_tversky_ref, {"activation": "softmax", "gamma": 2.0},
         name="global,softmax,gamma2", extremes=_ids_extremes),
    Case("focal_tversky", _hard_logits, focal_tversky_ref,
         {"axis": (2, 3), "activation": "sigmoid", "gamma": 1.5, "smooth": 0.0}, name="sigmoid,gamma1.5",
         extremes=_logit_extremes),
    # generalised Dice
    Case("generalized_dice", _ids_absent_class, generalized_dice_ref, {"axis": (2, 3), "activation": "softmax"},
         name="softmax,empty_class", extremes=_ids_extremes),
    Case("generalized_dice", _hard_logits, generalized_dice_ref, {"activation": "sigmoid", "w_type": "simple"},
         name="global,sigmoid,simple", extremes=_logit_extremes),
    Case("generalized_dice", _soft_probs, generalized_dice_ref,
         {"axis": (0, 2, 3), "w_type": "uniform", "include_background": False, "smooth": 1e-3},
         name="batch,uniform,no_background", extremes=_prob_extremes),
    # Lovasz
    Case("lovasz_hinge", _binary_logits_hw, lovasz_hinge_ref, {"axis": (1, 2)}, name="per_image",
         extremes=_hinge_extremes),
    Case("lovasz_hinge", _binary_logits_ignore, lovasz_hinge_ref, {"ignore_index": 255}, name="global,ignore",
         extremes=_hinge_ignore_extremes),
    Case("lovasz_softmax", _softmax_probs_ids, lovasz_softmax_ref, {"axis": (2, 3)}, name="per_image,present",
         extremes=_softmax_prob_extremes),
    Case("lovasz_softmax", _ids1_ignore_logits, lovasz_softmax_ref,
         {"activation": "softmax", "classes": "all", "ignore_index": -1}, name="global,softmax,all,ignore",
         extremes=_ids1_extremes),
]

# Softmax over a class axis that is not summed while per-class scores carry different weights
# (here: sample_weight per class when the batch is summed): the classes of a pixel are separate
# samples coupled by the softmax, so d(sum_s w_s l_s)/dx needs the per-sample cotangent inside
# the kernel (Loss.vjp): scaling d(sum_s l_s)/dx by the weight of x's own class would be wrong,
# and these cases' finite-difference and autograd checks would catch it.
COUPLED_CASES = [
    Case("dice", _ids_logits, dice_ref, {"axis": (0, 2, 3), "activation": "softmax"}, name="batch,softmax",
         extremes=_ids_extremes),
    Case("focal_tversky", _ids_logits, focal_tversky_ref, {"axis": (0, 2, 3), "activation": "softmax", "gamma": 1.5},
         name="batch,softmax"),
]

CASES += COUPLED_CASES


# Dice + cross-entropy / Dice + focal (MONAI's DiceCELoss / DiceFocalLoss): per-(image, class)
# scores, the batch summed (softmax-coupled per-class samples), global scores with ignored pixels
# and without the background, channels last, the sigmoid (BCE) pair and soft targets.
def _onehot_logits(rng):
    ids, x = _ids_logits(rng)
    return np.ascontiguousarray(np.moveaxis(np.eye(SHAPE[1])[ids], -1, 1)), x  # contiguous: tests write into it


def _onehot_extremes():
    return [(np.moveaxis(np.eye(SHAPE[1])[y], -1, 1), p) for y, p in _ids_extremes()]


COMBO_CASES = [
    Case("dice_cross_entropy", _ids_logits, dice_cross_entropy_ref, {"axis": (2, 3)}, name="monai,softmax,ids",
         extremes=_ids_extremes),
    Case("dice_cross_entropy", _onehot_logits, dice_cross_entropy_ref,
         {"axis": (0, 2, 3), "squared_pred": True, "label_smoothing": 0.1, "lambda_dice": 0.6, "lambda_ce": 1.4},
         name="batch,onehot,squared,smoothing", extremes=_onehot_extremes),
    Case("dice_cross_entropy", _ids1_ignore_logits, dice_cross_entropy_ref,
         {"include_background": False, "ignore_index": -1, "smooth": 1.0},
         name="global,no_background,ignore", extremes=_ids1_extremes),
    Case("dice_cross_entropy", _ids_logits_last, dice_cross_entropy_ref,
         {"axis": (1, 2), "class_axis": -1, "jaccard": True, "lambda_dice": 0.5},
         name="channels_last,jaccard", extremes=_ids_last_extremes),
    Case("dice_cross_entropy", _hard_logits, dice_cross_entropy_ref,
         {"axis": (2, 3), "activation": "sigmoid", "label_smoothing": 0.05, "pos_weight": 2.0, "smooth": 1e-4},
         name="sigmoid,bce", extremes=_logit_extremes),
    Case("dice_cross_entropy", _binary_logits_ignore, dice_cross_entropy_ref,
         {"axis": (1, 2), "activation": "sigmoid", "ignore_index": 255, "smooth": 0.0},
         name="sigmoid,ignore,no_smoothing", extremes=_hinge_ignore_extremes),
    Case("dice_focal", _hard_logits, dice_focal_ref, {"axis": (2, 3)}, name="monai,sigmoid",
         extremes=_logit_extremes),
    Case("dice_focal", _ids_logits, dice_focal_ref,
         {"axis": (0, 2, 3), "activation": "softmax", "gamma": 0.5, "alpha": 0.25},
         name="batch,softmax,gamma0.5,alpha", extremes=_ids_extremes),
    Case("dice_focal", _ids1_ignore_logits, dice_focal_ref,
         {"include_background": False, "ignore_index": -1, "gamma": 1.5, "lambda_focal": 2.0, "lambda_dice": 0.5},
         name="global,no_background,ignore", extremes=_ids1_extremes),
    Case("dice_focal", _soft_probs, dice_focal_ref, {"axis": (2, 3), "squared_pred": True, "smooth": 1e-3},
         name="soft_targets,squared", extremes=_prob_extremes),
]

CASES += COMBO_CASES
