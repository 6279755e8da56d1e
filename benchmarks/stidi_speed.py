"""Training speed of STiDi-BP (fully connected and deep convolutional) against the
time-stepped oracle, measured in the same run, and the projected time of one full
Fashion-MNIST epoch of the deep convolutional network.

Both paths run the same backward pass and update; they differ only in the forward pass:
the exact closed form per interval (compiled) versus the literal time-stepped simulation
(``forward_naive``: one full evaluation of every potential per time step). Wall-clock and
process CPU times are both printed, because benchmark machines are shared.

    NUMBA_NUM_THREADS=2 python benchmarks/stidi_speed.py [--batch 32] [--samples 512]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
import torch

from snnviz.algorithms import stidi_bp, stidi_bp_conv
from snnviz.data import load_embedded
from snnviz.rng import make_generator

FMNIST_TRAIN, FMNIST_VAL = 54_000, 6_000          # default split: 10 % of 60k held out


def oracle_step(params, x, y, cfg):
    """A training step whose forward pass is the time-stepped simulation."""
    fwd = stidi_bp.forward_naive(params, x, cfg)
    return stidi_bp.update(params, stidi_bp.backward(params, fwd, x, y, cfg), cfg)


def fast_step(params, x, y, cfg, online=False):
    return stidi_bp.train_step(params, x, y, cfg, online)[0]


def rate(step, params, x, y, cfg, batch: int, **kw) -> tuple[float, float]:
    """Samples per second (wall, CPU) of ``step`` over ``x`` in batches of ``batch``."""
    step(params, x[:batch], y[:batch], cfg, **kw)                      # compile / warm up
    w0, c0 = time.perf_counter(), time.process_time()
    for k in range(0, len(x), batch):
        params = step(params, x[k: k + batch], y[k: k + batch], cfg, **kw)
    w, c = time.perf_counter() - w0, time.process_time() - c0
    return len(x) / w, len(x) / c


def eval_rate(params, x, cfg) -> tuple[float, float]:
    stidi_bp.forward(params, x[:8], cfg)
    w0, c0 = time.perf_counter(), time.process_time()
    stidi_bp.forward(params, x, cfg)
    return len(x) / (time.perf_counter() - w0), len(x) / (time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=512, help="samples timed, fast path")
    ap.add_argument("--oracle-samples", type=int, default=64, help="samples timed, oracle")
    ap.add_argument("--batch", type=int, default=32, help="mini-batch size of both paths")
    args = ap.parse_args()
    ds = load_embedded("fashion-mnist-mini")
    y = torch.from_numpy(np.asarray(ds.train_y, dtype=np.int64))
    print(f"numba threads: {numba.get_num_threads()}, torch threads: {torch.get_num_threads()}, "
          f"data: fashion-mnist-mini, batch {args.batch}")
    print(f"{'network':<28}{'path':<26}{'samples/s wall':>16}{'samples/s CPU':>15}")
    results = {}
    for name, mod in (("FC 784-400-10", stidi_bp), ("conv 16c5-p2-32c5-p2-10", stidi_bp_conv)):
        cfg = mod.Config(displacement_probe=0)
        x = mod.encode(ds.train_x, cfg)
        p = mod.init(cfg, make_generator(0))
        rows = {
            "oracle (time-stepped)": rate(oracle_step, p, x[:args.oracle_samples],
                                          y[:args.oracle_samples], cfg, args.batch),
            "exact, mini-batch": rate(fast_step, p, x[:args.samples], y[:args.samples], cfg,
                                      args.batch),
            "exact, online (batch 1)": rate(fast_step, p, x[:args.samples // 2],
                                            y[:args.samples // 2], cfg, args.samples // 2,
                                            online=True),
            "exact, evaluation": eval_rate(p, x[:args.samples], cfg),
        }
        for path, (rw, rc) in rows.items():
            print(f"{name:<28}{path:<26}{rw:>16.1f}{rc:>15.1f}")
        oracle_w, oracle_c = rows["oracle (time-stepped)"]
        fast_w, fast_c = rows["exact, mini-batch"]
        print(f"{name:<28}{'speed-up vs oracle':<26}{fast_w / oracle_w:>15.1f}x"
              f"{fast_c / oracle_c:>14.1f}x")
        results[name] = rows
    conv = results["conv 16c5-p2-32c5-p2-10"]
    for mode in ("exact, mini-batch", "exact, online (batch 1)"):
        (train_w, train_c), (ev_w, ev_c) = conv[mode], conv["exact, evaluation"]
        wall = (FMNIST_TRAIN / train_w + FMNIST_VAL / ev_w) / 60
        cpu = (FMNIST_TRAIN / train_c + FMNIST_VAL / ev_c) / 60
        print(f"projected Fashion-MNIST epoch, conv net, {mode} ({FMNIST_TRAIN} training + "
              f"{FMNIST_VAL} validation samples): {wall:.1f} min at this run's wall-clock "
              f"speed, {cpu:.1f} CPU-min")


if __name__ == "__main__":
    main()
