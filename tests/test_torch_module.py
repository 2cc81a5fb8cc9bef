"""losskit.torch: every registered loss as a ``torch.nn.Module`` with torch's argument order.

Oracles: the naive float64 references of tests/refs (values, and central finite differences
of them for the backward), PyTorch's own losses (``torch.nn.functional``) where they exist,
and the losskit function called with ``(target, input)`` (the module must equal it exactly).
"""

import copy
import inspect
import os
import pathlib
import pickle
import pydoc
import subprocess
import sys

import numpy as np
import pytest
from refs import CASES
from refs.spec import rng_for

import losskit as lk
from losskit.spec import ARRAY_OPTIONS, option_type

torch = pytest.importorskip("torch")
lkt = pytest.importorskip("losskit.torch")
F = torch.nn.functional

FIRST = list({c.loss: c for c in reversed(CASES)}.values())  # one case per loss, the first listed
IDS = [c.id for c in FIRST]
REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size")
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _inputs(case, grad=False):
    y, p = case.make(rng_for(case))
    ty, tp = torch.as_tensor(y), torch.as_tensor(p).clone()
    return y, p, ty, (tp.requires_grad_() if grad else tp)


def _row_weights(case, ref):
    """(weights as passed, weights broadcast to the per-sample values) or (None, None)."""
    if not ref.ndim:
        return None, None
    w = rng_for(case, 7).uniform(0.2, 2.0, size=ref.shape[0])
    return w, np.broadcast_to(w.reshape((-1,) + (1,) * (ref.ndim - 1)), ref.shape)


def _reduce(ref, wb, reduction):
    """The reduction of per-sample values ``ref`` by hand (weights ``wb`` or None)."""
    wb = np.ones_like(ref) if wb is None else wb
    return {"none": wb * ref if reduction == "none" else None, "sum": (wb * ref).sum(),
            "mean": (wb * ref).sum() / wb.sum(), "sum_over_batch_size": (wb * ref).sum() / ref.size}[reduction]


# -- the classes -------------------------------------------------------------------------------
def test_one_class_per_registered_loss_all_public():
    assert set(lkt.CLASSES) == set(lk.LOSSES)
    for name, cls in lkt.CLASSES.items():
        assert cls.__name__ in lkt.__all__ and getattr(lkt, cls.__name__) is cls
        assert issubclass(cls, torch.nn.Module) and issubclass(cls, lkt.Loss)
        assert cls.__module__ == "losskit.torch" and cls.__qualname__ == cls.__name__
        assert cls().name == name
    assert "Loss" in lkt.__all__


def test_naming_rule():
    expected = {
        "mean_squared_error": "MeanSquaredError", "binary_focal_cross_entropy": "BinaryFocalCrossEntropy",
        "sparse_categorical_cross_entropy": "SparseCategoricalCrossEntropy", "dice": "Dice",
        "kl_divergence": "KLDivergence", "reverse_kl_divergence": "ReverseKLDivergence",
        "generalized_kl_divergence": "GeneralizedKLDivergence", "gaussian_nll": "GaussianNLL",
        "smooth_l1": "SmoothL1", "poly1_cross_entropy": "Poly1CrossEntropy", "log_cosh": "LogCosh",
    }
    for name, cls in expected.items():
        assert lkt.class_name(name) == cls and lkt.CLASSES[name].__name__ == cls
    # the rule: words capitalised, the acronym table in capitals, nothing else
    for name, cls in lkt.CLASSES.items():
        assert cls.__name__ == "".join(lkt.ACRONYMS.get(w, w.capitalize()) for w in name.split("_"))


@pytest.mark.parametrize("name", sorted(lk.LOSSES))
def test_signature_lists_options_with_defaults_and_types(name):
    cls, record = lkt.CLASSES[name], lk.LOSSES[name].record
    params = inspect.signature(cls).parameters
    assert list(params) == [*record.options, "reduction", "validate"]
    for k, default in {**record.options, "reduction": "mean", "validate": True}.items():
        assert params[k].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[k].default == default or (params[k].default is None and default is None)
        assert params[k].annotation == option_type(k, default)
    assert list(inspect.signature(cls.__init__).parameters)[0] == "self"


def test_signature_known_defaults():
    """Defaults read from the README's table, not from the record."""
    params = inspect.signature(lkt.BinaryFocalCrossEntropy).parameters
    assert params["gamma"].default == 2.0 and params["alpha"].default is None
    assert params["from_logits"].default is False and params["reduction"].default == "mean"
    assert inspect.signature(lkt.Huber).parameters["delta"].default == 1.0
    assert "sample_weight" not in inspect.signature(lkt.Huber).parameters  # a call argument
    assert list(inspect.signature(lkt.Loss.forward).parameters) == ["self", "input", "target", "sample_weight"]


def test_doc_and_help():
    cls = lkt.BinaryFocalCrossEntropy
    assert lk.binary_focal_cross_entropy.record.doc.strip().splitlines()[0] in cls.__doc__
    assert cls.__doc__.startswith("BinaryFocalCrossEntropy(*, gamma=2.0")
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    for word in ("BinaryFocalCrossEntropy", "gamma", "forward", "torch.nn.Module", "(target, input"):
        assert word in text, word


def test_repr_shows_options():
    assert repr(lkt.BinaryFocalCrossEntropy(gamma=3.0)) == "BinaryFocalCrossEntropy(gamma=3.0)"
    assert repr(lkt.MeanSquaredError()) == "MeanSquaredError()"
    m = lkt.Loss("scce", from_logits=True, class_weight=[1, 2, 3], reduction="sum", validate=False)
    assert repr(m) == ("Loss('sparse_categorical_cross_entropy', from_logits=True, "
                       "class_weight=tensor([1.0, 2.0, 3.0], dtype=float32), reduction='sum', validate=False)")
    big = lkt.CategoricalCrossEntropy(class_weight=np.ones(20))
    assert "shape=(20,)" in repr(big) and "\n" not in repr(big)


def test_bad_construction_raises_loss_input_error():
    with pytest.raises(lk.LossInputError, match="unknown option 'gama'"):
        lkt.BinaryFocalCrossEntropy(gama=2.0)
    with pytest.raises(lk.LossInputError, match="unknown option"):
        lkt.Loss("mse", delta=1.0)
    with pytest.raises(lk.LossInputError, match="unknown loss"):
        lkt.Loss("mean_sqared_error")
    with pytest.raises(lk.LossInputError, match="reduction"):
        lkt.MeanSquaredError(reduction="batchmean")
    with pytest.raises(lk.LossInputError, match="sample_weight"):
        lkt.MeanSquaredError(sample_weight=[1.0])
    with pytest.raises(lk.LossInputError, match="class_weight"):
        lkt.CategoricalCrossEntropy(class_weight=["a", "b"])
    with pytest.raises(TypeError):
        lkt.Huber(0.5)  # options are keyword-only


def test_alias_names_build_the_canonical_loss():
    assert lkt.Loss("focal").name == "binary_focal_cross_entropy"
    assert lkt.Loss("kld").record is lk.kl_divergence.record


# -- every registered loss: the module equals the function, the reference and its gradient -----
@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_module_equals_function_and_reference(case):
    """``module(input, target)`` == ``function(target, input)`` exactly, and both equal the naive
    reference reduced by hand, for every reduction, unweighted and with row weights."""
    y, p, ty, tp = _inputs(case)
    ref = case.reference(y, p, **case.options)
    fn = lk.get(case.loss)
    w, wb = _row_weights(case, ref)
    for weighted in (False, True) if w is not None else (False,):
        tw = torch.as_tensor(w) if weighted else None
        for reduction in REDUCTIONS:
            module = lkt.CLASSES[case.loss](reduction=reduction, **case.options)
            out = module(tp, ty, sample_weight=tw) if weighted else module(tp, ty)
            same = fn(ty, tp, reduction=reduction, sample_weight=tw, **case.options)
            assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
            torch.testing.assert_close(out, same, rtol=0, atol=0)
            expect = _reduce(ref, wb if weighted else None, reduction)
            np.testing.assert_allclose(out.numpy(), expect, rtol=1e-9, atol=1e-12)


def _fd_grad(f, p, step):
    g = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        h = step * max(1.0, abs(p[i]))
        pp, pm = p.copy(), p.copy()
        pp[i] += h
        pm[i] -= h
        g[i] = (f(pp) - f(pm)) / (2 * h)
    return g


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_module_backward(case):
    """The module's backward is the closed-form node, equal to torch.autograd of the function
    and to central finite differences of the weighted mean of the naive reference."""
    y, p, ty, tp = _inputs(case, grad=True)
    ref = case.reference(y, p, **case.options)
    w, wb = _row_weights(case, ref)
    tw = None if w is None else torch.as_tensor(w)
    value = lkt.CLASSES[case.loss](**case.options)(tp, ty, sample_weight=tw)
    assert type(value.grad_fn).__name__ == "ClosedFormBackward"
    (grad,) = torch.autograd.grad(value, tp)
    tp2 = tp.detach().clone().requires_grad_()
    (expect,) = torch.autograd.grad(lk.get(case.loss)(ty, tp2, sample_weight=tw, **case.options), tp2)
    torch.testing.assert_close(grad, expect, rtol=0, atol=0)
    fd = _fd_grad(lambda q: _reduce(case.reference(y, q, **case.options), wb, "mean"), p, case.fd_step)
    np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_meta_tensors(case):
    """On ``meta`` tensors (no values: any host read would raise) the module gives the shape
    and dtype of the CPU call, and a backward."""
    _, _, ty, tp = _inputs(case)
    module = lkt.CLASSES[case.loss](reduction="none", **case.options)
    cpu = module(tp, ty)
    mp = tp.to("meta").requires_grad_()
    meta = module.to("meta")(mp, ty.to("meta"))
    assert meta.device.type == "meta" and (meta.shape, meta.dtype) == (cpu.shape, cpu.dtype)
    meta.sum().backward()
    assert mp.grad is not None and mp.grad.shape == mp.shape


# -- native PyTorch losses --------------------------------------------------------------------
def _rng():
    return np.random.default_rng(15)


def _t(a, grad=False):
    t = torch.as_tensor(np.asarray(a)).clone()
    return t.requires_grad_() if grad else t


def _native_cases():
    """(id, module, input, target, sample_weight-free native loss of (input, target)) per row of
    the README's "Coming from PyTorch" table; each one for every torch reduction."""
    rng = _rng()
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    rates, counts = rng.uniform(0.2, 3, (6, 4)), rng.poisson(1.5, (6, 4)).astype(float)
    var = rng.uniform(0.3, 2.0, (6, 4))
    probs, bits = rng.uniform(0.02, 0.98, (6, 4)), rng.uniform(0, 1, (6, 4))
    pos_weight = np.array([0.5, 1.0, 2.0, 3.0])
    labels = rng.integers(0, 4, 6)
    labels_ign = labels.copy()
    labels_ign[2] = -100
    cw = np.array([0.3, 1.0, 2.5, 0.7])
    soft = rng.dirichlet(np.ones(4), 6)
    pm1 = np.where(rng.uniform(size=(6, 4)) < 0.5, -1.0, 1.0)
    x3, lab3 = rng.normal(0, 2, (3, 4, 5)), rng.integers(0, 4, (3, 5))
    out = []
    for r in ("mean", "sum", "none"):
        out += [
            (f"mse[{r}]", lkt.MeanSquaredError(reduction=r), x, y, lambda i, t, r=r: F.mse_loss(i, t, reduction=r)),
            (f"l1[{r}]", lkt.MeanAbsoluteError(reduction=r), x, y, lambda i, t, r=r: F.l1_loss(i, t, reduction=r)),
            (f"huber[{r}]", lkt.Huber(delta=0.7, reduction=r), x, y,
             lambda i, t, r=r: F.huber_loss(i, t, delta=0.7, reduction=r)),
            (f"smooth_l1[{r}]", lkt.SmoothL1(beta=0.5, reduction=r), x, y,
             lambda i, t, r=r: F.smooth_l1_loss(i, t, beta=0.5, reduction=r)),
            (f"poisson_log[{r}]", lkt.Poisson(log_input=True, full=True, reduction=r), x, counts,
             lambda i, t, r=r: F.poisson_nll_loss(i, t, log_input=True, full=True, reduction=r)),
            (f"poisson_rates[{r}]", lkt.Poisson(reduction=r), rates, counts,
             lambda i, t, r=r: F.poisson_nll_loss(i, t, log_input=False, reduction=r)),
            (f"gaussian_nll_var_buffer[{r}]", lkt.GaussianNLL(var=var, full=True, reduction=r), x, y,
             lambda i, t, r=r: F.gaussian_nll_loss(i, t, torch.as_tensor(var), full=True, reduction=r)),
            (f"bce[{r}]", lkt.BinaryCrossEntropy(reduction=r), probs, bits,
             lambda i, t, r=r: F.binary_cross_entropy(i, t, reduction=r)),
            (f"bce_logits_pos_weight[{r}]", lkt.BinaryCrossEntropy(from_logits=True, pos_weight=pos_weight, reduction=r),
             x, bits, lambda i, t, r=r: F.binary_cross_entropy_with_logits(i, t, pos_weight=_t(pos_weight),
                                                                               reduction=r)),
            (f"cross_entropy[{r}]", lkt.SparseCategoricalCrossEntropy(from_logits=True, reduction=r), x, labels,
             lambda i, t, r=r: F.cross_entropy(i, t, reduction=r)),
            (f"cross_entropy_weight_ignore_smoothing[{r}]",
             lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=cw, ignore_index=-100,
                                               label_smoothing=0.15, reduction=r), x, labels_ign,
             lambda i, t, r=r: F.cross_entropy(i, t, weight=_t(cw), ignore_index=-100, label_smoothing=0.15,
                                               reduction=r)),
            (f"cross_entropy_probs[{r}]",
             lkt.CategoricalCrossEntropy(from_logits=True, class_weight=list(cw), label_smoothing=0.2,
                                         reduction="sum_over_batch_size" if r == "mean" else r).double(), x, soft,
             lambda i, t, r=r: F.cross_entropy(i, t, weight=_t(cw), label_smoothing=0.2, reduction=r)),
            (f"multi_margin[{r}]", lkt.MultiMargin(p=2, margin=0.5, weight=_t(cw), reduction=r), x, labels,
             lambda i, t, r=r: F.multi_margin_loss(i, t, p=2, margin=0.5, weight=_t(cw), reduction=r)),
            (f"soft_margin[{r}]", lkt.SoftMargin(reduction=r), x, pm1,
             lambda i, t, r=r: F.soft_margin_loss(i, t, reduction=r)),
        ]
    out += [
        ("cross_entropy_channels_first", lkt.SparseCategoricalCrossEntropy(from_logits=True, axis=1, class_weight=cw,
                                                                           ignore_index=-1), x3, np.where(
            np.arange(15).reshape(3, 5) == 4, -1, lab3), lambda i, t: F.cross_entropy(i, t, weight=_t(cw),
                                                                                      ignore_index=-1)),
        # kl_div's input is log q = log_softmax(logits): losskit's from_logits=True differentiates
        # through it, so the gradients are both with respect to the logits
        ("kl_div_batchmean", lkt.KLDivergence(from_logits=True), x, soft,
         lambda i, t: F.kl_div(torch.log_softmax(i, -1), t, reduction="batchmean")),
        ("kl_div_sum_log_target", lkt.KLDivergence(from_logits=True, log_target=True, reduction="sum"), x,
         np.log(soft), lambda i, t: F.kl_div(torch.log_softmax(i, -1), t, reduction="sum", log_target=True)),
        ("cosine_embedding", lkt.CosineDistance(), x, y,
         lambda i, t: torch.nn.CosineEmbeddingLoss()(i, t, torch.ones(len(i), dtype=i.dtype))),
    ]
    return out


NATIVE = _native_cases()


@pytest.mark.parametrize("row", NATIVE, ids=[r[0] for r in NATIVE])
def test_matches_native_torch_value_and_gradient(row):
    """The module, called as its torch counterpart, gives its value and its input gradient."""
    _, module, x, t, native = row
    a, b = _t(x, grad=True), _t(x, grad=True)
    target = _t(t)
    ours, theirs = module(a, target), native(b, target)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12)


# -- module state: buffers, dtype and device, state_dict, pickling, copies ----------------------
def test_array_options_are_buffers_scalars_are_attributes():
    cw = np.array([1.0, 2.0, 0.5])
    m = lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=cw, label_smoothing=0.1)
    assert dict(m.named_buffers()).keys() == {"class_weight"} and list(m.state_dict()) == ["class_weight"]
    assert isinstance(m.class_weight, torch.Tensor) and m.class_weight.dtype == torch.float64
    assert m.label_smoothing == 0.1 and m.from_logits is True and m.ignore_index is None
    cw[0] = 100.0  # a NumPy option is copied at construction
    assert m.class_weight[0] == 1.0
    ints = lkt.CategoricalCrossEntropy(class_weight=[1, 2, 3])  # lists of ints: the default float dtype
    assert ints.class_weight.dtype == torch.get_default_dtype()
    given = torch.tensor([1.0, 2.0])
    assert lkt.BinaryCrossEntropy(pos_weight=given).pos_weight is given  # tensors kept, as torch's losses do
    scalar = lkt.BinaryFocalCrossEntropy(alpha=0.25)  # an array option given as a number: an attribute
    assert scalar.alpha == 0.25 and not list(scalar.buffers())
    assert set(ARRAY_OPTIONS) >= {"class_weight", "pos_weight", "weight", "alpha", "var", "quantile"}


def test_buffers_follow_dtype_and_device():
    m = lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=[1.0, 2.0, 0.5])
    assert m.class_weight.dtype == torch.float32
    assert m.to(torch.float64) is m and m.class_weight.dtype == torch.float64
    assert m.half().class_weight.dtype == torch.float16
    m.to("meta")
    assert m.class_weight.device.type == "meta" and m.state_dict()["class_weight"].device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_buffers_follow_cuda():
    m = lkt.CategoricalCrossEntropy(from_logits=True, class_weight=[1.0, 2.0, 0.5]).cuda()
    x = torch.randn(5, 3, device="cuda", requires_grad=True)
    t = torch.softmax(torch.randn(5, 3, device="cuda"), -1)
    out = m(x, t)
    out.backward()
    expect = lk.cce(t.cpu(), x.detach().cpu(), from_logits=True, class_weight=torch.tensor([1.0, 2.0, 0.5]))
    assert m.class_weight.is_cuda and out.is_cuda
    torch.testing.assert_close(out.detach().cpu(), expect, rtol=1e-5, atol=1e-6)


def _labels_data():
    rng = _rng()
    return torch.as_tensor(rng.normal(size=(8, 3))), torch.as_tensor(rng.integers(0, 3, 8))


def test_state_dict_round_trip():
    x, t = _labels_data()
    a = lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=[1.0, 2.0, 0.5])
    b = lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=[0.0, 0.0, 1.0])
    assert not torch.equal(a(x, t), b(x, t))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x, t), b(x, t), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="class_weight"):  # torch's rule: the buffers must exist
        lkt.SparseCategoricalCrossEntropy(from_logits=True).load_state_dict(a.state_dict())
    # inside a model: the loss's buffers are part of the model's state
    model = torch.nn.ModuleDict({"head": torch.nn.Linear(3, 3), "loss": a})
    assert "loss.class_weight" in model.state_dict()


@pytest.mark.parametrize("copier", ["deepcopy", "torch.save", "pickle"])
def test_copies_round_trip(copier, tmp_path):
    x, t = _labels_data()
    m = lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=[1.0, 2.0, 0.5], reduction="sum",
                                          label_smoothing=0.1)
    if copier == "deepcopy":
        m2 = copy.deepcopy(m)
    elif copier == "pickle":
        m2 = pickle.loads(pickle.dumps(m))
    else:
        torch.save(m, tmp_path / "loss.pt")
        m2 = torch.load(tmp_path / "loss.pt", weights_only=False)
    assert type(m2) is type(m) and repr(m2) == repr(m) and m2 is not m
    assert m2.class_weight is not m.class_weight
    torch.testing.assert_close(m2(x, t), m(x, t), rtol=0, atol=0)
    m2.class_weight.mul_(2)  # the copy's state is its own: nothing shared, nothing global
    assert not torch.equal(m2(x, t), m(x, t))


@pytest.mark.parametrize("name", sorted(lk.LOSSES))
def test_every_class_pickles(name):
    m = lkt.CLASSES[name](reduction="sum")
    m2 = pickle.loads(pickle.dumps(m))
    assert type(m2) is type(m) and m2.reduction == "sum" and m2.options == m.options


def test_ddp_style_replication_in_a_model():
    """A loss inside a model replicated with deepcopy (what DDP and nn.DataParallel do): each
    replica keeps its own buffers and gives the original's value and gradient."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3).double()
    crit = lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=[1.0, 3.0, 0.5]).double()
    x, t = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    model2, crit2 = copy.deepcopy(model), copy.deepcopy(crit)
    crit(model(x), t).backward()
    crit2(model2(x), t).backward()
    torch.testing.assert_close(model.weight.grad, model2.weight.grad, rtol=0, atol=0)
    assert crit2.class_weight.data_ptr() != crit.class_weight.data_ptr()


DDP_SCRIPT = """
import sys, copy, torch, torch.distributed as dist
import losskit.torch as lkt
dist.init_process_group("gloo", rank=0, world_size=1, init_method="file://" + sys.argv[1])
torch.manual_seed(0)
class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 3)
        self.loss = lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=[1.0, 3.0, 0.5])
    def forward(self, x, t):
        return self.loss(self.net(x), t)
model = Model()
plain = copy.deepcopy(model)
ddp = torch.nn.parallel.DistributedDataParallel(model)  # broadcasts parameters and buffers
x, t = torch.randn(10, 4), torch.randint(0, 3, (10,))
ddp(x, t).backward()
plain(x, t).backward()
torch.testing.assert_close(model.net.weight.grad, plain.net.weight.grad)
assert "module.loss.class_weight" in ddp.state_dict()
dist.destroy_process_group()
print("ddp ok")
"""


def test_distributed_data_parallel(tmp_path):
    """The loss inside a DDP model (gloo, one process): its buffers are module state that DDP
    broadcasts, and the gradients are the plain model's."""
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    out = _python(DDP_SCRIPT, str(tmp_path / "rendezvous"))
    assert out.returncode == 0 and "ddp ok" in out.stdout, out.stdout + out.stderr


# -- torch.compile ----------------------------------------------------------------------------
COMPILED = [
    ("scce_class_weight", lambda: lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=[1.0, 2.0, 0.5],
                                                                     label_smoothing=0.1),
     lambda rng: (rng.normal(size=(6, 3)), rng.integers(0, 3, 6))),
    ("dice_softmax", lambda: lkt.Dice(activation="softmax", axis=(2, 3)),
     lambda rng: (rng.normal(size=(2, 3, 4, 4)), rng.integers(0, 3, (2, 4, 4)))),
]


@pytest.mark.parametrize("build, make", [r[1:] for r in COMPILED], ids=[r[0] for r in COMPILED])
def test_compile_fullgraph_module_call(build, make):
    x, t = make(np.random.default_rng(3))
    module = build().double()
    a, b = _t(x, grad=True), _t(x, grad=True)
    target = _t(t)
    torch._dynamo.reset()
    compiled = torch.compile(module, fullgraph=True)
    value = compiled(a, target, sample_weight=None)
    eager = module(b, target)
    torch.testing.assert_close(value, eager, rtol=1e-12, atol=1e-14)
    value.backward()
    eager.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-14)


def test_compile_training_step_label_smoothing_and_class_weight():
    """A compiled training step (model and loss in one graph) gives the eager parameter gradients.
    (Inductor on CPU once got it wrong: the label's gather had a ``scatter_add`` backward, run as a
    fallback kernel after the fused one that added it in; see ``losskit._array.lean.compiled_take``.)"""
    torch.manual_seed(0)
    x, t = torch.randn(8, 64), torch.randint(0, 10, (8,))
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    model = torch.nn.ModuleDict({"net": net, "loss": lkt.SparseCategoricalCrossEntropy(
        from_logits=True, class_weight=torch.linspace(0.5, 2, 10), label_smoothing=0.1)})
    twin = copy.deepcopy(model)
    torch._dynamo.reset()
    model["loss"](model["net"](x), t).backward()
    torch.compile(lambda m, a, b: m["loss"](m["net"](a), b), fullgraph=True)(twin, x, t).backward()
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6)


# -- import rules and the example -------------------------------------------------------------
def _python(code, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env)


def test_import_losskit_does_not_import_torch():
    out = _python("import sys, losskit; assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_missing_torch_names_the_extra():
    out = _python("import sys\nsys.modules['torch'] = None\nimport losskit\n"
                  "try:\n    import losskit.torch\nexcept ImportError as e:\n    print('ERR', e)\n")
    assert out.returncode == 0, out.stderr
    assert "ERR losskit.torch needs PyTorch" in out.stdout and "pip install 'losskit[torch]'" in out.stdout


def test_record_and_options():
    m = lkt.Loss("bce", from_logits=True)
    assert m.record is lk.bce.record and m.options["from_logits"] is True
