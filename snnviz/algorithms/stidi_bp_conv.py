r"""STiDi-BP for deep convolutional SNNs (R-CSNN): conv layers, min-time pooling, dense top.

Ref: M. Mirsadeghi, M. Shalchian, S. R. Kheradpisheh, T. Masquelier, "Spike time
displacement-based error backpropagation in convolutional spiking neural networks", Neural
Computing and Applications (2023), arXiv:2108.13621 (spec ``algorithms.md`` section 3).

The neurons, error, weight step and displacement rule are those of
:mod:`snnviz.algorithms.stidi_bp`; only the layer geometry changes:

- convolution: neuron ``(c, y, x)`` sees the patch of input times under its kernel, with
  the weights ``w[c]`` shared over space. The exact forward runs the PL-PSP kernel on the
  rows ``unfold(t_in)`` (one row per sample and location, padding = silent inputs); the
  weight gradient sums over locations (weight sharing) and the displacement of an input
  sums over every patch that contains it (``fold``);
- pooling on spike times: the earliest spike in each window passes on (min-pooling of
  times, i.e. max-pooling of spike maps); a window with no spike passes on the peak time of
  its neuron whose potential peaked first, for the silent-neuron rule. The displacement a
  pooled neuron receives goes back to the neuron it came from (as max-pool routing).

Default architecture (kit choice; the paper's is not known): conv 5x5x16 -> pool 2 ->
conv 5x5x32 -> pool 2 -> dense 10, no padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from snnviz.algorithms import stidi_bp
from snnviz.algorithms.stidi_bp import Dense, LayerSpec
from snnviz.config import hp
from snnviz.neurons.pl_psp import PSPOutput, conv_first_spike_times_naive, first_spike_times

NAME = "stidi-bp-conv"
TITLE = "STiDi-BP deep convolutional SNN (min-time pooling)"


class Conv(NamedTuple):
    """Convolution (stride 1) followed by min-time pooling (``window = 1``: none)."""

    in_shape: tuple[int, int, int]
    c_out: int
    k: int
    pad: int
    window: int

    @property
    def conv_hw(self) -> tuple[int, int]:
        _, h, w = self.in_shape
        return h + 2 * self.pad - self.k + 1, w + 2 * self.pad - self.k + 1

    @property
    def out_shape(self) -> tuple[int, int, int]:
        h, w = self.conv_hw
        return self.c_out, h // self.window, w // self.window

    @property
    def fan_in(self) -> int:
        return self.in_shape[0] * self.k * self.k

    @property
    def size(self) -> int:
        return self.c_out * math.prod(self.conv_hw)

    @property
    def out_size(self) -> int:
        return math.prod(self.out_shape)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.c_out, self.in_shape[0], self.k, self.k)

    def rows(self, t_pre: np.ndarray, t_max: int) -> np.ndarray:
        """``[B, C*H*W]`` input times -> ``[B*L, C*k*k]`` patches (padding is silent)."""
        x = torch.from_numpy(np.ascontiguousarray(t_pre)).reshape(-1, *self.in_shape).float()
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, value=float(t_max))
        cols = F.unfold(x, self.k)                                            # [B, P, L]
        return cols.transpose(1, 2).reshape(-1, self.fan_in).to(torch.int32).numpy()

    def to_rows(self, a: np.ndarray) -> np.ndarray:
        """Channel-major maps ``[B, c_out*L]`` -> rows ``[B*L, c_out]``."""
        L = math.prod(self.conv_hw)
        return np.ascontiguousarray(a.reshape(-1, self.c_out, L).transpose(0, 2, 1)
                                    .reshape(-1, self.c_out))

    def from_rows(self, a: np.ndarray) -> np.ndarray:
        L = math.prod(self.conv_hw)
        return np.ascontiguousarray(a.reshape(-1, L, self.c_out).transpose(0, 2, 1)
                                    .reshape(-1, self.size))

    def fold(self, d_rows: np.ndarray, batch: int) -> np.ndarray:
        """Sum patch displacements ``[B*L, P]`` back onto the input maps ``[B, C*H*W]``."""
        _, h, w = self.in_shape
        L = math.prod(self.conv_hw)
        d = torch.from_numpy(d_rows).reshape(batch, L, self.fan_in).transpose(1, 2)
        m = F.fold(d, (h + 2 * self.pad, w + 2 * self.pad), self.k)          # [B, C, H', W']
        m = m[:, :, self.pad: self.pad + h, self.pad: self.pad + w]
        return m.reshape(batch, self.in_shape[0] * h * w).numpy()

    def pool(self, t: np.ndarray, t_ref: np.ndarray, t_max: int):
        """Min-time pooling: fired neurons first (earliest wins), else earliest peak."""
        if self.window == 1:
            return t, t_ref, None
        B, (h, w) = len(t), self.conv_hw
        key = np.where(t < t_max, t, t_max + 1 + t_ref).astype(np.float64)
        _, idx = F.max_pool2d(-torch.from_numpy(key).reshape(B, self.c_out, h, w),
                              self.window, return_indices=True)
        n_pool = self.out_size // self.c_out      # explicit sizes: a shard may be empty
        idx = idx.reshape(B, self.c_out, n_pool)                              # [B, c, Hp*Wp]

        def take(a: np.ndarray) -> np.ndarray:
            src = torch.from_numpy(np.ascontiguousarray(a)).reshape(B, self.c_out, h * w)
            return torch.gather(src, 2, idx).reshape(B, self.out_size).numpy()

        return take(t), take(t_ref), idx

    def unpool(self, e: np.ndarray, idx) -> np.ndarray:
        """Route ``[B, out_size]`` values to the neurons the pooled times came from."""
        if idx is None:
            return e
        B = len(e)
        out = torch.zeros(B, self.c_out, math.prod(self.conv_hw), dtype=torch.float64)
        src = torch.from_numpy(np.ascontiguousarray(e)).reshape(B, self.c_out,
                                                                self.out_size // self.c_out)
        out.scatter_(2, idx, src)
        return out.reshape(B, self.size).numpy()

    def fire(self, t_pre, wT: np.ndarray, thr, cfg, naive: bool = False) -> PSPOutput:
        """Spike maps ``[B, c_out*L]`` from weights in kernel layout ``wT`` ``[C*k*k, c_out]``."""
        if naive:
            t_map = np.asarray(t_pre).reshape(-1, *self.in_shape)
            w = np.ascontiguousarray(wT.T).reshape(self.weight_shape)
            return conv_first_spike_times_naive(t_map, w, thr, cfg.t_max, cfg.tau1, cfg.tau2,
                                                padding=self.pad, strict=cfg.strict_threshold)
        out = first_spike_times(self.rows(t_pre, cfg.t_max), wT.T, thr,
                                cfg.t_max, cfg.tau1, cfg.tau2, strict=cfg.strict_threshold)
        return PSPOutput(*(self.from_rows(a) for a in out))

    def trace_inputs(self, t_pre_one: np.ndarray, w: torch.Tensor, neurons: np.ndarray,
                     t_max: int):
        L = math.prod(self.conv_hw)
        rows = self.rows(t_pre_one, t_max)                                    # [L, P]
        return rows[neurons % L], w[torch.from_numpy(neurons // L)]


@dataclass(frozen=True)
class StidiConvConfig(stidi_bp.StidiConfig):
    """STiDi-BP convolutional network. Kit defaults, not the paper's (unknown, spec 3.6)."""

    in_shape: tuple[int, ...] = hp((1, 28, 28), "input maps (C, H, W) (set from the dataset)",
                                   bounds=(1, None), ui=False)
    channels: tuple[int, ...] = hp((16, 32), "feature maps of each conv layer",
                                   bounds=(1, 4096))
    kernel: tuple[int, ...] = hp((5, 5), "kernel size of each conv layer", bounds=(1, 64))
    pool: tuple[int, ...] = hp((2, 2), "min-time pooling window after each conv layer "
                               "(1 = none)", bounds=(1, 64))
    padding: tuple[int, ...] = hp((0, 0), "zero (silent) padding of each conv layer",
                                  bounds=(0, 64))
    hidden: tuple[int, ...] = hp((), "dense hidden layers after the conv stack",
                                 bounds=(1, 100_000))
    thr_conv: float = hp(10.0, "threshold of conv neurons", bounds=(1e-3, 1e6), step=0.5)
    init_conv: float = hp(4.0, "mean initial total weight of a conv neuron (thresholds)",
                          bounds=(-1e4, 1e4), step=0.5)
    lr_conv: float = hp(0.1, "learning rate of conv layers", bounds=(0.0, 1e6), step=0.1)

    def _check(self) -> None:
        super()._check()
        n = len(self.channels)
        if not (len(self.kernel) == len(self.pool) == len(self.padding) == n):
            raise ValueError(f"channels, kernel, pool and padding need one entry per conv "
                             f"layer; got {n}, {len(self.kernel)}, {len(self.pool)}, "
                             f"{len(self.padding)}")
        if len(self.in_shape) != 3 or math.prod(self.in_shape) != self.n_in:
            raise ValueError(f"in_shape={self.in_shape} must be (C, H, W) with C*H*W = "
                             f"n_in = {self.n_in}")
        for spec in self.layer_specs():
            if isinstance(spec.geom, Conv) and min(spec.geom.out_shape) < 1:
                raise ValueError(f"conv layer {spec.geom} leaves no output: input too small "
                                 "for its kernel and pooling")

    def layer_specs(self) -> tuple[LayerSpec, ...]:
        specs = []
        shape = tuple(self.in_shape)
        for c, k, w, p in zip(self.channels, self.kernel, self.pool, self.padding):
            geom = Conv(shape, c, k, p, w)
            specs.append(LayerSpec(geom, self.thr_conv, self.lr_conv, self.init_conv))
            shape = geom.out_shape
        sizes = (math.prod(shape), *self.hidden, self.n_classes)
        for l in range(len(sizes) - 1):
            specs.append(LayerSpec(Dense(sizes[l], sizes[l + 1]), *self._kind(l == len(sizes) - 2)))
        return tuple(specs)


Config = StidiConvConfig
Params, Forward, StepStats = stidi_bp.Params, stidi_bp.Forward, stidi_bp.StepStats
init, encode, forward, forward_naive = (stidi_bp.init, stidi_bp.encode, stidi_bp.forward,
                                        stidi_bp.forward_naive)
backward, update, loss, train_step = (stidi_bp.backward, stidi_bp.update, stidi_bp.loss,
                                      stidi_bp.train_step)
end_epoch, probe, predict, score = (stidi_bp.end_epoch, stidi_bp.probe, stidi_bp.predict,
                                    stidi_bp.score)
silent, tied, spike_time_hist = stidi_bp.silent, stidi_bp.tied, stidi_bp.spike_time_hist
scale_lr = stidi_bp.scale_lr
