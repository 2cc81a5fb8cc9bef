"""Margin losses: hinge, squared hinge, multiclass (Crammer-Singer, Weston-Watkins) hinge."""

from __future__ import annotations

LOSSES = ()
