r"""Proxy learning: an IF spiking network trained through a weight-sharing ReLU ANN.

Ref: S. R. Kheradpisheh, M. Mirsadeghi, T. Masquelier, "Spiking neural networks trained via
proxy", IEEE Access 10, 70769-70778 (2022), arXiv:2109.13208. Semantics follow the authors'
reference code (spec ``algorithms.md`` section 4).

One parameter set ``theta = (W_l, gamma, beta)`` (conv/linear weights, BN affine) drives two
networks of the same architecture (:mod:`snnviz.algorithms._proxy_nets`):

    ANN:  a_l = ReLU(BN(W_l a_{l-1})),      y_ANN = W_L a_{L-1}
    SNN:  s_l[t] = IF(BN(W_l s_{l-1}[t])),  c = sum_{t<T} s_L[t]      (spike counts, 0..T)

Proxy step (spec 4.6), a mini-batch of B samples and K classes:

    1. y_ANN = ANN(x) with its autograd graph;  c = SNN(x) without one
    2. substitution: the loss is taken on c in place of y_ANN,
           L = 1/(BK) sum_{b,k} (c_bk - onehot_bk)^2,   dL/dy_ANN := 2 (c - onehot) / (BK)   (*)
    3. dL/dtheta = (dy_ANN/dtheta)^T dL/dy_ANN through the ANN's ReLU masks, max-pool routing
       and BN: a vector-Jacobian product of the ANN graph with (*) (autograd)
    4. Adam (L2 weight decay added to the gradient) on theta, so both networks change.

``mode="ann"`` is baseline (a), the same ANN trained on its own output (y_ANN in (*)).
Baseline (b), ANN-to-SNN conversion with data-based threshold balancing, is :func:`convert`;
:func:`compare` evaluates the three side by side (``python -m snnviz.algorithms.proxy -h``;
``snnviz compare PROXY_RUN ANN_RUN ...`` puts them in one table with other runs).

Batch norm (spec 4.8 pitfall 2, option (a), as in the reference code): gamma and beta are
shared; running statistics are buffers, kept apart for the ANN and the SNN (the SNN's updated
once per time step). For the first ``bn_train_epochs`` epochs both networks normalise with
batch statistics; afterwards with their frozen running statistics (:func:`end_epoch` counts).

Read-out: argmax of the output spike counts. Ties (several outputs share the top count):
``potential`` breaks them by the final output membrane potential (then the lowest index),
``lowest-index`` is ``argmax``, ``optimistic`` counts the sample as correct if the label is
among them (the reference code's final evaluation), ``wrong`` gives no decision. No output
spike at all: ``wrong``, or ``potential`` = argmax of the final output potentials.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from snnviz.algorithms import _proxy_nets as nets
from snnviz.config import HONEST, EvalPolicy, Validated, hp
from snnviz.rng import derive

NAME = "proxy"
TITLE = "Proxy learning (IF SNN trained through a weight-sharing ReLU ANN)"


@dataclass(frozen=True)
class ProxyConfig(Validated):
    """Proxy-learning hyperparameters; defaults are the reference F-MNIST values (spec 4.7)
    except the architecture (``tiny``; the paper's network is ``arch=fmnist``)."""

    # trainer hints: mini-batches of the reference's size unless --batch-size is given, and
    # no dead-network stop (rate-coded outputs can all be silent early in training)
    DEFAULT_BATCH_SIZE: ClassVar[int] = 100
    DEAD_NETWORK_STOP: ClassVar[bool] = False

    n_in: int = hp(784, "input values (set from the dataset)", bounds=(1, None), ui=False)
    n_classes: int = hp(10, "output neurons (set from the dataset)", bounds=(2, None), ui=False)
    in_shape: tuple[int, ...] = hp((1, 28, 28), "input shape C,H,W (set from the dataset)",
                                   bounds=(1, None), ui=False)
    device: str = hp("cpu", "torch device (set from --device)", choices=("cpu", "cuda"),
                     ui=False)
    arch: str = hp("tiny", "network: tiny (demos), fmnist (the paper's F-MNIST network), "
                   "cifar10 (a stand-in: the paper's is unpublished)", choices=tuple(nets.PRESETS))
    layers: str = hp("", "custom layer list overriding arch, e.g. c16,p,c32,p,f64 (cN: 3x3 "
                     "conv+BN+act, p: 2x2 max-pool, fN: linear+act; the output layer is added)")
    mode: str = hp("proxy", "proxy: the SNN's output in the ANN's loss (the method); ann: "
                   "baseline, the ANN trained on its own output", choices=("proxy", "ann"))
    t_max: int = hp(15, "T: SNN time steps per sample", bounds=(1, 4096), step=1)
    thr: float = hp(2.0, "IF threshold of every layer", bounds=(1e-6, 1e6), step=0.1)
    reset: str = hp("zero", "after a spike: zero (hard reset, reference) or subtract thr",
                    choices=("zero", "subtract"))
    input_coding: str = hp("direct", "direct: first conv+BN as a constant current (reference); "
                           "rate: Bernoulli spikes of the pixels at each step",
                           choices=("direct", "rate"))
    snn_output: str = hp("count", "SNN output used in the loss: spike count (reference) or "
                         "count / T", choices=("count", "rate"))
    lr: float = hp(1e-4, "Adam learning rate", bounds=(0.0, 1.0), step=1e-5)
    beta1: float = hp(0.8, "Adam beta1", bounds=(0.0, 0.999999), step=0.01)
    beta2: float = hp(0.99, "Adam beta2", bounds=(0.0, 0.999999), step=0.001)
    adam_eps: float = hp(1e-8, "Adam epsilon", bounds=(1e-12, 1.0), ui=False)
    weight_decay: float = hp(1e-6, "L2 coefficient added to the gradient", bounds=(0.0, 1.0),
                             step=1e-6)
    bn_train_epochs: int = hp(1, "epochs with batch norm on batch statistics, then frozen",
                              bounds=(0, 1_000_000), step=1)
    bn_momentum: float = hp(0.1, "momentum of the BN running statistics", bounds=(0.0, 1.0),
                            step=0.01)
    augment_shift: int = hp(1, "training images: random crop of H-2m then zero pad m "
                            "(reference m=1: RandomCrop(26)+Pad(1)); 0 = off", bounds=(0, 16))
    augment_flip: bool = hp(False, "training images: random horizontal flips")
    eval_chunk: int = hp(256, "samples per SNN evaluation chunk", bounds=(1, 1_000_000),
                         ui=False)
    time_chunk: int = hp(0, "time steps folded into one conv call (0: by memory)",
                         bounds=(0, 4096), ui=False)
    twin_samples: int = hp(4, "samples per step with per-layer ANN activations and SNN rates "
                           "in the step's extra data", bounds=(0, 4096), ui=False)
    twin_neurons: int = hp(64, "neurons per layer in that data", bounds=(1, 1_000_000),
                           ui=False)
    dtype: str = hp("float32", "precision", choices=("float32", "float64"), ui=False)

    def _check(self) -> None:
        if math.prod(self.in_shape) != self.n_in or len(self.in_shape) != 3:
            raise ValueError(f"in_shape {self.in_shape} must be (C, H, W) with n_in={self.n_in} "
                             "values")
        self.net  # noqa: B018 -- raises ValueError on a bad layer list

    @property
    def layer_spec(self) -> str:
        return self.layers or nets.PRESETS[self.arch]

    @property
    def net(self) -> tuple[nets.Block, ...]:
        return _build(self.layer_spec, self.in_shape, self.n_classes)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Input values, then the IF neurons of each block (pre-pool), output last."""
        return (self.n_in, *(math.prod(b.out_shape) for b in self.net))


Config = ProxyConfig


@functools.lru_cache(maxsize=64)
def _build(spec: str, in_shape: tuple[int, ...], n_classes: int) -> tuple[nets.Block, ...]:
    return nets.build_net(spec, in_shape, n_classes)


class Params(NamedTuple):
    """Everything a run carries, as tensors (weights-only checkpoints; resume is exact).

    Shared by the ANN and the SNN: ``w`` per block (conv ``[O, I, 3, 3]``, linear ``[O, I]``),
    ``bn_weight`` / ``bn_bias`` per conv block ``[C]``. Buffers: BN running statistics of each
    network ``[C]``; Adam moments per trainable tensor (order ``w``, ``bn_weight``,
    ``bn_bias``); int64 scalars ``step`` (Adam steps), ``epoch`` (epochs done; BN schedule)
    and ``seed`` (augmentation and rate-input draws)."""

    w: tuple[torch.Tensor, ...]
    bn_weight: tuple[torch.Tensor, ...]
    bn_bias: tuple[torch.Tensor, ...]
    ann_mean: tuple[torch.Tensor, ...]
    ann_var: tuple[torch.Tensor, ...]
    snn_mean: tuple[torch.Tensor, ...]
    snn_var: tuple[torch.Tensor, ...]
    adam_m: tuple[torch.Tensor, ...]
    adam_v: tuple[torch.Tensor, ...]
    step: torch.Tensor
    epoch: torch.Tensor
    seed: torch.Tensor


class Grads(NamedTuple):
    """dL/dtheta for the shared trainable tensors (same shapes as in :class:`Params`)."""

    w: tuple[torch.Tensor, ...]
    bn_weight: tuple[torch.Tensor, ...]
    bn_bias: tuple[torch.Tensor, ...]


class Readout(NamedTuple):
    """Per sample ``[B, K]``: SNN output spike counts (int32; zeros when not simulated, i.e.
    training in ``ann`` mode), final output potentials, ANN outputs."""

    counts: np.ndarray
    v_out: np.ndarray
    ann: np.ndarray


class Forward(NamedTuple):
    """Evaluation pass: no spike times (``()``), the read-out, and per step ``[T, B, K]`` the
    cumulative output counts and output potentials (accuracy vs time steps)."""

    times: tuple
    readout: Readout
    counts_t: np.ndarray
    v_t: np.ndarray


class StepStats(NamedTuple):
    n: int
    loss: float
    readout: Readout
    fire_counts: tuple[np.ndarray, ...]
    flips: tuple[int, ...] = ()
    extra: dict = {}


def _dtype(cfg: ProxyConfig) -> torch.dtype:
    return torch.float64 if cfg.dtype == "float64" else torch.float32


def _trainable(p) -> tuple[torch.Tensor, ...]:
    return (*p.w, *p.bn_weight, *p.bn_bias)


def _split(flat, p) -> Grads:
    a, b = len(p.w), len(p.w) + len(p.bn_weight)
    return Grads(tuple(flat[:a]), tuple(flat[a:b]), tuple(flat[b:]))


def _on_device(p: Params, cfg: ProxyConfig) -> Params:
    dev = torch.device(cfg.device)
    if p.step.device == dev:
        return p
    return Params(*(tuple(t.to(dev) for t in f) if isinstance(f, tuple) else f.to(dev)
                    for f in p))


def init(cfg: ProxyConfig, gen: torch.Generator) -> Params:
    """PyTorch default init of the weights, BN gamma = 1, beta = 0, fresh statistics."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but torch sees no GPU")
    net, dt = cfg.net, _dtype(cfg)
    w = nets.init_weights(net, gen, dt)
    chans = [b.w_shape[0] for b in net if b.bn >= 0]
    ones = tuple(torch.ones(c, dtype=dt) for c in chans)
    zeros = tuple(torch.zeros(c, dtype=dt) for c in chans)
    train = (*w, *ones, *zeros)
    seed = torch.randint(0, 2**62, (), generator=gen, dtype=torch.int64)
    p = Params(w, ones, zeros, zeros, ones, zeros, ones,
               tuple(torch.zeros_like(t) for t in train), tuple(torch.zeros_like(t) for t in train),
               torch.zeros((), dtype=torch.int64), torch.zeros((), dtype=torch.int64), seed)
    p = Params(*(tuple(t.clone() for t in f) if isinstance(f, tuple) else f for f in p))
    return _on_device(p, cfg)


def encode(pixels: np.ndarray | torch.Tensor, cfg: ProxyConfig) -> torch.Tensor:
    """Direct input: the 8-bit images themselves ``[N, C, H, W]`` (uint8, 4x smaller than
    floats); intensities ``p / 255`` are formed per batch on the device (spec 4.3)."""
    x = pixels if isinstance(pixels, torch.Tensor) else torch.from_numpy(np.asarray(pixels))
    if x.dtype != torch.uint8:
        raise TypeError(f"proxy encoding takes uint8 pixels, got {x.dtype}")
    return x.reshape(x.shape[0], *cfg.in_shape).contiguous()


def intensities(x: torch.Tensor, cfg: ProxyConfig) -> torch.Tensor:
    """``[B, C, H, W]`` floats in ``[0, 1]`` on the device (uint8 input is divided by 255)."""
    x = x.to(cfg.device).reshape(x.shape[0], *cfg.in_shape)
    return x.to(_dtype(cfg)) / 255.0 if x.dtype == torch.uint8 else x.to(_dtype(cfg))


def augment(x: torch.Tensor, shift: int, flip: bool, gen: torch.Generator,
            draws: tuple[int, slice] | None = None) -> torch.Tensor:
    """Random crop of ``H - 2 shift`` re-padded with ``shift`` zeros, per sample (spec 4.3),
    and optional horizontal flips. Draws on the CPU ``gen``; returns a new tensor.
    ``draws = (n, rows)``: draw for a whole batch of ``n`` samples and apply its ``rows``
    (a data-parallel worker's shard), so the shard gets what it would in one process."""
    B, _, H, W = x.shape
    n, rows = draws if draws is not None else (B, slice(None))
    if shift:
        out = torch.zeros_like(x)
        off = torch.randint(0, 2 * shift + 1, (n, 2), generator=gen)[rows]
        for oy in range(2 * shift + 1):
            for ox in range(2 * shift + 1):
                idx = ((off[:, 0] == oy) & (off[:, 1] == ox)).nonzero().flatten().to(x.device)
                if len(idx):
                    out[idx, :, shift:H - shift, shift:W - shift] = \
                        x[idx, :, oy:oy + H - 2 * shift, ox:ox + W - 2 * shift]
    else:
        out = x.clone()
    if flip:
        f = (torch.rand(n, generator=gen)[rows] < 0.5).to(x.device)
        out[f] = out[f].flip(-1)
    return out


def _snn(p: Params, x: torch.Tensor, cfg: ProxyConfig, t_max: int | None = None,
         bn_train: bool = False, gen: torch.Generator | None = None, keep: int = 0,
         trace: bool = False, allsum=None) -> nets.SnnOut:
    if cfg.input_coding == "rate" and gen is None:
        gen = derive(int(p.seed), "probe-input")
    if gen is not None and x.device.type != "cpu":
        dev_gen = torch.Generator(device=x.device)
        dev_gen.manual_seed(int(torch.randint(0, 2**62, (), generator=gen)))
        gen = dev_gen
    return nets.snn_forward(cfg.net, p.w, p.bn_weight, p.bn_bias, p.snn_mean, p.snn_var, x,
                            t_max=t_max or cfg.t_max, thr=cfg.thr, reset=cfg.reset,
                            rate_input=cfg.input_coding == "rate", gen=gen, bn_train=bn_train,
                            momentum=cfg.bn_momentum, chunk=cfg.time_chunk, keep=keep,
                            trace=trace, allsum=allsum)


def _ann(p, x: torch.Tensor, cfg: ProxyConfig, bn_train: bool = False) -> nets.AnnOut:
    return nets.ann_forward(cfg.net, p.w, p.bn_weight, p.bn_bias, p.ann_mean, p.ann_var, x,
                            bn_train, cfg.bn_momentum)


def _forward(params: Params, x: torch.Tensor, cfg: ProxyConfig, t_max: int | None = None
             ) -> Forward:
    p = _on_device(params, cfg)
    parts = []
    with torch.no_grad():
        for k in range(0, len(x), cfg.eval_chunk):
            xi = intensities(x[k: k + cfg.eval_chunk], cfg)
            gen = derive(int(p.seed), "eval-input", k) if cfg.input_coding == "rate" else None
            s, a = _snn(p, xi, cfg, t_max, gen=gen), _ann(p, xi, cfg)
            parts.append((s.counts.to(torch.int32).cpu().numpy(), s.v_out.cpu().numpy(),
                          a.out.cpu().numpy(), s.counts_t.to(torch.int32).cpu().numpy(),
                          s.v_t.cpu().numpy()))
    if not parts:
        K, T = cfg.n_classes, t_max or cfg.t_max
        z = np.zeros((0, K), np.float32)
        return Forward((), Readout(z.astype(np.int32), z, z), np.zeros((T, 0, K), np.int32),
                       np.zeros((T, 0, K), np.float32))
    c, v, a, ct, vt = (np.concatenate(col, axis=1 if i > 2 else 0)
                       for i, col in enumerate(zip(*parts, strict=True)))
    return Forward((), Readout(c, v, a), ct, vt)


def forward(params: Params, x: torch.Tensor, cfg: ProxyConfig) -> Forward:
    """Evaluation pass of both networks (BN on running statistics) on encoded ``x``."""
    return _forward(params, x, cfg)


def substitute(snn_out: torch.Tensor, y: torch.Tensor, n_classes: int, n: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Spec 4.6 (*): loss ``mean((c - onehot)^2)`` over ``B*K`` entries and the gradient
    injected at the ANN output in place of ``dL/dy_ANN``: ``2 (c - onehot) / (B K)``.
    ``n``: the whole batch's size when these ``B`` rows are one worker's shard (the gradient
    is then this shard's part of the whole batch's, ``2 (c - onehot) / (n K)``)."""
    err = snn_out - F.one_hot(y.to(snn_out.device), n_classes).to(snn_out.dtype)   # [B, K]
    loss = (err * err).mean() if err.numel() else err.new_zeros(())
    return loss, 2.0 * err / max((n or len(err)) * n_classes, 1)


def _vjp(p: Params, x: torch.Tensor, cfg: ProxyConfig, bn_train: bool, g_out, allsum=None
         ) -> tuple[Grads, nets.AnnOut]:
    """ANN pass with a graph on fresh leaves sharing storage with ``p``; then
    ``(dy_ANN/dtheta)^T g_out``. ``g_out`` is a tensor or a function of the ANN output.
    ``allsum``: synchronised batch norm across data-parallel workers."""
    leaves = tuple(t.detach().requires_grad_(True) for t in _trainable(p))
    lw = _split(leaves, p)
    with torch.enable_grad():
        ann = nets.ann_forward(cfg.net, lw.w, lw.bn_weight, lw.bn_bias, p.ann_mean, p.ann_var,
                               x, bn_train, cfg.bn_momentum, allsum if bn_train else None)
        g = g_out(ann.out.detach()) if callable(g_out) else g_out
        flat = torch.autograd.grad(ann.out, leaves, g)
    acts = tuple(a.detach() for a in ann.acts)
    return _split(flat, p), nets.AnnOut(ann.out.detach(), acts, ann.mean, ann.var)


def _snn_out(counts: torch.Tensor, cfg: ProxyConfig) -> torch.Tensor:
    return counts / cfg.t_max if cfg.snn_output == "rate" else counts


def backward(params: Params, fwd: Forward, x: torch.Tensor, y: torch.Tensor | np.ndarray,
             cfg: ProxyConfig, bn_train: bool = False) -> Grads:
    """Explicit ``dL/dtheta`` of the proxy step for the SNN output in ``fwd`` (eq. (*))."""
    p = _on_device(params, cfg)
    xi = intensities(x, cfg)
    c = torch.as_tensor(fwd.readout.counts, device=xi.device).to(xi.dtype)
    _, g_out = substitute(_snn_out(c, cfg), torch.as_tensor(np.asarray(y)), cfg.n_classes)
    return _vjp(p, xi, cfg, bn_train, g_out)[0]


def update(params: Params, grads: Grads, cfg: ProxyConfig) -> Params:
    """Adam with L2 weight decay, as ``torch.optim.Adam`` (pure: new tensors)."""
    t = int(params.step) + 1
    bc1, bc2 = 1 - cfg.beta1**t, 1 - cfg.beta2**t
    new_w, new_m, new_v = [], [], []
    for w, g, m, v in zip(_trainable(params), _trainable(grads), params.adam_m, params.adam_v,
                          strict=True):
        g = g.add(w, alpha=cfg.weight_decay)                      # L2: g + lambda w
        m = m.mul(cfg.beta1).add_(g, alpha=1 - cfg.beta1)         # m = b1 m + (1 - b1) g
        v = v.mul(cfg.beta2).addcmul_(g, g, value=1 - cfg.beta2)  # v = b2 v + (1 - b2) g^2
        denom = v.sqrt().div_(math.sqrt(bc2)).add_(cfg.adam_eps)  # sqrt(v / bc2) + eps
        new_w.append(w.addcdiv(m, denom, value=-cfg.lr / bc1))    # w - lr m / (bc1 denom)
        new_m.append(m)
        new_v.append(v)
    tw = _split(new_w, params)
    return params._replace(w=tw.w, bn_weight=tw.bn_weight, bn_bias=tw.bn_bias,
                           adam_m=tuple(new_m), adam_v=tuple(new_v), step=params.step + 1)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _twin(ann: nets.AnnOut, snn: nets.SnnOut | None, cfg: ProxyConfig) -> dict:
    """Per layer, for the first ``twin_samples`` samples: ANN activations and SNN firing rates
    (count / T) of up to ``twin_neurons`` evenly spaced neurons (same neurons every step)."""
    k = min(cfg.twin_samples, ann.out.shape[0])
    idx, a_out, r_out = [], [], []
    for l, a in enumerate(ann.acts):
        flat = a.flatten(1)
        sel = torch.linspace(0, flat.shape[1] - 1, min(cfg.twin_neurons, flat.shape[1]),
                             device=flat.device).round().long()
        idx.append(_np(sel))
        a_out.append(_np(flat[:k, sel]).astype(np.float32))
        if snn is not None and len(snn.kept[l]):
            r_out.append(_np(snn.kept[l][:k, sel] / cfg.t_max).astype(np.float32))
    return {"twin_neurons": tuple(idx), "twin_ann": tuple(a_out), "twin_rate": tuple(r_out),
            "thr": cfg.thr}


def _step(p: Params, x: torch.Tensor, y: torch.Tensor, cfg: ProxyConfig, reduce=None
          ) -> tuple[Params, StepStats]:
    """One proxy (or ANN-baseline) update on a mini-batch; see the module docstring.

    ``reduce`` (data-parallel runs, :class:`snnviz.training.distributed.Reduce`): ``x`` is
    this worker's shard of a batch of ``reduce.total`` samples. The shard takes its rows of
    the whole batch's augmentation draws, batch norm uses the whole batch's statistics
    (synchronised), each worker's gradient is its part of the whole batch's and the parts
    are summed, so every worker applies the one-process update (to float rounding)."""
    gen = derive(int(p.seed), "train", int(p.step))
    bn_train = int(p.epoch) < cfg.bn_train_epochs
    n_all, draws, allsum = None, None, None
    if reduce is not None:
        if cfg.input_coding == "rate":
            raise ValueError("data-parallel proxy runs need input_coding=direct (the "
                             "reference); rate input draws one random stream per batch")
        n_all, draws = reduce.total, (reduce.total, reduce.rows())
        allsum = reduce.sum if bn_train else None
    xi = intensities(x, cfg)                                                 # [B, C, H, W]
    if cfg.augment_shift or cfg.augment_flip:
        xi = augment(xi, cfg.augment_shift, cfg.augment_flip, gen, draws)
    yt = torch.as_tensor(np.asarray(y), device=xi.device)
    K, B = cfg.n_classes, xi.shape[0]
    snn = None
    if cfg.mode == "proxy":
        # 1. both networks, independently: SNN spike counts c (no graph) ...
        snn = _snn(p, xi, cfg, bn_train=bn_train, gen=gen, keep=cfg.twin_samples,
                   allsum=allsum)
        c = _snn_out(snn.counts, cfg)                                        # [B, K]
        # 2. (*) the substitution: c takes the place of y_ANN in the loss
        loss, g_out = substitute(c, yt, K, n_all)
        # 3. ... and the ANN pass with its graph: dL/dtheta = (dy_ANN/dtheta)^T g_out
        grads, ann = _vjp(p, xi, cfg, bn_train, g_out, allsum)
        p = p._replace(snn_mean=snn.mean, snn_var=snn.var)
    else:                                   # baseline (a): the ANN's own output in (*)
        grads, ann = _vjp(p, xi, cfg, bn_train,
                          lambda out: substitute(out, yt, K, n_all)[1], allsum)
        loss = substitute(ann.out, yt, K)[0]
    if reduce is not None:                  # the whole batch's gradient: sum of the parts
        flat = list(_trainable(grads))          # summed in their own precision, as DDP
        grads = _split(reduce.sum_exact(flat, wire=flat[0].dtype), p)
    # 4. Adam on the shared parameters (and the ANN's new running statistics)
    new = update(p._replace(ann_mean=ann.mean, ann_var=ann.var), grads, cfg)
    counts = snn.counts if snn is not None else torch.zeros(B, K, device=xi.device)
    v_out = snn.v_out if snn is not None else torch.zeros(B, K, device=xi.device)
    readout = Readout(_np(counts).astype(np.int32), _np(v_out), _np(ann.out))
    fire = tuple(_np(f).astype(np.int64) for f in snn.fired) if snn is not None else \
        tuple(np.zeros(n, np.int64) for n in cfg.sizes[1:])
    extra = {"bn_train": bn_train,
             "ann_accuracy": float((ann.out.argmax(1) == yt).double().mean()),
             "output_gap": float((ann.out - c).abs().mean()) if snn is not None else math.nan,
             "acc_vs_t": _curve(_np(snn.counts_t), _np(snn.v_t), _np(yt), HONEST, cfg)
             if snn is not None else np.zeros(0), **_twin(ann, snn, cfg)}
    return new, StepStats(B, float(loss), readout, fire, (), extra)


def train_step(params: Params, x: torch.Tensor, y: torch.Tensor, cfg: ProxyConfig,
               online: bool, reduce=None) -> tuple[Params, StepStats]:
    """One trainer step: the whole ``x`` as one mini-batch (the reference uses 100), or with
    ``online`` one update per sample, in order (``extra`` is then the last sample's).
    ``reduce``: ``x`` is one data-parallel worker's shard of the batch (see :func:`_step`)."""
    p = _on_device(params, cfg)
    if online and reduce is not None:
        raise ValueError("per-sample (online) updates cannot be data-parallel: use "
                         "--batch-size larger than the number of processes")
    if not online:
        return _step(p, x, y, cfg, reduce)
    parts = []
    for i in range(len(x)):
        p, st = _step(p, x[i: i + 1], y[i: i + 1], cfg)
        parts.append(st)
    n = sum(s.n for s in parts)
    readout = Readout(*(np.concatenate(col)
                        for col in zip(*(s.readout for s in parts), strict=True)))
    fire = tuple(np.sum(col, axis=0)
                 for col in zip(*(s.fire_counts for s in parts), strict=True))
    extra = dict(parts[-1].extra, ann_accuracy=float(np.mean(
        [s.extra["ann_accuracy"] for s in parts])))
    return p, StepStats(n, float(np.mean([s.loss for s in parts])), readout, fire, (), extra)


def end_epoch(params: Params, fire_counts: tuple[np.ndarray, ...], n_seen: int,
              cfg: ProxyConfig, gen: torch.Generator) -> tuple[Params, int]:
    """Count the finished epoch (after ``bn_train_epochs`` of them BN is frozen). No resets."""
    return params._replace(epoch=params.epoch + 1), 0


# ---------------------------------------------------------------- read-out


def _scores(out: Readout, cfg: ProxyConfig) -> np.ndarray:
    return np.asarray(out.ann if cfg.mode == "ann" else out.counts)


def _winners(out: Readout, cfg: ProxyConfig) -> np.ndarray:
    s = _scores(out, cfg)
    return s == s.max(axis=1, keepdims=True)                                 # [B, K]


def silent(out: Readout, cfg: ProxyConfig) -> np.ndarray:
    """Boolean ``[B]``: no output spike (never, for the ANN baseline's decisions)."""
    if cfg.mode == "ann":
        return np.zeros(len(out.ann), bool)
    return np.asarray(out.counts).max(axis=1) == 0


def tied(out: Readout, cfg: ProxyConfig) -> np.ndarray:
    """Boolean ``[B]``: several outputs share the top (non-zero) count."""
    return (_winners(out, cfg).sum(axis=1) > 1) & ~silent(out, cfg)


def predict(out: Readout, policy: EvalPolicy, cfg: ProxyConfig) -> np.ndarray:
    """Decided class ``[B]`` (-1: none) under ``policy``; see the module docstring."""
    win = _winners(out, cfg)
    if policy.ties == "potential":
        key = np.asarray(out.ann if cfg.mode == "ann" else out.v_out)
        pred = np.where(win, key, -np.inf).argmax(axis=1)
    elif policy.ties == "lowest-index":
        pred = win.argmax(axis=1)
    else:
        pred = np.where(win.sum(axis=1) == 1, win.argmax(axis=1), -1)
    fallback = np.asarray(out.v_out).argmax(axis=1) if policy.no_spike == "potential" else -1
    return np.where(silent(out, cfg), fallback, pred).astype(np.int64)


def score(out: Readout, y: np.ndarray, policy: EvalPolicy, cfg: ProxyConfig) -> np.ndarray:
    """Boolean ``[B]`` correctness under ``policy``."""
    y = np.asarray(y)
    correct = predict(out, policy, cfg) == y
    if policy.ties == "optimistic":
        label_top = _winners(out, cfg)[np.arange(len(y)), y]
        correct = np.where(silent(out, cfg), correct, label_top)
    return correct


def spike_time_hist(fwd: Forward, cfg: ProxyConfig) -> tuple:
    """Rate-coded network: no spike-time histogram (``()``)."""
    return ()


def _curve(counts_t: np.ndarray, v_t: np.ndarray, y: np.ndarray, policy: EvalPolicy,
           cfg: ProxyConfig) -> np.ndarray:
    """Accuracy after each step ``[T]`` from cumulative counts / potentials ``[T, B, K]``."""
    snn = cfg if cfg.mode == "proxy" else _as_proxy(cfg)
    zero = np.zeros(counts_t.shape[1:], np.float32)
    return np.array([score(Readout(c, v, zero), y, policy, snn).mean() if len(y) else math.nan
                     for c, v in zip(counts_t, v_t, strict=True)])


@functools.lru_cache(maxsize=16)
def _as_proxy(cfg: ProxyConfig) -> ProxyConfig:
    import dataclasses

    return dataclasses.replace(cfg, mode="proxy")


def accuracy_vs_steps(params: Params, x: torch.Tensor, y: np.ndarray, cfg: ProxyConfig,
                      policy: EvalPolicy = HONEST, t_eval: int | None = None) -> np.ndarray:
    """SNN accuracy ``[t_eval]`` when reading the output after ``1..t_eval`` steps (one run
    of ``t_eval`` steps, default ``T``; may exceed the training ``T``)."""
    fwd = _forward(params, x, cfg, t_eval)
    return _curve(fwd.counts_t, fwd.v_t, np.asarray(y), policy, cfg)


def eval_extra(fwds: list[Forward], y: np.ndarray, cfg: ProxyConfig) -> dict:
    """Plain data for an evaluation event from the passes over a split, in order: the honest
    SNN accuracy after each of the ``T`` steps and the ANN's accuracy (a trainer hook)."""
    if not fwds:
        return {"acc_vs_t": np.zeros(0), "ann_accuracy": math.nan}
    counts_t = np.concatenate([f.counts_t for f in fwds], axis=1)
    v_t = np.concatenate([f.v_t for f in fwds], axis=1)
    ann = np.concatenate([f.readout.ann for f in fwds])
    y = np.asarray(y)
    return {"acc_vs_t": _curve(counts_t, v_t, y, HONEST, cfg),
            "ann_accuracy": float((ann.argmax(axis=1) == y).mean()) if len(y) else math.nan}


def probe(params: Params, x_one: torch.Tensor, cfg: ProxyConfig, max_neurons: int) -> dict:
    """One sample's display data: per IF layer the first spike step of every neuron (``T``:
    silent), the pre-reset membrane potentials ``[T, n]`` of its ``max_neurons`` most active
    neurons and the threshold; ``extra``: their spike rasters, SNN rates and ANN activations,
    and the cumulative output counts per step ``[T, K]`` with the ANN output ``[K]``."""
    p = _on_device(params, cfg)
    xi = intensities(x_one.reshape(1, *cfg.in_shape), cfg)
    snn, ann = _snn(p, xi, cfg, trace=True), _ann(p, xi, cfg)
    T = cfg.t_max
    layers, raster, rate, act = [], [], [], []
    for (v_pre, spk), a in zip(snn.trace, ann.acts, strict=True):
        v_pre, spk = v_pre[:, 0], spk[:, 0]                                  # [T, N]
        counts = spk.sum(0)
        first = torch.where(counts > 0, spk.argmax(0), torch.full_like(counts, T))
        neurons = torch.argsort(-counts, stable=True)[:max_neurons]
        layers.append({"times": _np(first).astype(np.int32), "neurons": _np(neurons),
                       "v_trace": _np(v_pre[:, neurons]), "thr": float(cfg.thr)})
        raster.append(_np(spk[:, neurons]).astype(bool))
        rate.append(_np(counts[neurons] / T))
        act.append(_np(a.flatten(1)[0, neurons]))
    extra = {"raster": tuple(raster), "rate": tuple(rate), "ann": tuple(act),
             "out_counts_t": _np(snn.counts_t[:, 0]), "ann_out": _np(ann.out[0])}
    return {"t_in": _np(xi.flatten()), "layers": layers, "extra": extra}


# ---------------------------------------------------------------- baselines


def convert(params: Params, x_calib: torch.Tensor, cfg: ProxyConfig,
            percentile: float = 99.9) -> Params:
    """Baseline (b): ANN-to-SNN conversion of the ANN in ``params`` with data-based threshold
    balancing on training samples ``x_calib`` (encoded), see :func:`_proxy_nets.balance`.

    The result runs through the same SNN code (same ``T``, threshold and reset): evaluate it
    with :func:`forward` or :func:`accuracy_vs_steps`. Its BN affine parameters are rescaled,
    so its ANN path no longer computes the original ANN."""
    p = _on_device(params, cfg)
    xi = torch.cat([intensities(x_calib[k: k + cfg.eval_chunk], cfg)
                    for k in range(0, len(x_calib), cfg.eval_chunk)])
    scales = nets.activation_scales(cfg.net, p.w, p.bn_weight, p.bn_bias, p.ann_mean,
                                    p.ann_var, xi, percentile, cfg.eval_chunk)
    w, g, b, m, v = nets.balance(cfg.net, p.w, p.bn_weight, p.bn_bias, p.ann_mean, p.ann_var,
                                 scales, cfg.thr)
    return p._replace(w=w, bn_weight=g, bn_bias=b, snn_mean=m, snn_var=v)


_POLICIES = {"honest": HONEST, "argmax": EvalPolicy("wrong", "lowest-index"),
             "tie-optimistic": EvalPolicy("wrong", "optimistic")}


def _snn_row(params: Params, cfg: ProxyConfig, x, y, t_eval: int) -> dict:
    fwd = _forward(params, x, cfg, t_eval)
    snn = _as_proxy(cfg)
    T = cfg.t_max
    at_t = Readout(fwd.counts_t[T - 1], fwd.v_t[T - 1], fwd.readout.ann)
    row = {name: float(score(at_t, y, pol, snn).mean()) for name, pol in _POLICIES.items()}
    row["no_spike_rate"] = float(silent(at_t, snn).mean())
    row["tie_rate"] = float(tied(at_t, snn).mean())
    row["acc_vs_t"] = [float(a) for a in _curve(fwd.counts_t, fwd.v_t, y, HONEST, cfg)]
    row["ann"] = float((fwd.readout.ann.argmax(axis=1) == y).mean())
    return row


def _ann_accuracy(params: Params, x: torch.Tensor, y: np.ndarray, cfg: ProxyConfig) -> float:
    p = _on_device(params, cfg)
    with torch.no_grad():
        out = [_np(_ann(p, intensities(x[k: k + cfg.eval_chunk], cfg), cfg).out.argmax(1))
               for k in range(0, len(x), cfg.eval_chunk)]
    return float((np.concatenate(out) == y).mean()) if out else math.nan


def compare(proxy_params: Params | None, ann_params: Params | None, cfg: ProxyConfig,
            x_calib: torch.Tensor, x_test: torch.Tensor, y_test: np.ndarray,
            percentile: float = 99.9, t_eval: int | None = None,
            ann_cfg: ProxyConfig | None = None) -> dict:
    """Test accuracies side by side at the same ``T``: the proxy-trained SNN (and its ANN),
    the ANN trained alone, and that ANN converted with threshold balancing on ``x_calib``
    (run with ``ann_cfg``, default ``cfg``: same T, threshold and reset). SNN rows hold the
    honest, argmax and tie-optimistic accuracies at ``T`` and the honest accuracy after each
    step up to ``t_eval`` (default ``8 T``)."""
    y = np.asarray(y_test)
    t_eval = max(t_eval or 8 * cfg.t_max, cfg.t_max)
    conv_cfg = _as_proxy(ann_cfg or cfg)
    out: dict = {"T": cfg.t_max, "t_eval": t_eval, "percentile": percentile,
                 "reset_converted": conv_cfg.reset, "n_test": int(len(y)),
                 "n_calib": int(len(x_calib))}
    if proxy_params is not None:
        out["proxy_snn"] = _snn_row(proxy_params, _as_proxy(cfg), x_test, y, t_eval)
    if ann_params is not None:
        conv = convert(ann_params, x_calib, conv_cfg, percentile)
        row = _snn_row(conv, conv_cfg, x_test, y, t_eval)
        out["ann_alone"] = _ann_accuracy(ann_params, x_test, y, conv_cfg)
        out["converted_snn"] = {k: v for k, v in row.items() if k != "ann"}
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m snnviz.algorithms.proxy --proxy-run DIR --ann-run DIR``: the side-by-side
    table of two finished ``snnviz train --algorithm proxy`` runs on the same data (the second
    with ``--set mode=ann``), printed and written as JSON to ``--out``."""
    import argparse
    import dataclasses
    import json

    from snnviz.api import make_trainer, run_config_from_dict
    from snnviz.training.checkpoint import load_checkpoint, write_json_atomic

    ap = argparse.ArgumentParser(prog="python -m snnviz.algorithms.proxy",
                                 description=main.__doc__)
    ap.add_argument("--proxy-run", help="output folder of a proxy run")
    ap.add_argument("--ann-run", help="output folder of a --set mode=ann run")
    ap.add_argument("--percentile", type=float, default=99.9)
    ap.add_argument("--calib", type=int, default=2000, help="training samples for balancing")
    ap.add_argument("--t-eval", type=int, help="longest read-out (default 8 T)")
    ap.add_argument("--reset", choices=("zero", "subtract"), help="neuron reset of the "
                    "converted SNN (default: the ANN run's)")
    ap.add_argument("--out", help="JSON file to write")
    args = ap.parse_args(argv)
    trainers = {}
    for key, run in (("proxy", args.proxy_run), ("ann", args.ann_run)):
        if run:
            state = load_checkpoint(f"{run}/checkpoint.pt")
            trainers[key] = make_trainer(run_config_from_dict(state["config"]), state=state)
    if not trainers:
        ap.error("give --proxy-run and/or --ann-run")
    px, an = trainers.get("proxy"), trainers.get("ann")
    if px is not None and an is not None and px.cfg.data != an.cfg.data:
        ap.error("the two runs use different data splits")
    ref = px or an
    ann_cfg = None
    if an is not None:
        ann_cfg = dataclasses.replace(an.cfg.algo, reset=args.reset or an.cfg.algo.reset)
    res = compare(px.best_params if px else None, an.best_params if an else None,
                  ref.cfg.algo, ref.t_train[: args.calib], ref.t_test, ref.y_test,
                  args.percentile, args.t_eval, ann_cfg)
    res["runs"] = {k: v for k, v in (("proxy", args.proxy_run), ("ann", args.ann_run)) if v}
    if args.out:
        write_json_atomic(res, args.out)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":                  # run the package's module, not a second copy
    from snnviz.algorithms.proxy import main as _main

    raise SystemExit(_main())
