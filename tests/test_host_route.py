"""The host route (losskit._array.host): small CPU torch tensors computed by the NumPy kernels on
their memory. Every reference case, in float64 and float32, gives what the torch kernels give
(value, autograd gradient, ``.grad``, ``.grad_hess``, unreduced values: dtype, shape and
numbers), a second backward differentiates the torch kernels, and the route declines wherever it
could not be exact: large or non-CPU tensors, other inputs or option tensors that require grad,
half floats without NumPy views, tensor subclasses, torch.compile, torch.func and forward AD."""

import numpy as np
import pytest
from conftest import load_backend
from refs import CASES
from refs.spec import rng_for

import losskit as lk
from losskit import autograd, engine, fused
from losskit._array import host

pytestmark = pytest.mark.host_route

IDS = [c.id for c in CASES]


@pytest.fixture
def torch():
    return load_backend("torch")


@pytest.fixture
def routes(monkeypatch):
    """``routes(fn)``: ``fn()`` on the host route and on the torch kernels, and whether the host
    route took a call of ``fn`` (handed a NumPy result back as a tensor)."""
    taken = []

    def spy(f):  # (only the host route hands NumPy results back as tensors)
        def handing_back(*a, **k):
            taken.append(True)
            return f(*a, **k)
        return handing_back

    monkeypatch.setattr(host, "to_torch", spy(host.to_torch))
    monkeypatch.setattr(autograd, "torch_held", spy(autograd.torch_held))

    def run(fn):
        taken.clear()
        on_host = fn()
        used = any(taken)
        with pytest.MonkeyPatch.context() as mp:
            _route_off(mp)
            on_torch = fn()
        return on_host, on_torch, used

    return run


def _route_off(mp):
    """The host route off: every call on the torch kernels."""
    mp.setattr(host, "ELEMENTS", 0)
    mp.setattr(host, "AT_SCALE", False)


def _tensors(torch, case, dtype):
    y, p = case.make(rng_for(case))
    ty = torch.as_tensor(y.astype(dtype) if y.dtype.kind == "f" else y)
    return ty, torch.as_tensor(p.astype(dtype))


def _same(a, b, rtol):
    assert type(a) is type(b)
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v, rtol)
        return
    assert (a.dtype, tuple(a.shape), a.device, a.requires_grad) == (b.dtype, tuple(b.shape), b.device, b.requires_grad)
    scale = max(float(b.detach().abs().max()), 1e-300) if b.numel() else 1.0
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_host_route_equals_the_torch_kernels(torch, routes, case, dtype):
    f = lk.get(case.loss, **case.options)
    ty, tp = _tensors(torch, case, dtype)
    rtol = 1e-10 if dtype == "float64" else 3e-5
    opts = {**f.record.options, **case.options}
    stays = f.record.stays_on_torch is not None and f.record.stays_on_torch(opts) and not engine.fuses(
        f.record, ty.numpy(), tp.numpy(), opts)  # (a fused kernel takes a softmax Dice of rows)

    def step(reduction):
        x = tp.clone().requires_grad_()
        value = f(ty, x, reduction=reduction)
        value.sum().backward()
        return value, x.grad

    for reduction in ("mean", "none"):
        on_host, on_torch, used = routes(lambda r=reduction: step(r))
        assert used is not stays
        _same(on_host, on_torch, rtol)
        assert type(on_host[0].grad_fn).__name__ in ("ClosedFormBackward", "HeldGradientBackward")
    for call in (lambda: f(ty, tp), lambda: f.grad(ty, tp), lambda: f.grad_hess(ty, tp), lambda: f.value_and_grad(ty, tp)):
        on_host, on_torch, used = routes(call)
        assert used is not stays
        _same(on_host, on_torch, rtol)


@pytest.mark.parametrize("case", CASES[::7], ids=IDS[::7])
def test_second_backward_differentiates_the_torch_kernels(torch, routes, case):
    """``create_graph=True``: the first backward is recorded (it runs the torch kernels), so
    Hessian-vector products equal the torch route's."""
    f = lk.get(case.loss, **case.options)
    ty, tp = _tensors(torch, case, "float64")
    v = torch.as_tensor(np.random.default_rng(0).normal(size=tuple(tp.shape)))

    def hvp():
        x = tp.clone().requires_grad_()
        (g,) = torch.autograd.grad(f(ty, x), x, create_graph=True)
        if not g.requires_grad:  # piecewise linear: no second derivative
            return g.detach(), torch.zeros_like(x)
        return g.detach(), torch.autograd.grad(g, x, grad_outputs=v)[0]

    on_host, on_torch, _ = routes(hvp)
    _same(on_host, on_torch, 1e-10)


def test_small_cpu_tensors_take_the_host_route(torch, routes):
    y, x = torch.randn(256, 10), torch.randn(256, 10, requires_grad=True)
    (value, grad), _, used = routes(lambda: (lk.mse(y, x), torch.autograd.grad(lk.mse(y, x), x)[0]))
    assert used
    assert value.dtype == torch.float32 and value.requires_grad
    np.testing.assert_allclose(grad.numpy(), 2 * (x.detach() - y).numpy() / x.numel(), rtol=1e-6)


def _large_inputs(torch, name, dtype):
    """``(y_true, y_pred, options)`` of 100 x 100 (past ELEMENTS) for a loss with ``fused_at_scale``."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(100, 100))
    bits = (rng.random((100, 100)) > 0.5).astype(np.float64)
    cases = {
        "mean_squared_error": (rng.normal(size=(100, 100)), x, {}),
        "binary_cross_entropy": (bits, 3 * x, {"from_logits": True}),
        "hinge": (2 * bits - 1, x, {}),
        "categorical_cross_entropy": (np.exp(x.T) / np.exp(x.T).sum(1, keepdims=True), x, {"from_logits": True}),
        "sparse_categorical_cross_entropy": (rng.integers(0, 100, size=100), x, {"from_logits": True}),
        # (through a softmax the fused Dice kernels take rows of 256 classes or more)
        "dice": (np.eye(300)[rng.integers(0, 300, size=40)], 3 * rng.normal(size=(40, 300)),
                 {"activation": "softmax", "class_axis": -1}),
        "kl_divergence": (np.exp(x.T) / np.exp(x.T).sum(1, keepdims=True), x, {"from_logits": True}),
    }
    cases["jaccard"] = cases["dice"]
    cases["tversky"] = (bits, 1.0 / (1.0 + np.exp(-x)), {"alpha": 0.3, "beta": 0.7})  # on probabilities
    y, p, opts = cases[name]
    ty = torch.as_tensor(y.astype(dtype) if y.dtype.kind == "f" else y)
    return ty, torch.as_tensor(p.astype(dtype)).requires_grad_(), opts


FUSED_AT_SCALE = ["mean_squared_error", "binary_cross_entropy", "hinge", "categorical_cross_entropy",
                  "sparse_categorical_cross_entropy", "dice", "jaccard", "tversky", "kl_divergence"]


def test_fused_at_scale_losses_are_the_tested_ones():
    assert sorted(n for n in lk.available(aliases=False) if lk.get(n).record.fused_at_scale) == sorted(FUSED_AT_SCALE)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", FUSED_AT_SCALE)
def test_large_calls_of_fused_at_scale_losses(torch, routes, name, dtype):
    """Past ELEMENTS a loss whose fused kernels beat its torch kernels takes the host route (when
    numba is there): value, gradient through the held node and a second backward agree with the
    torch kernels; BCE, Dice and KL on probabilities as well."""
    ty, tp, opts = _large_inputs(torch, name, dtype)
    f = lk.get(name, **opts)
    calls = [(f, tp)]
    if name == "binary_cross_entropy":
        calls.append((lk.binary_cross_entropy, torch.sigmoid(tp.detach()).requires_grad_()))
    if name in ("dice", "jaccard", "kl_divergence"):
        calls.append((lk.get(name), torch.softmax(tp.detach(), -1).requires_grad_()))  # on probabilities
    rtol = 1e-12 if dtype == "float64" else 2e-5
    for loss, p in calls:
        def step(loss=loss, p=p):  # the held gradient, then (retain_graph) the torch kernels', scaled
            value = loss(ty, p)
            (g,) = torch.autograd.grad(value, p, retain_graph=True)
            (g2,) = torch.autograd.grad(3.0 * value, p)
            return value, g, g2
        on_host, on_torch, used = routes(step)
        assert used == fused.available()
        _same(on_host, on_torch, rtol)


def test_large_softmax_dice_with_short_rows_stays_on_torch(torch, routes):
    """Through a softmax with fewer than 256 classes the lean torch kernels beat the fused ones:
    a large call stays on torch (on probabilities it takes the host route)."""
    rng = np.random.default_rng(7)
    y = torch.as_tensor(np.eye(16)[rng.integers(0, 16, size=800)])
    x = torch.as_tensor(rng.normal(size=(800, 16))).requires_grad_()
    f = lk.get("dice", activation="softmax", class_axis=-1)
    on_host, on_torch, used = routes(lambda: (f(y, x), torch.autograd.grad(f(y, x), x)[0]))
    assert not used
    _same(on_host, on_torch, 1e-12)
    p = torch.softmax(x.detach(), -1).requires_grad_()
    assert routes(lambda: lk.dice(y, p))[2] == fused.available()


@pytest.mark.skipif(not fused.available(), reason="the fused kernels need numba")
def test_large_calls_keep_to_torchs_threads(torch):
    """A host-route call's engine boxes use at most torch's intra-op threads (and the engine's)."""
    y, x = torch.randn(400, 100), torch.randn(400, 100, requires_grad=True)
    threads = torch.get_num_threads()
    try:
        for torch_threads, engine_threads, used in ((1, 2, 1), (2, 1, 1), (2, 2, 2)):
            torch.set_num_threads(torch_threads)
            with engine.configure(threads=engine_threads, chunk=4000):
                lk.mse(y, x).backward()
                assert f", {used} thread(s)" in engine.last_route()
                lk.mse(y, x.detach())
                assert f", {used} thread(s)" in engine.last_route()
    finally:
        torch.set_num_threads(threads)


def test_backward_twice_accumulates(torch):
    """``retain_graph=True``: each backward hands autograd a fresh gradient (autograd keeps the
    first as ``.grad`` and adds the others into it), scaled by its own cotangent (the first is
    the held gradient, scaled in place; the others run the torch kernels)."""
    y, x = torch.randn(8, 3), torch.randn(8, 3, requires_grad=True)
    value = lk.mse(y, x)
    value.backward(torch.tensor(0.5), retain_graph=True)
    value.backward(retain_graph=True)
    value.backward(torch.tensor(-3.0))
    np.testing.assert_allclose(x.grad.numpy(), -1.5 * 2 * (x.detach() - y).numpy() / x.numel(), rtol=1e-6)


def test_nothing_shared_with_the_inputs(torch):
    """Results never share memory with the inputs, and the inputs are not modified."""
    y, p = torch.rand(6, 4), torch.rand(6, 4)
    y0, p0 = y.clone(), p.clone()
    outs = [lk.mse(y, p, reduction="none"), *lk.mse.grad_hess(y, p), lk.mean_absolute_error(None, p, reduction="none"),
            lk.binary_cross_entropy(y.round(), p, reduction="none")]
    for out in outs:
        for a in (y, p):
            assert out.untyped_storage().data_ptr() != a.untyped_storage().data_ptr()
    assert torch.equal(y, y0) and torch.equal(p, p0)


def test_declines_where_it_could_not_be_exact(torch, routes):
    rng = np.random.default_rng(1)
    y, x = torch.as_tensor(rng.normal(size=(4, 3))), torch.as_tensor(rng.normal(size=(4, 3)))

    def used(fn):
        return routes(fn)[2]

    assert used(lambda: lk.mse(y, x))
    big = torch.zeros(100, 100), torch.zeros(100, 100)  # past ELEMENTS: only where a fused kernel beats torch's
    assert used(lambda: lk.mse(*big)) == fused.available()
    assert not used(lambda: lk.mae(*big))  # no fused kernel
    assert not used(lambda: lk.binary_focal_cross_entropy(*big, from_logits=True))  # torch's are leaner at scale
    assert not used(lambda: lk.mse(*big, reduction="none"))  # reduced calls only
    assert not used(lambda: lk.mse(*big, sample_weight=torch.ones(100)))  # unweighted ones only
    assert not used(lambda: lk.mse(y.requires_grad_(), x.clone().requires_grad_()))  # y_true's gradient
    y.requires_grad_(False)
    assert not used(lambda: lk.mse.grad(y, x.clone().requires_grad_()))  # a differentiable .grad
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2, 1, 1])
    assert not used(lambda: lk.sparse_categorical_cross_entropy(labels, x, from_logits=True, class_weight=w))
    assert used(lambda: lk.sparse_categorical_cross_entropy(labels, x, from_logits=True, class_weight=w.detach()))
    assert not used(lambda: lk.mse(y.to(torch.bfloat16), x.to(torch.bfloat16)))  # no NumPy view
    assert not used(lambda: lk.mse(y, x.long()))  # an integer y_pred: torch's default float, not NumPy's
    assert not used(lambda: lk.mse(y.to("meta"), x.to("meta")))

    class Tagged(torch.Tensor):
        pass

    assert not used(lambda: lk.mse(y, x.as_subclass(Tagged)))
    assert not used(lambda: torch.func.grad(lambda q: lk.mse(y, q))(x))
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(x, torch.ones_like(x))
        assert not used(lambda: lk.mse(y, dual))
    # stays_on_torch: a softmax Dice stays on torch, unless a fused kernel (numba) takes the call:
    # global, classes on the last axis, masks of y_pred's dtype
    y4, x4 = torch.as_tensor(rng.uniform(size=(2, 3, 2, 2)).round()), torch.as_tensor(rng.normal(size=(2, 3, 2, 2)))
    assert not used(lambda: lk.dice(y4, x4, activation="softmax"))  # classes on axis 1 of 4
    assert not used(lambda: lk.dice(y.sigmoid().round(), x, activation="softmax", axis=0))  # per-class scores
    assert used(lambda: lk.dice(y.sigmoid().round(), x, activation="softmax")) == fused.available()


def test_declines_under_torch_compile(torch, routes):
    y, x = torch.randn(4, 3), torch.randn(4, 3, requires_grad=True)
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, b: lk.mse(a, b), fullgraph=True)
    on_host, on_torch, _ = routes(lambda: compiled(y, x))
    _same(on_host, on_torch, 1e-6)


def test_same_messages_as_numpy(torch):
    cases = [
        (lk.binary_cross_entropy, [2.0, 0.0], [0.5, 0.5], {}),
        (lk.mse, [1.0, np.nan], [0.5, 0.5], {}),
        (lk.sparse_categorical_cross_entropy, [0, 3], [[0.2, 0.8], [0.5, 0.5]], {}),
        (lk.categorical_cross_entropy, [[0.5, 0.6]], [[0.5, 0.5]], {}),
    ]
    for f, y, p, kw in cases:
        with pytest.raises(lk.LossInputError) as on_numpy:
            f(np.asarray(y), np.asarray(p), **kw)
        with pytest.raises(lk.LossInputError) as on_host:
            f(torch.as_tensor(y), torch.as_tensor(p, dtype=torch.float64).requires_grad_(), **kw)
        assert str(on_host.value) == str(on_numpy.value)


def test_half_precision_views(torch, routes):
    """float16 has NumPy views: the host route upcasts to float32 as the torch kernels do."""
    y, x = torch.rand(5, 4).half(), torch.rand(5, 4).half()
    on_host, on_torch, used = routes(lambda: lk.binary_cross_entropy(y.round(), x, reduction="none"))
    assert used
    _same(on_host, on_torch, 3e-5)


def test_integer_labels_and_boolean_masks(torch, routes):
    """int32 class ids have NumPy views (the host route takes them); a bool mask is refused by
    both routes with one message."""
    rng = np.random.default_rng(4)
    logits = torch.as_tensor(rng.normal(size=(6, 5)))
    labels = torch.as_tensor(rng.integers(0, 5, size=6).astype(np.int32))
    on_host, on_torch, used = routes(lambda: lk.sparse_categorical_cross_entropy(labels, logits, from_logits=True))
    assert used
    _same(on_host, on_torch, 1e-12)
    mask = torch.as_tensor(rng.random((6, 5)) > 0.5)
    messages = []
    for off in (False, True):
        with pytest.MonkeyPatch.context() as mp:
            if off:
                _route_off(mp)
            with pytest.raises(lk.LossInputError) as err:
                lk.binary_cross_entropy(mask, logits, from_logits=True)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_weights_cotangents_and_edge_shapes(torch, routes):
    """Tensor sample and class weights, a non-uniform cotangent of unreduced values, a transposed
    y_pred, empty and 0-d inputs, and no_grad / inference_mode calls agree with the torch kernels."""
    rng = np.random.default_rng(5)
    logits = torch.as_tensor(rng.normal(size=(7, 4)))
    labels = torch.as_tensor(rng.integers(0, 4, size=7))
    w, cw = torch.as_tensor(rng.uniform(0.5, 2, size=7)), torch.as_tensor(rng.uniform(0.5, 2, size=4))
    ct = torch.as_tensor(rng.normal(size=7))
    y, p = torch.as_tensor(rng.normal(size=(4, 7))), torch.as_tensor(rng.normal(size=(7, 4)))

    def weighted_step():
        x = logits.clone().requires_grad_()
        v = lk.sparse_categorical_cross_entropy(labels, x, from_logits=True, sample_weight=w, class_weight=cw,
                                                reduction="none")
        (v * ct).sum().backward()
        return v, x.grad

    def transposed_step():
        x = p.clone().requires_grad_()
        v = lk.huber(y, x.T)
        v.backward()
        return v, x.grad

    def quiet():
        with torch.no_grad():
            a = lk.mse(y, p.T.requires_grad_())
        with torch.inference_mode():
            b = lk.binary_cross_entropy(torch.sigmoid(y).round(), torch.sigmoid(p.T))
        return a, b

    def edge_step(shape):  # a training step on a 0-d or an empty y_pred
        x = torch.full(shape, 2.0, dtype=torch.float64, requires_grad=True)
        v = lk.mse(torch.full(shape, 0.5, dtype=torch.float64), x)
        v.backward(torch.tensor(3.0, dtype=torch.float64))
        return v, x.grad

    for call in (weighted_step, transposed_step, quiet, lambda: edge_step(()), lambda: edge_step((0,)),
                 lambda: lk.mse(torch.zeros(0), torch.zeros(0)),
                 lambda: lk.mse.value_and_grad(torch.tensor(0.5), torch.tensor(2.0))):
        on_host, on_torch, used = routes(call)
        assert used
        _same(on_host, on_torch, 1e-12)


# -- the memo of small calls' routes (LossFunction._small_call) ---------------------------------
@pytest.fixture
def lane(monkeypatch):
    """A list that gets one entry per call that the memoised route evaluated (its fused box)."""
    calls = []
    one_box = engine.one_box

    def spy(*a, **k):
        calls.append(a[0])
        return one_box(*a, **k)

    monkeypatch.setattr(engine, "one_box", spy)
    return calls


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_memoised_route_gives_the_same_bits(torch, lane, case, dtype):
    """A call the memo serves gives what the full call machinery gives (``_run``), bit for bit:
    the value, and the gradient through the closed-form node; each call reads its own inputs."""
    f = lk.get(case.loss, **case.options)
    ty, tp = _tensors(torch, case, dtype)

    def step(call, p):
        x = p.clone().requires_grad_()
        value = call(x)
        value.backward()
        return value.detach(), x.grad

    for p in (tp, tp.flip(0), tp):  # the first call fills the memo, the others read it
        memo = step(lambda x: f(ty, x), p)
        full = step(lambda x: f._run(ty, x, {}, order=0), p)
        assert torch.equal(memo[0], full[0]) and torch.equal(memo[1], full[1])
        assert torch.equal(f(ty, p), f._run(ty, p, {}, order=0))  # no grad: the value alone
    if lane:
        assert len(lane) == 6  # every call of f above (the full calls never come here)


def test_memoised_route_follows_what_decides_it(torch, lane):
    y, x = torch.randn(16, 3), torch.randn(16, 3)
    lk.mse(y, x)
    if not lane:
        pytest.skip("no fused kernels (numba not installed)")
    lane.clear()
    with engine.configure(compiled=False):  # the settings the box was chosen under changed
        assert torch.equal(lk.mse(y, x), lk.mse._run(y, x, {}, order=0))
        assert torch.equal(lk.mse(y, x), lk.mse._run(y, x, {}, order=0))
    assert not lane
    with engine.configure(chunk=1 << 16):  # other settings, the same route: memoised for them too
        lk.mse(y, x)
        lk.mse(y, x)
    assert len(lane) == 2
    lane.clear()
    with torch.no_grad():  # grad mode is part of the signature: the value alone
        out = lk.mse(y, x.clone().requires_grad_())
    assert out.grad_fn is None and len(lane) == 1
    x2 = x.clone()
    before = lk.mse(y, x2)
    x2.mul_(2.0)  # values are read afresh each call
    assert not torch.equal(lk.mse(y, x2), before) and len(lane) == 3
    lane.clear()
    assert lk.mse(y, x, reduction="sum").item() == pytest.approx(float(((x - y) ** 2).sum()), rel=1e-6)
    assert lk.mse(y, x, reduction="none").shape == (16, 3)  # no one-box route: the full call machinery
    assert len(lane) == 1
    with pytest.raises(lk.LossInputError) as on_tensor:  # an input outside the kernel's domain:
        lk.mse(y, torch.full((16, 3), float("nan")))  # the full call machinery raises its error
    with pytest.raises(lk.LossInputError) as on_numpy:
        lk.mse(y.numpy(), np.full((16, 3), np.nan))
    assert str(on_tensor.value) == str(on_numpy.value)


def test_memoised_route_takes_plain_options_only(torch, lane):
    """Options that may change in place (arrays, tensors) are never memoised on."""
    y, x = torch.randn(8, 3).sign().clamp(min=0), torch.randn(8, 3)
    weight = torch.tensor([1.0, 2.0, 0.5])
    bce = lk.binary_cross_entropy
    assert host.signature(y, x, {"pos_weight": weight}) is None
    assert host.signature(y, x, {"from_logits": True}) is not None
    first = bce(y, x, from_logits=True, pos_weight=weight)
    weight.mul_(2.0)  # changed in place: the next call reads the new weights
    assert not torch.equal(bce(y, x, from_logits=True, pos_weight=weight), first)
    assert not lk.get("binary_cross_entropy", pos_weight=np.array([1.0, 2.0, 0.5]))._memoisable
    assert lk.get("binary_cross_entropy", from_logits=True)._memoisable
