"""Reference cases for every registered loss, one module per family."""

from . import binary, categorical, divergence, margin, regression, segmentation
from .spec import Case

CASES: list[Case] = [
    *regression.CASES,
    *binary.CASES,
    *categorical.CASES,
    *margin.CASES,
    *divergence.CASES,
    *segmentation.CASES,
]
