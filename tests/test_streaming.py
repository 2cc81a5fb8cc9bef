"""Streaming accumulators: chunked and merged results equal the one-shot call.

The generic test runs over every reference case in tests/refs (so every registered loss and
the option sets its family tests), chunking the case's inputs along axis 0.
"""

import json
import pickle

import numpy as np
import pytest
from conftest import load_backend
from refs import CASES
from refs.spec import rng_for

import losskit as lk
from losskit import Loss, LossFunction
from losskit.streaming import Accumulator

REL = 1e-12


def _close(a, b, rel=REL):
    assert a == pytest.approx(b, rel=rel, abs=1e-300), (a, b)


def _one_shot(name, y, p, w=None, reduction="mean", **options):
    return float(np.asarray(lk.get(name, **options)(y, p, sample_weight=w, reduction=reduction)))


def _cuts(n, rng):
    """Irregular chunk boundaries covering range(n), with a first chunk of one row when n > 1."""
    if n <= 1:
        return [(0, n)]
    inner = sorted(set(rng.integers(1, n, size=min(3, n - 1)).tolist()) | {1})
    edges = [0, *inner, n]
    return list(zip(edges[:-1], edges[1:]))


# -- the course's losses, explicitly ------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "sum_over_batch_size"])
@pytest.mark.parametrize("weighted", [False, True])
def test_mse_and_bce_chunked_equal_one_shot(reduction, weighted):
    rng = np.random.default_rng(0)
    n = 10_007
    y_reg, p_reg = rng.normal(size=n), rng.normal(size=n)
    y_bin, p_bin = (rng.random(n) > 0.5).astype(float), rng.uniform(0.01, 0.99, size=n)
    w = rng.uniform(0.0, 3.0, size=n) if weighted else None
    for name, y, p in (("mse", y_reg, p_reg), ("bce", y_bin, p_bin)):
        acc = Accumulator(name)
        for lo in range(0, n, 997):
            acc.update(y[lo:lo + 997], p[lo:lo + 997], sample_weight=None if w is None else w[lo:lo + 997])
        _close(acc.result(reduction), _one_shot(name, y, p, w, reduction))
        assert acc.rows == n and acc.count == n


def test_mean_of_chunk_means_is_not_what_we_compute():
    """Chunks of unequal size: the accumulator gives the global mean, not the mean of chunk means."""
    y, p = np.zeros(4), np.array([1.0, 1.0, 1.0, 3.0])
    acc = Accumulator("mse")
    acc.update(y[:3], p[:3])
    acc.update(y[3:], p[3:])
    assert acc.result() == 3.0  # (1 + 1 + 1 + 9) / 4; the mean of the chunk means would be 5
    assert acc.result("sum") == 12.0


def test_many_chunks_keep_float64_accuracy():
    """A million values in uneven chunks, merged across workers, to 1e-12 of the one-shot value."""
    rng = np.random.default_rng(1)
    n = 1_000_000
    y, p = rng.normal(size=n), rng.normal(scale=1e3, size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    workers = [Accumulator("mse") for _ in range(3)]
    lo, k = 0, 0
    while lo < n:
        step = int(rng.integers(1, 50_000))
        workers[k % 3].update(y[lo:lo + step], p[lo:lo + step], sample_weight=w[lo:lo + step])
        lo += step
        k += 1
    total = workers[0].merge(workers[1]).merge(workers[2])
    exact = float(np.sum(w * (p - y) ** 2, dtype=np.float64) / np.sum(w))
    _close(total.result(), _one_shot("mse", y, p, w))
    _close(total.result(), exact)


def test_float32_chunks_accumulate_in_float64():
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=4000).astype(np.float32), rng.normal(size=4000).astype(np.float32)
    acc = Accumulator("mse")
    for lo in range(0, 4000, 300):
        acc.update(y[lo:lo + 300], p[lo:lo + 300])
    ref = np.mean((p.astype(np.float64) - y.astype(np.float64)) ** 2)
    assert isinstance(acc.result(), float)
    assert acc.result() == pytest.approx(ref, rel=1e-6)


def test_torch_chunks():
    torch = load_backend("torch")
    rng = np.random.default_rng(3)
    y, p = (rng.random(50) > 0.5).astype(float), rng.normal(size=50)
    acc = Accumulator("bce", from_logits=True)
    acc.update(torch.from_numpy(y[:20]), torch.from_numpy(p[:20]).requires_grad_(True))
    acc.update(torch.from_numpy(y[20:]), torch.from_numpy(p[20:]))
    _close(acc.result(), _one_shot("bce", y, p, from_logits=True))


def test_options_and_loss_function_forms():
    rng = np.random.default_rng(4)
    y, p = (rng.random(30) > 0.5).astype(float), rng.normal(size=30)
    ref = _one_shot("bce", y, p, from_logits=True, label_smoothing=0.1)
    for acc in (Accumulator("bce", from_logits=True, label_smoothing=0.1),
                Accumulator(lk.get("binary_crossentropy", from_logits=True), label_smoothing=0.1),
                Accumulator(lk.binary_cross_entropy, from_logits=True, label_smoothing=0.1)):
        acc.update(y[:7], p[:7])
        acc.update(y[7:], p[7:])
        _close(acc.result(), ref)
        assert acc.name == "binary_cross_entropy"


def test_state_round_trips_through_json_and_pickle():
    rng = np.random.default_rng(5)
    y, p, w = (rng.random(40) > 0.5).astype(float), rng.normal(size=40), rng.uniform(size=40)
    a = Accumulator("bce", from_logits=True, pos_weight=np.array(2.0), reduction="sum")
    a.update(y[:25], p[:25], sample_weight=w[:25])
    state = json.loads(json.dumps(a.to_dict()))
    b = Accumulator.from_dict(state)
    c = pickle.loads(pickle.dumps(a))
    for acc in (b, c):
        acc.update(y[25:], p[25:], sample_weight=w[25:])
        _close(acc.result(), _one_shot("bce", y, p, w, "sum", from_logits=True, pos_weight=2.0))
        assert acc.rows == 40
    # a restored empty state and a merge of restored states
    d = Accumulator.from_dict(json.loads(json.dumps(Accumulator("mse").to_dict())))
    assert d.result() == 0.0 and d.mode is None


def test_merge_is_order_free_and_checks_compatibility():
    rng = np.random.default_rng(6)
    y, p = rng.normal(size=100), rng.normal(size=100)
    parts = [Accumulator("mse") for _ in range(4)]
    for k, acc in enumerate(parts):
        acc.update(y[25 * k:25 * (k + 1)], p[25 * k:25 * (k + 1)])
    fwd = Accumulator("mse")
    for acc in parts:
        fwd.merge(acc)
    rev = Accumulator("mse")
    for acc in reversed(parts):
        rev += acc
    _close(fwd.result(), _one_shot("mse", y, p))
    _close(rev.result(), fwd.result())
    with pytest.raises(lk.LossInputError, match="loss and options must match"):
        Accumulator("bce").merge(Accumulator("bce", from_logits=True))
    with pytest.raises(lk.LossInputError, match="loss and options must match"):
        Accumulator("bce").merge(Accumulator("mse"))
    with pytest.raises(lk.LossInputError, match="takes an Accumulator"):
        Accumulator("mse").merge(3.0)


def test_bad_arguments_raise_loss_input_error():
    with pytest.raises(lk.LossInputError, match="unknown loss"):
        Accumulator("no_such_loss")
    with pytest.raises(lk.LossInputError, match="unknown option"):
        Accumulator("mse", delta=2.0)
    with pytest.raises(lk.LossInputError, match="reduction"):
        Accumulator("mse", reduction="none")
    acc = Accumulator("mse")
    acc.update(np.zeros(3), np.ones(3))
    with pytest.raises(lk.LossInputError, match="reduction"):
        acc.result("none")
    with pytest.raises(lk.LossInputError, match="sample_weight"):
        Accumulator("mse", sample_weight=np.ones(3))
    with pytest.raises(lk.LossInputError, match="same shape"):
        acc.update(np.zeros(3), np.ones(4))
    with pytest.raises(lk.LossInputError, match="dimensions"):
        acc.update(np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(lk.LossInputError, match="probabilities"):
        Accumulator("bce").update(np.zeros(2), np.array([0.5, 1.5]))
    with pytest.raises(lk.LossInputError, match="not an Accumulator state"):
        Accumulator.from_dict({"version": 99})


def test_empty_and_zero_weight_results_match_the_library():
    assert Accumulator("mse").result() == 0.0
    acc = Accumulator("mse")
    acc.update(np.zeros(3), np.ones(3), sample_weight=np.zeros(3))
    assert acc.result() == _one_shot("mse", np.zeros(3), np.ones(3), np.zeros(3)) == 0.0


# -- global statistics and non-streamable records (fake records, independent of the families) --
def _gsum_stats(xp, y_true, y_pred):
    return xp.sum(y_true * y_pred), xp.sum(y_true) + xp.sum(y_pred)


def _gsum_from_stats(xp, stats):
    inter, total = stats
    return 1.0 - (2.0 * inter + 1.0) / (total + 1.0)


def _gsum_prepare(xp, y_true, y_pred, opts, validate):
    return xp.asarray(y_true, dtype=xp.float64), xp.asarray(y_pred, dtype=xp.float64), opts


def _gsum_value(xp, y_true, y_pred):
    return _gsum_from_stats(xp, _gsum_stats(xp, y_true, y_pred))


def _all_axes(ndim, opts):
    return tuple(range(ndim))


GLOBAL = Loss(name="global_dice_like", value=_gsum_value, grad=None, hess=None, prepare=_gsum_prepare,
              structure="overlap", reduced_axes=_all_axes, stats=_gsum_stats, from_stats=_gsum_from_stats)


def test_global_loss_accumulates_its_statistics():
    rng = np.random.default_rng(7)
    y, p = (rng.random((10, 4)) > 0.5).astype(float), rng.random((10, 4))
    fn = LossFunction(GLOBAL)
    a, b = Accumulator(fn), Accumulator(fn)
    a.update(y[:3], p[:3])
    b.update(y[3:], p[3:])
    a.merge(b)
    expect = 1.0 - (2 * np.sum(y * p) + 1) / (np.sum(y) + np.sum(p) + 1)
    assert a.mode == "stats"
    _close(a.result(), expect)
    _close(a.result(), float(fn(y, p)))
    assert a.result("sum") == a.result() == a.result("sum_over_batch_size")  # one global score
    with pytest.raises(lk.LossInputError, match="sample_weight does not apply"):
        Accumulator(fn).update(y, p, sample_weight=np.ones(10))
    with pytest.raises(lk.LossInputError, match="same shape after axis 0"):
        a.update(y[:, :2], p[:, :2])


def test_dice_global_and_per_class_over_the_batch_stream():
    """Dice with axis=None (the course) and axis=(0, 2, 3) (one score per class over the whole
    batch, class-weighted): chunked statistics equal the one-shot call and the formula."""
    rng = np.random.default_rng(8)
    y = (rng.random((9, 3, 4, 5)) > 0.6).astype(float)
    p = rng.random((9, 3, 4, 5))
    acc = Accumulator("dice")
    for lo, hi in ((0, 1), (1, 5), (5, 9)):
        acc.update(y[lo:hi], p[lo:hi])
    _close(acc.result(), 1 - (2 * np.sum(y * p) + 1) / (np.sum(y) + np.sum(p) + 1))
    cw = np.array([1.0, 2.0, 3.0])
    acc = Accumulator("dice", axis=(0, 2, 3), class_weight=cw)
    for lo, hi in ((0, 4), (4, 5), (5, 9)):
        acc.update(y[lo:hi], p[lo:hi])
    per_class = 1 - (2 * np.sum(y * p, axis=(0, 2, 3)) + 1) / (np.sum(y, axis=(0, 2, 3)) + np.sum(p, axis=(0, 2, 3)) + 1)
    _close(acc.result(), float(np.sum(cw * per_class) / np.sum(cw)))
    for red in ("mean", "sum", "sum_over_batch_size"):
        _close(acc.result(red), float(lk.dice(y, p, axis=(0, 2, 3), class_weight=cw, reduction=red)))
    restored = Accumulator.from_dict(json.loads(json.dumps(acc.to_dict())))
    _close(restored.result(), acc.result())
    _close(pickle.loads(pickle.dumps(acc)).result("sum"), acc.result("sum"))


def test_global_loss_without_statistics_cannot_stream():
    fn = LossFunction(Loss(name="global_no_stats", value=_gsum_value, prepare=_gsum_prepare,
                           structure="overlap", reduced_axes=_all_axes))
    with pytest.raises(lk.LossInputError, match="chunks along axis 0 cannot be combined"):
        Accumulator(fn).update(np.ones((2, 2)), np.ones((2, 2)))


def test_non_streamable_record_says_why():
    fn = LossFunction(Loss(name="sorted_thing", value=_gsum_value, prepare=_gsum_prepare, streamable=False))
    with pytest.raises(lk.LossInputError, match="cannot be evaluated in a stream.*sorts"):
        Accumulator(fn)


# -- every registered loss ---------------------------------------------------------------
STREAM_CASES = [c for c in CASES]


def _split_options(case, n):
    """(options bound for every chunk, data-shaped options sliced with each chunk)."""
    fixed, rows = {}, {}
    for k, v in case.options.items():
        if n > 1 and not isinstance(v, tuple) and np.ndim(v) >= 1 and np.shape(v)[0] == n \
                and np.asarray(v).dtype.kind == "f":
            rows[k] = np.asarray(v)
        else:
            fixed[k] = v
    return fixed, rows


def _sliced(rows, lo, hi):
    return {k: v[lo:hi] for k, v in rows.items()}


@pytest.mark.parametrize("case", STREAM_CASES, ids=[c.id for c in STREAM_CASES])
def test_every_loss_streams_or_says_it_cannot(case):
    fn = lk.get(case.loss, **case.options)
    if not fn.record.streamable:
        with pytest.raises(lk.LossInputError, match="cannot be evaluated in a stream"):
            Accumulator(fn)
        return
    y, p = case.make(rng_for(case))
    if np.ndim(p) == 0:
        pytest.skip("scalar inputs have no rows to chunk")
    n = p.shape[0]
    fixed, rows = _split_options(case, n)
    chunked = lk.get(case.loss, **fixed)
    call = fn.bind(y, p)
    axes = {int(a) % p.ndim for a in fn.record.reduced_axes(call.y_pred.ndim, call.opts)}
    if 0 in axes and fn.record.stats is None:  # e.g. the class axis is axis 0: rows are not samples
        with pytest.raises(lk.LossInputError, match="chunks along axis 0 cannot be combined"):
            Accumulator(chunked).update(y[:1], p[:1], **_sliced(rows, 0, 1))
        return
    rng = rng_for(case, 7)
    acc = Accumulator(chunked)
    parts = []
    for lo, hi in _cuts(n, rng):
        part = Accumulator(chunked)
        part.update(y[lo:hi], p[lo:hi], **_sliced(rows, lo, hi))
        acc.update(y[lo:hi], p[lo:hi], **_sliced(rows, lo, hi))
        parts.append(part)
    merged = Accumulator(chunked)
    for part in parts:
        merged.merge(part)
    for red in ("mean", "sum", "sum_over_batch_size"):
        one = float(np.asarray(fn(y, p, reduction=red)))
        _close(acc.result(red), one)
        _close(merged.result(red), one)
    if not rows:
        restored = Accumulator.from_dict(json.loads(json.dumps(acc.to_dict())))
        _close(restored.result(), acc.result())
    if acc.mode == "samples":  # per-row weights
        w = rng.uniform(0.1, 2.0, size=n)
        wacc = Accumulator(chunked)
        for lo, hi in _cuts(n, rng):
            wacc.update(y[lo:hi], p[lo:hi], sample_weight=w[lo:hi], **_sliced(rows, lo, hi))
        _close(wacc.result(), float(np.asarray(fn(y, p, sample_weight=w))))
