"""Naive float64 references for the divergence family."""

CASES = []
