"""The autograd function of :func:`losskit._array.lean.compiled_take`, defined when this module is
imported: torch is imported here, at the first call that needs it, and a graph that Dynamo traces
line by line finds the class made (it cannot trace a class definition)."""

from __future__ import annotations

import torch


class CompiledTake(torch.autograd.Function):
    """``take_along_dim(a, idx, axis)`` whose backward is ``where(idx == class, g, 0)``."""

    @staticmethod
    def forward(ctx, a, idx, axis):
        ctx.save_for_backward(idx)
        ctx.axis, ctx.n = axis, a.shape[axis]
        return torch.take_along_dim(a, idx, axis)

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        shape = [1] * idx.ndim
        shape[ctx.axis] = ctx.n
        hot = idx == torch.arange(ctx.n, device=idx.device).reshape(shape)
        return torch.where(hot, g, torch.zeros((), dtype=g.dtype, device=g.device)), None, None
