"""Every case of ../shared/peer_cases.json (copied to tests/data/) through losskit's options.

Each case comes from a peer's own test suite (Keras, MONAI, optax, scikit-learn) with the
peer's options, inputs, expected value and tolerance. The adapters below are the written-down
option mapping from each peer's conventions to losskit's; README's "coming from" table
summarises them.
"""

import json
import pathlib

import numpy as np
import pytest

import losskit as lk

CASES = json.loads((pathlib.Path(__file__).parent / "data" / "peer_cases.json").read_text())


def _arr(x, dtype):
    a = np.asarray(x)
    return a.astype(dtype) if a.dtype.kind in "fiub" and dtype else a


# --- Keras ------------------------------------------------------------------------------
# Keras computes in float32, reduces the last axis of elementwise losses to a per-sample
# mean, and by default divides weighted sums by the number of per-sample values
# ("sum_over_batch_size"); "mean_with_sample_weight" divides by the weights (losskit's "mean").
_KERAS_REDUCTION = {None: "none", "sum": "sum", "sum_over_batch_size": "sum_over_batch_size",
                    "mean_with_sample_weight": "mean"}


def keras(name, *, elementwise, rename=None, labels=None, **fixed):
    def run(case):
        opts = dict(case["options"])
        reduction = opts.pop("reduction", "sum_over_batch_size")
        for old, new in (rename or {}).items():
            if old in opts:
                opts[new] = opts.pop(old)
        opts.update(fixed)
        y_pred = _arr(case["y_pred"], np.float32)
        y_true = _arr(case["y_true"], labels or np.float32)
        sw = case["sample_weight"]
        if sw is not None and not np.isscalar(sw):
            sw = np.asarray(sw, dtype=np.float32)
            if elementwise and sw.ndim == y_pred.ndim - 1 and sw.ndim > 1:
                sw = sw[..., None]  # a per-timestep weight covers the averaged last axis
            if not elementwise and sw.ndim == y_pred.ndim and sw.shape[-1] == 1:
                sw = sw[..., 0]  # Keras squeezes (N, 1) weights onto (N,) per-sample losses
        loss = lk.get(name, **opts)
        if not elementwise:
            return loss(y_true, y_pred, sample_weight=sw, reduction=_KERAS_REDUCTION[reduction])
        if reduction is None:  # per-sample values: the weighted mean over the last axis
            return np.mean(loss(y_true, y_pred, sample_weight=sw, reduction="none"), axis=-1)
        if reduction == "sum":  # Keras sums per-sample means: the elementwise sum / last-axis size
            return loss(y_true, y_pred, sample_weight=sw, reduction="sum") / y_pred.shape[-1]
        return loss(y_true, y_pred, sample_weight=sw, reduction=_KERAS_REDUCTION[reduction])

    return run


# --- optax --------------------------------------------------------------------------------
# optax functions take (predictions, targets) and do not reduce: losskit's reduction="none".
def optax(name, *, post=None, labels=None, rename=None, **fixed):
    def run(case):
        opts = dict(case["options"])
        post_reduction = opts.pop("post_reduction", None)
        for old, new in (rename or {}).items():
            if old in opts:
                opts[new] = opts.pop(old)
        opts.update(fixed)
        y_true = None if case["y_true"] is None else _arr(case["y_true"], labels or np.float64)
        y_pred = _arr(case["y_pred"], np.float64)
        if y_true is None:  # optax: targets=None means zeros
            y_true = np.zeros_like(y_pred)
        out = lk.get(name, **opts)(y_true, y_pred, reduction="none")
        out = post(out) if post else out
        return np.mean(out) if post_reduction == "mean" else out

    return run


# --- scikit-learn ---------------------------------------------------------------------------
def sklearn_hinge(case):
    """sklearn.metrics.hinge_loss: two labels map to -1/+1 (smaller -> -1); more labels are
    Crammer-Singer over decision columns in sorted label order; the mean."""
    y, s = np.asarray(case["y_true"]), np.asarray(case["y_pred"], dtype=np.float64)
    if s.ndim == 1:
        return lk.hinge(np.where(y == y.max(), 1, -1), s)
    return lk.categorical_hinge(np.searchsorted(np.unique(y), y), s)


def sklearn_log_loss(case):
    """sklearn.metrics.log_loss: y_true holds labels whose sorted order (or ``labels=``) names
    the columns; the mean (``normalize=False``: the sum)."""
    opts = case["options"]
    y = np.asarray(case["y_true"])
    classes = np.asarray(opts.get("labels", np.unique(y)))
    reduction = "sum" if opts.get("normalize") is False else "mean"
    return lk.sparse_categorical_cross_entropy(
        np.searchsorted(classes, y), np.asarray(case["y_pred"], dtype=np.float64),
        renormalize=bool(opts.get("renormalize_rows", False)), reduction=reduction,
    )


# --- MONAI ----------------------------------------------------------------------------------
# MONAI calls loss(input, target): input = y_pred (channel-first logits), target = y_true.
def _monai_onehot(case, x):
    opts = dict(case["options"])
    y = np.asarray(case["y_true"], dtype=np.float32)
    if opts.get("to_onehot_y", False):  # (B, 1, ...) class ids -> one-hot channels
        y = np.moveaxis(np.eye(x.shape[1], dtype=np.float32)[y[:, 0].astype(int)], -1, 1)
    return y


def monai_focal(case):
    """MONAI FocalLoss on logits; 'mean' averages over every element (B x C x spatial).
    Sigmoid mode is elementwise binary focal; softmax mode is categorical focal over the
    channel axis with alpha = (1 - a) for channel 0 and a for the others, and its per-element
    mean is losskit's per-pixel mean divided by the channel count."""
    opts = dict(case["options"])
    x = np.asarray(case["y_pred"], dtype=np.float32)
    y = _monai_onehot(case, x)
    gamma, alpha = opts.get("gamma", 2.0), opts.get("alpha")
    if not opts.get("include_background", True):
        x, y = x[:, 1:], y[:, 1:]
    if not opts.get("use_softmax", False):
        return lk.binary_focal_cross_entropy(y, x, from_logits=True, gamma=gamma, alpha=alpha)
    n_classes = x.shape[1]
    class_alpha = None if alpha is None else [1 - alpha] + [alpha] * (n_classes - 1)
    value = lk.categorical_focal_cross_entropy(y, x, from_logits=True, axis=1, gamma=gamma, alpha=class_alpha)
    return value / n_classes


_MONAI_LOSS = {"dice": "dice", "generalized_dice": "generalized_dice", "tversky": "tversky"}
_MONAI_PASSTHROUGH = ("include_background", "soft_label", "alpha", "beta", "w_type", "squared_pred")


def monai_overlap(case):
    """MONAI DiceLoss / GeneralizedDiceLoss / TverskyLoss: scores per (batch, channel) over the
    spatial axes (``batch=True`` also sums the batch): losskit's ``axis``; ``sigmoid`` /
    ``softmax`` / ``other_act=tanh``: ``activation``; ``to_onehot_y``: nothing (a (B, 1, ...)
    label map is recognised by its shape); ``jaccard=True``: losskit's jaccard with half the
    smoothing (MONAI doubles both sides of the ratio); smoothing defaults 1e-5."""
    opts = dict(case["options"])
    y_pred = np.asarray(case["y_pred"], dtype=np.float64)
    name = _MONAI_LOSS[case["loss"]]
    kw = {
        "axis": ((0,) if opts.pop("batch", False) else ()) + tuple(range(2, y_pred.ndim)),
        "smooth_nr": opts.pop("smooth_nr", 1e-5),
        "smooth_dr": opts.pop("smooth_dr", 1e-5),
        "reduction": opts.pop("reduction", "mean"),
    }
    for flag in ("sigmoid", "softmax"):
        if opts.pop(flag, False):
            kw["activation"] = flag
    if opts.pop("other_act", None) == "tanh":
        kw["activation"] = "tanh"
    opts.pop("to_onehot_y", None)
    if opts.pop("jaccard", False):
        name = "jaccard"
        kw["smooth_nr"] /= 2
        kw["smooth_dr"] /= 2
    kw.update({k: opts.pop(k) for k in _MONAI_PASSTHROUGH if k in opts})
    assert not opts, f"unmapped MONAI options {opts}"
    out = lk.get(name)(np.asarray(case["y_true"], dtype=np.float64), y_pred, **kw)
    if kw["reduction"] == "none":  # MONAI keeps size-1 axes in place of the summed ones
        out = np.reshape(out, np.shape(case["expected"]))
    return out


ADAPTERS = {
    ("keras", "binary_crossentropy"): keras("binary_cross_entropy", elementwise=True, epsilon=1e-7),
    ("keras", "mean_squared_error"): keras("mean_squared_error", elementwise=True),
    ("keras", "mean_absolute_error"): keras("mean_absolute_error", elementwise=True),
    ("keras", "mean_absolute_percentage_error"): keras(
        "mean_absolute_percentage_error", elementwise=True, epsilon=1e-7),
    ("keras", "mean_squared_logarithmic_error"): keras(
        "mean_squared_logarithmic_error", elementwise=True, epsilon=1e-7),
    ("keras", "huber"): keras("huber", elementwise=True),
    ("keras", "log_cosh"): keras("log_cosh", elementwise=True),
    ("keras", "poisson"): keras("poisson", elementwise=True, epsilon=1e-7),
    ("optax", "log_cosh"): optax("log_cosh"),
    ("keras", "kl_divergence"): keras(
        "kl_divergence", elementwise=False, normalized=False, epsilon=1e-7, clip_target=True),
    ("keras", "cosine_similarity"): keras("cosine_similarity", elementwise=False, epsilon=1e-7),
    ("optax", "kl_divergence_optax"): optax("kl_divergence", from_logits=True, normalized=False),
    ("optax", "kl_divergence_with_log_targets"): optax(
        "kl_divergence", from_logits=True, log_target=True, normalized=False),
    ("optax", "cosine_distance"): optax("cosine_distance"),
    ("optax", "cosine_similarity_optax"): optax("cosine_similarity", form="similarity"),
    ("keras", "hinge"): keras("hinge", elementwise=True),
    ("keras", "squared_hinge"): keras("squared_hinge", elementwise=True),
    ("keras", "categorical_hinge"): keras("categorical_hinge", elementwise=False, convention="keras"),
    ("keras", "categorical_crossentropy"): keras(
        "categorical_cross_entropy", elementwise=False, renormalize=True, epsilon=1e-7),
    ("keras", "sparse_categorical_crossentropy"): keras(
        "sparse_categorical_cross_entropy", elementwise=False, labels=np.int64,
        rename={"ignore_class": "ignore_index"}, renormalize=True, epsilon=1e-7),
    ("keras", "categorical_focal_crossentropy"): keras(
        "categorical_focal_cross_entropy", elementwise=False, renormalize=True, epsilon=1e-7),
    ("keras", "categorical_generalized_cross_entropy"): keras(
        "generalized_cross_entropy", elementwise=False, labels=np.int64),
    ("optax", "poly_loss_cross_entropy"): optax("poly1_cross_entropy"),
    ("keras", "binary_focal_crossentropy"): keras("binary_focal_cross_entropy", elementwise=True, epsilon=1e-7),
    ("optax", "sigmoid_focal_loss"): optax("binary_focal_cross_entropy", from_logits=True),
    ("monai", "focal"): monai_focal,
    ("monai", "dice"): monai_overlap,
    ("monai", "generalized_dice"): monai_overlap,
    ("monai", "tversky"): monai_overlap,
    # Keras Dice/Tversky: no numerator smoothing, 1e-7 in the denominator, one global score;
    # Keras accepts targets outside [0, 1] (its test feeds 2s), which losskit validates.
    ("keras", "dice"): keras("dice", elementwise=False, smooth_nr=0.0, smooth_dr=1e-7, validate=False),
    ("keras", "tversky"): keras("tversky", elementwise=False, smooth_nr=0.0, smooth_dr=1e-7, validate=False),
    ("sklearn", "log_loss"): sklearn_log_loss,
    ("optax", "sigmoid_binary_cross_entropy"): optax("binary_cross_entropy", from_logits=True),
    ("optax", "multiclass_hinge"): optax("categorical_hinge", labels=np.int64),
    ("optax", "perceptron"): optax("perceptron"),
    ("sklearn", "hinge_sklearn"): sklearn_hinge,
}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_peer_case(case):
    adapter = ADAPTERS.get((case["library"], case["loss"]))
    if adapter is None:
        pytest.fail(f"no losskit mapping for {case['library']} {case['loss']}")
    got = np.asarray(adapter(case), dtype=np.float64)
    expected = np.asarray(case["expected"], dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=case["rtol"], atol=case["atol"])
