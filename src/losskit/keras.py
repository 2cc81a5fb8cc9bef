"""losskit's losses as ``keras.losses.Loss`` classes (Keras 3: JAX, PyTorch or NumPy backend).

::

    import losskit.keras as lkk

    model.compile(optimizer="adam", loss=lkk.BinaryCrossEntropy(from_logits=True))
    model.fit(x, y, sample_weight=w)          # Keras applies the weights and its reduction
    model.save("m.keras")
    keras.models.load_model("m.keras")        # no custom_objects (losskit.keras is imported)

    lkk.Loss("focal", gamma=3.0)              # any registered name or alias
    lkk.Loss(lk.get("bce", from_logits=True)) # or a configured losskit loss

``call(y_true, y_pred)`` returns per-sample values, so Keras applies ``sample_weight``, masks
and its own ``reduction`` (``"sum_over_batch_size"`` by default) exactly as for its built-in
losses. The per-sample values are Keras's: ``y_true`` and ``y_pred`` are first brought to the
same rank as Keras does (a trailing axis of size 1 added or squeezed); then

- elementwise losses (MSE, BCE, hinge, Huber, ...) are averaged over the last axis, as
  ``keras.losses.mean_squared_error`` does (``(N, k)`` gives ``(N,)``);
- distribution losses (cross-entropies, KL, cosine, ...) reduce their class ``axis`` only;
- overlap losses (Dice, Tversky, ...) give what remains after summing their ``axis``
  (``axis=None``: one value per batch, as Keras's ``Dice()``).

Class and sample weights of the loss itself (``class_weight``) multiply the values; samples
of ``ignore_index`` are zero and masked, so Keras's default reduction divides by the kept
samples only (Keras's ``ignore_class``).

Options keep losskit's defaults; Keras's conventions are options (README, "Coming from
Keras"): e.g. ``BinaryCrossEntropy(epsilon=1e-7)`` is ``keras.losses.BinaryCrossentropy()``
and ``CategoricalCrossEntropy(renormalize=True, epsilon=1e-7)`` is
``keras.losses.CategoricalCrossentropy()``.

Class names: one class per registered loss, named from its canonical name as in
:mod:`losskit.torch` (``binary_focal_cross_entropy`` -> ``BinaryFocalCrossEntropy``,
``kl_divergence`` -> ``KLDivergence``); :data:`CLASSES` maps each canonical name to its class.
Every class is registered with ``keras.saving.register_keras_serializable(package="losskit")``
when this module is imported: import it before ``keras.models.load_model``.

Keras is imported by this module only (never by ``import losskit``); it is the ``[keras]``
extra: ``pip install 'losskit[keras]'`` (set ``KERAS_BACKEND`` to ``jax`` or ``torch``
before the first import of Keras if TensorFlow is not installed).
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

try:
    import keras
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess by the tests
    if importlib.util.find_spec("keras") is None:
        raise ImportError("losskit.keras needs Keras 3, which is not installed: pip install 'losskit[keras]'") from _missing
    raise ImportError(
        f"losskit.keras: Keras is installed but failed to import ({_missing}); Keras 3 loads the backend named by "
        "KERAS_BACKEND (default tensorflow): set KERAS_BACKEND=jax or KERAS_BACKEND=torch before importing it, "
        "or pip install 'losskit[keras]'"
    ) from _missing

if int(keras.__version__.split(".")[0]) < 3:  # pragma: no cover - Keras 2 has another Loss API
    raise ImportError(f"losskit.keras needs Keras 3 (found {keras.__version__}): pip install 'losskit[keras]'")

from . import registry
from ._array.validate import LossInputError, check_flag
from .api import LossFunction, signature
from .registry import ACRONYMS, class_name
from .spec import ARRAY_OPTIONS, COMMON_OPTIONS
from .spec import Loss as LossRecord

__all__ = ["Loss", "ACRONYMS", "CLASSES", "class_name"]

PACKAGE = "losskit"  # the package name of the registered classes ("losskit>BinaryCrossEntropy")

# Arguments of every class: no option may take one of these names.
_OWN = ("loss", "name", "reduction", "dtype", "validate")


def _is_array(value: Any) -> bool:
    """True for an array-like option value (a list, tuple or array with axes)."""
    if isinstance(value, (list, tuple)):
        return True
    shape = getattr(value, "shape", None)
    return shape is not None and len(shape) > 0


def _to_numpy(value: Any) -> np.ndarray:
    """An array option (a list, NumPy, JAX or torch array) as a NumPy copy."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        out = np.array(value)
    except (TypeError, ValueError) as e:
        raise LossInputError(f"an array option must be a number or an array of numbers; got {value!r}") from e
    if out.dtype.kind not in "biuf":
        raise LossInputError(f"an array option must hold numbers; got {value!r}")
    return out


def _plain(value: Any) -> Any:
    """An option value as JSON-able Python (lists for arrays and tuples, numbers for NumPy scalars)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _option(key: str, value: Any) -> Any:
    """How an option is kept: array options as NumPy arrays (converted to the prediction's
    library at each call), other sequences (``axis=(1, 2)``) as tuples, the rest as given."""
    if key in ARRAY_OPTIONS and _is_array(value):
        return _to_numpy(value)
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, np.generic):  # a NumPy number: its Python number
        return value.item()
    return value


def _same_rank(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Keras's rule for labels and predictions whose ranks differ by one (its losses' own
    ``squeeze_or_expand_to_same_rank``): a trailing axis of size 1 is added to a 1-D array
    or squeezed from the other."""
    ops = keras.ops
    t, p = len(y_true.shape), len(y_pred.shape)
    if t == p + 1 and y_true.shape[-1] == 1:
        if p == 1:
            y_pred = ops.expand_dims(y_pred, axis=-1)
        else:
            y_true = ops.squeeze(y_true, axis=-1)
    elif p == t + 1 and y_pred.shape[-1] == 1:
        if t == 1:
            y_true = ops.expand_dims(y_true, axis=-1)
        else:
            y_pred = ops.squeeze(y_pred, axis=-1)
    return y_true, y_pred


def _set_mask(values: Any, mask: Any) -> None:
    """Attach a Keras mask to ``values`` (what Keras's own ``ignore_class`` does), so that its
    reduction leaves masked samples out of the denominator."""
    try:
        from keras.src.backend import set_keras_mask  # Keras >= 3.6
    except ImportError:  # pragma: no cover - older Keras 3 reads the attribute itself
        values._keras_mask = mask
    else:
        set_keras_mask(values, mask)


class Loss(keras.losses.Loss):
    """A losskit loss as a ``keras.losses.Loss``: ``Loss(loss, *, reduction="sum_over_batch_size",
    name=None, dtype=None, validate=True, **options)``.

    ``loss`` is a registered loss name or alias (:func:`losskit.available`) or a configured
    :class:`losskit.LossFunction` (``lk.get("bce", from_logits=True)``: its bound options are
    the defaults); ``options`` are the loss's own options (an unknown one raises
    :class:`losskit.LossInputError` here). ``reduction``, ``name`` and ``dtype`` are Keras's
    (``name`` defaults to the loss's canonical name). ``call(y_true, y_pred)`` gives the
    per-sample values (see :mod:`losskit.keras`); Keras weights and reduces them.

    >>> import numpy as np, losskit.keras as lkk
    >>> mse = lkk.Loss("mse")
    >>> mse
    Loss('mean_squared_error')
    >>> float(mse(np.array([[1.0, 2.0], [0.0, 0.0]]), np.zeros((2, 2)), sample_weight=np.array([1.0, 0.0])))
    1.25
    """

    def __init__(self, loss: str | LossFunction, /, *, reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, validate: bool = True, **options: Any) -> None:
        if isinstance(loss, LossFunction):
            bound = dict(loss.bound)
            for key in ("reduction", "sample_weight"):
                if key in bound:
                    raise LossInputError(f"{loss.name}: {key} is not a loss option here; Keras applies the "
                                         f"sample_weight of fit/evaluate and the Loss's reduction argument")
            validate = bound.pop("validate", validate)
            options = {**bound, **options}
            loss = loss.name
        function = registry.get(loss)
        record = function.record
        if "sample_weight" in options:
            raise LossInputError(f"sample_weight is not an option of {record.name}; pass it to the call, "
                                 "model.fit or model.evaluate")
        function.configured(**options)  # unknown options raise LossInputError now
        super().__init__(name=name or record.name, reduction=reduction, dtype=dtype)
        self.loss = record.name
        self.function = registry.LOSSES[record.name]
        self.validate = check_flag(validate, "validate")
        self._dtype_arg = dtype
        self.options = {key: _option(key, value) for key, value in options.items()}

    @property
    def record(self) -> LossRecord:
        """The loss's :class:`losskit.spec.Loss` record (formulas, options, traits)."""
        return self.function.record

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The per-sample losses of ``y_pred`` against ``y_true`` (backend tensors, already of
        the Loss's dtype), before Keras's weights, masks and reduction."""
        y_true, y_pred = _same_rank(y_true, y_pred)
        values = self.function(y_true, y_pred, reduction="none", validate=self.validate, **self.options)
        if self.record.structure == "elementwise" and len(values.shape) > 0:
            values = keras.ops.mean(values, axis=-1)  # Keras's per-sample value: the last axis averaged
        ignore = self.options.get("ignore_index", self.record.options.get("ignore_index"))
        if ignore is not None and self.record.structure == "distribution":
            labels = keras.ops.reshape(y_true, keras.ops.shape(values))
            _set_mask(values, keras.ops.not_equal(labels, keras.ops.cast(ignore, labels.dtype)))
        return values

    def get_config(self) -> dict[str, Any]:
        """``name``, ``reduction`` (and ``dtype`` when given), ``validate`` when False, the
        loss's options as JSON-able values (arrays as lists); the base class adds ``loss``."""
        config: dict[str, Any] = {"name": self.name, "reduction": self.reduction}
        if type(self) is Loss:
            config["loss"] = self.loss
        if self._dtype_arg is not None:
            dtype = self._dtype_arg
            config["dtype"] = dtype if isinstance(dtype, str) else keras.dtype_policies.serialize(dtype)
        if not self.validate:
            config["validate"] = False
        config.update({key: _plain(value) for key, value in self.options.items()})
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Loss:
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        if "loss" in config:
            return cls(config.pop("loss"), **config)
        generated: Any = cls  # a generated class: the loss is its own
        return generated(**config)

    def __repr__(self) -> str:
        generated = CLASSES.get(self.loss) is type(self)
        parts = [] if generated else [repr(self.loss)]
        defaults = self.record.options
        for key, value in self.options.items():
            if isinstance(value, np.ndarray):
                parts.append(f"{key}={value.tolist()!r}" if value.size <= 8 else f"{key}=<array {value.shape}>")
            elif not _same(value, defaults.get(key)):
                parts.append(f"{key}={value!r}")
        if self.reduction != "sum_over_batch_size":
            parts.append(f"reduction={self.reduction!r}")
        if self.name != self.loss:
            parts.append(f"name={self.name!r}")
        if not self.validate:
            parts.append("validate=False")
        return f"{type(self).__name__}({', '.join(parts)})"


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False


keras.saving.register_keras_serializable(package=PACKAGE, name="Loss")(Loss)


def _init_signature(record: LossRecord) -> inspect.Signature:
    """``(self, *, option=default, ..., reduction="sum_over_batch_size", name=None, dtype=None,
    validate=True) -> None`` with the types of :func:`losskit.spec.option_type`."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [p for p in signature(record).parameters.values()
               if p.kind is keyword and p.name not in COMMON_OPTIONS]
    params += [inspect.Parameter("reduction", keyword, default="sum_over_batch_size", annotation=str | None),
               inspect.Parameter("name", keyword, default=None, annotation=str | None),
               inspect.Parameter("dtype", keyword, default=None, annotation=Any),
               inspect.Parameter("validate", keyword, default=True, annotation=bool)]
    return inspect.Signature(params, return_annotation=None)


def _class_doc(record: LossRecord, cls: str) -> str:
    call = inspect.Signature([p.replace(annotation=inspect.Parameter.empty)
                              for p in _init_signature(record).parameters.values() if p.name != "self"])
    head = (f"{cls}{call}\n\n"
            f"losskit's ``{record.name}`` as a ``keras.losses.Loss``: ``call(y_true, y_pred)`` gives\n"
            f"the per-sample values of ``losskit.{record.name}(y_true, y_pred, reduction=\"none\", **options)``\n"
            f"({'averaged over the last axis' if record.structure == 'elementwise' else 'as they are'}); "
            f"Keras applies sample_weight and its reduction. See :mod:`losskit.keras`.\n\n"
            f"The loss (``help(losskit.{record.name})``):\n\n")
    return head + inspect.cleandoc(record.doc or record.summary or "")


def _make_class(record: LossRecord) -> type[Loss]:
    loss_name, cls = record.name, class_name(record.name)

    def __init__(self: Loss, *, reduction: str | None = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None, validate: bool = True, **options: Any) -> None:
        Loss.__init__(self, loss_name, reduction=reduction, name=name, dtype=dtype, validate=validate, **options)

    __init__.__signature__ = _init_signature(record)  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls}.__init__"
    __init__.__doc__ = f"Build the loss; the options are those of ``losskit.{loss_name}``."
    made = type(cls, (Loss,), {"__init__": __init__, "__doc__": _class_doc(record, cls), "__module__": __name__,
                               "__qualname__": cls})
    return keras.saving.register_keras_serializable(package=PACKAGE, name=cls)(made)


# Every registered loss's class, by canonical name (generated from the registry).
CLASSES: dict[str, type[Loss]] = registry.generated_classes(_make_class, set(_OWN) | set(dir(keras.losses.Loss)), "keras.losses.Loss")
globals().update({c.__name__: c for c in CLASSES.values()})
__all__ += sorted(c.__name__ for c in CLASSES.values())
