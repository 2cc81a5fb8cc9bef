"""The chunked, threaded NumPy engine gives the plain path's results, for every registered loss.

Every reference case is grown along its first sample axis (several independent draws of its
``make``) and evaluated three ways: plain (engine off), chunked on one thread and chunked on
several threads, with a tiny ``chunk`` so each call spans many boxes. Values, gradients and
Hessians must agree to 1e-6 relative in float32 and 1e-12 in float64, and the thread count
must not change a single bit. Memory is checked with tracemalloc (NumPy reports its buffers to
it); nothing here measures time.
"""

import math
import tracemalloc

import numpy as np
import pytest
from refs import CASES
from refs.spec import rng_for

import losskit as lk
import losskit.engine as engine
from losskit._array.xp import namespace
from losskit.engine.pool import for_each
from losskit.engine.tiling import Tiling, reduced_axes

IDS = [c.id for c in CASES]
REPEATS = 8  # draws of a case's make() stacked along its first sample axis
TINY = {"threshold": 1, "chunk": 10, "compiled": False}  # the array-API kernels: compiled ones in test_fused


def _record(case):
    return lk.get(case.loss).record


def _reduced(case, y, p):
    """The loss's reduced axes for these inputs (some records read them from prepared options)."""
    rec = _record(case)
    xp = namespace(y, p)
    return list(reduced_axes(rec, xp, y, p, {**rec.options, **case.options}))


def _grow(case, dtype):
    """Inputs REPEATS times larger: draws of make() joined along y_pred's first free axis.

    Returns ``(y_true, y_pred, options, per_sample_options)``: array options with one entry per
    element or per row of y_pred (a per-element variance) are repeated the same way; the
    engine leaves such calls to the plain path (it cannot know how to cut an option)."""
    draws = [case.make(rng_for(case, 100 + k)) for k in range(REPEATS)]
    y0, p0 = draws[0]
    reduced = _reduced(case, y0, p0)
    free = [a for a in range(p0.ndim) if a not in reduced]
    # overlap losses: grow the batch axis even when it is summed (a class axis must keep its size)
    ax = 0 if (not free or 0 not in reduced or _record(case).structure == "overlap") else free[0]
    p = np.concatenate([d[1] for d in draws], axis=ax)
    y = None
    if y0 is not None:
        # y_true has y_pred's axes, or y_pred's less the reduced ones (integer labels)
        yax = ax if y0.ndim == p0.ndim else ax - sum(1 for r in reduced if r < ax)
        y = np.concatenate([d[0] for d in draws], axis=yax)
    opts, per_sample = dict(case.options), False
    for k, v in case.options.items():
        shape = np.shape(v) if isinstance(v, (list, tuple, np.ndarray)) else None
        if shape and ax == 0 and (shape == p0.shape or (p0.ndim >= 2 and shape == p0.shape[:-1])):
            opts[k], per_sample = np.concatenate([np.asarray(v)] * REPEATS, axis=0), True

    def cast(a):
        return a if a is None or a.dtype.kind != "f" else a.astype(dtype)

    return cast(y), cast(p), opts, per_sample


def _tol(dtype):
    return {"rtol": 1e-6, "atol": 1e-30} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-300}


def _plain(fn, *args, **kw):
    with engine.configure(enabled=False):
        return fn(*args, **kw)


def _chunked(fn, *args, threads, **kw):
    with engine.configure(threads=threads, **TINY):
        out = fn(*args, **kw)
        return out, engine.last_route()


def _expect_route(case, route, reduced, ndim, order, per_sample_options=False):
    """Where the engine must have sent the call (so no loss silently falls back)."""
    rec = _record(case)
    if per_sample_options or not rec.streamable:
        want = "plain"
    elif len(reduced) == ndim:  # one global value: additive statistics (derivatives: a second pass)
        want = "stats" if rec.stats is not None and (order == 0 or rec.stats_grad) else "plain"
    elif rec.structure not in ("elementwise", "distribution") and 0 in reduced:
        want = "plain"  # only the leading axis may be cut, and it is summed
    else:
        want = "chunked"
    assert route.startswith(want), route


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_chunked_and_threaded_equal_plain(case, dtype):
    y, p, opts, per_sample = _grow(case, dtype)
    f = lk.get(case.loss, **opts)
    reduced = _reduced(case, y, p)
    free = [a for a in range(p.ndim) if a not in reduced]
    weights = [None]
    if free:  # one weight per leading index of the per-sample values
        weights.append(np.random.default_rng(7).uniform(0.2, 2.0, size=p.shape[free[0]]))
    tol = _tol(dtype)
    for sw in weights:
        reds = ("mean", "sum", "none") if sw is None else ("mean", "sum_over_batch_size")
        for red in reds:
            kw = {"reduction": red, "sample_weight": sw}
            want = _plain(f, y, p, **kw)
            want_g, want_h = _plain(f.grad_hess, y, p, **kw)
            pv, pg = _plain(f.value_and_grad, y, p, **kw)
            np.testing.assert_array_equal(pv, want)
            np.testing.assert_array_equal(pg, want_g)
            got = {}
            for threads in (1, 3):
                v, route = _chunked(f, y, p, threads=threads, **kw)
                _expect_route(case, route, reduced, p.ndim, 0, per_sample)
                (g, h), route = _chunked(f.grad_hess, y, p, threads=threads, **kw)
                _expect_route(case, route, reduced, p.ndim, 2, per_sample)
                g1, _ = _chunked(f.grad, y, p, threads=threads, **kw)
                np.testing.assert_array_equal(g1, g)
                (vv, gv), _ = _chunked(f.value_and_grad, y, p, threads=threads, **kw)  # one pass
                np.testing.assert_allclose(vv, v, **tol)
                np.testing.assert_array_equal(gv, g)
                assert np.asarray(v).shape == np.asarray(want).shape
                assert np.asarray(v).dtype == np.asarray(want).dtype and g.dtype == want_g.dtype
                np.testing.assert_allclose(v, want, **tol, err_msg=f"value {red} sw={sw is not None}")
                dtol = tol
                if route.startswith("stats") and dtype == "float32":
                    # a global loss's totals are float32 sums of float32 box totals, one rounding
                    # per box; derivatives like R * b - a cancel, so tiny entries move by more
                    # than 1e-6 of themselves: compare relative to the largest entry instead
                    dtol = {"rtol": 1e-6, "atol": 1e-6 * float(np.max(np.abs(want_g)))}
                np.testing.assert_allclose(g, want_g, **dtol, err_msg=f"grad {red} sw={sw is not None}")
                if dtol is not tol:
                    dtol = {"rtol": 1e-6, "atol": 1e-6 * float(np.max(np.abs(want_h)))}
                np.testing.assert_allclose(h, want_h, **dtol, err_msg=f"hess {red} sw={sw is not None}")
                got[threads] = (v, g, h)
            for a, b in zip(got[1], got[3]):  # the thread count changes nothing, not even a bit
                np.testing.assert_array_equal(a, b)


def test_boxes_tile_every_layout():
    """Boxes cover each element exactly once, keep reduced axes whole and stay near ``chunk``."""
    for shape, reduced, chunk in [((1000,), (), 64), ((7, 9, 11), (), 20), ((5, 3, 40), (1,), 50),
                                  ((3, 200), (0,), 64), ((2, 3, 4, 5), (1, 3), 7), ((4, 300), (1,), 64)]:
        t = Tiling(shape, [a for a in range(len(shape)) if a not in reduced], chunk)
        seen = np.zeros(shape, dtype=int)
        for i in range(t.count):
            sl = t.box(i)
            for a in reduced:
                assert sl[a] == slice(None)
            seen[sl] += 1
            assert seen[sl].size <= max(chunk, int(np.prod([shape[a] for a in reduced]))), (shape, sl)
        assert (seen == 1).all(), (shape, reduced)


def test_bad_values_raise_the_plain_paths_error():
    """A NaN in one box re-runs the whole call on the plain path: same exception, same message."""
    rng = np.random.default_rng(0)
    y, p = rng.uniform(size=5000), rng.uniform(size=5000)
    p[3333] = np.nan
    p[4000] = np.inf
    with pytest.raises(lk.LossInputError) as plain:
        _plain(lk.binary_cross_entropy, y, p)
    for threads in (1, 2):
        with engine.configure(threads=threads, threshold=1, chunk=256), pytest.raises(lk.LossInputError) as chunked:
            lk.binary_cross_entropy(y, p)
        assert str(chunked.value) == str(plain.value)
    labels = rng.integers(0, 10, size=3000)
    labels[2500] = 10
    logits = rng.normal(size=(3000, 10))
    with pytest.raises(lk.LossInputError) as plain:
        _plain(lk.sparse_categorical_cross_entropy, labels, logits, from_logits=True)
    with engine.configure(threads=2, threshold=1, chunk=256), pytest.raises(lk.LossInputError) as chunked:
        lk.sparse_categorical_cross_entropy(labels, logits, from_logits=True)
    assert str(chunked.value) == str(plain.value)


def test_shapes_that_need_broadcasting_are_left_to_the_plain_path():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=(400, 1)), rng.normal(size=(400, 3))
    with engine.configure(threshold=1, chunk=64), pytest.raises(lk.LossInputError):
        lk.mean_squared_error(y, p)
    assert engine.last_route().startswith("plain")
    with engine.configure(threshold=1, chunk=64), pytest.raises(lk.LossInputError):
        lk.mean_squared_error(p, p, sample_weight=np.ones(3))
    assert engine.last_route().startswith("plain")


def test_full_shape_and_scalar_weights():
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=(300, 7)), rng.normal(size=(300, 7))
    for sw in (rng.uniform(size=(300, 7)), rng.uniform(size=(1, 7)), 2.5, np.zeros(300)):
        for red in ("mean", "sum", "none", "sum_over_batch_size"):
            want = _plain(lk.mean_squared_error.grad_hess, y, p, sample_weight=sw, reduction=red)
            (g, h), route = _chunked(lk.mean_squared_error.grad_hess, y, p, threads=2, sample_weight=sw, reduction=red)
            assert route.startswith("chunked")
            np.testing.assert_allclose(g, want[0], rtol=1e-13, atol=0)
            np.testing.assert_allclose(h, want[1], rtol=1e-13, atol=0)
            v, _ = _chunked(lk.mean_squared_error, y, p, threads=2, sample_weight=sw, reduction=red)
            np.testing.assert_allclose(v, _plain(lk.mean_squared_error, y, p, sample_weight=sw, reduction=red),
                                       rtol=1e-13, atol=0)


def test_other_namespaces_and_small_inputs_skip_the_engine():
    torch = pytest.importorskip("torch")
    ns = namespace(torch.zeros(3))
    assert not engine.accepts(ns, torch.zeros(10**6))
    with engine.configure(threshold=1000):
        assert not engine.accepts(np, np.zeros(999))
        assert engine.accepts(np, np.zeros(1000))
    with engine.configure(enabled=False):
        assert not engine.accepts(np, np.zeros(10**6))


def test_configure_validates_and_restores():
    before = engine.settings()
    with engine.configure(threads=3, chunk=1000, threshold=5):
        s = engine.settings()
        assert (s["threads"], s["chunk"], s["threshold"]) == (3, 1000, 5)
    assert engine.settings() == before
    for bad in ({"threads": 0}, {"chunk": -1}, {"threshold": 1.5}, {"threads": True}):
        with pytest.raises(ValueError):
            engine.configure(**bad)
    assert engine.settings() == before


def _peak_extra(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


MB = 2**20


@pytest.mark.parametrize("threads", [None, 8])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_memory_stays_constant_as_inputs_grow(dtype, threads):
    """Value: under 16 MB of extra memory; gradient: its output plus under 16 MB (the engine's
    default box size for the thread count: every core, or 8 threads)."""
    with engine.configure(threads=threads):
        _check_memory(dtype)


def _check_memory(dtype):
    rng = np.random.default_rng(3)
    n = 3 * 10**6
    y = rng.uniform(size=n).astype(dtype)
    p = rng.normal(size=n).astype(dtype)
    bce = lk.get("bce", from_logits=True)
    for fn in (lambda: bce(y, p), lambda: lk.mse(y, p), lambda: bce(y, p, sample_weight=y)):
        _, peak = _peak_extra(fn)
        assert peak < 16 * MB, peak / MB
    g, peak = _peak_extra(lambda: bce.grad(y, p))
    assert peak < g.nbytes + 16 * MB, (peak - g.nbytes) / MB
    (g, h), peak = _peak_extra(lambda: bce.grad_hess(y, p, sample_weight=y))
    assert peak < g.nbytes + h.nbytes + 16 * MB, (peak - g.nbytes - h.nbytes) / MB
    # the plain path on the same input needs several full-size temporaries: the check can fail
    with engine.configure(enabled=False):
        _, plain_peak = _peak_extra(lambda: bce(y, p))
    assert plain_peak > 2 * y.nbytes


def test_large_vocabulary_sparse_cross_entropy_memory():
    """Integer labels and logits over 32000 classes: value and gradient never hold more than
    the gradient output plus a few boxes of probabilities."""
    rng = np.random.default_rng(4)
    n, c = 384, 32000
    logits = rng.normal(size=(n, c)).astype(np.float32)
    labels = rng.integers(0, c, size=n)
    f = lk.get("sparse_categorical_cross_entropy", from_logits=True)
    v, peak = _peak_extra(lambda: f(labels, logits))
    assert peak < 16 * MB, peak / MB
    g, peak = _peak_extra(lambda: f.grad(labels, logits))
    assert peak < g.nbytes + 16 * MB, (peak - g.nbytes) / MB
    assert engine.last_route().startswith("chunked")
    with engine.configure(enabled=False):
        np.testing.assert_allclose(v, f(labels, logits), rtol=1e-6)
        np.testing.assert_allclose(g, f.grad(labels, logits), rtol=1e-6, atol=1e-12)



def test_kernel_namespace_where_gives_numpys_bits():
    """NumPy's namespace comes with a faster ``where``: same bits as np.where."""
    fx = namespace(np.zeros(1))
    assert type(fx).__name__ == "_FastNumpy"
    rng = np.random.default_rng(5)
    for dtype in ("float32", "float64", "int32", "int64"):
        a = (rng.normal(size=(64, 33)) * 50).astype(dtype)
        b = (rng.normal(size=(64, 33)) * 50).astype(dtype)
        if a.dtype.kind == "f":
            a[0, :4] = [np.nan, np.inf, -0.0, 1e-40]
        c = a > b
        bits = f"i{a.itemsize}"
        np.testing.assert_array_equal(fx.where(c, a, b).view(bits), np.where(c, a, b).view(bits))
        np.testing.assert_array_equal(fx.where(c[:, ::3], a[:, ::3], b[:, ::3]).view(bits),
                                      np.where(c[:, ::3], a[:, ::3], b[:, ::3]).view(bits))
        assert fx.where(c, a, 0.0).dtype == np.where(c, a, 0.0).dtype  # scalars: NumPy's own rules
        assert fx.where(c[0], a, b).shape == (64, 33)  # broadcasting: NumPy's own


def test_kernel_namespace_log1p_float32_within_4_ulp():
    """The float32 log1p of NumPy's namespace (log with a rounding correction) against float64's
    log1p rounded: within 4 ulp (NumPy's float32 log itself reaches 3.8); -1, inf, NaN, 0-d
    arrays and other dtypes take np.log1p."""
    fx = namespace(np.zeros(1))
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-1, 1, 200_000), 10 ** rng.uniform(-38, 30, 200_000),
                        -(10 ** rng.uniform(-38, -1e-7, 200_000))]).astype(np.float32)
    x = x[x > -1]
    ref = np.log1p(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref.astype(np.float32))).astype(np.float64)
    assert np.max(np.abs(fx.log1p(x) - ref) / ulp) <= 4.0
    special = np.array([-1.0, np.inf, np.nan, 0.0, -0.5], dtype=np.float32)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(fx.log1p(special), np.log1p(special))
    assert fx.log1p(np.float32(0.5)) == np.log1p(np.float32(0.5))
    x64 = rng.uniform(-0.9, 9, 100)
    np.testing.assert_array_equal(fx.log1p(x64), np.log1p(x64))


@pytest.mark.parametrize("name", ["dice", "tversky", "dice_cross_entropy"])
def test_softmax_class_axis_is_never_cut_into_boxes(name):
    """With class_axis=0 and a softmax, axis 0 holds the classes of every pixel: boxes along it
    would take a softmax over a subset of classes (a silently wrong value before coupled_axes)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 40, 40))
    y = np.moveaxis(np.eye(4)[rng.integers(0, 4, size=(40, 40))], -1, 0)
    f = lk.get(name, activation="softmax", class_axis=0, axis=(1, 2))
    with engine.configure(enabled=False):
        plain = f(y, x)
        g_plain = f.grad(y, x)
    with engine.configure(threshold=0, chunk=3200, threads=2):
        np.testing.assert_allclose(f(y, x), plain, rtol=1e-12)
        np.testing.assert_allclose(f.grad(y, x), g_plain, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("threads", [2, 3, 5])
@pytest.mark.parametrize("n_items", [1, 2, 7, 64])
def test_for_each_runs_every_item_once_in_its_slot(threads, n_items):
    """Contiguous runs per thread with stealing: each item runs exactly once and results keep
    the items' order; every thread takes part (each one's first item waits for all of them,
    which only works if each thread starts on its own run)."""
    import threading

    workers = min(threads, n_items)
    barrier = threading.Barrier(workers, timeout=30)
    local = threading.local()
    seen, names = [], set()

    def fn(i):
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()
        seen.append(i)
        names.add(threading.current_thread().name)
        return i * i

    assert for_each(n_items, fn, threads) == [i * i for i in range(n_items)]
    assert sorted(seen) == list(range(n_items))
    assert len(names) == workers


def test_for_each_raises_the_lowest_failing_item():
    def fn(i):
        if i in (3, 40):
            raise ValueError(i)
        return i

    with pytest.raises(ValueError, match="^3$"):
        for_each(64, fn, 1)
    with pytest.raises(ValueError) as e:
        for_each(64, fn, 2)  # the runs are 0-31 and 32-63: both failures happen
    assert str(e.value) in ("3", "40")


ONE_BOX = [("mean_squared_error", {}, "normal"), ("binary_cross_entropy", {}, "prob"),
           ("binary_cross_entropy", {"from_logits": True}, "normal"), ("hinge", {}, "sign"),
           ("categorical_cross_entropy", {"from_logits": True}, "rows")]


def _one_box_inputs(kind, dtype, rng):
    shape = (40, 5) if kind == "rows" else (300,)
    p = rng.normal(size=shape) if kind in ("normal", "rows") else rng.uniform(0.01, 0.99, size=shape)
    if kind == "rows":
        y = rng.dirichlet(np.ones(5), size=40)
    elif kind == "sign":
        y = rng.choice([-1.0, 1.0], size=shape)
    else:
        y = (rng.uniform(size=shape) > 0.5).astype(float)
    return y.astype(dtype), p.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,opts,kind", ONE_BOX, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(ONE_BOX)])
def test_a_call_in_one_box_gives_the_jobs_bits(name, opts, kind, dtype):
    """A small call of a fused plan skips the job, box kernels and thread pool: its value,
    gradient and route are what the job gives for that one box, bit for bit, and its value
    stays within rounding of the plain path."""
    pytest.importorskip("numba")
    from losskit.engine.boxes import Job
    from losskit.engine.tiling import tiled

    y, p = _one_box_inputs(kind, dtype, np.random.default_rng(11))
    f = lk.get(name, **opts)
    rec = f.record
    with engine.configure(compiled=True, threshold=None, chunk=None):
        for red in ("mean", "sum", "sum_over_batch_size"):
            v, route = f(y, p, reduction=red), engine.last_route()
            g = f.grad(y, p, reduction=red)
            vv, gv = f.value_and_grad(y, p, reduction=red)
            assert route.startswith("chunked: 1 boxes") and route.endswith("1 thread(s), compiled"), route
            xp, yt, yp, o, _, _, validate = f._arguments(y, p, {"reduction": red})
            reduced = reduced_axes(rec, xp, yt, yp, o)
            free = [a for a in range(p.ndim) if a not in reduced]
            _, tiling, ref_step = tiled(p.shape, free, engine.settings(p.itemsize)["chunk"], True)
            plan = lk.fused.plan(rec, yt, yp, o)
            for order, got in ((0, v), (1, g)):
                job = Job(rec, xp, yt, yp, o, None, red, validate, order, reduced, tiling)
                want, handled = job.execute(1, plan, ref_step)
                assert handled == [0]
                assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
                np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(vv, v)
            np.testing.assert_array_equal(gv, g)
            np.testing.assert_allclose(v, _plain(f, y, p, reduction=red), **_tol(dtype))


GLOBAL_ONE_BOX = [({"activation": "softmax"}, "onehot"), ({"activation": "softmax", "smooth": 0.0}, "onehot"),
                  ({}, "mask"), ({"squared_pred": True, "smooth_nr": 0.5, "smooth_dr": 2.0}, "soft"),
                  ({"smooth": 0.0}, "empty")]  # (an empty target and prediction: D = 0, the loss 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opts,kind", GLOBAL_ONE_BOX, ids=[k for _, k in GLOBAL_ONE_BOX])
def test_a_global_call_in_one_box_gives_the_stats_routes_bits(opts, kind, dtype):
    """A small global Dice call (its rows in one box of the fused plan) skips the statistics
    job (and works out the loss from the totals in NumPy scalars, not arrays): its value,
    gradient and value-and-gradient are run_stats' for that box, bit for bit, and within
    rounding of the plain path."""
    pytest.importorskip("numba")
    from losskit.engine.stats import run_stats

    rng = np.random.default_rng(13)
    if kind == "onehot":
        y, p = np.eye(6)[rng.integers(0, 6, 50)], rng.normal(size=(50, 6)) * 3
    else:
        p = rng.uniform(size=(30, 4, 5))
        y = (rng.uniform(size=p.shape) > 0.6) * 1.0 if kind == "mask" else rng.uniform(size=p.shape)
        if kind == "empty":
            y, p = 0.0 * y, 0.0 * p
    y, p = y.astype(dtype), p.astype(dtype)
    f = lk.get("dice", **opts)
    with engine.configure(compiled=True, threshold=None, chunk=None):
        cfg = engine.settings(p.itemsize)
        for red in ("mean", "sum", "sum_over_batch_size"):
            v = f(y, p, reduction=red)
            assert engine.last_route() == "stats: 1 boxes, 1 thread(s), compiled"
            g = f.grad(y, p, reduction=red)
            vv, gv = f.value_and_grad(y, p, reduction=red)
            assert engine.last_route() == "stats: 1 boxes, 1 thread(s), compiled, two passes"
            args = f._arguments(y, p, {"reduction": red})[:6]
            want_v = run_stats(f.record, *args[:5], red, True, cfg)
            want_v2, want_g = run_stats(f.record, *args[:5], red, True, cfg, 1, True)
            for got, want in ((v, want_v), (vv, want_v2), (g, want_g), (gv, want_g)):
                assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
                np.testing.assert_array_equal(got, want)
            np.testing.assert_allclose(v, _plain(f, y, p, reduction=red), **_tol(dtype))
            want_plain = _plain(f.grad, y, p, reduction=red)
            np.testing.assert_allclose(g, want_plain, rtol=_tol(dtype)["rtol"] * 10,
                                       atol=1e-6 * np.abs(want_plain).max())
        for bad in (np.nan, 1.5):  # outside the kernel's domain: the plain path's error
            q, t = p.copy(), y.copy()
            if "activation" in opts:
                t[3, 2] = bad
            else:
                q[3, 2, 1] = bad
            for fn in (f, f.grad):
                with pytest.raises(lk.LossInputError) as got_error:
                    fn(t, q)
                with pytest.raises(lk.LossInputError) as plain_error:
                    _plain(fn, t, q)
                assert str(got_error.value) == str(plain_error.value)


def test_a_call_in_one_box_outside_the_domain_gets_the_reference():
    """A one-box call the fused kernel declines runs the reference kernels: their values, or
    the plain path's error."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(12)
    y32, p32 = rng.normal(size=(2, 500)).astype(np.float32)
    p32[7], y32[7] = 3e38, -3e38  # valid: the difference overflows to inf, which the kernel declines
    y = (rng.uniform(size=500) > 0.5).astype(np.float64)
    p = rng.uniform(0.01, 0.99, size=500)
    with engine.configure(compiled=True, threshold=None, chunk=None), np.errstate(over="ignore"):
        assert lk.mse(y32, p32) == np.inf == _plain(lk.mse, y32, p32)
        assert engine.last_route().endswith("compiled 0/1 boxes"), engine.last_route()
        np.testing.assert_array_equal(lk.mse.grad(y32, p32), _plain(lk.mse.grad, y32, p32))
        p[7] = 1.5
        for fn in (lk.binary_cross_entropy, lk.binary_cross_entropy.grad):
            with pytest.raises(lk.LossInputError) as fused:
                fn(y, p)
            with pytest.raises(lk.LossInputError) as plain:
                _plain(fn, y, p)
            assert str(fused.value) == str(plain.value)


def test_memoised_option_checks_keep_each_calls_options():
    """Option checks are memoised by the options' types and values: each call still gets its
    own values (a -0.0 margin after a 0.0 one, an array option), and a bad option raises every
    time. A number option arrives as a float (an int converted at the boundary), never a bool."""
    y, p = np.array([1.0, -1.0, 1.0]), np.array([0.5, 0.25, -2.0])
    f = lk.get("hinge")
    for margin in (0.0, -0.0, 0, 1, 0.0, -0.0):
        got = f._arguments(y, p, {"margin": margin})[3]["margin"]
        assert type(got) is float and got == margin
        assert math.copysign(1.0, got) == math.copysign(1.0, margin)
    for _ in range(2):
        with pytest.raises(lk.LossInputError, match="margin"):
            f(y, p, margin=True)
        with pytest.raises(lk.LossInputError, match="unknown option"):
            f(y, p, marg=1.0)
        with pytest.raises(lk.LossInputError, match="validate"):
            f(y, p, validate="no")
        with pytest.raises(lk.LossInputError, match="reduction"):
            f(y, p, reduction="avg")
    w = np.array([1.0, 2.0, 3.0])
    assert f(y, p, sample_weight=w, reduction="sum") == f.configured(sample_weight=w)(y, p, reduction="sum")
    _, _, _, opts, sw, red, validate = lk.mse._arguments(y, p, {"sample_weight": w, "validate": False})
    assert opts == {} and sw is w and red == "mean" and validate is False


def test_numpy_namespace_shortcut_is_the_namespace():
    """Plain NumPy arrays get NumPy's namespace without array_api_compat's type walk: the
    same object as for NumPy arrays with Python scalars or lists beside them."""
    a = np.zeros(3)
    assert namespace(a, a, None) is namespace(a, [1.0, 2.0, 3.0]) is namespace(None, 2.0)
    torch = pytest.importorskip("torch")
    assert namespace(a, torch.zeros(3)) is namespace(torch.zeros(3))  # NumPy labels join a torch call
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match="one array library"):
        namespace(a, torch.zeros(3), jnp.zeros(3))
