"""Timing shared by the benchmark scripts: interleaved rounds of the implementations of a case.

Scripts run as ``python benchmarks/<script>.py`` import it as ``timing`` (their folder is on
``sys.path``).
"""

from __future__ import annotations

import statistics
import time


def calls_for(first, repeats, budget_s):
    """How many timed calls: ``repeats``, fewer when a call (``first`` seconds) is slow."""
    return max(1, min(repeats, int(budget_s / max(first, 1e-9))))


def timeit_rounds(fns, repeats, budget_s, rounds=3, warm=True, prior=None):
    """``{key: (median, min)}`` seconds per call of each callable of ``fns``, timed in
    interleaved rounds: each round times every callable in turn, so a slow spell of the machine
    (they last seconds to minutes here) falls on all of them alike instead of on whichever ran
    then. One warm-up call each (``warm``), which also sizes the number of calls: ``repeats``,
    fewer when a call is slow (``budget_s`` per callable), spread over the rounds. In each round
    a fast callable first makes an untimed call (a thread pool another library left spinning is
    then not charged to it). ``prior``: ``{key: [seconds]}`` already measured, added to the
    samples; without ``warm`` its first entry sizes the number of calls instead."""
    first = {}
    for key, fn in fns.items():
        if warm:
            t0 = time.perf_counter()
            fn()
            first[key] = time.perf_counter() - t0
        else:
            first[key] = (prior or {}).get(key, [budget_s / repeats])[0]
    calls = {k: -(-calls_for(first[k], repeats, budget_s) // rounds) for k in fns}
    times = {k: list((prior or {}).get(k, ())) for k in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            if first[key] < 0.05:
                fn()
            for _ in range(calls[key]):
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}
