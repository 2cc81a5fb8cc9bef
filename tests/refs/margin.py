"""Naive float64 references for the margin family."""

CASES = []
