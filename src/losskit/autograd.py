"""The autograd route: a loss's closed-form gradient as the backward of a torch forward.

Autograd of the value kernels records every intermediate of the stable formulas (clamps,
``where``s, ``log1p``s) and replays them backwards: several times the work and memory of a
native loss. When ``y_pred`` is a torch tensor that requires grad, :func:`torch_value` runs
the forward without recording a graph and gives autograd one node whose backward is the
record's ``grad`` kernel times the incoming gradient. The backward's own operations are
recorded when autograd asks for a graph (``create_graph=True``), so double backward
differentiates the closed-form gradient: Hessian-vector products and Hessian diagonals work.
A reduced call on the host route (NumPy kernels on CPU tensors' memory), whose value and
gradient come from one pass, gives autograd the leaner :func:`torch_held` node, which only
hands that gradient over.

The route is only taken where it is exact (:func:`takes_torch`): ``y_true``, a tensor
``sample_weight`` and tensor options must not require grad (their gradients come from the
plain autograd path), not while ``torch.compile`` traces (Dynamo traces the plain kernels into
one graph), and not inside ``torch.func`` transforms or forward-mode AD (``grad``, ``vmap``,
``jacrev``, ``hessian``, dual tensors differentiate and batch the plain kernels, as
``jax.vmap`` batches them).

JAX gets the same closed form as a ``jax.custom_jvp`` (:func:`jax_value`; a ``custom_vjp``
has no forward mode, and ``jax.hessian`` is ``jacfwd(jacrev)``): the tangent of the value is
the closed-form gradient (derivative scale of the reduction included) dotted with the
tangent of ``y_pred``, summed over the whole input, or over each sample's axes for
``reduction="none"``. ``jax.grad`` transposes that into one multiplication; the gradient is
computed with ``jnp`` operations on the primal, so forward-over-reverse differentiation
(``jax.hessian``, Hessian-vector products) differentiates the closed-form gradient. Tangents
of ``y_true``, of a JAX ``sample_weight`` and of JAX-array options (soft targets, learned
weights) come from ``jax.jvp`` of the plain kernels, only when they are not symbolically
zero. The route is taken whenever JAX traces a call (:func:`takes_jax`), except for an
unreduced value of a loss whose kernels give vector-Jacobian products only (``Loss.vjp``):
no per-sample tangent comes from those, so that call stays on the plain path.
"""

from __future__ import annotations

import functools
import itertools
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._array.validate import LossInputError
from ._array.xp import is_concrete, torch_compiling, torch_forward_ad, torch_transforming

__all__ = ["takes_torch", "torch_value", "torch_held", "records", "times", "compiled_key", "compiled_value", "concrete_numbers",
           "takes_jax", "jax_value"]

# (xp, y_true, y_pred, opts, sample_weight, reduction, validate: True, False or "checkify")
Args = tuple[Any, Any, Any, dict[str, Any], Any, str, bool | str]
Backward = Callable[[Any, Any], Any]


def takes_torch(y_true: Any, y_pred: Any, sample_weight: Any, opts: Mapping[str, Any]) -> bool:
    """Whether a value call goes through the closed-form autograd node: not when another input
    or an option tensor (a learned ``class_weight`` or ``pos_weight``) requires grad, whose
    gradient the node would drop."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(y_pred, torch.Tensor):
        return False
    if not (y_pred.requires_grad and torch.is_grad_enabled()):
        return False
    tensor = torch.Tensor
    if any(isinstance(a, tensor) and a.requires_grad for a in (y_true, sample_weight, *opts.values())):
        return False
    return not (torch_compiling() or torch_transforming() or torch_forward_ad())


def records(y_pred: Any) -> bool:
    """Whether torch records operations on ``y_pred`` now (a backward with ``create_graph=True``):
    the backward must then recompute from ``y_pred`` itself for a second derivative."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(y_pred, torch.Tensor) and y_pred.requires_grad and torch.is_grad_enabled()


def times(g: Any, scale: Any, *inputs: Any) -> Any:
    """``g * scale``, into ``g`` itself when it is a fresh torch tensor a derivative kernel just
    made (no view, sharing no memory with ``inputs``) that autograd does not record (a double
    backward saves it), with ``scale`` changing neither its shape nor its dtype: the same bits
    without a second full-size array in every backward. Eager only (no torch.compile trace, no
    functorch transform)."""
    torch = sys.modules.get("torch")
    if (
        torch is None or not isinstance(g, torch.Tensor) or not g.is_floating_point() or g.requires_grad
        or g._base is not None or torch_compiling() or torch_transforming() or torch_forward_ad()
    ):
        return g * scale
    memory = g.untyped_storage().data_ptr()  # (a detached alias of an input is no view, yet shares it)
    if any(isinstance(a, torch.Tensor) and a.untyped_storage().data_ptr() == memory for a in inputs):
        return g * scale
    if isinstance(scale, torch.Tensor):
        if scale.requires_grad or torch.result_type(g, scale) != g.dtype or (
                scale.ndim and torch.broadcast_shapes(g.shape, scale.shape) != g.shape):
            return g * scale
    elif not isinstance(scale, (int, float)):
        return g * scale
    return g.mul_(scale)


def torch_value(y_pred: Any, forward: Callable[[Any], tuple[Any, Callable[[Any, Any], Any]]]) -> Any:
    """``forward(y_pred) -> (value, backward)`` run without a graph; ``backward(y_pred,
    cotangent)`` (the saved ``y_pred``, d output) gives d loss / d y_pred times the cotangent."""
    return _function().apply(y_pred, forward)


def torch_held(y_pred: Any, value: Any, grad: Any, recorded: Backward) -> Any:
    """``value`` (a NumPy array, handed back as a tensor on its memory) of a forward on a CPU
    ``y_pred`` that already computed its gradient ``grad`` (a fresh NumPy array): the backward
    scales ``grad`` in place by the incoming gradient (unless it is 1) and hands it over, with no closures around
    it (a 256 x 10 training step's loss call is mostly such overhead). A backward that torch
    records (``create_graph=True``), or a second one (``retain_graph=True``), runs
    ``recorded(y_pred, cotangent)`` instead, the torch kernels, so that a second backward
    differentiates them. Not inside ``torch.func`` transforms (the host route declines there:
    :func:`~losskit._array.host.args_of`, :func:`~losskit._array.host.signature`)."""
    return _held_apply()(y_pred, value, grad, recorded)


@functools.lru_cache(maxsize=1)
def _held_apply() -> Any:
    import torch

    class HeldGradient(torch.autograd.Function):
        @staticmethod
        def forward(ctx, y_pred, value, grad, recorded):
            ctx.grad, ctx.recorded = grad, recorded
            ctx.save_for_backward(y_pred)
            return torch.from_numpy(value)  # (made here: an input handed back would become a view)

        @staticmethod
        def backward(ctx, cotangent):
            grad, ctx.grad = ctx.grad, None  # handed over once: autograd may keep it as .grad
            if grad is None or torch.is_grad_enabled():  # retain_graph's second, or create_graph=True
                (y_pred,) = ctx.saved_tensors
                return ctx.recorded(y_pred, cotangent), None, None, None
            ct = cotangent.numpy()
            if ct != 1.0:  # (loss.backward()'s 1 would be a pass over the gradient that changes no bit)
                np.multiply(grad, ct, out=grad)
            return torch.from_numpy(grad), None, None, None

    # Function.apply's Python layer (~2 us) only prepares functorch transforms' tensors, which
    # never come here: the C apply beneath it takes the call.
    return super(torch.autograd.Function, HeldGradient).apply


@functools.lru_cache(maxsize=1)
def _function() -> Any:
    import torch

    class ClosedForm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, y_pred, forward):
            value, backward = forward(y_pred.detach())
            ctx.backward_fn = backward
            ctx.save_for_backward(y_pred)
            return value

        @staticmethod
        def backward(ctx, cotangent):
            (y_pred,) = ctx.saved_tensors
            return ctx.backward_fn(y_pred, cotangent), None

    return ClosedForm


# ---------------------------------------------------------------------------------------
# torch.compile: the call as one opaque function
# ---------------------------------------------------------------------------------------
# Dynamo traces Python line by line and guards every global, attribute and function it read:
# through the call machinery (option checks, namespace, validation modes) that is ~290 guards,
# ~8 us evaluated before every compiled call, against ~1 us for a native loss. A call Dynamo
# sees as one ``nonstrict_trace`` function guards only its arguments (tensors, the options'
# values); AOTAutograd still traces the body into the graph, so Inductor fuses the same kernels.
_LOSSES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # loss functions by serial number


def compiled_key(loss: Any) -> int:
    """A serial number for ``loss``, what a compiled call passes to name it (an int: the one kind
    of argument besides tensors that Dynamo guards with one comparison)."""
    key = next(_SERIAL)
    _LOSSES[key] = loss
    return key


_SERIAL = itertools.count()


def compiled_value(key: int, y_true: Any, y_pred: Any, options: dict[str, Any]) -> Any:
    """While Dynamo traces a value call on torch tensors: the call as one opaque function, or
    None to trace it line by line. ``options``: the bound options and the call's keywords. Only
    arguments that ``nonstrict_trace`` passes whole: tensors (which stay inputs of the graph, so
    a learned weight gets its gradient), and numbers, strings and tuples of them, which Dynamo
    holds constant (None goes by name; a symbolic number, an array or any other object: line
    by line)."""
    torch = sys.modules["torch"]
    tensor = torch.Tensor
    if not (isinstance(y_pred, tensor) and isinstance(y_true, tensor)):
        return None
    if not all(v is None or _passes_whole(tensor, v) for v in options.values()) or not _opaque_ready():
        return None
    given = {k: _constant(v) for k, v in options.items() if v is not None}
    nones = tuple(k for k, v in options.items() if v is None)
    specs = [_spec(tensor, v) for v in (y_true, y_pred, *given.values())]
    if all(sp is not None for sp in specs):  # (static shapes: Dynamo runs the check once, as it traces)
        error = _metadata_error(key, specs[0], specs[1], tuple(zip(given, specs[2:])), nones)
        if error is not None:
            raise LossInputError(error)
    return _OPAQUE[0](key, y_true, y_pred, given, nones)


def _spec(tensor: Any, v: Any) -> Any:
    """A constant standing for ``v`` in :func:`_metadata_error`: a tensor's ``("tensor", shape,
    dtype)``, a bool, int or string (or a tuple of them) itself; None for a tensor of symbolic
    shape and for a float, which Dynamo may have made symbolic (a float argument that changed
    between calls) and cannot hand to such a function."""
    if not isinstance(v, tensor):
        return ("value", v) if _of_types(v, (bool, int, str)) else None
    shape = tuple(v.shape)
    return ("tensor", shape, v.dtype) if all(type(d) is int for d in shape) else None


def _metadata_error(key: int, y_true: Any, y_pred: Any, given: tuple, nones: tuple[str, ...]) -> str | None:
    """The message of the ``LossInputError`` the call's metadata checks (shapes, dtypes, options)
    raise on ``meta`` tensors of its shapes and dtypes (no values, so nothing else is checked), or
    None. Dynamo runs this function itself while it traces (marked below as
    ``torch._dynamo.assume_constant_result`` marks), and the traced call raises the error: without
    ``fullgraph`` it reaches the caller as raised, with ``fullgraph=True`` as Dynamo's "Observed
    exception" naming it. Raised inside the opaque call's fake-tensor run instead, it came out as
    "Unsupported output type for nonstrict_trace-ed function", without losskit's message."""
    torch = sys.modules["torch"]

    def value(spec: tuple) -> Any:
        return torch.empty(spec[1], dtype=spec[2], device="meta") if spec[0] == "tensor" else spec[1]

    options = {k: value(sp) for k, sp in given}
    try:
        _LOSSES[key]._run(value(y_true), value(y_pred), {**options, **dict.fromkeys(nones)}, order=0)
    except LossInputError as e:
        return str(e)
    return None


_metadata_error._dynamo_marked_constant = True  # type: ignore[attr-defined]


_CONSTANTS = (bool, int, float, str)


def _passes_whole(tensor: type, v: Any) -> bool:
    return isinstance(v, tensor) or _of_types(v, _CONSTANTS)


def _of_types(v: Any, kinds: tuple[type, ...]) -> bool:
    """``v``, or every element of a tuple or list ``v``, of exactly one of ``kinds``."""
    return all(type(e) in kinds for e in v) if isinstance(v, (tuple, list)) else type(v) in kinds


def _constant(v: Any) -> Any:
    """``v`` as Dynamo's constant: a number read from an ``nn.Module`` attribute may be traced as
    an unspecialised value that ``nonstrict_trace`` refuses; ``float(v)`` specialises it (each
    value compiles once, as a constant option does)."""
    if isinstance(v, (tuple, list)):
        return type(v)(_constant(e) for e in v)
    return type(v)(v) if type(v) in (bool, int, float) else v


def _opaque_call(key: int, y_true: Any, y_pred: Any, given: dict[str, Any], nones: tuple[str, ...]) -> Any:
    return _LOSSES[key]._run(y_true, y_pred, {**given, **dict.fromkeys(nones)}, order=0)


_OPAQUE: list = []  # _opaque_call registered with Dynamo as nonstrict_trace, once


def _opaque_ready() -> bool:
    """Whether :func:`_opaque_call` is registered with Dynamo. Dynamo runs this function itself
    when it meets it (marked below as ``torch._dynamo.assume_constant_result`` marks, without
    importing ``torch._dynamo`` on import), so the registration happens outside the trace on
    the first compile. Were it traced instead (``is_dynamo_compiling``), the call stays line
    by line; so does a torch without ``nonstrict_trace``."""
    torch = sys.modules["torch"]
    compiler = torch.compiler
    if getattr(compiler, "is_dynamo_compiling", lambda: True)():
        return False
    if not _OPAQUE:
        import torch._dynamo

        nonstrict = getattr(torch._dynamo, "nonstrict_trace", None)
        if nonstrict is None:
            return False
        _OPAQUE.append(nonstrict(_opaque_call))
    return True


_opaque_ready._dynamo_marked_constant = True  # type: ignore[attr-defined]


def concrete_numbers(options: Mapping[str, Any]) -> Mapping[str, Any]:
    """``options`` with Dynamo's symbolic numbers (a float argument of a compiled function that
    changed between calls) as plain ones: the option checks read them (each value compiles once)."""
    torch = sys.modules.get("torch")
    if torch is None or not any(isinstance(v, (torch.SymInt, torch.SymFloat, torch.SymBool)) for v in options.values()):
        return options
    kinds = ((torch.SymBool, bool), (torch.SymInt, int), (torch.SymFloat, float))
    return {k: next((cast(v) for sym, cast in kinds if isinstance(v, sym)), v) for k, v in options.items()}


# ---------------------------------------------------------------------------------------
# JAX: a custom_jvp built from the record's closed-form gradient
# ---------------------------------------------------------------------------------------
_JAX_RULE = True  # False: JAX differentiates the plain kernels (tests and benchmarks compare the two)


def takes_jax(y_pred: Any, opts: Mapping[str, Any], reduction: str, per_sample_jvp: bool) -> bool:
    """Whether a value call goes through the closed-form ``custom_jvp``: ``y_pred`` is a JAX
    array while JAX traces (a tracer, or a concrete array inside jit/grad/vmap; an eager call
    on concrete arrays cannot be differentiated and takes the plain path). Not for an
    unreduced value without a per-sample tangent (``per_sample_jvp`` False: VJP-only kernels),
    nor when an option holds JAX arrays inside a container (its tangents could not reach the
    rule)."""
    jax = sys.modules.get("jax")
    if not _JAX_RULE or jax is None or not isinstance(y_pred, jax.Array) or is_concrete(y_pred):
        return False
    if reduction == "none" and not per_sample_jvp:
        return False
    return not any(
        not isinstance(v, jax.Array) and any(isinstance(leaf, jax.Array) for leaf in jax.tree_util.tree_leaves(v))
        for v in opts.values()
    )


def jax_value(args: Args, forward: Callable[[Args, Any], tuple[Any, Backward]], plain: Callable[[Args], Any],
              sample_axes: Callable[[int, Mapping[str, Any]], tuple[int, ...]]) -> Any:
    """The reduced value of the call ``args`` as a ``jax.custom_jvp`` of ``y_pred`` and the
    call's other JAX arrays (``y_true``, a JAX ``sample_weight``, JAX-array options).

    ``forward(args, y_pred) -> (value, backward)`` is the torch route's forward:
    ``backward(y_pred, cotangent)`` the closed-form d value / d y_pred times ``cotangent``.
    ``plain(args)`` is the value from the plain kernels (the primal, and the tangents of the
    other inputs by JAX autodiff). ``sample_axes(ndim, opts)``: the axes of ``y_pred`` summed
    into one sample (``reduction="none"``: each entry of ``y_pred`` then feeds one sample)."""
    import jax
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero

    xp, y_true, y_pred, opts, sample_weight, reduction, validate = args
    array_opts = {k: v for k, v in opts.items() if isinstance(v, jax.Array)}
    weight = sample_weight if isinstance(sample_weight, jax.Array) else None
    inputs = (y_true, weight, array_opts)

    def call(yp: Any, inp: tuple[Any, Any, dict[str, Any]]) -> Args:
        yt, w, ao = inp
        return (xp, yt, yp, {**opts, **ao}, sample_weight if w is None else w, reduction, validate)

    def plain_of(yp: Any, inp: Any) -> Any:
        return plain(call(yp, inp))

    @jax.custom_jvp
    def value(yp: Any, inp: Any) -> Any:
        return plain_of(yp, inp)

    def jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
        yp, inp = primals
        t_pred, t_inp = tangents
        out, backward = forward(call(yp, inp), yp)
        parts = []
        if not isinstance(t_pred, SymbolicZero):
            t = _closed_form_tangent(jnp, backward, yp, t_pred, out, reduction, sample_axes, opts)
            if t is None:  # a shape the closed form does not cover: autodiff of the plain kernels
                t = jax.jvp(lambda p: plain_of(p, inp), (yp,), (t_pred,))[1]
            parts.append(t)
        leaves, tree = jax.tree_util.tree_flatten(inp)
        t_leaves = jax.tree_util.tree_leaves(t_inp, is_leaf=lambda t: isinstance(t, SymbolicZero))
        moving = [i for i, t in enumerate(t_leaves) if not isinstance(t, SymbolicZero)]
        if moving:  # soft targets, learned weights: autodiff of the plain kernels

            def of(*vs: Any) -> Any:
                new = list(leaves)
                for i, v in zip(moving, vs):
                    new[i] = v
                return plain_of(yp, jax.tree_util.tree_unflatten(tree, new))

            parts.append(jax.jvp(of, tuple(leaves[i] for i in moving), tuple(t_leaves[i] for i in moving))[1])
        if not parts:
            return out, jnp.zeros_like(out)
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return out, jnp.astype(total, out.dtype)

    value.defjvp(jvp, symbolic_zeros=True)
    return value(y_pred, inputs)


def _closed_form_tangent(jnp: Any, backward: Backward, y_pred: Any, t_pred: Any, out: Any, reduction: str,
                         sample_axes: Callable[[int, Mapping[str, Any]], tuple[int, ...]],
                         opts: Mapping[str, Any]) -> Any:
    """d value along ``t_pred`` from the closed-form gradient (None where its shape does not
    line up with ``y_pred`` and the value: the caller then differentiates the plain kernels)."""
    g = backward(y_pred, 1.0)  # d reduced value / d y_pred; per sample for reduction="none"
    if tuple(g.shape) != tuple(y_pred.shape):
        return None
    prod = g * jnp.astype(t_pred, g.dtype)
    if reduction != "none":
        return jnp.sum(prod)
    per_sample = jnp.sum(prod, axis=sample_axes(y_pred.ndim, opts))
    if per_sample.size != out.size:
        return None
    return jnp.reshape(per_sample, out.shape)
