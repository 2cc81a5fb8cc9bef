"""Input checks. Every failure raises :class:`LossInputError` naming the argument, what was
expected and what was given.

Shape and dtype checks always run. A value check (finiteness, ranges, label sets) is two
parts: ``ok``, a 0-d boolean array computed on the array's device without reading it, and
``explain``, which reads the values and raises the full message (only run once ``ok`` came out
False). :func:`require` settles a check according to :func:`~losskit._array.xp.value_check_mode`:

- read it now (NumPy, CPU tensors, concrete JAX arrays), or, inside :class:`one_read`, collect
  it: the block's checks are then settled by one host read (``all`` of the collected
  ``ok``s), and only on failure are their explanations run, in order, for the message;
- on a torch accelerator, a device-side assertion with the check's summary (no sync);
- while JAX stages a program (``jit``, ``scan``): skipped, or with ``validate="checkify"``
  (:class:`checkify_checks`) a ``checkify.debug_check`` with the check's summary: compiled
  away, unless the program is wrapped in ``checkify.checkify``, whose error then carries
  losskit's message;
- skip it where there are no values: eager JAX transforms, Dask graphs, ``meta`` tensors,
  ``torch.compile`` tracing.

A deferred check ("assert", "checkify") needs an exact ``ok`` (no false alarm to clear), and
only a device assertion is sure to run: a kernel that may rely on checked inputs asks
:func:`enforced`.
"""

from __future__ import annotations

import contextvars
import decimal
import math
import numbers
import sys
from collections.abc import Callable

import numpy as np

from .xp import _is_array, host_view, namespace, torch_compiling, value_check_mode

__all__ = [
    "LossInputError",
    "checkify_checks",
    "validate_option",
    "check_same_shape",
    "check_shape",
    "check_finite",
    "check_range",
    "check_integer_labels",
    "check_real",
    "check_choice",
    "check_number",
    "check_axis",
    "check_rows_sum_to_one",
    "check_flag",
    "check_mode",
    "enforced",
    "finite_ok",
    "on_host",
    "bounds_ok",
    "require",
    "one_read",
    "numeric",
    "count_true",
    "scalar_option",
    "check_option_dtype",
]


class LossInputError(ValueError):
    """Invalid input to a losskit loss: wrong shape, dtype, range, label set or option."""


def _shape(x):
    return tuple(x.shape)


def numeric(obj, *, name, what="a real (float or integer) array"):
    """``obj`` unchanged when it is an array; a list, tuple or number as a NumPy array of
    numbers (booleans included), which every library's ``asarray`` then takes. ``None``, ragged
    lists and non-numbers (strings, objects) raise here, before another library reports them
    in its own words."""
    if _is_array(obj):
        if isinstance(obj, np.ndarray) and obj.dtype.kind == "V":  # ml_dtypes' bfloat16, float8_*, ...
            if obj.dtype.name.startswith(("bfloat", "float")):
                return obj.astype(np.float32)  # a copy, computed like torch's bfloat16 (in float32)
            raise LossInputError(f"{name} must be {what}; got dtype {obj.dtype}")
        return obj
    if obj is None:
        raise LossInputError(f"{name} is required; got None")
    try:
        arr = np.asarray(obj)
    except (ValueError, TypeError) as e:  # ragged nesting, unconvertible objects
        raise LossInputError(f"{name} must be {what} (nested lists need equal-length rows); "
                             f"got {type(obj).__name__}: {str(e).splitlines()[0][:120]}") from None
    if arr.dtype.kind not in "biuf":
        raise LossInputError(f"{name} must be {what}; got dtype {arr.dtype}")
    return arr


def check_same_shape(y_true, y_pred, *, names=("y_true", "y_pred")):
    if _shape(y_true) != _shape(y_pred):
        raise LossInputError(
            f"{names[0]} and {names[1]} must have the same shape (no broadcasting); "
            f"got {names[0]} {_shape(y_true)} and {names[1]} {_shape(y_pred)}"
        )


def check_shape(x, expected, *, name, what):
    if _shape(x) != tuple(expected):
        raise LossInputError(f"{name} must have shape {tuple(expected)} ({what}); got {_shape(x)}")


def check_real(x, *, xp, name, allow_int=True):
    dt = x.dtype
    kinds = ("real floating", "integral") if allow_int else ("real floating",)
    if dt == xp.bool or not xp.isdtype(dt, kinds):
        want = "a real (float or integer) array" if allow_int else "a real floating array"
        raise LossInputError(f"{name} must be {want}; got dtype {dt}")


# ---------------------------------------------------------------------------------------
# how a value check is settled: now, collected into one read, as a device assertion, or not
# ---------------------------------------------------------------------------------------
class _Pending(list):
    """A :class:`one_read` block's collected ``(ok, explain)`` checks, and the NumPy views its
    checks took (by id: one view per tensor, however many checks read it)."""

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[int, tuple] = {}


_PENDING: contextvars.ContextVar[_Pending | None] = contextvars.ContextVar("losskit_pending_checks", default=None)


_DEFERRED = ("assert", "checkify")  # modes whose checks are settled later, elsewhere: exact oks only


def enforced(mode: str | None) -> bool:
    """Whether checks in ``mode`` stop a call on bad values (read now or later, or a device
    assertion), so kernels may rely on checked inputs: not when skipped, nor as
    ``checkify.debug_check`` (a no-op unless the user's program is checkified)."""
    return mode is not None and mode != "checkify"


_CHECKIFY: contextvars.ContextVar[bool] = contextvars.ContextVar("losskit_checkify", default=False)


class checkify_checks:
    """``with checkify_checks(active):`` records the block's value checks in a staged JAX program
    as ``checkify.debug_check``s (``validate="checkify"``). Off by default: a check gives the
    program an error effect, and JAX dispatches a program with effects on its slow path (about
    70 us more per jitted call on a CPU), although the compiled program is the same."""

    def __init__(self, active: bool) -> None:
        self.active = active

    def __enter__(self) -> checkify_checks:
        if self.active:
            self._token = _CHECKIFY.set(True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.active:
            _CHECKIFY.reset(self._token)


def check_mode(x) -> str | None:
    """``"read"`` (settle now), ``"collect"`` (inside :class:`one_read`), ``"assert"`` (device
    assertion), ``"checkify"`` (a ``checkify.debug_check`` while JAX stages a program, inside
    :class:`checkify_checks`; skipped outside) or ``None`` (skip) for value checks of ``x``."""
    mode = value_check_mode(x)
    if mode == "read" and _PENDING.get() is not None:
        return "collect"
    if mode == "checkify" and not _CHECKIFY.get():
        return None
    return mode


def require(ok, explain: Callable[[], None], summary: str, *, mode: str | None) -> None:
    """Settle one value check (see the module docstring). ``ok`` may be a false alarm when it
    is read or collected (``explain`` then finds nothing and returns: a few extra reads, on
    rare data); a device assertion (``"assert"``) needs an exact ``ok``."""
    if mode is None or ok is np.True_:  # a NumPy view's check that passed: nothing left to settle
        return
    if mode not in _DEFERRED:
        ok = _known_now(ok)
        if ok is np.True_:
            return
    if mode == "collect":
        pending = _PENDING.get()
        assert pending is not None
        pending.append((ok, explain))
    elif mode == "assert":
        sys.modules["torch"]._assert_async(ok, f"losskit: {summary}")
    elif mode == "checkify":
        from jax.experimental import checkify

        debug_check = getattr(checkify, "debug_check", None)  # (JAX 0.4.17 on)
        if debug_check is not None:
            debug_check(ok, "losskit: " + summary.replace("{", "{{").replace("}", "}}"))  # (a format string)
    elif not bool(ok):
        explain()


class one_read:
    """``with one_read(active):`` collects the block's value checks and settles them with one
    host read when it ends (on a GPU a read is a synchronisation, each one a stall). A failed
    check is explained in order, so the error is the one the checks would raise one by one."""

    def __init__(self, active: bool) -> None:
        self.active = active

    def __enter__(self) -> one_read:
        if self.active:
            self._token = _PENDING.set(_Pending())
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.active:
            return
        pending = _PENDING.get()
        _PENDING.reset(self._token)
        if exc_type is not None or not pending:  # (checks that passed on the host were never added)
            return
        host = [ok for ok, _ in pending if isinstance(ok, (bool, np.bool_))]  # from NumPy views: known now
        oks = [ok for ok, _ in pending if not isinstance(ok, (bool, np.bool_))]
        passed = all(host)
        if passed and oks:
            xp = namespace(oks[0])
            passed = bool(oks[0] if len(oks) == 1 else xp.all(xp.stack([xp.reshape(o, ()) for o in oks])))
        if passed:
            return
        for _, explain in pending:  # outside the block now: each explanation reads eagerly
            explain()


# Up to this many elements a NumPy array's finiteness is counted from ``isfinite`` (exact, no
# floating-point error state, and no reduction: NumPy's reduction set-up costs several us a call
# between torch operations, ~1 us alone); larger ones take one pass, a sum (a min and a max if
# exact). CPU tensors up to this size are checked on their NumPy views, larger ones by torch.
_SMALL_HOST = 1 << 16


def _is_large_tensor(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor) and x.numel() > _SMALL_HOST


def _known_now(ok):
    """A check's 0-d boolean result on a CPU torch tensor as a NumPy bool, read through its NumPy
    view: no torch read (on the CPU a read costs no synchronisation), settled like a NumPy check."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(ok, torch.Tensor) and ok.is_cpu and ok.dtype is torch.bool and not ok.ndim:
        return ok.numpy()[()]
    return ok


def on_host(x, xp, mode):
    """``(x, xp)`` for a check's reductions: a CPU torch tensor as its NumPy view when the check
    reads on the host anyway (:func:`~losskit._array.xp.host_view`), else as given. A large CPU
    tensor stays a tensor: past ``_SMALL_HOST`` elements torch's reductions run several times
    faster than NumPy's (a sum of 4e6 float32: ~0.1 ms against ~0.6 ms), and their 0-d results
    are read through NumPy views (:func:`_known_now`)."""
    if mode in ("read", "collect") and _is_large_tensor(x):
        return x, xp
    if mode == "collect":  # inside one_read: a tensor checked before has its view already
        pending = _PENDING.get()
        assert pending is not None
        views = pending.views
        hit = views.get(id(x))
        if hit is not None and hit[0] is x:
            return hit[1], np
        view = host_view(x)
        if view is not None:
            views[id(x)] = (x, view)  # (x kept alive: its id stays its own for the block)
            return view, np
    elif mode == "read":
        view = host_view(x)
        if view is not None:
            return view, np
    return x, xp


def count_true(xp, mask) -> int:
    """The number of True entries of a boolean array, as a Python int (for messages)."""
    return int(xp.count_nonzero(mask))


def _is_empty(x) -> bool:
    return math.prod(x.shape) == 0


def bounds_ok(x, lo, hi, *, xp):
    """``lo <= x <= hi`` for every element, as a 0-d boolean array (None: unbounded) from
    one min and one max: no temporaries. NaN makes min/max NaN, so it never passes."""
    if type(x) is np.ndarray:  # on the host: NumPy's reductions called directly, the answer known now
        ok = (lo is None or np.minimum.reduce(x, axis=None) >= lo) and (hi is None or np.maximum.reduce(x, axis=None) <= hi)
        return np.True_ if ok else np.False_
    torch = sys.modules.get("torch")
    if lo is not None and hi is not None and torch is not None and isinstance(x, torch.Tensor) and x.numel():
        low, high = torch.aminmax(x)  # one read of x where min and max would be two (a large x is out of cache)
        return (low >= lo) & (high <= hi)
    ok = None
    if lo is not None:
        ok = xp.min(x) >= lo
    if hi is not None:
        ok = (xp.max(x) <= hi) if ok is None else (ok & (xp.max(x) <= hi))
    return ok


def finite_ok(x, *, xp, exact: bool):
    """Every element finite, as a 0-d boolean array (a NumPy bool for a NumPy array: known
    now). Not ``exact``: one sum (inf or NaN anywhere makes it non-finite; a large finite total
    overflowing is a false alarm that the explanation clears). ``exact``: finite min and max
    (NaN propagates through both)."""
    if type(x) is np.ndarray:  # NumPy called directly: its wrappers cost as much as the pass
        if x.size <= _SMALL_HOST:
            ok = np.count_nonzero(np.isfinite(x)) == x.size
        elif exact:
            ok = math.isfinite(np.minimum.reduce(x, axis=None)) and math.isfinite(np.maximum.reduce(x, axis=None))
        else:
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, or a large finite total: no warning
                ok = math.isfinite(np.add.reduce(x, axis=None))
        return np.True_ if ok else np.False_
    if exact:
        return xp.isfinite(xp.min(x)) & xp.isfinite(xp.max(x))
    with np.errstate(invalid="ignore", over="ignore"):  # a namespace wrapping NumPy (array-api-strict) warns
        return xp.isfinite(xp.sum(x))


def check_finite(x, *, xp, name):
    mode = check_mode(x)
    if mode is None:
        return
    x, xp = on_host(x, xp, mode)
    if type(x) is np.ndarray:  # (NumPy's "real floating" is kind "f"; asked of NumPy's dtype: quicker)
        if x.dtype.kind != "f" or not x.size:
            return
    elif not xp.isdtype(x.dtype, "real floating") or _is_empty(x):
        return
    ok = finite_ok(x, xp=xp, exact=mode in _DEFERRED)
    if ok is np.True_:  # settled on the host: passed
        return
    require(ok, lambda: _explain_finite(x, xp, name), f"{name} must be finite", mode=mode)


def _explain_finite(x, xp, name):
    """Raise the error of a non-finite ``x``, if it has a non-finite entry."""
    if not xp.isdtype(x.dtype, "real floating"):
        return
    bad = ~xp.isfinite(x)
    if bool(xp.any(bad)):
        n_nan = count_true(xp, xp.isnan(x))
        raise LossInputError(
            f"{name} must be finite; got {n_nan} NaN and {count_true(xp, bad) - n_nan} infinite value(s)"
        )


def _range_text(lo, hi):
    return f"values in [{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


def check_range(x, lo, hi, *, xp, name, what=None, finite=False):
    """lo <= x <= hi elementwise (either bound may be None). ``finite``: the check stands for
    :func:`check_finite` too (a bounded range holds no NaN or infinity), and a non-finite entry
    gets its message: one min and one max settle both."""
    mode = check_mode(x)
    if mode is None or _is_empty(x) or (lo is None and hi is None):
        return
    assert not finite or (lo is not None and hi is not None), "a half-open range lets infinities through"
    x, xp = on_host(x, xp, mode)
    desc = what or _range_text(lo, hi)

    def explain():
        if finite:
            _explain_finite(x, xp, name)
        bad = None
        if lo is not None:
            bad = x < lo
        if hi is not None:
            bad = (x > hi) if bad is None else (bad | (x > hi))
        if bool(xp.any(bad)):
            got = f"min {float(xp.min(x)):g}, max {float(xp.max(x)):g}"
            raise LossInputError(f"{name} must hold {desc}; got {count_true(xp, bad)} outside ({got})")

    require(bounds_ok(x, lo, hi, xp=xp), explain, f"{name} must hold {desc}", mode=mode)


def check_integer_labels(y, n_classes, *, xp, name, ignore_index=None):
    """Class ids in [0, n_classes), except entries equal to ``ignore_index``."""
    dt = y.dtype
    if dt == xp.bool:
        raise LossInputError(f"{name} must hold integer class ids; got dtype bool")
    floating = xp.isdtype(dt, "real floating")
    if not floating and not xp.isdtype(dt, "integral"):
        raise LossInputError(f"{name} must hold integer class ids; got dtype {dt}")
    mode = check_mode(y)
    if mode is None or _is_empty(y):
        return
    y, xp = on_host(y, xp, mode)
    extra = "" if ignore_index is None else f" or ignore_index={ignore_index}"

    def outside():
        bad = (y < 0) | (y >= n_classes)
        return bad if ignore_index is None else bad & (y != ignore_index)

    def explain():
        if floating and bool(xp.any(y != xp.round(y))):
            raise LossInputError(f"{name} must hold integer class ids; got non-integer values")
        bad = outside()
        if bool(xp.any(bad)):
            raise LossInputError(
                f"{name} must hold class ids in [0, {n_classes}){extra}; got {count_true(xp, bad)} outside "
                f"(min {float(xp.min(y)):g}, max {float(xp.max(y)):g})"
            )

    # Read now, the cheap min/max may be a false alarm (ignored entries) that explain() clears;
    # collected or asserted, ``ok`` must be exact.
    ok = bounds_ok(y, 0, n_classes - 1, xp=xp)
    if ignore_index is not None and mode != "read":
        ok = ~xp.any(outside())
    if floating:
        ok = ok & xp.all(y == xp.round(y))
    require(ok, explain, f"{name} must hold class ids in [0, {n_classes}){extra}", mode=mode)  # (the eager message's start)


def check_rows_sum_to_one(p, axis, *, xp, name, tol, hint):
    mode = check_mode(p)
    if mode is None:
        return
    p, xp = on_host(p, xp, mode)
    if type(p) is np.ndarray:  # on the host: NumPy called directly, the answer known now
        dev = np.abs((np.add.reduce(p, axis=axis) if xp is np else xp.sum(p, axis=axis)) - 1.0)
        ok = np.True_ if np.count_nonzero(dev <= tol) == dev.size else np.False_
    else:
        dev = xp.abs(xp.sum(p, axis=axis) - 1.0)
        ok = xp.all(dev <= tol)

    def explain():
        bad = dev > tol
        if bool(xp.any(bad)):
            raise LossInputError(
                f"{name} must sum to 1 along axis {axis}; {count_true(xp, bad)} row(s) do not "
                f"(largest deviation {float(xp.max(dev)):.3g}). {hint}"
            )

    require(ok, explain, f"{name} must sum to 1 along axis {axis}", mode=mode)


def validate_option(value):
    """The ``validate`` option: True, False, or ``"checkify"`` (True, and inside a staged JAX
    program each value check recorded as a ``checkify.debug_check``; see :func:`checkify_checks`)."""
    if isinstance(value, str) and value == "checkify":
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise LossInputError(f"validate must be True, False or 'checkify'; got {value!r}")
    return bool(value)


def check_flag(value, name):
    """A boolean option (Python or NumPy bool); anything else, e.g. the string "False", raises."""
    if not isinstance(value, (bool, np.bool_)):
        raise LossInputError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_choice(value, choices, *, name):
    if value not in choices:
        raise LossInputError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_number(value, *, name, lo=None, hi=None, lo_open=False, hi_open=False, integer=False):
    ok_type = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if not ok_type or not math.isfinite(value):
        kind = "an integer" if integer else "a finite real number"
        raise LossInputError(f"{name} must be {kind}; got {value!r}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise LossInputError(f"{name} must be {'>' if lo_open else '>='} {lo}; got {value!r}")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        raise LossInputError(f"{name} must be {'<' if hi_open else '<='} {hi}; got {value!r}")
    return value


_INT64 = 2**63


def scalar_option(value, *, name, kind):
    """A scalar option at the boundary (:meth:`LossFunction._arguments`), by its ``kind``:
    ``"int"`` or ``"float"`` (a number is meant: bool refused, Fraction/Decimal/NumPy scalars
    and ints taken as a float when it can hold them, integers within int64), anything else
    unchanged. Ranges are the loss's own check (its ``prepare``)."""
    if kind is None or value is None or _is_array(value):
        return value  # arrays (traced ones too) are the loss's to check
    if isinstance(value, (str, bytes)):
        raise LossInputError(f"{name} must be a number{' or an array of numbers' if kind == 'float' else ''}; "
                             f"got {_short(value)}")
    if isinstance(value, (list, tuple)):  # nested numbers (strings, ragged rows and huge ints refused)
        if not torch_compiling():  # Dynamo cannot trace NumPy; a module checked them when it was built
            numeric(value, name=name, what="a number or an array of numbers")
        return value
    if isinstance(value, (bool, np.bool_)):
        raise LossInputError(f"{name} must be a number, not a boolean; got {value!r}")
    if kind == "int" and isinstance(value, numbers.Integral):
        if not -_INT64 <= int(value) < _INT64:
            raise LossInputError(f"{name} must be an integer in [-2**63, 2**63); got {value!r}")
        return int(value)
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        try:
            out = float(value)
        except (OverflowError, TypeError, ValueError):
            out = math.inf
        if not math.isfinite(out):
            raise LossInputError(f"{name} must be a finite real number (at most {sys.float_info.max:.4g} "
                                 f"in magnitude); got {_short(value)}")
        if kind == "int" and not isinstance(value, numbers.Integral):
            return value  # a float for an integer option: the loss's own check words it
        return out
    return value


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def check_option_dtype(value, *, name, finfo, squared=False):
    """A float option the computation dtype can hold: 0 or a magnitude in [tiny, max] of
    ``finfo`` (a tinier one underflows to 0 or inf once divided, a larger one overflows);
    ``squared``: at most sqrt(max), as the kernels square it."""
    mag = abs(value)
    hi = math.sqrt(float(finfo.max)) if squared else float(finfo.max)
    if mag and not float(finfo.smallest_normal) <= mag <= hi:
        raise LossInputError(
            f"{name}={value!r} is out of range for the computation dtype {finfo.dtype}: use 0 or a magnitude "
            f"in [{float(finfo.smallest_normal):.4g}, {hi:.4g}]")


def check_axis(axis, ndim, *, name="axis"):
    """Normalise an axis (int) to a non-negative int for an ``ndim``-d array."""
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise LossInputError(f"{name} must be an integer; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise LossInputError(f"{name}={axis} is out of range for an array of {ndim} dimension(s)")
    return int(axis) % ndim
