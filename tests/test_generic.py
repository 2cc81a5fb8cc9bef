"""Generic tests: every reference case x every backend x float32/float64.

A new loss gets all of these by adding a Case in tests/refs/<family>.py; no per-loss test
code. Oracles: naive float64 references, central finite differences, torch.autograd and
jax.grad of the value.
"""

import numpy as np
import pytest
from conftest import backend_name, is_backend_array, load_backend, to_backend, to_numpy
from refs import CASES
from refs.spec import rng_for

import losskit as lk

IDS = [c.id for c in CASES]


def _opts(case, mod=None):
    """Options with array-valued ones converted to the backend (lists are accepted too)."""
    return dict(case.options)


def _call(case, mod, y, p, dtype=None, method=None, **kw):
    f = lk.get(case.loss)
    f = f if method is None else getattr(f, method)
    return f(to_backend(mod, y, dtype), to_backend(mod, p, dtype), **_opts(case), **kw)


def _rows(shape):
    return shape[0] if len(shape) else 1


def _tol(dtype, case):
    return (1e-9, 1e-12) if dtype == "float64" else (case.rtol32, 1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_matches_reference(case, xp, dtype_name):
    y, p = case.make(rng_for(case))
    ref = case.reference(y, p, **case.options)
    rtol, atol = _tol(dtype_name, case)
    out = _call(case, xp, y, p, dtype_name, reduction="none")
    assert is_backend_array(xp, out)
    assert tuple(out.shape) == ref.shape
    np.testing.assert_allclose(to_numpy(out), ref, rtol=rtol, atol=atol)
    mean = _call(case, xp, y, p, dtype_name)
    assert tuple(mean.shape) == ()
    np.testing.assert_allclose(float(to_numpy(mean)), ref.mean(), rtol=rtol, atol=atol)
    total = _call(case, xp, y, p, dtype_name, reduction="sum")
    np.testing.assert_allclose(float(to_numpy(total)), ref.sum(), rtol=rtol, atol=atol * ref.size)
    # value_and_grad: one pass, the same numbers as the value and .grad calls
    v, g = _call(case, xp, y, p, dtype_name, method="value_and_grad")
    np.testing.assert_array_equal(to_numpy(v), to_numpy(mean))
    np.testing.assert_array_equal(to_numpy(g), to_numpy(_call(case, xp, y, p, dtype_name, method="grad")))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_weights_and_reductions(case):
    """Weighted mean is sum(w l) / sum(w); row weights broadcast over the sample's other axes."""
    y, p = case.make(rng_for(case))
    ref = case.reference(y, p, **case.options)
    w = rng_for(case, 1).uniform(0.1, 2.0, size=_rows(ref.shape))
    wb = w.reshape((-1,) + (1,) * (ref.ndim - 1)) if ref.ndim else w[0]
    out = _call(case, np, y, p, sample_weight=w if ref.ndim else float(w[0]))
    expect = (wb * ref).sum() / np.broadcast_to(wb, ref.shape).sum()
    np.testing.assert_allclose(out, expect, rtol=1e-10)
    sob = _call(case, np, y, p, sample_weight=w if ref.ndim else float(w[0]), reduction="sum_over_batch_size")
    np.testing.assert_allclose(sob, (wb * ref).sum() / ref.size, rtol=1e-10)


def _fd_grad(f, p, step):
    g = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        h = step * max(1.0, abs(p[i]))
        pp, pm = p.copy(), p.copy()
        pp[i] += h
        pm[i] -= h
        g[i] = (f(pp) - f(pm)) / (2 * h)
    return g


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_derivatives_match_finite_differences(case):
    y, p = case.make(rng_for(case))
    ref = case.reference(y, p, **case.options)
    w = rng_for(case, 2).uniform(0.5, 1.5, size=_rows(ref.shape))
    kw = {"sample_weight": w if ref.ndim else None}
    f = lk.get(case.loss, **case.options)
    grad, hess = f.grad_hess(y, p, **kw)
    assert grad.shape == p.shape and hess.shape == p.shape
    fd = _fd_grad(lambda q: float(f(y, q, **kw)), p, case.fd_step)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(f.grad(y, p, **kw), grad, rtol=1e-14, atol=1e-300)
    if case.twice_differentiable:
        hfd = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            h = case.fd_step * max(1.0, abs(p[i]))
            pp, pm = p.copy(), p.copy()
            pp[i] += h
            pm[i] -= h
            hfd[i] = (f.grad(y, pp, **kw)[i] - f.grad(y, pm, **kw)[i]) / (2 * h)
        np.testing.assert_allclose(hess, hfd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_derivatives_match_torch_autograd(case):
    torch = load_backend("torch")
    y, p = case.make(rng_for(case))
    ref = case.reference(y, p, **case.options)
    w = rng_for(case, 3).uniform(0.5, 1.5, size=_rows(ref.shape))
    tw = torch.from_numpy(w) if ref.ndim else None
    ty = to_backend(torch, y)
    tp = to_backend(torch, p).requires_grad_(True)
    f = lk.get(case.loss, **case.options)
    value = f(ty, tp, sample_weight=tw)
    value.backward()
    grad, hess = f.grad_hess(ty, tp.detach(), sample_weight=tw)
    np.testing.assert_allclose(to_numpy(grad), to_numpy(tp.grad), rtol=1e-6, atol=1e-10)
    full = torch.autograd.functional.hessian(lambda q: f(ty, q, sample_weight=tw), tp.detach())
    diag = torch.diagonal(full.reshape(p.size, p.size)).reshape(p.shape)
    np.testing.assert_allclose(to_numpy(hess), to_numpy(diag), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_grad_and_jit(case):
    """Under one jax.jit: the value equals the NumPy result, and .grad_hess equals jax.grad of
    the value and the diagonal of its Hessian (forward-over-reverse)."""
    load_backend("jax")
    import jax

    y, p = case.make(rng_for(case))
    f = lk.get(case.loss, **case.options)
    eye = np.eye(p.size).reshape((p.size,) + p.shape)

    @jax.jit
    def everything(a, b, basis):
        value = f(a, b)
        auto = jax.grad(lambda q: f(a, q))(b)
        g, h = f.grad_hess(a, b)
        hvp = jax.vmap(lambda v: jax.jvp(jax.grad(lambda q: f(a, q)), (b,), (v,))[1])(basis)
        return value, auto, g, h, jax.numpy.diagonal(hvp.reshape(p.size, p.size)).reshape(p.shape)

    value, auto, g, h, diag = everything(jax.numpy.asarray(y), jax.numpy.asarray(p), jax.numpy.asarray(eye))
    np.testing.assert_allclose(np.asarray(value), f(y, p), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.asarray(g), np.asarray(auto), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(np.asarray(h), np.asarray(diag), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_jit_with_labels_closed_over(case):
    """The usual optax step: y_true a concrete array closed over, y_pred traced. Validation is
    skipped while a trace is active (it used to read the closed-over labels and crash with a
    TracerBoolConversionError); value and gradient equal the eager ones."""
    load_backend("jax")
    import jax

    y, p = case.make(rng_for(case))
    f = lk.get(case.loss, **case.options)
    jy = jax.numpy.asarray(y)
    value, grad = jax.jit(jax.value_and_grad(lambda q: f(jy, q)))(jax.numpy.asarray(p))
    np.testing.assert_allclose(np.asarray(value), f(y, p), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.asarray(grad), f.grad(y, p), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("case", [c for c in CASES if c.extremes], ids=[c.id for c in CASES if c.extremes])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_finite_at_extremes(case, backend):
    mod = load_backend(backend)
    f = lk.get(case.loss, **case.options)
    for y, p in case.extremes():
        for dtype in ("float64",) if np.abs(p).max() > 1e30 else ("float64", "float32"):
            ty, tp = to_backend(mod, y, dtype), to_backend(mod, p, dtype)
            for out in (f(ty, tp, reduction="none"), *f.grad_hess(ty, tp)):
                assert np.all(np.isfinite(to_numpy(out))), (y, p, dtype, out)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_inputs_not_modified(case):
    y, p = case.make(rng_for(case))
    y0, p0 = y.copy(), p.copy()
    f = lk.get(case.loss, **case.options)
    f(y, p)
    f.grad_hess(y, p)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(p, p0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_precision_is_upcast(case, half):
    torch = load_backend("torch")
    y, p = case.make(rng_for(case))
    hdt = getattr(torch, half)
    ty = torch.from_numpy(y) if y.dtype.kind != "f" else torch.from_numpy(y).to(hdt)
    tp = torch.from_numpy(p).to(hdt)
    out = lk.get(case.loss, **case.options)(ty, tp, reduction="none")
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    ref = case.reference(to_numpy(ty.float()).astype(np.float64) if y.dtype.kind == "f" else y,
                         to_numpy(tp.float()).astype(np.float64), **case.options)
    np.testing.assert_allclose(to_numpy(out), ref, rtol=1e-4, atol=1e-5)


def test_every_registered_loss_has_a_reference_case():
    covered = {c.loss for c in CASES}
    assert set(lk.available(aliases=False)) <= covered, set(lk.available(aliases=False)) - covered


def test_backend_names_cover_the_fixture():
    assert {backend_name(load_backend(b)) for b in ("numpy", "torch")} == {"numpy", "torch"}
