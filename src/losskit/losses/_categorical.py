"""Distribution losses over a class axis: categorical and sparse categorical cross-entropy and relatives."""

from __future__ import annotations

LOSSES = ()
