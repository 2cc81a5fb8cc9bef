"""Overlap losses for segmentation: Dice and its relatives (Jaccard/IoU, Tversky, focal Tversky,
generalised Dice), the Lovasz extensions of the Jaccard loss (hinge and softmax) and Dice plus
cross-entropy or focal loss.

Conventions shared by the family (each loss's docstring repeats what it needs):

- A *sample* is what remains after summing ``axis`` (``None`` = every axis: one global score,
  the course's formula). ``axis=(2, 3)`` on ``(B, C, H, W)`` gives one score per (image,
  class); ``reduction="mean"`` then averages them (MONAI's ``batch=False``), and
  ``axis=(0, 2, 3)`` sums the batch first (MONAI's ``batch=True``).
- ``y_true`` is either a mask/probability map of ``y_pred``'s shape (float, integer or
  boolean), or a map of integer class ids of ``y_pred``'s shape without the class axis (or with
  a size-1 class axis, MONAI's ``to_onehot_y``), which is one-hot encoded against
  ``arange(C)`` on ``class_axis``. The form is read from the shapes, never guessed from values.
- ``activation``: ``None`` (``y_pred`` holds probabilities in [0, 1]), ``"sigmoid"``,
  ``"softmax"`` (along ``class_axis``, default 1 = channels-first as in MONAI; use
  ``class_axis=-1`` for channels-last) or ``"tanh"`` (MONAI's ``other_act=torch.tanh``). The
  gradient and Hessian diagonal are taken with respect to the logits, through the activation,
  including its curvature (and, for the softmax, its coupling of the classes of a pixel).
- ``ignore_index``: entries of ``y_true`` equal to it are left out of every sum (for a class-id
  map, the whole pixel, all classes). ``include_background=False`` drops class 0;
  ``class_weight`` weights the per-class scores. Both need the class axis, and when the class
  axis is not summed they act as per-sample weights (so dropped classes leave the mean's
  denominator, PyTorch's rule); when it is summed, ``include_background=False`` removes class
  0's entries from the sums instead.

Modules: :mod:`.inputs` (predictions, targets, class weights, options), :mod:`.samples` (how
entries form samples), :mod:`.activation` (activations and their derivatives), :mod:`.ratio`
(the one implementation of Dice, Jaccard, Tversky, focal Tversky and generalised Dice),
:mod:`.overlap` (their records), :mod:`.lovasz` (Lovasz hinge and softmax) and
:mod:`.combos` (Dice plus cross-entropy or focal loss). This package module only assembles
their ``LOSSES`` and re-exports what other packages use.
"""

from __future__ import annotations

from . import combos, lovasz, overlap
from .inputs import smoothing
from .ratio import flat_below

__all__ = ["LOSSES", "flat_below", "smoothing"]

LOSSES = (*overlap.LOSSES, *lovasz.LOSSES, *combos.LOSSES)
