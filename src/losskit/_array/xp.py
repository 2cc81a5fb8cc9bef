"""Array-namespace helpers: the only module that imports ``array_api_compat``.

Every public entry point calls :func:`namespace` once; private helpers take the
namespace as ``xp``. There is no process-wide backend and no silent fall-back to
NumPy for an array of another library.
"""

from __future__ import annotations

import functools
import sys
import types

import array_api_compat
import numpy as np
from array_api_compat.numpy import clip as _compat_clip  # type: ignore[attr-defined]
from array_api_compat.numpy import max as _compat_max  # type: ignore[attr-defined]
from array_api_compat.numpy import sum as _compat_sum  # type: ignore[attr-defined]

__all__ = [
    "namespace",
    "as_array",
    "compute_dtype",
    "is_numpy",
    "is_concrete",
    "host_view",
    "value_check_mode",
    "is_lazy",
    "torch_compiling",
    "finfo",
    "device_of",
]


def _is_array(obj) -> bool:
    """Whether ``obj`` is an array of a supported library; decided by its type, so each type
    is asked of array-api-compat once (its check walks the libraries: ~1 us per argument)."""
    kind = type(obj)
    if kind in _ARRAY_TYPES:
        return True
    if array_api_compat.is_array_api_obj(obj) and not isinstance(obj, np.generic):
        _ARRAY_TYPES.add(kind)
        return True
    return False


_ARRAY_TYPES: set[type] = {np.ndarray}


def namespace(*objs):
    """The array namespace shared by ``objs`` (``None`` and Python scalars/lists are ignored).

    NumPy when none of them is an array (NumPy's namespace comes as :class:`_FastNumpy`).
    NumPy arrays beside torch, JAX or CuPy ones take the other library's namespace (and are
    converted by :func:`as_array`); any other pair of libraries raises ``TypeError``.
    """
    if _numpy_xp:  # plain NumPy arrays: NumPy's namespace without array_api_compat's type walk
        for o in objs:  # (~2 us, a tenth of a 1e3-element loss); a void dtype may be JAX's float0
            if o is not None and (type(o) is not np.ndarray or o.dtype.kind == "V"):
                break
        else:
            return _numpy_xp[0]
    if _torch_xp:  # torch tensors alone (~10 us of the type walk saved on a small training batch)
        tensor, txp = _torch_xp[0]
        seen = False
        for o in objs:
            if o is not None:
                if not isinstance(o, tensor):
                    break
                seen = True
        else:
            if seen:
                return txp
    arrays = [o for o in objs if o is not None and _is_array(o)]
    try:
        xp = array_api_compat.array_namespace(*arrays) if arrays else array_api_compat.array_namespace(np.empty(0))
    except TypeError:
        xp = _taking_numpy(arrays)
        if xp is None:
            kinds = sorted({f"{type(a).__module__}.{type(a).__name__}" for a in arrays})
            raise TypeError(
                "losskit: all array arguments must come from one array library (NumPy arrays may go with "
                "torch, JAX or CuPy ones); got " + ", ".join(kinds)
            ) from None
    if not array_api_compat.is_numpy_namespace(xp):
        if not _torch_xp and array_api_compat.is_torch_namespace(xp):
            _torch_xp.append((sys.modules["torch"].Tensor, xp))  # every torch tensor gets this one
        return xp
    fx = _fast_numpy(xp)
    if not _numpy_xp and xp is array_api_compat.array_namespace(np.empty(0)):
        _numpy_xp.append(fx)  # what every call of plain NumPy arrays gets from now on
    return fx


_numpy_xp: list = []  # the namespace of NumPy arrays, once known
_torch_xp: list = []  # (torch.Tensor, its namespace), once known


def _taking_numpy(arrays):
    """The namespace of the non-NumPy arrays when they share one that NumPy arguments are
    converted to (torch, JAX, CuPy: labels and weights usually come from a NumPy or pandas
    pipeline, and every peer accepts them), else None. Dask keeps the one-library rule: a NumPy
    array has no chunks to line up with."""
    others = [a for a in arrays if not isinstance(a, np.ndarray)]
    if not others or len(others) == len(arrays):
        return None
    try:
        xp = array_api_compat.array_namespace(*others)
    except TypeError:
        return None
    takes = (array_api_compat.is_torch_namespace(xp) or array_api_compat.is_jax_namespace(xp)
             or array_api_compat.is_cupy_namespace(xp))
    return xp if takes else None


# ---------------------------------------------------------------------------------------
# NumPy's namespace with faster replacements (same values, or log1p within 4 ulp) for slow functions
# ---------------------------------------------------------------------------------------
_BLEND_INT = {4: np.int32, 8: np.int64}
# below this many elements the blend's five calls cost more than where's loop (2560 float32:
# 5.3 us against 3.4; 256: 3.9 against 1.1; even at 8192, NumPy 2.4)
_BLEND_MIN = 1 << 13


def _blend_where(condition, x1, x2, /):
    """``np.where`` for same-shape, same-dtype arrays as a bitwise blend: NumPy's where is a
    scalar loop (~4 ns per element, the costliest op in many kernels), the blend is five
    vectorised integer passes (~1 ns). Bit-identical results; small arrays and anything else go
    to ``np.where``."""
    if (
        type(condition) is np.ndarray and type(x1) is np.ndarray and type(x2) is np.ndarray
        and condition.dtype == np.bool_ and x1.dtype == x2.dtype and x1.dtype.kind in "fiu"
        and x1.size >= _BLEND_MIN and x1.shape == x2.shape == condition.shape and x1.dtype.itemsize in _BLEND_INT
    ):
        it = _BLEND_INT[x1.dtype.itemsize]
        m = condition.view(np.int8).astype(it)  # 0 / 1
        np.negative(m, out=m)  # 0 / all bits set
        out = np.bitwise_and(x1.view(it), m)
        np.invert(m, out=m)
        np.bitwise_and(x2.view(it), m, out=m)
        np.bitwise_or(out, m, out=out)
        return out.view(x1.dtype)
    return np.where(condition, x1, x2)


def _log1p(x, /):
    """``log1p`` for float32 arrays as ``log(u) - ((u - 1) - x) / u`` with ``u = 1 + x``: the
    correction term is the rounding error of ``1 + x`` (exact by Sterbenz), divided through.
    NumPy's float32 log1p is a scalar loop (~12 ns per element), its log is vectorised
    (~2 ns); measured against float64 over [-1, 1e3] and tiny magnitudes the result is within
    4 ulp, the accuracy of NumPy's float32 log itself. Other dtypes, and arrays holding
    -1, NaN or inf (checked by a min/max pass, cheap next to either log1p), use ``np.log1p``."""
    if type(x) is np.ndarray and x.dtype == np.float32 and x.ndim and x.size and x.min() > -1 and x.max() < np.inf:
        u = x + np.float32(1)
        c = u - np.float32(1)
        np.subtract(c, x, out=c)
        np.divide(c, u, out=c)
        np.log(u, out=u)
        return np.subtract(u, c, out=u)
    return np.log1p(x)


def _clip(x, /, min=None, max=None):
    """``clip`` of a float array by Python-number bounds as ``np.maximum``/``np.minimum`` (same
    values, NaN kept); array-api-compat's clip spends ~2.5 ns per element on bound handling."""
    if type(x) is np.ndarray and x.dtype.kind == "f" and x.ndim and all(
        b is None or type(b) in (float, int) for b in (min, max)
    ):
        out = x if min is None else np.maximum(x, x.dtype.type(min))
        if max is not None:
            out = np.minimum(out, x.dtype.type(max), out=None if out is x else out)
        return out if out is not x else x.copy()
    return _compat_clip(x, min=min, max=max)


def _short_last_axis(x, axis, longest):
    """True for a float array reduced along its last axis when that axis has 2..longest entries."""
    if type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim < 2 or not 2 <= x.shape[-1] <= longest:
        return False
    if isinstance(axis, tuple):
        axis = axis[0] if len(axis) == 1 else None
    return isinstance(axis, int) and axis in (-1, x.ndim - 1)


def _sum(x, /, *, axis=None, dtype=None, keepdims=False):
    """Row sums of short rows (<= 64 entries: class axes) as a matrix-vector product with ones:
    NumPy's sum over a short last axis costs ~2.5 ns per element at 10 entries, the product
    ~0.4. (Longer rows keep NumPy's pairwise sum, more accurate than BLAS's running sums.)"""
    if dtype is None and _short_last_axis(x, axis, 64):
        out = np.matmul(x, np.ones(x.shape[-1], dtype=x.dtype))
        return out[..., None] if keepdims else out
    return _compat_sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _max(x, /, *, axis=None, keepdims=False):
    """Row maxima of short rows (<= 16 entries) as a running ``np.maximum`` over the columns:
    the same values (NaN propagates alike) at ~1 ns per element instead of ~5 (10 entries)."""
    if _short_last_axis(x, axis, 16):
        out = x[..., 0].copy()
        for j in range(1, x.shape[-1]):
            np.maximum(out, x[..., j], out=out)
        return out[..., None] if keepdims else out
    return _compat_max(x, axis=axis, keepdims=keepdims)


class _FastNumpy(types.ModuleType):
    """array-api-compat's NumPy namespace with :func:`_blend_where`, :func:`_log1p`, :func:`_clip`,
    :func:`_sum` and :func:`_max` for short rows, and a memoised ``isdtype`` (NumPy's takes
    ~2 us, and the chunked engine asks it a few times per box); every other name is the
    namespace's own. :func:`namespace` returns it for NumPy
    arrays, so the plain path and the chunked engine compute the same bits."""

    where = staticmethod(_blend_where)
    log1p = staticmethod(_log1p)
    clip = staticmethod(_clip)
    sum = staticmethod(_sum)
    max = staticmethod(_max)

    def __init__(self, xp):
        super().__init__(xp.__name__, xp.__doc__)
        self.__dict__["_xp"] = xp
        self.__dict__["_isdtype_memo"] = {}

    def isdtype(self, dtype, kind):
        memo = self.__dict__["_isdtype_memo"]
        try:
            return memo[dtype, kind]
        except KeyError:
            pass
        except TypeError:  # an unhashable kind (a list): ask NumPy
            return self.__dict__["_xp"].isdtype(dtype, kind)
        out = memo[dtype, kind] = self.__dict__["_xp"].isdtype(dtype, kind)
        return out

    def __getattr__(self, name):
        return getattr(self.__dict__["_xp"], name)


_fast: dict[int, _FastNumpy] = {}


def _fast_numpy(xp):
    fx = _fast.get(id(xp))
    if fx is None:
        fx = _fast[id(xp)] = _FastNumpy(xp)
    return fx


def device_of(x):
    return array_api_compat.device(x)


def as_array(xp, obj, *, like=None, dtype=None):
    """``obj`` as an array of ``xp`` (on ``like``'s device); arrays of ``xp`` pass through untouched.

    A NumPy array, list or number going to another library (NumPy labels with torch logits)
    lands on ``like``'s device and, when both are floating, in ``like``'s dtype."""
    if _is_array(obj) and not (type(obj) is np.ndarray and xp is not _numpy_of(xp)):
        if dtype is None:
            return obj
        return obj if obj.dtype == dtype else xp.astype(obj, dtype)
    kwargs = {}
    if like is not None:
        kwargs["device"] = device_of(like)
    if dtype is not None:
        kwargs["dtype"] = dtype
    elif like is not None and _is_array(obj) and obj.dtype.kind == "f" and xp.isdtype(like.dtype, "real floating"):
        kwargs["dtype"] = like.dtype
    return xp.asarray(obj, **kwargs)


def _numpy_of(xp):
    """``xp`` itself when it is NumPy's namespace (a NumPy array then needs no conversion)."""
    return xp if isinstance(xp, _FastNumpy) or array_api_compat.is_numpy_namespace(xp) else None


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


def value_check_mode(x) -> str | None:
    """How value checks (ranges, finiteness, label ids) may look at ``x``'s values:

    - ``"read"``: read them on the host now (NumPy, CPU torch tensors, concrete JAX arrays);
    - ``"assert"``: a torch tensor on an accelerator, where each read would be a host
      synchronisation stalling every training step: the check becomes a device-side
      assertion (``torch._assert_async``) that never synchronises;
    - ``"checkify"``: a JAX array while JAX stages a program (``jit``, ``scan``, ``checkify``'s own
      trace; :func:`_jax_staging`): the check is skipped, or with ``validate="checkify"`` recorded
      as a ``checkify.debug_check``, which compiles to nothing (its operations with it) unless the
      program is wrapped in ``jax.experimental.checkify.checkify``, which then reports losskit's
      message;
    - ``None``: no values to check: any JAX array while an eager JAX transform runs (``grad``,
      ``vmap`` without ``jit``: a check's operations would run op by op), a lazy Dask graph, a
      torch ``meta`` tensor, or any tensor while ``torch.compile`` traces (a read would break
      the graph) or a ``torch.func`` transform (grad, vmap, jacrev, ...) is active (its wrapped
      tensors have no storage to read)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):  # first: the training loop's case
        if torch_compiling() or torch_transforming():  # (compiling first: before any call Dynamo would not trace)
            return None
        return "read" if x.is_cpu else None if x.is_meta else "assert"
    if type(x) is np.ndarray:
        return "read"
    if is_lazy(x):
        return None
    if array_api_compat.is_jax_array(x):
        core = sys.modules.get("jax.core")
        tracer = getattr(core, "Tracer", None) if core is not None else None
        if (tracer is not None and isinstance(x, tracer)) or _jax_tracing():
            return "checkify" if _jax_staging() else None
    return "read"


_HOST_VIEW_DTYPES = ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8")


@functools.cache
def _torch_view_dtypes(torch) -> frozenset:
    return frozenset(getattr(torch, name) for name in _HOST_VIEW_DTYPES)


def host_view(x):
    """A NumPy view of a CPU torch tensor (no copy), or None: value checks of a CPU tensor then
    run as NumPy reductions, a few microseconds each where torch's dispatch costs several times
    that on small training batches. (Only for checks that read on the host anyway: "read".)"""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(x, torch.Tensor) or not x.is_cpu:
        return None
    if x.dtype not in _torch_view_dtypes(torch) or x.layout is not torch.strided or x.is_conj() or x.is_neg():
        return None
    return (x.detach() if x.requires_grad else x).numpy()


def is_concrete(x) -> bool:
    """True when ``x``'s values can be read on the host now, cheaply (see :func:`value_check_mode`)."""
    return value_check_mode(x) == "read"


def torch_compiling() -> bool:
    """True while ``torch.compile`` traces (torch not imported: False). Asked several times a
    call: torch's own function is looked up once, after torch was imported."""
    if not _IS_COMPILING:
        torch = sys.modules.get("torch")
        if torch is None:
            return False
        _IS_COMPILING.append(getattr(getattr(torch, "compiler", None), "is_compiling", None) or _never)
    return bool(_IS_COMPILING[0]())


def torch_transforming() -> bool:
    """True while a ``torch.func`` transform (grad, vmap, jvp, jacrev, ...) is active: its tensors
    are wrappers without storage, and a custom ``autograd.Function`` needs rules of its own there."""
    torch = sys.modules.get("torch")
    return torch is not None and torch._C._are_functorch_transforms_active()


def torch_forward_ad() -> bool:
    """True inside ``torch.autograd.forward_ad.dual_level()``: tensors may carry tangents that the
    in-place lean kernels (``out=`` buffers) would drop and the closed-form node has no rule for."""
    fwad = sys.modules.get("torch.autograd.forward_ad")
    return fwad is not None and getattr(fwad, "_current_level", -1) >= 0


def _never() -> bool:
    return False


_IS_COMPILING: list = []  # torch.compiler.is_compiling, once torch is imported


def _jax_staging() -> bool:
    """True while JAX stages a program: a ``DynamicJaxprTrace`` (jit, scan, cond, checkify, ...)
    below the current trace, so an operation is recorded, never run now. False under eager
    transforms alone (``grad``, ``vmap`` without ``jit``), and where JAX's trace stack is not
    the one this reads (another JAX version: the checks are then skipped, as before)."""
    core = sys.modules.get("jax._src.core")
    trace = getattr(getattr(core, "trace_ctx", None), "trace", None)
    while trace is not None:
        if type(trace).__name__ == "DynamicJaxprTrace":
            return True
        trace = getattr(trace, "parent_trace", None)
    return False


def _jax_tracing() -> bool:
    """True while JAX traces (jit, grad, vmap, scan): every result is then a tracer, even one
    computed from a concrete array closed over, so a check may not read values."""
    core = sys.modules.get("jax._src.core")
    clean = getattr(core, "trace_state_clean", None)
    return clean is not None and not clean()
