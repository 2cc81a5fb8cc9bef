"""Lean torch forms: the same numbers as the array-API kernels from fewer passes over the data.

On CPU, torch's ``where`` is a scalar loop (~3.5 ns per element, ~10x an add, when the condition
is unpredictable), and every result is a fresh allocation; these helpers decide whether a
cheaper torch form may be used (a tensor autograd does not record), evaluate large inputs block
by block (block-sized temporaries stay in cache and in the heap, where whole-size ones would
each cost their page faults) and hold the shifted-exponential parts several kernels share.
"""

from __future__ import annotations

import sys

from .xp import torch_forward_ad, torch_transforming

__all__ = [
    "torch_of", "torch_untracked", "torch_untracked_pair", "torch_softmax", "torch_blocks",
    "torch_elementwise_blocks", "torch_row_blocks", "torch_exp_rest", "torch_rest", "compiled_take",
    "torch_sum_kept",
]


def torch_of(x):
    """torch when ``x`` is a torch tensor (torch already imported), else None."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(x, torch.Tensor) else None


def torch_untracked(x):
    """torch when ``x`` is a torch tensor autograd does not record (no grad, or grad mode off):
    the forward of the closed-form route and backward passes without ``create_graph``. Then
    the ``where`` forms kept for exact autodiff at 0 are not needed, and temporaries made from
    ``x`` alone may be updated in place."""
    torch = torch_of(x)
    if torch is None or (x.requires_grad and torch.is_grad_enabled()) or torch_transforming() or torch_forward_ad():
        return None  # (torch.func's wrapped tensors, dual tensors: the plain functional forms)
    return torch


def torch_untracked_pair(y, x):
    """torch when ``y`` and ``x`` are torch tensors of one shape and dtype that autograd does
    not record (see :func:`torch_untracked`): a kernel may then use its lean in-place form on
    the pair; else None."""
    torch = torch_untracked(x)
    if torch is None or not isinstance(y, torch.Tensor) or (y.requires_grad and torch.is_grad_enabled()):
        return None
    return torch if y.shape == x.shape and y.dtype == x.dtype else None


# torch's CPU softmax takes a scalar loop for rows shorter than 16 (~18 ns an element against ~1 ns
# from 16 on, torch 2.13, one thread): short rows take the max, shift, exp and sum instead.
_SHORT_SOFTMAX_ROW = 16


def torch_softmax(torch, x, axis, out=None):
    """``softmax(x)`` along ``axis`` (into ``out``, contiguous and ``x``'s shape, when given):
    torch's fused kernel, or the four passes where that is slower (see above)."""
    dim = axis % x.ndim
    if x.shape[dim] >= _SHORT_SOFTMAX_ROW or not x.is_cpu:
        return torch.softmax(x, dim) if out is None else torch.ops.aten._softmax.out(x, dim, False, out=out)
    m = torch.amax(x, dim=dim, keepdim=True)
    e = x - m if out is None else torch.sub(x, m, out=out)
    e.exp_()
    return e.div_(torch.sum(e, dim=dim, keepdim=True))


# elements per block of a blocked torch kernel on CPU (512 KiB of float32): its buffers stay in the
# heap (each fresh whole-size array costs its page faults) and, two or three of them, in a 2 MiB L2
# cache, with few enough blocks that the Python calls stay cheap. Forward + backward at 4096 x 1000
# against native (one thread, interleaved): 2^17 against 2^19 elements gave Dice 1.35x / 1.72x, BCE
# from logits 1.20 / 1.49, KL 1.21 / 1.72, CE with soft targets 1.39 / 1.86, the other losses within
# noise, CE at 8192 x 32000 929 / 959 ms (`python benchmarks/bench_torch_block.py`). Other devices take
# whole arrays: their caching allocators reuse memory, and every block would be more kernel launches.
_TORCH_BLOCK = 1 << 17


def _blocked(x, size):
    return x.device.type == "cpu" and x.numel() > size


def torch_blocks(x, axis):
    """``(dim, pieces)``: ``x``'s whole rows (along ``axis``) in blocks of about ``_TORCH_BLOCK``
    elements, split along the first other dimension (``(0, None)``: one block, when small, 1-D or
    not on the CPU)."""
    if x.ndim < 2 or not _blocked(x, _TORCH_BLOCK):
        return 0, None
    ax = axis % x.ndim
    dim = 1 if ax == 0 else 0
    per = max(1, x.numel() // x.shape[dim])
    return dim, max(1, _TORCH_BLOCK // per)


def torch_elementwise_blocks(fn, *arrays, outputs=1):
    """``fn(*arrays, out=None)`` for an elementwise ``fn`` of torch tensors of one shape, evaluated
    on flat blocks of ``_TORCH_BLOCK`` elements into ``outputs`` arrays like the last one (a
    tuple of them when ``outputs > 1``, as ``fn`` returns them): ``fn``'s temporaries are then
    block-sized, reused from the heap and in cache, where whole-size ones would each cost their
    page faults (small, non-contiguous or non-CPU inputs: one call, ``out=None``). Each block's
    ``fn`` gets ``out``, the tuple of its results' block views: a result it writes there costs
    no copy, any other is copied in."""
    x = arrays[-1]
    n = x.numel()
    if not _blocked(x, 2 * _TORCH_BLOCK) or not all(a.is_contiguous() and a.shape == x.shape for a in arrays):
        return fn(*arrays, out=None)
    flat = [a.view(-1) for a in arrays]
    outs = tuple(x.new_empty(x.shape) for _ in range(outputs))
    targets = [o.view(-1) for o in outs]
    for start in range(0, n, _TORCH_BLOCK):
        stop = start + _TORCH_BLOCK
        blocks = tuple(t[start:stop] for t in targets)
        got = fn(*(a[start:stop] for a in flat), out=blocks)
        for block, result in zip(blocks, got if outputs > 1 else (got,)):
            if result.data_ptr() != block.data_ptr():
                block.copy_(result)
    return outs if outputs > 1 else outs[0]


def torch_row_blocks(torch, fn, axis, t, x, *, reduced):
    """``fn(torch, t, x, axis)`` over blocks of whole rows of a large pair (see :func:`torch_blocks`):
    block-sized temporaries stay in cache and are reused from the heap, where whole-size ones
    would each cost their page faults. ``reduced``: ``fn`` gives one value per row (kept axis);
    False: an array like ``x``; ``"both"``: the pair ``(per-row values, array like x)``, the array
    written by ``fn`` into its ``out=`` block (None: its own). One call when small, or when ``t``
    is not ``x``'s shape."""
    dim, size = torch_blocks(x, axis)
    if size is None or not isinstance(t, torch.Tensor) or t.shape != x.shape:
        return fn(torch, t, x, axis)
    pairs = zip(torch.split(t, size, dim), torch.split(x, size, dim))
    if reduced is True:
        return torch.cat([fn(torch, tb, xb, axis) for tb, xb in pairs], dim=dim)
    out = torch.empty_like(x)
    if reduced:
        rows = [fn(torch, tb, xb, axis, out=ob)[0] for (tb, xb), ob in zip(pairs, torch.split(out, size, dim))]
        return torch.cat(rows, dim=dim), out
    for (tb, xb), ob in zip(pairs, torch.split(out, size, dim)):
        ob.copy_(fn(torch, tb, xb, axis))
    return out


def torch_exp_rest(torch, x, axis, out=None):
    """``(m, z, e, total, finite)`` of a row max shift: ``m = max(x)`` (0 where not finite: those
    rows follow the plain formula), ``z = x - m``, ``e = e^z`` (into ``out`` when given),
    ``total = sum(e)``."""
    m = torch.amax(x, dim=axis, keepdim=True)
    finite = torch.isfinite(m)
    m = torch.where(finite, m, 0.0)
    z = x - m
    e = torch.exp(z, out=out) if out is not None else torch.exp(z)
    return m, z, e, torch.sum(e, dim=axis, keepdim=True), finite


def torch_rest(torch, f, total, finite, axis):
    """``rest`` of :func:`max_and_log1p_rest` from ``f = frac(e)``: torch's ``frac`` (``e -
    trunc(e)``, one in-place pass) is exactly 0 at the maxima (``e == 1``) and ``e`` below them
    (``e < 1``), so ``sum(f)`` is the sum without the leading 1s, and ``round(total - sum(f))``
    counts the ties exactly (both sums err by far less than 1/2)."""
    below = torch.sum(f, dim=axis, keepdim=True)
    rest = below + (torch.round(total - below) - 1.0)
    return torch.where(finite, rest, total - 1.0)


def torch_sum_kept(torch, x, dims):
    """``torch.sum(x, dims, keepdim=True)`` one run of adjacent dims at a time, the innermost run
    first. Over several runs at once (the classes' sums of an N x C x H x W input over (0, 2, 3))
    torch's CPU kernel accumulates float32 along the outer run one term after another: 1e5 similar
    probabilities lost up to 2.6e-4 of their sum (by runs: 2e-7; each run alone is summed
    accurately)."""
    runs: list[list[int]] = []
    for d in sorted(d % x.ndim for d in dims):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    for run in reversed(runs):
        x = torch.sum(x, dim=run, keepdim=True)
    return x


def compiled_take(a, idx, axis):
    """``take_along_dim(a, idx, axis)`` for a graph ``torch.compile`` traces, with a backward of
    ``where(idx == class, g, 0)`` instead of autograd's ``scatter_add``. Inductor on CPU (torch
    2.13) runs that ``scatter_add`` as a fallback kernel and can schedule it after a fused kernel
    that already read its zero-filled output: a silently wrong gradient (sparse cross-entropy on
    probabilities with ``renormalize`` and label smoothing lost its label terms). The ``where``
    fuses into the backward's other passes too: compiled integer-label cross-entropy at 4096 x
    1000, forward + backward, 1.2-1.3x -> 1.05-1.07x compiled native (a masked sum forward
    instead: 1.42x)."""
    from .torch_take import CompiledTake  # (a module of its own: a class Dynamo need not trace)

    return CompiledTake.apply(a, idx, axis % a.ndim)
