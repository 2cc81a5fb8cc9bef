"""The distribution kernels on logits (sparse and dense categorical cross-entropy and KL
divergence through a softmax over the last axis). See :mod:`.distribution` for the layout,
domains and accuracy; the planners there choose these kernels."""

from __future__ import annotations

import numpy as np

from .driver import BLOCK, NAN, block_sum, jit
from .fastmath import exp_for, log_for
from .rows import _count_outside, _helper, _in_tol, _log1p_rest, _seg_sums, bregman_g, sum_minus_one


# ---------------------------------------------------------------------------------------
# logits: SCCE and CCE
# ---------------------------------------------------------------------------------------
@_helper
def _exps(zb, m, zmin, eb, gb, grad, like):
    """eb[i] = e^zb[i] where zb[i] < 0, else 0 (the maxima: rest's sum leaves them out), and
    with ``grad`` gb[i] = e^zb[i] (1 at the maxima); 0 below zmin (float32's underflow)."""
    if grad:
        for i in range(m):
            z = zb[i]
            e = exp_for(z, like) if z >= zmin else 0.0
            eb[i] = e if z < 0.0 else 0.0
            gb[i] = e
    else:
        for i in range(m):
            z = zb[i]
            e = exp_for(z, like) if z >= zmin else 0.0
            eb[i] = e if z < 0.0 else 0.0


@_helper
def _long_max(xr, C):
    """The maximum of a long row, eight running maxima (NaN is rejected before)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = xr[0]
    c = 0
    while c + 8 <= C:
        a0 = max(a0, xr[c])
        a1 = max(a1, xr[c + 1])
        a2 = max(a2, xr[c + 2])
        a3 = max(a3, xr[c + 3])
        a4 = max(a4, xr[c + 4])
        a5 = max(a5, xr[c + 5])
        a6 = max(a6, xr[c + 6])
        a7 = max(a7, xr[c + 7])
        c += 8
    while c < C:
        a0 = max(a0, xr[c])
        c += 1
    return max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))


@_helper
def _softmax_rows(xb, tb, nr, C, zmin, zb, eb, vb, mx, rest, ssum, vsum, gb, grad, dense):
    """Row quantities of log-softmax for the block's nr rows (_math.max_and_log1p_rest):
    mx[k], the row's maximum, and rest[k] = sum_{x < max} e^(x - max) + (ties - 1), the sum
    without its leading 1, so a dominant class keeps its tiny remainder. With ``grad``,
    gb = e^(x - max) (1 at the maxima); with ``dense`` targets tb, ssum[k] = sum_c t_c and
    vsum[k] = sum_c t_c (max - x_c) (non-negative terms).

    Rows of at most BLOCK entries: each row's max and its shifted entries x - max (exact in
    float64 for float32 data) go to zb, then one flat pass of exponentials over the block
    and the per-row sums. Longer rows (one per block): the max, then chunks of BLOCK."""
    n = nr * C
    rest[:nr] = 0.0
    ssum[:nr] = 0.0
    vsum[:nr] = 0.0
    like = xb[0]
    if C <= BLOCK:
        for k in range(nr):
            xr = xb[k * C:(k + 1) * C]
            zr = zb[k * C:(k + 1) * C]
            m = xr[0]
            for c in range(C):
                v = xr[c]
                m = v if v > m else m
            mf = np.float64(m)
            ties = 0
            for c in range(C):
                z = np.float64(xr[c]) - mf
                zr[c] = z
                ties += z == 0.0
            mx[k] = mf
            rest[k] = ties - 1.0
        _exps(zb, n, zmin, eb, gb, grad, like)
        _seg_sums(eb, n, 0, C, rest)
        if dense:
            for i in range(n):
                vb[i] = np.float64(tb[i]) * -zb[i]
            _seg_sums(tb, n, 0, C, ssum)
            _seg_sums(vb, n, 0, C, vsum)
    else:
        for k in range(nr):  # one row
            xr = xb[k * C:(k + 1) * C]
            m = _long_max(xr, C)
            ties = 0
            for c in range(C):
                ties += xr[c] == m
            mf = np.float64(m)
            mx[k] = mf
            acc = ties - 1.0
            for j0 in range(0, C, BLOCK):
                mm = min(BLOCK, C - j0)
                xc = xr[j0:j0 + mm]
                for i in range(mm):
                    zb[i] = np.float64(xc[i]) - mf
                _exps(zb, mm, zmin, eb, gb[k * C + j0:k * C + j0 + mm], grad, like)
                acc += block_sum(eb, mm)
                if dense:
                    tc = tb[k * C + j0:k * C + j0 + mm]
                    for i in range(mm):
                        vb[i] = np.float64(tc[i]) * -zb[i]
                    ssum[k] += block_sum(tc, mm)
                    vsum[k] += block_sum(vb, mm)
            rest[k] = acc


@jit
def _scce_logits(lab, x, g, scale, C, lmax, zmin, grad):
    """SCCE on logits: per row log1p(rest) + (max - x_y); gradient softmax(x) - onehot(y), the
    true class as -(1 - p_y) (rest / (1 + rest) at a maximum: no cancellation).
    Domain: labels in [0, C), finite logits within +-lmax."""
    rows = x.size // C
    rb = max(1, BLOCK // C)
    w = min(BLOCK, rb * C)
    zb = np.empty(w)
    eb = np.empty(w)
    mx = np.empty(rb)
    rest = np.empty(rb)
    unused = np.empty(rb)
    vals = np.empty(rb)
    total = 0.0
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * C, nr * C
        xb = x[b0:b0 + n]
        bad = _count_outside(xb, n, -lmax, lmax)
        for k in range(nr):
            y = np.int64(lab[r0 + k])
            bad += (y < 0) | (y >= C)
        if bad:
            return NAN
        gb = g[b0:b0 + n] if grad else g
        _softmax_rows(xb, xb, nr, C, zmin, zb, eb, eb, mx, rest, unused, unused, gb, grad, False)
        for k in range(nr):
            y = np.int64(lab[r0 + k])
            vals[k] = _log1p_rest(rest[k], xb[0]) - (np.float64(xb[k * C + y]) - mx[k])
        total += block_sum(vals, nr)
        if grad:
            for k in range(nr):
                y = np.int64(lab[r0 + k])
                inv = 1.0 / (1.0 + rest[k])
                si = scale * inv
                gr = gb[k * C:(k + 1) * C]
                ey = np.float64(gr[y])  # e^(x_y - max): 1 at a maximum
                for c in range(C):
                    gr[c] = gr[c] * si
                u = rest[k] * inv if ey == 1.0 else 1.0 - ey * inv
                gr[y] = -u * scale
    return total


@jit
def _cce_logits(t, x, g, scale, C, lmax, zmin, tau, grad):
    """CCE on logits against target rows t >= 0 summing to 1: per row
    S log1p(rest) + sum_c t_c (max - x_c) (both parts non-negative), S = sum_c t_c; gradient
    (S - t_c) p_c - t_c (1 - p_c), with 1 - p = rest / (1 + rest) where e^(x - max) = 1.
    Domain: finite logits within +-lmax, t >= 0, rows of t summing to 1."""
    rows = x.size // C
    rb = max(1, BLOCK // C)
    w = min(BLOCK, rb * C)
    zb = np.empty(w)
    eb = np.empty(w)
    vb = np.empty(w)
    mx = np.empty(rb)
    rest = np.empty(rb)
    ssum = np.empty(rb)
    vsum = np.empty(rb)
    vals = np.empty(rb)
    total = 0.0
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * C, nr * C
        xb, tb = x[b0:b0 + n], t[b0:b0 + n]
        if _count_outside(xb, n, -lmax, lmax) + _count_outside(tb, n, 0.0, 2.0):
            return NAN
        gb = g[b0:b0 + n] if grad else g
        _softmax_rows(xb, tb, nr, C, zmin, zb, eb, vb, mx, rest, ssum, vsum, gb, grad, True)
        ok = 0
        for k in range(nr):
            ok += _in_tol(ssum[k], tau)
            vals[k] = ssum[k] * _log1p_rest(rest[k], xb[0]) + vsum[k]
        if ok != nr:
            return NAN
        total += block_sum(vals, nr)
        if grad:
            for k in range(nr):
                inv = 1.0 / (1.0 + rest[k])
                ui = rest[k] * inv
                s = ssum[k]
                gr = gb[k * C:(k + 1) * C]
                tr = tb[k * C:(k + 1) * C]
                for c in range(C):
                    e = np.float64(gr[c])
                    a = np.float64(tr[c])
                    pc = e * inv
                    u = ui if e == 1.0 else 1.0 - pc
                    gr[c] = ((s - a) * pc - a * u) * scale
    return total


@_helper
def _kl_terms(tr, xr, er, gr, m, inv, mx, l1p, s, scale, buf, grad, like):
    """KL's Bregman terms of ``m`` entries of a row into ``buf`` (and its gradient ``(S q - t)
    scale`` into ``gr`` with ``grad``): see :func:`_kl_logits`. Branch-free, with the series
    written out (:func:`.rows.bregman_g`): the loop vectorises."""
    for i in range(m):
        a = np.float64(tr[i])
        q = er[i] * inv
        lq = (np.float64(xr[i]) - mx) - l1p
        d = a - q
        u = d / (a + q if a + q > 0.0 else 1.0)
        z = u * u
        series = (d * u) * ((u + z) * bregman_g(z, like) + 1.0)
        direct = (a * (log_for(a if a > 0.0 else 1.0, like) - lq) - a) + q
        near = (a >= 0.5 * q) & (a <= 2.0 * q) & (q > 0.0)
        buf[i] = series if near else direct
        if grad:
            gr[i] = (s * q - a) * scale


@jit
def _kl_logits(t, x, g, scale, C, lmax, zmin, tau, grad):
    """KL(t || q) on logits, q = softmax(x): per row sum_c B(t_c, q_c) + (S - 1), S = sum_c t_c,
    with the Bregman terms B(t, q) = t (log t - log q) - t + q >= 0 (0 log 0 = 0), the series
    (to the reference's length for the dtype) near t = q (q/2 <= t <= 2q), log q = (x - max) - log1p(rest) and q =
    e^(x - max) / (1 + rest) (_math.bregman_kl with log_b, as _divergence._kl_value); gradient
    S q_c - t_c (_math.scaled_softmax_minus). Domain: finite logits within +-lmax, t in [0, 1],
    rows of t summing to 1."""
    rows = x.size // C
    rb = max(1, BLOCK // C)
    w = min(BLOCK, rb * C)
    zb = np.empty(w)
    eb = np.empty(w)
    vb = np.empty(w)
    ea = np.empty(rb * C)  # e^(x - max) of the block (1 at the maxima)
    buf = np.empty(BLOCK)
    mx = np.empty(rb)
    rest = np.empty(rb)
    ssum = np.empty(rb)
    vsum = np.empty(rb)
    total = 0.0
    like = x[0]
    for r0 in range(0, rows, rb):
        nr = min(rb, rows - r0)
        b0, n = r0 * C, nr * C
        xb, tb = x[b0:b0 + n], t[b0:b0 + n]
        if _count_outside(xb, n, -lmax, lmax) + _count_outside(tb, n, 0.0, 1.0):
            return NAN
        _softmax_rows(xb, tb, nr, C, zmin, zb, eb, vb, mx, rest, ssum, vsum, ea, True, True)
        ok = 0
        for k in range(nr):
            ok += _in_tol(ssum[k], tau)
        if ok != nr:
            return NAN
        for k in range(nr):  # row views: indices from range(m) are >= 0, so the loop vectorises
            inv = 1.0 / (1.0 + rest[k])
            l1p = _log1p_rest(rest[k], like)
            for j0 in range(k * C, (k + 1) * C, BLOCK):
                m = min(BLOCK, (k + 1) * C - j0)
                _kl_terms(tb[j0:j0 + m], xb[j0:j0 + m], ea[j0:j0 + m], g[b0 + j0:b0 + j0 + m] if grad else g,
                          m, inv, mx[k], l1p, ssum[k], scale, buf, grad, like)
                total += block_sum(buf, m)
            total += sum_minus_one(tb[k * C:(k + 1) * C], C, like)
    return total
