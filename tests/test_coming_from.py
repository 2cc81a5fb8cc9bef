"""README's "Coming from ..." rows against the installed peers, on random shapes and options.

``tests/test_peers.py`` checks every row on fixed seeded inputs; this file draws shapes, options
and values at random (seeded loops, ``TRIALS`` draws per row) for the rows whose mapping depends
on them: the reductions and weights of MONAI's Dice and focal losses, MONAI's ``ignore_index``
on one-hot targets, PyTorch's BCE ``weight``, ``kl_div``'s gradient, ``cross_entropy``'s
options, Keras's ``mean_with_sample_weight``, and the conventions where peers differ on purpose
(floors, clips, epsilons, subgradients). Values and autodiff gradients (torch.autograd) are
compared with losskit's values and ``.grad``.
"""

from __future__ import annotations

import os
import warnings
from functools import partial

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
F = torch.nn.functional
TRIALS = 12
DICE = dict(smooth_nr=1e-5, smooth_dr=1e-5)


def t64(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def seg_shape(rng, min_c=2):
    """(B, C, spatial...) with one to three spatial axes."""
    spatial = tuple(rng.integers(1, 6, size=rng.integers(1, 4)))
    return (int(rng.integers(1, 4)), int(rng.integers(min_c, 5)), *map(int, spatial))


def spatial_axes(shape):
    return tuple(range(2, len(shape)))


def peer_value_and_grad(fn, x, *args):
    """The peer's value (summed) at ``x`` and its autograd gradient; ``fn(x, *args)``."""
    tx = t64(x, grad=True)
    value = fn(tx, *args).sum()
    value.backward()
    return float(value.detach()), tx.grad.numpy()


def _kl_div_of_logits(x, t):
    return F.kl_div(torch.log_softmax(x, -1), t, reduction="batchmean")


def _cosine_embedding(b, a):
    return torch.nn.CosineEmbeddingLoss()(a, b, torch.ones(len(a)))


def close(a, b, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def monai():
    m = pytest.importorskip("monai.losses")
    warnings.filterwarnings("ignore", module="monai")
    return m


# -- MONAI -----------------------------------------------------------------------------------
def test_monai_focal_weight_mean_is_sum_over_batch_size(monai):
    rng = np.random.default_rng(1)
    for _ in range(TRIALS):
        shape = seg_shape(rng)
        C = shape[1]
        x, y = rng.normal(size=shape) * 3, (rng.random(shape) > 0.5) * 1.0
        w, g = rng.uniform(0.1, 2.0, C), float(rng.choice([0.0, 0.5, 2.0, 3.0]))
        loss = monai.FocalLoss(use_softmax=False, gamma=g, weight=torch.tensor(w))
        v, gr = peer_value_and_grad(loss, x, t64(y))
        f = lk.get("binary_focal_cross_entropy", from_logits=True, gamma=g, reduction="sum_over_batch_size")
        sw = w.reshape(1, C, *[1] * (len(shape) - 2))
        close(float(f(y, x, sample_weight=sw)), v, rtol=2e-6)  # MONAI's focal loss computes in float32
        close(f.grad(y, x, sample_weight=sw), gr, rtol=2e-5, atol=1e-9)


def test_monai_dice_weight_without_background_divides_by_foreground_scores(monai):
    rng = np.random.default_rng(2)
    for _ in range(TRIALS):
        shape = seg_shape(rng, min_c=3)
        B, C = shape[:2]
        p, y = rng.random(shape), (rng.random(shape) > 0.5) * 1.0
        w = rng.uniform(0.1, 2.0, C - 1)
        loss = monai.DiceLoss(include_background=False, weight=torch.tensor(w))
        v, gr = peer_value_and_grad(loss, p, t64(y))
        f = lk.get("dice", axis=spatial_axes(shape), include_background=False, class_weight=w, reduction="sum", **DICE)
        close(float(f(y, p)) / (B * (C - 1)), v)
        close(f.grad(y, p) / (B * (C - 1)), gr)


def test_monai_dice_ignore_index_label_maps_and_one_hot(monai):
    rng = np.random.default_rng(3)
    for trial in range(TRIALS):
        shape = seg_shape(rng)
        B, C = shape[:2]
        labels = rng.integers(0, C, size=(B, 1, *shape[2:]))
        onehot = np.moveaxis(np.eye(C)[labels[:, 0]], -1, 1)
        onehot[(rng.random((B, *shape[2:])) < 0.2)[:, None].repeat(C, 1)] = 0  # some unlabelled pixels
        p = rng.random(shape)
        k = int(rng.integers(0, C)) if trial % 3 else int(rng.choice([-1, C + 1]))
        f = lk.get("dice", axis=spatial_axes(shape), **DICE)
        if 0 <= k < C:  # label maps: the same option (MONAI's to_onehot_y; no sentinel path there)
            loss = monai.DiceLoss(to_onehot_y=True, ignore_index=k)
            v, gr = peer_value_and_grad(loss, p, torch.tensor(labels))
            g = lk.get("dice", axis=spatial_axes(shape), ignore_index=k, **DICE)
            close(float(g(labels, p)), v)
            close(g.grad(labels, p), gr)
        # one-hot targets: MONAI masks pixels (class k, or the all-zero pixels for a sentinel k)
        m = 1 - onehot[:, k:k + 1] if 0 <= k < C else (onehot.sum(axis=1, keepdims=True) > 0) * 1.0
        loss = monai.DiceLoss(ignore_index=k)
        v, gr = peer_value_and_grad(loss, p, t64(onehot))
        close(float(f(onehot * m, p * m)), v)
        close(f.grad(onehot * m, p * m) * m, gr)


def test_monai_soft_label_subgradients_differ_only_at_ties(monai):
    rng = np.random.default_rng(4)
    for _ in range(TRIALS):
        shape = seg_shape(rng)
        y, p = rng.random(shape), rng.random(shape)
        tie = rng.random(shape) < 0.1
        p[tie] = y[tie]
        loss = monai.DiceLoss(soft_label=True)
        v, gr = peer_value_and_grad(loss, p, t64(y))
        f = lk.get("dice", axis=spatial_axes(shape), soft_label=True, **DICE)
        close(float(f(y, p)), v)
        ours = f.grad(y, p)
        close(ours[~tie], gr[~tie])


# -- PyTorch ---------------------------------------------------------------------------------
def test_torch_bce_weight_of_shape_c_is_elementwise():
    rng = np.random.default_rng(5)
    for trial in range(TRIALS):
        C = int(rng.integers(2, 6))
        N = C if trial % 2 else int(rng.integers(1, 7))  # N == C is where a 1-D weight is ambiguous
        p, y, W = rng.uniform(0.02, 0.98, (N, C)), rng.random((N, C)), rng.uniform(0.1, 2.0, C)
        red = str(rng.choice(["mean", "sum", "none"]))
        v, gr = peer_value_and_grad(partial(F.binary_cross_entropy, weight=t64(W), reduction=red), p, t64(y))
        lk_red = {"mean": "sum_over_batch_size", "sum": "sum", "none": "none"}[red]
        f = lk.get("bce", reduction=lk_red)
        close(np.sum(f(y, p, sample_weight=W[None, :])), v)
        close(f.grad(y, p, sample_weight=W[None, :]), gr)
        if N == C:  # the row's warning: a bare 1-D weight is one per row
            assert not np.isclose(float(lk.bce(y, p, sample_weight=W, reduction="sum")),
                                  float(lk.bce(y, p, sample_weight=W[None, :], reduction="sum")))


def test_torch_kl_div_gradients_are_in_log_probabilities_and_losskit_in_logits():
    rng = np.random.default_rng(6)
    for _ in range(TRIALS):
        N, C = int(rng.integers(1, 6)), int(rng.integers(2, 7))
        x, t = rng.normal(size=(N, C)) * 2, rng.dirichlet(np.ones(C), N)
        log_q = torch.log_softmax(t64(x), -1).detach().numpy()
        # PyTorch: the gradient w.r.t. its input, the log-probabilities, is -t / N
        v, g_logq = peer_value_and_grad(partial(F.kl_div, reduction="batchmean"), log_q, t64(t))
        close(g_logq, -t / N)
        f = lk.get("kl_divergence", from_logits=True)
        close(float(f(t, log_q)), v)
        q = np.exp(log_q)
        close(f.grad(t, log_q), (q - t) / N)  # losskit's: w.r.t. logits
        # the same thing through the softmax: torch's gradient w.r.t. logits x
        _, g_x = peer_value_and_grad(_kl_div_of_logits, x, t64(t))
        close(f.grad(t, x), g_x)


def test_torch_cross_entropy_options():
    rng = np.random.default_rng(7)
    for _ in range(TRIALS):
        shape = (int(rng.integers(1, 6)), int(rng.integers(2, 6)), *map(int, rng.integers(1, 4, rng.integers(0, 3))))
        C = shape[1]
        x = rng.normal(size=shape) * 3
        labels = rng.integers(0, C, size=(shape[0], *shape[2:]))
        opts = {}
        if rng.random() < 0.5:
            opts["weight"] = rng.uniform(0.1, 2.0, C)
        if rng.random() < 0.5:
            opts["ignore_index"] = int(rng.integers(0, C))
        if rng.random() < 0.5:
            opts["label_smoothing"] = float(rng.uniform(0, 0.5))
        red = str(rng.choice(["mean", "sum", "none"]))
        if "ignore_index" in opts and (labels == opts["ignore_index"]).all():
            continue  # PyTorch's mean is 0/0 = NaN there (README)
        tops = {k: t64(v) if k == "weight" else v for k, v in opts.items()}
        v, gr = peer_value_and_grad(partial(F.cross_entropy, reduction=red, **tops), x, torch.tensor(labels))
        f = lk.get("scce", from_logits=True, axis=1, reduction=red, class_weight=opts.get("weight"),
                   ignore_index=opts.get("ignore_index"), label_smoothing=opts.get("label_smoothing", 0.0))
        close(np.sum(f(labels, x)), v)
        close(f.grad(labels, x), gr)


def test_torch_bce_backward_floors_p_times_1_minus_p():
    rng = np.random.default_rng(8)
    p = np.concatenate([10.0 ** -rng.uniform(12.5, 15, 6), rng.uniform(0.1, 0.9, 6)])
    y = np.concatenate([np.ones(6), rng.random(6)])
    _, gr = peer_value_and_grad(lambda tp: F.binary_cross_entropy(tp, t64(y), reduction="sum"), p)
    # float32's 1e-12 is the floor PyTorch uses
    close(gr, (p - y) / np.maximum(p * (1 - p), float(np.float32(1e-12))), rtol=1e-6)
    close(lk.get("bce", reduction="sum").grad(y, p), (p - y) / (p * (1 - p)), rtol=1e-9)  # the exact derivative
    assert np.all(np.abs(gr[:6]) < 1.01e12) and np.all(np.abs(lk.get("bce", reduction="sum").grad(y, p)[:6]) > 3e12)


def test_torch_cosine_embedding_adds_1e_12_to_squared_norms():
    rng = np.random.default_rng(9)
    for scale in (1.0, 1e-7):
        a, b = rng.normal(size=(5, 4)) * scale, rng.normal(size=(5, 4)) * scale
        v, gr = peer_value_and_grad(_cosine_embedding, b, t64(a))
        eps = 1e-12
        by_formula = np.mean(1 - (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + eps) * ((b * b).sum(-1) + eps)))
        close(v, by_formula, rtol=1e-7)
        ours = float(lk.cosine_distance(a, b))
        if scale == 1.0:
            close(ours, v, rtol=1e-9)
            close(lk.get("cosine_distance").grad(a, b), gr, rtol=1e-6, atol=1e-12)
        else:  # norms ~1e-7: PyTorch's epsilon dominates, losskit's cosine does not change with scale
            assert abs(ours - v) > 0.1
            close(ours, float(lk.cosine_distance(a / scale, b / scale)), rtol=1e-9)
    # README's example: 1 - cos of [1e-7, 0] and [1e-7, 1e-7]
    a, b = np.array([[1e-7, 0.0]]), np.array([[1e-7, 1e-7]])
    assert round(float(_cosine_embedding(t64(b), t64(a))), 3) == 0.990
    assert round(float(lk.cosine_distance(b, a)), 3) == 0.293 == round(1 - 1 / np.sqrt(2), 3)


def test_probability_floors_against_nll_loss_rel_entr_and_sklearn():
    special = pytest.importorskip("scipy.special")
    skm = pytest.importorskip("sklearn.metrics")
    y, p = np.array([0]), np.array([[0.0, 1.0]])
    assert float(F.nll_loss(torch.log(t64(p)), torch.tensor(y))) == np.inf
    assert float(lk.scce(y, p)) == pytest.approx(100.0) and float(lk.scce(y, p.astype(np.float32))) == pytest.approx(40.0)
    assert special.rel_entr([1.0, 0.0], [0.0, 1.0]).sum() == np.inf
    assert float(lk.kl_divergence(np.array([[1.0, 0.0]]), p)) == pytest.approx(100.0)
    sk = skm.log_loss([1, 0], [0.0, 1.0])
    assert sk == pytest.approx(-np.log(np.finfo(np.float64).eps)) == pytest.approx(36.04, abs=5e-3)
    assert float(lk.bce(np.array([1.0, 0.0]), np.array([0.0, 1.0]))) == pytest.approx(100.0)
    assert float(lk.bce(np.array([1.0, 0.0]), np.array([0.0, 1.0]), epsilon=np.finfo(np.float64).eps)) == pytest.approx(sk)


# -- Keras ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("jax")
    return pytest.importorskip("keras")


def test_keras_mean_with_sample_weight_divides_by_the_weights_as_passed(keras):
    rng = np.random.default_rng(10)
    for _ in range(TRIALS):
        shape = tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(2, 4)))
        y, p = rng.random(shape).astype(np.float32), rng.random(shape).astype(np.float32)
        w = rng.uniform(0.1, 2.0, shape[:1] + (1,) * (len(shape) - 2)).astype(np.float32)
        k = float(keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")(y, p, sample_weight=w))
        ours = float(lk.mse(y, p, sample_weight=w[..., None], reduction="sum")) / shape[-1] / float(w.sum())
        close(ours, k, rtol=2e-6)
        if len(shape) == 2:
            close(float(lk.mse(y, p, sample_weight=w, reduction="mean")), k, rtol=2e-6)


def test_keras_focal_from_logits_clips_in_float32(keras):
    rng = np.random.default_rng(11)
    for _ in range(TRIALS):
        shape = tuple(int(n) for n in rng.integers(1, 5, size=2))
        x, y = (rng.normal(size=shape) * 3).astype(np.float32), (rng.random(shape) > 0.5).astype(np.float32)
        g = float(rng.choice([0.0, 1.0, 2.0]))
        k = float(keras.losses.BinaryFocalCrossentropy(from_logits=True, gamma=g)(y, x))
        ours = float(lk.binary_focal_cross_entropy(y, x, from_logits=True, gamma=g, reduction="sum_over_batch_size"))
        close(ours, k, rtol=3e-5)  # |x| small: the clip is inactive
    y, x = np.array([[0.0]], np.float32), np.array([[15.0]], np.float32)
    k = float(keras.losses.BinaryFocalCrossentropy(from_logits=True)(y, x))
    exact = float(lk.binary_focal_cross_entropy(y.astype(float), x.astype(float), from_logits=True))
    assert round(k, 2) == 14.84 and round(exact, 2) == 15.00
    # y = 0: q = 1 - p_t = sigmoid(15), loss = q^2 softplus(15)
    assert exact == pytest.approx((1 / (1 + np.exp(-15.0))) ** 2 * np.logaddexp(0, 15.0), rel=1e-12)
