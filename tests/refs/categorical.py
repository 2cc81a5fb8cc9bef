"""Naive float64 references for the categorical family."""

CASES = []
