"""Every loss inside a training step: torch ``meta`` tensors and ``torch.compile(fullgraph=True)``.

Value checks read values on the host, which ``meta`` tensors cannot do and which breaks a
compiled graph; they are skipped there (``losskit._array.xp.value_check_mode``). These tests run
each registered loss, in its first reference configuration, with ``validate=True``.
"""

import numpy as np
import pytest
from conftest import load_backend
from refs import CASES
from refs.spec import rng_for

import losskit as lk

FIRST = list({c.loss: c for c in reversed(CASES)}.values())  # one case per loss, the first listed
IDS = [c.id for c in FIRST]


def _torch_inputs(torch, case, device="cpu"):
    y, p = case.make(rng_for(case))
    ty = torch.as_tensor(y, device=device)
    tp = torch.as_tensor(p, device=device).requires_grad_()
    return y, p, ty, tp


def test_every_registered_loss_is_covered():
    assert {c.loss for c in FIRST} == set(lk.LOSSES)


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_meta_tensors_with_validation(case):
    """Value and backward run on ``meta`` tensors (no values, so any host read would raise)
    and give the shapes and dtypes of the CPU call."""
    torch = load_backend("torch")
    f = lk.get(case.loss, **case.options)
    _, _, ty, tp = _torch_inputs(torch, case)
    _, _, my, mp = _torch_inputs(torch, case, device="meta")
    for reduction in ("mean", "none"):
        cpu, meta = f(ty, tp, reduction=reduction), f(my, mp, reduction=reduction, validate=True)
        assert meta.device.type == "meta"
        assert (tuple(meta.shape), meta.dtype) == (tuple(cpu.shape), cpu.dtype)
    f(my, mp).backward()
    assert mp.grad is not None and tuple(mp.grad.shape) == tuple(mp.shape)


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_torch_compile_fullgraph(case):
    """One graph, no breaks: value and gradient equal the eager call's."""
    torch = load_backend("torch")
    f = lk.get(case.loss, **case.options)
    _, _, ty, tp = _torch_inputs(torch, case)
    _assert_compiled_is_eager(torch, f, ty, tp)


# Every reference case of the losses that gather a class id's entry from y_pred (Inductor on CPU
# once gave a wrong compiled gradient for one of them: see losskit._array.lean.compiled_take).
GATHERING = [c for c in CASES if c.loss in ("sparse_categorical_cross_entropy", "sparse_categorical_focal_cross_entropy",
                                            "generalized_cross_entropy")]


@pytest.mark.parametrize("case", GATHERING, ids=[c.id for c in GATHERING])
def test_torch_compile_of_class_id_losses_equals_eager(case):
    """Compiled value and gradient of every reference case that reads ``y_pred`` at the label
    equal the eager call's (with ``renormalize`` and label smoothing on probabilities, Inductor
    ran the gather's backward ``scatter_add`` after the fused kernel that added it in)."""
    torch = load_backend("torch")
    f = lk.get(case.loss, **case.options)
    _, _, ty, tp = _torch_inputs(torch, case)
    _assert_compiled_is_eager(torch, f, ty, tp)


def _assert_compiled_is_eager(torch, f, ty, tp):
    """``torch.compile(fullgraph=True)`` of ``f(ty, tp)`` gives the eager value and gradient."""
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, b: f(a, b), fullgraph=True)
    value = compiled(ty, tp)
    (grad,) = torch.autograd.grad(value, tp)
    eager = f(ty, tp)
    (eager_grad,) = torch.autograd.grad(eager, tp)
    np.testing.assert_allclose(value.detach().numpy(), eager.detach().numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad.numpy(), eager_grad.numpy(), rtol=1e-10, atol=1e-14)


def _dynamo_graph(torch, fn, *args):
    """``(graph, value)``: the one FX graph Dynamo captures for ``fn(*args)`` (fullgraph), run
    eagerly, and its value."""
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    value = torch.compile(fn, backend=backend, fullgraph=True)(*args)
    (graph,) = graphs
    return graph, value


def _calls(graph):
    return [str(n.target) for n in graph.graph.nodes if n.op == "call_function" and "getitem" not in str(n.target)]


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_torch_compile_sees_one_opaque_call(case):
    """Dynamo captures the call as one ``nonstrict_trace`` function (no line-by-line trace of the
    call machinery, whose reads would each be a guard before every compiled call); the value is
    the eager one."""
    torch = load_backend("torch")
    f = lk.get(case.loss, **case.options)
    _, _, ty, tp = _torch_inputs(torch, case)
    graph, value = _dynamo_graph(torch, lambda a, b: f(a, b), ty, tp)
    calls = _calls(graph)
    assert len(calls) == 1 and "flat_apply" in calls[0], calls
    np.testing.assert_allclose(value.detach().numpy(), f(ty, tp).detach().numpy(), rtol=1e-12, atol=1e-300)


LINE_BY_LINE = [c for c in FIRST if c.loss in ("mean_squared_error", "binary_cross_entropy",
                                                "sparse_categorical_cross_entropy", "dice")]


@pytest.mark.parametrize("case", LINE_BY_LINE, ids=[c.id for c in LINE_BY_LINE])
def test_torch_compile_line_by_line(case, monkeypatch):
    """What cannot pass whole (a symbolic number, see below) is traced line by line into the
    same graph, forced here for every argument: many operations, and Inductor's value and
    gradient equal the eager ones."""
    torch = load_backend("torch")
    from losskit import autograd

    monkeypatch.setattr(autograd, "compiled_value", lambda *args: None)
    f = lk.get(case.loss, **case.options)
    _, _, ty, tp = _torch_inputs(torch, case)
    graph, _ = _dynamo_graph(torch, lambda a, b: f(a, b), ty, tp)
    assert len(_calls(graph)) > 3 and not any("flat_apply" in c for c in _calls(graph))
    _assert_compiled_is_eager(torch, f, ty, tp)


def test_torch_compile_option_that_changes_between_calls():
    """A float option passed into the compiled function changes between calls: Dynamo makes it
    symbolic after the first change (it once failed there, on both routes); every value gives
    the eager loss and gradient."""
    torch = load_backend("torch")
    gen = torch.Generator().manual_seed(0)
    y, x = torch.randint(0, 4, (6,), generator=gen), torch.randn(6, 4, generator=gen, requires_grad=True)
    f = lk.sparse_categorical_cross_entropy
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, b, s: f(a, b, from_logits=True, label_smoothing=s), fullgraph=True)
    for s in (0.0, 0.1, 0.2, 0.3):
        value = compiled(y, x, s)
        (grad,) = torch.autograd.grad(value, x)
        eager = f(y, x, from_logits=True, label_smoothing=s)
        (eager_grad,) = torch.autograd.grad(eager, x)
        torch.testing.assert_close(value, eager, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(grad, eager_grad, rtol=1e-5, atol=1e-7)


def test_torch_compile_learned_class_weight_gets_its_gradient():
    """A class weight that requires grad stays an input of the compiled graph: its gradient and
    the prediction's equal autograd's in eager mode (a captured constant would get none)."""
    torch = load_backend("torch")
    gen = torch.Generator().manual_seed(1)
    y, x = torch.randint(0, 3, (8,), generator=gen), torch.randn(8, 3, generator=gen, dtype=torch.float64)
    f = lk.sparse_categorical_cross_entropy
    grads = []
    for run in (lambda *a: f(*a[:2], from_logits=True, class_weight=a[2]),
                torch.compile(lambda *a: f(*a[:2], from_logits=True, class_weight=a[2]), fullgraph=True)):
        xx, w = x.clone().requires_grad_(), torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
        grads.append(torch.autograd.grad(run(y, xx, w), (xx, w)))
    for compiled, eager in zip(grads[1], grads[0]):
        assert compiled.abs().sum() > 0
        torch.testing.assert_close(compiled, eager, rtol=1e-10, atol=1e-14)


def test_bad_input_still_raises_on_cpu_tensors():
    """Skipping checks is for meta, accelerators and tracing only: a CPU tensor is checked."""
    torch = load_backend("torch")
    with pytest.raises(lk.LossInputError, match=r"y_true must hold targets in \[0, 1\]"):
        lk.binary_cross_entropy(torch.tensor([2.0, 0.0]), torch.tensor([0.5, 0.5]))


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_closed_form_backward_node(case):
    """A value on a tensor that requires grad is one autograd node whose backward is the
    closed-form gradient: it equals ``.grad``, and a second backward (``create_graph=True``)
    gives Hessian-vector products, checked against finite differences of ``.grad``."""
    torch = load_backend("torch")
    f = lk.get(case.loss, **case.options)
    y, p, ty, tp = _torch_inputs(torch, case)
    value = f(ty, tp)
    assert type(value.grad_fn).__name__ == "ClosedFormBackward"
    (grad,) = torch.autograd.grad(value, tp, create_graph=True)
    np.testing.assert_allclose(grad.detach().numpy(), f.grad(y, p), rtol=1e-10, atol=1e-14)
    v = np.random.default_rng(0).normal(size=p.shape)
    if grad.requires_grad:
        (hvp,) = torch.autograd.grad(grad, tp, grad_outputs=torch.as_tensor(v))
    else:  # a piecewise-linear loss: the gradient does not depend on y_pred
        hvp = torch.zeros_like(tp)
    h = 1e-6  # (perturbed rows need not sum to 1: no validation for the differences)
    fd = (f.grad(y, p + h * v, validate=False) - f.grad(y, p - h * v, validate=False)) / (2 * h)
    np.testing.assert_allclose(hvp.numpy(), fd, rtol=1e-4, atol=1e-6)


ONE_PASS = [c for c in CASES if lk.get(c.loss).record.value_grad is not None]


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", ONE_PASS, ids=[c.id for c in ONE_PASS])
def test_one_pass_value_grad_equals_the_two_kernels(case, reduction):
    """Where the record has a one-pass ``value_grad`` (the closed-form forward then holds the
    gradient), value and gradient equal the value and grad kernels' on the same tensors."""
    torch = load_backend("torch")
    f = lk.get(case.loss, **case.options)
    _, _, ty, tp = _torch_inputs(torch, case)
    value = f(ty, tp, reduction=reduction)
    (grad,) = torch.autograd.grad(value.sum(), tp)
    x = tp.detach()
    np.testing.assert_allclose(value.detach().numpy(), f(ty, x, reduction=reduction).numpy(), rtol=1e-13, atol=0)
    want = f.grad(ty, x) if reduction == "mean" else f.grad(ty, x, reduction="sum")
    np.testing.assert_allclose(grad.numpy(), want.numpy(), rtol=1e-12, atol=1e-15 * float(want.abs().max()))


def test_gradients_reach_soft_targets_and_weights():
    """Distillation (a soft target that requires grad) and learned sample weights take the
    plain autograd path, so their gradients are there and right (never silently missing)."""
    torch = load_backend("torch")
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(5, 4)), dtype=torch.float64, requires_grad=True)
    t = torch.softmax(torch.as_tensor(rng.normal(size=(5, 4))), -1).requires_grad_()
    lk.categorical_cross_entropy(t, x, from_logits=True).backward()
    log_q = x.detach() - torch.logsumexp(x.detach(), -1, keepdim=True)
    np.testing.assert_allclose(t.grad.numpy(), (-log_q / 5).numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), ((torch.softmax(x.detach(), -1) - t.detach()) / 5).numpy(), rtol=1e-10)

    y = torch.as_tensor(rng.normal(size=6))
    p = torch.tensor(rng.normal(size=6), requires_grad=True)
    w = torch.tensor(rng.uniform(0.5, 2.0, size=6), requires_grad=True)
    lk.mean_squared_error(y, p, sample_weight=w).backward()
    per_sample = (p.detach() - y) ** 2
    want = (per_sample - (w.detach() * per_sample).sum() / w.detach().sum()) / w.detach().sum()  # d/dw of sum(w l) / sum(w)
    np.testing.assert_allclose(w.grad.numpy(), want.numpy(), rtol=1e-12)


def test_gradients_reach_learned_option_tensors():
    """An option given as a tensor that requires grad (a learned ``class_weight`` or
    ``pos_weight``) takes the plain autograd path: the closed-form node has no gradient for it
    (before, ``w.grad`` stayed None). Checked against autograd of the textbook formulas."""
    torch = load_backend("torch")
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(6, 3)), requires_grad=True)
    labels = torch.as_tensor(rng.integers(0, 3, size=6))
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    lk.sparse_categorical_cross_entropy(labels, x, from_logits=True, class_weight=w).backward()
    w_y = w[labels]
    nll = -torch.log_softmax(x, 1).gather(1, labels[:, None])[:, 0]
    want_w, want_x = torch.autograd.grad((w_y * nll).sum() / w_y.sum(), (w, x))
    np.testing.assert_allclose(w.grad.numpy(), want_w.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), want_x.numpy(), rtol=1e-12)

    z = torch.tensor(rng.normal(size=(6, 3)), requires_grad=True)
    y = torch.as_tensor(rng.integers(0, 2, size=(6, 3)).astype(float))
    pw = torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64, requires_grad=True)
    lk.binary_cross_entropy(y, z, from_logits=True, pos_weight=pw).backward()
    ref = -(pw * y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(1 - torch.sigmoid(z))).mean()
    want_pw, want_z = torch.autograd.grad(ref, (pw, z))
    np.testing.assert_allclose(pw.grad.numpy(), want_pw.numpy(), rtol=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), want_z.numpy(), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# JAX: the closed-form gradient as a custom_jvp (losskit.autograd.jax_value)
# ---------------------------------------------------------------------------------------
def _jax_inputs(case):
    """``(jax, jnp, f, y, p, w)``: float64 JAX inputs of the case and per-sample weights shaped
    like its unreduced values (any loss accepts those)."""
    jnp = load_backend("jax")
    import jax

    f = lk.get(case.loss, **case.options)
    y, p = case.make(rng_for(case))
    shape = np.shape(f(y, p, reduction="none"))
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=shape)
    return jax, jnp, f, jnp.asarray(y), jnp.asarray(p), jnp.asarray(w)


@pytest.fixture
def plain_jax(monkeypatch):
    """A context that turns the JAX rule off: JAX then differentiates the plain value kernels."""
    import contextlib

    from losskit import autograd

    @contextlib.contextmanager
    def off():
        monkeypatch.setattr(autograd, "_JAX_RULE", False)
        try:
            yield
        finally:
            monkeypatch.setattr(autograd, "_JAX_RULE", True)

    return off


def _fd_directional(fn, p, v, h):
    """Central difference of ``fn`` at ``p`` along ``v`` (NumPy float64)."""
    return (np.asarray(fn(p + h * v)) - np.asarray(fn(p - h * v))) / (2 * h)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_jax_rule_gradient(case, reduction, weighted, plain_jax):
    """Through the rule, jax.grad (of the sum for "none"), a per-sample JVP and a VJP with a
    random cotangent equal autodiff of the plain value kernels (the rule switched off) and
    finite differences of the value; jax.grad also equals ``.grad``."""
    jax, jnp, f, y, p, w = _jax_inputs(case)
    kw = {"reduction": reduction, "sample_weight": w if weighted else None}
    rng = np.random.default_rng(3)
    v = jnp.asarray(rng.normal(size=p.shape))

    def total(q):
        return jnp.sum(f(y, q, **kw))

    grad = jax.grad(total)(p)
    value, jvp = jax.jvp(lambda q: f(y, q, **kw), (p,), (v,))
    out, pullback = jax.vjp(lambda q: f(y, q, **kw), p)
    ct = jnp.asarray(rng.normal(size=np.shape(out)))
    (vjp,) = pullback(ct)
    with plain_jax():
        plain_grad = jax.grad(total)(p)
        plain_value, plain_jvp = jax.jvp(lambda q: f(y, q, **kw), (p,), (v,))
        (plain_vjp,) = jax.vjp(lambda q: f(y, q, **kw), p)[1](ct)
    tol = {"rtol": 1e-9, "atol": 1e-12}
    np_kw = {**kw, "sample_weight": np.asarray(w) if weighted else None}
    np.testing.assert_allclose(np.asarray(grad), f.grad(np.asarray(y), np.asarray(p), **np_kw), **tol)
    np.testing.assert_allclose(np.asarray(value), np.asarray(plain_value), rtol=1e-13, atol=1e-300)
    for got, want in ((grad, plain_grad), (jvp, plain_jvp), (vjp, plain_vjp)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), **tol)
    assert np.shape(jvp) == np.shape(value) and jvp.dtype == value.dtype
    fd = _fd_directional(lambda q: f(y, q, validate=False, **kw), p, v, case.fd_step)
    np.testing.assert_allclose(np.asarray(jvp), fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_jax_rule_hessian_diagonal(case):
    """jax.hessian (forward over reverse) differentiates the closed-form gradient inside the
    rule: its diagonal equals ``.grad_hess``'s Hessian diagonal."""
    jax, jnp, f, y, p, w = _jax_inputs(case)
    for weight, reduction in ((None, "mean"), (w, "sum")):
        hess = jax.hessian(lambda q, w=weight, r=reduction: f(y, q, sample_weight=w, reduction=r))(p)
        np_weight = None if weight is None else np.asarray(weight)
        _, want = f.grad_hess(np.asarray(y), np.asarray(p), sample_weight=np_weight, reduction=reduction)
        hess = np.asarray(hess).reshape(p.size, p.size)
        np.testing.assert_allclose(np.diagonal(hess).reshape(p.shape), want, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_jax_rule_jit_and_vmap(case):
    """jit (labels passed as arguments and closed over) and vmap over a batch of calls agree with
    the eager NumPy value and ``.grad``."""
    jax, jnp, f, y, p, _ = _jax_inputs(case)
    y2, p2 = (jnp.asarray(a) for a in case.make(rng_for(case, salt=1)))
    ny, np_ = np.asarray(y), np.asarray(p)
    tol = {"rtol": 1e-10, "atol": 1e-13}
    value, grad = jax.jit(jax.value_and_grad(lambda a, b: f(a, b), argnums=1))(y, p)
    closed_value, closed_grad = jax.jit(jax.value_and_grad(lambda b: f(y, b)))(p)
    for v, g in ((value, grad), (closed_value, closed_grad)):
        np.testing.assert_allclose(np.asarray(v), f(ny, np_), **tol)
        np.testing.assert_allclose(np.asarray(g), f.grad(ny, np_), **tol)
    ys, ps = jnp.stack([y, y2]), jnp.stack([p, p2])
    values = jax.vmap(lambda a, b: f(a, b))(ys, ps)
    grads = jax.jit(jax.vmap(jax.grad(lambda a, b: f(a, b), argnums=1)))(ys, ps)
    for i, (a, b) in enumerate(((y, p), (y2, p2))):
        np.testing.assert_allclose(np.asarray(values[i]), f(np.asarray(a), np.asarray(b)), **tol)
        np.testing.assert_allclose(np.asarray(grads[i]), f.grad(np.asarray(a), np.asarray(b)), **tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_jax_rule_learned_sample_weights(case, reduction, plain_jax):
    """A sample weight that JAX differentiates (learned weights) gets its gradient from the plain
    kernels: it equals finite differences of the value in the weights and the plain path's, and
    the gradient with respect to y_pred in the same call is still the closed form's."""
    jax, jnp, f, y, p, w = _jax_inputs(case)

    def total(q, ww):
        return jnp.sum(f(y, q, reduction=reduction, sample_weight=ww))

    gp, gw = jax.jit(jax.grad(total, argnums=(0, 1)))(p, w)
    with plain_jax():
        pgp, pgw = jax.grad(total, argnums=(0, 1))(p, w)
    u = np.random.default_rng(4).normal(size=w.shape)
    fd = _fd_directional(lambda ww: total(p, ww), w, jnp.asarray(u), 1e-6)
    np.testing.assert_allclose(np.sum(np.asarray(gw) * u), fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(gw), np.asarray(pgw), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(np.asarray(gp), np.asarray(pgp), rtol=1e-9, atol=1e-12)
    want = f.grad(np.asarray(y), np.asarray(p), reduction=reduction, sample_weight=np.asarray(w))
    np.testing.assert_allclose(np.asarray(gp), want, rtol=1e-9, atol=1e-12)


SOFT_TARGETS = [  # (loss, options, targets): distillation through y_true
    ("categorical_cross_entropy", {"from_logits": True}, "softmax"),
    ("kl_divergence", {"from_logits": True}, "softmax"),
    ("jensen_shannon_divergence", {}, "softmax"),
    ("binary_cross_entropy", {"from_logits": True}, "uniform"),
    ("mean_squared_error", {}, "normal"),
    ("huber", {}, "normal"),
]


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize(("loss", "options", "targets"), SOFT_TARGETS, ids=[s[0] for s in SOFT_TARGETS])
def test_jax_rule_soft_targets(loss, options, targets, reduction, plain_jax):
    """y_true that JAX differentiates (soft targets from a teacher): gradients with respect to
    y_true and y_pred together equal finite differences and the plain path's, jit or not."""
    jnp = load_backend("jax")
    import jax

    rng = np.random.default_rng(5)
    f = lk.get(loss, **options)
    p = rng.normal(size=(5, 4))
    if loss == "jensen_shannon_divergence":
        p = np.exp(p) / np.exp(p).sum(-1, keepdims=True)
    raw = rng.normal(size=(5, 4))
    t = {"softmax": np.exp(raw) / np.exp(raw).sum(-1, keepdims=True), "uniform": rng.uniform(0.1, 0.9, size=(5, 4)),
         "normal": raw}[targets]
    ct = jnp.asarray(rng.normal(size=np.shape(f(t, p, reduction=reduction))))

    def total(a, b):
        return jnp.sum(ct * f(a, b, reduction=reduction))

    t, p = jnp.asarray(t), jnp.asarray(p)
    gt, gp = jax.grad(total, argnums=(0, 1))(t, p)
    jgt, jgp = jax.jit(jax.grad(total, argnums=(0, 1)))(t, p)
    with plain_jax():
        pgt, pgp = jax.grad(total, argnums=(0, 1))(t, p)
    for got, want in ((gt, pgt), (gp, pgp), (jgt, pgt), (jgp, pgp)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-13)
    u = jnp.asarray(rng.normal(size=t.shape))
    fd = _fd_directional(lambda a: jnp.sum(ct * f(a, p, reduction=reduction, validate=False)), t, u, 1e-7)
    np.testing.assert_allclose(np.sum(np.asarray(gt) * np.asarray(u)), fd, rtol=1e-6, atol=1e-9)
    v = jnp.asarray(rng.normal(size=p.shape))
    _, jvp = jax.jvp(lambda a, b: f(a, b, reduction=reduction), (t, p), (u, v))
    fd2 = (np.asarray(f(t + 1e-6 * u, p + 1e-6 * v, reduction=reduction, validate=False))
           - np.asarray(f(t - 1e-6 * u, p - 1e-6 * v, reduction=reduction, validate=False))) / 2e-6
    np.testing.assert_allclose(np.asarray(jvp), fd2, rtol=1e-6, atol=1e-8)


def test_jax_rule_array_option_tangents(plain_jax):
    """A JAX-array option that JAX differentiates (class weights) has its gradient too."""
    jnp = load_backend("jax")
    import jax

    rng = np.random.default_rng(6)
    labels, x = jnp.asarray(rng.integers(0, 4, size=7)), jnp.asarray(rng.normal(size=(7, 4)))
    cw = jnp.asarray(rng.uniform(0.5, 2.0, size=4))

    def total(c, q):
        return lk.sparse_categorical_cross_entropy(labels, q, from_logits=True, class_weight=c)

    got = jax.grad(total, argnums=(0, 1))(cw, x)
    with plain_jax():
        want = jax.grad(total, argnums=(0, 1))(cw, x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-10, atol=1e-13)
    u = jnp.asarray(rng.normal(size=4))
    fd = _fd_directional(lambda c: total(c, x), cw, u, 1e-6)
    np.testing.assert_allclose(np.sum(np.asarray(got[0]) * np.asarray(u)), fd, rtol=1e-6)


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_jax_rule_is_used(case, plain_jax):
    """Under tracing the value is one custom_jvp call (and "none" of a VJP-only loss is not);
    eagerly on concrete arrays it is the plain path."""
    jax, jnp, f, y, p, _ = _jax_inputs(case)
    assert "custom_jvp_call" in str(jax.make_jaxpr(lambda q: f(y, q))(p))
    unreduced = str(jax.make_jaxpr(lambda q: f(y, q, reduction="none"))(p))
    assert ("custom_jvp_call" in unreduced) == (not f.record.vjp)
    with plain_jax():
        assert "custom_jvp_call" not in str(jax.make_jaxpr(lambda q: f(y, q))(p))


def _grad_equations(jax, fn, *args):
    """Equations of jax.grad's jaxpr that the gradient needs (dead ones removed, as jit does)."""
    from jax._src.interpreters import partial_eval as pe

    closed = jax.make_jaxpr(jax.grad(fn, argnums=1))(*args)
    jaxpr, _ = pe.dce_jaxpr(closed.jaxpr, [True] * len(closed.jaxpr.outvars))
    return len(jaxpr.eqns)


def test_jax_rule_gradient_jaxpr_is_smaller(plain_jax):
    """The rule's gradient is the closed form alone: fewer equations than autodiff of the
    plain value kernels for cross-entropy with integer labels, KL and BCE on logits."""
    jnp = load_backend("jax")
    import jax

    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.normal(size=(8, 5)))
    soft = jax.nn.softmax(jnp.asarray(rng.normal(size=(8, 5))))
    calls = [
        (lambda a, b: lk.sparse_categorical_cross_entropy(a, b, from_logits=True), jnp.asarray(rng.integers(0, 5, 8))),
        (lambda a, b: lk.kl_divergence(a, b, from_logits=True), soft),
        (lambda a, b: lk.binary_cross_entropy(a, b, from_logits=True), jnp.asarray(rng.integers(0, 2, (8, 5)) * 1.0)),
    ]
    for fn, y in calls:
        rule = _grad_equations(jax, fn, y, x)
        with plain_jax():
            plain = _grad_equations(jax, fn, y, x)
        assert rule < plain


@pytest.mark.parametrize("targets", ["one_hot", "smoothed"])
def test_jax_soft_target_ce_gradient_of_confident_rows_float32(targets):
    """``jax.grad`` of cross-entropy on soft targets keeps the maximum's entry ``S p - t`` accurate
    where ``p`` rounds to 1 in float32 (down to ``1 - p ~ 1e-13``), tied maxima included: against
    the float64 ``(S - t_j) - S sum_{k != j} p_k`` from the exact logits, which has no
    cancellation at the maximum (a plain ``S p - t`` in float32 gives 0 or ~6e-8 there)."""
    jnp = load_backend("jax")
    import jax

    rng = np.random.default_rng(11)
    n, c = 48, 30
    x = rng.normal(size=(n, c)).astype(np.float32)
    labels = np.arange(n) % c
    x[np.arange(n), labels] += np.linspace(0.0, 35.0, n, dtype=np.float32)  # tie-free .. confident
    x[0, :2] = x[0].max() + 1.0  # tied maxima
    t = np.eye(c, dtype=np.float32)[labels]
    if targets == "smoothed":
        t = (0.9 * t + 0.1 / c).astype(np.float32)
    got = np.asarray(jax.jit(jax.grad(lambda z: lk.categorical_cross_entropy(
        jnp.asarray(t), z, from_logits=True, reduction="sum")))(jnp.asarray(x)))
    z = x.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    total = e.sum(axis=1, keepdims=True)
    others = np.array([[np.delete(e[i], j).sum() for j in range(c)] for i in range(n)]) / total
    s = t.astype(np.float64).sum(axis=1, keepdims=True)
    at_max = z == z.max(axis=1, keepdims=True)
    want = (s - t) - s * others
    np.testing.assert_allclose(got[at_max], want[at_max], rtol=4e-6, atol=0)
    np.testing.assert_allclose(got, want, rtol=4e-6, atol=4e-7 * float(s.max()))


def test_jax_validation_eager_and_traced():
    """Concrete JAX arrays outside tracing are checked (LossInputError); under jit and grad the
    value checks are skipped, never a crash."""
    jnp = load_backend("jax")
    import jax

    y, p = jnp.asarray([2.0, 0.0]), jnp.asarray([0.5, 0.5])
    with pytest.raises(lk.LossInputError, match=r"y_true must hold targets in \[0, 1\]"):
        lk.binary_cross_entropy(y, p)
    assert np.isfinite(float(jax.jit(lk.binary_cross_entropy)(y, p)))
    assert np.all(np.isfinite(np.asarray(jax.grad(lambda q: lk.binary_cross_entropy(y, q))(p))))


def test_torch_compile_after_eager_calls_with_array_options():
    """Eager calls memoise option checks on the loss object; a later compiled call of the same
    object traces without that memo (an unhashable option once broke the graph there)."""
    torch = load_backend("torch")
    f = lk.get("binary_cross_entropy")
    y, x = torch.tensor([0.0, 1.0, 1.0]), torch.tensor([0.2, 0.6, 0.9], requires_grad=True)
    f(y.numpy(), x.detach().numpy(), pos_weight=np.array([2.0, 1.0, 1.0]))
    f(y, x, epsilon=1e-7)
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, b: f(a, b, pos_weight=torch.tensor([2.0, 1.0, 1.0])), fullgraph=True)
    eager = f(y, x, pos_weight=torch.tensor([2.0, 1.0, 1.0]))
    np.testing.assert_allclose(compiled(y, x).item(), eager.item(), rtol=1e-6)


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_torch_func_grad_vmap_and_hessian_vector_products(case):
    """``torch.func`` (``grad``, ``vmap`` over a batch of calls: per-sample gradients, and
    ``jvp`` of ``grad``: Hessian-vector products) differentiates and batches the plain kernels:
    values and gradients equal NumPy's value and ``.grad``, Hessian-vector products the finite
    differences of ``.grad``. (A custom ``autograd.Function`` without functorch rules would
    refuse all three.)"""
    torch = load_backend("torch")
    from torch.func import grad, grad_and_value, jvp, vmap

    f = lk.get(case.loss, **case.options)
    y, p, ty, _ = _torch_inputs(torch, case)
    tp = torch.as_tensor(p)
    tol = {"rtol": 1e-10, "atol": 1e-13}
    g, value = grad_and_value(lambda b: f(ty, b))(tp)
    np.testing.assert_allclose(value.numpy(), f(y, p), **tol)
    np.testing.assert_allclose(g.numpy(), f.grad(y, p), **tol)
    y2, p2 = case.make(rng_for(case, salt=1))
    if np.shape(y2) == np.shape(y) and np.shape(p2) == np.shape(p):
        ys, ps = torch.stack([ty, torch.as_tensor(y2)]), torch.stack([tp, torch.as_tensor(p2)])
        grads = vmap(grad(lambda b, a: f(a, b)))(ps, ys)
        for i, (a, b) in enumerate(((y, p), (y2, p2))):
            np.testing.assert_allclose(grads[i].numpy(), f.grad(a, b), **tol)
    v = np.random.default_rng(0).normal(size=p.shape)
    _, hvp = jvp(grad(lambda b: f(ty, b)), (tp,), (torch.as_tensor(v),))
    h = 1e-6  # (perturbed rows need not sum to 1: no validation for the differences)
    fd = (f.grad(y, p + h * v, validate=False) - f.grad(y, p - h * v, validate=False)) / (2 * h)
    np.testing.assert_allclose(hvp.numpy(), fd, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("requires_grad", [False, True], ids=["dual", "dual_requires_grad"])
@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_torch_forward_mode_ad(case, requires_grad):
    """A dual tensor (``torch.autograd.forward_ad``) carries its tangent through the loss: the
    tangent of the value is ``.grad`` dotted with the direction. (The lean in-place kernels
    dropped part of it silently; the closed-form node has no forward rule.)"""
    torch = load_backend("torch")
    import torch.autograd.forward_ad as fwad

    f = lk.get(case.loss, **case.options)
    y, p, ty, _ = _torch_inputs(torch, case)
    v = np.random.default_rng(1).normal(size=p.shape)
    with fwad.dual_level():
        dual = fwad.make_dual(torch.as_tensor(p).requires_grad_(requires_grad), torch.as_tensor(v))
        out = fwad.unpack_dual(f(ty, dual))
    np.testing.assert_allclose(out.primal.detach().numpy(), f(y, p), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(out.tangent.detach().numpy(), np.sum(f.grad(y, p) * v), rtol=1e-9, atol=1e-12)


def test_torch_compile_float32_mean_keeps_its_digits():
    """A compiled float32 mean over 3e4 samples sums in float64 (Inductor's float32 reductions
    accumulate lane by lane: this mean was off by 4.5e-5, as compiled native losses are by 4-5e-6
    over 8e3 rows). Oracle: the NumPy path in float64 on the same float32 inputs."""
    torch = load_backend("torch")
    rng = np.random.default_rng(2)
    t = np.tile(rng.dirichlet(np.ones(5), size=4), (7500, 1)).astype(np.float32)
    x = np.tile(rng.normal(size=(4, 5)), (7500, 1)).astype(np.float32)
    f = lk.get("categorical_cross_entropy", from_logits=True)
    torch._dynamo.reset()
    got = torch.compile(lambda a, b: f(a, b), fullgraph=True)(torch.as_tensor(t), torch.as_tensor(x))
    want = f(t.astype(np.float64), x.astype(np.float64))
    assert got.dtype == torch.float32
    assert abs(float(got) - want) <= 1e-6 * abs(want)


def test_torch_compile_bad_input_names_losskit_error():
    """Inside ``torch.compile`` a call's metadata checks (shapes, dtypes, options other than floats)
    run on meta tensors as Dynamo traces: without ``fullgraph`` the ``LossInputError`` itself
    reaches the caller, with ``fullgraph=True`` Dynamo's error names it (it once said only
    "Unsupported output type for nonstrict_trace-ed function")."""
    torch = load_backend("torch")
    y, p = torch.randn(6, 3), torch.randn(6, 2)
    five_labels = torch.zeros(5, dtype=torch.int64)  # (a value check, such as an id out of range, is skipped)
    calls = [(lambda a, b: lk.mean_squared_error(a, b), y, p, "must have the same shape"),
             (lambda a, b: lk.sparse_categorical_cross_entropy(a, b, from_logits=True), five_labels, p,
              "one integer class id per sample")]
    for fn, a, b, message in calls:
        torch._dynamo.reset()
        with pytest.raises(lk.LossInputError, match=message):
            torch.compile(fn)(a, b)
        torch._dynamo.reset()
        with pytest.raises(Exception, match=message):
            torch.compile(fn, fullgraph=True)(a, b)
