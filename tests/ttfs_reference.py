"""Independent, dense reference implementations of the TTFS rules (tests only).

Written directly from the spec's equations with explicit masks and matrices, sharing no
code with the compiled kernels.
"""

from __future__ import annotations

import numpy as np
import torch


def dense_forward(t_in, w, thr, t_max, binary=False, alpha=1.0):
    """Time-stepped: V[k] = sum_{t_i <= k} w; first k with V > thr -> t = k + 1."""
    w_eff = np.where(w >= 0, 1.0, -1.0) * alpha if binary else w
    B = t_in.shape[0]
    t_out = np.full((B, w.shape[0]), t_max, dtype=np.int64)
    for b in range(B):
        v = np.zeros(w.shape[0])
        for k in range(t_max - 1):          # a crossing at t_max - 1 would give t_max
            v = v + w_eff[:, t_in[b] == k].sum(axis=1)
            new = (v > thr) & (t_out[b] == t_max)
            t_out[b, new] = k + 1
    return t_out


def targets(t_out, label, gamma, t_max, no_spike_label):
    tau = t_out.min()
    if tau >= t_max:
        T = np.full_like(t_out, t_max)
        if no_spike_label:
            T[label] = t_max - gamma
        return T
    T = np.array([max(t, min(tau + gamma, t_max)) for t in t_out])
    T[label] = tau
    return T


def normalise(x):
    n = np.linalg.norm(x)
    return x / n if n > 0 else x


def online_step(ws, alphas, t_in, label, cfg, binary):
    """One reference per-sample step (spec 1.5 / 2.5). Returns new ws, alphas, flips."""
    ws = [w.copy() for w in ws]
    alphas = list(alphas)
    thr = [cfg.thr_hidden] * len(cfg.hidden) + [cfg.thr_out]
    lr = [cfg.lr_hidden] * len(cfg.hidden) + [cfg.lr_out]
    times = [t_in]
    for l, w in enumerate(ws):
        times.append(dense_forward(times[-1][None], w, thr[l] if not binary else thr[l],
                                   cfg.t_max, binary, alphas[l])[0])
    t_out = times[-1]
    T = targets(t_out, label, cfg.gamma, cfg.t_max, not binary)
    delta = normalise((T - t_out) / cfg.t_max)
    flips = []
    for l in range(len(ws) - 1, -1, -1):
        t_pre, t_post = times[l], times[l + 1]
        mask = (t_pre[None, :] < t_post[:, None]) & (t_pre[None, :] < cfg.t_max)   # [out, in]
        old = ws[l].copy()
        ws[l] = (ws[l] - lr[l] * delta[:, None] * mask) * (1 - lr[l] * cfg.weight_decay)
        flips.append(int(((old >= 0) != (ws[l] >= 0)).sum()))
        if binary:
            sgn = np.where(ws[l] >= 0, 1.0, -1.0)
            alphas[l] -= cfg.lr_alpha * (delta[:, None] * mask * sgn).mean()
        w_prop = ws[l] if cfg.delta_weights == "updated" else old
        delta = normalise((w_prop * delta[:, None] * mask).sum(axis=0))
    return ws, alphas, flips[::-1]


def autograd_grads(params, t_in, y, cfg, times):
    """Per-layer gradients from autograd with the S4NN surrogate, float64.

    The surrogate: t_post = sg(t_post) - sum_i m_ji (w_ji - sg(w_ji))
                          + sum_i m_ji sg(w_ji) (t_pre_i - sg(t_pre_i)),
    i.e. dt/dw = -m (dt/dV = -1, dV/dw = m) and dt_j/dt_i = m w; each layer's incoming
    gradient is L2-normalised per sample by a hook (the papers' normalisation). Valid for
    ``delta_weights="forward"``. Returns the batch-mean gradient per layer.
    """
    ws = [w.detach().clone().double().requires_grad_(True) for w in params.w]
    t_pre = torch.as_tensor(t_in, dtype=torch.float64)
    delay, t_max = cfg.spike_delay, cfg.t_max

    def norm_hook(g):
        n = g.norm(dim=1, keepdim=True)
        return torch.where(n > 0, g / torch.where(n > 0, n, 1.0), 0.0)

    for l, w in enumerate(ws):
        tq = torch.as_tensor(times[l], dtype=torch.float64)
        tp = t_pre.detach()
        m = ((tp[:, None, :] + delay <= tq[:, :, None]) & (tp[:, None, :] < t_max)).double()
        v_sur = torch.einsum("bji,ji->bj", m, w - w.detach())
        prop = torch.einsum("bji,ji,bi->bj", m, w.detach(), t_pre - t_pre.detach())
        t_post = tq - v_sur + prop
        t_post.register_hook(norm_hook)
        t_pre = t_post
    t_out = torch.as_tensor(times[-1], dtype=torch.float64)
    T = torch.as_tensor(np.stack([targets(t_out[b].long().numpy(), int(y[b]), cfg.gamma,
                                          t_max, not cfg.BINARY) for b in range(len(y))]),
                        dtype=torch.float64)
    loss = 0.5 * (((T - t_pre) / t_max) ** 2).sum()
    loss.backward()
    return [w.grad / len(y) for w in ws]
