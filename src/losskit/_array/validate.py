"""Input checks. Every failure raises :class:`LossInputError` naming the argument, what was
expected and what was given.

Shape and dtype checks always run. Value checks (finiteness, ranges, label sets) read the
array and therefore run only on concrete arrays: they are skipped, not crashed, under
``jax.jit`` tracing and on lazy Dask graphs.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .xp import is_concrete

__all__ = [
    "LossInputError",
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
]


class LossInputError(ValueError):
    """Invalid input to a losskit loss: wrong shape, dtype, range, label set or option."""


def _shape(x):
    return tuple(x.shape)


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


def _count(xp, mask) -> int:
    return int(xp.sum(xp.astype(mask, xp.int64 if hasattr(xp, "int64") else xp.int32)))


def _is_empty(x) -> bool:
    return math.prod(x.shape) == 0


def within(x, lo, hi, *, xp) -> bool:
    """True when every element is known to lie in [lo, hi] (None: unbounded) from one min
    and one max: two fast reductions and no temporaries, where the exact checks below build
    masks. NaN makes min/max NaN, so it is never "within"; the exact check then runs."""
    if _is_empty(x):
        return True
    if lo is not None and not bool(xp.min(x) >= lo):
        return False
    return hi is None or bool(xp.max(x) <= hi)


def check_finite(x, *, xp, name):
    if not is_concrete(x) or not xp.isdtype(x.dtype, "real floating") or _is_empty(x):
        return
    # a finite total proves every element finite (inf or NaN anywhere makes it inf or NaN);
    # one reduction instead of a mask, and the exact count below only when it is not
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, or a large finite total: no warning
        if bool(xp.isfinite(xp.sum(x))):
            return
    bad = ~xp.isfinite(x)
    if bool(xp.any(bad)):
        n_nan = _count(xp, xp.isnan(x))
        raise LossInputError(
            f"{name} must be finite; got {n_nan} NaN and {_count(xp, bad) - n_nan} infinite value(s)"
        )


def check_range(x, lo, hi, *, xp, name, what=None):
    """lo <= x <= hi elementwise (either bound may be None)."""
    if not is_concrete(x) or within(x, lo, hi, xp=xp):
        return
    bad = None
    if lo is not None:
        bad = x < lo
    if hi is not None:
        bad = (x > hi) if bad is None else (bad | (x > hi))
    if bad is not None and bool(xp.any(bad)):
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        got = f"min {float(xp.min(x)):g}, max {float(xp.max(x)):g}"
        desc = what or f"values in [{lo_s}, {hi_s}]"
        raise LossInputError(f"{name} must hold {desc}; got {_count(xp, bad)} outside ({got})")


def check_integer_labels(y, n_classes, *, xp, name, ignore_index=None):
    """Class ids in [0, n_classes), except entries equal to ``ignore_index``."""
    dt = y.dtype
    if dt == xp.bool:
        raise LossInputError(f"{name} must hold integer class ids; got dtype bool")
    if xp.isdtype(dt, "real floating"):
        if is_concrete(y) and bool(xp.any(y != xp.round(y))):
            raise LossInputError(f"{name} must hold integer class ids; got non-integer values")
    elif not xp.isdtype(dt, "integral"):
        raise LossInputError(f"{name} must hold integer class ids; got dtype {dt}")
    if not is_concrete(y) or within(y, 0, n_classes - 1, xp=xp):
        return
    bad = (y < 0) | (y >= n_classes)
    if ignore_index is not None:
        bad = bad & (y != ignore_index)
    if bool(xp.any(bad)):
        extra = "" if ignore_index is None else f" or ignore_index={ignore_index}"
        raise LossInputError(
            f"{name} must hold class ids in [0, {n_classes}){extra}; got {_count(xp, bad)} outside "
            f"(min {float(xp.min(y)):g}, max {float(xp.max(y)):g})"
        )


def check_rows_sum_to_one(p, axis, *, xp, name, tol, hint):
    if not is_concrete(p):
        return
    s = xp.sum(p, axis=axis)
    bad = xp.abs(s - 1.0) > tol
    if bool(xp.any(bad)):
        worst = float(xp.max(xp.abs(s - 1.0)))
        raise LossInputError(
            f"{name} must sum to 1 along axis {axis}; {_count(xp, bad)} row(s) do not "
            f"(largest deviation {worst:.3g}). {hint}"
        )


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


def check_axis(axis, ndim, *, name="axis"):
    """Normalise an axis (int) to a non-negative int for an ``ndim``-d array."""
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise LossInputError(f"{name} must be an integer; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise LossInputError(f"{name}={axis} is out of range for an array of {ndim} dimension(s)")
    return int(axis) % ndim
