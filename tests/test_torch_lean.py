"""The in-place torch forms the closed-form autograd route takes (untracked torch tensors: hinge and
perceptron, MSE, the overlap losses on probabilities and softmax Dice) give the numbers of the formulas, bit for bit where the formula is
exact, and keep the accuracy of the NumPy path near a perfect Dice score.

Oracles: the elementwise formulas written here in NumPy (hinge, MSE), the NumPy path in float64
and native torch autograd (Dice).
"""

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")


def _small_blocks(monkeypatch, size):
    """Lower the torch block size so that an input takes several blocks of whole rows and a
    short last one."""
    from losskit._array import lean

    monkeypatch.setattr(lean, "_TORCH_BLOCK", size)


def _labelled_logits(seed, n, c, lo, hi):
    """``(labels, x)``: ``n`` random class ids and float32 N(0, 1) logits whose label entries are
    raised by ``lo`` .. ``hi`` across the rows (from far below the max to confident)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, size=n)
    x = rng.normal(size=(n, c)).astype(np.float32)
    x[np.arange(n), labels] += np.linspace(lo, hi, n, dtype=np.float32)
    return labels, x


def _labels(rng, kind, shape):
    values = {"pm1": [-1.0, 1.0], "01": [0.0, 1.0], "mixed": [-1.0, 0.0, 1.0]}[kind]
    return rng.choice(values, size=shape)


@pytest.mark.parametrize("kind", ["pm1", "01", "mixed"])
@pytest.mark.parametrize("margin", [1.0, 0.0, -0.0, 0.3])
@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hinge_matches_formula_bitwise(kind, margin, validate, dtype):
    rng = np.random.default_rng(3)
    y = _labels(rng, kind, (64, 33)).astype(dtype)
    s = rng.normal(size=(64, 33)).astype(dtype)
    s[0, :4] = [1.0, 0.3, -1.0, 0.0]  # on the kink for y = 1, margin 1 / 0.3 / ...
    ys = np.where(y == 0, -1, y).astype(dtype)
    m = dtype(margin)
    z = m - ys * s
    want = np.where(z > 0, z, 0).astype(dtype)  # +0 off the active side
    got = lk.hinge(torch.tensor(y), torch.tensor(s), margin=margin, validate=validate, reduction="none").numpy()
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got).any()
    x = torch.tensor(s, requires_grad=True)
    lk.hinge(torch.tensor(y), x, margin=margin, validate=validate, reduction="sum").backward()
    g = np.where(z > 0, -ys, 0).astype(dtype)
    np.testing.assert_array_equal(x.grad.numpy(), g)
    assert (np.signbit(x.grad.numpy()) == np.signbit(g)).all()
    x.grad = None
    lk.perceptron(torch.tensor(y), x, validate=validate, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(-ys * s > 0, -ys, 0).astype(dtype))


def test_hinge_unchecked_non_finite_like_the_where_form():
    # validate=False: NaN and inf go through the where forms' rules (a NaN z keeps the value NaN)
    y = np.array([1.0, -1.0, np.nan, np.inf, -np.inf, 2.0, 0.5, 1.0, 0.0])
    s = np.array([np.nan, 0.5, 1.0, 2.0, 3.0, -1.0, np.inf, -np.inf, 0.0])
    ys = np.where(y == 0, -1, y)
    with np.errstate(invalid="ignore"):
        z = 1.0 - ys * s
        want, g = np.where(z <= 0, 0, z), np.where(z > 0, -ys, 0)
    assert np.isnan(want[[0, 2]]).all()
    got = lk.hinge(torch.tensor(y), torch.tensor(s), validate=False, reduction="none").numpy()
    np.testing.assert_array_equal(got, want)
    x = torch.tensor(s, requires_grad=True)
    lk.hinge(torch.tensor(y), x, validate=False, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), g)


@pytest.mark.parametrize("validate", [True, False])
def test_mse_in_place_forms(validate):
    rng = np.random.default_rng(4)
    y, p = rng.normal(size=(50, 7)), rng.normal(size=(50, 7))
    yt, pt = torch.tensor(y), torch.tensor(p)
    np.testing.assert_array_equal(lk.mse(yt, pt, reduction="none", validate=validate).numpy(), (p - y) ** 2)
    x = torch.tensor(p, requires_grad=True)
    lk.mse(yt, x, reduction="sum", validate=validate).backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * (p - y))
    np.testing.assert_array_equal(pt.numpy(), p)  # inputs untouched
    np.testing.assert_array_equal(yt.numpy(), y)


def test_mae_and_sign_in_place_forms():
    """Untracked torch: ``|d|`` in place and the two-pass sign (``sign + clamp(d, 0, 0)``) give
    NumPy's numbers: NaN stays NaN (torch's own sign gives 0 there), zeros and infinities."""
    from losskit._array.stable import sign

    d = np.array([np.nan, 0.0, -0.0, 1e-45, -2.5, np.inf, -np.inf, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(sign(torch.tensor(d), xp=None).numpy(), np.sign(d))
    y = np.linspace(-1.0, 1.0, d.size).astype(np.float32)
    p = (y + d).astype(np.float32)
    yt, x = torch.tensor(y), torch.tensor(p, requires_grad=True)
    f = lk.get("mean_absolute_error")
    np.testing.assert_array_equal(f(yt, x.detach(), reduction="none", validate=False).numpy(), np.abs(p - y))
    f(yt, x, reduction="sum", validate=False).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.sign(p - y))
    np.testing.assert_array_equal(x.detach().numpy(), p)


def _piecewise_huber(d, delta, beta):
    """The textbook pieces, each evaluated only where it applies (float32 NumPy): Huber for
    ``delta`` (``beta`` None), smooth L1 for ``beta``; values and gradients."""
    a = np.abs(d)
    if beta is None:
        inside = a <= delta
        quad = np.where(inside, d, 0) * np.where(inside, d, 0) * np.float32(0.5)
        return np.where(inside, quad, delta * (a - np.float32(0.5 * delta))), np.where(inside, d, delta * np.sign(d))
    inside = a < beta
    di = np.where(inside, d, 0)
    return (np.where(inside, (np.float32(0.5) * di) * (di / np.float32(beta)), a - np.float32(0.5 * beta)),
            np.where(inside, d / np.float32(beta), np.sign(d)))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("loss", "delta", "beta"), [("huber", 1.0, None), ("huber", 0.3, None),
                                                     ("smooth_l1", None, 1.0), ("smooth_l1", None, 2.5)])
def test_huber_and_smooth_l1_clip_forms_are_the_pieces(loss, delta, beta, backend):
    """The clipped-residual forms give the piecewise formulas bit for bit (float32): residuals at
    and around the kinks, huge ones (whose square would overflow) and NaN; the gradient through
    the torch closed-form node too, and the inputs stay untouched."""
    rng = np.random.default_rng(9)
    k = np.float32(delta if beta is None else beta)
    d = np.concatenate([rng.normal(scale=2.0, size=200), [k, -k, np.nextafter(k, 0), -np.nextafter(k, 0), 0.0,
                                                          3e30, -3e30, np.nan]]).astype(np.float32)
    y = rng.normal(size=d.shape).astype(np.float32)
    p = (y + d).astype(np.float32)
    d = p - y  # the residual the loss sees
    want_v, want_g = _piecewise_huber(d, delta, beta)
    opts = {"delta": delta} if beta is None else {"beta": beta}
    f = lk.get(loss, **opts)
    if backend == "numpy":
        np.testing.assert_array_equal(f(y, p, reduction="none", validate=False), want_v)
        np.testing.assert_array_equal(f.grad(y, p, reduction="sum", validate=False), want_g)
        return
    yt, x = torch.tensor(y), torch.tensor(p, requires_grad=True)
    f(yt, x, reduction="sum", validate=False).backward()
    np.testing.assert_array_equal(x.grad.numpy(), want_g)
    np.testing.assert_array_equal(f(yt, x.detach(), reduction="none", validate=False).numpy(), want_v)
    np.testing.assert_array_equal(x.detach().numpy(), p)
    np.testing.assert_array_equal(yt.numpy(), y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_msle_torch_form_on_adversarial_pairs(dtype):
    """The where-free torch form of ``log1p(p) - log1p(y)`` (values and gradient through the
    closed-form node) against a 50-digit reference: pairs that nearly agree (the difference of
    logs would cancel), the close/far switch, ratios ``(1 + p) / (1 + y)`` that overflow or
    underflow the dtype (the fallback ``log(1 + p) - log(1 + y)``), zeros and a NaN."""
    mpmath = pytest.importorskip("mpmath")
    fi = np.finfo(dtype)
    low = -1 + fi.epsneg  # the float just above -1: 1 + low = 2^-24 or 2^-53
    huge = fi.max / 4
    pairs = [(3.0, 3.0 * (1 + 4 * fi.eps)), (3.0, 5.0), (0.0, 0.0), (1.0, 2.0), (1.0, np.nextafter(dtype(2.0), dtype(3.0))),
             (0.5, 0.25), (low, huge), (huge, low), (0.0, 1e-30), (2.0, 1e19), (7.0, 7.0), (-0.5, low), (0.0, np.nan)]
    y = np.array([a for a, _ in pairs], dtype=dtype)
    p = np.array([b for _, b in pairs], dtype=dtype)
    with mpmath.workdps(50):
        r = [mpmath.log1p(mpmath.mpf(float(a))) - mpmath.log1p(mpmath.mpf(float(b))) for a, b in zip(p[:-1], y[:-1])]
        want_v = np.array([float(v * v) for v in r])
        want_g = np.array([float(2 * v / (1 + mpmath.mpf(float(a)))) for v, a in zip(r, p[:-1])])
    yt, x = torch.tensor(y), torch.tensor(p, requires_grad=True)
    f = lk.get("mean_squared_logarithmic_error")
    f(yt, x, reduction="sum", validate=False).backward()
    got_v = f(yt, x.detach(), reduction="none", validate=False).numpy()
    assert np.isnan(got_v[-1]) and np.isnan(x.grad.numpy()[-1])

    def ulps(got, want):
        return np.abs(got.astype(np.float64) - want) / np.spacing(np.maximum(np.abs(want), fi.tiny).astype(dtype))

    assert ulps(got_v[:-1], want_v).max() <= 6
    assert ulps(x.grad.numpy()[:-1], want_g).max() <= 8
    np.testing.assert_array_equal(x.detach().numpy()[:-1], p[:-1])  # inputs untouched


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize(("loss", "shape"), [("sparse_categorical_focal_cross_entropy", {"gamma": 0.0}),
                                            ("sparse_categorical_focal_cross_entropy", {"gamma": 0.5}),
                                            ("sparse_categorical_focal_cross_entropy", {"gamma": 2.0, "alpha": None}),
                                            ("sparse_categorical_focal_cross_entropy", {"alpha": "vector"}),
                                            ("generalized_cross_entropy", {"q": 0.7})])
@pytest.mark.parametrize("extra", [{}, {"ignore_index": 3}, {"label_smoothing": 0.1}, {"axis": 0}])
def test_sparse_gradient_from_the_label(loss, shape, extra, from_logits):
    """The torch closed-form node's gradient of the sparse focal and generalised cross-entropy
    losses (from the label: ``-r_y`` times the cross-entropy gradient from logits, one scattered
    entry on probabilities; the dense form with label smoothing) against the NumPy kernels' dense
    form in float64, elementwise: confident rows (``1 - p_y`` down to ~1e-13), far-off labels,
    ignored samples."""
    if loss == "generalized_cross_entropy" and "label_smoothing" in extra:
        pytest.skip("no label smoothing option")
    rng = np.random.default_rng(12)
    c = 7
    labels, x = _labelled_logits(13, 60, c, -30.0, 30.0)
    x = x.astype(np.float64)
    if not from_logits:
        x = np.exp(x - x.max(axis=1, keepdims=True))
        x /= x.sum(axis=1, keepdims=True)
    axis = extra.get("axis", -1)
    if axis == 0:
        x = np.ascontiguousarray(x.T)
    opts = {**shape, "from_logits": from_logits, **extra}
    if opts.get("alpha") == "vector":
        opts["alpha"] = rng.uniform(0.2, 1.0, c)
    f = lk.get(loss, **opts)
    want = f.grad(labels, x, reduction="sum")
    xt = torch.tensor(x, requires_grad=True)
    f(torch.tensor(labels), xt, reduction="sum").backward()
    np.testing.assert_allclose(xt.grad.numpy(), want, rtol=1e-11, atol=1e-300)
    if "ignore_index" in extra:
        assert np.all(want[labels == 3] == 0) and np.any(labels == 3)


@pytest.mark.parametrize("options", [{}, {"axis": 1}, {"axis": 0}, {"class_axis": 0}])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("blocks", [False, True])
@pytest.mark.parametrize("c", [9, 20])  # below and above the row length where torch's own softmax is used
def test_softmax_dice_kernels(options, soft, blocks, c, monkeypatch):
    """Value against the float64 NumPy path, gradient against native autograd of the formula;
    confident, correct rows keep a nearly perfect score accurate. ``blocks``: the block size
    lowered so that the input takes several blocks of whole rows and a short last one."""
    if blocks:
        _small_blocks(monkeypatch, 3 * c + 1)
    rng = np.random.default_rng(5)
    n = 40
    ca = options.get("class_axis", 1)
    x = rng.normal(size=(n, c))
    labels = rng.integers(0, c, size=n)
    y = np.eye(c)[labels]
    x[np.arange(0, n, 4), labels[::4]] += 30.0
    if soft:
        y = 0.9 * y + 0.1 * rng.dirichlet(np.ones(c), size=n)
    if ca == 0:
        x, y = x.T.copy(), y.T.copy()
    got = lk.dice(torch.tensor(y), torch.tensor(x), activation="softmax", reduction="none", **options).numpy()
    want = lk.dice(y, x, activation="softmax", reduction="none", **options)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    xt = torch.tensor(x, requires_grad=True)
    w = torch.tensor(rng.random(np.shape(got)))
    (lk.dice(torch.tensor(y), xt, activation="softmax", reduction="none", **options) * w).sum().backward()
    xn = torch.tensor(x, requires_grad=True)
    p, yt = torch.softmax(xn, ca), torch.tensor(y)
    axes = options.get("axis", (0, 1))
    native = 1 - (2 * (yt * p).sum(axes) + 1) / (yt.sum(axes) + p.sum(axes) + 1)
    (native * w).sum().backward()
    ref = xn.grad.numpy()
    np.testing.assert_allclose(xt.grad.numpy(), ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


OVERLAP_ON_PROBABILITIES = [("dice", {}, lambda tp, fp, fn, s: 1 - (2 * tp + s) / (2 * tp + fp + fn + s)),
                            ("jaccard", {}, lambda tp, fp, fn, s: 1 - (tp + s) / (tp + fp + fn + s)),
                            ("tversky", {"alpha": 0.3, "beta": 0.7},
                             lambda tp, fp, fn, s: 1 - (tp + s) / (tp + 0.3 * fp + 0.7 * fn + s))]


@pytest.mark.parametrize("options", [{}, {"axis": 1}, {"axis": 0}])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("name,extra,formula", OVERLAP_ON_PROBABILITIES, ids=[c[0] for c in OVERLAP_ON_PROBABILITIES])
def test_overlap_kernels_on_probabilities(name, extra, formula, options, soft, monkeypatch):
    """The lean form on probabilities (hard terms): value against the float64 NumPy path, with
    near-perfect rows (``1 - q`` of 1e-12) kept accurate; gradient against native autograd of the
    formula, from the statistics the value kept (its terms computed once per step); inputs
    untouched."""
    from losskit.losses.segmentation import ratio

    calls = []
    stats = ratio._torch_prob_stats
    monkeypatch.setattr(ratio, "_torch_prob_stats", lambda *a: calls.append(1) or stats(*a))
    rng = np.random.default_rng(8)
    n, c = 30, 6
    y = np.eye(c)[rng.integers(0, c, size=n)]
    if soft:
        y = 0.9 * y + 0.1 * rng.dirichlet(np.ones(c), size=n)
    p = rng.random((n, c))
    p[::3] = np.where(y[::3] > 0.5, 1 - 1e-12, 1e-12)  # near-perfect rows
    f = lk.get(name, **extra, **options)
    yt, pt = torch.tensor(y), torch.tensor(p)
    got = f(yt, pt, reduction="none").numpy()
    np.testing.assert_allclose(got, f(y, p, reduction="none"), rtol=1e-12)
    xt = torch.tensor(p, requires_grad=True)
    w = torch.tensor(rng.random(np.shape(got)))
    calls.clear()
    (f(yt, xt, reduction="none") * w).sum().backward()
    assert calls == [1]  # the backward took the forward's statistics
    xn = torch.tensor(p, requires_grad=True)
    axes = options.get("axis", (0, 1))
    native = formula((yt * xn).sum(axes), (xn * (1 - yt)).sum(axes), (yt * (1 - xn)).sum(axes), 1.0)
    (native * w).sum().backward()
    ref = xn.grad.numpy()
    np.testing.assert_allclose(xt.grad.numpy(), ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_array_equal(yt.numpy(), y)
    np.testing.assert_array_equal(pt.numpy(), p)


def test_softmax_dice_near_perfect_score_float32():
    # every row confident and correct: the loss is ~1e-9, far below float32's 1 - q rounding (6e-8)
    rng = np.random.default_rng(6)
    n, c = 64, 10
    labels = rng.integers(0, c, size=n)
    x = rng.normal(size=(n, c))
    x[np.arange(n), labels] += 25.0
    y = np.eye(c)[labels]
    want = lk.dice(y, x, activation="softmax", smooth=0.0)
    got = float(lk.dice(torch.tensor(y, dtype=torch.float32), torch.tensor(x, dtype=torch.float32),
                        activation="softmax", smooth=0.0))
    assert 0 < want < 1e-7
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_softmax_pair_while_torch_records():
    """While autograd records the logits (torch.compile, a double backward), the complement is the
    accurate value held constant plus ``(1 - q) - constant(1 - q)``: its value is the accurate one
    (2 e^-40 at a confident class, where ``1 - softmax`` gives 0), its first and second derivatives
    those of ``1 - softmax(x)`` (torch autograd of the plain formula)."""
    from losskit._array.stable import softmax_pair

    rng = np.random.default_rng(4)
    x0 = rng.normal(size=(6, 5))
    x0[0] = [40.0, 0.0, 0.0, 0.0, 0.0]
    x0[1] = [3.0, 3.0, 0.0, -1.0, 2.0]  # tied maxima
    v = torch.tensor(rng.normal(size=x0.shape))
    x = torch.tensor(x0, requires_grad=True)
    q, u = softmax_pair(x, 1, xp=None)
    assert u.requires_grad
    np.testing.assert_allclose(float(u[0, 0]), 4 * np.exp(-40.0) / (1 + 4 * np.exp(-40.0)), rtol=1e-15)
    assert float((1.0 - torch.softmax(x, 1))[0, 0]) == 0.0  # what the plain complement gives there

    def hvp(fn):  # gradient of sum(v fn(x)), and its derivative along v (double backward)
        xx = torch.tensor(x0, requires_grad=True)
        (g,) = torch.autograd.grad((v * fn(xx)).sum(), xx, create_graph=True)
        (h,) = torch.autograd.grad((g * v).sum(), xx)
        return g.detach(), h

    plain = (lambda z: torch.softmax(z, 1), lambda z: 1.0 - torch.softmax(z, 1))
    for part in (0, 1):
        got_g, got_h = hvp(lambda z, part=part: softmax_pair(z, 1, xp=None)[part])
        want_g, want_h = hvp(plain[part])
        np.testing.assert_allclose(got_g.numpy(), want_g.numpy(), rtol=1e-12, atol=1e-17)
        np.testing.assert_allclose(got_h.numpy(), want_h.numpy(), rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("blocks", [False, True])
@pytest.mark.parametrize("c", [12, 40])  # below and above the row length where torch's own softmax is used
def test_sparse_ce_gradient_of_confident_rows_float32(blocks, c, monkeypatch):
    """The label's entry ``-(1 - p_y)`` stays accurate where ``p_y`` rounds to 1 in float32:
    against the float64 formula ``-sum_{j != y} p_j`` from the exact shifted exponentials."""
    if blocks:
        _small_blocks(monkeypatch, 10 * c + 3)
    n = 64
    labels, x = _labelled_logits(7, n, c, 0.0, 30.0)  # up to 1 - p_y ~ 1e-13
    xt = torch.tensor(x, requires_grad=True)
    lk.sparse_categorical_cross_entropy(torch.tensor(labels), xt, from_logits=True, reduction="sum").backward()
    z = x.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    others = np.where(np.eye(c, dtype=bool)[labels], 0.0, p).sum(axis=1)
    want = p.copy()
    want[np.arange(n), labels] = -others
    np.testing.assert_allclose(xt.grad.numpy(), want, rtol=2e-6, atol=0)


@pytest.mark.parametrize("blocks", [False, True])
@pytest.mark.parametrize("c", [12, 40])
def test_sparse_ce_value_from_the_softmax_float32(blocks, c, monkeypatch):
    """The untracked torch value comes from torch's softmax: ``log1p(u_y / p_y)`` where the label
    holds the max (values down to ~1e-13, far below float32's rounding of ``1 + u``), and ``(m -
    x_y) - log(max p)`` elsewhere (gaps of 200 underflow ``p_y``). Against the float64 formula from
    the exact logits: ``log1p`` of the other classes' shifted exponentials relative to the label."""
    if blocks:
        _small_blocks(monkeypatch, 10 * c + 3)
    n = 96
    labels, x = _labelled_logits(8, n, c, -200.0, 30.0)  # far below the max .. confident
    x[0] = 0.0  # tied maxima: log C
    got = lk.sparse_categorical_cross_entropy(torch.tensor(labels), torch.tensor(x), from_logits=True,
                                              reduction="none").numpy()
    z = x.astype(np.float64)
    z_y = z[np.arange(n), labels][:, None]
    others = np.where(np.eye(c, dtype=bool)[labels], 0.0, np.exp(z - z_y)).sum(axis=1)
    want = np.log1p(others)  # (e^230 at most: no overflow in float64)
    assert want.min() < 1e-10 and want.max() > 150
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(np.float32).eps, atol=0)


@pytest.mark.parametrize("kind", ["sparse_ce", "soft_ce", "kl", "focal"])
def test_backward_scales_the_held_gradient_once(kind):
    """Cross-entropy, KL and focal from logits: the forward computes the gradient with the value (one
    softmax or shifted exponential) and the backward scales it in place; a second backward
    (``retain_graph=True``) recomputes it and gives the same result (to rounding). With ``ignore_index`` and
    class weights where the loss has them; gradients against native autograd."""
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    x = rng.normal(size=(20, 7))
    labels = rng.integers(0, 7, size=20)
    labels[::5] = -1
    t = rng.dirichlet(np.ones(7), size=20)
    w = rng.uniform(0.5, 2.0, size=7)
    call = {
        "sparse_ce": lambda xt: lk.sparse_categorical_cross_entropy(
            torch.tensor(labels), xt, from_logits=True, ignore_index=-1, class_weight=torch.tensor(w)),
        "soft_ce": lambda xt: lk.categorical_cross_entropy(torch.tensor(t), xt, from_logits=True,
                                                           class_weight=torch.tensor(w)),
        "kl": lambda xt: lk.kl_divergence(torch.tensor(t), xt, from_logits=True),
        "focal": lambda xt: lk.binary_focal_cross_entropy(torch.tensor((t > 0.15).astype(float)), xt, from_logits=True, alpha=0.25),
    }[kind]
    xt = torch.tensor(x, requires_grad=True)  # (the torch kernels: conftest turns the host route off)
    value = call(xt)
    three = torch.tensor(3.0, dtype=torch.float64)
    (first,) = torch.autograd.grad(value, xt, grad_outputs=three, retain_graph=True)
    (second,) = torch.autograd.grad(value, xt, grad_outputs=three)
    xn = torch.tensor(x, requires_grad=True)
    tt, wt = torch.tensor(t), torch.tensor(w)
    if kind == "sparse_ce":
        native = F.cross_entropy(xn, torch.tensor(labels), weight=wt, ignore_index=-1)
    elif kind == "soft_ce":  # losskit's class weights for soft targets: the row weight sum_c w_c t_c, a weighted mean
        row_w = (tt * wt).sum(1)
        native = -(wt * tt * torch.log_softmax(xn, 1)).sum() / row_w.sum()
    elif kind == "kl":
        native = F.kl_div(F.log_softmax(xn, 1), tt, reduction="batchmean")
    else:  # torchvision's sigmoid_focal_loss formula, gamma 2
        yb = (tt > 0.15).double()
        p = torch.sigmoid(xn)
        ce = F.binary_cross_entropy_with_logits(xn, yb, reduction="none")
        native = ((0.25 * yb + 0.75 * (1 - yb)) * (yb * (1 - p) + (1 - yb) * p) ** 2 * ce).mean()
    (want,) = torch.autograd.grad(3.0 * native, xn)
    np.testing.assert_allclose(first.numpy(), want.numpy(), rtol=1e-12, atol=1e-16)  # (S q - t cancels)
    # (KL's grad kernel takes q from torch's softmax, its forward from the value's exponentials)
    np.testing.assert_allclose(second.numpy(), first.numpy(), rtol=1e-14, atol=1e-17)
    np.testing.assert_array_equal(xt.detach().numpy(), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pos_weight", [None, 2.5])
def test_bce_logits_torch_forms_within_a_few_ulp(dtype, pos_weight):
    # the lerp blend (no pos_weight) and the weighted blend against the formulas in extended precision:
    # value a softplus(-x) + b softplus(x), gradient b sigmoid(x) - a sigmoid(-x), a = w+ y, b = 1 - y
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(scale=4.0, size=600), [0.0, 1e-6, -1e-6, 40.0, -40.0, 80.0, -80.0, 17.0, -17.0]])
    x = np.tile(x, 5).astype(dtype)
    y = np.repeat(np.array([0.0, 1.0, 0.3, 0.5, 0.999]), x.size // 5).astype(dtype)
    xl, yl = x.astype(np.longdouble), y.astype(np.longdouble)  # the reference in extended precision
    a, b = (1.0 if pos_weight is None else pos_weight) * yl, 1.0 - yl
    softplus = lambda v: np.maximum(v, 0) + np.log1p(np.exp(-np.abs(v)))  # noqa: E731
    sig = lambda v: np.where(v >= 0, 1 / (1 + np.exp(-v)), np.exp(v) / (1 + np.exp(v)))  # noqa: E731
    want = a * softplus(-xl) + b * softplus(xl)
    terms = (b * sig(xl), a * sig(-xl))
    kw = {} if pos_weight is None else {"pos_weight": pos_weight}
    got = lk.binary_cross_entropy(torch.tensor(y), torch.tensor(x), from_logits=True, reduction="none", **kw).numpy()
    eps = np.finfo(dtype).eps
    assert (np.abs(got - want) <= 4 * eps * want).all()
    xt = torch.tensor(x, requires_grad=True)
    lk.binary_cross_entropy(torch.tensor(y), xt, from_logits=True, reduction="sum", **kw).backward()
    # the gradient is a difference: its error is measured against the larger of its two terms
    err = np.abs(xt.grad.numpy() - (terms[0] - terms[1])) / np.maximum(terms[0], terms[1])
    assert err.max() <= 4 * eps
    hard = (y == 0) | (y == 1)  # one side only: that side's sigmoid, relative to itself
    g, w = xt.grad.numpy()[hard], (terms[0] - terms[1])[hard]
    assert (np.abs(g - w) <= 4 * eps * np.abs(w)).all()


def test_softplus_pair_while_torch_records():
    """While autograd records ``x`` (torch.compile, a double backward) the pair is formed without a
    ``where`` (relu, and ``-|x|`` as ``x - 2 relu(x)``): the array-API form's values bit for bit
    for finite ``x``, extremes included, and BCE's at infinite logits; its derivatives at 0 to third order (both pieces take one branch
    there: softplus'(0) = 1/2, softplus''(0) = 1/4, softplus'''(0) = 0)."""
    from losskit._array import stable

    x0 = torch.cat([torch.randn(2000, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 30,
                    torch.tensor([0.0, -0.0, 1e-300, -1e-300, 36.7, -36.7, 700.0, -700.0, 1e308, -1e308],
                                 dtype=torch.float64)])
    for dtype in (torch.float64, torch.float32):
        x = x0.to(dtype)
        x = x[torch.isfinite(x)].requires_grad_()  # (+inf: NaN here, (inf, NaN) there; BCE NaN in both)
        got = stable.softplus_pair(x, xp=None)
        want = stable._softplus_from(x, *stable._exp_neg_abs(x, xp=torch), xp=torch)
        for g, w in zip(got, want):
            assert torch.equal(g.detach(), w.detach())

    def derivatives(pair):
        z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        sp, sp_neg = pair(z)
        g, = torch.autograd.grad((sp + 0.3 * sp_neg).sum(), z, create_graph=True)
        h, = torch.autograd.grad(g.sum(), z, create_graph=True)
        t, = torch.autograd.grad(h.sum(), z)
        return float(g), float(h), float(t)

    assert derivatives(lambda z: stable.softplus_pair(z, xp=None)) == pytest.approx((0.35, 0.325, 0.0), rel=1e-15, abs=1e-300)
    inf = torch.tensor([float("inf"), -float("inf"), 0.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    got = lk.binary_cross_entropy(y, inf.clone().requires_grad_(), from_logits=True, reduction="none", validate=False)
    want = lk.binary_cross_entropy(y.numpy(), inf.numpy(), from_logits=True, reduction="none", validate=False)
    np.testing.assert_array_equal(got.detach().numpy(), want)


@pytest.mark.parametrize("name, options, activation", [
    ("dice", {"axis": (0, 2, 3), "squared_pred": True}, None),
    ("generalized_dice", {"w_type": "simple"}, "sigmoid"),
    ("focal_tversky", {"axis": (0, 2, 3), "gamma": 1.5}, "softmax"),
])
def test_class_sums_over_batch_and_pixels_float32(name, options, activation):
    """Per-class statistics summed over the batch and the pixels of an N x C x H x W float32 input
    keep float32 accuracy on torch (torch's one-call sum over (0, 2, 3) accumulates the outer dim
    term by term: a near-constant input, 25000 samples of one pattern, lost ~1.5e-4 of the
    value). Oracle: the NumPy path in float64."""
    rng = np.random.default_rng(5)
    block = rng.uniform(0.05, 0.95, size=(4, 3, 2, 2))
    if activation == "softmax":
        y = np.tile(rng.integers(0, 3, size=(4, 2, 2)), (6250, 1, 1))
        p = np.tile(rng.normal(size=(4, 3, 2, 2)), (6250, 1, 1, 1))
    else:
        y = np.tile((rng.uniform(size=(4, 3, 2, 2)) > 0.5).astype(np.float64), (6250, 1, 1, 1))
        p = np.tile(block if activation is None else rng.normal(size=(4, 3, 2, 2)), (6250, 1, 1, 1))
    opts = dict(options, **({"activation": activation} if activation else {}))
    f = lk.get(name, **opts)
    want, want_grad = f(y, p, reduction="none"), f.grad(y, p, reduction="sum")
    ty = torch.as_tensor(y.astype(np.float32) if y.dtype.kind == "f" else y)
    tp = torch.as_tensor(p.astype(np.float32)).requires_grad_()
    value = f(ty, tp, reduction="none")
    value.sum().backward()
    np.testing.assert_allclose(value.detach().numpy(), want, rtol=3e-6)
    np.testing.assert_allclose(tp.grad.numpy(), want_grad, rtol=0, atol=3e-6 * np.abs(want_grad).max())
