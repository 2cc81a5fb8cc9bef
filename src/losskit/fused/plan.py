"""What a fused planner returns (:class:`Plan`) and the option and array helpers the planners
share. No numba here: the package's ``__init__`` imports this module whether or not numba is
installed, and the planner modules (which need numba) import it too."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

__all__ = ["Plan", "flag", "flat"]


@dataclasses.dataclass(frozen=True)
class Plan:
    value: Callable | None = None
    value_grad: Callable | None = None
    stats: Callable | None = None
    stats_grad: Callable | None = None
    stats_value: Callable | None = None
    keeps: bool = False  # a gradient's stats take ``kept``, its gradient array, for work the second pass reads there


def flag(value):
    """A boolean option as a bool, or None when it is not one (the reference's check_flag
    then raises, so the planner declines)."""
    return bool(value) if isinstance(value, (bool, np.bool_)) else None


def flat(*arrays):
    """1-D views of C-contiguous arrays, or None when one is not contiguous (no copies)."""
    out = []
    for a in arrays:  # (a loop, not generators: this runs once per box, ~1 us less for small calls)
        if not a.flags.c_contiguous:
            return None
        out.append(a if a.ndim == 1 else a.reshape(-1))
    return tuple(out)
