"""Array-namespace helpers: the only module that imports ``array_api_compat``.

Every public entry point calls :func:`namespace` once; private helpers take the
namespace as ``xp``. There is no process-wide backend and no silent fall-back to
NumPy for an array of another library.
"""

from __future__ import annotations

import sys

import array_api_compat
import numpy as np

__all__ = [
    "namespace",
    "as_array",
    "compute_dtype",
    "is_numpy",
    "is_concrete",
    "is_lazy",
    "finfo",
    "device_of",
]


def _is_array(obj) -> bool:
    return array_api_compat.is_array_api_obj(obj) and not isinstance(obj, np.generic)


def namespace(*objs):
    """The array namespace shared by ``objs`` (``None`` and Python scalars/lists are ignored).

    NumPy when none of them is an array. Arrays of two libraries raise ``TypeError``.
    """
    arrays = [o for o in objs if o is not None and _is_array(o)]
    if not arrays:
        return array_api_compat.array_namespace(np.empty(0))
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError:
        kinds = sorted({f"{type(a).__module__}.{type(a).__name__}" for a in arrays})
        raise TypeError(
            "losskit: all array arguments must come from one array library; got " + ", ".join(kinds)
        ) from None


def device_of(x):
    return array_api_compat.device(x)


def as_array(xp, obj, *, like=None, dtype=None):
    """``obj`` as an array of ``xp`` (on ``like``'s device); arrays of ``xp`` pass through untouched."""
    if _is_array(obj) and dtype is None:
        return obj
    kwargs = {}
    if like is not None:
        kwargs["device"] = device_of(like)
    if dtype is not None:
        if _is_array(obj):
            return obj if obj.dtype == dtype else xp.astype(obj, dtype)
        kwargs["dtype"] = dtype
    return xp.asarray(obj, **kwargs)


def default_float(xp, like=None):
    kwargs = {} if like is None else {"device": device_of(like)}
    return xp.asarray(0.0, **kwargs).dtype


def compute_dtype(xp, x):
    """The floating dtype losses are computed in for an input ``x``.

    Real floating inputs keep their dtype, except float16/bfloat16, which are upcast to
    float32 (their 3-8 significant bits cannot hold a log-loss). Integers and booleans get
    the namespace's default float.
    """
    dt = x.dtype
    if xp.isdtype(dt, "real floating"):
        if _bits(xp, dt) < 32:
            return xp.float32
        return dt
    return default_float(xp, x)


def _bits(xp, dtype) -> int:
    try:
        return xp.finfo(dtype).bits
    except (TypeError, ValueError):  # bfloat16 in some namespaces
        return 16


def finfo(xp, dtype):
    return xp.finfo(dtype)


def is_numpy(xp) -> bool:
    return array_api_compat.is_numpy_namespace(xp)


def is_lazy(x) -> bool:
    """Dask arrays: values exist only after ``.compute()``."""
    return array_api_compat.is_dask_array(x)


def is_concrete(x) -> bool:
    """True when ``x``'s values can be read now (not a JAX tracer, not a lazy Dask graph)."""
    if is_lazy(x):
        return False
    if array_api_compat.is_jax_array(x):
        core = sys.modules.get("jax.core")
        tracer = getattr(core, "Tracer", None) if core is not None else None
        if tracer is not None and isinstance(x, tracer):
            return False
    return True
