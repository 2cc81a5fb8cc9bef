"""losskit: loss functions that stay correct where textbook formulas return NaN.

One implementation for NumPy, PyTorch, JAX, CuPy and Dask arrays (via the array API),
with closed-form gradients and Hessian diagonals::

    import losskit as lk
    lk.binary_cross_entropy(y_true, y_pred, from_logits=True)
    lk.binary_cross_entropy.grad_hess(y_true, y_pred, from_logits=True)
    lk.get("bce", label_smoothing=0.1)
"""

from . import gbdt  # objectives for XGBoost/LightGBM; the libraries themselves load lazily
from ._array.validate import LossInputError
from .api import LossFunction
from .registry import ALIASES, LOSSES, available, get
from .spec import Loss
from .streaming import Accumulator

__version__ = "0.2.0"

# Flat public names: every registered loss under its canonical name and each alias
# (the registry is the one explicit list; the course's own names are among the aliases).
globals().update(LOSSES)
globals().update({alias: LOSSES[name] for alias, name in ALIASES.items()})

__all__ = [
    "LossInputError",
    "Loss",
    "LossFunction",
    "Accumulator",
    "gbdt",
    "ALIASES",
    "LOSSES",
    "available",
    "get",
    "__version__",
    *sorted(LOSSES),
    *sorted(ALIASES),
]
