"""losskit's losses as ``torch.nn.Module`` classes, with torch's argument order.

::

    import losskit.torch as lkt

    criterion = lkt.SparseCategoricalCrossEntropy(from_logits=True, class_weight=[1.0, 2.0, 1.0])
    loss = criterion(logits, labels)          # prediction first, as every torch.nn loss
    loss.backward()

    lkt.Loss("focal", gamma=3.0, reduction="sum")   # any registered name or alias

``module(input, target, sample_weight=None)`` equals
``losskit.<name>(target, input, reduction=..., sample_weight=..., validate=..., **options)``:
the same value and the same closed-form backward (one autograd node), eager, on ``meta``
tensors and under ``torch.compile(fullgraph=True)``. ``reduction`` (``"mean"``, ``"sum"``,
``"none"`` or ``"sum_over_batch_size"``) and ``validate`` are set in the constructor, as torch
users expect.

Options are module state, nothing global: an option given as an array (a list, a NumPy array
or a tensor; one of :data:`losskit.spec.ARRAY_OPTIONS`, such as ``class_weight`` or
``pos_weight``) becomes a registered buffer (it follows ``.to(device, dtype)``, lives in
``state_dict`` and loads back; non-floating values are stored in torch's default float
dtype); scalar options stay plain attributes. Modules pickle (``torch.save``), deep-copy and
replicate (DDP) like any torch module.

Class names: one class per registered loss, named from its canonical name (aliases have no
class): the ``_``-separated words capitalised and joined, except the acronyms of
:data:`ACRONYMS`, written in capitals (``kl_divergence`` -> ``KLDivergence``,
``gaussian_nll`` -> ``GaussianNLL``). Names stay spelled out as the canonical names are
(``MeanSquaredError``, not ``MSELoss``); :data:`CLASSES` maps each canonical name to its class.

PyTorch is imported by this module only (never by ``import losskit``); it is the
``[torch]`` extra: ``pip install 'losskit[torch]'``.
"""

from __future__ import annotations

import inspect
from typing import Any

try:
    import torch
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "losskit.torch needs PyTorch, which is not installed: pip install 'losskit[torch]' "
        "(on a CPU-only machine install the CPU build first, e.g. pip install torch==2.13.0)"
    ) from _missing

from . import registry
from ._array.validate import LossInputError, check_flag
from .api import signature
from .reductions import check_reduction
from .registry import ACRONYMS, class_name
from .spec import ARRAY_OPTIONS
from .spec import Loss as LossRecord

__all__ = ["Loss", "ACRONYMS", "CLASSES", "class_name"]

# Attributes of every module: no option may take one of these names.
_OWN = ("name", "function", "record", "options", "reduction", "validate", "option_names")


def _is_array(value: Any) -> bool:
    """True for an array-like option value (a tensor, NumPy array, list or tuple), False for
    a scalar (a Python or NumPy number, a 0-d NumPy array) or None."""
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return True
    shape = getattr(value, "shape", None)
    return shape is not None and len(shape) > 0


def _as_buffer(name: str, value: Any) -> torch.Tensor:
    """An array option as a tensor: tensors stay as given (torch's own losses keep their
    ``weight``); other arrays are copied; non-floating values become the default float dtype."""
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(value).clone()  # a copy: later changes to a NumPy array stay out
        except (TypeError, ValueError, RuntimeError) as e:
            raise LossInputError(f"option {name} must be a number or an array of numbers; got {value!r}") from e
    if not (tensor.is_floating_point() or tensor.is_complex()):
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


class Loss(torch.nn.Module):
    """A losskit loss as a ``torch.nn.Module``: ``Loss(name, *, reduction="mean",
    validate=True, **options)``, called as ``module(input, target, sample_weight=None)``.

    ``name`` is any registered loss name or alias (:func:`losskit.available`); ``options``
    are the loss's own options (an unknown one raises :class:`losskit.LossInputError` here).
    The call equals ``losskit.get(name)(target, input, reduction=reduction,
    sample_weight=sample_weight, validate=validate, **options)``.

    >>> import torch, losskit.torch as lkt
    >>> mse = lkt.Loss("mse", reduction="sum")
    >>> mse
    Loss('mean_squared_error', reduction='sum')
    >>> mse(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]))
    tensor(5.)
    """

    def __init__(self, name: str, *, reduction: str = "mean", validate: bool = True, **options: Any) -> None:
        super().__init__()
        function = registry.get(name)
        record = function.record
        function.configured(**options)  # unknown options raise LossInputError now
        if "sample_weight" in options:  # configured() takes it; a module takes it per call
            raise LossInputError(f"sample_weight is not an option of {record.name}; pass it to the call: "
                                 "module(input, target, sample_weight=w)")
        self.name = record.name
        self.function = registry.LOSSES[record.name]
        self.reduction = check_reduction(reduction)
        self.validate = check_flag(validate, "validate")
        self.option_names = tuple(record.options)
        values = {**record.options, **options}
        for key in self.option_names:
            value = values[key]
            if key in ARRAY_OPTIONS and _is_array(value):
                self.register_buffer(key, _as_buffer(key, value))
            else:
                setattr(self, key, value)

    @property
    def record(self) -> LossRecord:
        """The loss's :class:`losskit.spec.Loss` record (formulas, options, traits)."""
        return self.function.record

    @property
    def options(self) -> dict[str, Any]:
        """The loss's options as this module passes them (buffers included)."""
        return {key: getattr(self, key) for key in self.option_names}

    def forward(self, input: torch.Tensor, target: Any, sample_weight: Any = None) -> torch.Tensor:
        """The loss of prediction ``input`` against ``target`` (torch's order; losskit's
        functions take ``(target, input)``), reduced by the module's ``reduction``."""
        return self.function(target, input, reduction=self.reduction, sample_weight=sample_weight,
                             validate=self.validate, **self.options)

    def extra_repr(self) -> str:
        parts = [] if type(self) is not Loss and CLASSES.get(self.name) is type(self) else [repr(self.name)]
        defaults = self.record.options
        for key in self.option_names:
            value = getattr(self, key)
            if isinstance(value, torch.Tensor):
                parts.append(f"{key}={_tensor_text(value)}")
            elif not _same(value, defaults[key]):
                parts.append(f"{key}={value!r}")
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        if not self.validate:
            parts.append("validate=False")
        return ", ".join(parts)


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError, RuntimeError):
        return False


def _tensor_text(t: torch.Tensor) -> str:
    """A short, one-line text of a buffer: its values when few and readable, else its shape."""
    dtype = str(t.dtype).replace("torch.", "")
    if t.numel() <= 8 and t.device.type != "meta":
        return f"tensor({t.detach().cpu().tolist()}, dtype={dtype})"
    return f"tensor(shape={tuple(t.shape)}, dtype={dtype}, device={t.device})"


def _init_signature(record: LossRecord) -> inspect.Signature:
    """``(self, *, option=default, ..., reduction="mean", validate=True) -> None``, with
    the types of :func:`losskit.spec.option_type` (from :func:`losskit.api.signature`)."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [p for p in signature(record).parameters.values()
               if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "sample_weight"]
    return inspect.Signature(params, return_annotation=None)


def _class_doc(record: LossRecord, cls: str) -> str:
    call = inspect.Signature([p for p in _init_signature(record).parameters.values() if p.name != "self"])
    plain = call.replace(parameters=[p.replace(annotation=inspect.Parameter.empty) for p in call.parameters.values()],
                         return_annotation=inspect.Signature.empty)
    head = (f"{cls}{plain}\n\n"
            f"losskit's ``{record.name}`` as a ``torch.nn.Module``: ``module(input, target, sample_weight=None)``\n"
            f"takes the prediction first, as torch's losses do, and equals\n"
            f"``losskit.{record.name}(target, input, reduction=..., sample_weight=..., validate=..., **options)``.\n"
            f"Array options ({', '.join(sorted(ARRAY_OPTIONS & set(record.options))) or 'none here'}) given as\n"
            f"arrays are buffers (``.to()``, ``state_dict``); see :mod:`losskit.torch`.\n\n"
            f"The loss (``help(losskit.{record.name})``):\n\n")
    return head + inspect.cleandoc(record.doc or record.summary or "")


def _make_class(record: LossRecord) -> type[Loss]:
    name, cls = record.name, class_name(record.name)

    def __init__(self: Loss, *, reduction: str = "mean", validate: bool = True, **options: Any) -> None:
        Loss.__init__(self, name, reduction=reduction, validate=validate, **options)

    __init__.__signature__ = _init_signature(record)  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls}.__init__"
    __init__.__doc__ = f"Build the module; the options are those of ``losskit.{name}``."
    return type(cls, (Loss,), {"__init__": __init__, "__doc__": _class_doc(record, cls), "__module__": __name__,
                               "__qualname__": cls})


# Every registered loss's class, by canonical name (generated from the registry).
CLASSES: dict[str, type[Loss]] = registry.generated_classes(_make_class, set(_OWN) | set(dir(torch.nn.Module)), "torch.nn.Module")
globals().update({c.__name__: c for c in CLASSES.values()})
__all__ += sorted(c.__name__ for c in CLASSES.values())
