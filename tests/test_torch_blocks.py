"""The block-by-block torch kernels (large untracked tensors: KL from logits and on probabilities,
BCE and focal from logits, softmax Dice) give the numbers of the NumPy path and the gradients of the native torch losses.

Small inputs never reach the blocks (they start above 2^19 elements): here the block size is
lowered so that these inputs take many blocks, with extremes placed inside them: zero targets,
logits of +-1e4, nearly equal distributions (the Bregman series), blocks of a few whole rows and a short last one.
"""

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
F = torch.nn.functional

N, C = 700, 500


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    from losskit._array import lean

    monkeypatch.setattr(lean, "_TORCH_BLOCK", 3 * C + 17)  # rows split unevenly, a short last block


def _rows(rng):
    x = rng.normal(scale=3.0, size=(N, C))
    x[3, :4] = [1e4, -1e4, 0.0, 40.0]
    t = np.exp(rng.normal(size=(N, C)))
    t[1::5, :50] = 0.0  # zero targets: 0 log 0
    t /= t.sum(1, keepdims=True)
    near = np.exp(x[::7] + 1e-4 * rng.normal(size=x[::7].shape))  # nearly equal rows
    t[::7] = near / near.sum(1, keepdims=True)
    return t, x


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kl_from_logits_blocks(dtype):
    t, x = _rows(np.random.default_rng(0))
    t, x = t.astype(dtype), x.astype(dtype)
    got = lk.kl_divergence(torch.tensor(t), torch.tensor(x), from_logits=True, reduction="none").numpy()
    want = lk.kl_divergence(t.astype(np.float64), x.astype(np.float64), from_logits=True, reduction="none")
    # nearly equal rows are ill-conditioned in the logits (relative condition ~ |x| / |t - q|, here
    # ~1e5): each path's rounding of the softmax moves them by ~1e3 ulp of the exact value (in
    # float32 their ~1e-8 values are rounding noise: an absolute tolerance there)
    tol = dict(rtol=1e-10, atol=1e-300) if dtype == "float64" else dict(rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(got, want, **tol)
    xt = torch.tensor(x, requires_grad=True)
    lk.kl_divergence(torch.tensor(t), xt, from_logits=True).backward()
    xn = torch.tensor(x, requires_grad=True)
    F.kl_div(F.log_softmax(xn, -1), torch.tensor(t), reduction="batchmean").backward()
    np.testing.assert_allclose(xt.grad.numpy(), xn.grad.numpy(), rtol=1e-5, atol=1e-6 / N)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kl_on_probabilities_blocks(dtype):
    """KL on probabilities (its Bregman terms and the sum of the differences block by block):
    the NumPy path's values on the same inputs, zero and tiny targets and nearly equal rows
    included; with validate=False, ratios past the floats (a tiny epsilon) and a negative target
    take the NumPy path's forms too; the gradient is native autograd's."""
    t, x = _rows(np.random.default_rng(1))
    q = np.exp(x - x.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    t[::7] = q[::7] * (1 + 1e-5 * np.random.default_rng(2).normal(size=q[::7].shape))  # the series
    t[::7] /= t[::7].sum(1, keepdims=True)
    t[2, :3] = [1e-30, 1e-200, 0.0]
    t[2] /= t[2].sum()
    t, q = t.astype(dtype), q.astype(dtype)
    got = lk.kl_divergence(torch.tensor(t), torch.tensor(q), reduction="none").numpy()
    want = lk.kl_divergence(t, q, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-12 if dtype == "float64" else 2e-6, atol=0)
    # unchecked: t / q beyond the floats (epsilon below 1 / max) and a negative target
    big = 1e300 if dtype == "float64" else 1e30
    tb, qb = t.copy(), q.copy()
    tb[4, 0], qb[4, 0], tb[5, 2] = big, np.finfo(dtype).tiny, -0.25
    eps = float(np.finfo(dtype).tiny)
    got = lk.kl_divergence(torch.tensor(tb), torch.tensor(qb), reduction="none", validate=False, epsilon=eps).numpy()
    want = lk.kl_divergence(tb, qb, reduction="none", validate=False, epsilon=eps)
    assert np.isfinite(want[4]) and np.isfinite(want[5])
    np.testing.assert_allclose(got, want, rtol=1e-12 if dtype == "float64" else 2e-6, atol=0)
    rows = (q > 1e-30).all(1)  # (a q of 0 is floored by losskit, -t/q = -inf natively)
    t, q = t[rows], q[rows]
    qt = torch.tensor(q, requires_grad=True)
    lk.kl_divergence(torch.tensor(t), qt).backward()
    qn = torch.tensor(q, requires_grad=True)
    F.kl_div(torch.log(qn), torch.tensor(t), reduction="batchmean").backward()
    np.testing.assert_allclose(qt.grad.numpy(), qn.grad.numpy(), rtol=1e-5, atol=0)


@pytest.mark.parametrize("pos_weight", [None, 2.5, "per_class"])
def test_bce_from_logits_blocks(pos_weight):
    rng = np.random.default_rng(1)
    x = rng.normal(scale=4.0, size=(N, C))
    x[0, :6] = [1e4, -1e4, 40.0, -40.0, 0.0, 700.0]
    y = rng.random((N, C))
    y[::2] = y[::2] > 0.5
    pw = rng.uniform(0.5, 3.0, size=C) if pos_weight == "per_class" else pos_weight
    got = lk.binary_cross_entropy(torch.tensor(y), torch.tensor(x), from_logits=True, pos_weight=pw,
                                  reduction="none").numpy()
    want = lk.binary_cross_entropy(y, x, from_logits=True, pos_weight=pw, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)
    xt = torch.tensor(x, requires_grad=True)
    lk.binary_cross_entropy(torch.tensor(y), xt, from_logits=True, pos_weight=pw, reduction="sum").backward()
    xn = torch.tensor(x, requires_grad=True)
    F.binary_cross_entropy_with_logits(xn, torch.tensor(y), reduction="sum",
                                       pos_weight=None if pw is None else torch.as_tensor(pw)).backward()
    # torch's sigmoid(x) - y cancels where |x| is large (0 for x = 40, y = 1; losskit keeps -4e-18)
    np.testing.assert_allclose(xt.grad.numpy(), xn.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, None), (2.0, 0.25), (3.5, 0.6)])
def test_focal_from_logits_blocks(gamma, alpha):
    """Value and ``.grad`` against the float64 NumPy path; the training gradient (value and
    gradient from one pass, held for the backward) against native autograd of the formula."""
    rng = np.random.default_rng(4)
    x = rng.normal(scale=4.0, size=(N, C))
    x[0, :6] = [1e4, -1e4, 40.0, -40.0, 0.0, 700.0]
    y = (rng.random((N, C)) > 0.5).astype(float)
    opts = dict(from_logits=True, gamma=gamma, alpha=alpha)
    got = lk.binary_focal_cross_entropy(torch.tensor(y), torch.tensor(x), reduction="none", **opts).numpy()
    want = lk.binary_focal_cross_entropy(y, x, reduction="none", **opts)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    g = lk.binary_focal_cross_entropy.grad(torch.tensor(y), torch.tensor(x), reduction="sum", **opts).numpy()
    np.testing.assert_allclose(g, lk.binary_focal_cross_entropy.grad(y, x, reduction="sum", **opts),
                               rtol=1e-10, atol=1e-300)
    xt = torch.tensor(x, requires_grad=True)
    value = lk.binary_focal_cross_entropy(torch.tensor(y), xt, reduction="sum", **opts)
    np.testing.assert_allclose(float(value.detach()), got.sum(), rtol=1e-12)
    value.backward()
    np.testing.assert_array_equal(xt.grad.numpy(), g)
    xn, yt = torch.tensor(x, requires_grad=True), torch.tensor(y)
    p = torch.sigmoid(xn)
    q = yt * (1 - p) + (1 - yt) * p  # 1 - p_t
    a = 1.0 if alpha is None else alpha * yt + (1 - alpha) * (1 - yt)
    (a * q ** gamma * F.binary_cross_entropy_with_logits(xn, yt, reduction="none")).sum().backward()
    # native autograd of the formula cancels in the tails (x = -40: 1e-78 against 3e-79): absolute there
    np.testing.assert_allclose(xt.grad.numpy(), xn.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("options", [{}, {"axis": 0}, {"class_axis": -1}])
def test_softmax_dice_blocks(options):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N, C))
    ca = options.get("class_axis", 1)
    labels = rng.integers(0, C, size=N)
    y = np.eye(C)[labels]
    x[np.arange(0, N, 3), labels[::3]] += 30.0  # confident, correct rows: a nearly perfect score
    got = lk.dice(torch.tensor(y), torch.tensor(x), activation="softmax", reduction="sum", **options).numpy()
    want = lk.dice(y, x, activation="softmax", reduction="sum", **options)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    xt = torch.tensor(x, requires_grad=True)
    lk.dice(torch.tensor(y), xt, activation="softmax", reduction="sum", **options).backward()
    xn = torch.tensor(x, requires_grad=True)
    p, yt = torch.softmax(xn, ca), torch.tensor(y)
    axes = tuple(range(2)) if "axis" not in options else (options["axis"],)
    native = 1 - (2 * (yt * p).sum(axes) + 1) / (yt.sum(axes) + p.sum(axes) + 1)
    native.sum().backward()
    ref = xn.grad.numpy()  # rounding of the two softmaxes: relative to the largest entry
    np.testing.assert_allclose(xt.grad.numpy(), ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("sparse", [True, False])
def test_cross_entropy_from_logits_blocks(sparse, axis):
    rng = np.random.default_rng(3)
    x = rng.normal(scale=3.0, size=(N, C))
    x[3, :3] = [1e4, 0.0, -1e4]
    x[5] = 0.0  # tied maxima
    ca = axis % 2
    labels = rng.integers(0, x.shape[ca], size=x.shape[1 - ca])
    t = np.moveaxis(np.eye(x.shape[ca])[labels], -1, ca) if sparse else np.exp(rng.normal(size=x.shape))
    t = t / t.sum(ca, keepdims=True)
    y = labels if sparse else t
    loss = lk.sparse_categorical_cross_entropy if sparse else lk.categorical_cross_entropy
    got = loss(torch.tensor(y), torch.tensor(x), from_logits=True, axis=axis, reduction="none").numpy()
    np.testing.assert_allclose(got, loss(y, x, from_logits=True, axis=axis, reduction="none"), rtol=1e-13, atol=1e-300)
    xt = torch.tensor(x, requires_grad=True)
    loss(torch.tensor(y), xt, from_logits=True, axis=axis, reduction="sum").backward()
    xn = torch.tensor(x, requires_grad=True)
    target = torch.tensor(labels) if sparse else torch.tensor(t)
    native = xn.T if ca == 0 else xn  # F.cross_entropy takes classes on axis 1
    F.cross_entropy(native, target.T if (ca == 0 and not sparse) else target, reduction="sum").backward()
    # torch's softmax - t cancels at a confident class (losskit keeps 1 - p accurate): absolute there
    np.testing.assert_allclose(xt.grad.numpy(), xn.grad.numpy(), rtol=1e-12, atol=1e-15)
