"""TTFS speed: event-driven fast path vs the time-stepped oracle, measured side by side.

S4NN and BS4NN, 784-400-10, T = 256, on MNIST digits (the embedded subset by default, or
``--dataset mnist --data-root DIR``). For each algorithm it prints training samples/s in
per-sample (online) mode and in mini-batch mode, and inference samples/s, for the fast path
and for the oracle (time-stepped simulation: one Python iteration per time step, dense
masks in the backward pass), the ratio fast/oracle, and the projected time of a full
60,000-sample MNIST training epoch.

    python benchmarks/ttfs_speed.py [--batch-size 32] [--samples 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
import torch

from snnviz.algorithms import bs4nn, s4nn
from snnviz.algorithms._common import normalize_error
from snnviz.data import load_dataset
from snnviz.neurons.if_neuron import first_spike_times_naive


def oracle_forward(mod, params, t_in, cfg):
    thr = mod.effective_thresholds(params, cfg)
    times, t = [], t_in
    for l, w in enumerate(params.w):
        t = torch.from_numpy(first_spike_times_naive(t, w, thr[l], cfg.t_max,
                                                     binary=cfg.BINARY).times)
        times.append(t)
    return times


def oracle_train_step(mod, params, t_in, y, cfg):
    """Time-stepped forward + dense-mask backward (torch, vectorised over the batch)."""
    times = oracle_forward(mod, params, t_in, cfg)
    e = mod.output_error(times[-1].numpy(), y.numpy(), cfg)
    delta = torch.from_numpy(normalize_error(e)).to(params.w[0].dtype)       # [B, K]
    lrs = [cfg.lr_hidden] * len(cfg.hidden) + [cfg.lr_out]
    pre = [t_in, *times[:-1]]
    new_w = list(params.w)
    for l in range(len(params.w) - 1, -1, -1):
        tp, tq = pre[l].long(), times[l].long()
        m = ((tp[:, None, :] < tq[:, :, None]) & (tp[:, None, :] < cfg.t_max)).to(delta.dtype)
        grad = torch.einsum("bj,bji->ji", delta, m) / len(y)
        new_w[l] = (params.w[l] - lrs[l] * grad) * (1 - lrs[l] * cfg.weight_decay)
        w_upd = params.w[l][None] - lrs[l] * delta[:, :, None] * m
        delta = torch.from_numpy(normalize_error(
            torch.einsum("bji,bj,bji->bi", w_upd, delta, m).numpy()))
    return params._replace(w=tuple(new_w))


def dense_train_step(mod, ws, alphas, t_in, label, cfg):
    """One per-sample step in the style of the authors' numpy script (spec 1.3 pseudocode):
    one-hot spike array, W @ S, cumsum over time, first crossing by argmax; dense masks in
    the backward pass. Updates ``ws`` in place."""
    t_max = cfg.t_max
    thr = mod.effective_thresholds(mod.Params(tuple(), torch.as_tensor(alphas)), cfg) \
        if cfg.BINARY else [cfg.thr_hidden] * len(cfg.hidden) + [cfg.thr_out]
    lrs = [cfg.lr_hidden] * len(cfg.hidden) + [cfg.lr_out]
    times = [t_in]
    for l, w in enumerate(ws):
        spikes = np.zeros((w.shape[1], t_max + 1), np.float32)
        spikes[np.arange(w.shape[1]), times[-1]] = 1
        w_eff = np.where(w >= 0, 1.0, -1.0).astype(np.float32) if cfg.BINARY else w
        v = np.cumsum(w_eff @ spikes[:, :t_max], axis=1)                      # [N_out, T]
        crossed = v > thr[l]
        k = crossed.argmax(axis=1)
        times.append(np.where(crossed.any(axis=1), np.minimum(k + 1, t_max), t_max))
    e = mod.output_error(times[-1][None], np.array([label]), cfg)[0]
    delta = e / np.linalg.norm(e) if np.linalg.norm(e) > 0 else e
    for l in range(len(ws) - 1, -1, -1):
        m = (times[l][None, :] < times[l + 1][:, None]) & (times[l][None, :] < t_max)
        ws[l] -= lrs[l] * delta[:, None] * m
        ws[l] *= 1 - lrs[l] * cfg.weight_decay
        dp = (ws[l] * delta[:, None] * m).sum(axis=0)
        delta = dp / np.linalg.norm(dp) if np.linalg.norm(dp) > 0 else dp


def rate(fn, n, repeat=3):
    """Median samples/s of ``fn()`` processing ``n`` samples."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def bench(mod, t_all, y_all, batch, n_fast, n_oracle, hidden):
    cfg = dataclasses.replace(mod.Config(), hidden=(hidden,))
    params = mod.init(cfg, torch.Generator().manual_seed(0))
    t, y = t_all[:n_fast], y_all[:n_fast]
    mod.train_step(params, t[:8], y[:8], cfg, online=True)                  # compile
    mod.train_step(params, t[:8], y[:8], cfg, online=False)

    def online_fast():
        p = params
        for k in range(0, n_fast, 100):
            p, _ = mod.train_step(p, t[k:k + 100], y[k:k + 100], cfg, online=True)

    def minibatch_fast():
        p = params
        for k in range(0, n_fast, batch):
            p, _ = mod.train_step(p, t[k:k + batch], y[k:k + batch], cfg, online=False)

    def online_oracle():
        p = params
        for k in range(n_oracle):
            p = oracle_train_step(mod, p, t[k:k + 1], y[k:k + 1], cfg)

    def minibatch_oracle():
        p = params
        for k in range(0, n_oracle * 4, batch):
            p = oracle_train_step(mod, p, t[k:k + batch], y[k:k + batch], cfg)

    def online_dense():
        ws = [w.numpy().copy() for w in params.w]
        alphas = params.alpha.numpy().copy()
        tn, yn = t.numpy(), y.numpy()
        for k in range(n_oracle * 10):
            dense_train_step(mod, ws, alphas, tn[k], int(yn[k]), cfg)

    dense = rate(online_dense, n_oracle * 10, 1)
    rows = [
        ("train, per-sample", rate(online_fast, n_fast), rate(online_oracle, n_oracle, 1)),
        (f"train, batch {batch}", rate(minibatch_fast, n_fast),
         rate(minibatch_oracle, n_oracle * 4, 1)),
        ("inference", rate(lambda: mod.forward(params, t, cfg), n_fast),
         rate(lambda: oracle_forward(mod, params, t[:n_oracle * 4], cfg), n_oracle * 4, 1)),
    ]
    print(f"\n{mod.NAME} 784-{hidden}-10, T={cfg.t_max}, {torch.get_num_threads()} threads")
    print(f"  {'mode':<20}{'fast /s':>12}{'oracle /s':>12}{'ratio':>9}{'MNIST epoch':>14}")
    for name, fast, slow in rows:
        print(f"  {name:<20}{fast:12.0f}{slow:12.1f}{fast / slow:8.0f}x{60000 / fast:12.1f} s")
    print(f"  per-sample, dense cumsum numpy (reference-code style): {dense:.0f}/s; "
          f"fast path is {rows[0][1] / dense:.1f}x faster")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist-mini")
    ap.add_argument("--data-root")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--samples", type=int, default=2000, help="samples timed on the fast path")
    ap.add_argument("--oracle-samples", type=int, default=40)
    ap.add_argument("--hidden", type=int, default=400)
    args = ap.parse_args()
    ds = load_dataset(args.dataset, args.data_root)
    n = min(args.samples, len(ds.train_y))
    for mod in (s4nn, bs4nn):
        t = mod.encode(ds.train_x[:n], mod.Config())
        y = torch.from_numpy(np.asarray(ds.train_y[:n], dtype=np.int64))
        bench(mod, t, y, args.batch_size, n, args.oracle_samples, args.hidden)


if __name__ == "__main__":
    main()
