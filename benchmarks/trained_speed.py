"""TTFS training speed at a run's trained weights against the initial weights, side by side.

    NUMBA_NUM_THREADS=1 python benchmarks/trained_speed.py runs/results/bs4nn-mnist [--n 3000]

The speed benchmark (``ttfs_speed.py``) measures freshly initialised networks, whose hidden
neurons fire within the first few steps; the event-driven forward then exits early and the
per-sample update touches only the few inputs that spiked before each neuron. A trained
network fires later, so both cost more. This script loads a run's checkpoint (weights-only)
and times the per-sample training step and the forward pass on the run's own training data at
both sets of weights, printing the ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from snnviz.algorithms import ALGORITHMS
from snnviz.api import run_config_from_dict
from snnviz.rng import make_generator
from snnviz.training.checkpoint import load_checkpoint
from snnviz.training.trainer import fit_config, load_splits


def rate(fn, n: int, reps: int = 2) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder holding checkpoint.pt")
    ap.add_argument("--n", type=int, default=3000, help="training samples timed")
    args = ap.parse_args()
    st = load_checkpoint(args.run / "checkpoint.pt")
    cfg = run_config_from_dict(st["config"])
    splits = load_splits(cfg)
    cfg = fit_config(cfg, splits)
    algo, a = ALGORITHMS[cfg.algorithm], cfg.algo
    x = algo.encode(splits.train_x[: args.n], a)
    y = torch.as_tensor(np.asarray(splits.train_y[: args.n]))
    trained = algo.Params(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in st["params"].items()})
    init = algo.init(a, make_generator(cfg.seed))
    algo.train_step(init, x[:100], y[:100], a, True)                  # compile the kernels
    print(f"{cfg.algorithm} on {cfg.data.dataset}, {len(y)} samples, epoch {st['epoch']} "
          f"weights vs initial weights")
    res = {}
    for name, p in (("initial", init), ("trained", trained)):
        train = rate(lambda p=p: algo.train_step(p, x, y, a, True), len(y))
        fwd = rate(lambda p=p: algo.forward(p, x, a), len(y))
        first = np.asarray(algo.forward(p, x, a).readout.t_out).min(axis=1).mean()
        res[name] = (train, fwd)
        print(f"{name:>8}: training {train:8.0f} samples/s (per-sample updates), forward "
              f"{fwd:8.0f} samples/s, mean first output spike {first:.1f}")
    print(f"ratio trained/initial: training {res['trained'][0] / res['initial'][0]:.3f}, "
          f"forward {res['trained'][1] / res['initial'][1]:.3f}")


if __name__ == "__main__":
    main()
