"""DataError, and the one-line summaries of other exceptions that its messages quote."""

from __future__ import annotations

__all__ = ["DataError", "short_error", "one_line"]


class DataError(ValueError):
    """A data file cannot be used: the message names the file, place and problem (one line)."""


def short_error(e: BaseException) -> str:
    """The first line of an exception's message (at most 160 characters), or its type's name."""
    return str(e).splitlines()[0][:160] if str(e) else type(e).__name__


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (whitespace runs collapsed, at most ``limit``
    characters), or its type's name when the message is empty."""
    return " ".join(str(e).split())[:limit] or type(e).__name__
