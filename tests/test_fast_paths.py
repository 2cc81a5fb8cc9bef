"""Fast paths of the plain call, against what they replace.

- The closed-form backward scales a derivative kernel's fresh output in place
  (``losskit.autograd.times``); anything the kernel did not just make, anything autograd records
  and any scale that would change the shape or dtype is multiplied out of place. The expected
  values are torch's own ``g * scale`` of copies made before the call.
- Value checks of CPU tensors read one NumPy view per tensor however many checks read it, and
  NumPy arrays are checked by direct NumPy calls: the messages stay NumPy's own.
"""

import warnings

import numpy as np
import pytest

import losskit as lk
from losskit import autograd

torch = pytest.importorskip("torch")


def _expect(g, scale):
    return g.detach().clone() * (scale.detach().clone() if isinstance(scale, torch.Tensor) else scale)


def test_fresh_tensor_is_scaled_in_place():
    g = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    for scale in (0.25, torch.tensor(3.0), torch.tensor([1.0, 2.0, 3.0]), torch.tensor(0.5, dtype=torch.float64)):
        g = torch.arange(6, dtype=torch.float32).reshape(2, 3) + 1
        want = _expect(g, scale)
        out = autograd.times(g, scale)
        assert out is g and out.dtype == torch.float32
        torch.testing.assert_close(out, want, rtol=0, atol=0)


@pytest.mark.parametrize("case", ["input", "detached_input", "view", "requires_grad", "broadcasts", "promotes", "scale_requires_grad"])
def test_other_tensors_are_left_alone(case):
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3) + 1
    g, scale, inputs = base.clone(), torch.tensor(2.0), ()
    if case == "input":
        inputs = (g,)
    elif case == "detached_input":  # the same memory under another tensor object, and no view
        inputs = (g,)
        g = g.detach()
    elif case == "view":
        g = base.clone()[:, :2]
    elif case == "requires_grad":
        g = base.clone().requires_grad_(True)
    elif case == "broadcasts":
        g, scale = base.clone()[:1], torch.full((2, 3), 2.0)
    elif case == "promotes":
        scale = torch.full((2, 3), 2.0, dtype=torch.float64)
    elif case == "scale_requires_grad":
        scale = torch.tensor(2.0, requires_grad=True)
    before = g.detach().clone()
    want = _expect(g, scale)
    out = autograd.times(g, scale, *inputs)
    assert out is not g
    torch.testing.assert_close(g.detach(), before, rtol=0, atol=0)  # untouched
    torch.testing.assert_close(out.detach(), want, rtol=0, atol=0)
    assert out.dtype == want.dtype and out.shape == want.shape


def test_double_backward_through_the_closed_form_rule():
    """create_graph=True: the first backward is recorded (its output is not scaled in place),
    so the Hessian diagonal of a mean of squares comes out: 2 / n everywhere."""
    import losskit as lk

    y = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    x = torch.tensor([[1.0, 2.0, -3.0], [0.25, 4.0, 1.0]], requires_grad=True)
    (g,) = torch.autograd.grad(lk.mean_squared_error(y, x), x, create_graph=True)
    torch.testing.assert_close(g.detach(), 2 * (x.detach() - y) / 6)
    (h,) = torch.autograd.grad(g.sum(), x)
    torch.testing.assert_close(h, torch.full_like(x, 2 / 6))


@pytest.mark.parametrize("name, y, p, kw", [
    ("kl_divergence", [[np.nan, 1.0]], [[0.5, 0.5]], {}),  # y_true: finite, range and row checks, one view
    ("kl_divergence", [[1.5, -0.5]], [[0.5, 0.5]], {}),
    ("categorical_cross_entropy", [[0.2, 0.2]], [[0.5, 0.5]], {}),
    ("binary_cross_entropy", [0.0, 1.0], [0.5, np.inf], {"from_logits": True}),
    ("binary_cross_entropy", [0.0, 1.5], [0.5, 0.5], {"from_logits": True}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_messages_of_tensors_checked_several_times_equal_numpy(name, y, p, kw, dtype):
    f = lk.get(name)
    y, p = np.asarray(y, dtype=dtype), np.asarray(p, dtype=dtype)
    with pytest.raises(lk.LossInputError) as want:
        f(y, p, **kw)
    with pytest.raises(lk.LossInputError) as got:
        f(torch.as_tensor(y), torch.as_tensor(p).requires_grad_(), **kw)
    assert str(got.value) == str(want.value)


def test_large_numpy_arrays_finiteness():
    """Past the small-array threshold finiteness comes from one sum: a non-finite entry still
    raises with its count, and a finite total that overflows is no error (and no warning)."""
    n = (1 << 16) + 5
    y = np.zeros(n)
    p = np.zeros(n)
    p[-1] = np.inf
    p[-2] = np.nan
    with pytest.raises(lk.LossInputError, match=r"y_pred must be finite; got 1 NaN and 1 infinite"):
        lk.mse(y, p)
    big = np.full(n, 1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(lk.mse(big, big)) == 0.0
        assert float(lk.mae(big, big)) == 0.0


@pytest.mark.parametrize("name, kw, bad", [
    ("mean_squared_error", {}, "nan_pred"),
    ("binary_cross_entropy", {"from_logits": True}, "label_out_of_range"),
    ("categorical_cross_entropy", {"from_logits": True}, "row_sum"),
    ("kl_divergence", {"from_logits": True}, "inf_target"),
])
def test_large_cpu_tensors_checked_by_torch_read_through_numpy(name, kw, bad):
    """Past the small-array threshold CPU tensors are checked by torch's reductions: the same
    message as NumPy's for bad input, and no torch host read (``aten::_local_scalar_dense``)
    for good input."""
    from torch.profiler import ProfilerActivity, profile

    f = lk.get(name)
    rng = np.random.default_rng(8)
    n, c = 1 << 10, 97  # 99,328 elements: past the threshold
    x = rng.normal(size=(n, c)).astype(np.float32)
    if name in ("categorical_cross_entropy", "kl_divergence"):
        y = rng.dirichlet(np.ones(c), size=n).astype(np.float32)
        y /= y.sum(axis=1, keepdims=True)
    else:
        y = rng.integers(0, 2, size=(n, c)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        f(torch.tensor(y), xt, **kw).backward()
    reads = [e for e in prof.events() if e.name in ("aten::_local_scalar_dense", "aten::item")]
    assert reads == []
    y_bad, x_bad = y.copy(), x.copy()
    if bad == "nan_pred":
        x_bad[n - 1, c - 1] = np.nan
    elif bad == "label_out_of_range":
        y_bad[n // 2, 3] = 1.5
    elif bad == "row_sum":
        y_bad[n // 3, 0] += 0.25
    else:
        y_bad[7, 7] = np.inf
    with pytest.raises(lk.LossInputError) as want:
        f(y_bad, x_bad, **kw)
    with pytest.raises(lk.LossInputError) as got:
        f(torch.tensor(y_bad), torch.tensor(x_bad, requires_grad=True), **kw)
    assert str(got.value) == str(want.value)
