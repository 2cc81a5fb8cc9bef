#!/usr/bin/env python
"""What a machine with a CUDA GPU checks, in one run of under 5 minutes; CI never runs it.

1. correctness on the device: every reference case of the test suite (``tests/refs``), float64
   and float32 tensors on the GPU: per-sample values against the case's independent NumPy
   reference, and the autograd gradient (the closed-form route) against ``.grad`` computed on
   NumPy float64;
2. no synchronisation: every loss's forward + backward under
   ``torch.cuda.set_sync_debug_mode("error")``, with ``validate=True`` (the value checks become
   device-side assertions) and ``validate=False``: any host read raises;
3. a failing check on the device: out-of-range labels in a subprocess (a device-side assertion
   poisons the CUDA context), reporting how the failure surfaces;
4. CuPy, if installed: value and ``.grad`` of every loss's first case against NumPy;
5. timings: forward + backward of ``benchmarks/bench_training.py``'s torch cases on the GPU,
   losskit (validate on and off) against native torch, eager and (``--compile``) compiled.

    python benchmarks/gpu_check.py --out benchmarks/RESULTS_gpu.md
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpu_smoke.md   # a dry run here

Prints a Markdown report and writes it to ``--out``; the exit status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "tests")]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_training import COMPILE_LOSSES, LOSSES, MEDIUM, SMALL, make_step, torch_fn, torch_inputs  # noqa: E402
from refs import CASES  # noqa: E402  (tests/refs: the reference cases)
from refs.spec import rng_for  # noqa: E402
from timing import timeit_rounds  # noqa: E402

import losskit as lk  # noqa: E402

FIRST = list({c.loss: c for c in reversed(CASES)}.values())
TOL = {"float64": (1e-9, 1e-7), "float32": (None, None)}  # (value rtol, grad rtol); float32: the case's


def _tensor(a, device, dtype):
    t = torch.as_tensor(np.asarray(a), device=device)
    return t.to(dtype) if t.is_floating_point() else t


def _options(case, device, dtype):
    return {k: (_tensor(v, device, dtype) if isinstance(v, np.ndarray) else v) for k, v in case.options.items()}


def _close(got, want, rtol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-30)
    return float(np.max(np.abs(got - want))) / scale <= rtol if want.size else True


def check_correctness(device, quick):
    rows, failures = [], []
    cases = FIRST if quick else CASES
    for dtype_name, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        for case in cases:
            f = lk.get(case.loss, **case.options)
            y, p = case.make(rng_for(case))
            vt, gt = TOL[dtype_name]
            vt = vt or case.rtol32
            gt = gt or 10 * case.rtol32
            try:
                ty, tp = _tensor(y, device, dtype), _tensor(p, device, dtype).requires_grad_()
                opts = _options(case, device, dtype)
                values = lk.get(case.loss)(ty, tp, reduction="none", **opts)
                ok_v = _close(values.detach().cpu().numpy(), case.reference(y, p, **case.options), vt)
                lk.get(case.loss)(ty, tp, **opts).backward()
                ok_g = _close(tp.grad.cpu().numpy(), f.grad(y, p), gt)
                if not (ok_v and ok_g):
                    failures.append(f"{case.id} {dtype_name}: value {'ok' if ok_v else 'MISMATCH'}, "
                                    f"gradient {'ok' if ok_g else 'MISMATCH'}")
            except Exception as e:  # noqa: BLE001  (reported, not raised: the run goes on)
                failures.append(f"{case.id} {dtype_name}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        rows.append((dtype_name, len(cases)))
    return rows, failures


def check_no_sync(device):
    if device == "cpu":
        return [], ["skipped: set_sync_debug_mode needs CUDA"]
    failures = []
    for case in FIRST:
        y, p = case.make(rng_for(case))
        for validate in (True, False):
            ty, tp = _tensor(y, device, torch.float32), _tensor(p, device, torch.float32).requires_grad_()
            opts = _options(case, device, torch.float32)
            f = lk.get(case.loss)
            f(ty, tp, validate=validate, **opts).backward()  # warm: lazy imports and caches
            torch.cuda.synchronize()
            tp.grad = None
            try:
                torch.cuda.set_sync_debug_mode("error")
                f(ty, tp, validate=validate, **opts).backward()
            except RuntimeError as e:
                failures.append(f"{case.id} validate={validate}: {str(e).splitlines()[0][:160]}")
            finally:
                torch.cuda.set_sync_debug_mode("default")
            torch.cuda.synchronize()
    return [len(FIRST) * 2], failures


FAILING_CHILD = """
import torch, losskit as lk
y = torch.tensor([0.0, 1.0, 2.0], device="{device}")
p = torch.tensor([0.2, 0.5, 0.7], device="{device}", requires_grad=True)
try:
    v = lk.binary_cross_entropy(y, p)
    v.backward()
    torch.cuda.synchronize() if "{device}" != "cpu" else None
    print("NO ERROR: value", float(v))
except Exception as e:
    print("RAISED", type(e).__name__, str(e).splitlines()[0][:200])
"""


def check_device_assertion(device):
    out = subprocess.run([sys.executable, "-c", FAILING_CHILD.format(device=device)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    lines = (out.stdout + out.stderr).strip().splitlines()
    said = [ln for ln in lines if ln.startswith(("RAISED", "NO ERROR"))]
    text = said[-1] if said else (lines[-1] if lines else f"exit {out.returncode}")
    detail = [ln for ln in lines if "losskit:" in ln][:1]
    return text + (f" (device message: {detail[0].strip()[:200]})" if detail else ""), said[-1:] != [] and \
        said[-1].startswith("RAISED")


def check_cupy():
    try:
        import cupy as cp
    except ImportError:
        return "CuPy not installed", ["skipped: CuPy not installed"]
    failures = []
    for case in FIRST:
        y, p = case.make(rng_for(case))
        opts = {k: (cp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in case.options.items()}
        f = lk.get(case.loss)
        try:
            v = cp.asnumpy(f(cp.asarray(y), cp.asarray(p), reduction="none", **opts))
            g = cp.asnumpy(f.grad(cp.asarray(y), cp.asarray(p), **opts))
            if not (_close(v, f(y, p, reduction="none", **case.options), 1e-9)
                    and _close(g, f.grad(y, p, **case.options), 1e-7)):
                failures.append(f"{case.id}: MISMATCH")
        except Exception as e:  # noqa: BLE001
            failures.append(f"{case.id}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
    return f"CuPy {cp.__version__}: {len(FIRST)} losses", failures


def _synced(step, device, k):
    def run():
        for _ in range(k):
            step()
        if device != "cpu":
            torch.cuda.synchronize()
    return run


def timings(device, quick, compiled):
    sizes = [SMALL] if quick else [SMALL, MEDIUM, (8192, 32000)]
    rows = []
    impls = ("native", "losskit", "losskit (validate=False)")
    for loss in LOSSES:
        for n, c in sizes:
            if (n, c) == (8192, 32000) and loss != "ce_int":
                continue
            k = 20 if n * c <= 1e6 else 5
            fns = {}
            for impl in impls:
                y, x = torch_inputs(loss, n, c)
                y, x = y.to(device), x.detach().to(device).requires_grad_()
                fn = torch_fn(loss, impl)
                if compiled and loss in COMPILE_LOSSES:
                    fn = torch.compile(fn)
                fns[impl] = _synced(make_step(fn, y, x), device, k)
            t = timeit_rounds(fns, 10, 3.0, rounds=3)
            med = {key: t[key][0] / k for key in impls}
            rows.append((loss, f"{n} x {c}", med))
    return rows


def report(args, sections, elapsed):
    w = [f"# losskit on a GPU ({args.device})", "",
         f"Generated by `python benchmarks/gpu_check.py {' '.join(sys.argv[1:])}` on "
         f"{time.strftime('%Y-%m-%d %H:%M')} in {elapsed:.0f} s.", ""]
    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU (dry run)"
    w += [f"- device: {dev}", f"- torch {torch.__version__}, losskit {lk.__version__}", ""]
    for title, lines in sections:
        w += [f"## {title}", "", *lines, ""]
    return "\n".join(w)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="first case per loss, small size only")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of both sides")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS_gpu.md"))
    args = ap.parse_args(argv)
    t0 = time.time()
    sections, failed = [], False

    def section(title, fn):
        nonlocal failed
        try:
            lines, bad = fn()
        except Exception:  # noqa: BLE001  (one broken section must not hide the others)
            lines, bad = [], [traceback.format_exc(limit=3).strip().splitlines()[-1]]
        failed = failed or bool([b for b in bad if not b.startswith("skipped")])
        sections.append((title, lines + [f"- {b}" for b in bad] + ([] if bad else ["- all passed"])))
        print(f"-- {title}: {len(bad)} problem(s), {time.time() - t0:.0f} s", flush=True)

    def correctness():
        rows, bad = check_correctness(args.device, args.quick)
        return [f"- {d}: {n} cases, value and gradient" for d, n in rows], bad

    def no_sync():
        counts, bad = check_no_sync(args.device)
        return ([f"- {counts[0]} forward + backward calls under sync debug mode 'error'"] if counts else []), bad

    def assertion():
        text, raised = check_device_assertion(args.device)
        return [f"- labels [0, 1, 2] for BCE: {text}"], ([] if raised else ["the invalid call did not fail"])

    def cupy():
        text, bad = check_cupy()
        return [f"- {text}"], bad

    def timed():
        rows = timings(args.device, args.quick, args.compile)
        lines = ["| loss | size | native ms | lk ms | lk nv ms | lk / native | lk nv / native |",
                 "|---|---|---|---|---|---|---|"]
        for loss, size, med in rows:
            nat, lk_, nv = (med[k] * 1e3 for k in ("native", "losskit", "losskit (validate=False)"))
            lines.append(f"| {loss} | {size} | {nat:.3f} | {lk_:.3f} | {nv:.3f} | {lk_ / nat:.2f} | {nv / nat:.2f} |")
        return lines, []

    section("1. correctness on the device", correctness)
    section("2. no host synchronisation", no_sync)
    section("3. a failing check on the device", assertion)
    section("4. CuPy", cupy)
    section("5. forward + backward timings" + (" (compiled where listed)" if args.compile else ""), timed)
    text = report(args, sections, time.time() - t0)
    print("\n" + text)
    with open(args.out, "w") as fh:
        fh.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
