"""The host route: a call on small CPU torch tensors runs the NumPy kernels on the tensors'
own memory (zero-copy views) and hands torch tensors back.

Every torch operation pays a few microseconds of dispatch, NumPy's about one; on a training
minibatch (256 x 10) a loss's two dozen operations cost several times the arithmetic. Through
NumPy views the same call takes the NumPy route (the reference kernels, float64 sums), with
the same checks and messages; its results become tensors of the torch call's dtype, and with
``y_pred`` requiring grad the closed-form autograd node runs its forward and backward the same
way (:meth:`losskit.api.LossFunction._run`).

Only where that is exact and invisible: CPU tensors of the plain ``torch.Tensor`` type (or
``nn.Parameter``) with NumPy views, ``y_pred`` floating and at most :data:`ELEMENTS` elements,
no other tensor requiring grad, not while ``torch.compile`` traces, in a ``torch.func``
transform or in forward-mode AD. Anything else declines (None) and stays on torch.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .xp import host_view, namespace, torch_compiling, torch_forward_ad, torch_transforming

__all__ = ["ELEMENTS", "args_of", "to_torch"]

# Up to this many elements of y_pred (256 KiB of float32) a call takes the host route: measured
# against the torch kernels with one torch thread, forward + backward, NumPy's calls win at every
# size to 4096 x 256 (bench_training.py); past this torch's kernels may take several threads.
ELEMENTS = 1 << 16

_FLOATING = ("float64", "float32", "float16")


def args_of(args: tuple, closed_form: bool) -> tuple | None:
    """The call ``args`` (``(xp, y_true, y_pred, opts, sample_weight, reduction, validate)``) with
    NumPy views in place of its torch tensors, or None to stay on torch. ``closed_form``: the call
    goes through the closed-form node (``y_pred`` may then require grad)."""
    xp, y_true, y_pred, opts, sample_weight, reduction, validate = args
    torch = sys.modules.get("torch")
    if torch is None or not _plain(torch, y_pred) or y_pred.numel() > ELEMENTS:
        return None
    if str(y_pred.dtype).removeprefix("torch.") not in _FLOATING:
        return None
    if torch_compiling() or torch_transforming() or torch_forward_ad():
        return None
    tracked = torch.is_grad_enabled()
    if tracked and y_pred.requires_grad and not closed_form:
        return None  # (a .grad of a tensor that requires grad: its result is differentiable on torch)
    views = []
    for a in (y_true, y_pred, sample_weight, *opts.values()):
        if isinstance(a, torch.Tensor):
            if not _plain(torch, a) or (tracked and a.requires_grad and a is not y_pred):
                return None
            view = host_view(a)
            if view is None:
                return None
            views.append(view)
        elif isinstance(a, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in a):
            return None
        else:
            views.append(a)
    host_true, host_pred, host_weight, *host_opts = views
    return (namespace(host_pred), host_true, host_pred, dict(zip(opts, host_opts)), host_weight, reduction, validate)


def _plain(torch: Any, a: Any) -> bool:
    """A CPU tensor of torch's own type (no subclass: fake, distributed or wrapper tensors)."""
    return (type(a) is torch.Tensor or type(a) is torch.nn.Parameter) and a.is_cpu


def to_torch(out: Any) -> Any:
    """A host-route result (a NumPy array or scalar, or a tuple of them) as torch tensors on its
    memory (the kernels' results are fresh arrays, or views of them; a read-only one is copied)."""
    import torch

    if isinstance(out, tuple):
        return tuple(to_torch(o) for o in out)
    a = np.asarray(out)
    return torch.from_numpy(a if a.flags.writeable else a.copy())
