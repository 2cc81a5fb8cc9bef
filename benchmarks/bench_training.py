#!/usr/bin/env python
"""What a loss costs inside a training step: losskit on torch tensors and JAX arrays against the
native implementations (torch.nn.functional, optax), float32, one thread (torch's, XLA's and
losskit's engine's).

Sections (all on the CPU):

1. torch eager, forward + backward (``loss(y_true, y_pred).backward()``, ``y_pred`` a leaf that
   requires grad), losskit with ``validate=True`` (its default) and ``validate=False`` against
   torch.nn.functional (or the torch expression a user would write where torch lacks the loss),
   at 256 x 10 and 4096 x 1000, and 8192 x 32000 for cross-entropy with integer labels.
2. torch.compile (default mode, graph breaks allowed) of the same loss functions, forward +
   backward, for MSE, BCE on logits, CE with integer labels and Dice.
3. aten operator events and host reads (``aten::_local_scalar_dense``: a tensor's ``.item()``
   or ``bool()``) in one profiled forward + backward.
4. memory of forward + backward at 4096 x 1000, each (implementation, loss) in a fresh
   subprocess: the peak resident set above the level before the step, the resident memory
   held between forward and backward, and the bytes autograd saves for the backward pass.
5. JAX: ``jax.jit`` of the value and ``jax.jit(jax.grad(...))``, losskit against optax, with
   ``y_true`` passed as an argument.
6. NumPy small-call overhead: ``lk.mse`` and ``lk.binary_cross_entropy`` on 1e3 float64
   elements against the course's one-liners.

    python benchmarks/bench_training.py                 # the full run (about 5 minutes on 2 cores)
    python benchmarks/bench_training.py --quick         # fewer repeats, no 8192 x 32000 case (2-3 min)
    python benchmarks/bench_training.py --sections eager,ops --out /tmp/r.md

Every pairing is checked before it is timed (value, and the gradient where there is one); a
disagreement is reported in the tables, not hidden. Timings are medians after a warm-up call,
taken in interleaved rounds over the implementations of a case (A B C A B C ...), so a slow
spell of the machine falls on all of them alike. Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

# JAX/XLA on one thread, like torch below (set before jax is imported; an explicit XLA_FLAGS wins).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from timing import timeit_rounds  # noqa: E402  (benchmarks/timing.py)

import losskit as lk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MB = 2.0**20
SMALL, MEDIUM, LARGE = (256, 10), (4096, 1000), (8192, 32000)
VALUE_RTOL = 2e-5  # float32 value of a mean over up to 2.6e8 terms, two summation orders
GRAD_RTOL = 1e-4  # max |g_losskit - g_native| / max |g_native|
SECTIONS = ("eager", "compile", "ops", "memory", "jax", "numpy")

torch.set_num_threads(1)
lk.engine.configure(threads=1)  # losskit's own engine (the host route's fused kernels): one thread too


# ---------------------------------------------------------------------------------------
# the losses: losskit name and options, and the native torch expression
# ---------------------------------------------------------------------------------------
def focal_native(y, x, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss, reduction="mean", written in torch."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    alpha_t = alpha * y + (1 - alpha) * (1 - y)
    return (alpha_t * loss).mean()


def dice_native(y, x, smooth=1.0):
    """Soft Dice over everything (one global score), softmax over the class axis 1."""
    p = torch.softmax(x, dim=1)
    return 1 - (2 * (y * p).sum() + smooth) / (y.sum() + p.sum() + smooth)


LOSSES = {  # key: (losskit name, losskit options, native fn(y, x), what native is)
    "mse": ("mean_squared_error", {}, lambda y, x: F.mse_loss(x, y), "F.mse_loss"),
    "bce_logits": ("binary_cross_entropy", {"from_logits": True},
                   lambda y, x: F.binary_cross_entropy_with_logits(x, y), "F.binary_cross_entropy_with_logits"),
    "bce_prob": ("binary_cross_entropy", {}, lambda y, x: F.binary_cross_entropy(x, y), "F.binary_cross_entropy"),
    "ce_int": ("sparse_categorical_cross_entropy", {"from_logits": True},
               lambda y, x: F.cross_entropy(x, y), "F.cross_entropy(x, labels)"),
    "ce_soft": ("categorical_cross_entropy", {"from_logits": True},
                lambda y, x: F.cross_entropy(x, y), "F.cross_entropy(x, probabilities)"),
    "kl": ("kl_divergence", {"from_logits": True},
           lambda y, x: F.kl_div(F.log_softmax(x, dim=-1), y, reduction="batchmean"),
           'F.kl_div(F.log_softmax(x, -1), t, reduction="batchmean")'),
    "hinge": ("hinge", {}, lambda y, x: torch.clamp(1 - y * x, min=0).mean(), "torch.clamp(1 - y*s, min=0).mean()"),
    "focal": ("binary_focal_cross_entropy", {"from_logits": True, "alpha": 0.25, "gamma": 2.0}, focal_native,
              "torchvision's sigmoid_focal_loss formula (alpha 0.25, gamma 2), mean"),
    "dice": ("dice", {"activation": "softmax"}, dice_native,
             "1 - (2 sum(y p) + 1) / (sum y + sum p + 1), p = softmax(x, 1)"),
}
INPUTS_DOC = {
    "mse": "y, x ~ N(0, 1)",
    "bce_logits": "y in {0, 1}, logits 3 N(0, 1)",
    "bce_prob": "y in {0, 1}, probabilities U(0.005, 0.995)",
    "ce_int": "labels uniform in [0, C), logits N(0, 1)",
    "ce_soft": "targets softmax(N(0, 1)) rows, logits N(0, 1)",
    "kl": "targets softmax(N(0, 1)) rows, logits N(0, 1)",
    "hinge": "y in {-1, 1}, scores N(0, 1)",
    "focal": "y in {0, 1}, logits 3 N(0, 1)",
    "dice": "one-hot rows (N x C), logits N(0, 1); losskit `dice(activation=\"softmax\")` (class_axis 1, axis None)",
}
COMPILE_LOSSES = ("mse", "bce_logits", "ce_int", "dice")
IMPLS = ("native", "losskit", "losskit (validate=False)")


def torch_inputs(loss, n, c, seed=0):
    """``(y_true, y_pred)`` torch float32 tensors (int64 labels for ce_int); y_pred requires grad."""
    g = torch.Generator().manual_seed(seed)

    def normal():
        return torch.randn(n, c, generator=g)

    def bits():
        return (torch.rand(n, c, generator=g) > 0.5).float()

    if loss == "mse":
        y, x = normal(), normal()
    elif loss in ("bce_logits", "focal"):
        y, x = bits(), 3 * normal()
    elif loss == "bce_prob":
        y, x = bits(), torch.rand(n, c, generator=g) * 0.99 + 0.005
    elif loss == "ce_int":
        y, x = torch.randint(0, c, (n,), generator=g), normal()
    elif loss in ("ce_soft", "kl"):
        y, x = torch.softmax(normal(), dim=-1), normal()
    elif loss == "hinge":
        y, x = 2 * bits() - 1, normal()
    elif loss == "dice":
        y, x = F.one_hot(torch.randint(0, c, (n,), generator=g), c).float(), normal()
    else:
        raise ValueError(loss)
    return y, x.requires_grad_(True)


def torch_fn(loss, impl):
    """``fn(y_true, y_pred)`` -> scalar tensor for ``impl`` in IMPLS."""
    name, opts, native, _ = LOSSES[loss]
    if impl == "native":
        return native
    f = getattr(lk, name)
    validate = impl == "losskit"

    def fn(y, x):
        return f(y, x, validate=validate, **opts)

    return fn


def make_step(fn, y, x):
    """One training step's loss work: forward and backward into a fresh ``x.grad``."""

    def step():
        x.grad = None
        out = fn(y, x)
        out.backward()
        return out

    return step


# ---------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------
def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def _grad_rel(g, ref):
    g, ref = g.detach(), ref.detach()  # float32 differences: ample for a 1e-4 tolerance, half the memory
    return float((g - ref).abs().max()) / max(float(ref.abs().max()), 1e-30)


def _verdict(vdiff, gdiff=None):
    ok = vdiff is not None and vdiff <= VALUE_RTOL and (gdiff is None or gdiff <= GRAD_RTOL)
    return "ok" if ok else "MISMATCH"


def _err(e):
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg[:140]}"


# ---------------------------------------------------------------------------------------
# 1. torch eager
# ---------------------------------------------------------------------------------------
def eager_case(loss, n, c, repeats, budget, rounds=5, log=print):
    y, x = torch_inputs(loss, n, c)
    res = {"loss": loss, "size": (n, c), "impl": {}}
    steps, ref_val, ref_grad, first = {}, None, None, {}
    for impl in IMPLS:  # native first: the reference
        entry = res["impl"][impl] = {}
        try:
            step = make_step(torch_fn(loss, impl), y, x)
            t0 = time.perf_counter()
            out = step()
            first[impl] = [time.perf_counter() - t0]
            val = float(out.detach())
            if impl == "native":
                ref_val, ref_grad = val, x.grad.clone()
            else:
                entry["vdiff"], entry["gdiff"] = _rel(val, ref_val), _grad_rel(x.grad, ref_grad)
                entry["check"] = _verdict(entry["vdiff"], entry["gdiff"])
            steps[impl] = step
        except Exception as e:  # noqa: BLE001 - an implementation that fails is reported
            entry["error"] = _err(e)
    del ref_grad
    x.grad = None
    # the large case (seconds per call): no warm-up, the checking call is the first sample
    large = n * c >= 10**8
    timed = timeit_rounds(steps, repeats, budget, rounds=rounds, warm=not large, prior=first if large else None)
    for impl, (med, fastest) in timed.items():
        res["impl"][impl]["t"], res["impl"][impl]["t_min"] = med, fastest
    log(_eager_line(res))
    return res


def _eager_line(r):
    n, c = r["size"]
    parts = [f"eager {r['loss']:<10} {n}x{c}"]
    for impl, e in r["impl"].items():
        if "t" in e:
            parts.append(f"{impl} {e['t'] * 1e3:.3g} ms" + (f" [{e['check']}]" if "check" in e else ""))
        elif "error" in e:
            parts.append(f"{impl} ERROR {e['error']}")
    return " | ".join(parts)


def run_eager(quick, large, log):
    out = []
    for size in (SMALL, MEDIUM):
        reps, budget = ((30, 0.6) if quick else (60, 1.2)) if size == SMALL else ((7, 0.8) if quick else (15, 1.5))
        for loss in LOSSES:
            out.append(eager_case(loss, *size, reps, budget, log=log))
            gc.collect()
    if large:
        try:
            # the checking call + one round of up to 3 calls within 25 s each: losskit (~20 s a call
            # here) gets two samples, native (~2 s) four
            out.append(eager_case("ce_int", *LARGE, repeats=3, budget=25, rounds=1, log=log))
        except Exception as e:  # noqa: BLE001 - out of memory or similar: keep the rest
            log(f"large case failed: {_err(e)}")
            out.append({"loss": "ce_int", "size": LARGE, "impl": {"native": {"error": _err(e)}}})
        gc.collect()
    return out


# ---------------------------------------------------------------------------------------
# 2. torch.compile
# ---------------------------------------------------------------------------------------
def compile_case(loss, n, c, repeats, budget, log=print):
    import torch._dynamo

    y, x = torch_inputs(loss, n, c)
    native = torch_fn(loss, "native")
    ref = make_step(native, y, x)
    ref_val, ref_grad = float(ref().detach()), x.grad.clone()
    torch._dynamo.reset()  # fresh caches: no recompilation against the other size, no dynamic shapes
    res = {"loss": loss, "size": (n, c), "impl": {}}
    steps = {}
    counters = getattr(torch._dynamo.utils, "counters", None)
    for impl in ("native", "losskit"):
        entry = res["impl"][impl] = {}
        try:
            if counters is not None:
                counters.clear()
            compiled = torch.compile(torch_fn(loss, impl))
            step = make_step(compiled, y, x)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                val = float(step().detach())
            entry["first_call"] = time.perf_counter() - t0
            entry["vdiff"], entry["gdiff"] = _rel(val, ref_val), _grad_rel(x.grad, ref_grad)
            entry["check"] = _verdict(entry["vdiff"], entry["gdiff"])
            if counters is not None:
                entry["graph_breaks"] = sum(counters["graph_break"].values())
                entry["graphs"] = counters["stats"].get("unique_graphs", None)
            steps[impl] = step
        except Exception as e:  # noqa: BLE001 - "fails" in the report
            entry["error"] = _err(e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        timed = timeit_rounds(steps, repeats, budget)
    for impl, (med, fastest) in timed.items():
        res["impl"][impl]["t"], res["impl"][impl]["t_min"] = med, fastest
    log("compile " + _eager_line(res)[6:])
    return res


def run_compile(quick, log):
    out = []
    sizes = (SMALL,) if quick else (SMALL, MEDIUM)
    for size in sizes:
        reps, budget = ((30, 0.5) if quick else (60, 1.0)) if size == SMALL else (15, 1.2)
        for loss in COMPILE_LOSSES:
            try:
                out.append(compile_case(loss, *size, reps, budget, log=log))
            except Exception as e:  # noqa: BLE001
                out.append({"loss": loss, "size": size, "impl": {"native": {"error": _err(e)}}})
                log(f"compile {loss} {size}: {_err(e)}")
    import torch._dynamo

    torch._dynamo.reset()
    return out


# ---------------------------------------------------------------------------------------
# 3. aten ops and host reads
# ---------------------------------------------------------------------------------------
def op_counts(loss, n, c, impl):
    from torch.profiler import ProfilerActivity, profile

    y, x = torch_inputs(loss, n, c)
    step = make_step(torch_fn(loss, impl), y, x)
    step()
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    names = [e.name for e in prof.events()]
    return {"aten": sum(nm.startswith("aten::") for nm in names), "reads": names.count("aten::_local_scalar_dense")}


def run_ops(log):
    out = []
    for loss in LOSSES:
        row = {"loss": loss, "impl": {}}
        for impl in IMPLS:
            try:
                row["impl"][impl] = {f"{n}x{c}": op_counts(loss, n, c, impl) for n, c in (SMALL, MEDIUM)}
            except Exception as e:  # noqa: BLE001
                row["impl"][impl] = {"error": _err(e)}
        log(f"ops {loss:<10} " + " | ".join(
            f"{impl} {d.get('4096x1000', d)}" for impl, d in row["impl"].items()))
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------
# 4. memory, one subprocess per (implementation, loss)
# ---------------------------------------------------------------------------------------
def _status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(field)


def mem_child(spec):
    """Runs in the subprocess: prints one JSON line with the step's memory for ``impl:loss:n:c``."""
    import ctypes
    import resource

    impl, loss, n, c = spec.split(":")
    n, c = int(n), int(c)
    fn = torch_fn(loss, impl)
    ys, xs = torch_inputs(loss, 16, c)  # warm-up on a tiny batch: imports and lazy setup
    make_step(fn, ys, xs)()
    y, x = torch_inputs(loss, n, c)
    del ys, xs
    # and one step at full size: kernels a small batch does not reach fault their code pages in
    # on first use (torch.isfinite: 0.7 MB), which the peak below would count as the step's memory
    make_step(fn, y, x)()
    x.grad = None
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    out = {"input_bytes": x.nbytes + y.nbytes, "grad_bytes": x.nbytes}
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark (VmHWM) to the current RSS
        out["method"] = "VmHWM"
        base = _status("VmRSS")
    except OSError:  # no clear_refs: the lifetime peak (includes imports)
        out["method"] = "ru_maxrss"
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    x.grad = None
    loss_value = fn(y, x)
    out["held_after_forward"] = _status("VmRSS") - base
    loss_value.backward()
    peak = _status("VmHWM") if out["method"] == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["peak"] = peak - base
    del loss_value
    # what autograd saves: storages packed by saved-tensor hooks, inputs excluded
    saved = {}

    def pack(t):
        st = t.untyped_storage()
        saved[st.data_ptr()] = st.nbytes()
        return t

    x.grad = None
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_value = fn(y, x)
    del loss_value
    inputs = {y.untyped_storage().data_ptr(), x.untyped_storage().data_ptr()}
    out["saved"] = sum(v for k, v in saved.items() if k not in inputs)
    out["saved_inputs"] = sum(v for k, v in saved.items() if k in inputs)
    print("MEMJSON " + json.dumps(out), flush=True)


def _run_child(impl, loss, n, c):
    env = dict(os.environ)
    # a fixed mmap threshold: every large buffer is mmapped and unmapped on free, so the RSS
    # follows live memory (glibc otherwise raises the threshold after the first large free)
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    cmd = [sys.executable, os.path.abspath(__file__), "--mem-child", f"{impl}:{loss}:{n}:{c}"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    for line in p.stdout.splitlines():
        if line.startswith("MEMJSON "):
            return json.loads(line[8:])
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {p.returncode}: {tail[:140]}"}


def run_memory(quick, log, n=MEDIUM[0], c=MEDIUM[1]):
    impls = IMPLS[:2] if quick else IMPLS  # --quick: validate=False (same memory so far) left out
    jobs = [(impl, loss) for loss in LOSSES for impl in impls]
    with ThreadPoolExecutor(max_workers=2) as ex:  # memory does not depend on timing: two at once
        results = list(ex.map(lambda j: _run_child(j[0], j[1], n, c), jobs))
    out = {}
    for (impl, loss), r in zip(jobs, results):
        out.setdefault(loss, {})[impl] = r
    for loss, d in out.items():
        log(f"memory {loss:<10} " + " | ".join(
            f"{impl} " + (f"peak {r['peak'] / MB:.1f} MB, saved {r['saved'] / MB:.1f} MB" if "peak" in r else r["error"])
            for impl, r in d.items()))
    return out


# ---------------------------------------------------------------------------------------
# 5. JAX: losskit against optax
# ---------------------------------------------------------------------------------------
def jax_cases():
    import jax
    import optax

    L = optax.losses
    return {  # key: (optax fn(y, x) -> scalar, what)
        "mse": (lambda y, x: L.squared_error(x, y).mean(), "optax.losses.squared_error(x, y).mean()"),
        "bce_logits": (lambda y, x: L.sigmoid_binary_cross_entropy(x, y).mean(),
                       "optax.losses.sigmoid_binary_cross_entropy(x, y).mean()"),
        "ce_int": (lambda y, x: L.softmax_cross_entropy_with_integer_labels(x, y).mean(),
                   "optax.losses.softmax_cross_entropy_with_integer_labels(x, labels).mean()"),
        "ce_soft": (lambda y, x: L.softmax_cross_entropy(x, y).mean(), "optax.losses.softmax_cross_entropy(x, t).mean()"),
        "kl": (lambda y, x: L.kl_divergence(jax.nn.log_softmax(x, axis=-1), y).mean(),
               "optax.losses.kl_divergence(jax.nn.log_softmax(x), t).mean()"),
        "hinge": (lambda y, x: L.hinge_loss(x, y).mean(), "optax.losses.hinge_loss(x, y).mean()"),
        "focal": (lambda y, x: L.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0).mean(),
                  "optax.losses.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2).mean()"),
    }


def jax_case(loss, n, c, optax_fn, repeats, budget, log=print):
    import jax
    import jax.numpy as jnp

    yt, xt = torch_inputs(loss, n, c)
    y, x = jnp.asarray(yt.numpy()), jnp.asarray(xt.detach().numpy())
    name, opts, _, _ = LOSSES[loss]
    f = getattr(lk, name)

    def lk_fn(yy, xx):
        return f(yy, xx, **opts)

    fns = {}
    res = {"loss": loss, "size": (n, c), "impl": {}}
    for impl, fn in (("optax", optax_fn), ("losskit", lk_fn)):
        entry = res["impl"][impl] = {}
        try:
            v, g = jax.jit(fn), jax.jit(jax.grad(fn, argnums=1))
            entry["value"] = float(v(y, x))
            entry["grad"] = np.asarray(g(y, x), dtype=np.float64)
            fns[(impl, "value")] = lambda v=v: v(y, x).block_until_ready()
            fns[(impl, "grad")] = lambda g=g: g(y, x).block_until_ready()
        except Exception as e:  # noqa: BLE001
            entry["error"] = _err(e)
    o, lk_e = res["impl"]["optax"], res["impl"]["losskit"]
    if "value" in o and "value" in lk_e:
        lk_e["vdiff"] = _rel(lk_e["value"], o["value"])
        lk_e["gdiff"] = float(np.abs(lk_e["grad"] - o["grad"]).max() / max(np.abs(o["grad"]).max(), 1e-30))
        lk_e["check"] = _verdict(lk_e["vdiff"], lk_e["gdiff"])
    for e in res["impl"].values():
        e.pop("grad", None)
    timed = timeit_rounds(fns, repeats, budget, rounds=5)
    for (impl, op), (med, fastest) in timed.items():
        res["impl"][impl]["t_" + op], res["impl"][impl]["t_" + op + "_min"] = med, fastest
    log(f"jax {loss:<10} {n}x{c} " + " | ".join(
        f"{impl} " + (f"{e['t_value'] * 1e6:.0f}/{e['t_grad'] * 1e6:.0f} us" if "t_value" in e else e.get("error", ""))
        for impl, e in res["impl"].items()))
    return res


def run_jax(quick, log):
    try:
        import jax

        jax.config.update("jax_enable_x64", False)
        cases = jax_cases()
    except Exception as e:  # noqa: BLE001
        log(f"JAX section skipped: {_err(e)}")
        return {"error": _err(e)}
    out = {"cases": [], "docs": {k: v[1] for k, v in cases.items()}, "mixed": _jax_mixed_inputs()}
    for size in (SMALL, MEDIUM):
        reps, budget = ((100, 0.3) if quick else (300, 0.6)) if size == SMALL else ((7, 0.5) if quick else (15, 1.0))
        for loss, (fn, _) in cases.items():
            out["cases"].append(jax_case(loss, *size, fn, reps, budget, log=log))
    return out


def _jax_mixed_inputs():
    """What losskit does with a NumPy y_true next to a JAX prediction (eagerly and under jit)."""
    import jax
    import jax.numpy as jnp

    y, x = np.zeros(4, np.float32), jnp.ones(4, jnp.float32)
    out = {}
    for where, call in (("eager", lambda: lk.mse(y, x)), ("jit, y_true closed over", lambda: jax.jit(lambda xx: lk.mse(y, xx))(x))):
        try:
            out[where] = f"works ({float(call()):.3g})"
        except Exception as e:  # noqa: BLE001
            out[where] = _err(e)
    return out


# ---------------------------------------------------------------------------------------
# 6. NumPy small-call overhead
# ---------------------------------------------------------------------------------------
def run_numpy(quick, log, n=1000, batch=200):
    rng = np.random.default_rng(0)
    y_r, p_r = rng.normal(size=n), rng.normal(size=n)
    y_b, p_b = (rng.uniform(size=n) > 0.5).astype(np.float64), rng.uniform(0.005, 0.995, size=n)
    cases = {
        "mse": (y_r, p_r, {
            "one-liner `np.mean((y - p)**2)`": lambda y, p: np.mean((y - p) ** 2),
            "lk.mse": lambda y, p: lk.mse(y, p),
            "lk.mse(validate=False)": lambda y, p: lk.mse(y, p, validate=False),
        }),
        "bce": (y_b, p_b, {
            "one-liner `-np.mean(y*np.log(p) + (1-y)*np.log(1-p))`":
                lambda y, p: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)),
            "lk.binary_cross_entropy": lambda y, p: lk.binary_cross_entropy(y, p),
            "lk.binary_cross_entropy(validate=False)": lambda y, p: lk.binary_cross_entropy(y, p, validate=False),
        }),
    }
    out = []
    for loss, (y, p, impls) in cases.items():
        ref = None
        fns, row = {}, {"loss": loss, "impl": {}}
        for name, fn in impls.items():
            val = float(fn(y, p))
            ref = val if ref is None else ref
            row["impl"][name] = {"vdiff": _rel(val, ref)}

            def many(fn=fn, y=y, p=p):
                for _ in range(batch):
                    fn(y, p)

            fns[name] = many
        timed = timeit_rounds(fns, 15 if quick else 40, 0.5 if quick else 1.5, rounds=5)
        for name, (med, _) in timed.items():
            row["impl"][name]["us"] = med / batch * 1e6
        log(f"numpy {loss} 1e3 float64 " + " | ".join(f"{k.split(' `')[0]} {e['us']:.1f} us" for k, e in row["impl"].items()))
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------
def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 2**20:.1f} GiB"
    except OSError:
        mem = "?"
    return {
        "platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
        "usable cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory": mem, "torch threads": torch.get_num_threads(), "losskit engine threads": lk.engine.settings()["threads"],
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    }


def versions():
    out = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
           "losskit": lk.__version__}
    for name in ("jax", "optax", "numba"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            out[name] = "missing"
    return out


def git_state():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    if not head:
        return "?"
    return head + (f" with uncommitted changes under src/ ({len(dirty.splitlines())} files)" if dirty else "")


def _ms(t):
    if t is None:
        return "-"
    ms = t * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _ratio2(e, ref, key="t"):
    """``median ratio (ratio of the fastest calls)`` of ``e`` against ``ref``."""
    e, ref = e or {}, ref or {}
    if not e.get(key) or not ref.get(key):
        return "-"
    out = f"{e[key] / ref[key]:.2f}"
    if e.get(key + "_min") and ref.get(key + "_min"):
        out += f" ({e[key + '_min'] / ref[key + '_min']:.2f})"
    return out


def _sz(size):
    return f"{size[0]} x {size[1]}"


def _cell(e, key="t"):
    if e is None:
        return "-"
    if "error" in e:
        return "fails"
    return _ms(e.get(key))


def _check(e):
    if e is None or "error" in e:
        return ""
    if "vdiff" not in e:
        return ""
    s = f"{e['vdiff']:.0e} / {e['gdiff']:.0e}"
    return s if e.get("check") == "ok" else f"**{e.get('check', '?')}** {s}"


def report(meta, res):
    L = []
    w = L.append
    w("# losskit in a training step: torch and JAX against the native losses\n")
    w(f"Generated by `{meta['command']}` on {meta['date']} (run time {meta['elapsed'] / 60:.1f} min). "
      "Timings are medians of repeated calls after a warm-up call, in interleaved rounds over the "
      "implementations of a case (A B C A B C ...); time per section: "
      + ", ".join(f"{k} {v:.0f} s" for k, v in meta["section_s"].items()) + ". Ratios are losskit / native: above 1, losskit is slower; in brackets the ratio of "
      "the fastest calls (the least disturbed on a shared machine). "
      "Every pairing was checked before timing: `check` gives the relative difference of the value and the "
      f"largest gradient difference relative to the largest native gradient entry (ok below {VALUE_RTOL:g} and "
      f"{GRAD_RTOL:g}); a **MISMATCH** is flagged in place.\n")
    w("## Machine\n")
    for k, v in meta["machine"].items():
        w(f"- {k}: {v}")
    w(f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}")
    w(f"- git: {meta['git']}")
    w(f"- load average (1, 5, 15 min) before: {meta['load_before']}, after: {meta['load_after']} "
      f"({meta['load_note']})\n")
    w("## Losses and inputs (float32)\n")
    w("| key | losskit | native | inputs |")
    w("|---|---|---|---|")
    for k, (name, opts, _, what) in LOSSES.items():
        o = ", ".join(f"{a}={b!r}" for a, b in opts.items())
        w(f"| {k} | `lk.{name}(y, x{', ' + o if o else ''})` | `{what}` | {INPUTS_DOC[k]} |")
    w("")
    _summary(w, res)
    if "eager" in res:
        _eager_section(w, res["eager"])
    if "compile" in res:
        _compile_section(w, res["compile"], res.get("eager", []))
    if "ops" in res:
        _ops_section(w, res["ops"])
    if "memory" in res:
        _memory_section(w, res["memory"])
    if "jax" in res:
        _jax_section(w, res["jax"])
    if "numpy" in res:
        _numpy_section(w, res["numpy"])
    fails = _failures(res)
    w("## Failures and mismatches\n")
    w("\n".join(f"- {f}" for f in fails) if fails else "None.")
    w("")
    return "\n".join(L) + "\n"


def _summary(w, res):
    """One row per loss: losskit / native, median ratios, from every section that ran."""
    cols = []

    def add(title, rows, size, impl, key, ref="native"):
        d = {r["loss"]: r["impl"] for r in rows if tuple(r["size"]) == size}
        if d:
            cols.append((title, lambda loss: _ratio2((d.get(loss) or {}).get(impl), (d.get(loss) or {}).get(ref), key)
                         .split(" ")[0]))

    for size in (SMALL, MEDIUM):
        add(f"eager {size[0]}x{size[1]}", res.get("eager", []), size, "losskit", "t")
        add(f"eager nv {size[0]}x{size[1]}", res.get("eager", []), size, "losskit (validate=False)", "t")
    add("eager 8192x32000", res.get("eager", []), LARGE, "losskit", "t")
    for size in (SMALL, MEDIUM):
        add(f"compile {size[0]}x{size[1]}", res.get("compile", []), size, "losskit", "t")
    jcases = res.get("jax", {}).get("cases", [])
    for size in (SMALL, MEDIUM):
        add(f"jax grad {size[0]}x{size[1]}", jcases, size, "losskit", "t_grad", ref="optax")
    mem = res.get("memory", {})
    if mem:
        def peak(loss):
            d = mem.get(loss, {})
            a, b = d.get("losskit", {}).get("peak"), d.get("native", {}).get("peak")
            return f"{a / b:.1f}" if a and b else "-"

        cols.append(("peak memory 4096x1000", peak))
    ops = {r["loss"]: r["impl"] for r in res.get("ops", [])}
    if ops:
        def reads(loss):
            d = ops.get(loss, {}).get("losskit", {})
            return str(d["4096x1000"]["reads"]) if "4096x1000" in d else "-"

        cols.append(("host reads lk", reads))
    if not cols:
        return
    w("## Summary: losskit / native (medians; above 1 = losskit slower or larger)\n")
    w("`eager` = losskit default (`validate=True`), `eager nv` = `validate=False`; `compile` = torch.compile "
      "of both; `jax grad` = jit(grad) against optax; `peak memory` = peak resident increase of forward + "
      "backward, losskit default against native; `host reads lk` = `.item()`-style reads per step (native: 0).\n")
    w("| loss | " + " | ".join(t for t, _ in cols) + " |")
    w("|---|" + "---|" * len(cols))
    for loss in LOSSES:
        w(f"| {loss} | " + " | ".join(f(loss) for _, f in cols) + " |")
    w("")


def _eager_section(w, rows):
    w("## 1. torch eager: forward + backward (ms per step)\n")
    w("`x.grad = None; loss(y, x).backward()` on CPU tensors, one thread. `lk` is losskit's default "
      "(`validate=True`: value checks on every call), `lk nv` is `validate=False`. 256 x 10: up to 60 "
      "calls in five rounds; 4096 x 1000: up to 15 calls in five rounds; 8192 x 32000 (seconds per "
      "call): no warm-up, the checking call is the first sample, then up to 3 calls each within 25 s "
      "(a 20 s step gets 2 samples in all, a 2 s step 4). At 4096 x 1000 every fresh 16 MB tensor "
      "is new pages from the OS (glibc hands freed blocks that large back to it), so a step costs its page "
      "faults too, about 4-8 ms per fresh full-size array on this machine, and whether a call pays "
      "them depends on what the heap holds: native medians swing 2-4x between runs (ce_int native "
      "5 to 20 ms). Compare the bracketed ratios of the fastest calls as well as the medians.\n")
    w("| loss | size | native | lk | lk nv | lk / native | lk nv / native | check lk (value / grad) | check lk nv |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        e = r["impl"]
        nat, lk1, lk2 = e.get("native"), e.get("losskit"), e.get("losskit (validate=False)")
        w(f"| {r['loss']} | {_sz(r['size'])} | {_cell(nat)} | {_cell(lk1)} | {_cell(lk2)} | "
          f"{_ratio2(lk1, nat)} | {_ratio2(lk2, nat)} | {_check(lk1)} | {_check(lk2)} |")
    w("")


def _compile_section(w, rows, eager):
    w("## 2. torch.compile: forward + backward (ms per step)\n")
    w("`torch.compile(fn)` (default mode, graph breaks allowed) of `fn(y, x)` returning the loss, then "
      "`.backward()`; `torch._dynamo.reset()` before each (loss, size), so each size is compiled for its "
      "static shape. losskit with its default `validate=True` (losskit skips value checks while Dynamo "
      "traces). `first call` is the first forward + backward, compilation included (the inductor disk "
      "cache may hold earlier runs' kernels). `native eager` repeats section 1 for reference. "
      "`breaks`: Dynamo graph breaks while compiling.\n")
    eager_t = {(r["loss"], r["size"]): (r["impl"].get("native") or {}).get("t") for r in eager}
    w("| loss | size | native compiled | lk compiled | lk / native | native eager | first call native / lk (s) | "
      "breaks lk | check lk |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        nat, lk1 = r["impl"].get("native"), r["impl"].get("losskit")
        fc = "/".join(f"{e['first_call']:.1f}" if e and "first_call" in e else "-" for e in (nat, lk1))
        br = (lk1 or {}).get("graph_breaks", "-")
        w(f"| {r['loss']} | {_sz(r['size'])} | {_cell(nat)} | {_cell(lk1)} | "
          f"{_ratio2(lk1, nat)} | "
          f"{_ms(eager_t.get((r['loss'], r['size'])))} | {fc} | {br} | {_check(lk1)} |")
    errs = [f"{r['loss']} {_sz(r['size'])} {impl}: {e['error']}" for r in rows for impl, e in r["impl"].items()
            if "error" in e]
    if errs:
        w("\nFails: " + "; ".join(errs))
    w("")


def _ops_section(w, rows):
    w("## 3. aten operator events and host reads per forward + backward\n")
    w("`torch.profiler.profile(activities=[CPU])` around one step after two warm-up steps: events whose "
      "name starts with `aten::` (nested calls counted too, e.g. `aten::mean` and the `aten::sum` inside "
      "it), and host reads = `aten::_local_scalar_dense` events (each `.item()` / `bool()` of a tensor, a "
      "device sync on an accelerator). Shown at 4096 x 1000; where 256 x 10 differs it follows after a slash.\n")
    w("| loss | aten native | aten lk | aten lk nv | reads native | reads lk | reads lk nv |")
    w("|---|---|---|---|---|---|---|")

    def cell(d, key):
        if "error" in d:
            return "fails"
        big, small = d["4096x1000"][key], d["256x10"][key]
        return f"{big}" if big == small else f"{big} / {small}"

    for r in rows:
        e = r["impl"]
        w(f"| {r['loss']} | " + " | ".join(cell(e[i], "aten") for i in IMPLS) + " | "
          + " | ".join(cell(e[i], "reads") for i in IMPLS) + " |")
    w("")


def _memory_section(w, mem):
    methods = {r.get("method") for d in mem.values() for r in d.values() if "method" in r}
    w("## 4. Memory of forward + backward at 4096 x 1000 (MB)\n")
    w("Each (implementation, loss) in a fresh subprocess (`python bench_training.py --mem-child ...`, "
      "glibc's mmap threshold fixed at 64 KiB so that freed buffers leave the resident set): after a "
      "warm-up step on a 16-row batch and one at full size (code pages a small batch does not reach are "
      "then in), with the inputs in place, the resident high-water mark is reset "
      f"(`/proc/self/clear_refs`; method used: {', '.join(sorted(methods)) or '-'}), then one forward + "
      "backward runs. `peak`: the high-water mark above the level before the step, the 15.6 MB gradient "
      "`x.grad` included. `held`: the resident memory after the forward, before the backward (what the "
      "graph keeps alive). `saved`: the bytes of the storages autograd saves for the backward "
      "(`torch.autograd.graph.saved_tensors_hooks`), the inputs excluded; tensors a custom autograd "
      "function keeps outside `save_for_backward` are not seen there but are in `held`. Resident-set "
      "figures are to about 0.1 MB (page granularity, small allocations).\n")
    w("| loss | peak native | peak lk | peak lk nv | held native | held lk | held lk nv | saved native | "
      "saved lk | saved lk nv |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for loss, d in mem.items():
        cells = []
        for key in ("peak", "held_after_forward", "saved"):
            for impl in IMPLS:
                r = d.get(impl)
                cells.append("-" if r is None else f"{r[key] / MB:.1f}" if key in r else "fails")
        w(f"| {loss} | " + " | ".join(cells) + " |")
    errs = [f"{loss} {impl}: {r['error']}" for loss, d in mem.items() for impl, r in d.items() if "error" in r]
    if errs:
        w("\nFails: " + "; ".join(errs))
    w("")


def _jax_section(w, jx):
    w("## 5. JAX: jit value and jit(grad) (microseconds per call)\n")
    if "error" in jx:
        w(f"Skipped: {jx['error']}\n")
        return
    w("`jax.jit(fn)(y, x)` and `jax.jit(jax.grad(fn, argnums=1))(y, x)` with `y_true` passed as an "
      "argument (a JAX array), `block_until_ready` on the result; XLA on one thread (XLA_FLAGS above). "
      "losskit's value checks are skipped while JAX traces, so `validate` does not matter under jit. "
      "At 256 x 10 single calls are bimodal on this machine (about 25 and 85 us for the same call), "
      "so a median there can land on either mode: read the bracketed ratio of the fastest calls. "
      "Natives:\n")
    for k, v in jx["docs"].items():
        w(f"- {k}: `{v}`")
    w("- bce_prob and dice: optax has no loss of that form (its `dice_loss` scores per image and class); not run.\n")
    w("losskit with a NumPy `y_true` next to a JAX prediction: "
      + "; ".join(f"{k}: {v}" for k, v in jx["mixed"].items()) + ".\n")
    w("| loss | size | optax value | lk value | lk / optax | optax grad | lk grad | lk / optax | check lk |")
    w("|---|---|---|---|---|---|---|---|---|")

    def us(e, k):
        if "error" in e:
            return "fails"
        t = e.get(k)
        return "-" if t is None else f"{t * 1e6:.3g}" if t * 1e6 < 1000 else f"{t * 1e6:.0f}"

    for r in jx["cases"]:
        o, lk1 = r["impl"]["optax"], r["impl"]["losskit"]
        w(f"| {r['loss']} | {_sz(r['size'])} | {us(o, 't_value')} | {us(lk1, 't_value')} | "
          f"{_ratio2(lk1, o, 't_value')} | {us(o, 't_grad')} | {us(lk1, 't_grad')} | "
          f"{_ratio2(lk1, o, 't_grad')} | {_check(lk1)} |")
    w("")


def _numpy_section(w, rows):
    w("## 6. NumPy small calls: 1e3 float64 elements (microseconds per call)\n")
    w("Batches of 200 calls, median over five interleaved rounds, divided by 200.\n")
    w("| loss | implementation | us per call | x one-liner | value rel. diff |")
    w("|---|---|---|---|---|")
    for r in rows:
        base = next(iter(r["impl"].values()))["us"]
        for name, e in r["impl"].items():
            w(f"| {r['loss']} | {name} | {e['us']:.1f} | {e['us'] / base:.1f} | {e['vdiff']:.0e} |")
    w("")


def _failures(res):
    out = []
    for sec in ("eager", "compile"):
        for r in res.get(sec, []):
            for impl, e in r["impl"].items():
                if "error" in e:
                    out.append(f"{sec} {r['loss']} {_sz(r['size'])} {impl}: fails ({e['error']})")
                elif e.get("check") == "MISMATCH":
                    out.append(f"{sec} {r['loss']} {_sz(r['size'])} {impl}: MISMATCH, value {e['vdiff']:.1e}, "
                               f"grad {e['gdiff']:.1e}")
    for r in res.get("ops", []):
        for impl, e in r["impl"].items():
            if "error" in e:
                out.append(f"ops {r['loss']} {impl}: fails ({e['error']})")
    for loss, d in res.get("memory", {}).items():
        for impl, e in d.items():
            if "error" in e:
                out.append(f"memory {loss} {impl}: fails ({e['error']})")
    jx = res.get("jax", {})
    if "error" in jx:
        out.append(f"jax: {jx['error']}")
    for r in jx.get("cases", []):
        for impl, e in r["impl"].items():
            if "error" in e:
                out.append(f"jax {r['loss']} {_sz(r['size'])} {impl}: fails ({e['error']})")
            elif e.get("check") == "MISMATCH":
                out.append(f"jax {r['loss']} {_sz(r['size'])} {impl}: MISMATCH, value {e['vdiff']:.1e}, "
                           f"grad {e['gdiff']:.1e}")
    for r in res.get("numpy", []):
        for name, e in r["impl"].items():
            if e["vdiff"] > 1e-12:
                out.append(f"numpy {r['loss']} {name}: value differs from the one-liner by {e['vdiff']:.1e}")
    return out


def _load(la):
    return ", ".join(f"{x:.2f}" for x in la)


def _keep_losses(keys):
    """Restrict the torch sections to ``keys`` (a quick look at a few losses)."""
    global COMPILE_LOSSES
    for k in [k for k in LOSSES if k not in keys]:
        del LOSSES[k]
    COMPILE_LOSSES = tuple(k for k in COMPILE_LOSSES if k in keys)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no 8192 x 32000 case, compile at 256 x 10 "
                    "only, memory without validate=False")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--no-large", action="store_true", help="skip the 8192 x 32000 cross-entropy case")
    ap.add_argument("--losses", default=None, help=f"comma-separated subset of {','.join(LOSSES)} (torch sections; "
                    "the JAX section keeps its own cases)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS_training.md"))
    ap.add_argument("--mem-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mem_child:
        mem_child(args.mem_child)
        return
    if args.losses:
        chosen = [k.strip() for k in args.losses.split(",") if k.strip()]
        if set(chosen) - set(LOSSES):
            ap.error(f"unknown losses: {', '.join(sorted(set(chosen) - set(LOSSES)))}")
        _keep_losses(chosen)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections: {', '.join(sorted(unknown))}")

    def log(msg):
        print(msg, flush=True)

    t_start = time.time()
    load_before = os.getloadavg()
    cmd = "python benchmarks/bench_training.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    meta = {"command": cmd, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "versions": versions(), "git": git_state(), "load_before": _load(load_before)}
    log(f"machine: {meta['machine']}\nversions: {meta['versions']}\nload before: {meta['load_before']}")
    res, meta["section_s"] = {}, {}
    runners = {
        "eager": lambda: run_eager(args.quick, not (args.quick or args.no_large), log),
        "compile": lambda: run_compile(args.quick, log),
        "ops": lambda: run_ops(log),
        "memory": lambda: run_memory(args.quick, log),
        "jax": lambda: run_jax(args.quick, log),
        "numpy": lambda: run_numpy(args.quick, log),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in SECTIONS:
            if name in sections:
                t0 = time.time()
                res[name] = runners[name]()
                meta["section_s"][name] = time.time() - t0
                log(f"-- {name}: {meta['section_s'][name]:.0f} s")
    load_after = os.getloadavg()
    meta["load_after"] = _load(load_after)
    cores = meta["machine"]["usable cores"] or 1
    busy = max(load_before[0], load_after[0]) > 0.5 * cores + 1
    meta["load_note"] = ("the machine was busy with other work: timings are noisy, compare within a row"
                         if busy else "the machine was otherwise idle")
    meta["elapsed"] = time.time() - t_start
    text = report(meta, res)
    print("\n" + text)
    with open(args.out, "w") as fh:
        fh.write(text)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
