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
``U >= thr`` is ``a + ceil((thr - U_a) / s)`` (``floor(.) + 1`` for the strict ``>``),
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


@nb.njit(**_opts)
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


@nb.njit(**_opts)
def _hit(u, thr, strict):
    return u > thr if strict else u >= thr


@nb.njit(**_opts)
def _first_crossing(u, s, thr, strict, length):
    """Smallest ``k`` in ``[0, length)`` with ``hit(u + s*k)``, else -1 (linear segment)."""
    if _hit(u, thr, strict):
        return 0
    if s <= 0.0:
        return -1
    q = (thr - u) / s
    if q > length + 1.0:
        return -1
    k = int(math.floor(q)) + 1 if strict else int(math.ceil(q))
    k = max(k, 1)
    while k > 1 and _hit(u + s * (k - 1), thr, strict):
        k -= 1
    while k < length and not _hit(u + s * k, thr, strict):
        k += 1
    return k if k < length else -1


@nb.njit(**_opts)
def fire_row(t, order, n, wT, thr, t_max, tau1, tau2, strict,
             t_out, v_fire, v_peak, t_peak, u, s, fired):
    """First spike times of ``C`` PL-PSP neurons for one row of ``n`` sorted inputs.

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
    thr_s = thr * scale
    d1, d2 = tau1, tau1 + tau2
    none = t_max + tau1 + tau2 + 1
    u[:] = 0.0
    s[:] = 0.0
    fired[:] = False
    t_out[:] = t_max
    v_fire[:] = 0.0
    v_peak[:] = 0.0
    t_peak[:] = 0
    remaining = C
    p0 = p1 = p2 = 0
    a = _next_event(t, order, n, p0, p1, p2, d1, d2, decay, none)
    while a < t_max and remaining > 0:
        # Slope changes of every breakpoint at time a (rise start, peak, end of each PSP).
        while p0 < n and t[order[p0]] == a:
            row = wT[order[p0]]
            for j in range(C):
                s[j] += c_rise * row[j]
            p0 += 1
        if decay:
            while p1 < n and t[order[p1]] + d1 == a:
                row = wT[order[p1]]
                for j in range(C):
                    s[j] += c_peak * row[j]
                p1 += 1
            while p2 < n and t[order[p2]] + d2 == a:
                row = wT[order[p2]]
                for j in range(C):
                    s[j] += c_end * row[j]
                p2 += 1
        b = min(_next_event(t, order, n, p0, p1, p2, d1, d2, decay, none), t_max)
        length = b - a
        # Closed-form first crossing on the linear segment [a, b), per silent neuron.
        for j in range(C):
            if fired[j]:
                continue
            uj, sj = u[j], s[j]
            k = _first_crossing(uj, sj, thr_s, strict, length)
            if k >= 0:
                fired[j] = True
                remaining -= 1
                t_out[j] = a + k
                v_fire[j] = uj + sj * k
                v_peak[j] = v_fire[j]
                t_peak[j] = a + k
            else:
                if uj > v_peak[j]:
                    v_peak[j] = uj
                    t_peak[j] = a
                ue = uj + sj * (length - 1)
                if ue > v_peak[j]:
                    v_peak[j] = ue
                    t_peak[j] = b - 1
                u[j] = uj + sj * length
        a = b
    for j in range(C):
        v_fire[j] /= scale
        v_peak[j] /= scale


@nb.njit(parallel=True, **_opts)
def forward_rows(t_rows, wT, thr, t_max, tau1, tau2, strict, t_out, v_fire, v_peak, t_peak):
    """Batched :func:`fire_row`, parallel over rows. ``t_rows`` is ``[R, P]``."""
    R, P = t_rows.shape
    C = wT.shape[1]
    for r in nb.prange(R):
        order = np.empty(P, np.int32)
        u = np.empty(C, wT.dtype)
        s = np.empty(C, wT.dtype)
        fired = np.empty(C, np.bool_)
        if P <= _SMALL:
            n = _sort_small(t_rows[r], t_max, order)
        else:
            counts = np.empty(t_max + 1, np.int64)
            n = sort_active(t_rows[r], t_max, order, counts)
        fire_row(t_rows[r], order, n, wT, thr, t_max, tau1, tau2, strict,
                 t_out[r], v_fire[r], v_peak[r], t_peak[r], u, s, fired)


@nb.njit(parallel=True, **_opts)
def backward_rows(t_pre, t_ref, g, h, w_disp, w_sign, binary, eps, deps, win, t_max,
                  want_dt, grad, dt, g_sign):
    """Sums of the approximate STiDi-BP derivatives over rows, parallel over inputs ``p``.

    With ``s = t_ref[r, j] - t_pre[r, p]`` and the contribution window ``0 < s < win``:

    - ``grad[p, j] = sum_r g[r, j] eps(s)``                          (weight gradient)
    - ``dt[r, p]   = sum_j h[r, j] w_disp[p, j] eps'(s)``            (if ``want_dt``)
    - ``g_sign[p]  = sum_{r, j} g[r, j] sign(w_sign[p, j]) eps(s)``  (if ``binary``)

    ``eps``/``deps`` are the PSP and its slope tabulated at ``s = 0..t_max``.
    """
    R, P = t_pre.shape
    C = t_ref.shape[1]
    for p in nb.prange(P):
        for j in range(C):
            grad[p, j] = 0.0
        acc_sign = 0.0
        for r in range(R):
            ti = t_pre[r, p]
            acc = 0.0
            if ti < t_max:
                for j in range(C):
                    k = t_ref[r, j] - ti
                    if k <= 0 or k >= win:
                        continue
                    e = eps[k]
                    gj = g[r, j]
                    grad[p, j] += gj * e
                    if want_dt:
                        acc += h[r, j] * w_disp[p, j] * deps[k]
                    if binary:
                        acc_sign += gj * e * (1.0 if w_sign[p, j] >= 0.0 else -1.0)
            if want_dt:
                dt[r, p] = acc
        g_sign[p] = acc_sign
