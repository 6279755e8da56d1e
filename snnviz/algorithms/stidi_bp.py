r"""STiDi-BP: spike-time-displacement error backpropagation (fully connected network).

Refs: M. Mirsadeghi, M. Shalchian, S. R. Kheradpisheh, T. Masquelier, "STiDi-BP: Spike time
displacement based error backpropagation in multilayer spiking neural networks",
Neurocomputing 427 (2021); and "Spike time displacement-based error backpropagation in
convolutional spiking neural networks", Neural Computing and Applications (2023),
arXiv:2108.13621. No paper body or author code was available: this is the reconstruction of
spec ``algorithms.md`` section 3; every choice is listed in ``docs/algorithms/stidi_bp.md``.

Neurons: single-spike, non-leaky, PL-PSP (:mod:`snnviz.neurons.pl_psp`):

    V_j(t) = sum_i w_ji eps(t - t_i) ;   t_j = min{t : V_j(t) >= theta_l}, else t_max

Output targets (relative, as S4NN; ``tau = min_j t_j``): ``T_label = tau``,
``T_j = max(t_j, min(tau + gamma, t_max))``; no output spike: ``T_label = t_max - gamma``.

Every layer l minimises its own temporal error, with the displacement ``dt_j = T_j - t_j``:

    e_j = dt_j / t_max ,   E^l = 1/2 sum_j e_j^2

Linear approximations (``r_j``: ``t_j`` if j fired, else its peak time or ``t_max``):

    dt_j/dV_j ~ -t_j / theta_l ,  dV_j/dw_ji = eps(r_j - t_i) ,  dV_j/dt_i = -w_ji eps'(r_j - t_i)

Weight step (mean over the batch):   w_ji <- w_ji - lr_l * e_j t_j eps(r_j - t_i) / (t_max theta_l)

where, with ``error_norm = "l2"`` (default, as S4NN), ``e`` in the weight step is each
sample's error vector of the layer divided by its norm (``"none"``: the plain gradient).

Displacement sent to the layer below (``beta = 1``: each downstream displacement is passed
back through the sensitivity ``dt_j/dt_i``):

    dt_i = beta * sum_j dt_j (t_j / theta_l) w_ji eps'(r_j - t_i)
    T_i = clip(t_i + dt_i, 0, t_max)

and layer l-1 is trained on ``e_i = (T_i - t_i) / t_max`` exactly like the output layer.
Convolution/pooling layers (:mod:`~snnviz.algorithms.stidi_bp_conv`) and binary weights
(:mod:`~snnviz.algorithms.stidi_bp_binary`) plug into this engine through layer geometries.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import torch

from snnviz.algorithms import s4nn
from snnviz.algorithms._common import (
    Readout,
    binarize,
    normalize_error,
    relative_targets,
    sign_flips,
)
from snnviz.config import Validated, hp
from snnviz.encoders.latency import latency_s4nn
from snnviz.neurons import _pl_kernels
from snnviz.neurons.pl_psp import (
    PSPOutput,
    first_spike_times,
    first_spike_times_naive,
    membrane_trace,
    psp_tables,
)

NAME = "stidi-bp"
TITLE = "STiDi-BP (spike-time displacement backprop, fully connected)"

DISP_EDGES = np.array([-np.inf, -64, -16, -4, -1, -0.25, 0.25, 1, 4, 16, 64, np.inf])
ALPHA_MIN = 1e-3     # binary layer scales are kept positive
_CHUNK = 256         # samples per forward chunk (bounds the memory of unfolded patches)


class Dense(NamedTuple):
    """Fully connected layer geometry: one row per sample, weights ``[n_out, n_in]``."""

    n_in: int
    n_out: int

    @property
    def fan_in(self) -> int:
        return self.n_in

    @property
    def size(self) -> int:         # spiking neurons in the layer
        return self.n_out

    @property
    def out_size(self) -> int:     # neurons passed to the next layer (after pooling)
        return self.n_out

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.n_out, self.n_in)

    def rows(self, t_pre: np.ndarray, t_max: int) -> np.ndarray:
        return t_pre                                                           # [B, P]

    def to_rows(self, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a)                                         # [B, C]

    def fold(self, d_rows: np.ndarray, batch: int) -> np.ndarray:
        return d_rows

    def pool(self, t: np.ndarray, t_ref: np.ndarray, t_max: int) -> tuple:
        return t, t_ref, None

    def unpool(self, e: np.ndarray, idx) -> np.ndarray:
        return e

    def fire(self, t_pre, wT: np.ndarray, thr, cfg, naive: bool = False) -> PSPOutput:
        """Spike times ``[B, n_out]`` from weights in kernel layout ``wT`` ``[n_in, n_out]``."""
        fn = first_spike_times_naive if naive else first_spike_times
        return fn(t_pre, wT.T, thr, cfg.t_max, cfg.tau1, cfg.tau2, strict=cfg.strict_threshold)

    def trace_inputs(self, t_pre_one: np.ndarray, w: torch.Tensor, neurons: np.ndarray,
                     t_max: int):
        return t_pre_one[0], w[torch.from_numpy(neurons)]


class LayerSpec(NamedTuple):
    """A layer's geometry with its threshold, learning rate and initial gain."""

    geom: object
    thr: float
    lr: float
    gain: float


@dataclass(frozen=True)
class StidiConfig(Validated):
    """STiDi-BP hyperparameters (fully connected). Kit defaults, not the papers' (unknown)."""

    BINARY: ClassVar[bool] = False

    n_in: int = hp(784, "input neurons (set from the dataset)", bounds=(1, None), ui=False)
    n_classes: int = hp(10, "output neurons (set from the dataset)", bounds=(2, None), ui=False)
    hidden: tuple[int, ...] = hp((400,), "hidden layer sizes, e.g. 400 or 400,200",
                                 bounds=(1, 100_000))
    t_max: int = hp(256, "time steps; t_max means 'no spike'", bounds=(4, 4096), step=1)
    tau1: int = hp(128, "PSP rise time (steps)", bounds=(1, 4096), step=1)
    tau2: int | None = hp(None, "PSP decay time (steps); none = no decay (a ramp)",
                          bounds=(1, 4096), step=1)
    thr_hidden: float = hp(10.0, "threshold of hidden neurons", bounds=(1e-3, 1e6), step=0.5)
    thr_out: float = hp(10.0, "threshold of output neurons", bounds=(1e-3, 1e6), step=0.5)
    init_hidden: float = hp(6.0, "mean initial total weight of a hidden neuron, in "
                            "thresholds", bounds=(-1e4, 1e4), step=0.5)
    init_out: float = hp(3.0, "mean initial total weight of an output neuron, in thresholds",
                         bounds=(-1e4, 1e4), step=0.5)
    init_std: float = hp(1.6, "initial weight spread: uniform weights with standard "
                         "deviation init_std * thr / sqrt(fan_in)", bounds=(0.0, 1e4), step=0.1)
    lr_hidden: float = hp(0.3, "learning rate of hidden layers", bounds=(0.0, 1e6), step=0.1)
    lr_out: float = hp(1.0, "learning rate of the output layer", bounds=(0.0, 1e6), step=0.1)
    beta: float = hp(1.0, "scale of the displacement sent to the layer below",
                     bounds=(0.0, 1e6), step=0.1)
    targets: str = hp("relative", "output targets: relative (S4NN: label at the first "
                      "spike, others >= gamma later) or extremes (label gamma before the "
                      "first, others gamma after the last)", choices=("relative", "extremes"))
    gamma: int = hp(5, "target margin (steps)", bounds=(0, 4096), step=1)
    error_norm: str = hp("l2", "error vector in each layer's weight step, per sample: l2 "
                         "(unit norm, as S4NN), output (normalise the output layer only) "
                         "or none (plain gradient)", choices=("l2", "output", "none"))
    grad_ref: str = hp("spike", "time at which the derivatives of a neuron asked to fire "
                       "earlier are taken: its spike (or peak) or its target time (inputs "
                       "whose PSP is alive at the target)", choices=("spike", "target"))
    silent_ref: str = hp("peak", "time at which a silent neuron's derivatives are taken: "
                         "its peak potential or t_max", choices=("peak", "t_max"))
    strict_threshold: bool = hp(False, "fire when V > theta instead of V >= theta")
    displacement_probe: int = hp(16, "at most this many (and at most 1/8) of a step's samples "
                                 "are re-run to measure the realised spike-time change (0 = off)",
                                 bounds=(0, 4096))
    dtype: str = hp("float32", "weight precision", choices=("float32", "float64"), ui=False)

    def _check(self) -> None:
        if self.gamma >= self.t_max:
            raise ValueError(f"gamma={self.gamma} must be smaller than t_max={self.t_max}")
        if self.tau1 >= self.t_max:
            raise ValueError(f"tau1={self.tau1} must be smaller than t_max={self.t_max}")

    def layer_specs(self) -> tuple[LayerSpec, ...]:
        s = (self.n_in, *self.hidden, self.n_classes)
        return tuple(LayerSpec(Dense(s[l], s[l + 1]), *self._kind(l == len(s) - 2))
                     for l in range(len(s) - 1))

    def _kind(self, last: bool) -> tuple[float, float, float]:
        if last:
            return self.thr_out, self.lr_out, self.init_out
        return self.thr_hidden, self.lr_hidden, self.init_hidden

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_in, *(spec.geom.size for spec in self.layer_specs()))


Config = StidiConfig


class Params(NamedTuple):
    """Weights per layer (dense ``[N_out, N_in]``, conv ``[C_out, C_in, k, k]``) and
    per-layer scales ``alpha`` ``[L]`` float64 (used by binary weights only)."""

    w: tuple[torch.Tensor, ...]
    alpha: torch.Tensor


class Forward(NamedTuple):
    """Per layer: spike times ``[B, N_l]`` (torch int32), reference times ``t_ref`` (the
    spike, or the peak of a silent neuron), the layer's input times ``pre`` and their
    reference times ``pre_ref``, pooling indices; the output read-out (``v_late`` holds the
    peak potential of silent outputs)."""

    times: tuple[torch.Tensor, ...]
    readout: Readout
    t_ref: tuple[np.ndarray, ...]
    pre: tuple[np.ndarray, ...]
    pre_ref: tuple[np.ndarray, ...]
    pool_idx: tuple


class StepStats(NamedTuple):
    """Plain-data summary of one training step (``n`` samples); ``extra`` holds the
    displacement statistics (see :func:`displacement_stats`)."""

    n: int
    loss: float
    readout: Readout
    fire_counts: tuple[np.ndarray, ...]
    flips: tuple[int, ...]
    extra: dict


def scale_lr(cfg: StidiConfig, factor: float) -> StidiConfig:
    """The config with every learning rate (``lr_*`` fields) multiplied by ``factor``."""
    if factor == 1.0:
        return cfg
    return dataclasses.replace(cfg, **{f.name: getattr(cfg, f.name) * factor
                                       for f in dataclasses.fields(cfg)
                                       if f.name.startswith("lr_")})


def _dtype(cfg: StidiConfig) -> torch.dtype:
    return torch.float64 if cfg.dtype == "float64" else torch.float32


def init(cfg: StidiConfig, gen: torch.Generator) -> Params:
    """Uniform weights with mean ``gain * thr / fan_in`` (a neuron's mean total weight is
    ``gain`` thresholds: ``init_*``) and standard deviation ``init_std * thr / sqrt(fan_in)``;
    binary layers' scales start at ``mean |w_l|`` (XNOR-Net), others are 1 (unused)."""
    w = []
    for sp in cfg.layer_specs():
        u = torch.rand(sp.geom.weight_shape, generator=gen, dtype=torch.float64) * 2 - 1
        half = cfg.init_std * 3 ** 0.5 * sp.thr / sp.geom.fan_in ** 0.5
        w.append((sp.gain * sp.thr / sp.geom.fan_in + half * u).to(_dtype(cfg)))
    alpha = [float(x.abs().mean()) if cfg.BINARY else 1.0 for x in w]
    return Params(tuple(w), torch.tensor(alpha, dtype=torch.float64))


def encode(pixels: np.ndarray | torch.Tensor, cfg: StidiConfig) -> torch.Tensor:
    """S4NN latency code (spec 3.2): ``[N, ...]`` uint8 -> ``[N, D]`` int32, black silent."""
    return torch.from_numpy(latency_s4nn(pixels, cfg.t_max))


def forward_weights(params: Params, cfg: StidiConfig) -> tuple[torch.Tensor, ...]:
    """The weights the forward pass uses: ``w``, or ``alpha_l * sign(w_l)`` when binary."""
    if cfg.BINARY:
        return tuple(float(a) * binarize(w) for w, a in zip(params.w, params.alpha))
    return params.w


# Internally a layer's weights live in the kernels' layout: a contiguous [P, C] numpy array,
# the transpose of w.reshape(C, P) (P = fan-in, C = neurons or channels).
def _kernel(w: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(w.detach().reshape(w.shape[0], -1).numpy().T)   # [P, C]


def _binarised(wts: list[np.ndarray], alpha: np.ndarray) -> list[np.ndarray]:
    return [float(a) * binarize(torch.from_numpy(w)).numpy() for w, a in zip(wts, alpha)]


def _forward(wts: list[np.ndarray], t_in, cfg: StidiConfig, naive: bool) -> Forward:
    t_pre = np.ascontiguousarray(np.asarray(t_in), dtype=np.int32)            # [B, N_in]
    ref_pre = t_pre
    times, refs, pres, pre_refs, idxs = [], [], [], [], []
    out = None
    for spec, wT in zip(cfg.layer_specs(), wts):
        out = spec.geom.fire(t_pre, wT, spec.thr, cfg, naive)                # [B, N_l]
        pres.append(t_pre)
        pre_refs.append(ref_pre)
        times.append(torch.from_numpy(out.times))
        refs.append(out.t_peak if cfg.silent_ref == "peak" else out.times)
        t_pre, ref_pre, idx = spec.geom.pool(out.times, refs[-1], cfg.t_max)  # [B, N_next]
        idxs.append(idx)
    return Forward(tuple(times), Readout(out.times, out.v_fire, out.v_peak), tuple(refs),
                   tuple(pres), tuple(pre_refs), tuple(idxs))


def _cat(xs: list):
    if xs[0] is None:
        return None
    return torch.cat(xs) if isinstance(xs[0], torch.Tensor) else np.concatenate(xs)


def _concat(parts: list[Forward]) -> Forward:
    """Join the forward passes of consecutive chunks of a batch."""
    if len(parts) == 1:
        return parts[0]

    def per_layer(k: int) -> tuple:
        return tuple(_cat([p[k][l] for p in parts]) for l in range(len(parts[0][k])))

    readout = Readout(*(np.concatenate(f) for f in zip(*(p.readout for p in parts))))
    return Forward(per_layer(0), readout, *(per_layer(k) for k in range(2, len(Forward._fields))))


def _forward_chunks(wts: list[np.ndarray], t_in, cfg: StidiConfig) -> Forward:
    return _concat([_forward(wts, t_in[k: k + _CHUNK], cfg, False)
                    for k in range(0, max(len(t_in), 1), _CHUNK)])


def forward(params: Params, t_in: torch.Tensor, cfg: StidiConfig) -> Forward:
    """Exact forward pass of a batch ``t_in`` ``[B, N_in]`` (closed form per interval)."""
    return _forward_chunks([_kernel(w) for w in forward_weights(params, cfg)], t_in, cfg)


def forward_naive(params: Params, t_in: torch.Tensor, cfg: StidiConfig) -> Forward:
    """The same forward pass by time-stepped simulation (test oracle, benchmarks)."""
    return _forward([_kernel(w) for w in forward_weights(params, cfg)], t_in, cfg, True)


def output_targets(t_out: np.ndarray, y: np.ndarray, cfg: StidiConfig) -> np.ndarray:
    """Desired output times ``[B, K]`` (``targets = relative | extremes``)."""
    t_out = np.asarray(t_out, dtype=np.int64)
    if cfg.targets == "relative":
        return relative_targets(t_out, np.asarray(y), cfg.gamma, cfg.t_max, True)
    rows = np.arange(len(t_out))
    target = np.minimum(t_out.max(axis=1, keepdims=True) + cfg.gamma, cfg.t_max)
    target = np.broadcast_to(target, t_out.shape).copy()                     # [B, K]
    target[rows, y] = np.maximum(t_out.min(axis=1) - cfg.gamma, 0)
    return target


def _row_backward(spec: LayerSpec, fwd: Forward, l: int, g_w, g_t, w_disp, w_latent,
                  cfg: StidiConfig, ref: np.ndarray):
    """Compiled sums over rows (see :func:`snnviz.neurons._pl_kernels.backward_rows`);
    ``ref`` ``[B, N_l]``: the time each neuron's derivatives are taken at."""
    geom, want_dt = spec.geom, l > 0
    rows = np.ascontiguousarray(geom.rows(fwd.pre[l], cfg.t_max), dtype=np.int32)  # [R, P]
    virt = np.ascontiguousarray(geom.rows(fwd.pre_ref[l], cfg.t_max), dtype=np.int32)
    eps, deps, win = psp_tables(cfg.t_max, cfg.tau1, cfg.tau2)
    R, P = rows.shape
    grad = np.empty((P, w_disp.shape[1]))                                     # [P, C]
    dt = np.empty((R, P)) if want_dt else np.empty((0, 0))
    g_sign = np.empty(P)
    _pl_kernels.backward_rows(rows, virt, np.ascontiguousarray(geom.to_rows(ref),
                                                                dtype=np.int32),
                              geom.to_rows(g_w), geom.to_rows(g_t), w_disp, w_latent,
                              cfg.BINARY, eps, deps, win, cfg.t_max, want_dt, grad, dt, g_sign)
    return grad, dt, float(g_sign.sum())


def _backward(w_latent: list[np.ndarray], w_disp: list[np.ndarray], fwd: Forward, y,
              cfg: StidiConfig):
    """Gradients in kernel layout (``[P, C]`` float64, mean over the batch), scale
    gradients ``[L]`` and the requested displacements ``T - t`` per layer (steps)."""
    specs = cfg.layer_specs()
    t_out = np.asarray(fwd.readout.t_out)
    B, t_max = max(len(t_out), 1), cfg.t_max
    disp = (output_targets(t_out, np.asarray(y), cfg) - t_out).astype(np.float64)  # [B, K]
    grads: list[np.ndarray] = [np.empty(0)] * len(specs)
    g_alpha = np.zeros(len(specs))
    requested: list[np.ndarray] = [np.empty(0)] * len(specs)
    for l in range(len(specs) - 1, -1, -1):
        spec = specs[l]
        requested[l] = disp
        t_post = fwd.times[l].numpy()
        e = disp / t_max                                                    # [B, N_l]
        g_t = e * t_post / (t_max * spec.thr)               # dE/dV_j = e_j t_j / (t_max theta)
        norm = cfg.error_norm == "l2" or (cfg.error_norm == "output" and l == len(specs) - 1)
        g_w = normalize_error(e) * t_post / (t_max * spec.thr) if norm else g_t
        grad, dt, gs = _row_backward(spec, fwd, l, g_w, g_t, w_disp[l], w_latent[l], cfg,
                                     reference_times(fwd.t_ref[l], t_post, disp, cfg))
        grads[l] = grad / B
        g_alpha[l] = gs / (B * math.prod(spec.geom.weight_shape))   # mean over weights
        if l > 0:
            # Displacement of the layer's inputs, clipped desired times, routed through pooling.
            t_pre = fwd.pre[l].astype(np.float64)
            d_pre = cfg.beta * t_max * t_max * spec.geom.fold(dt, len(t_out))  # [B, N_pre]
            d_pre = np.clip(t_pre + d_pre, 0, t_max) - t_pre
            disp = specs[l - 1].geom.unpool(d_pre, fwd.pool_idx[l - 1])    # [B, N_{l-1}]
    return grads, g_alpha, tuple(requested)


def reference_times(t_ref: np.ndarray, t: np.ndarray, disp: np.ndarray,
                    cfg: StidiConfig) -> np.ndarray:
    """Where each neuron's derivatives are taken: ``t_ref`` (its spike, or the peak of a
    silent neuron); with ``grad_ref = "target"``, a neuron asked to fire earlier
    (``disp < 0``) uses ``min(t_ref, round(t + disp))``, its target time: the inputs whose
    PSP is alive then are the ones that can make it cross there."""
    if cfg.grad_ref != "target":
        return t_ref
    target = np.rint(np.clip(t + disp, 0, cfg.t_max)).astype(np.int64)
    return np.where(disp < 0, np.minimum(t_ref, target), t_ref).astype(np.int32)


def _displacement_weights(w_latent: list, w_fwd: list, cfg: StidiConfig) -> list:
    """Weights in ``dV/dt_i``: the forward's, or the latent ones when a binary config sets
    ``delta_weights = "latent"`` (BS4NN's choice)."""
    return w_latent if getattr(cfg, "delta_weights", "effective") == "latent" else w_fwd


def _to_params(grads_or_w: list[np.ndarray], like: Params, alpha: np.ndarray) -> Params:
    return Params(tuple(torch.from_numpy(np.ascontiguousarray(g.T)).reshape(w.shape).to(w.dtype)
                        for g, w in zip(grads_or_w, like.w)), torch.from_numpy(alpha))


def backward_displacements(params: Params, fwd: Forward, y, cfg: StidiConfig
                           ) -> tuple[Params, tuple[np.ndarray, ...]]:
    """Gradients (``Params`` form, mean over the batch) and the requested displacements
    ``T - t`` of every layer (``[B, N_l]`` float64, in steps)."""
    w_lat = [_kernel(w) for w in params.w]
    w_fwd = [_kernel(w) for w in forward_weights(params, cfg)] if cfg.BINARY else w_lat
    grads, g_alpha, req = _backward(w_lat, _displacement_weights(w_lat, w_fwd, cfg), fwd, y,
                                    cfg)
    return _to_params(grads, params, g_alpha), req


def backward(params: Params, fwd: Forward, t_in, y, cfg: StidiConfig) -> Params:
    """Explicit gradients in ``Params`` form (``w <- w - lr_l * grad``)."""
    return backward_displacements(params, fwd, y, cfg)[0]


def update(params: Params, grads: Params, cfg: StidiConfig) -> Params:
    """SGD step per layer; binary configs also step the scales (kept >= ``ALPHA_MIN``)."""
    w = tuple(p - sp.lr * g for p, g, sp in zip(params.w, grads.w, cfg.layer_specs()))
    alpha = params.alpha
    if cfg.BINARY:
        alpha = (alpha - cfg.lr_alpha * grads.alpha).clamp(min=ALPHA_MIN)
    return Params(w, alpha)


def loss(fwd: Forward, y, cfg: StidiConfig) -> float:
    """Mean over the batch of the output error ``1/2 sum_j ((T_j - t_j) / t_max)^2``."""
    t = np.asarray(fwd.readout.t_out)
    e = (output_targets(t, np.asarray(y), cfg) - t) / cfg.t_max
    return float(0.5 * (e * e).sum(axis=1).mean()) if len(t) else 0.0


def _hist(d: np.ndarray) -> np.ndarray:
    return np.histogram(d, DISP_EDGES)[0].astype(np.int64)


def displacement_stats(requested: list[list[np.ndarray]], realised) -> dict:
    """``StepStats.extra``: per layer (axis 0) the mean, mean magnitude, non-zero fraction
    and histogram (bins ``DISP_EDGES``, steps) of the requested displacements; the same
    for the realised change of the probed samples' spike times (only when measured)."""
    req = [np.concatenate([r.ravel() for r in layer]) for layer in requested]

    def mean(a: np.ndarray) -> float:       # NaN for an empty (data-parallel) shard
        return float(a.mean()) if a.size else math.nan

    extra = {"disp_edges": DISP_EDGES.copy(),
             "disp_requested_mean": np.array([mean(r) for r in req]),
             "disp_requested_mean_abs": np.array([mean(np.abs(r)) for r in req]),
             "disp_requested_nonzero": np.array([mean(r != 0) for r in req]),
             "disp_requested_hist": np.stack([_hist(r) for r in req])}
    if realised is not None:
        extra.update({"disp_realised_samples": int(len(realised[0])),
                      "disp_realised_mean": np.array([mean(r) for r in realised]),
                      "disp_realised_mean_abs": np.array([mean(np.abs(r)) for r in realised]),
                      "disp_realised_hist": np.stack([_hist(r.ravel()) for r in realised])})
    return extra


def train_step(params: Params, t_in: torch.Tensor, y: torch.Tensor, cfg: StidiConfig,
               online: bool, reduce=None) -> tuple[Params, StepStats]:
    """One trainer step: ``online`` = one update per sample, in order; otherwise one
    mini-batch update (mean gradient; ``reduce(grads, n_local)``, if given, combines the
    gradients of data-parallel workers first). Same arithmetic as :func:`forward`,
    :func:`backward` and :func:`update`, on private copies of the weights kept in the
    kernels' layout for the whole step. The realised displacement compares the spike times
    of the step's first ``min(displacement_probe, ceil(n / 8))`` samples before and after
    this step's update(s), which bounds its cost to one (online: two) forward passes of an
    eighth of the step."""
    if online and reduce is not None:
        raise ValueError("per-sample (online) updates cannot be data-parallel: use "
                         "--batch-size larger than the number of processes")
    y = np.asarray(y)
    specs = cfg.layer_specs()
    wts = [_kernel(w) for w in params.w]                  # private copies, updated in place
    alpha = params.alpha.numpy().copy()
    steps = [(k, k + 1) for k in range(len(t_in))] if online else [(0, len(t_in))]
    fwds, reqs, loss_sum, flips = [], [], 0.0, np.zeros(len(wts), np.int64)
    for a, b in steps:
        w_fwd = _binarised(wts, alpha) if cfg.BINARY else wts
        fwd = _forward_chunks(w_fwd, t_in[a:b], cfg)
        grads, g_alpha, req = _backward(wts, _displacement_weights(wts, w_fwd, cfg), fwd,
                                        y[a:b], cfg)
        if reduce is not None:
            red = reduce(Params(tuple(map(torch.from_numpy, grads)), torch.from_numpy(g_alpha)),
                         b - a)
            grads, g_alpha = [g.numpy() for g in red.w], red.alpha.numpy()
        for l, sp in enumerate(specs):                                   # as update()
            old = wts[l].copy() if cfg.BINARY else None
            wts[l] -= sp.lr * grads[l].astype(wts[l].dtype)
            if cfg.BINARY:
                flips[l] += sign_flips(torch.from_numpy(old), torch.from_numpy(wts[l]))
        if cfg.BINARY:
            alpha = np.maximum(alpha - cfg.lr_alpha * g_alpha, ALPHA_MIN)
        fwds.append(fwd)
        reqs.append(req)
        loss_sum += loss(fwd, y[a:b], cfg) * (b - a)
    fwd = _concat(fwds)
    new = _to_params(wts, params, alpha)
    m = min(cfg.displacement_probe, (len(t_in) + 7) // 8)
    realised = None
    if m:
        before = forward(params, t_in[:m], cfg).times if online else \
            tuple(t[:m] for t in fwd.times)
        after = _forward_chunks(_binarised(wts, alpha) if cfg.BINARY else wts, t_in[:m],
                                cfg).times
        realised = [(a.numpy().astype(np.int64) - b.numpy()) for a, b in zip(after, before)]
    fire = tuple((t.numpy() < cfg.t_max).sum(axis=0).astype(np.int64) for t in fwd.times)
    extra = displacement_stats([list(layer) for layer in zip(*reqs)], realised)
    return new, StepStats(len(t_in), loss_sum / max(len(t_in), 1), fwd.readout, fire,
                          tuple(int(f) for f in flips) if cfg.BINARY else (), extra)


def end_epoch(params: Params, fire_counts: tuple[np.ndarray, ...], n_seen: int,
              cfg: StidiConfig, gen: torch.Generator) -> tuple[Params, int]:
    """No end-of-epoch reset in STiDi-BP: returns the params unchanged and 0."""
    return params, 0


predict, score, silent, tied = s4nn.predict, s4nn.score, s4nn.silent, s4nn.tied
spike_time_hist = s4nn.spike_time_hist


def probe(params: Params, t_in_one: torch.Tensor, cfg: StidiConfig, max_neurons: int) -> dict:
    """Display data for one sample: spike times of every layer, membrane traces of up to
    ``max_neurons`` neurons per layer (the earliest to fire first) and the thresholds."""
    fwd = forward(params, t_in_one.reshape(1, -1), cfg)
    layers = []
    for l, (spec, w) in enumerate(zip(cfg.layer_specs(), forward_weights(params, cfg))):
        t_post = fwd.times[l][0].numpy()
        neurons = np.argsort(t_post, kind="stable")[:max_neurons]
        t_rows, w_rows = spec.geom.trace_inputs(fwd.pre[l], w.reshape(w.shape[0], -1), neurons,
                                                cfg.t_max)
        trace = membrane_trace(t_rows, w_rows, cfg.t_max, cfg.tau1, cfg.tau2)
        layers.append({"times": t_post.copy(), "neurons": neurons, "v_trace": trace,
                       "thr": float(spec.thr)})
    return {"t_in": np.asarray(t_in_one).reshape(-1).copy(), "layers": layers,
            "extra": {"tau1": cfg.tau1, "tau2": cfg.tau2,
                      "t_ref": [r[0].copy() for r in fwd.t_ref]}}
