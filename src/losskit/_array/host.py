"""The host route: a call on small CPU torch tensors runs the NumPy kernels on the tensors'
own memory (zero-copy views) and hands torch tensors back.

Every torch operation pays a few microseconds of dispatch, NumPy's about one; on a training
minibatch (256 x 10) a loss's two dozen operations cost several times the arithmetic. Through
NumPy views the same call takes the NumPy route (the reference kernels, float64 sums), with
the same checks and messages; its results become tensors of the torch call's dtype, and with
``y_pred`` requiring grad the closed-form autograd node runs its forward and backward the same
way (:meth:`losskit.api.LossFunction._run`).

Only where that is exact and invisible: CPU tensors of the plain ``torch.Tensor`` type (or
``nn.Parameter``) with NumPy views, ``y_pred`` floating and at most :data:`ELEMENTS` elements
(or any size, for a loss whose fused kernels beat its torch kernels at scale), no other tensor
requiring grad, not while ``torch.compile`` traces, in a ``torch.func``
transform or in forward-mode AD. Anything else declines (None) and stays on torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .xp import host_view, namespace, torch_compiling, torch_forward_ad, torch_transforming

__all__ = ["ELEMENTS", "AT_SCALE", "args_of", "to_torch", "torch_threads", "signature", "views", "plain_options"]

# Up to this many elements of y_pred a call takes the host route. Forward + backward of every
# registered loss against its torch kernels (two torch threads): at 2560 elements NumPy takes
# 0.2-1.1x the time, at 8192 0.15-1.16x; at 60000 some losses' NumPy kernels (where-heavy ones:
# Tversky, Lovasz, soft margin) take up to 2.3x, while torch's kernels start to use threads.
# Larger calls take it only through a fused kernel that beats torch's at scale (the record
# trait ``fused_at_scale``), while AT_SCALE is on. (The tests turn the route off, ELEMENTS = 0 and
# AT_SCALE False, to run the torch kernels.)
ELEMENTS = 1 << 13
AT_SCALE = True


def args_of(args: tuple, closed_form: bool, stays_on_torch: Callable[[tuple, bool], bool]) -> tuple | None:
    """The call ``args`` (``(xp, y_true, y_pred, opts, sample_weight, reduction, validate)``) with
    NumPy views in place of its torch tensors, or None to stay on torch. ``closed_form``: the call
    goes through the closed-form node (``y_pred`` may then require grad); ``stays_on_torch(host
    args, large)``: whether the loss's torch kernels are the leaner for this call (``large``: more
    than :data:`ELEMENTS` elements of ``y_pred``)."""
    xp, y_true, y_pred, opts, sample_weight, reduction, validate = args
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(y_pred, torch.Tensor) or torch_compiling():
        return None  # (compiling before any other call: Dynamo then traces nothing more here)
    large = y_pred.numel() > ELEMENTS
    if not _plain(torch, y_pred) or not y_pred.is_floating_point() or (large and not AT_SCALE):
        return None
    if torch_transforming() or torch_forward_ad():
        return None
    tracked = torch.is_grad_enabled()
    if tracked and y_pred.requires_grad and not closed_form:
        return None  # (a .grad of a tensor that requires grad: its result is differentiable on torch)
    host_pred = _view(torch, y_pred, False)
    host_true, host_weight = _view(torch, y_true, tracked), _view(torch, sample_weight, tracked)
    host_opts = {k: v if type(v) in _CONSTANTS else _view(torch, v, tracked) for k, v in opts.items()} if opts else opts
    if host_pred is _DECLINE or host_true is _DECLINE or host_weight is _DECLINE or any(
            v is _DECLINE for v in host_opts.values()):
        return None
    host = (namespace(host_pred), host_true, host_pred, host_opts, host_weight, reduction, validate)
    return None if stays_on_torch(host, large) else host


_DECLINE = object()

_CONSTANTS = frozenset((bool, int, float, str, type(None)))


def plain_options(options: Any) -> bool:
    """Whether every option value is a plain constant (a bool, number, string or None): what a
    memo of a call's route may key on (an array or tensor option may change in place)."""
    return _CONSTANTS.issuperset(map(type, options.values()))


def signature(y_true: Any, y_pred: Any, kwargs: dict) -> tuple | None:
    """What decides the route of a value call on small CPU tensors besides the loss itself, as a
    memo key: the tensors' types, dtypes, shapes and grad flags, grad mode and the call's options
    (plain constants only, :func:`plain_options`). None where no memo may stand for the decision:
    anything but two plain CPU tensors of at most :data:`ELEMENTS` elements, while
    ``torch.compile`` traces, in a ``torch.func`` transform or in forward-mode AD."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if not (_plain(torch, y_pred) and _plain(torch, y_true)) or y_pred.numel() > ELEMENTS:
        return None
    types = tuple(map(type, kwargs.values()))
    if not _CONSTANTS.issuperset(types) or torch_compiling() or torch_transforming() or torch_forward_ad():
        return None
    return (type(y_pred), type(y_true), y_pred.dtype, y_true.dtype, y_pred.shape, y_true.shape, y_pred.requires_grad,
            y_true.requires_grad, torch.is_grad_enabled(), tuple(kwargs.items()), types)


def views(y_true: Any, y_pred: Any) -> tuple[Any, Any] | None:
    """``(y_true, y_pred)`` as NumPy views, or None when either has none, for a call whose
    :func:`signature` found a memo of the host route: both are then plain CPU tensors of dtypes
    with views, and only their layout is left to ask (:func:`~losskit._array.xp.host_view` asks
    it all, at twice the cost of a small training step's views). ``force``: no detach first, and
    a tensor with a conjugate or negative bit is resolved into a copy rather than refused."""
    strided = sys.modules["torch"].strided
    if y_true.layout is not strided or y_pred.layout is not strided:
        return None
    return y_true.numpy(force=True), y_pred.numpy(force=True)


def _view(torch: Any, a: Any, tracked: bool) -> Any:
    """A tensor's NumPy view (:func:`~losskit._array.xp.host_view`: float16 to float64 and the
    integer dtypes; bool, bfloat16 and complex have none); any other value as it is; ``_DECLINE``
    for a tensor without a view, one that requires grad while autograd records, or a container
    holding tensors."""
    if isinstance(a, torch.Tensor):
        view = host_view(a) if _plain(torch, a) and not (tracked and a.requires_grad) else None
        return _DECLINE if view is None else view
    if isinstance(a, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in a):
        return _DECLINE
    return a


def _plain(torch: Any, a: Any) -> bool:
    """A CPU tensor of torch's own type (no subclass: fake, distributed or wrapper tensors)."""
    return (type(a) is torch.Tensor or type(a) is torch.nn.Parameter) and a.is_cpu


def torch_threads() -> int:
    """Torch's intra-op threads: the most a host-route call's engine boxes may use (a torch call
    stays within what the program allowed torch)."""
    return sys.modules["torch"].get_num_threads()


def to_torch(out: Any) -> Any:
    """A host-route result (a NumPy array or scalar, or a tuple of them) as torch tensors on its
    memory (the kernels' results are fresh arrays, or views of them; a read-only one is copied)."""
    import torch

    if isinstance(out, tuple):
        return tuple(to_torch(o) for o in out)
    a = np.asarray(out)
    return torch.from_numpy(a if a.flags.writeable else a.copy())
