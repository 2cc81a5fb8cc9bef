"""Every reference case (``tests/refs``) through the paths the test suite samples one case per loss of:
too slow for CI (minutes each), run by hand after a change to the kernels or the call machinery.

    python tests/sweep_cases.py compile      # torch.compile(fullgraph=True) equals eager (float64)
    python tests/sweep_cases.py compile32    # compiled float32 at 3e4 elements against float64
    python tests/sweep_cases.py large        # float32 at 3e5 elements, NumPy / torch (both memory
                                             # layouts) / jax.jit, against float64
    python tests/sweep_cases.py weights      # sample weights, three reductions, torch and jax.jit

Each line says ok, BAD (beyond the tolerance) or FAIL (an exception); the last line lists them.
These sweeps found a wrong compiled gradient (Inductor's scatter_add fallback), float32 class sums
over several axes on torch and float32 Lovasz weights over many pixels (CHANGELOG, Fixed).
"""

from __future__ import annotations

import functools
import sys
import traceback
import warnings

import numpy as np
from refs import CASES
from refs.spec import rng_for

import losskit as lk

TOL32 = 2e-5  # normwise, relative: float32 sums over 3e5 terms stay well inside it when accurate


def tiled(case, size):
    """The case's inputs repeated along the first axis to about ``size`` elements of ``y_pred``."""
    y, p = (np.asarray(a) for a in case.make(rng_for(case)))
    k = max(1, int(np.ceil(size / p.size)))
    return (np.concatenate([y] * k) if y.ndim else y), np.concatenate([p] * k)


def as32(a):
    return a.astype(np.float32) if a.dtype.kind == "f" else a


def as64(a):
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def rel(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)) if want.size else 0.0


def compiled(torch, f, y, p):
    """(value, gradient) of ``f`` under ``torch.compile(fullgraph=True)``."""
    torch._dynamo.reset()
    tp = torch.as_tensor(p).requires_grad_()
    value = torch.compile(lambda a, b: f(a, b), fullgraph=True)(torch.as_tensor(y), tp)
    value.backward()
    return float(value), tp.grad.numpy()


def sweep_compile(f, case):
    import torch

    y, p = (np.asarray(a) for a in case.make(rng_for(case)))
    value, grad = compiled(torch, f, y, p)
    return [(rel(value, f(y, p)), 1e-9), (rel(grad, f.grad(y, p)), 1e-9)]


def sweep_compile32(f, case):
    import torch

    y, p = tiled(case, 3e4)
    y, p = as32(y), as32(p)
    want, want_grad = f(as64(y), as64(p)), f.grad(as64(y), as64(p))  # (first: inputs the tiling made invalid skip)
    value, grad = compiled(torch, f, y, p)
    return [(rel(value, want), TOL32), (rel(grad, want_grad), TOL32)]


def sweep_large(f, case):
    import jax
    import jax.numpy as jnp
    import torch

    y, p = tiled(case, 3e5)
    y, p = as32(y), as32(p)
    want, want_grad = f(as64(y), as64(p)), f.grad(as64(y), as64(p))
    errs = [rel(f(y, p), want), rel(f.grad(y, p), want_grad)]
    for order in ("C", "F"):
        tp = torch.as_tensor(np.asarray(p, order=order)).requires_grad_()
        value = f(torch.as_tensor(np.asarray(y, order=order)), tp)
        value.backward()
        errs += [rel(float(value), want), rel(tp.grad.numpy(), want_grad)]
    jy = jnp.asarray(y)
    errs += [rel(jax.jit(lambda b: f(jy, b))(jnp.asarray(p)), want),
             rel(jax.jit(jax.grad(lambda b: f(jy, b)))(jnp.asarray(p)), want_grad)]
    return [(e, TOL32) for e in errs]


def sweep_weights(f, case):
    import jax
    import jax.numpy as jnp
    import torch

    y, p = tiled(case, 1e4)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=np.shape(f(y, p, reduction="none")))
    errs = []
    for reduction in ("mean", "sum", "sum_over_batch_size"):
        want = f(y, p, sample_weight=w, reduction=reduction)
        want_grad = f.grad(y, p, sample_weight=w, reduction=reduction)
        tp = torch.as_tensor(p).requires_grad_()
        value = f(torch.as_tensor(y), tp, sample_weight=torch.as_tensor(w), reduction=reduction)
        value.backward()
        fn = functools.partial(_weighted, f, jnp.asarray(y), jnp.asarray(w), reduction)
        errs += [rel(float(value), want), rel(tp.grad.numpy(), want_grad),
                 rel(jax.jit(fn)(jnp.asarray(p)), want), rel(jax.jit(jax.grad(fn))(jnp.asarray(p)), want_grad)]
    return [(e, 1e-9) for e in errs]


def _weighted(f, y, w, reduction, p):
    return f(y, p, sample_weight=w, reduction=reduction)


SWEEPS = {"compile": sweep_compile, "compile32": sweep_compile32, "large": sweep_large, "weights": sweep_weights}


def main(name):
    import jax

    jax.config.update("jax_enable_x64", True)  # (float32 arrays stay float32)
    warnings.filterwarnings("ignore")
    sweep, bad = SWEEPS[name], []
    for case in CASES:
        f = lk.get(case.loss, **case.options)
        try:
            errs = sweep(f, case)  # [(relative error, tolerance)]
            verdict = "ok  " if all(e <= t for e, t in errs) else "BAD "
            print(f"{verdict} {case.id}  " + " ".join(f"{e:.1e}" for e, _ in errs), flush=True)
        except lk.LossInputError as e:  # repeated inputs that no longer pass a check (a row sum)
            print(f"skip {case.id}  {e}", flush=True)
            continue
        except Exception as e:  # noqa: BLE001
            verdict = "FAIL"
            print(f"FAIL {case.id}  {traceback.format_exception_only(type(e), e)[-1].strip()[:300]}", flush=True)
        if verdict != "ok  ":
            bad.append(case.id)
    print(f"{len(bad)} not ok: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "compile"))
