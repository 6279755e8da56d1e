r"""Proxy-learning networks: architectures, the ReLU ANN pass, the IF SNN pass, conversion.

A network is a list of blocks built from a layer string (see :func:`build_net`). Block ``l``
owns one weight tensor ``w[l]`` and, for convolutions, one batch-norm layer; it is followed by
the activation -- ReLU in the ANN, an IF neuron layer in the SNN -- and optionally a 2x2
max-pool (on ReLU outputs in the ANN, on binary spike maps in the SNN, i.e. an OR):

    conv ``cN``:  3x3 conv (padding 1, no bias) -> BatchNorm2d -> act [-> pool ``p``]
    fc   ``fN``:  linear (no bias) -> act              (the first one flattens)
    out:          linear to the classes, added last -> ANN: identity, SNN: IF (spike counts)

IF neuron, SpikingJelly semantics (spec 4.4), per step ``t = 0..T-1``:

    v <- v + I[t];   s[t] = [v >= theta];   v <- 0 where s (``reset="zero"``)
                                            v <- v - theta where s (``reset="subtract"``)

Direct input (reference): the first block's conv + BN is computed once and its result is the
constant current of the first IF layer at every step. Rate input: the image becomes Bernoulli
spikes at each step and the first block runs at each step.

The SNN is feed-forward, so layer ``l`` at step ``t`` needs only layer ``l - 1`` up to ``t``.
The pass therefore runs layer by layer over a chunk of ``n`` steps at once (the chunk folded
into the batch of one conv/linear call), carrying membrane potentials across chunks; any
chunk size gives the same result as stepping the whole network once per time step (tested
against a naive per-step simulation). Batch norm in train mode uses each step's own batch
statistics and updates the running statistics once per step, in order (reference code).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

PRESETS: dict[str, str] = {
    # demos and tests: two small conv blocks, practical on a laptop CPU
    "tiny": "c16,p,c32,p,f64",
    # the reference Fashion-MNIST network (spec 4.4): 3 conv of 128 channels, 4 linear layers
    "fmnist": "c128,c128,p,c128,p,f2560,f1152,f256",
    # CIFAR-10: the paper's network is not published (spec 4.7); a VGG-style stand-in built
    # with the same block rules as the F-MNIST network
    "cifar10": "c128,c128,p,c256,c256,p,c512,c512,p,f1024,f512",
}
BN_EPS = 1e-5
_CHUNK_BYTES = 1 << 28          # auto time chunk: about 256 MB per folded activation tensor


class Block(NamedTuple):
    """One weight layer: kind ``conv`` | ``fc`` | ``out``, weight shape, index of its
    batch-norm layer (-1: none), max-pool after the activation, activation shape (pre-pool)."""

    kind: str
    w_shape: tuple[int, ...]
    bn: int
    pool: bool
    out_shape: tuple[int, ...]


def build_net(layers: str, in_shape: tuple[int, ...], n_classes: int) -> tuple[Block, ...]:
    """Blocks of ``layers`` (``"c16,p,c32,p,f64"``) on inputs ``in_shape = (C, H, W)``.

    Raises:
        ValueError: unknown token, a pool not after a conv, a conv after a linear layer, or a
            pool on a map smaller than 2x2.
    """
    tokens = [t.strip().lower() for t in layers.replace(" ", "").split(",") if t.strip()]
    shape = tuple(int(s) for s in in_shape)
    blocks: list[Block] = []
    n_bn = 0
    for tok in tokens:
        kind, num = tok[:1], tok[1:]
        if tok == "p":
            if not blocks or blocks[-1].kind != "conv" or blocks[-1].pool:
                raise ValueError(f"layers {layers!r}: 'p' must follow a conv block 'cN'")
            c, h, w = shape
            if h < 2 or w < 2:
                raise ValueError(f"layers {layers!r}: cannot pool a {h}x{w} map")
            blocks[-1] = blocks[-1]._replace(pool=True)
            shape = (c, h // 2, w // 2)
        elif kind in ("c", "f") and num.isdigit() and int(num) > 0:
            n = int(num)
            if kind == "c":
                if len(shape) != 3:
                    raise ValueError(f"layers {layers!r}: conv block {tok!r} after a linear one")
                blocks.append(Block("conv", (n, shape[0], 3, 3), n_bn, False, (n, *shape[1:])))
                n_bn += 1
                shape = (n, *shape[1:])
            else:
                blocks.append(Block("fc", (n, math.prod(shape)), -1, False, (n,)))
                shape = (n,)
        else:
            raise ValueError(f"layers {layers!r}: unknown token {tok!r} (use cN, p, fN)")
    blocks.append(Block("out", (n_classes, math.prod(shape)), -1, False, (n_classes,)))
    return tuple(blocks)


def init_weights(net: tuple[Block, ...], gen: torch.Generator, dtype: torch.dtype
                 ) -> tuple[torch.Tensor, ...]:
    """PyTorch's default conv/linear init: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    out = []
    for b in net:
        bound = 1.0 / math.sqrt(math.prod(b.w_shape[1:]))
        u = torch.rand(b.w_shape, generator=gen, dtype=torch.float64)
        out.append(((2 * u - 1) * bound).to(dtype))                          # w_shape
    return tuple(out)


def _op(b: Block, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The block's synaptic operation on ``h`` ``[B, ...]``."""
    if b.kind == "conv":
        return F.conv2d(h, w, padding=1)                                     # [B, C, H, W]
    return F.linear(h.flatten(1), w)                                         # [B, N]


def _bn(u: torch.Tensor, n: int, gamma, beta, mean, var, train: bool, momentum: float,
        allsum=None) -> torch.Tensor:
    """BatchNorm2d of ``u`` ``[n*B, C, H, W]`` holding ``n`` time steps. Train mode: each
    step's own batch statistics; ``mean``/``var`` (caller's copies) updated per step, in order.
    ``allsum`` (data-parallel runs): statistics over every worker's part of the batch."""
    if not train:
        return F.batch_norm(u, mean, var, gamma, beta, False, 0.0, BN_EPS)
    steps = u.view(n, -1, *u.shape[1:]).unbind(0)
    if allsum is not None:
        return torch.cat([_bn_synced(s, gamma, beta, mean, var, momentum, allsum)
                          for s in steps])
    return torch.cat([F.batch_norm(s, mean, var, gamma, beta, True, momentum, BN_EPS)
                      for s in steps])


def _bn_synced(s: torch.Tensor, gamma, beta, mean, var, momentum: float, allsum
               ) -> torch.Tensor:
    """Train-mode batch norm of this worker's rows ``s`` ``[B_r, C, H, W]`` with the batch
    statistics of all workers' rows together: ``allsum`` is a differentiable sum over the
    workers, so the gradient also flows through the shared statistics (synchronised batch
    norm). Same arithmetic as ``F.batch_norm`` up to rounding: two passes, biased variance
    for normalising, unbiased for the running statistics (updated in place)."""
    C = s.shape[1]
    dims = (0, 2, 3)
    count = s.new_tensor([s.numel() / C])
    tot = allsum(torch.cat([s.sum(dims), count]))
    cnt = tot[C]
    mu = tot[:C] / cnt
    d = s - mu.view(1, C, 1, 1)
    var_b = allsum((d * d).sum(dims)) / cnt
    out = d * torch.rsqrt(var_b + BN_EPS).view(1, C, 1, 1) * gamma.view(1, C, 1, 1) \
        + beta.view(1, C, 1, 1)
    with torch.no_grad():
        c = float(cnt)
        mean.mul_(1 - momentum).add_(mu.detach(), alpha=momentum)
        var.mul_(1 - momentum).add_(var_b.detach() * (c / max(c - 1, 1)), alpha=momentum)
    return out


class AnnOut(NamedTuple):
    """ANN pass: output ``[B, K]`` (linear), per-block activations (ReLU, pre-pool; the last
    is the output) and the running statistics after the pass."""

    out: torch.Tensor
    acts: tuple[torch.Tensor, ...]
    mean: tuple[torch.Tensor, ...]
    var: tuple[torch.Tensor, ...]


def ann_forward(net, w, gamma, beta, mean, var, x: torch.Tensor, bn_train: bool,
                momentum: float = 0.1, allsum=None) -> AnnOut:
    """ReLU network on intensities ``x`` ``[B, C, H, W]``. Differentiable in ``w``,
    ``gamma``, ``beta`` (autograd); the given running statistics are never modified.
    ``allsum``: batch statistics over all data-parallel workers (see :func:`_bn_synced`)."""
    if bn_train:
        mean, var = tuple(m.clone() for m in mean), tuple(v.clone() for v in var)
    h, acts, u = x, [], x
    for b, wl in zip(net, w, strict=True):
        u = _op(b, wl, h)
        if b.bn >= 0:
            u = _bn(u, 1, gamma[b.bn], beta[b.bn], mean[b.bn], var[b.bn], bn_train, momentum,
                    allsum)
        if b.kind == "out":
            acts.append(u)
            break
        a = F.relu(u)                                                        # [B, *out_shape]
        acts.append(a)
        h = F.max_pool2d(a, 2) if b.pool else a
    return AnnOut(u, tuple(acts), tuple(mean), tuple(var))


class SnnOut(NamedTuple):
    """SNN pass over ``T`` steps (``B`` samples, ``K`` classes).

    counts ``[B, K]`` output spike counts; v_out ``[B, K]`` final output potentials;
    counts_t / v_t ``[T, B, K]`` cumulative counts and potentials after each step;
    fired per layer ``[N_l]`` samples in which each neuron spiked; kept per layer
    ``[keep, N_l]`` spike counts of the first ``keep`` samples; mean/var running statistics
    after the pass; trace per layer ``[T, B, N_l]`` pre-reset potentials and spikes (or ())."""

    counts: torch.Tensor
    v_out: torch.Tensor
    counts_t: torch.Tensor
    v_t: torch.Tensor
    fired: tuple[torch.Tensor, ...]
    kept: tuple[torch.Tensor, ...]
    mean: tuple[torch.Tensor, ...]
    var: tuple[torch.Tensor, ...]
    trace: tuple[tuple[torch.Tensor, torch.Tensor], ...]


def if_steps(cur: torch.Tensor, v: torch.Tensor, thr: float, reset: str,
             v_pre: list | None = None, v_post: list | None = None) -> torch.Tensor:
    """Run IF neurons for ``n`` steps of currents ``cur`` ``[n, B, ...]`` from potentials
    ``v`` ``[B, ...]`` (updated in place: the caller's own state). Returns boolean spikes;
    appends the potentials of each step before / after the reset to ``v_pre`` / ``v_post``."""
    spk = torch.empty(cur.shape, dtype=torch.bool, device=cur.device)        # [n, B, ...]
    for t in range(cur.shape[0]):
        v.add_(cur[t])
        if v_pre is not None:
            v_pre.append(v.clone())
        s = torch.ge(v, thr, out=spk[t])
        if reset == "zero":
            v.masked_fill_(s, 0.0)
        else:
            v.sub_(s.to(v.dtype) * thr)
        if v_post is not None:
            v_post.append(v.clone())
    return spk


def or_pool(spk: torch.Tensor) -> torch.Tensor:
    """2x2 max-pool (floor mode) of boolean maps ``[..., H, W]``: an OR of each window."""
    H, W = spk.shape[-2] // 2, spk.shape[-1] // 2
    s = spk[..., : 2 * H, : 2 * W]
    return s.reshape(*s.shape[:-2], H, 2, W, 2).any(-1).any(-2)


def time_chunk(net, batch: int, t_max: int, requested: int, itemsize: int) -> int:
    """Steps per folded call: ``requested`` if > 0, else as many as keep the largest folded
    activation under about 256 MB."""
    if requested > 0:
        return min(requested, t_max)
    largest = max(math.prod(b.out_shape) for b in net) * batch * itemsize
    return max(1, min(t_max, _CHUNK_BYTES // max(largest, 1)))


def snn_forward(net, w, gamma, beta, mean, var, x: torch.Tensor, *, t_max: int, thr: float,
                reset: str = "zero", rate_input: bool = False, gen: torch.Generator | None = None,
                bn_train: bool = False, momentum: float = 0.1, chunk: int = 0, keep: int = 0,
                trace: bool = False, allsum=None) -> SnnOut:
    """IF network on intensities ``x`` ``[B, C, H, W]`` for ``t_max`` steps (no autograd).

    Args:
        net, w, gamma, beta: architecture and the shared weights / BN affine parameters.
        mean, var: the SNN's BN running statistics (copied when ``bn_train``, never modified).
        rate_input: Bernoulli spikes of ``x`` at each step (``gen`` draws them) instead of
            the direct constant current.
        chunk: steps folded per call (0 = auto, see :func:`time_chunk`).
        keep: record the per-neuron spike counts of the first ``keep`` samples.
        trace: record pre-reset potentials and spikes of every step (small batches only).
        allsum: batch-norm statistics over all data-parallel workers (train mode).
    """
    with torch.no_grad():
        if bn_train:
            mean, var = tuple(m.clone() for m in mean), tuple(v.clone() for v in var)
        B, dev, dt = x.shape[0], x.device, x.dtype
        n_step = time_chunk(net, B, t_max, chunk, x.element_size())
        v = [torch.zeros(B, *b.out_shape, device=dev, dtype=dt) for b in net]
        fired = [torch.zeros(B, *b.out_shape, device=dev, dtype=torch.bool) for b in net]
        kept = [torch.zeros(min(keep, B), *b.out_shape, device=dev, dtype=dt) for b in net]
        traces: list[tuple[list, list]] = [([], []) for _ in net]
        out_t, v_t = [], []
        const0 = None
        if not rate_input:                      # direct input: first conv + BN, once
            b0 = net[0]
            const0 = _op(b0, w[0], x)
            if b0.bn >= 0:
                const0 = _bn(const0, 1, gamma[b0.bn], beta[b0.bn], mean[b0.bn], var[b0.bn],
                             bn_train, momentum, allsum)
        for t0 in range(0, t_max, n_step):
            n = min(n_step, t_max - t0)
            h = None
            for l, b in enumerate(net):
                if l == 0 and const0 is not None:
                    cur = const0.unsqueeze(0).expand(n, *const0.shape)       # [n, B, ...]
                else:
                    if l == 0:
                        u = torch.rand((n, *x.shape), generator=gen, device=dev, dtype=dt)
                        h = u < x.unsqueeze(0)                               # [n, B, C, H, W]
                    u = _op(b, w[l], h.flatten(0, 1).to(dt))                 # [n*B, ...]
                    if b.bn >= 0:
                        u = _bn(u, n, gamma[b.bn], beta[b.bn], mean[b.bn], var[b.bn],
                                bn_train, momentum, allsum)
                    cur = u.view(n, B, *u.shape[1:])
                last = l == len(net) - 1
                spk = if_steps(cur, v[l], thr, reset, traces[l][0] if trace else None,
                               v_t if last else None)
                fired[l] |= spk.any(0)
                if keep:
                    kept[l] += spk[:, :keep].sum(0)
                if trace:
                    traces[l][1].extend(spk.to(dt).unbind(0))
                h = or_pool(spk) if b.pool else spk
            out_t.append(spk)
        counts_t = torch.cat(out_t).to(dt).cumsum(0)                         # [T, B, K]
        return SnnOut(counts_t[-1], v[-1], counts_t, torch.stack(v_t),
                      tuple(f.flatten(1).sum(0) for f in fired),
                      tuple(k.flatten(1) for k in kept), tuple(mean), tuple(var),
                      tuple((torch.stack(a).flatten(2), torch.stack(s).flatten(2))
                            for a, s in traces) if trace else ())



# ---------------------------------------------------------------- ANN-to-SNN conversion


def activation_scales(net, w, gamma, beta, mean, var, x: torch.Tensor, percentile: float,
                      chunk: int = 256) -> tuple[float, ...]:
    """``lambda_l``: the ``percentile`` of the positive ANN activations of each block on ``x``
    (BN in eval mode; for the output block, of its positive outputs). ``percentile = 100`` is
    the maximum (Diehl et al. 2015), 99.9 the robust choice of Rueckauer et al. 2017.
    Exact (nearest rank): one pass counts the positive values, a second keeps the top ones."""
    def passes():
        for k in range(0, len(x), chunk):
            yield ann_forward(net, w, gamma, beta, mean, var, x[k: k + chunk], False).acts

    with torch.no_grad():
        n_pos = [0] * len(net)
        for acts in passes():
            for l, a in enumerate(acts):
                n_pos[l] += int((a > 0).sum())
        keep = [max(1, math.ceil(n * (1.0 - percentile / 100.0))) for n in n_pos]
        tops = [x.new_zeros(0) for _ in net]
        for acts in passes():
            for l, a in enumerate(acts):
                cand = torch.cat([tops[l], a[a > 0]])
                tops[l] = cand.topk(min(keep[l], len(cand))).values
    return tuple(float(t.min()) if len(t) else 1.0 for t in tops)


def balance(net, w, gamma, beta, mean, var, scales: tuple[float, ...], thr: float):
    """Data-based threshold balancing in its weight-scaling form (Rueckauer et al. 2017).

    An IF layer whose inputs spike at rates ``a_{l-1} / lambda_{l-1}`` must receive the mean
    current ``(thr / lambda_l) * z_l`` (``z_l`` the ANN pre-activation) to fire at rate
    ``a_l / lambda_l`` (clipped at 1): scaling the layer by ``thr * lambda_{l-1} / lambda_l``
    is the same as giving it the threshold ``lambda_l / lambda_{l-1}``. With BN, using the
    ANN's running statistics ``mu, var``, the same holds for

        gamma' = gamma thr lambda_{l-1} / lambda_l,   beta' = beta thr / lambda_l,
        mu' = mu / lambda_{l-1},   var' = var                   (lambda_{-1} = 1: pixels)

    Returns:
        ``(w, gamma, beta, mean, var)`` of the converted SNN (new tensors).
    """
    w2, g2, b2, m2, v2 = list(w), list(gamma), list(beta), list(mean), list(var)
    prev = 1.0
    for l, b in enumerate(net):
        lam = scales[l]
        if b.bn >= 0:
            i = b.bn
            g2[i] = gamma[i] * (thr * prev / lam)
            b2[i] = beta[i] * (thr / lam)
            m2[i] = mean[i] / prev
            v2[i] = var[i].clone()
            w2[l] = w[l].clone()
        else:
            w2[l] = w[l] * (thr * prev / lam)
        prev = lam
    return tuple(w2), tuple(g2), tuple(b2), tuple(m2), tuple(v2)
