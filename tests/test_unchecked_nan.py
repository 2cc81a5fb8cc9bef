"""A NaN in ``y_pred`` gives a NaN loss where value checks do not run: ``validate=False``, and
``jax.jit`` (tracing skips them). A finite loss would hide a diverged model; the peers agree
(``relu``, ``maximum`` and ``clip`` of NaN are NaN in PyTorch, optax, Keras and scikit-learn).

One case per loss (the first listed in ``tests/refs``, as ``tests/test_host_reads.py`` picks
them) with a NaN in ``y_pred``'s first element, on every route: NumPy's plain kernels, torch's
kernels and the host route (NumPy on small CPU tensors), each with and without ``y_pred``
requiring grad (the closed-form autograd node), and ``jax.jit`` with ``y_true`` closed over.
Large NumPy inputs take the engine, whose fused kernels hand a NaN box to the reference kernels.
"""

import math

import numpy as np
import pytest
from conftest import load_backend
from refs import CASES
from refs.spec import rng_for

import losskit as lk
from losskit import engine

FIRST = list({c.loss: c for c in reversed(CASES)}.values())  # one case per loss, the first listed
IDS = [c.id for c in FIRST]


def _with_nan(case):
    """The case's inputs with a NaN as y_pred's first element (float64)."""
    y, p = case.make(rng_for(case))
    p = np.array(p, copy=True)
    if p.ndim == 0 or p.size == 0 or p.dtype.kind != "f":
        pytest.skip("y_pred holds no float entry to set to NaN")
    p = p.astype(np.float64)
    p.flat[0] = np.nan
    return y, p


def _is_nan(v):
    return math.isnan(float(v))


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_numpy(case):
    y, p = _with_nan(case)
    with np.errstate(invalid="ignore"):
        assert _is_nan(lk.get(case.loss, **case.options)(y, p, validate=False))


@pytest.mark.parametrize("host", [False, pytest.param(True, marks=pytest.mark.host_route)], ids=["kernels", "host"])
@pytest.mark.parametrize("requires_grad", [False, True], ids=["value", "requires_grad"])
@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_torch(case, requires_grad, host):
    torch = load_backend("torch")
    y, p = _with_nan(case)
    x = torch.tensor(p, requires_grad=requires_grad)
    with np.errstate(invalid="ignore"):
        v = lk.get(case.loss, **case.options)(torch.as_tensor(y), x, validate=False)
        assert _is_nan(v.detach())
        if requires_grad:
            v.backward()  # the closed-form backward runs (its value at the NaN is not asserted)
            assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_jax_jit(case):
    jnp = load_backend("jax")
    import jax

    y, p = _with_nan(case)
    f = lk.get(case.loss, **case.options)
    yj = jnp.asarray(y)
    assert _is_nan(jax.jit(lambda z: f(yj, z, validate=False))(jnp.asarray(p)))
    assert _is_nan(jax.jit(lambda z: f(yj, z))(jnp.asarray(p)))  # validate=True: skipped while tracing


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_numpy_engine(name):
    """Past the engine's threshold (boxes, fused kernels for hinge): one NaN among 2^20 scores."""
    rng = np.random.default_rng(7)
    n = 1 << 20
    y, p = rng.choice([-1.0, 1.0], size=n), rng.normal(size=n)
    p[n // 3] = np.nan
    f = lk.get(name)
    with np.errstate(invalid="ignore"):
        assert _is_nan(f(y, p, validate=False))
        assert engine.last_route().startswith("chunked")
        assert _is_nan(f(y, p, validate=False, reduction="sum"))
        assert np.isnan(f(y, p, validate=False, reduction="none")[n // 3])
    assert not _is_nan(f(y, np.nan_to_num(p), validate=False))


@pytest.mark.parametrize("name, options", [
    ("sparse_categorical_cross_entropy", {}),
    ("sparse_categorical_focal_cross_entropy", {}),
    ("generalized_cross_entropy", {}),
    ("generalized_cross_entropy", {"renormalize": True}),
])
@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_nan_beside_the_true_class(name, options, backend):
    """Probability losses that read only ``p_y`` still see a NaN elsewhere in its row (that row
    alone: the others keep their values)."""
    y = np.array([0, 1, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    f = lk.get(name, **options)
    xp = load_backend(backend)
    if backend == "jax":
        import jax

        run = jax.jit(lambda z: f(xp.asarray(y), z, reduction="none"))
    else:
        def run(z):
            return f(xp.asarray(y), z, validate=False, reduction="none")
    want = np.asarray(run(xp.asarray(p)))
    p[1, 2] = np.nan
    got = np.asarray(run(xp.asarray(p)))
    assert np.isnan(got[1])
    np.testing.assert_array_equal(got[[0, 2]], want[[0, 2]])


def test_msle_keras_floor_keeps_nan():
    """``epsilon`` floors y_pred as Keras's ``maximum`` does: a NaN stays NaN."""
    p = np.array([0.5, np.nan, -3.0])
    v = lk.mean_squared_logarithmic_error(np.ones(3), p, epsilon=1e-7, validate=False, reduction="none")
    assert np.isnan(v[1]) and np.isfinite(v[[0, 2]]).all()


def test_lovasz_softmax_ignored_pixels_stay_out():
    """As for the hinge form below: a NaN logit at a pixel ``ignore_index`` leaves out is not
    read; at a kept pixel it gives NaN."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, (1, 2, 3))
    y[0, 0, 1] = 255
    p = rng.normal(size=(1, 3, 2, 3))
    f = lk.get("lovasz_softmax", activation="softmax", ignore_index=255)
    want = float(f(y, p))
    p[0, :, 0, 1] = np.nan
    assert float(f(y, p, validate=False)) == want
    p[0, 1, 1, 2] = np.nan
    assert _is_nan(f(y, p, validate=False))


def test_lovasz_hinge_ignored_entries_stay_out():
    """A NaN at an entry ``ignore_index`` leaves out is not read (as the reference code drops
    those entries); at a kept entry it gives NaN."""
    y = np.array([1.0, 255.0, 0.0, 1.0])
    p = np.array([0.5, np.nan, -1.0, 2.0])
    f = lk.get("lovasz_hinge", ignore_index=255)
    want = float(f(y[[0, 2, 3]], p[[0, 2, 3]]))
    assert float(f(y, p, validate=False)) == want
    p[1], p[2] = 0.0, np.nan
    assert _is_nan(f(y, p, validate=False))


@pytest.mark.parametrize("convention", ["crammer_singer", "keras"])
def test_categorical_hinge_single_class(convention):
    """With one class there is no rival (Crammer-Singer: loss 0 for any finite score), yet a NaN
    score is still NaN, on NumPy and torch."""
    torch = load_backend("torch")
    y = np.ones((3, 1))
    s = np.array([[0.5], [np.nan], [-2.0]])
    for yy, ss in ((y, s), (torch.tensor(y), torch.tensor(s))):
        v = np.asarray(lk.categorical_hinge(yy, ss, convention=convention, reduction="none", validate=False))
        assert np.isnan(v[1]) and np.isfinite(v[[0, 2]]).all()
        if convention == "crammer_singer":
            assert (v[[0, 2]] == 0.0).all()
