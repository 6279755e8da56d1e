r"""S4NN: temporal backpropagation with one spike per neuron.

Ref: S. R. Kheradpisheh, T. Masquelier, "Temporal backpropagation for spiking neural
networks with one spike per neuron", IJNS 30(6) 2050027 (2020), arXiv:1910.09495.
Semantics follow the authors' reference code (spec ``algorithms.md`` section 1).

Forward (non-leaky IF, instantaneous synapses, at most one spike; ``d = 1``):

    V_j[k] = sum_{i : t_i <= k} w_ji ;   t_j = min{k : V_j[k] > theta} + d,  else t_max

Targets (relative, tau = min_j t_j):  T_label = tau,  T_j = max(t_j, min(tau + gamma, t_max));
no output spike: T = t_max everywhere and T_label = t_max - gamma.

Error and loss:  e_j = (T_j - t_j) / t_max ,  L = 1/2 sum_j e_j^2.

Backward with dt_j/dV_j = -1 and dV_j/dw_ji = [t_i < t_j] (per sample, per layer):

    delta^L = e / ||e||                                  (output layer)
    w_ji  <- (w_ji - lr * delta_j [t_i < t_j]) (1 - lr * lambda)
    delta^{l-1}_i = sum_j delta^l_j [t_i < t_j] w'_ji ;  delta^{l-1} <- delta^{l-1} / ||.||

where ``w'`` are the weights just updated (the reference code's order; ``delta_weights =
"forward"`` uses the forward-pass weights instead). After each epoch, hidden neurons that
fired on fewer than ``dead_reset`` of the training samples get fresh incoming weights.

The same engine serves BS4NN (:mod:`snnviz.algorithms.bs4nn`), whose config sets
``BINARY = True``: the forward pass integrates ``sign(w)`` against ``theta / alpha``.
The hot loops are compiled event-driven kernels (:mod:`snnviz.neurons._kernels`); a mini-batch
step averages the per-sample updates computed at the same weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import torch

from snnviz.algorithms._common import (
    Readout,
    normalize_error,
    relative_targets,
    sign_flips,
    ttfs_correct,
    ttfs_predict,
)
from snnviz.config import Validated, hp
from snnviz.encoders.latency import latency_s4nn
from snnviz.neurons import _kernels
from snnviz.neurons.if_neuron import as_times, first_spike_times, membrane_trace, weights_T

NAME = "s4nn"
TITLE = "S4NN (temporal backprop, one spike per neuron)"


@dataclass(frozen=True)
class S4NNConfig(Validated):
    """S4NN hyperparameters; defaults are the reference code's MNIST values (spec 1.6)."""

    BINARY: ClassVar[bool] = False
    NO_SPIKE_LABEL: ClassVar[bool] = True

    n_in: int = hp(784, "input neurons (set from the dataset)", bounds=(1, None), ui=False)
    n_classes: int = hp(10, "output neurons (set from the dataset)", bounds=(2, None), ui=False)
    hidden: tuple[int, ...] = hp((400,), "hidden layer sizes, e.g. 400 or 400,200",
                                 bounds=(1, 100_000))
    t_max: int = hp(256, "time steps; t_max means 'no spike'", bounds=(4, 4096), step=1)
    thr_hidden: float = hp(100.0, "threshold of hidden neurons", bounds=(1e-3, 1e6), step=1.0)
    thr_out: float = hp(100.0, "threshold of output neurons", bounds=(1e-3, 1e6), step=1.0)
    lr_hidden: float = hp(0.2, "learning rate of hidden layers", bounds=(0.0, 100.0), step=0.01)
    lr_out: float = hp(0.2, "learning rate of the output layer", bounds=(0.0, 100.0), step=0.01)
    weight_decay: float = hp(1e-6, "lambda: w <- w - lr*lambda*w after each update",
                             bounds=(0.0, 0.5), step=1e-6)
    gamma: int = hp(3, "margin (steps) between the winner and the other outputs",
                    bounds=(0, 4096), step=1)
    init_hidden: float = hp(5.0, "hidden weights start uniform in [init_low_hidden, "
                            "init_hidden)", bounds=(0.0, 1e4), step=0.5)
    init_out: float = hp(48.0, "output weights start uniform in [init_low_out, init_out)",
                         bounds=(0.0, 1e4), step=1.0)
    init_low_hidden: float = hp(0.0, "lower end of the hidden weights' initial range "
                                "(reference: 0, all positive; negative: mixed signs)",
                                bounds=(-1e4, 1e4), step=0.5)
    init_low_out: float = hp(0.0, "lower end of the output weights' initial range "
                             "(reference: 0)", bounds=(-1e4, 1e4), step=1.0)
    strict_threshold: bool = hp(True, "fire when V > theta (reference) instead of V >= theta")
    spike_delay: int = hp(1, "steps from threshold crossing to spike (reference: 1)",
                          bounds=(0, 1))
    dead_reset: float = hp(0.001, "after each epoch re-draw hidden neurons firing on fewer "
                           "than this fraction of samples (0 = off)", bounds=(0.0, 1.0), step=0.001)
    delta_weights: str = hp("updated", "weights used to send the error down: just-updated "
                            "(reference) or forward-pass", choices=("updated", "forward"))
    dtype: str = hp("float32", "weight precision", choices=("float32", "float64"), ui=False)

    def _check(self) -> None:
        if self.gamma >= self.t_max:
            raise ValueError(f"gamma={self.gamma} must be smaller than t_max={self.t_max}")
        for lr in (self.lr_hidden, self.lr_out):
            if lr * self.weight_decay >= 1.0:
                raise ValueError("lr * weight_decay must be < 1 (decay would flip signs)")
        for low, high, name in ((self.init_low_hidden, self.init_hidden, "hidden"),
                                (self.init_low_out, self.init_out, "out")):
            if low > high:
                raise ValueError(f"init_low_{name}={low} must not exceed init_{name}={high}")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_in, *self.hidden, self.n_classes)


Config = S4NNConfig


class Params(NamedTuple):
    """Weights per layer ``[N_out, N_in]`` and per-layer scales ``alpha`` ``[L]`` (float64;
    all ones and unused for real-valued S4NN)."""

    w: tuple[torch.Tensor, ...]
    alpha: torch.Tensor


class Forward(NamedTuple):
    """Spike times of every non-input layer (``[B, N]`` int32) and the output read-out."""

    times: tuple[torch.Tensor, ...]
    readout: Readout


class StepStats(NamedTuple):
    """Plain-data summary of one training step (``n`` samples)."""

    n: int
    loss: float
    readout: Readout
    fire_counts: tuple[np.ndarray, ...]
    flips: tuple[int, ...]


def scale_lr(cfg: S4NNConfig, factor: float) -> S4NNConfig:
    """The config with every learning rate multiplied by ``factor`` (schedules)."""
    if factor == 1.0:
        return cfg
    lrs = {"lr_hidden": cfg.lr_hidden * factor, "lr_out": cfg.lr_out * factor}
    if hasattr(cfg, "lr_alpha"):
        lrs["lr_alpha"] = cfg.lr_alpha * factor
    return dataclasses.replace(cfg, **lrs)


def _dtype(cfg: S4NNConfig) -> torch.dtype:
    return torch.float64 if cfg.dtype == "float64" else torch.float32


def _per_layer(cfg: S4NNConfig, hidden_value: float, out_value: float) -> list[float]:
    return [hidden_value] * len(cfg.hidden) + [out_value]


def _uniform(shape: tuple[int, ...], low: float, high: float,
             gen: torch.Generator) -> torch.Tensor:
    """float64 ``U[low, high)`` draws (with ``low = 0``: the same values as ``rand * high``)."""
    return torch.rand(shape, generator=gen, dtype=torch.float64).mul_(high - low).add_(low)


def init(cfg: S4NNConfig, gen: torch.Generator) -> Params:
    """Uniform weights: U[init_low_hidden, init_hidden) for hidden layers and
    U[init_low_out, init_out) for the output (reference: lows 0, all weights positive)."""
    highs = _per_layer(cfg, cfg.init_hidden, cfg.init_out)
    lows = _per_layer(cfg, cfg.init_low_hidden, cfg.init_low_out)
    s = cfg.sizes
    w = tuple(_uniform((s[l + 1], s[l]), lows[l], highs[l], gen).to(_dtype(cfg))
              for l in range(len(s) - 1))                                     # [N_out, N_in]
    return Params(w, torch.full((len(w),), float(getattr(cfg, "alpha_init", 1.0)),
                                dtype=torch.float64))


def encode(pixels: np.ndarray | torch.Tensor, cfg: S4NNConfig) -> torch.Tensor:
    """Latency code of 8-bit images ``[N, ...]`` -> ``[N, D]`` int32 spike times."""
    return torch.from_numpy(latency_s4nn(pixels, cfg.t_max))


def effective_thresholds(params: Params, cfg: S4NNConfig) -> list[float]:
    """Threshold each layer's kernel compares against (``theta / alpha`` for binary)."""
    thr = _per_layer(cfg, cfg.thr_hidden, cfg.thr_out)
    if cfg.BINARY:
        return [t / float(a) for t, a in zip(thr, params.alpha)]
    return thr


def forward(params: Params, t_in: torch.Tensor, cfg: S4NNConfig) -> Forward:
    """Exact event-driven forward pass of a batch ``t_in`` ``[B, N_in]``."""
    thr = effective_thresholds(params, cfg)
    t = t_in
    times = []
    out = None
    for l, w in enumerate(params.w):
        last = l == len(params.w) - 1
        out = first_spike_times(t, w, thr[l], cfg.t_max, strict=cfg.strict_threshold,
                                delay=cfg.spike_delay, binary=cfg.BINARY,
                                late_step=cfg.t_max - 3 if last else -1)
        t = torch.from_numpy(out.times)                                       # [B, N_l]
        times.append(t)
    return Forward(tuple(times), Readout(out.times, out.v_fire, out.v_late))


def output_error(t_out: np.ndarray, y: np.ndarray, cfg: S4NNConfig) -> np.ndarray:
    """``e = (T - t) / t_max`` ``[B, K]`` from the relative targets."""
    target = relative_targets(t_out, np.asarray(y), cfg.gamma, cfg.t_max, cfg.NO_SPIKE_LABEL)
    return (target - np.asarray(t_out, dtype=np.int64)) / cfg.t_max


def loss(fwd: Forward, y: torch.Tensor | np.ndarray, cfg: S4NNConfig) -> float:
    """Mean over the batch of ``1/2 sum_j e_j^2``."""
    e = output_error(fwd.readout.t_out, np.asarray(y), cfg)
    return float(0.5 * (e * e).sum(axis=1).mean())


def backward(params: Params, fwd: Forward, t_in: torch.Tensor, y: torch.Tensor | np.ndarray,
             cfg: S4NNConfig) -> Params:
    """Explicit gradients (mean over the batch of the per-sample steps) in ``Params`` form.

    ``w <- (w - lr * grad.w)(1 - lr lambda)`` and ``alpha <- alpha - lr_alpha * grad.alpha``
    (see :func:`update`) reproduce the reference per-sample rule when ``B = 1``.
    """
    np_dtype = np.float64 if cfg.dtype == "float64" else np.float32
    lrs = _per_layer(cfg, cfg.lr_hidden, cfg.lr_out)
    pre_times = (t_in, *fwd.times[:-1])
    e = output_error(fwd.readout.t_out, np.asarray(y), cfg)
    delta = normalize_error(e).astype(np_dtype)                               # [B, K]
    grads: list[torch.Tensor] = [torch.empty(0)] * len(params.w)
    g_alpha = np.zeros(len(params.w))
    for l in range(len(params.w) - 1, -1, -1):
        wT = weights_T(params.w[l])
        t_pre, t_post = as_times(pre_times[l]), as_times(fwd.times[l])
        grad = np.empty_like(wT)
        delta_pre = np.empty((t_pre.shape[0], wT.shape[0]), np_dtype)
        alpha_part = np.empty((wT.shape[0], t_pre.shape[0]), np.float64)
        _kernels.backward_layer(t_pre, t_post, np.ascontiguousarray(delta), wT, lrs[l],
                                1.0 - lrs[l] * cfg.weight_decay, cfg.spike_delay, cfg.t_max,
                                cfg.delta_weights == "updated", cfg.BINARY, grad, delta_pre,
                                alpha_part)
        grads[l] = torch.from_numpy(np.ascontiguousarray(grad.T))            # [N_out, N_in]
        g_alpha[l] = alpha_part.sum(axis=0).mean() / wT.size
        delta = normalize_error(delta_pre)
    return Params(tuple(grads), torch.from_numpy(g_alpha))


def update(params: Params, grads: Params, cfg: S4NNConfig) -> Params:
    """Gradient step, then L2 decay (pure: returns new tensors)."""
    lrs = _per_layer(cfg, cfg.lr_hidden, cfg.lr_out)
    w = tuple((p - lr * g) * (1.0 - lr * cfg.weight_decay)
              for p, g, lr in zip(params.w, grads.w, lrs))
    alpha = params.alpha
    if cfg.BINARY:
        lra = torch.tensor(_per_layer(cfg, cfg.lr_alpha, cfg.lr_alpha), dtype=torch.float64)
        alpha = alpha - lra * grads.alpha
    return Params(w, alpha)


def _fire_counts(times: tuple[torch.Tensor, ...], t_max: int) -> tuple[np.ndarray, ...]:
    return tuple((t.numpy() < t_max).sum(axis=0).astype(np.int64) for t in times)


def train_step(params: Params, t_in: torch.Tensor, y: torch.Tensor, cfg: S4NNConfig,
               online: bool, reduce=None) -> tuple[Params, StepStats]:
    """One trainer step: ``online`` = one update per sample, in order (reference rule);
    otherwise the whole ``t_in`` is one mini-batch. ``reduce(grads, n_local)``, if given,
    combines the gradients of data-parallel workers before the update."""
    if online:
        if reduce is not None:
            raise ValueError("per-sample (online) updates cannot be data-parallel: use "
                             "--batch-size larger than the number of processes")
        return _train_online(params, t_in, y, cfg)
    fwd = forward(params, t_in, cfg)
    grads = backward(params, fwd, t_in, y, cfg)
    if reduce is not None:
        grads = reduce(grads, len(t_in))
    new = update(params, grads, cfg)
    flips = tuple(sign_flips(a, b) for a, b in zip(params.w, new.w)) if cfg.BINARY else ()
    stats = StepStats(len(t_in), loss(fwd, y, cfg), fwd.readout,
                      _fire_counts(fwd.times, cfg.t_max), flips)
    return new, stats


def _train_online(params: Params, t_in: torch.Tensor, y: torch.Tensor, cfg: S4NNConfig
                  ) -> tuple[Params, StepStats]:
    sizes = np.array(cfg.sizes, dtype=np.int64)
    n_layers = len(params.w)
    w_flat = np.concatenate([weights_T(w).ravel() for w in params.w])        # copy: pure
    alpha = params.alpha.numpy().copy()
    lrs = np.array(_per_layer(cfg, cfg.lr_hidden, cfg.lr_out))
    lra = np.full(n_layers, float(getattr(cfg, "lr_alpha", 0.0)))
    B, K = len(t_in), cfg.n_classes
    out_t = np.empty((B, K), np.int32)
    out_vf = np.empty((B, K), w_flat.dtype)
    out_vl = np.empty((B, K), w_flat.dtype)
    losses = np.empty(B)
    counts = np.zeros(int(sizes[1:].sum()), np.int64)
    flips = np.zeros(n_layers, np.int64)
    _kernels.online_chunk(
        as_times(t_in), np.ascontiguousarray(np.asarray(y), dtype=np.int64), w_flat, sizes,
        alpha, cfg.BINARY, np.array(_per_layer(cfg, cfg.thr_hidden, cfg.thr_out)), lrs,
        1.0 - lrs * cfg.weight_decay, lra, cfg.t_max, cfg.spike_delay, cfg.strict_threshold,
        cfg.gamma, cfg.NO_SPIKE_LABEL, cfg.delta_weights == "updated", cfg.t_max - 3,
        out_t, out_vf, out_vl, losses, counts, flips)
    ws, off = [], 0
    for l in range(n_layers):
        n_i, n_o = int(sizes[l]), int(sizes[l + 1])
        block = w_flat[off: off + n_i * n_o].reshape(n_i, n_o)
        ws.append(torch.from_numpy(np.ascontiguousarray(block.T)))
        off += n_i * n_o
    splits = np.split(counts, np.cumsum(sizes[1:-1]))
    stats = StepStats(B, float(losses.mean()) if B else 0.0, Readout(out_t, out_vf, out_vl),
                      tuple(splits), tuple(int(f) for f in flips) if cfg.BINARY else ())
    return Params(tuple(ws), torch.from_numpy(alpha)), stats


def end_epoch(params: Params, fire_counts: tuple[np.ndarray, ...], n_seen: int,
              cfg: S4NNConfig, gen: torch.Generator) -> tuple[Params, int]:
    """Dead-neuron reset (reference code): hidden neurons that fired on fewer than
    ``dead_reset * n_seen`` samples this epoch get incoming weights re-drawn from the init
    distribution. Returns the new params and how many neurons were reset."""
    if cfg.dead_reset <= 0 or n_seen == 0:
        return params, 0
    w = list(params.w)
    n_reset = 0
    for l in range(len(cfg.hidden)):
        dead = torch.from_numpy(fire_counts[l] < cfg.dead_reset * n_seen)
        k = int(dead.sum())
        if k:
            fresh = _uniform((k, w[l].shape[1]), cfg.init_low_hidden, cfg.init_hidden, gen)
            w[l] = w[l].clone()
            w[l][dead] = fresh.to(w[l].dtype)
            n_reset += k
    return Params(tuple(w), params.alpha), n_reset


def predict(out: Readout, policy, cfg: S4NNConfig) -> np.ndarray:
    """Decided class ``[B]`` under an :class:`~snnviz.config.EvalPolicy` (-1: none)."""
    return ttfs_predict(out, policy, cfg.t_max)


def tied(out: Readout, cfg: S4NNConfig) -> np.ndarray:
    """Boolean ``[B]``: several output neurons share the first spike time."""
    t = np.asarray(out.t_out)
    first = t.min(axis=1)
    return ((t == first[:, None]).sum(axis=1) > 1) & (first < cfg.t_max)


def spike_time_hist(fwd: Forward, cfg: S4NNConfig) -> tuple[np.ndarray, ...]:
    """Per non-input layer, counts of spike times ``0..t_max`` (``t_max``: silent)."""
    return tuple(np.bincount(t.numpy().ravel(), minlength=cfg.t_max + 1) for t in fwd.times)


def score(out: Readout, y: np.ndarray, policy, cfg: S4NNConfig) -> np.ndarray:
    """Boolean ``[B]`` correctness under an :class:`~snnviz.config.EvalPolicy`."""
    return ttfs_correct(out, y, policy, cfg.t_max)


def silent(out: Readout, cfg: S4NNConfig) -> np.ndarray:
    """Boolean ``[B]``: no output neuron fired."""
    return np.asarray(out.t_out).min(axis=1) >= cfg.t_max


def probe(params: Params, t_in_one: torch.Tensor, cfg: S4NNConfig, max_neurons: int) -> dict:
    """Display data for one sample: spike times of every layer, membrane traces of up to
    ``max_neurons`` neurons per layer (the earliest to fire first) and the thresholds."""
    fwd = forward(params, t_in_one.reshape(1, -1), cfg)
    thr = _per_layer(cfg, cfg.thr_hidden, cfg.thr_out)
    pre = (t_in_one.reshape(-1), *(t[0] for t in fwd.times[:-1]))
    layers = []
    for l, w in enumerate(params.w):
        t_post = fwd.times[l][0]
        neurons = torch.argsort(t_post.to(torch.int64), stable=True)[:max_neurons]
        scale = float(params.alpha[l]) if cfg.BINARY else 1.0
        trace = membrane_trace(pre[l], w, cfg.t_max, neurons=neurons, binary=cfg.BINARY,
                               scale=scale)
        layers.append({"times": t_post.numpy().copy(), "neurons": neurons.numpy(),
                       "v_trace": trace, "thr": float(thr[l])})
    return {"t_in": t_in_one.reshape(-1).numpy().copy(), "layers": layers}
