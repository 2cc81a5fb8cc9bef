"""Accuracy against a 50-digit mpmath reference on adversarial inputs.

Naive forms lose all relative accuracy here: log(1 + e^-40) rounds to 0, log(t/q) with
t/q near 1 cancels, 1 - p loses p's low digits. losskit's per-element float64 values must
be within 4 ulp of the exact value of the loss at the given float64 inputs, on NumPy and on
torch and JAX float64 arrays alike (their kernels are the same array-API code, but each
library's log1p, exp and reductions are its own).
"""

import mpmath
import numpy as np
import pytest
from conftest import load_backend, to_numpy

import losskit as lk

mpmath.mp.dps = 60
MAX_ULP = 4


def ulp_error(got, exact):
    got = np.asarray(got, dtype=np.float64)
    exact_f = np.array([float(e) for e in np.ravel(exact)]).reshape(got.shape)
    err = np.array([abs(mpmath.mpf(float(g)) - e) for g, e in zip(np.ravel(got), np.ravel(exact))])
    return err.reshape(got.shape) / np.spacing(np.abs(exact_f))


@pytest.fixture(params=["numpy", "torch", "jax"])
def backend(request):
    return load_backend(request.param)


def on(backend, loss, *arrays, **options):
    """``loss(*arrays, **options)`` with the arrays as float64 (or int64 labels) of ``backend``."""
    return to_numpy(loss(*(backend.asarray(a) for a in arrays), **options))


def _mp(x):
    return mpmath.mpf(float(x))


def _softplus(x):
    return mpmath.log1p(mpmath.exp(x))


# --- binary cross-entropy ------------------------------------------------------------
LOGITS = np.array([1e4, -1e4, 40.0, -40.0, 700.0, -700.0, 36.5, -36.5, 20.0, 1e-8, -1e-8, 0.0, 3.0, -3.0])


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_bce_from_logits_within_4_ulp(y, backend):
    yy = np.full_like(LOGITS, y)
    got = on(backend, lk.binary_cross_entropy, yy, LOGITS, from_logits=True, reduction="none")
    exact = [_mp(y) * _softplus(-_mp(x)) + (1 - _mp(y)) * _softplus(_mp(x)) for x in LOGITS]
    assert ulp_error(got, exact).max() <= MAX_ULP


# 1e-40 is just above the float64 probability floor e^-100 (documented clamp).
PROBS = np.array([1e-15, 1 - 1e-15, 1e-40, 0.5, 1e-8, 1 - 1e-8, 0.999, 0.001, np.nextafter(1.0, 0.0)])


@pytest.mark.parametrize("y", [0.0, 1.0, 0.25])
def test_bce_from_probabilities_within_4_ulp(y, backend):
    yy = np.full_like(PROBS, y)
    got = on(backend, lk.binary_cross_entropy, yy, PROBS, reduction="none")
    exact = [-(_mp(y) * mpmath.log(_mp(p)) + (1 - _mp(y)) * mpmath.log1p(-_mp(p))) for p in PROBS]
    assert ulp_error(got, exact).max() <= MAX_ULP


# --- categorical cross-entropy ---------------------------------------------------------
ROWS = np.array([
    [40.0, 0.0, 0.0],
    [1e4, -1e4, 0.0],
    [0.0, 1e-8, -1e-8],
    [-1e4, 1e4, 1e4],
    [30.0, 29.0, -5.0],
    [700.0, 0.0, 690.0],
])


def _lse(row):
    return mpmath.log(mpmath.fsum(mpmath.exp(_mp(v)) for v in row))


# the labels at a row maximum (tied in row 3: the tiny remainder after the leading 1), then below it
@pytest.mark.parametrize("labels", [[0, 0, 1, 1, 0, 0], [1, 2, 0, 0, 2, 2]])
def test_sparse_cce_from_logits_within_4_ulp(backend, labels):
    labels = np.array(labels)
    got = on(backend, lk.sparse_categorical_cross_entropy, labels, ROWS, from_logits=True, reduction="none")
    exact = [_lse(r) - _mp(r[k]) for r, k in zip(ROWS, labels)]
    assert ulp_error(got, exact).max() <= MAX_ULP


def test_cce_from_logits_with_soft_targets_within_4_ulp(backend):
    targets = np.array([[1.0, 0, 0], [0.75, 0.25, 0], [0, 0.5, 0.5], [0, 0.5, 0.5], [0.5, 0.5, 0], [1.0, 0, 0]])
    got = on(backend, lk.categorical_cross_entropy, targets, ROWS, from_logits=True, reduction="none")
    exact = [mpmath.fsum(_mp(t) * (_lse(r) - _mp(x)) for t, x in zip(tr, r)) for tr, r in zip(targets, ROWS)]
    assert ulp_error(got, exact).max() <= MAX_ULP


def test_cce_from_probabilities_near_one_within_4_ulp(backend):
    p = np.array([[1 - 2.0**-40, 2.0**-41, 2.0**-41], [1 - 2.0**-52, 2.0**-53, 2.0**-53], [0.5, 0.25, 0.25]])
    y = np.eye(3)[[0, 0, 1]]
    got = on(backend, lk.categorical_cross_entropy, y, p, reduction="none")
    exact = [-mpmath.log(_mp(p[i, k])) for i, k in enumerate([0, 0, 1])]
    assert ulp_error(got, exact).max() <= MAX_ULP


# --- Kullback-Leibler ---------------------------------------------------------------------
def _dyadic_pairs():
    """Nearly equal distributions that are EXACTLY normalised in float64 (dyadic entries)."""
    base = np.array([0.5, 0.25, 0.125, 0.125])
    rows_t, rows_q = [], []
    for k in (10, 20, 30, 40):
        d = 2.0**-k
        rows_t.append(base + np.array([d, -d, d, -d]))
        rows_q.append(base)
        rows_t.append(base + np.array([d, d, -d, -d]))
        rows_q.append(base + np.array([-d, 0, 0, d]))
    return np.array(rows_t), np.array(rows_q)


def _kl_exact(t, q):
    return mpmath.fsum(_mp(a) * mpmath.log(_mp(a) / _mp(b)) for a, b in zip(t, q) if a != 0)


def test_kl_nearly_equal_distributions_within_4_ulp(backend):
    t, q = _dyadic_pairs()
    assert np.all(t.sum(axis=1) == 1.0) and np.all(q.sum(axis=1) == 1.0)
    got = on(backend, lk.kl_divergence, t, q, reduction="none")
    exact = [_kl_exact(a, b) for a, b in zip(t, q)]
    assert ulp_error(got, exact).max() <= MAX_ULP


def test_kl_one_hot_targets_within_4_ulp(backend):
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    q = np.array([[0.8, 0.1, 0.1], [0.25, 0.5, 0.25], [2.0**-30, 0.5, 0.5 - 2.0**-30]])
    got = on(backend, lk.kl_divergence, t, q, reduction="none")
    exact = [_kl_exact(a, b) for a, b in zip(t, q)]
    assert ulp_error(got, exact).max() <= MAX_ULP


# --- log-cosh ---------------------------------------------------------------------------
# Residuals around the switch at |d| = 1, tiny ones (log cosh d ~ d^2/2, where |d| + log1p(e^-2|d|)
# - log 2 cancels every digit) and large ones (cosh overflows past |d| ~ 710).
RESIDUALS = np.array([1e-20, -1e-8, 0.3, -0.999, 1.0, -1.0, np.nextafter(1.0, 2.0), 1.5, -7.0, 40.0, 800.0, -1e300])


def test_log_cosh_within_4_ulp(backend):
    got = on(backend, lk.log_cosh, np.zeros_like(RESIDUALS), RESIDUALS, reduction="none")
    with mpmath.workdps(400):  # cosh(1e-20) - 1 needs 40 more digits than 1
        exact = [+mpmath.log(mpmath.cosh(_mp(d))) for d in RESIDUALS]
    assert ulp_error(got, exact).max() <= MAX_ULP


@pytest.mark.parametrize("delta", [1.0, 0.1])
def test_pseudo_huber_within_4_ulp(backend, delta):
    """``delta^2 (sqrt(1 + (d/delta)^2) - 1)``: tiny residuals (the subtraction would cancel every
    digit) and huge ones (the square would overflow)."""
    d = np.array([1e-20, -1e-8, 0.5, 1.0, -3.0, 1e10, -1e200])
    got = on(backend, lk.pseudo_huber, np.zeros_like(d), d, delta=delta, reduction="none")
    with mpmath.workdps(500):
        exact = [+(_mp(delta) ** 2 * (mpmath.sqrt(1 + (_mp(x) / _mp(delta)) ** 2) - 1)) for x in d]
    assert ulp_error(got, exact).max() <= MAX_ULP


# --- the course's failing inputs (COURSE.md) ----------------------------------------------
def test_course_failing_inputs_are_finite_and_correct():
    bce = lk.binary_crossentropy(np.array([1, 0, 1, 0.0]), np.array([1, 0, 0.9, 0.1]))
    assert bce == pytest.approx(-np.log(0.9) / 2, rel=1e-15)
    cce = lk.categorical_crossentropy(np.array([[1.0, 0, 0]]), np.array([[0.9, 0.1, 0.0]]))
    assert cce == pytest.approx(-np.log(0.9), rel=1e-15)
    kl = lk.kld(np.array([[1.0, 0, 0]]), np.array([[0.8, 0.1, 0.1]]))
    assert kl == pytest.approx(-np.log(0.8), rel=1e-15)
    assert lk.hinge(np.array([0, 1]), np.array([-2.0, 2.0])) == 0.0
    with pytest.raises(lk.LossInputError, match=r"\(3, 1\).*\(3,\)"):
        lk.mse(np.zeros((3, 1)), np.zeros(3))


def test_naive_course_formulas_really_fail_on_those_inputs():
    """The oracle above is meaningful: the course's one-liners give NaN/wrong there."""
    with np.errstate(all="ignore"):
        y, p = np.array([1, 0, 1, 0.0]), np.array([1, 0, 0.9, 0.1])
        assert np.isnan(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        y, p = np.array([1.0, 0, 0]), np.array([0.9, 0.1, 0.0])
        assert np.isnan(-np.sum(y * np.log(p)))
        y, p = np.array([1.0, 0, 0]), np.array([0.8, 0.1, 0.1])
        assert np.isnan(-np.sum(y * np.log(p / y)))
        assert np.mean(np.maximum(0, 1 - np.array([0, 1]) * np.array([-2.0, 2.0]))) == 0.5


def test_autodiff_of_logit_losses_is_exact_at_zero():
    """softplus/sigmoid avoid abs(): torch's second derivative at x = 0 is 1/4, not 0."""
    torch = pytest.importorskip("torch")
    x = torch.zeros(3, dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64)
    h = torch.autograd.functional.hessian(lambda z: lk.binary_cross_entropy(y, z, from_logits=True, reduction="sum"), x)
    np.testing.assert_allclose(torch.diagonal(h).numpy(), [0.25, 0.25, 0.25], rtol=1e-15)
    _, hess = lk.binary_cross_entropy.grad_hess(y, x, from_logits=True, reduction="sum")
    np.testing.assert_allclose(hess.numpy(), [0.25, 0.25, 0.25], rtol=1e-15)


# --- Lovasz weights over many pixels ----------------------------------------------------------
def test_lovasz_hinge_gradient_over_many_pixels_float32(backend):
    """The Lovasz weights are increments of about 1/n between Jaccard values near 1; as a
    difference of those values a float32 gradient over 2e5 pixels lost ~1e-2 of its largest entry.
    Scores on a 1/1024 grid keep every error ``1 - s y`` exact in float32, so float32 and float64
    sort alike. Oracle: Berman's algorithm (``refs``) in float64."""
    from refs.segmentation import _lovasz_grad

    rng = np.random.default_rng(11)
    n = 200_000
    labels = (rng.uniform(size=n) < 0.3).astype(np.float64)
    scores = np.round(rng.normal(size=n) * 1024.0) / 1024.0
    signs = 2.0 * labels - 1.0
    errors = 1.0 - scores * signs
    order = np.argsort(-errors, kind="stable")
    w = np.empty(n)
    w[order] = _lovasz_grad(labels[order])
    want = np.where(errors > 0, -signs * w, 0.0)
    y32, p32 = backend.asarray(labels.astype(np.float32)), backend.asarray(scores.astype(np.float32))
    got = to_numpy(lk.lovasz_hinge.grad(y32, p32, reduction="sum")).astype(np.float64)
    assert np.abs(got - want).max() <= 2e-6 * np.abs(want).max()
