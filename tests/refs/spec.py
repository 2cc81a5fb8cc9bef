"""What the generic tests need to know about one loss configuration.

A :class:`Case` gives valid inputs, an independent naive float64 reference for the
per-sample values (``reduction="none"``) and, optionally, extreme inputs that must stay
finite. The generic tests in ``tests/test_generic.py`` run every case on every backend and
dtype: value against the reference, gradient and Hessian against finite differences and
autodiff, ``jax.jit``, finiteness, weights and reductions.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Case:
    loss: str
    make: Callable[[np.random.Generator], tuple]  # rng -> (y_true, y_pred) as float64/int NumPy arrays
    reference: Callable[..., np.ndarray]  # (y_true, y_pred, **options) -> per-sample values
    options: dict = dataclasses.field(default_factory=dict)
    extremes: Callable[[], list] | None = None  # -> [(y_true, y_pred), ...] that must give finite results
    invalid: Callable[[], list] | None = None  # -> [(y_true, y_pred), ...] outside the loss's domain: LossInputError
    name: str = ""
    twice_differentiable: bool = True  # False: Hessian checked against autodiff only, not by differences
    fd_step: float = 1e-6
    rtol32: float = 2e-4  # float32 tolerance against the float64 reference

    @property
    def id(self):
        opts = ",".join(f"{k}={v}" for k, v in self.options.items() if not isinstance(v, (list, tuple, np.ndarray)))
        return f"{self.loss}[{self.name or opts}]"


def rng_for(case: Case, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{case.id}/{salt}".encode()))


def away_from(x, points, gap=0.05):
    """Move entries of ``x`` that lie within ``gap`` of a kink in ``points``, so that
    finite differences of a non-smooth loss are taken where it is smooth."""
    x = np.array(x, dtype=float)
    for p in points:
        close = np.abs(x - p) < gap
        x[close] = p + np.where(x[close] >= p, gap, -gap) * 2
    return x
