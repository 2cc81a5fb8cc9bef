"""Running boxes on threads: the calling thread plus a persistent pool pull box indices from
shared runs (:func:`for_each`), and the C allocator is tuned once so freed box temporaries
stay in the process (:func:`tune_malloc`)."""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["for_each", "tune_malloc"]

# ---------------------------------------------------------------------------------------
# the C allocator: keep freed box temporaries instead of handing them back to the OS
# ---------------------------------------------------------------------------------------
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_malloc_tuned: list[bool] = []


def tune_malloc() -> None:
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
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_local = threading.local()


def _forget_pool() -> None:  # a forked child has the pool object but none of its threads
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="losskit-engine")
            _pool_size = n
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def for_each(n_items: int, fn: Callable[[int], Any], threads: int, *, first_alone: bool = False) -> list:
    """``[fn(0), ..., fn(n_items - 1)]`` on ``threads`` threads (the caller among them).

    Each thread walks its own contiguous run of items, and one whose run is done takes items
    from the end of the longest run left. Neighbouring boxes stay on one thread: threads
    writing alternate boxes of a fresh output fault the same huge pages and wait on each
    other (a 40 MB gradient on 2 threads: 7.0 ms in 62 alternating boxes, 4.5 ms in two
    runs, measured). Which thread runs an item never changes its result.

    ``first_alone``: item 0 runs first, alone, in the caller (it allocates the outputs and
    fixes their dtypes before any worker writes); the rest as above.

    A failing item stops the others from starting new items; the exception of the
    lowest-numbered failing item is raised.
    """
    if first_alone:
        first = fn(0)
        return [first, *for_each(n_items - 1, lambda i: fn(i + 1), threads)]
    results: list = [None] * n_items
    errors: dict[int, BaseException] = {}
    if threads <= 1 or n_items <= 1 or getattr(_local, "in_worker", False):
        for i in range(n_items):
            results[i] = fn(i)
        return results
    workers = min(threads, n_items)
    edges = [n_items * k // workers for k in range(workers + 1)]
    lo, hi = edges[:-1], edges[1:]  # run k: items lo[k] .. hi[k] - 1 not yet taken
    lock = threading.Lock()
    stop: list[bool] = []

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
