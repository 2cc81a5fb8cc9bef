#!/usr/bin/env python
"""The block size of losskit's blocked torch kernels on CPU, swept against native torch.

Large untracked CPU tensors go block by block through buffers reused from the heap
(``losskit._array.lean._TORCH_BLOCK`` elements per block). Smaller blocks keep those buffers in
cache; more blocks cost more Python calls. This times forward + backward of each loss at one size
(float32, one thread) with the block set to ``2^k`` elements for each ``k``, interleaved in one
process with the native step (``benchmarks/bench_training.py``'s losses and inputs), and prints
the median of each as a ratio to native.

    python benchmarks/bench_torch_block.py                                  # 4096 x 1000, 2^15 .. 2^20
    python benchmarks/bench_torch_block.py --losses dice,kl --size 8192x1000 --exponents 16,17,19
"""

import argparse

import torch
from bench_training import LOSSES, make_step, torch_fn, torch_inputs
from timing import timeit_rounds

from losskit._array import lean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--size", default="4096x1000")
    parser.add_argument("--exponents", default="15,16,17,18,19,20")
    parser.add_argument("--repeats", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, c = (int(v) for v in args.size.split("x"))
    exponents = [int(k) for k in args.exponents.split(",")]
    default = lean._TORCH_BLOCK
    print(f"{args.size}, forward + backward, median / native; default block 2^{default.bit_length() - 1}")
    for loss in args.losses.split(","):
        y, x = torch_inputs(loss, n, c)
        losskit_step = make_step(torch_fn(loss, "losskit"), y, x)
        steps = {"native": make_step(torch_fn(loss, "native"), y, x)}
        for k in exponents:
            def step(k=k, run=losskit_step):
                lean._TORCH_BLOCK = 1 << k
                run()

            steps[f"2^{k}"] = step
        try:
            timed = timeit_rounds(steps, args.repeats, 1.5)
        finally:
            lean._TORCH_BLOCK = default
        native = timed["native"][0]
        cells = " ".join(f"{name} {t / native:.2f}" for name, (t, _) in timed.items() if name != "native")
        print(f"{loss:<11} native {native * 1e3:6.2f} ms | {cells}")


if __name__ == "__main__":
    main()
