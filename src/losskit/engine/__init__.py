"""Chunked, threaded evaluation of any loss on NumPy arrays.

:class:`losskit.core.LossFunction` hands every call whose arrays are NumPy arrays with at least
``threshold`` elements in ``y_pred`` to :func:`run`; every other namespace, and smaller inputs,
take the plain array-API path. The engine knows no loss: it drives the record's own
``prepare``/``value``/``grad``/``hess`` kernels (and ``stats``/``from_stats``) on views of the
inputs, so every loss gets it through one code path.

How a call is evaluated
-----------------------
- **Boxes.** ``y_pred`` is tiled into boxes of about ``chunk`` elements (``configure``). A box
  keeps the loss's reduced axes (``Loss.reduced_axes``: the class axis of a distribution loss,
  the summed axes of an overlap loss) whole, so every box holds whole samples and a per-sample
  value never straddles two boxes. Elementwise and distribution losses are cut along any other
  axis, leading axes first; other losses (overlap: a softmax may couple the classes of a
  sample) only along the leading axis. ``y_true``, the sample weights and the outputs are cut
  the same way (basic slicing: views, no copies).
- **Per box.** ``prepare`` (with the caller's ``validate``: finiteness, ranges and label checks
  run box by box, so validation never allocates a full-size temporary either), then the value
  kernel, or the gradient/Hessian kernels. Values are summed in float64 per box; derivatives
  are multiplied by their reduction scale straight into one preallocated output array, each box
  writing its own slice. Only box-sized temporaries exist, a few per thread.
- **Threads.** Boxes are shared out to ``threads`` workers (the calling thread plus a
  persistent pool; NumPy releases the GIL inside its loops). Box boundaries depend only on
  the shape and ``chunk``, and the box totals are added with :func:`math.fsum` (exactly rounded,
  so order-free), so results do not depend on the thread count.
- **Reductions** follow :mod:`losskit.reductions` exactly (weighted mean ``sum(w l) / sum(w)``,
  class weights and ``ignore_index`` as implicit per-sample weights, ``"none"``, ``"sum"``,
  ``"sum_over_batch_size"``). For a weighted mean the derivative needs the total weight: a
  first pass over the boxes sums it (prepare and weights only), then the derivatives follow.
- **Global overlap losses** (``axis=None``: one value from sums over every element) stream their
  values through the record's ``stats``/``from_stats`` (additive sufficient statistics summed
  in float64). Their derivatives take a second pass when the record has ``stats_grad`` (its
  kernels take the totals as ``stats=``); others, and losses without ``stats``, take the
  plain path.

The engine declines (returns ``None``, and the plain path runs) when the layout does not fit
boxes: a loss marked ``streamable=False``, no axis left to slice, ``y_true``/``sample_weight``
shapes that would need broadcasting (the plain path then raises its usual error), or a box
whose prepared shapes differ from the raw ones. If any box raises, the whole call is re-run on
the plain path, so error messages (counts of NaNs, offending ranges) are exactly the plain
path's, computed over the whole input.

Contract for loss authors: ``prepare`` and the kernels must treat samples independently
(per-element or per-sample checks and transforms, no statistic over the whole batch); a loss
that cannot must set ``streamable=False``.

The kernels receive the namespace the plain path uses (``_xp.namespace``: NumPy's, with a
faster ``where`` and float32 ``log1p``), so per-sample values, gradients and Hessians are the
plain path's own numbers; only the final sums differ, by rounding (float64 box totals
instead of one float64 sum).

Configuration: :func:`configure` (also a context manager) and the environment variables
``LOSSKIT_ENGINE`` (``0`` turns it off), ``LOSSKIT_THREADS``, ``LOSSKIT_CHUNK`` and
``LOSSKIT_THRESHOLD`` read at import. :func:`last_route` says how the calling thread's last
call was evaluated.
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import fused as _fused
from .. import reductions as _red
from .._array.xp import is_numpy

__all__ = ["configure", "settings", "last_route", "run", "accepts"]

# Bytes of y_pred processed together in one box: 640 KiB (160K float32 or 80K float64
# elements). A box costs ~50 us of Python (prepare, checks, ~1-2 us per NumPy call, run under
# the GIL), so boxes must be large for the cheap losses: MSE at 1e7 float32 on 2 threads
# took 19.5 ms with 512 KiB boxes, 8.4 ms with 1 MiB (measured).
_CHUNK_BYTES = 5 * 2**17
# Bytes of y_pred in flight over all threads. Kernels hold up to ~11 box-sized temporaries at
# once (measured: KL's value and gradient in one pass), so 1.25 MiB in flight keeps the extra
# memory of a call under 16 MB (1.5 MiB gave 17.6 MB there).
_IN_FLIGHT_BYTES = 5 * 2**18
_MIN_CHUNK_BYTES = 5 * 2**14
_MAX_THREADS = _IN_FLIGHT_BYTES // _MIN_CHUNK_BYTES  # 16: memory-bound losses stop scaling anyway
# Boxes of a fused plan are this many times wider: its kernels hold no box-sized temporaries
# (the reference runs a box the plan declines in normal-sized pieces), so wider boxes only
# save per-box costs (MSE at 1e7 float32 on 2 threads: 1.78 -> 1.66 ms, value and gradient
# 7.0 -> 5.7 ms measured).
_FUSED_WIDTH = 4


@functools.lru_cache(maxsize=1)
def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _env_int(name):
    v = os.environ.get(name, "").strip()
    if not v:
        return None
    try:
        n = int(v)
        if n >= (0 if name == "LOSSKIT_THRESHOLD" else 1):
            return n
    except ValueError:
        pass
    warnings.warn(f"losskit: ignoring {name}={v!r} (expected a positive integer)", stacklevel=2)
    return None


_settings = {
    "enabled": os.environ.get("LOSSKIT_ENGINE", "1").strip().lower() not in ("0", "false", "no", "off"),
    "threads": _env_int("LOSSKIT_THREADS"),  # None: the usable cores, at most 16
    "chunk": _env_int("LOSSKIT_CHUNK"),  # None: 512 KiB of y_pred, less with many threads
    "threshold": _env_int("LOSSKIT_THRESHOLD"),  # None: 2 * chunk
    # fused compiled box kernels where losskit has them and numba is installed (losskit.fused)
    "compiled": os.environ.get("LOSSKIT_COMPILED", "1").strip().lower() not in ("0", "false", "no", "off"),
}


_UNSET = object()


def settings(itemsize=4) -> dict:
    """The effective settings (``chunk`` and ``threshold`` in elements of ``itemsize`` bytes):
    ``enabled``, ``threads``, ``chunk``, ``threshold`` and ``compiled`` (True when the fused
    kernels are on and numba is installed)."""
    s = _settings
    threads = s["threads"] if s["threads"] else min(_cpu_count(), _MAX_THREADS)
    if s["chunk"]:
        chunk = s["chunk"]
    else:
        chunk = max(_MIN_CHUNK_BYTES, min(_CHUNK_BYTES, _IN_FLIGHT_BYTES // threads)) // max(int(itemsize), 1)
    threshold = s["threshold"] if s["threshold"] is not None else 2 * chunk
    return {"enabled": s["enabled"], "threads": threads, "chunk": chunk, "threshold": threshold,
            "compiled": bool(s["compiled"]) and _fused.available()}


class configure:
    """Set engine options; as a context manager, restore the previous ones on exit.

    - ``enabled``: False sends every call down the plain array-API path.
    - ``threads``: worker threads (default: the usable cores, at most 16); 1 runs in the
      calling thread.
    - ``chunk``: target elements of ``y_pred`` per box (default: 640 KiB of y_pred, i.e. 163840
      float32 or 81920 float64 elements, with at most 1.25 MiB in flight over all threads: less
      per box from 3 threads on, 80 KiB at 16).
    - ``threshold``: ``y_pred`` size from which the engine is used (default ``2 * chunk``).
    - ``compiled``: False runs the losses' array-API kernels in every box, never the fused
      compiled ones of the ``[fast]`` extra (:mod:`losskit.fused`).

    Pass ``None`` to return an option to its default. The settings are process-wide.

    >>> import losskit.engine as engine
    >>> with engine.configure(chunk=1024, threads=1):
    ...     engine.settings()["chunk"]
    1024
    """

    def __init__(self, *, enabled=_UNSET, threads=_UNSET, chunk=_UNSET, threshold=_UNSET, compiled=_UNSET):
        new = {"enabled": enabled, "threads": threads, "chunk": chunk, "threshold": threshold, "compiled": compiled}
        new = {k: v for k, v in new.items() if v is not _UNSET}
        for k in ("threads", "chunk"):
            v = new.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ValueError(f"{k} must be a positive integer or None; got {v!r}")
        v = new.get("threshold")
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise ValueError(f"threshold must be a non-negative integer or None; got {v!r}")
        for k in ("enabled", "compiled"):
            if k in new:
                new[k] = True if new[k] is None else bool(new[k])
        self._old = dict(_settings)
        _settings.update(new)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _settings.clear()
        _settings.update(self._old)
        return False


_local = threading.local()


def last_route() -> str:
    """How this thread's last large NumPy call was evaluated: ``"chunked ..."``, ``"stats ..."``
    or ``"plain: <reason>"`` (for tests and performance debugging)."""
    return getattr(_local, "route", "")


def _route(text):
    _local.route = text


# ---------------------------------------------------------------------------------------
# the C allocator: keep freed box temporaries instead of handing them back to the OS
# ---------------------------------------------------------------------------------------
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_malloc_tuned = []


def _tune_malloc():
    """Once per process, on glibc: free heap memory up to 64 MiB stays in the process, and
    blocks under 32 MiB come from the heap (larger ones are still mapped and unmapped).

    Without this, glibc hands the top of the heap back to the OS whenever more than ~1 MiB
    is free, which happens after every box, so each box's temporaries were fresh pages:
    page faults made up ~70% of the time of an MSE (measured at 1e7 float32: 63 ms ->
    18 ms on one thread). 32 MiB is the largest threshold glibc's own heuristic would pick.
    Off with ``LOSSKIT_MALLOC_TUNE=0``.
    """
    if _malloc_tuned:
        return
    _malloc_tuned.append(True)
    if os.environ.get("LOSSKIT_MALLOC_TUNE", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
            return  # not glibc
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------------------
# thread pool: the caller plus persistent workers pull box indices from a shared counter
# ---------------------------------------------------------------------------------------
_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_pool():  # a forked child has the pool object but none of its threads
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _get_pool(n):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="losskit-engine")
            _pool_size = n
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _for_each(n_items, fn, threads):
    """``[fn(0), ..., fn(n_items - 1)]`` on ``threads`` threads (the caller among them).

    Each thread walks its own contiguous run of items, and one whose run is done takes items
    from the end of the longest run left. Neighbouring boxes stay on one thread: threads
    writing alternate boxes of a fresh output fault the same huge pages and wait on each
    other (a 40 MB gradient on 2 threads: 7.0 ms in 62 alternating boxes, 4.5 ms in two
    runs, measured). Which thread runs an item never changes its result.

    A failing item stops the others from starting new items; the exception of the
    lowest-numbered failing item is raised.
    """
    results = [None] * n_items
    errors = {}
    if threads <= 1 or n_items <= 1 or getattr(_local, "in_worker", False):
        for i in range(n_items):
            results[i] = fn(i)
        return results
    workers = min(threads, n_items)
    edges = [n_items * k // workers for k in range(workers + 1)]
    lo, hi = edges[:-1], edges[1:]  # run k: items lo[k] .. hi[k] - 1 not yet taken
    lock = threading.Lock()
    stop = []

    def take(k):
        with lock:
            if lo[k] >= hi[k]:
                k = max(range(workers), key=lambda j: hi[j] - lo[j])
                if lo[k] >= hi[k]:
                    return None
                hi[k] -= 1
                return hi[k]
            lo[k] += 1
            return lo[k] - 1

    def work(k):
        outer = getattr(_local, "in_worker", False)
        _local.in_worker = True  # a loss called inside a kernel runs sequentially, never waits on the pool
        try:
            while not stop:
                i = take(k)
                if i is None:
                    return
                try:
                    results[i] = fn(i)
                except BaseException as e:  # noqa: BLE001 - re-raised below in the caller
                    errors[i] = e
                    stop.append(True)
        finally:
            _local.in_worker = outer

    pool = _get_pool(threads - 1)
    # each worker runs in a copy of the caller's context: np.errstate and friends carry over
    futures = [pool.submit(contextvars.copy_context().run, work, k) for k in range(1, workers)]
    try:
        work(0)
    finally:
        stop.append(True)
        for f in futures:
            if not f.cancel():
                f.result()
    if errors:
        raise errors[min(errors)]
    return results


def _boxes(count, fn, threads):
    """``[fn(0), ..., fn(count - 1)]`` with box 0 first, alone, in the caller: it allocates
    the outputs and fixes their dtypes before any worker writes; the rest on ``threads``."""
    first = fn(0)
    return [first, *_for_each(count - 1, lambda i: fn(i + 1), threads)]


# ---------------------------------------------------------------------------------------
# tiling y_pred into boxes of whole samples
# ---------------------------------------------------------------------------------------
class _Tiling:
    """Boxes (tuples of slices) that tile an array of ``shape``, splitting only the ``free`` axes.

    Free axes are split outermost first: the free axes before the split axis take one index
    per box, the split axis a range of ``step`` indices, and every other axis (reduced or not
    splittable) is whole, so a box holds ``step * inner <= chunk`` elements (or one row when a
    single row is larger).
    """

    def __init__(self, shape, free, chunk):
        self.shape = shape = tuple(shape)
        self.count = 0
        if not free:
            return
        pos = len(free) - 1
        for k in range(len(free)):
            if math.prod(shape[a] for a in range(len(shape)) if a not in free[: k + 1]) <= chunk:
                pos = k
                break
        self.axis = free[pos]
        self.outer = free[:pos]
        inner = math.prod(shape[a] for a in range(len(shape)) if a not in free[: pos + 1])
        n = shape[self.axis]
        pieces = -(-n // max(1, chunk // max(inner, 1))) if n else 1
        self.step = -(-n // pieces) if n else 1  # balanced: box sizes differ by at most one index
        self.per_row = -(-n // self.step) if n else 0
        self.count = math.prod(shape[a] for a in self.outer) * self.per_row

    def box(self, i):
        q, r = divmod(i, self.per_row)
        idx = np.unravel_index(q, tuple(self.shape[a] for a in self.outer)) if self.outer else ()
        sl = [slice(None)] * len(self.shape)
        for a, j in zip(self.outer, idx):
            sl[a] = slice(int(j), int(j) + 1)
        start = r * self.step
        sl[self.axis] = slice(start, min(start + self.step, self.shape[self.axis]))
        return tuple(sl)


def _free_axes(rec, ndim, reduced, opts):
    """Axes a box may cut. Elementwise and distribution losses couple elements only along
    their reduced axes, so every other axis may be cut; any other loss (overlap) only along
    the leading sample axis, and not even there when the record says that axis couples
    samples (a softmax over a class axis 0 that is not summed)."""
    if rec.structure in ("elementwise", "distribution"):
        return [a for a in range(ndim) if a not in reduced]
    coupled = {int(a) % ndim for a in rec.coupled_axes(ndim, opts)} if ndim else set()
    return [0] if ndim and 0 not in reduced and 0 not in coupled else []


def _axes(rec, ndim, opts):
    """The record's reduced axes as a sorted tuple of non-negative ints."""
    return tuple(sorted({int(a) % ndim for a in rec.reduced_axes(ndim, opts)})) if ndim else ()


def _reduced_axes(rec, xp, y_true, y_pred, opts):
    """Reduced axes from the raw options, or, where the record reads them from prepared
    options, from ``prepare`` (without validation) on the first leading index only."""
    try:
        return _axes(rec, y_pred.ndim, opts)
    except Exception:  # noqa: BLE001 - the record needs prepared options
        if y_true is not None and (y_true.ndim == 0 or y_true.shape[0] != y_pred.shape[0]):
            raise _Decline("y_true's leading axis differs from y_pred's") from None
        _, yp, o = rec.prepare(xp, None if y_true is None else y_true[:1], y_pred[:1], dict(opts), False)
        return _axes(rec, yp.ndim, o)


def _drop(sl, axes):
    return tuple(s for a, s in enumerate(sl) if a not in axes)


def _sum64(x):
    """Total of ``x`` accumulated in float64, as a Python float."""
    return float(np.add.reduce(x, axis=None, dtype=np.float64))


def _fsum(parts):
    return math.fsum(parts)


def _values_shape(shape, reduced):
    return tuple(n for a, n in enumerate(shape) if a not in reduced)


class _Decline(Exception):
    """The layout does not fit boxes: take the plain path."""


def _true_slicer(y_true, shape, reduced, tiling):
    """How to cut y_true for a box of y_pred: by its leading axis when only that axis is cut;
    else with y_pred's axes (reduced ones may have size 1) or without the reduced axes
    (integer labels for class probabilities)."""
    if y_true is None:
        return lambda sl: None
    ts = tuple(y_true.shape)
    if tiling.axis == 0 and not tiling.outer and ts and ts[0] == shape[0]:
        return lambda sl: y_true[sl[:1]]
    if len(ts) == len(shape) and all(t == s or (a in reduced and t == 1) for a, (t, s) in enumerate(zip(ts, shape))):
        return lambda sl: y_true[sl]
    if reduced and ts == _values_shape(shape, reduced):
        return lambda sl: y_true[_drop(sl, reduced)]
    raise _Decline("y_true's shape does not follow y_pred's boxes")


def _weight_slicer(sample_weight, vshape):
    """How to cut the raw sample_weight for a box of values (the slices of the values' axes);
    the shape rules are those of reductions.prepare_weight, which still checks every box."""
    w = sample_weight
    if w is None or np.ndim(w) == 0:
        return lambda vsl: w
    w = np.asarray(w)
    if w.ndim == 1 and len(vshape) >= 1 and w.shape[0] == vshape[0]:
        w = w.reshape((w.shape[0],) + (1,) * (len(vshape) - 1))
    if w.ndim != len(vshape) or not all(a in (1, b) for a, b in zip(w.shape, vshape)):
        raise _Decline("sample_weight's shape does not follow the boxes")
    return lambda vsl: w[tuple(s if n != 1 else slice(None) for s, n in zip(vsl, w.shape))]


# ---------------------------------------------------------------------------------------
# the entry points used by core.LossFunction._run
# ---------------------------------------------------------------------------------------
def accepts(xp, y_pred, rec=None) -> bool:
    """Cheap test: NumPy namespace, engine on, and y_pred at least ``threshold`` elements, or
    any non-empty size when ``rec`` has fused kernels (one compiled box beats the NumPy calls
    of the plain path at every size)."""
    s = _settings
    if not s["enabled"] or not is_numpy(xp) or not isinstance(y_pred, np.ndarray):
        return False
    threshold = s["threshold"] if s["threshold"] is not None else settings(y_pred.itemsize)["threshold"]
    if y_pred.size >= max(threshold, 1):
        return True
    return rec is not None and y_pred.size > 0 and s["compiled"] and _fused.covers(rec)


def run(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, order, with_value=False):
    """Evaluate ``rec`` chunk-wise: the reduced value (order 0), the gradient (1) or
    ``(gradient, Hessian)`` (2), exactly as ``LossFunction`` would; ``with_value`` returns
    ``(value, derivatives)`` from the same boxes (one pass, one validation). ``None`` to decline."""
    try:
        _tune_malloc()
        if not rec.streamable:
            raise _Decline("loss is not streamable")
        cfg = settings(max(y_pred.itemsize, 4))
        if y_pred.ndim == 0:
            raise _Decline("a 0-d y_pred")
        reduced = _reduced_axes(rec, xp, y_true, y_pred, opts)
        if len(reduced) == y_pred.ndim:
            if rec.stats is None or rec.from_stats is None:
                raise _Decline("one sample spans every axis and the loss has no stats")
            if order and not (rec.stats_grad and rec.vjp):
                raise _Decline("derivatives of a global loss without stats_grad need the whole array")
            return _run_stats(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, cfg, order, with_value)
        fused = None
        if cfg["compiled"] and order < 2 and sample_weight is None and reduction != "none":
            fused = _fused.plan(rec, y_true, y_pred, opts)
        if fused is None and y_pred.size < max(cfg["threshold"], 1):
            raise _Decline("below the threshold, and no fused kernel for this call")
        free = _free_axes(rec, y_pred.ndim, reduced, opts)
        tiling = _Tiling(y_pred.shape, free, cfg["chunk"])
        if tiling.count < (1 if fused is not None else 2):
            raise _Decline("fewer than two boxes along the axes that may be cut")
        tiling, ref_step = _widened(tiling, free, cfg["chunk"], fused)
        job = _Job(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, order, reduced, tiling,
                   with_value, fused, ref_step)
        out = job.execute(cfg["threads"])
        _route(f"chunked: {tiling.count} boxes of <= {tiling.step} along axis {tiling.axis}, "
               f"{min(cfg['threads'], tiling.count)} thread(s){_compiled_note(fused, job.fused_boxes, tiling.count)}")
        return out
    except _Decline as e:
        _route(f"plain: {e}")
        return None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - the plain path raises its own (whole-array) error
        _route(f"plain: a box raised {type(e).__name__}")
        return None


class _Job:
    """One chunked evaluation over the boxes of a tiling."""

    def __init__(self, rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, order, reduced, tiling,
                 with_value=False, fused=None, ref_step=None):
        self.rec, self.xp, self.y_pred, self.opts = rec, xp, y_pred, opts
        self.fused = fused  # a _fused.Plan: boxes it handles skip prepare and the array-API kernels
        self.ref_step = ref_step  # wide fused boxes: the reference runs a declined one in pieces of this many indices
        self.fused_boxes = []
        self.reduction, self.validate, self.order = reduction, validate, order
        self.reduced, self.tiling = reduced, tiling
        self.vshape = _values_shape(y_pred.shape, reduced)
        self.cut_true = _true_slicer(y_true, y_pred.shape, reduced, tiling)
        self.cut_weight = _weight_slicer(sample_weight, self.vshape)
        self.has_sw = sample_weight is not None
        n = math.prod(self.vshape)
        # d(reduced)/d(per-sample value) = w * factor; a weighted mean's 1/sum(w) comes at the end.
        self.factor = {"none": 1.0, "sum": 1.0}.get(reduction, (1.0 / n) if n else 0.0)
        self.denom = None  # total weight of a weighted mean (derivatives)
        self.out = None  # derivative outputs
        self.vout = None  # per-sample values (reduction "none")
        self.with_value = bool(with_value and order)  # derivative boxes also return their value part

    # -- one box ---------------------------------------------------------------------
    def _reference_boxes(self, i):
        return _pieces(self.tiling.box(i), self.tiling.axis, self.y_pred.shape, self.ref_step)

    def _prepared(self, sl, first=False):
        rec, xp = self.rec, self.xp
        yp = self.y_pred[sl]
        yt, yp2, o = rec.prepare(xp, self.cut_true(sl), yp, dict(self.opts), self.validate)
        if tuple(yp2.shape) != tuple(yp.shape):
            raise _Decline("prepare changed y_pred's shape")
        if first and _axes(rec, yp2.ndim, o) != self.reduced:
            raise _Decline("the reduced axes depend on prepared options")
        vsl = _drop(sl, self.reduced)
        vshape = tuple(len(range(*s.indices(n))) for s, n in zip(vsl, self.vshape))
        w = self.cut_weight(vsl)
        if self.has_sw:
            w = _red.prepare_weight(xp, w, vshape, dtype=yp2.dtype, like=yp2, validate=self.validate)
        if rec.implicit_weight is not None:
            implicit = rec.implicit_weight(xp, yt, yp2, **o)
            if implicit is not None:
                w = implicit if w is None else w * implicit
        return sl, vsl, vshape, yt, yp2, o, w

    def _fused_box(self, i):
        """The box through the fused kernel: its float64 total (None when the plan declines
        it; the caller then runs the reference kernels). Derivatives go straight to the output."""
        sl = self.tiling.box(i)
        yt, yp = self.cut_true(sl), self.y_pred[sl]
        if self.order == 0:
            total = self.fused.value(yt, yp)
        else:
            self._output(0, yp.dtype, self.y_pred.shape)
            total = self.fused.value_grad(yt, yp, self.out[0][sl], self.factor)
        if total is not None:
            self.fused_boxes.append(i)
        return total

    def _value_box(self, i):
        if self.fused is not None:
            total = self._fused_box(i)
            if total is not None:
                return total, None, self.y_pred.dtype
        return _joined([self._value_part(*self._prepared(sl, i == 0 and k == 0)[1:])
                        for k, sl in enumerate(self._reference_boxes(i))])

    def _value_part(self, vsl, vshape, yt, yp, o, w):
        """The box's values: written into the output (``"none"``) or summed in float64."""
        vals = self.rec.value(self.xp, yt, yp, **o)
        if tuple(vals.shape) != vshape:
            raise _Decline("the value kernel's shape differs from y_pred's less the reduced axes")
        if self.reduction == "none":
            if self.vout is None:
                self.vout = np.empty(self.vshape, dtype=vals.dtype)
            dst = self.vout[vsl]
            np.multiply(vals, w, out=dst) if w is not None else np.copyto(dst, vals)
            return None
        weighted = vals if w is None else vals * w
        wsum = None
        if w is not None and self.reduction == "mean":
            wsum = _sum64(np.broadcast_to(w, vshape))
        return _sum64(weighted), wsum, vals.dtype

    def _deriv_box(self, i):
        if self.fused is not None:
            total = self._fused_box(i)
            if total is not None:
                return (total, None, self.y_pred.dtype) if self.with_value else None
        return _joined([self._deriv_part(sl, i == 0 and k == 0) for k, sl in enumerate(self._reference_boxes(i))])

    def _deriv_part(self, sl, first):
        sl, vsl, vshape, yt, yp, o, w = self._prepared(sl, first)
        # reductions.derivative_scale per box: w * 1/n for "sum_over_batch_size", 1/n for an
        # unweighted mean, w for "none"/"sum", w / sum(w) for a weighted mean (the total from
        # a first pass, so the scale has the plain path's bits).
        if w is None:
            scale = self.factor
        elif self.reduction == "sum_over_batch_size":
            scale = w * self.factor
        elif self.reduction == "mean":
            scale = w / self.denom if self.denom != 0 else np.zeros_like(w)
        else:
            scale = w
        xp, rec = self.xp, self.rec
        if getattr(rec, "vjp", False):
            # the kernels take the per-sample cotangent and return the vector-Jacobian product
            ct = xp.broadcast_to(xp.asarray(scale, dtype=yp.dtype), vshape)
            derivs = [rec.grad(xp, yt, yp, cotangent=ct, **o)]
            if self.order == 2:
                derivs.append(rec.hess(xp, yt, yp, cotangent=ct, **o))
            scale = 1.0
        else:
            derivs = [rec.grad(xp, yt, yp, **o)]
            if self.order == 2:
                derivs.append(rec.hess(xp, yt, yp, **o))
            scale = _red.expand_axes(xp, scale, self.reduced, yp.ndim)
        for k, d in enumerate(derivs):
            self._output(k, d.dtype, self.y_pred.shape)
            np.multiply(d, scale, out=self.out[k][sl])
        return self._value_part(vsl, vshape, yt, yp, o, w) if self.with_value else None

    def _weight_box(self, i):
        """The box's total sample weight (None when unweighted): the first pass of a weighted mean."""
        _, _, vshape, _, yp, _, w = self._prepared(self.tiling.box(i), i == 0)
        return None if w is None else (_sum64(np.broadcast_to(w, vshape)), yp.dtype)

    def _output(self, k, dtype, shape):
        """Allocate output ``k`` on the first box (run before the others, in the caller), or
        check the dtype of one allocated before the boxes."""
        if self.out is None:
            self.out = [None, None]
        if self.out[k] is None:
            self.out[k] = np.empty(shape, dtype=dtype)
        elif self.out[k].dtype != dtype:
            raise _Decline("a box's gradient dtype differs from the output's")

    # -- all boxes -------------------------------------------------------------------
    def execute(self, threads):
        count = self.tiling.count
        # (a fused plan implies no weights: its planner accepts only options without implicit ones)
        if (self.order and self.reduction == "mean" and self.fused is None
                and (self.has_sw or self.rec.implicit_weight is not None)):
            totals = _for_each(count, self._weight_box, threads)
            if totals[0] is not None:  # weighted: the total weight in the values' dtype
                self.denom = _as(self.xp, _fsum(t[0] for t in totals), totals[0][1])
        box = self._value_box if self.order == 0 else self._deriv_box
        if self.fused is None:
            parts = _boxes(count, box, threads)
        else:  # fused kernels write gradients in y_pred's dtype: allocated now, no box need run first
            if self.order:
                self._output(0, self.y_pred.dtype, self.y_pred.shape)
            parts = _for_each(count, box, threads)
        value = None
        if self.order == 0 or self.with_value:
            value = self.vout if self.reduction == "none" else self._finish_value(parts)
        if self.order == 0:
            return value
        derivs = self.out[0] if self.order == 1 else (self.out[0], self.out[1])
        return (value, derivs) if self.with_value else derivs

    def _finish_value(self, parts):
        """reductions.reduce on the box totals (the same arithmetic, float64 totals)."""
        xp = self.xp
        dtype = parts[0][2]
        total = _as(xp, _fsum(p[0] for p in parts), dtype)
        if self.reduction == "sum":
            return total
        n = math.prod(self.vshape)
        if self.reduction == "sum_over_batch_size" or parts[0][1] is None:
            return total / n if n else total * 0
        denom = _as(xp, _fsum(p[1] for p in parts), dtype)
        safe = xp.where(denom == 0, xp.ones_like(denom), denom)
        return xp.where(denom == 0, xp.zeros_like(total), total / safe)


def _widened(tiling, free, chunk, fused):
    """``(tiling, ref_step)``: for a fused plan, boxes ``_FUSED_WIDTH`` times wider, with the
    normal step the reference kernels take a declined one in (when both tilings cut the same
    axis); otherwise ``tiling`` unchanged and ``None``."""
    if fused is None:
        return tiling, None
    wide = _Tiling(tiling.shape, free, chunk * _FUSED_WIDTH)
    if wide.axis != tiling.axis or wide.outer != tiling.outer:
        return tiling, None
    return wide, tiling.step


def _pieces(sl, axis, shape, step):
    """Box ``sl``'s slices as the reference kernels take them: the box itself, or a wide fused
    box cut along ``axis`` into pieces of ``step`` indices (the reference's temporaries are
    box-sized)."""
    if step is None:
        return [sl]
    start, stop, _ = sl[axis].indices(shape[axis])
    return [sl[:axis] + (slice(j, min(j + step, stop)),) + sl[axis + 1:] for j in range(start, stop, step)]


def _joined(parts):
    """The value parts ``(total, weight total, dtype)`` of a box's pieces as one (``None``
    when the pieces return none: reduction "none", or derivatives alone)."""
    if len(parts) == 1 or parts[0] is None:
        return parts[0]
    weight = None if parts[0][1] is None else _fsum(p[1] for p in parts)
    return _fsum(p[0] for p in parts), weight, parts[0][2]


def _compiled_note(fused, handled, count):
    if fused is None:
        return ""
    return ", compiled" if len(handled) == count else f", compiled {len(handled)}/{count} boxes"


def _as(xp, total, dtype):
    """A float64 total as the values' dtype, the way reductions._sum returns it."""
    t = np.float64(total)
    return t if dtype == np.float64 else xp.astype(t, dtype)


# ---------------------------------------------------------------------------------------
# global overlap losses: additive statistics over boxes of elements
# ---------------------------------------------------------------------------------------
def _run_stats(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, cfg, order=0, with_value=False):
    """A global loss from additive statistics: boxes of whole leading rows, each box's
    ``stats`` summed (shape kept) in float64 in box order, then ``from_stats`` once. Records
    with ``stats_grad`` are differentiated in a second pass: each box's gradient (and
    Hessian) from its own entries and the totals, written into the preallocated outputs.
    A fused plan may take any box; the prepared options and the statistics' dtypes come from
    the record's kernels, on box 0 or, when the plan took it, on a one-element corner."""
    tiling = _Tiling(y_pred.shape, [0], cfg["chunk"])
    if y_true is not None and (y_true.ndim == 0 or y_true.shape[0] != y_pred.shape[0]):
        raise _Decline("y_true's leading axis differs from y_pred's")
    fused = _fused.plan(rec, y_true, y_pred, opts) if cfg["compiled"] and order < 2 else None
    if tiling.count < (1 if fused is not None else 2):  # one compiled box beats the plain path too
        raise _Decline("fewer than two boxes along the leading axis")
    state = {}
    handled = []
    tiling, ref_step = _widened(tiling, [0], cfg["chunk"], fused)  # as in run(): wide fused boxes

    def raw(sl):  # the views of the inputs for the slices of a box
        return sl, None if y_true is None else y_true[sl[:1]], y_pred[sl]

    def prepared(sl, check):
        sl, yt0, yp0 = raw(sl)
        yt, yp, o = rec.prepare(xp, yt0, yp0, dict(opts), check)
        if tuple(yp.shape) != tuple(yp0.shape):
            raise _Decline("prepare changed y_pred's shape")
        return sl, yt, yp, o

    def pieces(i):
        return _pieces(tiling.box(i), 0, y_pred.shape, ref_step)

    def reference_stats(yt, yp, o):
        if rec.implicit_weight is not None and rec.implicit_weight(xp, yt, yp, **o) is not None:
            raise _Decline("a global loss with implicit weights")
        return rec.stats(xp, yt, yp, **o)

    def box(i):
        if fused is not None:
            _, yt, yp = raw(tiling.box(i))
            sums = fused.stats(yt, yp)
            if sums is not None:
                handled.append(i)
                return sums
        parts = []
        for sl in pieces(i):
            _, yt, yp, o = prepared(sl, validate)
            parts.append(reference_stats(yt, yp, o))
            if i == 0 and len(parts) == 1:
                state["opts"], state["like"], state["dtypes"] = o, yp, [s.dtype for s in parts[0]]
        if len(parts) == 1:
            return parts[0]
        return tuple(np.sum([np.asarray(p[k], dtype=np.float64) for p in parts], axis=0) for k in range(len(parts[0])))

    # no outputs are written here, so box 0 need not run first
    parts = _for_each(tiling.count, box, cfg["threads"])
    if "opts" in state:
        dtypes = state["dtypes"]
    else:  # every box fused (float64 sums): options and dtypes from the record on one element
        def corner(a):
            return a[(slice(0, 1),) * a.ndim]
        yt, yp, o = rec.prepare(xp, None if y_true is None else corner(y_true), corner(y_pred), dict(opts), False)
        state["opts"], state["like"] = o, yp
        dtypes = [p.dtype for p in reference_stats(yt, yp, o)]
    totals = tuple(
        xp.astype(np.sum(np.stack([np.asarray(p[k], dtype=np.float64) for p in parts]), axis=0), dtypes[k])
        for k in range(len(dtypes))
    )
    values = rec.from_stats(xp, totals, **state["opts"])
    weight = _red.prepare_weight(xp, sample_weight, values.shape, dtype=values.dtype,
                                 like=state["like"], validate=validate)
    value = _red.reduce(xp, values, weight, reduction)
    route = f"stats: {tiling.count} boxes, {min(cfg['threads'], tiling.count)} thread(s)"
    route += _compiled_note(fused, handled, tiling.count)
    if not order:
        _route(route)
        return value
    # d(reduced)/d(per-sample value), as LossFunction computes it; the kernels take it as the cotangent
    scale = _red.derivative_scale(xp, values, weight, reduction)
    ct = xp.broadcast_to(xp.asarray(scale, dtype=values.dtype), values.shape)
    out = [None, None]
    if handled:  # fused boxes write the gradient in y_pred's dtype (the planners' only ones)
        out[0] = np.empty(y_pred.shape, dtype=y_pred.dtype)

    def deriv_box(i):
        if write is not None and i in handled_set:
            sl, yt, yp = raw(tiling.box(i))
            if write(yt, yp, out[0][sl]):
                return
        kernels = (rec.grad, rec.hess)[:order]
        for piece in pieces(i):
            sl, yt, yp, o = prepared(piece, False)  # the first pass validated every box
            for k, kernel in enumerate(kernels):
                d = kernel(xp, yt, yp, cotangent=ct, stats=totals, **o)
                if out[k] is None:  # box 0, alone
                    out[k] = np.empty(y_pred.shape, dtype=d.dtype)
                np.copyto(out[k][sl], d)

    handled_set = set(handled)  # boxes the fused stats took are in its domain
    write = fused.stats_grad(totals, ct) if handled else None
    if write is not None and order == 1:  # the only output exists: no box need run first
        _for_each(tiling.count, deriv_box, cfg["threads"])
    else:
        _boxes(tiling.count, deriv_box, cfg["threads"])
    _route(route + ", two passes")
    derivs = out[0] if order == 1 else (out[0], out[1])
    return (value, derivs) if with_value else derivs
