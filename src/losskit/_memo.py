"""The one memo rule of losskit's call machinery: answers that depend only on a call's signature
(its options, its arrays' types, dtypes and shapes) are worked out once per signature.

Each memo is a plain dict owned by the code that fills it; :func:`remembered` is how every one
is read and filled, so they all bound their size and treat unhashable keys the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["remembered"]


def remembered(store: dict, key: Any, make: Callable[..., Any], *args: Any, limit: int = 256) -> Any:
    """``store[key]``, filled by ``make(*args)`` on a miss (arguments rather than a closure: a
    hit, most calls, then costs a dict lookup and this call). The store is emptied when it holds
    ``limit`` entries (a bound on memory, not an eviction policy: a program calls a loss with a
    few signatures). An unhashable key (an option holding a list) is not kept: ``make`` runs
    every time. Whatever ``make`` raises propagates, and nothing is stored."""
    try:
        return store[key]
    except KeyError:
        pass
    except TypeError:
        return make(*args)
    out = make(*args)
    if len(store) >= limit:
        store.clear()
    store[key] = out
    return out
