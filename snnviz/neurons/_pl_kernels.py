"""Compiled kernels for single-spike neurons with a piecewise-linear PSP (numba).

These are the hot loops behind :mod:`snnviz.neurons.pl_psp` and STiDi-BP. A "row" is one
set of presynaptic spike times feeding ``C`` neurons through the same weights: one sample
of a dense layer, or one (sample, location) patch of a convolution (after ``unfold``).

Layout: spike times int32 (``t_max`` = no spike); weights ``wT`` ``[P, C]`` (the transpose
of ``[C, P]``), so adding one input's weight row to all potentials is contiguous.

Exact forward on each interval between breakpoints. With integer time constants the scaled
potential ``U = tau1 * tau2 * V`` (``tau1 * V`` without decay) is piecewise linear in ``t``
with integer breakpoints and integer-multiple slopes: an input ``(t_i, w)`` adds slope
``w * tau2`` at ``t_i``, ``-w * (tau1 + tau2)`` at ``t_i + tau1`` and ``w * tau1`` at
``t_i + tau1 + tau2``. The inputs are sorted once; the three breakpoint streams are the
same order shifted by ``0, tau1, tau1 + tau2`` and are merged on the fly. On a segment
``[a, b)`` with start value ``U_a`` and slope ``s`` the first integer crossing of
``U >= thr`` is ``a + ceil((thr - U_a) / s)`` (the strict ``U > thr`` is ``U >= nextafter(thr)``),
checked against the same expression so rounding cannot move it. The loop stops when every
neuron has fired. Silent neurons also get the time and value of their peak potential.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from snnviz.neurons._kernels import sort_active

_opts = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
_SMALL = 48      # rows with at most this many inputs are insertion-sorted
_BLOCK = 64      # rows per parallel work item (scratch is allocated per block)
_GRAD_BLOCKS = 8  # fixed number of row blocks (and gradient buffers) in the backward pass


@nb.njit(**_opts)
def _sort_small(t, t_max, order):
    """Insertion-sort the indices of ``t`` with ``t < t_max`` by time; returns the count."""
    n = 0
    for i in range(t.shape[0]):
        ti = t[i]
        if ti < t_max:
            k = n
            while k > 0 and t[order[k - 1]] > ti:
                order[k] = order[k - 1]
                k -= 1
            order[k] = i
            n += 1
    return n


@nb.njit(inline="always", **_opts)
def _next_event(t, order, n, p0, p1, p2, d1, d2, decay, none):
    a = none
    if p0 < n:
        a = t[order[p0]]
    if decay:
        if p1 < n:
            a = min(a, t[order[p1]] + d1)
        if p2 < n:
            a = min(a, t[order[p2]] + d2)
    return a


@nb.njit(inline="always", **_opts)
def _crossing(u, s, thr, last):
    """Smallest ``k`` in ``1..last`` with ``u + s*k >= thr``, given ``u < thr``,
    ``u + s*last >= thr`` and ``s > 0`` (closed form, then checked against the same
    expression so rounding of the quotient cannot move it)."""
    k = min(max(int(math.ceil((thr - u) / s)), 1), last)
    while k > 1 and u + s * (k - 1) >= thr:
        k -= 1
    while k < last and u + s * k < thr:
        k += 1
    return k


@nb.njit(inline="always", **_opts)
def fire_row(t_rows, r, order, n, wT, thr, t_max, tau1, tau2, strict,
             t_out, v_fire, v_peak, t_peak, u, s, fired):
    """First spike times of ``C`` PL-PSP neurons for row ``r`` (``n`` inputs sorted in ``order``).

    ``thr`` is the unscaled threshold. Writes ``t_out`` (``t_max`` = silent), ``v_fire``
    (potential at the spike), and ``v_peak``/``t_peak``: for fired neurons the same as the
    spike, for silent ones the maximum of ``V`` over ``0..t_max-1`` and its first time.
    ``u``, ``s``, ``fired`` are scratch of length ``C``.
    """
    C = wT.shape[1]
    decay = tau2 > 0
    c_rise = float(tau2) if decay else 1.0
    c_peak = -float(tau1 + tau2)
    c_end = float(tau1)
    scale = float(tau1 * tau2) if decay else float(tau1)
    # V > thr  <=>  V >= nextafter(thr): one comparison serves both threshold rules.
    thr_s = np.nextafter(thr * scale, np.inf) if strict else thr * scale
    d1, d2 = tau1, tau1 + tau2
    none = t_max + tau1 + tau2 + 1
    t = t_rows[r]
    for j in range(C):
        u[j] = 0.0
        s[j] = 0.0
        fired[j] = False
        t_out[r, j] = t_max
        v_fire[r, j] = 0.0
        v_peak[r, j] = 0.0
        t_peak[r, j] = 0
    remaining = C
    p0 = p1 = p2 = 0
    a = _next_event(t, order, n, p0, p1, p2, d1, d2, decay, none)
    while a < t_max and remaining > 0:
        # Slope changes of every breakpoint at time a (rise start, peak, end of each PSP).
        while p0 < n and t[order[p0]] == a:
            i = order[p0]
            for j in range(C):
                s[j] += c_rise * wT[i, j]
            p0 += 1
        if decay:
            while p1 < n and t[order[p1]] + d1 == a:
                i = order[p1]
                for j in range(C):
                    s[j] += c_peak * wT[i, j]
                p1 += 1
            while p2 < n and t[order[p2]] + d2 == a:
                i = order[p2]
                for j in range(C):
                    s[j] += c_end * wT[i, j]
                p2 += 1
        b = min(_next_event(t, order, n, p0, p1, p2, d1, d2, decay, none), t_max)
        length = b - a
        last = length - 1
        # V is linear on [a, b): it crosses there iff it is over threshold at a or at b - 1.
        any_hit = False
        for j in range(C):
            any_hit |= (max(u[j], u[j] + s[j] * last) >= thr_s) & (not fired[j])
        if any_hit:
            for j in range(C):
                if fired[j]:
                    continue
                uj, sj = u[j], s[j]
                if uj >= thr_s:
                    k = 0
                elif uj + sj * last >= thr_s:
                    k = _crossing(uj, sj, thr_s, last)
                else:
                    continue
                fired[j] = True
                remaining -= 1
                t_out[r, j] = a + k
                v_fire[r, j] = uj + sj * k
                v_peak[r, j] = v_fire[r, j]
                t_peak[r, j] = a + k
        # Peak of the neurons still silent (first time of the maximum), then advance to b.
        for j in range(C):
            uj, sj = u[j], s[j]
            ue = uj + sj * last
            live = not fired[j]
            pa = live & (uj > v_peak[r, j])
            vp = uj if pa else v_peak[r, j]
            tp = a if pa else t_peak[r, j]
            pe = live & (ue > vp)
            v_peak[r, j] = ue if pe else vp
            t_peak[r, j] = b - 1 if pe else tp
            u[j] = uj + sj * length
        a = b
    for j in range(C):
        v_fire[r, j] /= scale
        v_peak[r, j] /= scale


@nb.njit(parallel=True, **_opts)
def forward_rows(t_rows, wT, thr, t_max, tau1, tau2, strict, t_out, v_fire, v_peak, t_peak):
    """Batched :func:`fire_row`, parallel over blocks of rows. ``t_rows`` is ``[R, P]``."""
    R, P = t_rows.shape
    C = wT.shape[1]
    n_blocks = (R + _BLOCK - 1) // _BLOCK
    for blk in nb.prange(n_blocks):
        order = np.empty(P, np.int32)
        counts = np.empty(t_max + 1, np.int64)
        u = np.empty(C, wT.dtype)
        s = np.empty(C, wT.dtype)
        fired = np.empty(C, np.bool_)
        for r in range(blk * _BLOCK, min(R, (blk + 1) * _BLOCK)):
            if P <= _SMALL:
                n = _sort_small(t_rows[r], t_max, order)
            else:
                n = sort_active(t_rows[r], t_max, order, counts)
            fire_row(t_rows, r, order, n, wT, thr, t_max, tau1, tau2, strict,
                     t_out, v_fire, v_peak, t_peak, u, s, fired)


@nb.njit(parallel=True, **_opts)
def backward_rows(t_pre, t_virt, t_ref, g, h, w_disp, w_sign, binary, eps, deps, win, t_max,
                  want_dt, grad, dt, g_sign):
    """Sums of the approximate STiDi-BP derivatives over rows.

    With ``s = t_ref[r, j] - t_pre[r, p]``, ``v = t_ref[r, j] - t_virt[r, p]`` and the
    contribution window ``0 < s < win`` (``t_virt``: the time an input is credited with in
    the displacement, its spike time or, for a silent input, its peak time):

    - ``grad[p, j] = sum_r g[r, j] eps(s)``                          (weight gradient)
    - ``dt[r, p]   = sum_j h[r, j] w_disp[p, j] eps'(v)``            (if ``want_dt``)
    - ``g_sign[p]  = sum_{r, j} g[r, j] sign(w_sign[p, j]) eps(s)``  (if ``binary``)

    ``eps``/``deps`` are the PSP and its slope tabulated at ``s = 0..t_max``. Rows are split
    into a fixed number of blocks (parallel), each with its own gradient buffer, summed in
    block order: the result does not depend on the number of threads.
    """
    R, P = t_pre.shape
    C = t_ref.shape[1]
    n_blocks = max(1, min(R, _GRAD_BLOCKS))
    size = (R + n_blocks - 1) // n_blocks
    bufs = np.zeros((n_blocks, P, C))
    sign_bufs = np.zeros((n_blocks, P))
    for blk in nb.prange(n_blocks):
        live = np.empty(C, np.int64)
        buf = bufs[blk]
        for r in range(blk * size, min(R, (blk + 1) * size)):
            # The neurons of this row with a non-zero coefficient (most are silent/unrouted).
            n_live = 0
            for j in range(C):
                if g[r, j] != 0.0 or h[r, j] != 0.0:
                    live[n_live] = j
                    n_live += 1
            for p in range(P):
                ti = t_pre[r, p]
                if ti < t_max:
                    for q in range(n_live):
                        j = live[q]
                        k = t_ref[r, j] - ti
                        if 0 < k < win:
                            e = g[r, j] * eps[k]
                            buf[p, j] += e
                            if binary:
                                sign_bufs[blk, p] += e if w_sign[p, j] >= 0.0 else -e
                if want_dt:
                    tv = t_virt[r, p]
                    acc = 0.0
                    if tv < t_max:
                        for q in range(n_live):
                            j = live[q]
                            k = t_ref[r, j] - tv
                            if 0 < k < win:
                                acc += h[r, j] * w_disp[p, j] * deps[k]
                    dt[r, p] = acc
    for p in range(P):
        g_sign[p] = 0.0
        for j in range(C):
            grad[p, j] = 0.0
    for blk in range(n_blocks):
        for p in range(P):
            g_sign[p] += sign_bufs[blk, p]
            for j in range(C):
                grad[p, j] += bufs[blk, p, j]
