#!/usr/bin/env python
"""The losses beyond bench_training's nine on CPU torch tensors: forward + backward against the
torch expression a user would write (``torch.nn.functional`` where torch has the loss).

Each case: losskit's default call (``validate=True``) and the native expression, both on the same
float32 tensors (1024 x 1000 unless the case says otherwise, one thread), timed in interleaved
rounds (``timing.timeit_rounds``); ``x.grad = None; loss(y, x).backward()`` per step. Where the
options match the native convention the values and gradients are checked against each other
(``check``: relative value difference / largest gradient difference over the largest native
entry); ``-`` where the conventions differ on purpose (said in the native column).

    python benchmarks/bench_torch_losses.py                    # every case, writes RESULTS_torch_losses.md
    python benchmarks/bench_torch_losses.py --cases huber,msle --out /tmp/x.md
"""

import argparse
import math
import os
import platform
import time

import torch
import torch.nn.functional as F
from timing import timeit_rounds

import losskit as lk

N, C = 1024, 1000


def _inputs(kind, n=N, c=C, seed=0):
    g = torch.Generator().manual_seed(seed)

    def normal():
        return torch.randn(n, c, generator=g)

    if kind == "real":
        return normal(), normal()
    if kind == "positive":
        return torch.rand(n, c, generator=g) * 5, torch.rand(n, c, generator=g) * 5
    if kind == "pm1":
        return (torch.rand(n, c, generator=g) > 0.5).float() * 2 - 1, normal()
    if kind == "counts":
        return torch.poisson(torch.rand(n, c, generator=g) * 4, generator=g), normal()
    if kind == "labels":
        return torch.randint(0, c, (n,), generator=g), normal()
    if kind == "onehot":
        return F.one_hot(torch.randint(0, c, (n,), generator=g), c).float(), normal()
    if kind == "bits_probs":
        return (torch.rand(n, c, generator=g) > 0.5).float(), torch.rand(n, c, generator=g) * 0.99 + 0.005
    if kind == "dists":
        return torch.softmax(normal(), -1), torch.softmax(normal(), -1)
    if kind == "segmentation":  # one-hot masks and logits, N x C x H x W (MONAI's layout), 2^20 elements
        labels = torch.randint(0, 4, (8, 128, 256), generator=g)
        return F.one_hot(labels, 4).permute(0, 3, 1, 2).float().contiguous(), torch.randn(8, 4, 128, 256, generator=g)
    raise ValueError(kind)


def _log_cosh(y, x):
    d = x - y
    return (d + F.softplus(-2.0 * d) - math.log(2.0)).mean()


def _sparse_focal(y, x, gamma=2.0):
    ce = F.cross_entropy(x, y, reduction="none")
    return ((1 - torch.exp(-ce)) ** gamma * ce).mean()


def _dense_focal(t, x, gamma=2.0):
    logp = F.log_softmax(x, -1)
    return (-(t * (1 - logp.exp()) ** gamma * logp).sum(-1)).mean()


def _soft_jaccard(y, p, smooth=1.0):
    inter = (y * p).sum()
    return 1 - (inter + smooth) / (y.sum() + p.sum() - inter + smooth)


def _global_dice(y, x, smooth=1.0):
    p = torch.softmax(x, 1)
    return 1 - (2 * (y * p).sum() + smooth) / (y.sum() + p.sum() + smooth)


def _generalized_dice(y, x, eps=1e-5):
    """MONAI's GeneralizedDiceLoss formula (batch-pooled, square weights), softmax over the classes."""
    p = torch.softmax(x, 1)
    dims = (0, 2, 3)
    w = 1.0 / (y.sum(dims) ** 2).clamp_min(eps)
    return 1 - (2 * (w * (y * p).sum(dims)).sum() + eps) / ((w * (y.sum(dims) + p.sum(dims))).sum() + eps)


# name: (input kind, losskit fn(y, x), native fn(y, x), native description, values comparable)
CASES = {
    "mae": ("real", lambda y, x: lk.mean_absolute_error(y, x), lambda y, x: F.l1_loss(x, y), "F.l1_loss", True),
    "huber": ("real", lambda y, x: lk.huber(y, x), lambda y, x: F.huber_loss(x, y), "F.huber_loss", True),
    "smooth_l1": ("real", lambda y, x: lk.smooth_l1(y, x), lambda y, x: F.smooth_l1_loss(x, y), "F.smooth_l1_loss",
                  True),
    "log_cosh": ("real", lambda y, x: lk.log_cosh(y, x), _log_cosh, "(d + softplus(-2d) - log 2).mean()", True),
    "pseudo_huber": ("real", lambda y, x: lk.pseudo_huber(y, x),
                     lambda y, x: (torch.sqrt(1 + (x - y) ** 2) - 1).mean(), "(sqrt(1 + d^2) - 1).mean()", True),
    "msle": ("positive", lambda y, x: lk.mean_squared_logarithmic_error(y, x),
             lambda y, x: ((torch.log1p(x) - torch.log1p(y)) ** 2).mean(), "((log1p(p) - log1p(y))^2).mean()", True),
    "poisson": ("counts", lambda y, x: lk.poisson(y, x, log_input=True),
                lambda y, x: F.poisson_nll_loss(x, y, log_input=True), "F.poisson_nll_loss(log_input=True)", True),
    "cosine_distance": ("real", lambda y, x: lk.cosine_distance(y, x),
                        lambda y, x: (1 - F.cosine_similarity(x, y, dim=-1)).mean(), "(1 - F.cosine_similarity).mean()",
                        True),
    "squared_hinge": ("pm1", lambda y, x: lk.squared_hinge(y, x), lambda y, x: (F.relu(1 - y * x) ** 2).mean(),
                      "(relu(1 - y x)^2).mean()", True),
    "soft_margin": ("pm1", lambda y, x: lk.soft_margin(y, x), lambda y, x: F.soft_margin_loss(x, y),
                    "F.soft_margin_loss", True),
    "sparse_focal": ("labels", lambda y, x: lk.sparse_categorical_focal_cross_entropy(
        y, x, from_logits=True, gamma=2.0, alpha=None), _sparse_focal, "(1 - e^-ce)^2 ce, ce = F.cross_entropy", True),
    "categorical_focal": ("onehot", lambda y, x: lk.categorical_focal_cross_entropy(
        y, x, from_logits=True, gamma=2.0, alpha=None), _dense_focal, "-(t (1 - p)^2 log p).sum(-1).mean()", True),
    "kl_probs": ("dists", lambda y, x: lk.kl_divergence(y, x), lambda y, x: F.kl_div(torch.log(x), y, reduction="sum") / x.shape[0],
                 "F.kl_div(log q, t, 'sum') / N", True),
    "jaccard": ("bits_probs", lambda y, x: lk.jaccard(y, x), _soft_jaccard, "1 - (I + 1) / (sum y + sum p - I + 1)", True),
    "dice_nchw": ("segmentation", lambda y, x: lk.dice(y, x, activation="softmax"), _global_dice,
                  "1 - (2 sum(y p) + 1) / (sum y + sum p + 1), p = softmax(x, 1)", True),
    "generalized_dice_nchw": ("segmentation", lambda y, x: lk.generalized_dice(y, x, activation="softmax"),
                              _generalized_dice, "MONAI's weighted formula (square weights, batch-pooled)", True),
}


def _step(fn, y, x):
    def step():
        x.grad = None
        fn(y, x).backward()

    return step


def run_case(name, repeats=30, budget=2.0):
    kind, lk_fn, native_fn, what, comparable = CASES[name]
    y, x0 = _inputs(kind)
    x = x0.clone().requires_grad_()
    ref = native_fn(y, x)
    ref.backward()
    ref_v, ref_g = float(ref.detach()), x.grad.clone()
    x.grad = None
    got = lk_fn(y, x)
    got.backward()
    check = "-"
    if comparable:
        dv = abs(float(got.detach()) - ref_v) / max(abs(ref_v), 1e-30)
        dg = float((x.grad - ref_g).abs().max() / ref_g.abs().max().clamp_min(1e-30))
        check = f"{dv:.0e} / {dg:.0e}"
    timed = timeit_rounds({"native": _step(native_fn, y, x), "lk": _step(lk_fn, y, x)}, repeats, budget, rounds=5)
    (tn, tn_min), (tl, tl_min) = timed["native"], timed["lk"]
    return {"name": name, "what": what, "shape": tuple(x.shape), "native": tn, "lk": tl,
            "ratio": tl / tn, "ratio_min": tl_min / tn_min, "check": check}


def report(rows, seconds):
    lines = [
        "# losskit on torch tensors: the other losses",
        "",
        f"Generated by `python benchmarks/bench_torch_losses.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({seconds:.0f} s). Forward + backward per step on CPU float32 tensors, one thread, losskit's default "
        "call (`validate=True`) against the torch expression a user would write; medians of interleaved rounds, "
        "in brackets the ratio of the fastest calls. `check`: relative difference of the values / largest "
        "gradient difference over the largest native entry. "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}, "
        f"losskit {lk.__version__}.",
        "",
        "| loss | shape | native | native ms | losskit ms | losskit / native | check |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {' x '.join(map(str, r['shape']))} | `{r['what']}` | {r['native'] * 1e3:.2f} | "
                     f"{r['lk'] * 1e3:.2f} | {r['ratio']:.2f} ({r['ratio_min']:.2f}) | {r['check']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "RESULTS_torch_losses.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = []
    for name in args.cases.split(","):
        r = run_case(name)
        print(f"{name:<18} native {r['native'] * 1e3:7.2f} ms  losskit {r['lk'] * 1e3:7.2f} ms  "
              f"{r['ratio']:.2f} ({r['ratio_min']:.2f})  check {r['check']}", flush=True)
        rows.append(r)
    with open(args.out, "w") as f:
        f.write(report(rows, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
