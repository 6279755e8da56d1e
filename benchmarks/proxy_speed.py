"""Proxy step time vs (ANN train step + T x ANN forward), same network, same batch, same run.

The proxy step runs the ANN forward/backward/Adam once and the SNN for T steps, so its cost
floor is about one ANN train step plus T ANN forwards; the ratio printed here says how close
the implementation gets (target <= 1.2). Steps are interleaved and the median of ``--repeats``
is taken, because shared machines are noisy.

    python benchmarks/proxy_speed.py                    # paper F-MNIST network, batch 8, CPU
    python benchmarks/proxy_speed.py --batch 100 --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from snnviz.algorithms import proxy
from snnviz.data import load_embedded


def _timed(fn) -> float:
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def measure(cfg: proxy.ProxyConfig, batch: int, repeats: int, bn_train: bool) -> dict:
    """Median seconds of a proxy step, an ANN train step and one ANN forward."""
    ds = load_embedded("fashion-mnist-mini")
    x = proxy.encode(ds.train_x[:batch], cfg)
    y = torch.from_numpy(ds.train_y[:batch])
    params = proxy.init(cfg, torch.Generator().manual_seed(0))
    params = params._replace(epoch=torch.tensor(0 if bn_train else 1, device=params.step.device))
    ann_cfg = dataclasses.replace(cfg, mode="ann")
    xi = proxy.intensities(x, cfg)

    def ann_forward() -> None:
        with torch.no_grad():
            proxy._ann(params, xi, cfg, bn_train)

    runs = {"proxy_step": lambda: proxy.train_step(params, x, y, cfg, False),
            "ann_step": lambda: proxy.train_step(params, x, y, ann_cfg, False),
            "ann_forward": ann_forward}
    for fn in runs.values():                    # warm-up (allocator, kernels)
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for k, fn in runs.items():
            times[k].append(_timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="fmnist")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = proxy.Config(arch=args.arch, device=args.device)
    print(f"network {cfg.layer_spec} | T={cfg.t_max} | batch {args.batch} | {args.device} | "
          f"{args.threads} thread(s) | median of {args.repeats}")
    for bn_train, label in ((False, "BN frozen (epochs >= 2)"), (True, "BN on batch stats "
                                                                 "(epoch 1)")):
        m = measure(cfg, args.batch, args.repeats, bn_train)
        floor = m["ann_step"] + cfg.t_max * m["ann_forward"]
        print(f"{label:28s} proxy step {m['proxy_step']:.3f} s | ANN step {m['ann_step']:.3f} s"
              f" + {cfg.t_max} x ANN forward {m['ann_forward']:.3f} s = {floor:.3f} s | "
              f"ratio {m['proxy_step'] / floor:.2f}")


if __name__ == "__main__":
    main()
