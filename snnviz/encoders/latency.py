r"""Intensity-to-latency (time-to-first-spike) coding and rate coding.

S4NN (reference code, spec 1.2): a pixel ``p`` in ``0..255`` spikes at

.. math:: t = \lfloor (255 - p)\, t_{max} / 255 \rfloor

so ``p = 255 -> 0`` and ``p = 0 -> t_max``: black pixels never spike.

BS4NN (spec 2.2): with ``T_end = t_max - 1``, ``t = \lfloor T_end (255 - p) / 255 \rfloor``
(``= 255 - p`` for ``t_max = 256``): black pixels spike at ``t_max - 1``; they can only
make a neuron cross at the last step, which gives ``t_max`` (no spike), but they do count
as "arrived before" in the backward pass of neurons that stay silent.

Both are computed in exact integer arithmetic from the 8-bit pixels.
"""

from __future__ import annotations

import numpy as np
import torch


def _latency(pixels: np.ndarray | torch.Tensor, span: int) -> np.ndarray:
    p = pixels.numpy() if isinstance(pixels, torch.Tensor) else np.asarray(pixels)
    if p.dtype != np.uint8:
        raise TypeError(f"latency coding takes uint8 pixels (0..255), got dtype {p.dtype}")
    p = p.reshape(p.shape[0], -1).astype(np.int32)                 # [N, C*H*W]
    return ((255 - p) * span) // 255                                # exact floor


def latency_s4nn(pixels: np.ndarray | torch.Tensor, t_max: int = 256) -> np.ndarray:
    """S4NN latency code: ``[N, ...]`` uint8 -> ``[N, D]`` int32, black -> ``t_max`` (silent)."""
    return _latency(pixels, t_max)


def latency_bs4nn(pixels: np.ndarray | torch.Tensor, t_max: int = 256) -> np.ndarray:
    """BS4NN latency code: ``[N, ...]`` uint8 -> ``[N, D]`` int32, black -> ``t_max - 1``."""
    return _latency(pixels, t_max - 1)


def latency_to_raster(t: np.ndarray, t_max: int) -> np.ndarray:
    """Spike times ``[D]`` -> boolean raster ``[t_max, D]`` (time first); for display."""
    t = np.asarray(t)
    raster = np.zeros((t_max, t.shape[-1]), dtype=bool)
    live = t < t_max
    raster[t[live], np.nonzero(live)[0]] = True
    return raster


def rate_encode(x: torch.Tensor, steps: int, gen: torch.Generator) -> torch.Tensor:
    """Bernoulli rate code: each input spikes with probability ``x`` at each step.

    Args:
        x: ``[B, ...]`` intensities in ``[0, 1]``.
        steps: number of time steps ``T``.
        gen: the generator that makes the draw reproducible.

    Returns:
        ``[T, B, ...]`` float tensor of 0/1 spikes (time first).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if x.min() < 0 or x.max() > 1:
        raise ValueError("rate coding needs intensities in [0, 1]")
    u = torch.rand((steps, *x.shape), generator=gen, dtype=x.dtype, device=x.device)
    return (u < x.unsqueeze(0)).to(x.dtype)
