"""Every loss inside a training step: torch ``meta`` tensors and ``torch.compile(fullgraph=True)``.

Value checks read values on the host, which ``meta`` tensors cannot do and which breaks a
compiled graph; they are skipped there (``losskit._array.xp.is_concrete``). These tests run
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
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, b: f(a, b), fullgraph=True)
    value = compiled(ty, tp)
    (grad,) = torch.autograd.grad(value, tp)
    eager = f(ty, tp)
    (eager_grad,) = torch.autograd.grad(eager, tp)
    np.testing.assert_allclose(value.detach().numpy(), eager.detach().numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad.numpy(), eager_grad.numpy(), rtol=1e-10, atol=1e-14)


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
