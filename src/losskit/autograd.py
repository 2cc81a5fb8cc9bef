"""The autograd route: a loss's closed-form gradient as the backward of a torch forward.

Autograd of the value kernels records every intermediate of the stable formulas (clamps,
``where``s, ``log1p``s) and replays them backwards: several times the work and memory of a
native loss. When ``y_pred`` is a torch tensor that requires grad, :func:`torch_value` runs
the forward without recording a graph and gives autograd one node whose backward is the
record's ``grad`` kernel times the incoming gradient. The backward's own operations are
recorded when autograd asks for a graph (``create_graph=True``), so double backward
differentiates the closed-form gradient: Hessian-vector products and Hessian diagonals work.

The route is only taken where it is exact (:func:`takes_torch`): ``y_true`` and a tensor
``sample_weight`` must not require grad (their gradients come from the plain autograd path),
and not while ``torch.compile`` traces (Dynamo traces the plain kernels into one graph).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from ._array.xp import torch_compiling

__all__ = ["takes_torch", "torch_value"]


def takes_torch(y_true: Any, y_pred: Any, sample_weight: Any) -> bool:
    """Whether a value call goes through the closed-form autograd node."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(y_pred, torch.Tensor):
        return False
    if not (y_pred.requires_grad and torch.is_grad_enabled()):
        return False
    if any(isinstance(a, torch.Tensor) and a.requires_grad for a in (y_true, sample_weight)):
        return False
    return not torch_compiling()


def torch_value(y_pred: Any, forward: Callable[[Any], tuple[Any, Callable[[Any, Any], Any]]]) -> Any:
    """``forward(y_pred) -> (value, backward)`` run without a graph; ``backward(y_pred,
    cotangent)`` (the saved ``y_pred``, d output) gives d loss / d y_pred times the cotangent."""
    return _function().apply(y_pred, forward)


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
