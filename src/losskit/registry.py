"""The explicit list of losses, their aliases, :func:`get` and :func:`available`.

Adding a loss is one entry in its family module's ``LOSSES`` tuple; its record carries
its aliases, so nothing here changes.
"""

from __future__ import annotations

import copyreg
import difflib

from ._array.validate import LossInputError
from .api import LossFunction
from .losses import (
    categorical,
    categorical_variants,
    classification,
    divergence,
    margin,
    multiclass_margin,
    probabilistic_regression,
    regression,
    segmentation,
    similarity,
    soft_margin,
)

_RECORDS = (
    *regression.LOSSES,
    *probabilistic_regression.LOSSES,
    *classification.LOSSES,
    *categorical.LOSSES,
    *categorical_variants.LOSSES,
    *margin.LOSSES,
    *multiclass_margin.LOSSES,
    *soft_margin.LOSSES,
    *divergence.LOSSES,
    *similarity.LOSSES,
    *segmentation.LOSSES,
)

LOSSES = {rec.name: LossFunction(rec) for rec in _RECORDS}
ALIASES = {alias: rec.name for rec in _RECORDS for alias in rec.aliases}

assert len(LOSSES) == len(_RECORDS), "duplicate loss name"
assert not set(ALIASES) & set(LOSSES), "an alias shadows a loss name"

__all__ = ["ALIASES", "LOSSES", "ACRONYMS", "get", "available", "resolve", "aliases_of", "class_name", "generated_classes"]


def resolve(name: str) -> str:
    """Canonical name of ``name`` (a canonical name or an alias; case and '-' vs '_' ignored)."""
    if not isinstance(name, str):
        raise LossInputError(f"loss name must be a string; got {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in LOSSES:
        close = difflib.get_close_matches(key, list(LOSSES) + list(ALIASES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see losskit.available()"
        raise LossInputError(f"unknown loss {name!r}{hint}")
    return key


def get(name: str, **options) -> LossFunction:
    """The loss called ``name`` (canonical or alias), with ``options`` bound as defaults.

    >>> import losskit as lk
    >>> bce = lk.get("bce", from_logits=True)
    >>> bce.name
    'binary_cross_entropy'
    """
    fn = LOSSES[resolve(name)]
    return fn.configured(**options) if options else fn


def available(*, aliases: bool = True) -> list[str]:
    """Sorted canonical loss names (and aliases, unless ``aliases=False``)."""
    names = set(LOSSES)
    if aliases:
        names |= set(ALIASES)
    return sorted(names)


def aliases_of(name: str) -> list[str]:
    return sorted(a for a, c in ALIASES.items() if c == name)


# Words written in capitals in class names (every other word is capitalised).
ACRONYMS = {"kl": "KL", "nll": "NLL"}


def class_name(name: str) -> str:
    """The class name of loss ``name`` (canonical) in losskit.torch and losskit.keras: the
    ``_``-separated words capitalised and joined, :data:`ACRONYMS` in capitals.

    >>> class_name("binary_focal_cross_entropy"), class_name("reverse_kl_divergence"), class_name("smooth_l1")
    ('BinaryFocalCrossEntropy', 'ReverseKLDivergence', 'SmoothL1')
    """
    return "".join(ACRONYMS.get(word, word[:1].upper() + word[1:]) for word in name.split("_"))


def generated_classes(make, reserved, base: str) -> dict:
    """One class per registered loss, ``make(record)``, by canonical name (losskit.torch and
    losskit.keras): no option may share a name with ``reserved`` (the base class's own
    arguments and attributes), and no two classes, nor the base ``Loss``, share a name."""
    out = {}
    for loss_name, fn in LOSSES.items():
        clash = set(fn.record.options) & set(reserved)
        assert not clash, f"{loss_name}: options {sorted(clash)} clash with {base} attributes"
        out[loss_name] = make(fn.record)
    assert len({c.__name__ for c in out.values()} | {"Loss"}) == len(out) + 1, "two losses share a class name"
    return out


def _rebuild(name, bound):
    return get(name, **bound)


# Losses pickle by name and bound options (for process pools and Dask workers); registered
# here, where names are known, so api.py needs no import of the registry.
copyreg.pickle(LossFunction, lambda fn: (_rebuild, (fn.record.name, fn.bound)))
