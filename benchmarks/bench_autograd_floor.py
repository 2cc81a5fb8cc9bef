"""What a custom ``torch.autograd.Function`` costs by itself on a small training batch.

losskit's closed-form backward is one ``torch.autograd.Function`` node. At 256 x 10 the step is
all per-call overhead, so this script times, interleaved in one process (CPU, one thread,
float32), ``x.grad = None`` then forward + backward of:

- ``native``: ``F.mse_loss(x, y).backward()``;
- ``bare_function``: a minimal ``autograd.Function`` with MSE's closed form, no checks, no
  options: the floor of any loss written as a custom autograd node;
- ``held_gradient``: the same node as losskit's host route makes it, with nothing else: value
  and gradient computed in one go by NumPy on the tensors' memory, the gradient held for the
  backward, which scales it in place and hands it over;
- ``losskit``: ``lk.mean_squared_error(y, x)`` (``validate=True``) and with ``validate=False``.

Run: ``python benchmarks/bench_autograd_floor.py [--rounds 7] [--calls 500]``. Prints the median
microseconds per step over the rounds and each as a ratio to native.
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import losskit as lk


class _BareMSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        d = x - y
        return (d * d).mean()

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * (2.0 / x.numel()) * (x - y), None


class _HeldMSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        d = x.numpy(force=True) - y.numpy()
        ctx.grad = d * np.float32(2.0 / d.size)
        return torch.from_numpy(np.asarray(np.mean(d * d, dtype=np.float64), dtype=np.float32))

    @staticmethod
    def backward(ctx, g):
        grad, ctx.grad = ctx.grad, None  # scaled in place and handed over, as losskit's node does
        np.multiply(grad, g.numpy(), out=grad)
        return torch.from_numpy(grad), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(256, 10, generator=gen)
    x = torch.randn(256, 10, generator=gen, requires_grad=True)
    losses = {
        "native": lambda: F.mse_loss(x, y),
        "bare_function": lambda: _BareMSE.apply(x, y),
        "held_gradient": lambda: _HeldMSE.apply(x, y),
        "losskit": lambda: lk.mean_squared_error(y, x),
        "losskit validate=False": lambda: lk.mean_squared_error(y, x, validate=False),
    }

    def steps_of(loss):
        def step():
            x.grad = None  # as a training loop's zero_grad(set_to_none=True)
            loss().backward()

        return step

    steps = {name: steps_of(loss) for name, loss in losses.items()}
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.rounds):  # interleaved: a slow spell of the machine falls on all of them
        for name, step in steps.items():
            for _ in range(50):
                step()
            start = time.perf_counter()
            for _ in range(args.calls):
                step()
            times[name].append((time.perf_counter() - start) / args.calls * 1e6)
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(f"MSE 256 x 10, forward + backward, torch {torch.__version__}, one thread, "
          f"median of {args.rounds} rounds of {args.calls} calls")
    for name, us in median.items():
        print(f"{name:24s} {us:7.1f} us  {us / median['native']:5.2f}x native")


if __name__ == "__main__":
    main()
