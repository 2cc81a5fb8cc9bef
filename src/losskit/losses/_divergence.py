"""Divergences and similarities between distributions or vectors: KL and relatives."""

from __future__ import annotations

LOSSES = ()
