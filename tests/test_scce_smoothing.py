"""Sparse categorical cross-entropy with class weights and label smoothing against PyTorch itself.

PyTorch's ``F.cross_entropy(x, y, weight=w, label_smoothing=s)`` per sample is
``(1 - s) w_y (-log q_y) + (s / C) sum_c w_c (-log q_c)``; its ``"mean"`` divides the sum of
those by ``sum_i w_{y_i}`` (``nll_loss``'s weighted mean, label smoothing included). losskit's
class weights act as the per-sample weight ``w_y``: ``"none"`` returns ``w_y l_i``, ``"sum"`` their
sum and ``"mean"`` their sum divided by ``sum_i w_{y_i}``. With label smoothing the values hold
the class weights themselves (``Loss.weights_in_values``), so a sample whose class weight is 0
still pays PyTorch's smoothing term ``(s / C) sum_c w_c (-log q_c)`` (issue 17). Gradients are
compared with ``torch.autograd`` of the native loss, through ``.grad``, ``.grad_hess``, losskit's
own torch autograd route and JAX; sample weights, ``ignore_index``, the chunked NumPy engine and
the streaming Accumulator are checked against the same native per-sample values.
"""

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _case(seed, zero_weight_labels):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 40)), int(rng.integers(2, 9))
    logits = rng.normal(scale=3.0, size=(n, c))
    w = rng.uniform(0.1, 2.0, size=c)
    w[rng.random(c) < 0.3] = 0.0  # some classes weigh nothing
    labels = rng.integers(0, c, size=n)
    pos = np.flatnonzero(w > 0)
    if pos.size == 0:
        w[0], pos = 1.0, np.array([0])
    if not zero_weight_labels:  # every sample's own class has a positive weight
        labels = pos[rng.integers(0, pos.size, size=n)]
    else:
        zero = np.flatnonzero(w == 0)
        if zero.size == 0:
            w[c - 1], zero = 0.0, np.array([c - 1])
        labels[0] = zero[0]
    ls = float(rng.choice([0.05, 0.2, 0.5, 1.0]))
    return logits, labels, w, ls


def _native(logits, labels, w, ls, reduction):
    x = torch.tensor(logits, requires_grad=True)
    out = F.cross_entropy(x, torch.tensor(labels), weight=torch.tensor(w), label_smoothing=ls, reduction=reduction)
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("seed", range(8))
def test_class_weight_and_smoothing_match_torch(seed, reduction):
    logits, labels, w, ls = _case(seed, zero_weight_labels=False)
    want, want_grad = _native(logits, labels, w, ls, reduction)
    opts = dict(from_logits=True, class_weight=w, label_smoothing=ls, reduction=reduction)
    got = lk.sparse_categorical_cross_entropy(labels, logits, **opts)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lk.sparse_categorical_cross_entropy.grad(labels, logits, **opts), want_grad,
                               rtol=1e-10, atol=1e-14)
    # probabilities: cross_entropy of log p is the cross-entropy of p
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    got_p = lk.sparse_categorical_cross_entropy(labels, p, **{**opts, "from_logits": False})
    np.testing.assert_allclose(got_p, _native(np.log(p), labels, w, ls, reduction)[0], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("seed", range(4))
def test_zero_weight_class_without_smoothing_matches_torch(seed, reduction):
    logits, labels, w, _ = _case(seed, zero_weight_labels=True)
    want, want_grad = _native(logits, labels, w, 0.0, reduction)
    opts = dict(from_logits=True, class_weight=w, reduction=reduction)
    np.testing.assert_allclose(lk.sparse_categorical_cross_entropy(labels, logits, **opts), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lk.sparse_categorical_cross_entropy.grad(labels, logits, **opts), want_grad,
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_class_weight_and_smoothing_torch_route(seed):
    """On torch tensors through losskit's closed-form autograd node: value and ``.grad``."""
    _check_torch_route(*_case(seed, zero_weight_labels=False))


def _check_torch_route(logits, labels, w, ls):
    """The mean and its gradient on torch tensors (losskit's autograd node) against torch's own."""
    want, want_grad = _native(logits, labels, w, ls, "mean")
    x = torch.tensor(logits, requires_grad=True)
    got = lk.sparse_categorical_cross_entropy(torch.tensor(labels), x, from_logits=True, class_weight=torch.tensor(w),
                                              label_smoothing=ls)
    got.backward()
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, rtol=1e-10, atol=1e-14)
    return want, want_grad


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_zero_weight_class_keeps_the_smoothing_term(reduction):
    """The issue's example: F.cross_entropy([[0, 1]], [0], weight=[0, 1], label_smoothing=0.2) is 0.0313."""
    logits, labels, w, ls = np.array([[0.0, 1.0]]), np.array([0]), np.array([0.0, 1.0]), 0.2
    if reduction == "mean":  # torch divides by sum w_y = 0 here: a second sample gives a finite mean
        logits, labels = np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([0, 1])
    want, _ = _native(logits, labels, w, ls, reduction)
    got = lk.sparse_categorical_cross_entropy(labels, logits, from_logits=True, class_weight=w,
                                              label_smoothing=ls, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    if reduction == "none":  # independently: (s / C) * w_1 * (-log softmax([0, 1])[1]) = 0.1 * log(1 + e^-1)
        np.testing.assert_allclose(got, [0.1 * np.log1p(np.exp(-1.0))], rtol=1e-14)


def _case_with_zero_weight_labels(seed):
    logits, labels, w, ls = _case(seed, zero_weight_labels=True)
    if w[labels].sum() == 0:  # torch's mean would divide by 0 (NaN; losskit gives 0): keep one positive class
        labels[-1] = int(np.flatnonzero(w > 0)[0])
    return logits, labels, w, ls


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("seed", range(10))
def test_zero_weight_classes_with_smoothing_match_torch(seed, reduction):
    logits, labels, w, ls = _case_with_zero_weight_labels(seed)
    want, want_grad = _native(logits, labels, w, ls, reduction)
    opts = dict(from_logits=True, class_weight=w, label_smoothing=ls, reduction=reduction)
    fn = lk.sparse_categorical_cross_entropy
    np.testing.assert_allclose(fn(labels, logits, **opts), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fn.grad(labels, logits, **opts), want_grad, rtol=1e-10, atol=1e-14)
    value, grad = fn.value_and_grad(labels, logits, **opts)
    np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-14)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    popts = {**opts, "from_logits": False}  # probabilities: cross_entropy of log p is the cross-entropy of p
    np.testing.assert_allclose(fn(labels, p, **popts), _native(np.log(p), labels, w, ls, reduction)[0],
                               rtol=1e-10, atol=1e-14)
    # d/dp by central differences of losskit's own value (p off the simplex: no renormalisation)
    k, j = 0, int(np.argmax(w))
    h = 1e-6 * p[k, j]
    up, down = p.copy(), p.copy()
    up[k, j] += h
    down[k, j] -= h
    off = {**popts, "validate": False}  # the probes leave the simplex on purpose
    fd = (np.sum(fn(labels, up, **off)) - np.sum(fn(labels, down, **off))) / (2 * h)
    np.testing.assert_allclose(fn.grad(labels, p, **popts)[k, j], fd, rtol=1e-6)  # "none": of the sum


@pytest.mark.parametrize("seed", range(4))
def test_zero_weight_classes_with_smoothing_hessian_matches_torch(seed):
    logits, labels, w, ls = _case_with_zero_weight_labels(seed)
    logits, labels = logits[:6], labels[:6]
    lab, wt = torch.tensor(labels), torch.tensor(w)

    def total(x):
        return F.cross_entropy(x, lab, weight=wt, label_smoothing=ls, reduction="sum")

    hess = torch.autograd.functional.hessian(total, torch.tensor(logits)).numpy()
    n, c = logits.shape
    diag = hess.reshape(n * c, n * c).diagonal().reshape(n, c)
    grad, h = lk.sparse_categorical_cross_entropy.grad_hess(labels, logits, from_logits=True, class_weight=w,
                                                            label_smoothing=ls, reduction="sum")
    np.testing.assert_allclose(grad, _native(logits, labels, w, ls, "sum")[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(h, diag, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("seed", range(4))
def test_sample_weights_and_ignore_index_with_zero_weight_classes(seed, reduction):
    """PyTorch has no sample weights: the reference is torch's per-sample values l_i with
    ``sum_i s_i l_i / sum_i s_i w[y_i]`` for the mean (ignored samples leave both sums)."""
    logits, labels, w, ls = _case_with_zero_weight_labels(seed)
    rng = np.random.default_rng(100 + seed)
    sw = rng.uniform(0.0, 2.0, size=len(labels))
    labels = labels.copy()
    ignored = rng.random(len(labels)) < 0.25
    ignored[-1] = False  # keeps the positive-weight sample
    labels[ignored] = -100
    per = _native(logits, labels, w, ls, "none")[0]  # 0 where ignored
    kept_w = np.where(ignored, 0.0, w[np.where(ignored, 0, labels)])
    want = {"none": sw * per, "sum": np.sum(sw * per), "mean": np.sum(sw * per) / np.sum(sw * kept_w)}[reduction]
    got = lk.sparse_categorical_cross_entropy(labels, logits, from_logits=True, class_weight=w, label_smoothing=ls,
                                              ignore_index=-100, sample_weight=sw, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    x = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(x, torch.tensor(labels), weight=torch.tensor(w), label_smoothing=ls, reduction="none")
    scale = {"none": sw, "sum": sw, "mean": sw / np.sum(sw * kept_w)}[reduction]
    (ref * torch.tensor(scale)).sum().backward()
    np.testing.assert_allclose(
        lk.sparse_categorical_cross_entropy.grad(labels, logits, from_logits=True, class_weight=w, label_smoothing=ls,
                                                 ignore_index=-100, sample_weight=sw, reduction=reduction),
        x.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_zero_weight_classes_with_smoothing_on_torch_and_jax(seed):
    logits, labels, w, ls = _case_with_zero_weight_labels(seed)
    want, want_grad = _check_torch_route(logits, labels, w, ls)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def f(z):
        return lk.sparse_categorical_cross_entropy(jnp.asarray(labels), z, from_logits=True, class_weight=w,
                                                   label_smoothing=ls)

    np.testing.assert_allclose(float(jax.jit(f)(jnp.asarray(logits))), want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(f))(jnp.asarray(logits))), want_grad, rtol=1e-10, atol=1e-14)


def test_zero_weight_classes_with_smoothing_large_input_and_stream():
    """An input past the chunked engine's threshold (the engine declines values that hold their
    own class weights; the plain path answers) and an Accumulator fed in chunks."""
    rng = np.random.default_rng(7)
    n, c = 40_000, 7
    logits = rng.normal(scale=2.0, size=(n, c))
    w = np.array([0.0, 1.5, 0.3, 0.0, 2.0, 1.0, 0.7])
    labels = rng.integers(0, c, size=n)
    want, want_grad = _native(logits, labels, w, 0.3, "mean")
    opts = dict(from_logits=True, class_weight=w, label_smoothing=0.3)
    np.testing.assert_allclose(lk.sparse_categorical_cross_entropy(labels, logits, **opts), want, rtol=1e-12)
    np.testing.assert_allclose(lk.sparse_categorical_cross_entropy.grad(labels, logits, **opts), want_grad,
                               rtol=1e-10, atol=1e-16)
    acc = lk.Accumulator("sparse_categorical_cross_entropy", **opts)
    for lo in range(0, n, 9_999):
        acc.update(labels[lo:lo + 9_999], logits[lo:lo + 9_999])
    np.testing.assert_allclose(acc.result(), want, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("seed", range(3))
def test_zero_weight_classes_with_smoothing_under_a_forced_engine(seed, reduction):
    """The chunked engine forced on a small input (the settings test_engine uses): it hands the call
    to the plain path, and value, gradient, Hessian diagonal and sample weights still follow torch."""
    from losskit import engine

    logits, labels, w, ls = _case_with_zero_weight_labels(seed)
    sw = np.random.default_rng(200 + seed).uniform(0.0, 2.0, size=len(labels))
    per, _ = _native(logits, labels, w, ls, "none")
    x = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(x, torch.tensor(labels), weight=torch.tensor(w), label_smoothing=ls, reduction="none")
    scale = {"none": sw, "sum": sw, "mean": sw / np.sum(sw * w[labels])}[reduction]
    (ref * torch.tensor(scale)).sum().backward()
    want = {"none": sw * per, "sum": np.sum(sw * per), "mean": np.sum(sw * per) / np.sum(sw * w[labels])}[reduction]
    hess = torch.autograd.functional.hessian(
        lambda z: (F.cross_entropy(z, torch.tensor(labels), weight=torch.tensor(w), label_smoothing=ls,
                                   reduction="none") * torch.tensor(scale)).sum(), torch.tensor(logits)).numpy()
    n, c = logits.shape
    want_h = hess.reshape(n * c, n * c).diagonal().reshape(n, c)
    fn = lk.sparse_categorical_cross_entropy
    opts = dict(from_logits=True, class_weight=w, label_smoothing=ls, sample_weight=sw, reduction=reduction)
    with engine.configure(threads=2, threshold=1, chunk=10, compiled=False):
        value = fn(labels, logits, **opts)
        assert engine.last_route().startswith("plain"), engine.last_route()
        grad, h = fn.grad_hess(labels, logits, **opts)
        v2, g2 = fn.value_and_grad(labels, logits, **opts)
    np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v2, want, rtol=1e-12, atol=1e-14)
    for g in (grad, g2):
        np.testing.assert_allclose(g, x.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(h, want_h, rtol=1e-10, atol=1e-14)
