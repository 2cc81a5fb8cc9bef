#!/usr/bin/env python
"""Side-by-side timings of losskit's NumPy path against the course's naive NumPy one-liners,
torch.nn.functional (CPU), JAX jit (optax where it has the loss), Keras 3 on its NumPy backend
and scikit-learn, for the six course losses (MSE, BCE, CCE, hinge, KL, Dice).

One run times every implementation on the same arrays: the value, and value + gradient where
the peer can differentiate, at 1e5, 1e6 and 1e7 elements (N x C for the categorical losses, C
from 10 to 32000), float32 and float64. It also times the memory-read floor (one reduction over
the same input bytes), measures the peak extra memory of each call at the largest size and the
large-vocabulary case (sparse categorical cross-entropy from logits, 8192 x 32000 float32), and
writes ``benchmarks/RESULTS.md``: the machine, medians, ratios and whether each target of
issue 5 is met.

    python benchmarks/bench_losses.py            # the full run (about 5 minutes on 2 cores)
    python benchmarks/bench_losses.py --quick    # 1e5 and 1e6 only, fewer repeats (~2 minutes)

Timings are medians of several calls after one warm-up call (which also compiles JAX), taken in
three interleaved rounds over the implementations of a case (:func:`timeit_rounds`). Peak
memory: ``tracemalloc`` for NumPy-based code (exact: NumPy reports every buffer to it), the
process's resident-set high-water mark (reset through /proc/self/clear_refs) for torch and JAX.
Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings

os.environ["KERAS_BACKEND"] = "numpy"  # Keras 3 on its NumPy backend (before keras is imported)

import numpy as np  # noqa: E402
from timing import calls_for, timeit_rounds  # noqa: E402  (benchmarks/timing.py)

import losskit as lk  # noqa: E402
import losskit.engine as engine  # noqa: E402
from losskit._array.xp import namespace  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MB = 2.0**20
EAGER = ("naive", "torch", "keras", "sklearn")


# ---------------------------------------------------------------------------------------
# peers (each optional)
# ---------------------------------------------------------------------------------------
def _try(name):
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001 - a missing or broken peer is reported, not fatal
        return None


torch = _try("torch")
F = None if torch is None else torch.nn.functional
jax = _try("jax")
if jax is not None:
    jax.config.update("jax_enable_x64", True)  # float64 runs stay float64; float32 stays float32
    import jax.numpy as jnp
optax = _try("optax")
keras = _try("keras")
sklearn_metrics = None
if _try("sklearn") is not None:
    import sklearn.metrics as sklearn_metrics


def _versions():
    out = {"python": platform.python_version(), "numpy": np.__version__, "losskit": lk.__version__}
    for name, mod in (("torch", torch), ("jax", jax), ("optax", optax), ("keras", keras)):
        out[name] = getattr(mod, "__version__", "missing") if mod else "missing"
    sk = sys.modules.get("sklearn")
    out["scikit-learn"] = getattr(sk, "__version__", "missing") if sk else "missing"
    return out


# ---------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------
def _softmax_rows(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def make_inputs(loss, n, c, dtype, rng):
    """``(y_true, y_pred, extra)`` NumPy arrays for ``loss`` with about ``n`` elements in y_pred."""
    if loss in ("cce", "kl"):
        rows = max(1, n // c)
        p = _softmax_rows(rng.normal(size=(rows, c))).astype(dtype)
        if loss == "cce":
            labels = rng.integers(0, c, size=rows)
            y = np.zeros((rows, c), dtype=dtype)
            y[np.arange(rows), labels] = 1
            return y, p, {"labels": labels}
        y = _softmax_rows(rng.normal(size=(rows, c))).astype(dtype)
        return y, p, {}
    if loss == "mse":
        return rng.normal(size=n).astype(dtype), rng.normal(size=n).astype(dtype), {}
    if loss == "bce":
        return (rng.uniform(size=n) > 0.5).astype(dtype), rng.uniform(0.005, 0.995, size=n).astype(dtype), {}
    if loss == "bce_logits":
        return (rng.uniform(size=n) > 0.5).astype(dtype), (3 * rng.normal(size=n)).astype(dtype), {}
    if loss == "hinge":
        return np.where(rng.uniform(size=n) > 0.5, 1, -1).astype(dtype), rng.normal(size=n).astype(dtype), {}
    if loss == "dice":
        return (rng.uniform(size=n) > 0.7).astype(dtype), rng.uniform(size=n).astype(dtype), {}
    raise ValueError(loss)


# ---------------------------------------------------------------------------------------
# implementations: each returns {"value": callable, "vg": callable or None} on given arrays
# ---------------------------------------------------------------------------------------
NAIVE = {  # the course's one-liners, as taught (COURSE.md)
    "mse": lambda y, p: np.mean((y - p) ** 2),
    "bce": lambda y, p: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)),
    "cce": lambda y, p: -np.mean(np.sum(y * np.log(p), axis=-1)),
    "hinge": lambda y, p: np.mean(np.maximum(0, 1 - y * p)),
    "kl": lambda y, p: np.mean(np.sum(y * np.log(y / p), axis=-1)),
    "dice": lambda y, p: 1 - (2 * np.sum(y * p) + 1) / (np.sum(y) + np.sum(p) + 1),
}

LOSSKIT = {  # name, options
    "mse": ("mean_squared_error", {}),
    "bce": ("binary_cross_entropy", {}),
    "bce_logits": ("binary_cross_entropy", {"from_logits": True}),
    "cce": ("categorical_cross_entropy", {}),
    "hinge": ("hinge", {}),
    "kl": ("kl_divergence", {}),
    "dice": ("dice", {}),
    "scce_logits": ("sparse_categorical_cross_entropy", {"from_logits": True}),
}


def impl_losskit(loss, y, p, extra, compiled=True):
    name, opts = LOSSKIT[loss]
    if name not in lk.available():
        return None
    f = lk.get(name, **opts)
    yt = extra["labels"] if loss == "scce_logits" else y

    def call(fn):
        with lk.engine.configure(compiled=compiled):
            return fn(yt, p)

    return {"value": lambda: call(f), "vg": lambda: call(f.value_and_grad)}


def impl_naive(loss, y, p, extra):
    if loss == "scce_logits":  # not a course one-liner: the textbook softmax, log and gather
        rows = np.arange(p.shape[0])
        return {"value": lambda: -np.mean(np.log(_softmax_rows(p)[rows, extra["labels"]])), "vg": None}
    fn = NAIVE.get(loss)
    return None if fn is None else {"value": lambda: fn(y, p), "vg": None}


def _torch_fn(loss, yt, extra):
    if loss == "mse":
        return lambda q: F.mse_loss(q, yt)
    if loss == "bce":
        return lambda q: F.binary_cross_entropy(q, yt)
    if loss == "bce_logits":
        return lambda q: F.binary_cross_entropy_with_logits(q, yt)
    if loss == "cce":
        labels = torch.from_numpy(extra["labels"])
        return lambda q: F.nll_loss(torch.log(q), labels)
    if loss == "hinge":
        return lambda q: F.relu(1 - yt * q).mean()
    if loss == "kl":
        return lambda q: F.kl_div(torch.log(q), yt, reduction="batchmean")
    if loss == "dice":
        return lambda q: 1 - (2 * (yt * q).sum() + 1) / (yt.sum() + q.sum() + 1)
    if loss == "scce_logits":
        labels = torch.from_numpy(extra["labels"])
        return lambda q: F.cross_entropy(q, labels)
    return None


def impl_torch(loss, y, p, extra):
    if torch is None:
        return None
    yt, pt = torch.from_numpy(y), torch.from_numpy(p)
    fn = _torch_fn(loss, yt, extra)
    if fn is None:
        return None
    leaf = torch.from_numpy(p.copy()).requires_grad_(True)

    def value():
        with torch.no_grad():
            return fn(pt)

    def vg():
        leaf.grad = None
        out = fn(leaf)
        out.backward()
        return out.detach(), leaf.grad

    return {"value": value, "vg": vg}


def _jax_fn(loss, extra):
    L = optax.losses if optax is not None else None
    if loss == "mse":
        return (lambda y, q: L.squared_error(q, y).mean()) if L else (lambda y, q: jnp.mean((q - y) ** 2))
    if loss == "bce":  # optax has only the logits form: the formula, compiled
        return lambda y, q: -jnp.mean(y * jnp.log(q) + (1 - y) * jnp.log1p(-q))
    if loss == "bce_logits":
        return (lambda y, q: L.sigmoid_binary_cross_entropy(q, y).mean()) if L else None
    if loss == "cce":
        return lambda y, q: -jnp.mean(jnp.sum(y * jnp.log(q), axis=-1))
    if loss == "hinge":
        return (lambda y, q: L.hinge_loss(q, y).mean()) if L else None
    if loss == "kl":
        return (lambda y, q: L.kl_divergence(jnp.log(q), y).mean()) if L else None
    if loss == "dice":  # optax's dice_loss wants class distributions: the course formula, compiled
        return lambda y, q: 1 - (2 * jnp.sum(y * q) + 1) / (jnp.sum(y) + jnp.sum(q) + 1)
    if loss == "scce_logits":
        return (lambda y, q: L.softmax_cross_entropy_with_integer_labels(q, y).mean()) if L else None
    return None


def impl_jax(loss, y, p, extra):
    if jax is None:
        return None
    fn = _jax_fn(loss, extra)
    if fn is None:
        return None
    jy = jnp.asarray(extra["labels"] if loss == "scce_logits" else y)
    jp = jnp.asarray(p)
    v = jax.jit(fn)
    vg = jax.jit(jax.value_and_grad(fn, argnums=1))
    return {"value": lambda: jax.block_until_ready(v(jy, jp)), "vg": lambda: jax.block_until_ready(vg(jy, jp))}


def impl_keras(loss, y, p, extra):
    if keras is None or keras.backend.backend() != "numpy":
        return None
    K = keras.losses
    fns = {
        "mse": lambda: np.mean(K.mean_squared_error(y, p)),
        "bce": lambda: np.mean(K.binary_crossentropy(y, p)),
        "bce_logits": lambda: np.mean(K.binary_crossentropy(y, p, from_logits=True)),
        "cce": lambda: np.mean(K.categorical_crossentropy(y, p)),
        "hinge": lambda: np.mean(K.hinge(y, p)),
        "kl": lambda: np.mean(K.kl_divergence(y, p)),
        "dice": lambda: K.dice(y, p),
        "scce_logits": lambda: np.mean(K.sparse_categorical_crossentropy(extra.get("labels"), p, from_logits=True)),
    }
    fn = fns.get(loss)
    return None if fn is None else {"value": fn, "vg": None}


def impl_sklearn(loss, y, p, extra):
    if sklearn_metrics is None:
        return None
    m = sklearn_metrics
    fns = {
        "mse": lambda: m.mean_squared_error(y, p),
        "bce": lambda: m.log_loss(y, p, labels=[0, 1]),
        "cce": lambda: m.log_loss(extra["labels"], p, labels=np.arange(p.shape[-1])),
        "hinge": lambda: m.hinge_loss(y, p),
    }
    fn = fns.get(loss)
    return None if fn is None else {"value": fn, "vg": None}


PEERS = {
    "losskit": impl_losskit,
    "losskit (array-API kernels)": lambda *a: impl_losskit(*a, compiled=False),
    "naive": impl_naive,
    "torch": impl_torch,
    "jax.jit": impl_jax,
    "keras": impl_keras,
    "sklearn": impl_sklearn,
}
PEER_DOC = {
    "losskit": "losskit as installed with the `[fast]` extra: fused compiled box kernels where it has them "
               "(losskit.fused), default `validate=True` (finiteness/range checks on every call)",
    "losskit (array-API kernels)": "losskit without the compiled kernels (`engine.configure(compiled=False)`, what an install "
           "without numba runs): the losses' array-API kernels box by box, `validate=True`",
    "naive": "the course's NumPy one-liner (COURSE.md), value only",
    "torch": "torch.nn.functional on CPU tensors sharing the NumPy buffers; value under no_grad, "
             "value+grad = forward + backward",
    "jax.jit": "jax.jit of optax's loss (the course formula for BCE on probabilities, CCE on probabilities "
               "and Dice, which optax lacks); value+grad = jit(value_and_grad)",
    "keras": "Keras 3 losses on the NumPy backend (no autodiff: value only)",
    "sklearn": "sklearn.metrics (value only)",
}


# ---------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------
_MINS = {}


def timeit(fn, repeats, budget_s):
    """Median seconds of ``repeats`` calls after one warm-up; fewer calls if they are slow.
    The minimum is kept too (``_MINS[id(fn)]``): on a shared machine it is the least disturbed."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    n = calls_for(first, repeats, budget_s)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    _MINS[id(fn)] = min(times)
    return statistics.median(times)


def _vm(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def _malloc_trim():
    """Hand freed heap memory back to the OS, so a call's allocations show in the RSS again."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_peak(fn):
    """Peak resident memory above the level before the call (bytes), or None where unsupported."""
    gc.collect()
    _malloc_trim()
    try:
        base = _vm("VmRSS")
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark to the current RSS
    except OSError:
        return None
    fn()
    return _vm("VmHWM") - base


def _traced_peak(fn):
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def peak_extra(peer, fn):
    """(bytes, method): tracemalloc for NumPy-based implementations, RSS high-water otherwise."""
    if peer in ("torch", "jax.jit"):
        return _rss_peak(fn), "rss"
    return _traced_peak(fn), "tm"


def _scalar(x):
    if isinstance(x, tuple):
        x = x[0]
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().numpy()
    return float(np.asarray(x))


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------
def plan(quick):
    sizes = [10**5, 10**6] if quick else [10**5, 10**6, 10**7]
    rows = []
    for loss in ("mse", "bce", "bce_logits", "cce", "hinge", "kl", "dice"):
        for dtype in ("float32", "float64"):
            for n in sizes:
                classes = [None]
                if loss in ("cce", "kl"):  # at 1e7: C = 10 and 32000 in float32, C = 10 in float64
                    classes = [10, 1000] if n < 10**7 else ([10, 32000] if dtype == "float32" else [10])
                for c in classes:
                    rows.append((loss, dtype, n, c))
    return rows


def repeats_for(n, quick):
    if quick:
        return {10**5: 9, 10**6: 5}.get(n, 3)
    return {10**5: 21, 10**6: 9}.get(n, 9)  # 9 at 1e7 too: medians of 5 swung by 20% on a shared machine


def run_row(loss, dtype, n, c, quick, measure_memory, log):
    rng = np.random.default_rng(12345)
    y, p, extra = make_inputs(loss, n, c, dtype, rng)
    reps = repeats_for(n, quick)
    budget = 1.0 if n <= 10**6 else 2.0
    res = {"loss": loss, "dtype": dtype, "n": int(p.size), "c": c, "impl": {}}
    fns = {("floor", "value"): lambda: (np.add.reduce(y, axis=None), np.add.reduce(p, axis=None))}
    ref = None
    impls = {}
    for peer, make in PEERS.items():
        if peer == "losskit (array-API kernels)" and dtype == "float64" and n >= 10**7:
            continue  # keeps the full run short; float32 shows what the compiled kernels gain
        entry, impl = {}, None
        try:
            impl = make(loss, y, p, extra)
            if impl is None:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                val = _scalar(impl["value"]())
                if ref is None and peer == "losskit":
                    ref = val
                entry["agree"] = abs(val - ref) / max(abs(ref), 1e-300) if ref is not None else None
                fns[(peer, "value")] = impl["value"]
                if impl["vg"] is not None:
                    impl["vg"]()
                    fns[(peer, "vg")] = impl["vg"]
        except Exception as e:  # noqa: BLE001 - a peer that cannot run this case is reported
            entry["error"] = f"{type(e).__name__}: {str(e)[:80]}"
            fns = {k: f for k, f in fns.items() if k[0] != peer}
        impls[peer] = impl if "error" not in entry else None
        res["impl"][peer] = entry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        timed = timeit_rounds(fns, reps, budget)
    res["floor"] = timed.pop(("floor", "value"))[0]
    for (peer, op), (median, fastest) in timed.items():
        res["impl"][peer][op] = median
        res["impl"][peer][f"{op}_min"] = fastest
    if measure_memory:
        for peer, impl in impls.items():
            if impl is None:
                continue
            entry = res["impl"][peer]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    entry["mem_value"] = peak_extra(peer, impl["value"])
                    if impl["vg"] is not None:
                        entry["mem_vg"] = peak_extra(peer, impl["vg"])
            except Exception as e:  # noqa: BLE001
                entry["error"] = f"{type(e).__name__}: {str(e)[:80]}"
    res["grad_bytes"] = p.nbytes
    log(_row_line(res))
    return res


def run_large_vocab(log, repeats=2, n=8192, c=32000):
    """Sparse categorical cross-entropy from logits with integer labels, 8192 x 32000 float32."""
    rng = np.random.default_rng(7)
    logits = rng.standard_normal(size=(n, c), dtype=np.float32)
    labels = rng.integers(0, c, size=n)
    extra = {"labels": labels}
    res = {"loss": "scce_logits", "dtype": "float32", "n": n * c, "c": c, "impl": {}, "grad_bytes": logits.nbytes}
    res["floor"] = timeit(lambda: np.add.reduce(logits, axis=None), repeats, 10)
    ref = None
    for peer, make in PEERS.items():
        entry = {}
        try:
            impl = make("scce_logits", labels, logits, extra)
            if impl is None:
                continue
            val = _scalar(impl["value"]())
            ref = val if ref is None else ref
            entry["agree"] = abs(val - ref) / abs(ref)
            entry["value"] = timeit(impl["value"], repeats, 10)
            entry["mem_value"] = peak_extra(peer, impl["value"])
            if impl["vg"] is not None:
                entry["vg"] = timeit(impl["vg"], repeats, 10)
                entry["mem_vg"] = peak_extra(peer, impl["vg"])
        except Exception as e:  # noqa: BLE001
            entry["error"] = f"{type(e).__name__}: {str(e)[:80]}"
        res["impl"][peer] = entry
        gc.collect()
    if "losskit" in res["impl"]:
        f = lk.get("sparse_categorical_cross_entropy", from_logits=True)
        res["lk_grad_peak"] = _traced_peak(lambda: f.grad(labels, logits))
    log(_row_line(res))
    return res


BREAKDOWN = {  # loss -> (losskit name, options, naive key); inputs from make_inputs
    "mse": ("mean_squared_error", {}, "mse"),
    "bce": ("binary_cross_entropy", {}, "bce"),
    "bce_logits": ("binary_cross_entropy", {"from_logits": True}, None),
    "cce": ("categorical_cross_entropy", {}, "cce"),
    "hinge": ("hinge", {}, "hinge"),
    "kl": ("kl_divergence", {}, "kl"),
    "dice": ("dice", {}, "dice"),
}


def _thread_ns(fn, n, repeats=9):
    """Median CPU time of the calling thread per element (ns): insensitive to other processes."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return statistics.median(times) * 1e9 / n


def breakdown(log):
    """Where losskit's time goes inside one box (float32, 131072 elements, one thread): the
    record's prepare with and without validation, its kernels, and the engine's float64 sum."""
    xp = namespace(np.zeros(1))
    rows = [_breakdown_row(xp, loss, *spec) for loss, spec in BREAKDOWN.items() if spec[0] in lk.available()]
    log("breakdown (value kernel, ns/element): " + ", ".join(f"{r['loss']} {r['value']:.1f}" for r in rows))
    return rows


def _breakdown_row(xp, loss, name, opts, naive):
    y, p, _ = make_inputs(loss, 2**17, 10, "float32", np.random.default_rng(3))
    rec = lk.get(name).record
    o0 = {**rec.options, **opts}
    yt, pp, o = rec.prepare(xp, y, p, dict(o0), True)
    n = p.size
    row = {"loss": loss,
           "prepare": _thread_ns(lambda: rec.prepare(xp, y, p, dict(o0), True), n),
           "prepare_noval": _thread_ns(lambda: rec.prepare(xp, y, p, dict(o0), False), n)}
    glob = rec.stats is not None and len(rec.reduced_axes(pp.ndim, o)) == pp.ndim
    row["value"] = _thread_ns((lambda: rec.stats(xp, yt, pp, **o)) if glob else (lambda: rec.value(xp, yt, pp, **o)), n)
    row["grad"] = _thread_ns(lambda: rec.grad(xp, yt, pp, **o), n)
    vals = rec.value(xp, yt, pp, **o)
    row["sum64"] = _thread_ns(lambda: np.add.reduce(vals, axis=None, dtype=np.float64), n)
    if naive:
        row["naive"] = _thread_ns(lambda: NAIVE[naive](y, p), n)
    return row


def _breakdown_table(w, rows):
    w("| loss | prepare (validate=True) | prepare (validate=False) | value kernel | grad kernel | "
      "engine float64 sum | naive one-liner, whole |")
    w("|---|---|---|---|---|---|---|")
    for r in rows:
        naive = f"{r['naive']:.2f}" if "naive" in r else ""
        w(f"| {r['loss']} | {r['prepare']:.2f} | {r['prepare_noval']:.2f} | {r['value']:.2f} | {r['grad']:.2f} | "
          f"{r['sum64']:.2f} | {naive} |")


def _row_line(r):
    parts = [f"{r['loss']:<11} {r['dtype']} n={r['n']:.0e}" + (f" C={r['c']}" if r["c"] else ""),
             f"floor {r['floor'] * 1e3:.2f}ms"]
    for peer, e in r["impl"].items():
        if "value" in e:
            parts.append(f"{peer} {e['value'] * 1e3:.1f}" + (f"/{e['vg'] * 1e3:.1f}" if "vg" in e else ""))
        elif "error" in e:
            parts.append(f"{peer} ERR")
    return " | ".join(parts)


# ---------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------
def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) / 2**20
    except OSError:
        pass
    return {
        "platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
        "usable cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory": f"{mem:.1f} GiB" if mem else "?",
        "torch threads": torch.get_num_threads() if torch is not None else "-",
    }


def _ms(t):
    return "-" if t is None else (f"{t * 1e3:.3g}" if t * 1e3 < 100 else f"{t * 1e3:.0f}")


def _label(r):
    shape = f"{r['n'] // r['c']}x{r['c']}" if r["c"] else f"{r['n']:.0e}".replace("+0", "")
    return shape


def write_report(path, results, large, meta, log):
    peers = list(PEERS)
    L = []
    w = L.append
    w("# losskit benchmark: NumPy engine vs peers\n")
    w(f"Generated by `python benchmarks/bench_losses.py{' --quick' if meta['quick'] else ''}` "
      f"on {meta['date']} (run time {meta['elapsed'] / 60:.1f} min). Numbers are medians of repeated calls "
      "after a warm-up call, in three rounds that interleave the implementations of a case (a slow spell of the "
      "machine falls on all of them); milliseconds unless noted. What a loss costs inside a training step "
      "(torch, JAX, small NumPy calls) is in RESULTS_training.md (benchmarks/bench_training.py).\n")
    w("## Machine\n")
    for k, v in meta["machine"].items():
        w(f"- {k}: {v}")
    w(f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}")
    w(f"- losskit engine: {meta['engine']}")
    w(f"- load average (1, 5, 15 min) before: {meta['load_before']}, after: {meta['load_after']} "
      f"({meta['load_note']})\n")
    w("## Implementations\n")
    for p in peers:
        w(f"- **{p}**: {PEER_DOC[p]}")
    w("- **floor**: the memory-read floor, `np.add.reduce` over each input once (the bytes every "
      "implementation must read)\n")
    w("Inputs: MSE normal pairs; BCE hard 0/1 labels and probabilities in [0.005, 0.995]; bce_logits logits "
      "N(0, 9); CCE one-hot rows against softmax probabilities (N x C); hinge labels +-1 and N(0, 1) "
      "scores; KL softmax rows against softmax rows; Dice a 0/1 mask and probabilities, one global score "
      "(axis=None, smooth 1). Course losses take probabilities, as the course does; `bce_logits` is "
      "the logits form of the issue's figures.\n")

    w("## Value: time per call (ms)\n")
    _table(w, results, peers, "value")
    w("\n## Value + gradient: time per call (ms)\n")
    w("losskit: `f.value_and_grad(y, p)` (one pass over the inputs); torch: forward + backward; JAX: "
      "`jit(value_and_grad)`. Peers without autodiff are absent.\n")
    _table(w, results, [p for p in peers if p in ("losskit", "losskit (array-API kernels)", "torch", "jax.jit")], "vg")
    w("\n## Ratios at the largest size, float32\n")
    w("`x floor`: losskit time / floor time. `speed-up vs P`: P's time / losskit's time "
      "(above 1: losskit is faster).\n")
    _ratios(w, results, peers)
    w("\n## Peak extra memory at the largest size (MB)\n")
    w("`tm`: tracemalloc (every NumPy buffer); `rss`: resident-set high-water mark above the level "
      "before the call (torch, JAX). For value+grad the gradient output itself is included.\n")
    _memory(w, results, peers)
    if large:
        w(f"\n## Large vocabulary: sparse categorical cross-entropy from logits, {large['n'] // large['c']} x "
          f"{large['c']} float32\n")
        _large(w, large, peers)
    if meta.get("breakdown"):
        w("\n## Where losskit's time goes: ns per element, one float32 box of 131072 elements, one thread\n")
        w("CPU time of the calling thread (unaffected by other processes). A chunked call costs about "
          "prepare + kernel + sum per element, divided by the threads; the naive column is the course "
          "one-liner on the same box. Dice (axis=None): the value kernel column is its `stats`.\n")
        _breakdown_table(w, meta["breakdown"])
    w("\n## Targets of issue 5\n")
    for line in targets(results, large):
        w(line)
    w("")
    with open(path, "w") as fh:
        fh.write("\n".join(L) + "\n")
    log(f"wrote {path}")


def _table(w, results, peers, key):
    agree = key == "value"
    w("| loss | dtype | size | floor | " + " | ".join(peers) + (" | peers' values vs losskit |" if agree else " |"))
    w("|---|---|---|---|" + "---|" * (len(peers) + agree))
    for r in results:
        cells = []
        for p in peers:
            e = r["impl"].get(p)
            if e is None:
                cells.append("")
            elif "error" in e:
                cells.append("error")
            else:
                cells.append(_ms(e.get(key)) if key in e else "")
        if agree:  # the largest relative difference of a peer's value from losskit's
            diffs = [e["agree"] for p, e in r["impl"].items() if p != "losskit" and e.get("agree") is not None]
            cells.append(f"{max(diffs):.1e}" if diffs else "")
        w(f"| {r['loss']} | {r['dtype'][5:]} | {_label(r)} | {_ms(r['floor'])} | " + " | ".join(cells) + " |")


def _largest(results, dtype="float32"):
    if not results:
        return []
    n = max(r["n"] for r in results)
    return [r for r in results if r["dtype"] == dtype and r["n"] >= n * 0.9]


def _ratios(w, results, peers):
    others = [p for p in peers if p not in ("losskit", "losskit (array-API kernels)")]
    w("| loss | size | op | losskit | x floor | " + " | ".join(f"speed-up vs {p}" for p in others) + " |")
    w("|---|---|---|---|---|" + "---|" * len(others))
    for r in _largest(results):
        lk_e = r["impl"].get("losskit", {})
        for op in ("value", "vg"):
            t = lk_e.get(op)
            if t is None:
                continue
            cells = []
            for p in others:
                pt = r["impl"].get(p, {}).get(op)
                cells.append(f"{pt / t:.2f}" if pt else "")
            fl = f"{t / r['floor']:.1f}" if op == "value" else ""
            w(f"| {r['loss']} | {_label(r)} | {op} | {_ms(t)} | {fl} | " + " | ".join(cells) + " |")


def _memory(w, results, peers):
    w("| loss | size | dtype | op | " + " | ".join(peers) + " |")
    w("|---|---|---|---|" + "---|" * len(peers))
    for r in results:
        if not any("mem_value" in e for e in r["impl"].values()):
            continue
        for op in ("mem_value", "mem_vg"):
            cells = []
            for p in peers:
                m = r["impl"].get(p, {}).get(op)
                cells.append("" if not m or m[0] is None else f"{m[0] / MB:.1f} {m[1]}")
            w(f"| {r['loss']} | {_label(r)} | {r['dtype'][5:]} | {op[4:]} | " + " | ".join(cells) + " |")


def _mb(m):
    return "" if not m or m[0] is None else f"{m[0] / MB:.0f} {m[1]}"


def _large(w, r, peers):
    w(f"Floor (one read of the logits, {r['grad_bytes'] / MB:.0f} MB): {_ms(r['floor'])} ms.\n")
    w("| implementation | value (ms) | value+grad (ms) | peak extra, value (MB) | peak extra, value+grad (MB) | "
      "rel. diff of value vs losskit |")
    w("|---|---|---|---|---|---|")
    for p in peers:
        e = r["impl"].get(p)
        if e is None:
            continue
        if "error" in e:
            w(f"| {p} | error: {e['error']} | | | | |")
            continue
        mv, mg, agree = _mb(e.get("mem_value")), _mb(e.get("mem_vg")), e.get("agree")
        w(f"| {p} | {_ms(e.get('value'))} | {_ms(e.get('vg'))} | {mv} | {mg} | "
          f"{'' if agree is None else format(agree, '.1e')} |")
    if "lk_grad_peak" in r:
        extra = (r["lk_grad_peak"] - r["grad_bytes"]) / MB
        w(f"\nlosskit's gradient call: peak {r['lk_grad_peak'] / MB:.0f} MB traced = the "
          f"{r['grad_bytes'] / MB:.0f} MB gradient output + {extra:.1f} MB of working memory "
          "(a few boxes of probabilities per thread).")


COURSE = ("mse", "bce", "cce", "hinge", "kl", "dice")
FLOOR_TARGET = {"mse": 1.3, "bce": 4.0, "cce": 4.0, "kl": 4.0}


def targets(results, large):
    """One line per target, measured at the largest size (float32), with the numbers."""
    out = []
    rows = {}
    for r in _largest(results):
        if r["loss"] in COURSE and (r["c"] in (None, 10)):
            rows[r["loss"]] = r
    if not rows or max(r["n"] for r in rows.values()) < 5 * 10**6:
        out.append("- The targets are stated at 1e7 elements; this run stopped below (use the full run).")
    for loss in COURSE:
        r = rows.get(loss)
        if r is None:
            out.append(f"- **{loss}**: not measured (loss not registered in losskit or no run).")
            continue
        e = r["impl"].get("losskit", {})
        size = _label(r)
        for op, name in (("value", "value"), ("vg", "value+grad")):
            t, tmin = e.get(op), e.get(op + "_min")
            if t is None:
                out.append(f"- **{loss} {name}** ({size}): losskit did not run ({e.get('error', 'missing')}).")
                continue
            ratios, ratios_min, slow = [], [], []
            for p in (*EAGER, "jax.jit"):
                pe = r["impl"].get(p, {})
                if pe.get(op) is None:
                    continue
                ratios.append(f"{p} {pe[op] / t:.2f}x")
                ratios_min.append(f"{p} {pe[op + '_min'] / tmin:.2f}x")
                if pe[op] / t < (1.0 if p == "jax.jit" else 2.0):
                    slow.append(p)
            if not ratios:
                continue
            verdict = "MET" if not slow else "NOT MET (short against " + ", ".join(slow) + ")"
            out.append(f"- **{loss} {name}** ({size}, losskit {_ms(t)} ms): speed-up vs {', '.join(ratios)}; "
                       f"target >= 2x vs eager peers and >= 1x vs JAX jit: {verdict}. "
                       f"On the fastest of the repeats: {', '.join(ratios_min)}.")
        if loss in FLOOR_TARGET and e.get("value"):
            ratio = e["value"] / r["floor"]
            lim = FLOOR_TARGET[loss]
            out.append(f"- **{loss} vs memory-read floor**: {ratio:.1f}x the floor ({_ms(e['value'])} vs "
                       f"{_ms(r['floor'])} ms; target <= {lim}x): {'MET' if ratio <= lim else 'NOT MET'}.")
            e2 = r["impl"].get("losskit (array-API kernels)", {})
            if e2.get("value"):
                out.append(f"  - without the compiled kernels: {e2['value'] / r['floor']:.1f}x the floor.")
    worst_v, worst_g = (0.0, ""), (0.0, "")
    over = []
    for r in results:
        e = r["impl"].get("losskit", {})
        where = f"{r['loss']} {_label(r)} {r['dtype']}"
        if e.get("mem_value") and e["mem_value"][0] is not None:
            worst_v = max(worst_v, (e["mem_value"][0], where))
        if e.get("mem_vg") and e["mem_vg"][0] is not None:
            extra = e["mem_vg"][0] - r["grad_bytes"]
            worst_g = max(worst_g, (extra, where))
            if extra >= 16 * MB:
                over.append(f"{where}: {extra / MB:.0f} MB")
    if worst_v[0] or worst_g[0]:
        out.append(f"- **memory**: largest extra peak for a value {worst_v[0] / MB:.1f} MB ({worst_v[1]}; target "
                   f"< 16 MB): {'MET' if worst_v[0] < 16 * MB else 'NOT MET'}; for value+grad, beyond the gradient "
                   f"output, {worst_g[0] / MB:.1f} MB ({worst_g[1]}; target < 16 MB): "
                   f"{'MET' if worst_g[0] < 16 * MB else 'NOT MET'}.")
        if over:
            out.append("  - over the target: " + "; ".join(over) + ".")
    if large and "lk_grad_peak" in large:
        extra = (large["lk_grad_peak"] - large["grad_bytes"]) / MB
        out.append(f"- **large vocabulary** (8192 x 32000 float32): gradient call holds the {large['grad_bytes'] / MB:.0f} MB "
                   f"output + {extra:.1f} MB: {'MET' if extra < 16 else 'NOT MET'} (target: one chunk of "
                   "probabilities beyond the output).")
    out.append("- **equality with the unchunked path** (1e-6 relative in float32, 1e-12 in float64): asserted by "
               "`tests/test_engine.py` for every registered loss, on 1 and 3 threads; not a benchmark matter.")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1e5 and 1e6 elements only, fewer repeats")
    ap.add_argument("--losses", default=None, help="comma-separated subset (mse,bce,bce_logits,cce,hinge,kl,dice)")
    ap.add_argument("--no-large", action="store_true", help="skip the 8192 x 32000 large-vocabulary case")
    ap.add_argument("--large-rows", type=int, default=8192, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    t_start = time.time()
    load_before = os.getloadavg()
    meta = {"quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "versions": _versions(), "engine": engine.settings(), "load_before": _load(load_before)}
    log(f"machine: {meta['machine']}\nload before: {meta['load_before']}")
    rows = plan(args.quick)
    if args.losses:
        keep = set(args.losses.split(","))
        rows = [r for r in rows if r[0] in keep]
    largest = max(r[2] for r in rows)
    results = []
    for loss, dtype, n, c in rows:
        results.append(run_row(loss, dtype, n, c, args.quick, measure_memory=(n == largest), log=log))
        gc.collect()
    large = None
    if not args.quick and not args.no_large and (not args.losses or "cce" in args.losses):
        try:
            large = run_large_vocab(log, n=args.large_rows)
        except Exception as e:  # noqa: BLE001 - keep the rest of the run
            log(f"large-vocabulary case failed: {type(e).__name__}: {e}")
    meta["breakdown"] = breakdown(log)
    load_after = os.getloadavg()
    meta["load_after"] = _load(load_after)
    cores = meta["machine"]["usable cores"] or 1
    busy = max(load_before[0], load_after[0]) > 0.5 * cores + 1
    meta["load_note"] = ("the machine was busy with other work: timings are noisy, compare within a row"
                         if busy else "the machine was otherwise idle")
    meta["elapsed"] = time.time() - t_start
    write_report(args.out, results, large, meta, log)


def _load(la):
    return ", ".join(f"{x:.2f}" for x in la)


if __name__ == "__main__":
    main()
