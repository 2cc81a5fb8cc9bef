"""Naive float64 references for the segmentation family."""

CASES = []
