r"""Non-leaky integrate-and-fire neurons with instantaneous synapses, one spike each.

Model (S4NN, Kheradpisheh & Masquelier 2020, sec. 2; reference-code semantics):

.. math::

    V_j[k] = \sum_{i:\, t_i \le k} w_{ji}, \qquad
    t_j = \min\{k : V_j[k] > \theta\} + d \quad (\text{else } t_{max})

with the strict ``>`` and delay ``d = 1`` of the reference code (``strict=False, delay=0``
gives the paper's cleaner form). Inputs with ``t_i = t_max`` never arrive. Because weights
can be negative, ``V`` is not monotone: the rule is the *first* crossing.

Three implementations of the same function:

- :func:`first_spike_times`: exact event-driven kernel (compiled, parallel over samples,
  early exit) -- the fast path used for training and evaluation;
- :func:`first_spike_times_naive`: the literal time-stepped simulation, one Python
  iteration per time step -- the test oracle;
- :func:`membrane_trace`: the dense potential ``V[k]`` for display (a few neurons only).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from snnviz.neurons import _kernels


class LayerOutput(NamedTuple):
    """Result of one layer. All ``[B, N_out]``.

    times: int32 spike times (``t_max`` = no spike).
    v_fire: potential at the crossing step (0 where no spike), for tie-breaking.
    v_late: potential after all inputs with ``t <= late_step`` (only if requested).
    """

    times: np.ndarray
    v_fire: np.ndarray
    v_late: np.ndarray


def as_times(t: torch.Tensor | np.ndarray) -> np.ndarray:
    """Spike times as a C-contiguous int32 numpy array (no copy when already so)."""
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return np.ascontiguousarray(a, dtype=np.int32)


def weights_T(w: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[N_out, N_in]`` weights as the kernels' contiguous ``[N_in, N_out]`` array."""
    a = w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else np.asarray(w)
    return np.ascontiguousarray(a.T)


def first_spike_times(
    t_in: torch.Tensor | np.ndarray,
    w: torch.Tensor | np.ndarray,
    thr: float,
    t_max: int,
    *,
    strict: bool = True,
    delay: int = 1,
    binary: bool = False,
    late_step: int = -1,
) -> LayerOutput:
    """Exact first-spike times of a layer for a batch (event-driven fast path).

    Args:
        t_in: ``[B, N_in]`` integer input spike times in ``0..t_max``.
        w: ``[N_out, N_in]`` weights (float32 or float64).
        thr: firing threshold (for ``binary``: threshold divided by the layer scale).
        t_max: number of time steps; ``t_max`` means "no spike".
        strict: ``V > thr`` (reference code) instead of ``V >= thr``.
        delay: steps between the crossing and the spike (reference code: 1).
        binary: integrate ``sign(w)`` (``+1`` for ``w >= 0``) instead of ``w``.
        late_step: if ``>= 0``, also return the potential after step ``late_step``.

    Returns:
        :class:`LayerOutput` with ``[B, N_out]`` arrays.
    """
    t = as_times(t_in)
    wT = weights_T(w)
    B, n_out = t.shape[0], wT.shape[1]
    if t.ndim != 2 or t.shape[1] != wT.shape[0]:
        raise ValueError(f"t_in has shape {t.shape}, expected [B, {wT.shape[0]}]")
    times = np.empty((B, n_out), np.int32)
    v_fire = np.empty((B, n_out), wT.dtype)
    v_late = np.zeros((B, n_out), wT.dtype)
    if B:
        _kernels.forward_layer(t, wT, binary, float(thr), int(t_max), int(delay), strict,
                               int(late_step), times, v_fire, v_late)
    return LayerOutput(times, v_fire, v_late)


def integrate(t_in: torch.Tensor, w: torch.Tensor, t_max: int, *, binary: bool = False
              ) -> torch.Tensor:
    """Dense membrane potential ``V[k]`` for ``k = 0..t_max-1``.

    Args:
        t_in: ``[B, N_in]`` integer spike times.
        w: ``[N_out, N_in]`` weights.
        binary: integrate ``sign(w)`` instead of ``w``.

    Returns:
        ``[t_max, B, N_out]`` potentials (time first).
    """
    w_eff = torch.where(w >= 0, 1.0, -1.0).to(w.dtype) if binary else w
    t = torch.as_tensor(t_in, dtype=torch.long)
    onehot = torch.nn.functional.one_hot(t.clamp(max=t_max), t_max + 1)[..., :t_max]
    current = torch.einsum("bit,ji->tbj", onehot.to(w.dtype), w_eff)   # [T, B, N_out]
    return torch.cumsum(current, dim=0)


def first_spike_times_naive(
    t_in: torch.Tensor,
    w: torch.Tensor,
    thr: float,
    t_max: int,
    *,
    strict: bool = True,
    delay: int = 1,
    binary: bool = False,
    late_step: int = -1,
) -> LayerOutput:
    """Time-stepped simulation, one loop iteration per time step (the test oracle).

    Same arguments and result as :func:`first_spike_times`.
    """
    w_eff = torch.where(w >= 0, 1.0, -1.0).to(w.dtype) if binary else w
    t = torch.as_tensor(t_in, dtype=torch.long)
    B, n_out = t.shape[0], w.shape[0]
    v = torch.zeros(B, n_out, dtype=w.dtype)
    times = torch.full((B, n_out), t_max, dtype=torch.int32)
    v_fire = torch.zeros(B, n_out, dtype=w.dtype)
    v_late = torch.zeros(B, n_out, dtype=w.dtype)
    fired = torch.zeros(B, n_out, dtype=torch.bool)
    for k in range(t_max):
        v = v + (t == k).to(w.dtype) @ w_eff.T          # input spikes arriving at step k
        if k + delay >= t_max:
            if k == late_step:
                v_late = v.clone()
            continue  # a crossing now could only give t_max: no spike
        cross = ((v > thr) if strict else (v >= thr)) & ~fired
        times[cross] = k + delay
        v_fire[cross] = v[cross]
        fired |= cross
        if k == late_step:
            v_late = v.clone()
    if late_step >= t_max:
        v_late = v.clone()
    return LayerOutput(times.numpy(), v_fire.numpy(), v_late.numpy())


def membrane_trace(t_in: torch.Tensor, w: torch.Tensor, t_max: int, *,
                   neurons: torch.Tensor | None = None, binary: bool = False,
                   scale: float = 1.0) -> np.ndarray:
    """Potential over time of chosen neurons for one sample, for display.

    Args:
        t_in: ``[N_in]`` spike times of one sample.
        w: ``[N_out, N_in]`` weights.
        neurons: indices of the neurons to trace (default: all).
        binary: integrate ``sign(w)``.
        scale: multiply the potential (the BS4NN layer scale ``alpha``).

    Returns:
        float ``[t_max, len(neurons)]`` numpy array.
    """
    rows = w if neurons is None else w[neurons]
    v = integrate(torch.as_tensor(t_in).reshape(1, -1), rows, t_max, binary=binary)[:, 0]
    return (v * scale).cpu().numpy()
