"""The engine's settings: box sizes, threads and thresholds, from the environment and
:func:`configure`, and the route text :func:`last_route` reports.

Read at import: ``LOSSKIT_ENGINE`` (``0`` turns the engine off), ``LOSSKIT_THREADS``,
``LOSSKIT_CHUNK``, ``LOSSKIT_THRESHOLD`` and ``LOSSKIT_COMPILED`` (``0``: never the fused
kernels of :mod:`losskit.fused`).
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from typing import Any, Literal

from .. import fused as _fused
from .._memo import remembered

__all__ = ["configure", "settings", "effective", "raw_settings", "last_route", "current", "set_route", "chunked_route",
           "compiled_note"]

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


@functools.lru_cache(maxsize=1)
def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _env_int(name: str) -> int | None:
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


# The raw settings (None: the default), process-wide; configure() changes them in place.
current: dict[str, Any] = {
    "enabled": os.environ.get("LOSSKIT_ENGINE", "1").strip().lower() not in ("0", "false", "no", "off"),
    "threads": _env_int("LOSSKIT_THREADS"),  # None: the usable cores, at most 16
    "chunk": _env_int("LOSSKIT_CHUNK"),  # None: 512 KiB of y_pred, less with many threads
    "threshold": _env_int("LOSSKIT_THRESHOLD"),  # None: 2 * chunk
    # fused compiled box kernels where losskit has them and numba is installed (losskit.fused)
    "compiled": os.environ.get("LOSSKIT_COMPILED", "1").strip().lower() not in ("0", "false", "no", "off"),
}


_UNSET: Any = object()


def settings(itemsize: int = 4) -> dict:
    """The effective settings (``chunk`` and ``threshold`` in elements of ``itemsize`` bytes):
    ``enabled``, ``threads``, ``chunk``, ``threshold`` and ``compiled`` (True when the fused
    kernels are on and numba is installed)."""
    return dict(effective(itemsize))


def raw_settings() -> tuple:
    """The raw settings as a tuple: what a memo of choices made under them keys on."""
    return tuple(current.values())


def effective(itemsize: int) -> dict:
    """:func:`settings`, memoised by the raw settings (each call of the engine reads them, and
    working them out costs ~1 us): a shared dict, not to be changed."""
    return remembered(_effective, (itemsize, *raw_settings()), _settings, itemsize, limit=64)


_effective: dict = {}


def _settings(itemsize: int) -> dict:
    s = current
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

    def __init__(self, *, enabled: Any = _UNSET, threads: Any = _UNSET, chunk: Any = _UNSET,
                 threshold: Any = _UNSET, compiled: Any = _UNSET) -> None:
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
        self._old = dict(current)
        current.update(new)

    def __enter__(self) -> configure:
        return self

    def __exit__(self, *exc: Any) -> Literal[False]:
        current.clear()
        current.update(self._old)
        return False


_local = threading.local()


def last_route() -> str:
    """How this thread's last large NumPy call was evaluated: ``"chunked ..."``, ``"stats ..."``
    or ``"plain: <reason>"`` (for tests and performance debugging)."""
    return getattr(_local, "route", "")


def set_route(text: str) -> None:
    """Record how the calling thread's call is evaluated (what :func:`last_route` returns)."""
    _local.route = text


def chunked_route(count: int, step: int, axis: int, threads: int, note: str) -> str:
    """The route text of a call in ``count`` boxes of ``step`` indices along ``axis``."""
    return f"chunked: {count} boxes of <= {step} along axis {axis}, {min(threads, count)} thread(s){note}"


def compiled_note(fused: Any, handled: list[int], count: int) -> str:
    """The route's note on the fused kernels: none without a plan, else how many of the
    ``count`` boxes they took."""
    if fused is None:
        return ""
    return ", compiled" if len(handled) == count else f", compiled {len(handled)}/{count} boxes"
