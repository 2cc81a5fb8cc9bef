"""The fused compiled box kernels (``[fast]`` extra) against the array-API reference.

Every reference case whose loss and options have a fused plan is grown as in test_engine and
evaluated through the engine with compiled kernels (tiny boxes, 1 and 3 threads) and on the
plain path. Values agree to 1e-6 relative in float32 and 1e-12 in float64; gradients to the
same relative tolerance plus that fraction of the largest entry (where b/(1-p) - a/p cancels,
the float32 reference itself is only that accurate: the fused kernels compute in float64).
The thread count changes no bit, and inputs outside a kernel's domain reach the reference
kernels, with their errors and values.
"""

import numpy as np
import pytest
from refs import CASES
from test_engine import _grow, _plain, _record

import losskit as lk
import losskit.engine as engine
from losskit.engine import tiling
from losskit.engine.boxes import ReferenceKernel
from losskit.engine.tiling import FUSED_WIDTH

pytest.importorskip("numba")
from losskit import fused as _fused  # noqa: E402

BOXES = {"threshold": 1, "chunk": 64, "compiled": True}
FUSED_CASES = [c for c in CASES if _fused.covers(_record(c))]  # losses with fused kernels at all


def _tol(dtype, ref=None):
    rtol = 1e-6 if dtype == "float32" else 1e-12
    atol = rtol * float(np.max(np.abs(ref))) if ref is not None and np.size(ref) else 0.0
    return {"rtol": rtol, "atol": atol}


def _compiled(fn, *args, threads, **kw):
    with engine.configure(threads=threads, **BOXES):
        out = fn(*args, **kw)
        return out, engine.last_route()


def _planned(case, dtype):
    """The grown inputs and options when the case has a fused plan, else skip."""
    y, p, opts, per_sample = _grow(case, dtype)
    rec = _record(case)
    if per_sample or y is None or _fused.plan(rec, y, p, {**rec.options, **opts}) is None:
        pytest.skip("no fused plan for this loss and options")
    return y, p, opts


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", FUSED_CASES, ids=[c.id for c in FUSED_CASES])
def test_fused_kernels_equal_the_reference(case, dtype):
    y, p, opts = _planned(case, dtype)
    f = lk.get(case.loss, **opts)
    for red in ("mean", "sum"):
        want = _plain(f, y, p, reduction=red)
        want_g = _plain(f.grad, y, p, reduction=red)
        runs = []
        for threads in (1, 3):
            v, route = _compiled(f, y, p, threads=threads, reduction=red)
            assert "compiled" in route, route
            g, route = _compiled(f.grad, y, p, threads=threads, reduction=red)
            assert "compiled" in route, route
            (vv, gv), _ = _compiled(f.value_and_grad, y, p, threads=threads, reduction=red)
            np.testing.assert_array_equal(gv, g)  # one pass gives the same bits
            np.testing.assert_allclose(vv, v, **_tol(dtype))
            assert np.asarray(v).dtype == np.asarray(want).dtype and g.dtype == want_g.dtype
            np.testing.assert_allclose(v, want, **_tol(dtype), err_msg=f"value {red}")
            np.testing.assert_allclose(g, want_g, **_tol(dtype, want_g), err_msg=f"gradient {red}")
            runs.append((v, g))
        np.testing.assert_array_equal(runs[0][0], runs[1][0])  # the thread count changes no bit
        np.testing.assert_array_equal(runs[0][1], runs[1][1])


BAD = [
    ("mean_squared_error", {}, lambda y, p: p.__setitem__(777, np.nan)),
    ("hinge", {}, lambda y, p: y.__setitem__(901, 0.5)),
    ("hinge", {}, lambda y, p: p.__setitem__(901, -np.inf)),
    ("binary_cross_entropy", {}, lambda y, p: p.__setitem__(1234, 1.5)),
    ("binary_cross_entropy", {}, lambda y, p: y.__setitem__(5, -0.25)),
    ("binary_cross_entropy", {"from_logits": True}, lambda y, p: p.__setitem__(2047, np.nan)),
]


@pytest.mark.parametrize("name,opts,spoil", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_inputs_outside_the_domain_get_the_reference_error(name, opts, spoil):
    """A box the fused kernel declines goes to the reference kernels: same error, same message."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=4096).astype(np.float64)
    p = rng.uniform(0.01, 0.99, size=4096)
    spoil(y, p)
    f = lk.get(name, **opts)
    for fn in (f, f.grad, f.value_and_grad):
        with pytest.raises(lk.LossInputError) as plain:
            _plain(fn, y, p)
        with engine.configure(threads=2, **BOXES), pytest.raises(lk.LossInputError) as fused:
            fn(y, p)
        assert str(fused.value) == str(plain.value)


def test_valid_edge_boxes_fall_back_and_agree():
    """Float32 squares that overflow: the fused MSE declines those boxes (a non-finite total)
    and the reference kernels give inf there, as on the plain path; other boxes stay fused."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=4096).astype(np.float32)
    p = rng.normal(size=4096).astype(np.float32)
    p[100] = 3e38
    y[100] = -3e38
    with np.errstate(over="ignore"):
        with engine.configure(threads=2, **BOXES):
            assert lk.mse(y, p) == np.inf
            wide = 4096 // (BOXES["chunk"] * FUSED_WIDTH)  # fused plans take wider boxes
            assert f"compiled {wide - 1}/{wide} boxes" in engine.last_route()
        assert _plain(lk.mse, y, p) == np.inf


def test_a_declined_wide_box_runs_the_reference_in_normal_pieces(monkeypatch):
    """A float32 difference that overflows: the fused MSE declines that wide box, the reference
    kernels run it one normal-sized piece at a time (their temporaries are box-sized), and
    value and gradient equal the plain path's (inf where it overflows)."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=4096).astype(np.float32)
    p = rng.normal(size=4096).astype(np.float32)
    p[300], y[300] = 3e38, -3e38
    pieces = []
    prepared = ReferenceKernel._prepared

    def spy(job, sl, first=False):
        pieces.append(job.y_pred[sl].size)
        return prepared(job, sl, first)

    monkeypatch.setattr(ReferenceKernel, "_prepared", spy)
    f = lk.mse
    with np.errstate(over="ignore"):
        want, want_g = _plain(f, y, p), _plain(f.grad, y, p)
        for fn in (f, f.value_and_grad):
            pieces.clear()
            with engine.configure(threads=2, **BOXES):
                out = fn(y, p)
                route = engine.last_route()
            assert "compiled 15/16 boxes" in route, route
            assert pieces == [64] * FUSED_WIDTH  # the declined box, in pieces of the normal size
            value, grad = (out, None) if fn is f else out
            assert value == want == np.inf
            if grad is not None:
                assert np.isinf(grad[300]) and np.isinf(want_g[300])
                np.testing.assert_allclose(grad, want_g, rtol=1e-6)


def test_a_declined_wide_box_of_statistics_runs_the_reference_in_normal_pieces(monkeypatch):
    """The global Dice score with validate=False and one prediction above 1: outside the fused
    domain, accepted by the reference. That wide box's statistics and gradient come from the
    reference kernels in normal-sized pieces; value and gradient equal the plain path's."""
    rng = np.random.default_rng(7)
    y = (rng.random(4096) > 0.6).astype(np.float32)
    p = rng.random(4096).astype(np.float32)
    p[700] = 1.5
    declined = []
    pieces = tiling.pieces

    def spy(sl, axis, shape, step):
        out = pieces(sl, axis, shape, step)
        declined.append([p[sl].size for sl in out])
        return out

    monkeypatch.setattr(tiling, "pieces", spy)
    want = _plain(lk.dice.value_and_grad, y, p, validate=False)
    with engine.configure(threads=2, **BOXES):
        value, grad = lk.dice.value_and_grad(y, p, validate=False)
        route = engine.last_route()
    assert "compiled 15/16 boxes" in route, route
    # the box with p[700], in the statistics pass and the gradient pass: pieces of the normal size
    assert declined == [[64] * FUSED_WIDTH] * 2
    np.testing.assert_allclose(value, want[0], rtol=1e-6)
    np.testing.assert_allclose(grad, want[1], rtol=1e-6, atol=1e-6 * np.abs(want[1]).max())


def test_compiled_off_and_uncovered_options_use_the_reference_kernels():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=4096).astype(np.float64)
    p = rng.uniform(0.01, 0.99, size=4096)
    with engine.configure(threads=2, threshold=1, chunk=64, compiled=False):
        lk.binary_cross_entropy(y, p)
        assert "compiled" not in engine.last_route()
    with engine.configure(threads=2, **BOXES):
        lk.binary_cross_entropy(y, p, label_smoothing=0.1)  # no fused kernel for smoothing
        assert "compiled" not in engine.last_route()
        lk.binary_cross_entropy(y, p, sample_weight=p)  # nor for weights
        assert "compiled" not in engine.last_route()
        lk.binary_cross_entropy(y, p)
        assert engine.last_route().endswith("compiled")
    assert engine.settings()["compiled"]


def _mapped(fn):
    """A compiled loop applying the compiled scalar function ``fn`` to every entry of an array."""
    import numba

    @numba.njit
    def apply(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = fn(x[i])
        return out

    return apply


def test_fast_log_and_exp_for_float32_data():
    """The vectorisable float64-arithmetic log/exp/log1p of the float32 kernels: within 2e-9
    relative of libm (log1p: 1e-11), from the smallest normal float32 to the largest; the
    float32-arithmetic ones within 4 ulp of float32 (NumPy's own float32 log: 4)."""
    from losskit.fused import fastmath as fm

    rng = np.random.default_rng(3)
    x = np.concatenate([np.exp(rng.uniform(-87, 88, 100_000)), [np.finfo(np.float32).tiny, 1.0, 0.5, 2.0]])
    x = x.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(_mapped(fm.log)(x), np.log(x), rtol=2e-9, atol=1e-11)
    y = np.concatenate([rng.uniform(-700, 88, 100_000), [0.0, -0.5 * np.log(2), 0.5 * np.log(2)]])
    np.testing.assert_allclose(_mapped(fm.exp)(y), np.exp(y), rtol=1e-8)
    z = np.concatenate([rng.uniform(0, 1, 100_000), [0.0, 1e-30, np.sqrt(2) - 1, 1.0]])
    np.testing.assert_allclose(_mapped(fm.log1p_unit)(z), np.log1p(z), rtol=1e-11, atol=1e-300)


def _ulps(got, want):
    """|got - want| in float32 ulps of the float64 ``want`` (subnormal results: of the smallest)."""
    unit = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / unit


def test_float32_arithmetic_log_exp_log1p_within_a_few_ulp():
    """log32 on every float32 in [0.5, 2) and on normals across the range within 1.5 ulp of
    the correctly rounded log; exp32 (arguments <= 0, subnormal results included) within 2;
    log1p32 on [0, 1] within 4 (NumPy's own float32 functions: up to 4)."""
    import numba

    from losskit.fused import fastmath as fm

    rng = np.random.default_rng(5)
    bits = np.arange(np.float32(0.5).view(np.int32), np.float32(2.0).view(np.int32), dtype=np.int32)
    tiny, big = np.finfo(np.float32).tiny, np.finfo(np.float32).max
    x = np.concatenate([bits.view(np.float32), np.exp(rng.uniform(-87, 88, 200_000)).astype(np.float32),
                        np.array([tiny, big, 1.0], dtype=np.float32)])
    assert _ulps(_mapped(fm.log32)(x), np.log(x.astype(np.float64))).max() <= 1.5
    y = np.concatenate([rng.uniform(-104, 0, 200_000), -np.arange(0, 104, 0.125)]).astype(np.float32)
    assert _ulps(_mapped(fm.exp32)(y), np.exp(y.astype(np.float64))).max() <= 2
    z = np.concatenate([rng.uniform(0, 1, 200_000), rng.uniform(0, 1e-6, 10_000), [0.0, 1.0]]).astype(np.float32)
    want = np.log1p(z.astype(np.float64))
    got = _mapped(fm.log1p32)(z)
    assert _ulps(got[z > 0], want[z > 0]).max() <= 4 and got[z == 0][0] == 0

    @numba.njit
    def log1m(p):
        return fm.log_or_log1m32(False, np.float32(1) - p, p)

    # log(1 - p) of BCE's negative class: every float32 in [0.25, 0.75), random ones near 0 and 1
    q = np.concatenate([np.arange(np.float32(0.25).view(np.int32), np.float32(0.75).view(np.int32), 7,
                                  dtype=np.int32).view(np.float32),
                        np.exp(rng.uniform(-87, -1, 100_000)), 1 - np.exp(rng.uniform(-16, -1, 100_000))])
    q = q.astype(np.float32)
    assert _ulps(_mapped(log1m)(q)[q > 0], np.log1p(-q[q > 0].astype(np.float64))).max() <= 1.5


def test_float64_log_exp_log1p_within_a_few_ulp_of_libm():
    """The float64 functions of the fused kernels (vectorisable, unlike libm calls)."""
    from losskit.fused import fastmath as fm

    rng = np.random.default_rng(6)
    x = np.concatenate([np.exp(rng.uniform(-708, 709, 300_000)), rng.uniform(0.5, 2, 300_000),
                        1 + rng.uniform(-1e-6, 1e-6, 10_000), [np.finfo(np.float64).tiny, np.finfo(np.float64).max, 1.0]])
    want = np.log(x)
    got = _mapped(fm.log64)(x)
    assert got[-1] == 0.0
    assert (np.abs(got - want) <= 1.5 * np.spacing(np.abs(want))).all()
    # exp for arguments <= 0 (subnormal and zero results included), log1p on [0, 1]
    y = np.concatenate([rng.uniform(-750, 0, 300_000), -np.arange(0, 750, 0.01), [0.0, -745.1, -745.2, -800.0]])
    got, want = _mapped(fm.exp64)(y), np.exp(y)
    assert (np.abs(got - want) <= 1.5 * np.spacing(np.abs(want))).all()
    z = np.concatenate([rng.uniform(0, 1, 300_000), rng.uniform(0, 1e-8, 10_000), [1.0]])
    got, want = _mapped(fm.log1p64)(z), np.log1p(z)
    assert (np.abs(got - want) <= 2.5 * np.spacing(want)).all() and _mapped(fm.log1p64)(np.zeros(1))[0] == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hard_label_bce_blocks_have_the_general_kernels_bits(dtype):
    """Blocks of 0/1 labels take BCE's one-logarithm element; it must give the two-logarithm
    element's bits exactly, edges included (0, 1, the floors and around them), and hand a block
    with another label to the general element."""
    from losskit.fused import elementwise as ew
    from losskit.fused.driver import elementwise_kernels
    from losskit.losses._common import complement_floor, prob_epsilon

    dt = np.dtype(dtype)
    eps = prob_epsilon(np, dt, None)
    params = tuple(dt.type(f) for f in (eps, complement_floor(np, dt, eps), 1, 0))
    floors = [float(params[0]), 1 - float(params[1])]
    edges = [0.0, 1.0, *floors, *(np.nextafter(dt.type(f), dt.type(2)) for f in floors),
             *(np.nextafter(dt.type(f), dt.type(-1)) for f in floors), 0.5, 1e-30, np.finfo(dt).tiny]
    rng = np.random.default_rng(4)
    edges = [e for e in edges if 0 <= e <= 1]
    p = np.concatenate([rng.uniform(size=5000), np.repeat(edges, 60)]).astype(dt)
    rng.shuffle(p)
    general = elementwise_kernels(ew._bce)
    hard = elementwise_kernels(ew._bce, ew._bce_hard)
    hard_labels = rng.integers(0, 2, p.size).astype(dt)
    soft_later = hard_labels.copy()
    soft_later[3000] = 0.25  # blocks of 0/1 labels, then a soft one: the general element from there
    for y in (hard_labels, soft_later, rng.uniform(size=p.size).astype(dt)):
        assert hard[0](y, p, params) == general[0](y, p, params)
        g1, g2 = np.empty_like(p), np.empty_like(p)
        assert hard[1](y, p, g1, 0.3, params) == general[1](y, p, g2, 0.3, params)
        np.testing.assert_array_equal(g1, g2)
        assert np.array_equal(np.signbit(g1), np.signbit(g2))
    p[4000] = 1.5  # outside the domain after hard blocks: NaN from both
    assert np.isnan(hard[0](hard_labels, p, params)) and np.isnan(general[0](hard_labels, p, params))


def test_a_global_dice_under_one_box_still_takes_the_compiled_kernel():
    """Below one box the stats route still runs a fused plan (the plain path's NumPy calls
    cost more than one compiled box); the value and gradient are the plain path's."""
    rng = np.random.default_rng(8)
    y = (rng.random(3000) > 0.6).astype(np.float32)
    p = rng.random(3000).astype(np.float32)
    with engine.configure(compiled=True, threshold=None, chunk=None):
        value, grad = lk.dice.value_and_grad(y, p)
        route = engine.last_route()
    assert route.startswith("stats: 1 boxes") and "compiled" in route, route
    want_v, want_g = _plain(lk.dice.value_and_grad, y, p)
    np.testing.assert_allclose(value, want_v, rtol=1e-6)
    np.testing.assert_allclose(grad, want_g, rtol=1e-6, atol=1e-6 * np.abs(want_g).max())


@pytest.mark.parametrize("kind", ["normal", "constant", "skewed"])
def test_float32_value_sums_stay_within_a_few_ulp_of_the_exact_sum(kind):
    """Float32 values are summed in float32 vector lanes per 512-element block (at most 32
    terms a lane) and the blocks in float64: the total of 1e6 squares stays within 3e-7
    relative of the exactly rounded sum of the same float32 values (the issue's bound is 1e-6)."""
    import math

    from losskit.fused import elementwise as ew

    rng = np.random.default_rng(9)
    n = 10**6
    if kind == "normal":
        p = rng.normal(size=n)
    elif kind == "constant":
        p = np.full(n, 0.3)
    else:
        p = rng.standard_cauchy(n)
    p = p.astype(np.float32)
    t = np.zeros(n, np.float32)
    values = (p - t) * (p - t)  # the element values in float32, as the kernel rounds them
    exact = math.fsum(values.astype(np.float64))
    got = ew.PLANNERS["mean_squared_error"](t, p, {}).value(t, p)
    assert abs(got - exact) <= 3e-7 * exact
