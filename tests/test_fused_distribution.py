"""The fused distribution kernels (losskit.fused.distribution) against the records' own
kernels: categorical and sparse categorical cross-entropy (probabilities and logits) and KL
divergence, called directly on whole arrays (one box).

Accuracy: box totals within 1e-6 (float32) or 1e-12 (float64) of the reference's float64
sum of its row values, relative to the sum of their magnitudes (the same as relative for
the cross-entropies, whose rows are non-negative; a KL row of nearly equal distributions is
its rows' rounding, of either sign). Gradients elementwise to that relative tolerance plus
that fraction of the largest entry: where the reference cancels (S p_c - t_c on logits) or
rounds a tiny probability from a float32 exponent, only the absolute agreement means anything.
Inputs outside a kernel's domain, and options or layouts it does not reproduce, give None.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

import losskit as lk  # noqa: E402
from losskit.fused import distribution as D  # noqa: E402

CCE, SCCE, KL = "categorical_cross_entropy", "sparse_categorical_cross_entropy", "kl_divergence"
RTOL = {"float32": 1e-6, "float64": 1e-12}
CLASSES = [1, 2, 10, 16, 33, 1000]  # short rows (four at a time; one pass per row from 16), longer than a block
SCALE = 0.37


def _rows(C):
    return max(6, 3000 // C + 7)  # several blocks of rows, and a partial one


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _options(name, opts):
    return {**lk.get(name).record.options, **opts}


def _plan(name, y, p, opts=None):
    return D.PLANNERS[name](y, p, _options(name, opts or {}))


def _reference(name, y, p, opts):
    """(row values, gradient) from the record's prepare (validating) and kernels."""
    rec = lk.get(name).record
    yt, yp, o = rec.prepare(np, y, p, _options(name, opts), True)
    return np.asarray(rec.value(np, yt, yp, **o)), np.asarray(rec.grad(np, yt, yp, **o))


def _check(name, y, p, opts=None):
    opts = opts or {}
    plan = _plan(name, y, p, opts)
    assert plan is not None
    rows, grad = _reference(name, y, p, opts)
    rtol = RTOL[p.dtype.name]
    value = plan.value(y, p)
    g = np.full_like(p, np.nan)
    value2 = plan.value_grad(y, p, g, SCALE)
    assert value is not None and value2 == value  # the same sums in both kernels
    want = float(np.sum(rows, dtype=np.float64))
    assert abs(value - want) <= rtol * float(np.sum(np.abs(rows), dtype=np.float64)), (value, want)
    want_g = SCALE * grad.astype(np.float64)
    assert g.dtype == p.dtype
    np.testing.assert_allclose(g, want_g, rtol=rtol, atol=rtol * float(np.max(np.abs(want_g))))


# -- inputs ----------------------------------------------------------------------------------
def _probs(rng, n, C, kind):
    if kind == "softmax":
        return _softmax(rng.normal(size=(n, C)) * 3)
    if kind == "zeros":  # exact zeros, and (float32) entries under the floor e^-40
        p = _softmax(rng.normal(size=(n, C)) * 3)
        p[rng.random((n, C)) < 0.3] = 0.0
        p[rng.random((n, C)) < 0.05] = 1e-20
        p[:, 0] += 1e-3  # no all-zero row
        return p / p.sum(-1, keepdims=True)
    raise ValueError(kind)


def _targets(rng, n, C, kind):
    labels = rng.integers(0, C, n)
    if kind == "onehot":
        return np.eye(C)[labels], labels
    t = rng.random((n, C)) ** 3  # soft rows, some entries tiny
    t[rng.random((n, C)) < 0.2] = 0.0
    t[:, -1] += 1e-3
    return t / t.sum(-1, keepdims=True), labels


def _logits(rng, n, C, kind):
    if kind == "normal":
        return rng.normal(size=(n, C)) * 4
    if kind == "extreme":  # +-1e4: exponentials underflow, log-probabilities of -2e4
        x = rng.choice([-1e4, 0.0, 1e4], size=(n, C)) + rng.normal(size=(n, C))
        x[::3] = rng.normal(size=x[::3].shape) * 1e4
        return x
    if kind == "ties":  # small integers: the maximum is shared in many rows
        return rng.integers(-2, 3, size=(n, C)).astype(np.float64)
    raise ValueError(kind)


def _cast(dtype, *arrays):
    return [a.astype(dtype) for a in arrays]


# -- categorical cross-entropy ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", CLASSES)
@pytest.mark.parametrize("target", ["onehot", "soft"])
@pytest.mark.parametrize("pred", ["softmax", "zeros"])
def test_cce_probabilities(dtype, C, target, pred):
    rng = np.random.default_rng(C)
    n = _rows(C)
    t, _ = _targets(rng, n, C, target)
    y, p = _cast(dtype, t, _probs(rng, n, C, pred))
    _check(CCE, y, p)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", CLASSES)
@pytest.mark.parametrize("target", ["onehot", "soft"])
@pytest.mark.parametrize("kind", ["normal", "extreme", "ties"])
def test_cce_logits(dtype, C, target, kind):
    rng = np.random.default_rng(C + 1)
    n = _rows(C)
    t, _ = _targets(rng, n, C, target)
    y, x = _cast(dtype, t, _logits(rng, n, C, kind))
    _check(CCE, y, x, {"from_logits": True})


def test_cce_small_cases_exactly():
    """The documented examples: 0 log 0 = 0, and 2 e^-40 for a confident logit row."""
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    p = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]])
    assert _plan(CCE, y, p).value(y, p) == pytest.approx(-np.log(0.9) - np.log(0.7), rel=1e-15)
    x = np.array([[40.0, 0.0, 0.0]])
    v = _plan(CCE, y[:1], x, {"from_logits": True}).value(y[:1], x)
    assert v == pytest.approx(8.496709e-18, rel=1e-6)


# -- sparse categorical cross-entropy ----------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", CLASSES)
@pytest.mark.parametrize("kind", ["softmax", "zeros"])
def test_scce_probabilities(dtype, C, kind):
    rng = np.random.default_rng(C + 2)
    n = _rows(C)
    labels = rng.integers(0, C, n)
    (p,) = _cast(dtype, _probs(rng, n, C, kind))
    _check(SCCE, labels, p)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", CLASSES)
@pytest.mark.parametrize("kind", ["normal", "extreme", "ties"])
def test_scce_logits(dtype, C, kind):
    rng = np.random.default_rng(C + 3)
    n = _rows(C)
    labels = rng.integers(0, C, n)
    (x,) = _cast(dtype, _logits(rng, n, C, kind))
    _check(SCCE, labels, x, {"from_logits": True})


def test_scce_label_layouts():
    """Leading axes of any rank, Keras's (N, 1) labels, other integer dtypes."""
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(3, 40, 7)) * 3).astype(np.float32)
    labels = rng.integers(0, 7, (3, 40))
    _check(SCCE, labels, x, {"from_logits": True})
    _check(SCCE, labels.astype(np.int32), x, {"from_logits": True})
    p = _softmax(x.astype(np.float64))
    _check(SCCE, labels.astype(np.uint64), p)
    _check(SCCE, labels.reshape(-1)[:, None], p.reshape(-1, 7))


# -- KL divergence -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", CLASSES)
@pytest.mark.parametrize("kind", ["random", "onehot", "zeros", "near", "equal"])
def test_kl_divergence(dtype, C, kind):
    rng = np.random.default_rng(C + 5)
    n = _rows(C)
    q = _probs(rng, n, C, "zeros" if kind == "zeros" else "softmax")
    if kind == "random":
        t = _probs(rng, n, C, "softmax")
    elif kind == "onehot":
        t = _targets(rng, n, C, "onehot")[0]
    elif kind == "zeros":
        t = _probs(rng, n, C, "zeros")
    elif kind == "near":  # t within 1e-4 of q: the series near t = q
        t = q * (1 + 1e-4 * rng.normal(size=q.shape))
        t /= t.sum(-1, keepdims=True)
    else:
        t = q.copy()
    y, p = _cast(dtype, t, q)
    _check(KL, y, p)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", CLASSES)
@pytest.mark.parametrize("kind", ["random", "onehot", "zeros", "near", "extreme", "ties"])
def test_kl_divergence_logits(dtype, C, kind):
    """From logits: q = softmax(x) in the Bregman terms, log q from the exact log-softmax (q may
    underflow: the extreme logits), the series where t is near q, t = 0 entries."""
    rng = np.random.default_rng(C + 11)
    n = _rows(C)
    x = _logits(rng, n, C, kind if kind in ("extreme", "ties") else "normal")
    if kind in ("random", "extreme", "ties"):
        t = _probs(rng, n, C, "softmax")
    elif kind == "onehot":
        t = _targets(rng, n, C, "onehot")[0]
    elif kind == "zeros":
        t = _probs(rng, n, C, "zeros")
    else:  # within 1e-4 of softmax(x): the series
        t = _softmax(x) * (1 + 1e-4 * rng.normal(size=x.shape))
        t /= t.sum(-1, keepdims=True)
    y, p = _cast(dtype, t, x)
    opts = {"from_logits": True}
    plan = _plan(KL, y, p, opts)
    g = np.full_like(p, np.nan)
    value, value2 = plan.value(y, p), plan.value_grad(y, p, g, SCALE)
    assert value is not None and value2 == value
    # the oracle: the reference kernels on the inputs in float64 (its float32 form rounds q to
    # float32, whose error near t = q dominates the tiny Bregman terms: 1e-4 relative measured)
    rows, grad = _reference(KL, y.astype(np.float64), p.astype(np.float64), opts)
    rtol = RTOL[dtype] * (4 if kind == "near" and dtype == "float32" else 1)  # (fast exp: 1e-9 relative)
    want = float(np.sum(rows))
    assert abs(value - want) <= rtol * float(np.sum(np.abs(rows))), (value, want)
    # S q_c - t_c cancels where t is near q: agreement relative to the terms (t <= 1), not to the gradient
    want_g = SCALE * grad
    np.testing.assert_allclose(g, want_g, rtol=RTOL[dtype], atol=RTOL[dtype] * SCALE * float(np.max(y)))


def test_kl_documented_example():
    y, p = np.array([[1.0, 0.0, 0.0]]), np.array([[0.8, 0.1, 0.1]])
    assert _plan(KL, y, p).value(y, p) == -np.log(0.8)


# -- outside the domains: None ------------------------------------------------------------------
def _spoiled(name, dtype, spoil, opts=None):
    """Valid inputs with one entry spoiled by ``spoil(y, p)``: the reference rejects them."""
    rng = np.random.default_rng(7)
    n, C = 300, 10
    logits = bool(opts and opts.get("from_logits"))
    p = _logits(rng, n, C, "normal") if logits else _probs(rng, n, C, "softmax")
    if name == SCCE:
        y = rng.integers(0, C, n)
    elif name == KL:
        y = _probs(rng, n, C, "softmax")
    else:
        y = _targets(rng, n, C, "soft")[0]
    if y.dtype.kind == "f":
        y = y.astype(dtype)
    p = p.astype(dtype)
    spoil(y, p)
    return y, p


BAD = [
    (CCE, {}, lambda y, p: p.__setitem__((5, 3), np.nan), True),
    (CCE, {}, lambda y, p: y.__setitem__((17, 0), np.inf), True),
    (CCE, {}, lambda y, p: p.__setitem__((8,), np.r_[1.0001, np.zeros(9)]), True),  # > 1, sums to 1 within tol
    (CCE, {}, lambda y, p: p.__setitem__((9, 2), p[9, 2] + 0.01), True),  # the row sums to 1.01
    (CCE, {}, lambda y, p: y.__setitem__((9,), np.r_[1.5, -0.5, np.zeros(8)]), True),  # negative target
    (CCE, {"from_logits": True}, lambda y, p: p.__setitem__((3, 3), np.inf), True),
    (CCE, {"from_logits": True}, lambda y, p: y.__setitem__((4, 1), y[4, 1] + 0.1), True),
    (CCE, {"from_logits": True}, lambda y, p: p.__setitem__((3, 3), np.finfo(p.dtype).max / 2), False),  # valid
    # for the reference, beyond the domain
    (SCCE, {}, lambda y, p: y.__setitem__(11, 10), True),  # label out of range
    (SCCE, {}, lambda y, p: y.__setitem__(11, -1), True),
    (SCCE, {}, lambda y, p: p.__setitem__((2, 2), -1e-3), True),
    (SCCE, {"from_logits": True}, lambda y, p: y.__setitem__(299, 10), True),
    (SCCE, {"from_logits": True}, lambda y, p: p.__setitem__((0, 0), np.nan), True),
    (KL, {}, lambda y, p: y.__setitem__((6, 6), np.nan), True),
    (KL, {}, lambda y, p: p.__setitem__((6,), np.r_[1.0001, np.zeros(9)]), True),
    (KL, {}, lambda y, p: y.__setitem__((6, 6), y[6, 6] + 0.05), True),
    (KL, {"from_logits": True}, lambda y, p: p.__setitem__((6, 6), np.nan), True),
    (KL, {"from_logits": True}, lambda y, p: y.__setitem__((6, 6), y[6, 6] + 0.05), True),
    (KL, {"from_logits": True}, lambda y, p: y.__setitem__((6,), np.r_[1.0001, np.zeros(9)]), True),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,opts,spoil,invalid", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_outside_the_domain_is_not_handled(dtype, name, opts, spoil, invalid):
    y, p = _spoiled(name, dtype, spoil, opts)
    plan = _plan(name, y, p, opts)
    assert plan is not None
    assert plan.value(y, p) is None
    assert plan.value_grad(y, p, np.empty_like(p), 1.0) is None
    if invalid:  # the reference kernels, which then run on the box, raise
        with pytest.raises(lk.LossInputError):
            _reference(name, y, p, opts)


@pytest.mark.parametrize("name,opts", [
    (CCE, {"label_smoothing": 0.1}), (CCE, {"class_weight": [1.0] * 10}), (CCE, {"renormalize": True}),
    (CCE, {"epsilon": 1e-7}), (CCE, {"axis": 0}), (CCE, {"from_logits": "yes"}),
    (SCCE, {"ignore_index": -100}), (SCCE, {"label_smoothing": 0.2}),
    (KL, {"from_logits": True, "log_target": True}), (KL, {"log_target": True}), (KL, {"normalized": False}),
    (KL, {"clip_target": True}), (KL, {"epsilon": 1e-7}), (KL, {"axis": 0}),
])
def test_options_without_a_kernel(name, opts):
    rng = np.random.default_rng(8)
    p = _probs(rng, 20, 10, "softmax")
    y = rng.integers(0, 10, 20) if name == SCCE else _probs(rng, 20, 10, "softmax")
    assert _plan(name, y, p, opts) is None


def test_layouts_without_a_kernel():
    rng = np.random.default_rng(9)
    p = _probs(rng, 20, 10, "softmax")
    t = _probs(rng, 20, 10, "softmax")
    labels = rng.integers(0, 10, 20)
    assert _plan(CCE, t, p.astype(np.float32)) is None  # mixed dtypes
    assert _plan(CCE, t.astype(np.float16), p.astype(np.float16)) is None
    assert _plan(KL, t[:, :5], p) is None
    assert _plan(SCCE, labels.astype(np.float64), p) is None  # float labels: the reference's path
    assert _plan(SCCE, labels[:10], p) is None
    plan = _plan(CCE, t, p)
    assert plan.value(t[:, ::-1], p[:, ::-1]) is None  # not C-contiguous
    assert plan.value(t[::2], p[::2]) is None
    assert plan.value(t.astype(np.float32), p.astype(np.float32)) is None
    assert plan.value_grad(t, p, np.empty((10, 20)).T, 1.0) is None
    assert plan.value_grad(t, p, np.empty_like(p), np.ones(20)) is None  # a scale per sample
    assert plan.value_grad(t, p, np.empty_like(p, dtype=np.float32), 1.0) is None
    plan = _plan(SCCE, labels, p)
    assert plan.value(labels.astype(np.float64), p) is None  # a box of float labels
    assert plan.value(labels[:-1], p) is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", CLASSES)
def test_cce_one_hot_and_soft_blocks_mixed(dtype, C):
    """Blocks of one-hot rows take one logarithm per row; soft rows nearby the general form."""
    rng = np.random.default_rng(C + 6)
    n = _rows(C)
    t, _ = _targets(rng, n, C, "onehot")
    soft, _ = _targets(rng, n, C, "soft")
    pick = rng.random(n) < 0.1  # a few soft rows: some blocks stay one-hot, others not
    t[pick] = soft[pick]
    y, p = _cast(dtype, t, _probs(rng, n, C, "zeros"))
    _check(CCE, y, p)


@pytest.mark.parametrize("C", [2, 10, 1000])
@pytest.mark.parametrize("row", ["two ones", "no one"])
def test_cce_binary_targets_that_are_not_one_hot_are_declined(C, row):
    rng = np.random.default_rng(C)
    n = _rows(C)
    t, _ = _targets(rng, n, C, "onehot")
    t[n // 2] = 0.0
    if row == "two ones":
        t[n // 2, :2] = 1.0
    p = _probs(rng, n, C, "softmax")
    assert _plan(CCE, t, p).value(t, p) is None
    with pytest.raises(lk.LossInputError):
        lk.get(CCE).record.prepare(np, t, p, _options(CCE, {}), True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kl_row_sum_minus_one_to_a_rounding(dtype):
    """``S - 1`` of a target row (KL's ``sum(t) - 1``, the whole value of nearly equal
    distributions): float32 rows summed in vector lanes (exact from 2**-29 on, the smaller
    entries apart), float64 rows compensated; against the exact rational sum, tiny and
    subnormal entries included."""
    from fractions import Fraction

    from losskit.fused import rows

    kernel = rows._sum_minus_one32 if dtype == "float32" else rows._sum_minus_one64
    rng = np.random.default_rng(9)
    tiny = np.finfo(dtype).smallest_subnormal
    cases = [rng.dirichlet(np.ones(c)) for c in (1, 7, 100, 1000)]
    cases += [np.concatenate([rng.dirichlet(np.ones(50)) * (1 - 1e-6), rng.random(200) * 1e-8, [3e-30, tiny]])]
    cases += [np.full(10, 0.1), np.array([1.0]), np.array([0.5, 0.5 + 1e-7]), np.zeros(3)]
    for row in cases:
        t = row.astype(dtype)
        exact = float(sum(Fraction(float(v)) for v in t) - 1)
        got = kernel(t, t.size)
        assert abs(got - exact) <= 1e-21 + 2 * np.spacing(abs(exact)), (row.size, got, exact)
