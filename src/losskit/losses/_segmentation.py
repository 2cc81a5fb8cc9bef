"""Overlap losses for segmentation: Dice and relatives."""

from __future__ import annotations

LOSSES = ()
