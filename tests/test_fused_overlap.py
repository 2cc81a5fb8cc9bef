"""The fused Dice and Jaccard kernels (losskit.fused.overlap) against the record's own kernels.

The plan's ``stats`` / ``stats_grad`` are called directly, on the whole arrays (one box) and on
three leading-axis boxes whose statistics are summed the way engine.stats.run_stats sums them
(float64, then the statistics' dtype). The value from those totals must equal the reference's
(prepare + stats + from_stats on the whole array) to 1e-6 relative in float32 and 1e-12 in
float64; the gradient too, elementwise with an absolute tolerance relative to its largest
entry (as tests/test_engine.py for the float32 stats route: ``R b - a`` cancels for soft
labels near ``R / 2``, so tiny entries move by more than 1e-6 of themselves when the totals
move by one rounding). Given the same totals, the gradient is the reference's bit for bit.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

import losskit as lk  # noqa: E402
from losskit.fused import Plan  # noqa: E402
from losskit.fused.overlap import PLANNERS  # noqa: E402

REC = lk.get("dice").record
NAMES = ["dice", "jaccard"]  # the kinds with fused kernels (a TP with a = 2 and 1)
SHAPES = [(97,), (13, 11), (7, 5, 6), (5, 3, 4, 6)]
DTYPES = ["float32", "float64"]


def _opts(**kw):
    return {**REC.options, **kw}


def _rec(name):
    return lk.get(name).record


def _tol(dtype):
    return 1e-6 if dtype == "float32" else 1e-12


def _inputs(kind, shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random(shape)
    if kind == "mask":
        y = (rng.random(shape) < 0.3).astype(float)
    elif kind == "soft":
        y = rng.random(shape)
    elif kind == "exact01":  # probabilities exactly 0 or 1, some matching the mask
        y = (rng.random(shape) < 0.5).astype(float)
        p = np.where(rng.random(shape) < 0.7, y, 1.0 - y)
    elif kind == "empty_mask":
        y = np.zeros(shape)
    elif kind == "both_empty":
        y, p = np.zeros(shape), np.zeros(shape)
    elif kind == "perfect":
        y = (rng.random(shape) < 0.4).astype(float)
        p = y.copy()
    else:
        raise ValueError(kind)
    return y.astype(dtype), p.astype(dtype)


def _boxes(a, n):
    return np.array_split(a, n, axis=0) if a.shape[0] >= n else [a]


def _reference(y, p, opts, ct, rec=REC):
    yt, yp, o = rec.prepare(np, y, p, dict(opts), True)
    stats = rec.stats(np, yt, yp, **o)
    value = rec.from_stats(np, stats, **o)
    grad = rec.grad(np, yt, yp, cotangent=ct, **o)
    return yt, yp, o, value, grad


def _fused(plan, y, p, nboxes, stats_dtype, ct):
    parts = [plan.stats(yb, pb) for yb, pb in zip(_boxes(y, nboxes), _boxes(p, nboxes))]
    assert all(part is not None for part in parts)
    for part in parts:
        assert all(s.dtype == np.float64 and s.shape == (1,) * p.ndim for s in part)
    totals = tuple(np.sum(np.stack([part[k] for part in parts]), axis=0).astype(stats_dtype) for k in range(2))
    g = np.empty_like(p)
    for yb, pb, gb in zip(_boxes(y, nboxes), _boxes(p, nboxes), _boxes(g, nboxes)):
        assert plan.stats_grad(totals, ct)(yb, pb, gb) is True
    return totals, g


KINDS = ["mask", "soft", "exact01", "empty_mask", "both_empty", "perfect"]
SMOOTHS = [{}, {"squared_pred": True}, {"smooth": 0.0}, {"smooth_nr": 0.0, "smooth_dr": 1e-7},
           {"smooth": 0.5, "squared_pred": True}]


def _check_against_reference(rec, plan, y, p, opts, dtype, label):
    """The plan's statistics, value and gradient (one and three boxes) against the record's:
    statistics and value to ``_tol``, the gradient elementwise to it relative to its largest
    entry, and bit for bit given the same totals."""
    tol = _tol(dtype)
    assert isinstance(plan, Plan) and plan.stats is not None and plan.stats_grad is not None
    ct = np.asarray(0.37, dtype=dtype)  # what _run_stats passes: a 0-d array of the values' dtype
    yt, yp, o, want_v, want_g = _reference(y, p, opts, ct, rec)
    ref_stats = rec.stats(np, yt, yp, **o)
    for nboxes in (1, 3):
        totals, g = _fused(plan, y, p, nboxes, ref_stats[0].dtype, ct)
        for got, want in zip(totals, ref_stats):
            np.testing.assert_allclose(got, want, rtol=tol, atol=0)
        v = rec.from_stats(np, totals, **o)
        assert v.dtype == want_v.dtype and v.shape == want_v.shape == ()
        np.testing.assert_allclose(v, want_v, rtol=tol, atol=0, err_msg=f"{label} value")
        scale = float(np.max(np.abs(want_g)))
        np.testing.assert_allclose(g, want_g, rtol=tol, atol=tol * scale, err_msg=f"{label} grad")
        # the same totals: the reference's gradient bit for bit
        np.testing.assert_array_equal(g, rec.grad(np, yt, yp, cotangent=ct, stats=totals, **o))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("kind", KINDS)
def test_dice_stats_and_grad_match_reference(kind, shape, dtype, name):
    rec = _rec(name)
    for i, extra in enumerate(SMOOTHS):
        opts = _opts(**extra)
        y, p = _inputs(kind, shape, dtype, seed=i)
        _check_against_reference(rec, PLANNERS[name](y, p, opts), y, p, opts, dtype, f"{kind} {extra}")


@pytest.mark.parametrize("weights", [(0.3, 0.7), (0.5, 0.5), (1.0, 1.0), (0.0, 2.5)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_tversky_on_probabilities_matches_reference(kind, dtype, weights):
    """Tversky (``a = 1``, false positives and negatives weighted ``alpha, beta``) on
    probabilities, as the Dice test; the planner declines what the kernels do not take."""
    rec = _rec("tversky")
    alpha, beta = weights
    for i, smooth in enumerate([{}, {"smooth": 0.0}, {"smooth_nr": 0.0, "smooth_dr": 1e-7}]):
        opts = {**rec.options, "alpha": alpha, "beta": beta, **smooth}
        y, p = _inputs(kind, (7, 5, 6), dtype, seed=i)
        _check_against_reference(rec, PLANNERS["tversky"](y, p, opts), y, p, opts, dtype, f"{kind} {smooth}")
    y, p = _inputs("mask", (6, 4), dtype)
    for extra in [{"activation": "softmax"}, {"squared_pred": True}, {"alpha": -1.0}, {"beta": "x"}]:
        assert PLANNERS["tversky"](y, p, {**rec.options, **extra}) is None, extra


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dice_grad_cotangents(dtype, name):
    rec = _rec(name)
    y, p = _inputs("soft", (6, 10), dtype)
    plan = PLANNERS[name](y, p, _opts())
    yt, yp, o = rec.prepare(np, y, p, _opts(), True)
    totals = rec.stats(np, yt, yp, **o)
    for ct in (None, 0.25, np.asarray(-1.5, dtype=dtype), np.float64(3.0)):
        want = rec.grad(np, yt, yp, cotangent=ct, stats=totals, **o)
        g = np.empty_like(p)
        assert plan.stats_grad(totals, ct)(y, p, g)
        np.testing.assert_array_equal(g, want.astype(dtype), err_msg=repr(ct))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dice_value_and_grad_from_random_totals(dtype, name):
    """``stats_value`` (NumPy scalars) equals the record's ``from_stats`` (arrays) bit for bit, and
    ``stats_grad``'s writer the reference gradient, on totals across magnitudes (a confident
    prediction's tiny error sum, huge counts, D = 0) and smoothings: the scalars round alike."""
    rng = np.random.default_rng(21)
    rec = _rec(name)
    y, p = _inputs("soft", (4, 5), dtype)
    for smooth in [{}, {"smooth": 0.0}, {"smooth_nr": 0.0, "smooth_dr": 1e-7}, {"smooth_nr": 0.3, "smooth_dr": 1.7},
                   {"smooth_nr": 1e-5, "smooth_dr": 1e-5}]:
        opts = _opts(**smooth)
        plan = PLANNERS[name](y, p, opts)
        yt, yp, o = rec.prepare(np, y, p, opts, True)
        cases = [(0.0, 0.0), (1e-30, 0.0), (2.0, 1e-9)]
        cases += [tuple(10.0 ** rng.uniform(-12, 9, size=2) * rng.uniform(size=2)) for _ in range(300)]
        for s_num, s_err in cases:
            totals = tuple(np.full((1, 1), v).astype(dtype) for v in (s_num, s_err))
            want = rec.from_stats(np, totals, **o)
            got = plan.stats_value(totals)
            assert type(got) is np.dtype(dtype).type
            np.testing.assert_array_equal(got, want, err_msg=f"{smooth} {s_num} {s_err}")
            g = np.empty_like(p)
            assert plan.stats_grad(totals, np.asarray(1.0, dtype=dtype))(y, p, g)
            np.testing.assert_array_equal(g, rec.grad(np, yt, yp, cotangent=np.asarray(1.0, dtype=dtype),
                                                      stats=totals, **o).astype(dtype))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference's (and the totals') NaN/inf arithmetic
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
def test_dice_out_of_domain_is_not_handled(dtype, squared):
    opts = _opts(squared_pred=squared)
    for where, bad in [("p", np.nan), ("p", np.inf), ("p", 1.0 + 1e-3), ("p", -1e-3), ("p", 2.0),
                       ("y", np.nan), ("y", -np.inf), ("y", 2.0), ("y", -0.5), ("y", 1.5)]:
        y, p = _inputs("mask", (9, 7), dtype)
        (p if where == "p" else y)[7, 3] = bad
        plan = PLANNERS["dice"](y, p, opts)
        assert plan is not None  # values are the kernels' business, not the planner's
        assert plan.stats(y, p) is None, (where, bad)
        parts = [plan.stats(yb, pb) for yb, pb in zip(_boxes(y, 3), _boxes(p, 3))]
        assert [part is None for part in parts] == [False, False, True], (where, bad)
        with pytest.raises(lk.LossInputError):  # the reference's validation rejects them too
            REC.prepare(np, y, p, dict(opts), True)
        # validate=False: the statistics came from the reference, the gradient is still its own
        yt, yp, o = REC.prepare(np, y, p, dict(opts), False)
        totals = REC.stats(np, yt, yp, **o)
        ct = np.asarray(1.0, dtype=dtype)
        g = np.empty_like(p)
        assert plan.stats_grad(totals, ct)(y, p, g)
        np.testing.assert_array_equal(g, REC.grad(np, yt, yp, cotangent=ct, stats=totals, **o))


def test_dice_domain_edges_are_handled():
    """-0.0, 0 and 1 are inside the reference's [0, 1]."""
    y = np.array([[0.0, 1.0, -0.0, 1.0]])
    p = np.array([[-0.0, 1.0, 0.0, 0.0]])
    plan = PLANNERS["dice"](y, p, _opts())
    got = plan.stats(y, p)
    yt, yp, o = REC.prepare(np, y, p, _opts(), True)
    want = REC.stats(np, yt, yp, **o)
    assert [float(g[0, 0]) for g in got] == [float(w[0, 0]) for w in want]


def test_dice_planner_declines():
    y, p = _inputs("mask", (8, 6), "float32")
    ok = PLANNERS["dice"]
    assert ok(y, p, _opts()) is not None
    for extra in [{"axis": 1}, {"axis": (0, 1)}, {"activation": "sigmoid"}, {"soft_label": True},
                  {"ignore_index": 0}, {"class_weight": 2.0}, {"include_background": False},
                  {"squared_pred": "yes"}, {"smooth": -1.0}, {"smooth_nr": float("nan")}, {"unknown": 1}]:
        assert ok(y, p, _opts(**extra)) is None, extra
    assert ok(y.astype(np.float64), p, _opts()) is None  # dtypes differ
    assert ok(y[:4], p, _opts()) is None  # shapes differ
    assert ok(y.astype(np.int32), p.astype(np.int32), _opts()) is None
    assert ok(y.astype(np.float16), p.astype(np.float16), _opts()) is None
    assert ok(np.float32(1.0), np.float32(0.5), _opts()) is None
    assert ok(np.array(1.0), np.array(0.5), _opts()) is None  # 0-d
    assert ok(y, p, _opts(squared_pred=np.bool_(True))) is not None


def test_dice_non_contiguous_boxes_are_not_handled():
    y, p = _inputs("mask", (8, 6), "float64")
    plan = PLANNERS["dice"](y, p, _opts())
    yt, pt = y.T, p.T
    assert plan.stats(yt, pt) is None
    assert plan.stats(y[:, ::2], p[:, ::2]) is None
    g = np.empty((6, 8))
    totals = plan.stats(y, p)
    assert plan.stats_grad(totals, None)(yt, pt, g) is False
    assert plan.stats_grad(totals, None)(y, p, np.empty((6, 8)).T) is False


# --- softmax activation: rows of logits, classes on the last axis -------------------------
# Oracle: the global softmax Dice (a = 2) or Jaccard (a = 1) and its gradient in 40-digit mpmath at
# the given inputs, with ``q = softmax(x)`` per row, ``l = 1 - (a TP + 1) / D``, ``D = sum y + sum q
# + (a - 2) TP + 1`` and, per row, ``dl/dx = q (gq - sum(q gq))``, ``gq_j = -(a y_j - R (1 + (a -
# 2) y_j)) / D``, ``R = (a TP + 1) / D``.
def _exact_softmax_dice(y, x, a=2):
    import mpmath

    with mpmath.workdps(40):
        ys = [[mpmath.mpf(float(v)) for v in row] for row in y]
        qs = []
        for row in x:
            e = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
            s = mpmath.fsum(e)
            qs.append([v / s for v in e])
        tp = mpmath.fsum(a * b for yr, qr in zip(ys, qs) for a, b in zip(yr, qr))
        d = mpmath.fsum(map(mpmath.fsum, ys)) + mpmath.fsum(map(mpmath.fsum, qs)) + (a - 2) * tp + 1
        r = (a * tp + 1) / d
        value = 1 - r
        grad = []
        for yr, qr in zip(ys, qs):
            gq = [-(a * v - r * (1 + (a - 2) * v)) / d for v in yr]
            s = mpmath.fsum(a * b for a, b in zip(qr, gq))
            grad.append([float(a * (b - s)) for a, b in zip(qr, gq)])
        return float(value), np.array(grad)


def _softmax_case(kind, rows, c, rng):
    x = rng.normal(size=(rows, c)) * 3
    labels = rng.integers(0, c, rows)
    y = np.eye(c)[labels]
    if kind == "confident":  # the labelled class 25 above the rest: a loss of ~1e-9
        x = rng.normal(size=(rows, c))
        x[np.arange(rows), labels] += 25.0
    elif kind == "confident_wrong":  # another class 25 above
        x = rng.normal(size=(rows, c))
        x[np.arange(rows), (labels + 1) % c] += 25.0
    elif kind == "ties":  # two equal maxima per row, the first or the second labelled
        top = np.argmax(x, axis=1)
        twin = (top + 1 + rng.integers(0, c - 1, rows)) % c
        x[np.arange(rows), twin] = x[np.arange(rows), top]
        y = np.eye(c)[np.where(rng.random(rows) < 0.5, top, twin)]
    elif kind == "soft":
        y = rng.dirichlet(np.ones(c), size=rows)
    return y, x


SOFTMAX_KINDS = ["random", "confident", "confident_wrong", "ties", "soft"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [3, 40, 64, 700])  # from 64: one row at a time; 700: longer than a block
@pytest.mark.parametrize("kind", SOFTMAX_KINDS)
def test_softmax_dice_kernels_against_mpmath(kind, c, dtype, name):
    """Value and gradient of the softmax kernels (statistics on one and three boxes, the
    exponentials kept in the gradient's array) against the 40-digit oracle at the same inputs:
    the value to 2 float32 ulp / 1e-13 relative (a confident prediction's tiny loss included:
    1 - q is never formed), the gradient elementwise to 1e-6 / 1e-12 relative plus that
    fraction of its largest entry."""
    rng = np.random.default_rng(c)
    y, x = _softmax_case(kind, 7 if c < 700 else 3, c, rng)
    y, x = y.astype(dtype), x.astype(dtype)
    want_v, want_g = _exact_softmax_dice(y, x, a=2 if name == "dice" else 1)
    opts = _opts(activation="softmax", class_axis=-1)
    plan = PLANNERS[name](y, x, opts)
    assert plan.keeps
    dt = np.dtype(dtype).type
    rtol = 2.4e-7 if dtype == "float32" else 1e-13
    for nboxes in (1, 3):
        g = np.empty_like(x)
        parts = [plan.stats(yb, xb, gb) for yb, xb, gb in zip(_boxes(y, nboxes), _boxes(x, nboxes), _boxes(g, nboxes))]
        assert all(part is not None for part in parts)
        totals = tuple(dt(sum(float(part[k][0, 0]) for part in parts)).reshape(1, 1) for k in range(2))
        value = plan.stats_value(totals)
        assert abs(float(value) - want_v) <= rtol * abs(want_v), (float(value), want_v)
        write = plan.stats_grad(totals, np.asarray(1.0, dtype=dtype))
        for yb, xb, gb in zip(_boxes(y, nboxes), _boxes(x, nboxes), _boxes(g, nboxes)):
            assert write(yb, xb, gb) is True
        tol = 1e-6 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(g, want_g, rtol=tol, atol=tol * np.abs(want_g).max())
    if kind == "confident":  # every entry to its own relative accuracy, the tiny ones included
        np.testing.assert_allclose(g, want_g, rtol=1e-5 if dtype == "float32" else 1e-12, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_dice_out_of_domain_is_not_handled(dtype):
    """A non-finite or huge logit (beyond 1e30 / 1e300) or a target outside [0, 1] declines the
    box (the reference then validates it or computes it); -0.0 and 1 are inside."""
    opts = _opts(activation="softmax", class_axis=-1)
    huge = 1e31 if dtype == "float32" else 1e301
    for where, bad in [("x", np.nan), ("x", np.inf), ("x", -np.inf), ("x", huge), ("x", -huge),
                       ("y", np.nan), ("y", 1.5), ("y", -0.5), ("y", np.inf)]:
        y, x = (a.astype(dtype) for a in _softmax_case("random", 9, 5, np.random.default_rng(3)))
        (x if where == "x" else y)[7, 3] = bad
        plan = PLANNERS["dice"](y, x, opts)
        assert plan.stats(y, x) is None and plan.stats(y, x, np.empty_like(x)) is None, (where, bad)
        parts = [plan.stats(yb, xb) for yb, xb in zip(_boxes(y, 3), _boxes(x, 3))]
        assert [part is None for part in parts] == [False, False, True], (where, bad)
    y, x = (a.astype(dtype) for a in _softmax_case("random", 4, 5, np.random.default_rng(4)))
    y[y == 0] = -0.0
    assert plan.stats(y, x) is not None


def test_softmax_dice_gradient_needs_the_kept_exponentials():
    """The gradient pass reads the exponentials the statistics pass kept in its array: an array
    without them (a row with no 1, the row maximum's) is refused, and the engine then runs the
    reference kernels on that box."""
    y, x = _softmax_case("random", 6, 5, np.random.default_rng(5))
    plan = PLANNERS["dice"](y, x, _opts(activation="softmax", class_axis=-1))
    totals = plan.stats(y, x)
    assert plan.stats_grad(totals, None)(y, x, np.zeros_like(x)) is False
    g = np.empty_like(x)
    plan.stats(y, x, g)
    g[4] = 0.5
    assert plan.stats_grad(totals, None)(y, x, g) is False
