r"""Non-leaky single-spike neurons with a piecewise-linear postsynaptic potential (PL-PSP).

Model (STiDi-BP reconstruction, spec ``algorithms.md`` 3.3; times are integer steps):

.. math::

    \varepsilon(s) = \begin{cases} s/\tau_1 & 0 \le s < \tau_1 \\
        (\tau_1 + \tau_2 - s)/\tau_2 & \tau_1 \le s < \tau_1 + \tau_2 \\
        0 & \text{otherwise} \end{cases}
    \qquad V_j(t) = \sum_i w_{ji}\, \varepsilon(t - t_i)

    t_j = \min\{t \in 0..t_{max}-1 : V_j(t) \ge \theta\} \quad (\text{else } t_{max})

``tau2 = None`` means no decay (``eps(s) = s / tau1`` for ``s >= 0``: a non-leaky IF neuron
with a constant synaptic current). Inputs at ``t_max`` never arrive. ``V`` is not monotone
(negative weights, decaying PSPs): the rule is the *first* crossing; ``strict=True`` uses
``V > theta``. Because ``eps(0) = 0``, a neuron always fires strictly after the inputs
that made it fire.

Three implementations of the same function:

- :func:`first_spike_times`: exact closed form on each interval between breakpoints
  (compiled, parallel over rows, early exit) -- the fast path;
- :func:`first_spike_times_naive` / :func:`conv_first_spike_times_naive`: the literal
  time-stepped simulation, one iteration per time step -- the test oracles;
- :func:`membrane_trace`: the dense potential for display (a few neurons only).

All take "rows": ``t_rows[r]`` are the input times seen by the ``C`` neurons of row ``r``
through weights ``w`` ``[C, P]`` (a dense layer: one row per sample; a convolution: one row
per sample and location, from ``unfold``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch

from snnviz.neurons import _pl_kernels


class PSPOutput(NamedTuple):
    """First-spike results, all ``[R, C]``.

    times: int32 spike times (``t_max`` = silent); v_fire: potential at the spike (0 if
    silent); v_peak, t_peak: for fired neurons the spike itself, for silent neurons the
    maximum potential over ``0..t_max-1`` and the first step that reaches it.
    """

    times: np.ndarray
    v_fire: np.ndarray
    v_peak: np.ndarray
    t_peak: np.ndarray


def psp(s: np.ndarray | torch.Tensor, tau1: int, tau2: int | None):
    """The PL-PSP kernel ``eps(s)`` elementwise (numpy or torch, float64 for ints)."""
    if isinstance(s, torch.Tensor):
        s = s.to(torch.float64) if not s.is_floating_point() else s
        where, zero = torch.where, torch.zeros_like(s)
    else:
        s = np.asarray(s, dtype=np.float64)
        where, zero = np.where, np.zeros_like(s)
    rise = where(s > 0, s / tau1, zero)
    if tau2 is None:
        return rise
    fall = (tau1 + tau2 - s) / tau2
    return where(s < tau1, rise, where(s < tau1 + tau2, fall, zero))


@functools.lru_cache(maxsize=32)
def psp_tables(t_max: int, tau1: int, tau2: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """``eps(s)`` and its slope ``eps'(s)`` at ``s = 0..t_max``, and the window length.

    ``eps'`` is the right-hand slope (``1/tau1`` on ``0 < s < tau1``, ``-1/tau2`` on
    ``tau1 <= s < tau1 + tau2``, 0 at ``s = 0``: an input arriving with the spike did not
    contribute). An input contributes to a spike at ``t_j`` iff ``0 < t_j - t_i < win``.
    The arrays are cached and read-only.
    """
    s = np.arange(t_max + 1)
    eps = psp(s, tau1, tau2)
    deps = np.where((s > 0) & (s < tau1), 1.0 / tau1, 0.0)
    if tau2 is None:
        deps = np.where(s > 0, 1.0 / tau1, 0.0)
        win = t_max + 1
    else:
        deps = np.where((s >= tau1) & (s < tau1 + tau2), -1.0 / tau2, deps)
        win = tau1 + tau2
    eps.setflags(write=False)           # cached: shared by every caller
    deps.setflags(write=False)
    return eps, deps, win


def _rows(t_rows) -> np.ndarray:
    a = t_rows.detach().cpu().numpy() if isinstance(t_rows, torch.Tensor) else np.asarray(t_rows)
    return np.ascontiguousarray(a, dtype=np.int32)


def first_spike_times(t_rows: np.ndarray | torch.Tensor, w: np.ndarray | torch.Tensor,
                      thr: float, t_max: int, tau1: int, tau2: int | None, *,
                      strict: bool = False) -> PSPOutput:
    """Exact first-spike times of ``C`` PL-PSP neurons for every row (fast path).

    Args:
        t_rows: ``[R, P]`` integer input times in ``0..t_max``.
        w: ``[C, P]`` weights (float32 or float64; the potentials use the same dtype). The
            kernel reads ``w.T``; a ``w`` that is the transposed view of a contiguous
            ``[P, C]`` array is used without a copy.
        thr: threshold ``theta`` (> 0).
        t_max: number of time steps; ``t_max`` means "no spike".
        tau1, tau2: rise and decay times in steps (``tau2=None``: no decay).
        strict: ``V > theta`` instead of ``V >= theta``.

    Returns:
        :class:`PSPOutput` with ``[R, C]`` arrays.
    """
    t = _rows(t_rows)
    w = w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else np.asarray(w)
    wT = np.ascontiguousarray(w.T)                                          # [P, C]
    if t.ndim != 2 or t.shape[1] != wT.shape[0]:
        raise ValueError(f"t_rows has shape {t.shape}, expected [R, {wT.shape[0]}]")
    if thr <= 0:
        raise ValueError(f"threshold must be positive, got {thr}")
    R, C = t.shape[0], wT.shape[1]
    out = PSPOutput(np.empty((R, C), np.int32), np.empty((R, C), wT.dtype),
                    np.empty((R, C), wT.dtype), np.empty((R, C), np.int32))
    if R:
        _pl_kernels.forward_rows(t, wT, float(thr), int(t_max), int(tau1), int(tau2 or 0),
                                 bool(strict), *out)
    return out


def _naive_loop(potential, shape, thr, t_max, strict, dtype) -> PSPOutput:
    """Scan ``potential(k)`` (the full ``V`` at step ``k``) one step at a time."""
    times = torch.full(shape, t_max, dtype=torch.int32)
    v_fire = torch.zeros(shape, dtype=dtype)
    v_peak = torch.zeros(shape, dtype=dtype)
    t_peak = torch.zeros(shape, dtype=torch.int32)
    fired = torch.zeros(shape, dtype=torch.bool)
    for k in range(t_max):
        v = potential(k)
        cross = ((v > thr) if strict else (v >= thr)) & ~fired
        higher = (v > v_peak) & ~fired
        times[cross] = k
        v_fire[cross] = v[cross]
        v_peak[higher | cross] = v[higher | cross]
        t_peak[higher | cross] = k
        fired |= cross
    return PSPOutput(times.numpy(), v_fire.numpy(), v_peak.numpy(), t_peak.numpy())


def first_spike_times_naive(t_rows, w, thr: float, t_max: int, tau1: int, tau2: int | None,
                            *, strict: bool = False) -> PSPOutput:
    """Time-stepped simulation of :func:`first_spike_times` (the test oracle).

    At every step ``k`` it evaluates ``V(k) = eps(k - t_in) @ w.T`` from scratch.
    """
    t = torch.as_tensor(np.asarray(t_rows), dtype=torch.long)
    w = torch.as_tensor(np.asarray(w))
    return _naive_loop(lambda k: psp(k - t, tau1, tau2).to(w.dtype) @ w.T,
                       (t.shape[0], w.shape[0]), thr, t_max, strict, w.dtype)


def conv_first_spike_times_naive(t_map, w, thr: float, t_max: int, tau1: int,
                                 tau2: int | None, *, padding: int = 0,
                                 strict: bool = False) -> PSPOutput:
    """Time-stepped simulation of a convolutional PL-PSP layer (the conv test oracle).

    Args:
        t_map: ``[B, C_in, H, W]`` input times.
        w: ``[C_out, C_in, k, k]`` weights.
        padding: zero padding (padded positions never spike).

    Returns:
        :class:`PSPOutput` with ``[B, C_out * H' * W']`` arrays (channel-major maps).
    """
    t = torch.as_tensor(np.asarray(t_map), dtype=torch.long)
    w = torch.as_tensor(np.asarray(w))
    B = t.shape[0]

    def potential(k: int) -> torch.Tensor:
        e = psp(k - t, tau1, tau2).to(w.dtype)
        return torch.nn.functional.conv2d(e, w, padding=padding).reshape(B, -1)

    n = potential(0).shape[1]
    return _naive_loop(potential, (B, n), thr, t_max, strict, w.dtype)


def membrane_trace(t_rows, w_rows, t_max: int, tau1: int, tau2: int | None) -> np.ndarray:
    """Potential over time of a few neurons, for display.

    Args:
        t_rows: ``[P]`` input times shared by all traced neurons (dense layer), or ``[n, P]``
            one input row per neuron (convolution patches).
        w_rows: ``[n, P]`` the traced neurons' weights.

    Returns:
        float64 ``[t_max, n]`` (time first).
    """
    t = torch.as_tensor(np.asarray(t_rows), dtype=torch.long)
    w = torch.as_tensor(np.asarray(w_rows)).to(torch.float64)
    k = torch.arange(t_max).reshape(-1, *([1] * t.ndim))
    e = psp(k - t, tau1, tau2)                                   # [T, P] or [T, n, P]
    v = e @ w.T if t.ndim == 1 else torch.einsum("tnp,np->tn", e, w)
    return v.numpy()
