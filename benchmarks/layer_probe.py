"""Which layer limits a trained TTFS network? Linear read-outs of every layer's spike times.

For a run's checkpoint (S4NN, BS4NN or STiDi-BP, best-on-validation weights), the spike times
of the input and of every layer are computed for the run's own training, validation and test
splits. A multinomial logistic regression (an ANN read-out, not a spiking one) is fitted on
each layer's code ``(t_max - t) / t_max`` (0 for no spike) of the training images, its weight
decay chosen on validation, and it scores the test set once. Beside it: the network's own
output race under the honest policy (first spike wins, ties and silence wrong).

If the hidden layer's code supports a much better linear read-out than the network's race
achieves, the output layer (its neuron model, targets or learning rule) is what limits, not
the features the hidden layer learned.

    python benchmarks/layer_probe.py runs/results/s4nn-fashion-mnist-lr05 --data-root DATA
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from snnviz.api import load_trainer
from snnviz.training.checkpoint import write_json_atomic

DECAYS = (1e-5, 1e-4, 1e-3)          # L2 penalties tried, chosen on validation


def layer_codes(algo, params, acfg, t_in: torch.Tensor, chunk: int = 2000) -> list[np.ndarray]:
    """Spike-time codes ``(t_max - t) / t_max`` of the input and every layer, ``[N, D_l]``."""
    parts = []
    for i in range(0, len(t_in), chunk):
        t = t_in[i:i + chunk]
        fwd = algo.forward(params, t, acfg)
        parts.append([t.numpy()] + [x.reshape(len(t), -1).numpy() for x in fwd.times])
    T = float(acfg.t_max)
    return [np.clip((T - np.concatenate(z).astype(np.float32)) / T, 0.0, 1.0)
            for z in zip(*parts)]


def fit_readout(x_tr, y_tr, decay: float, iters: int):
    """Softmax regression with an L2 penalty ``decay * |W|^2``, full-batch L-BFGS on
    standardised features; returns (model, mean, std)."""
    x = torch.from_numpy(x_tr)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    x = (x - mu) / sd
    y = torch.from_numpy(y_tr.astype(np.int64))
    model = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.LBFGS(model.parameters(), max_iter=iters, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y) + decay * model.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return model, mu, sd


def accuracy(model, mu, sd, x, y) -> float:
    with torch.no_grad():
        pred = model((torch.from_numpy(x) - mu) / sd).argmax(1).numpy()
    return float((pred == y).mean())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="run folder (or its checkpoint.pt)")
    p.add_argument("--data-root", help="dataset folder, if it moved since the run")
    p.add_argument("--train-limit", type=int, default=20000,
                   help="training images the read-outs are fitted on (default 20000)")
    p.add_argument("--iters", type=int, default=100, help="L-BFGS iterations per read-out")
    p.add_argument("--json", help="also write the result here")
    a = p.parse_args(argv)
    ckpt = Path(a.run)
    ckpt = ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt
    tr = load_trainer(ckpt, a.data_root)
    cfg = tr.cfg
    algo, acfg, params = tr.algo, tr.cfg.algo, tr.best_params     # fitted to the data
    t0 = time.time()
    n = min(a.train_limit, len(tr.t_train))
    codes = {s: layer_codes(algo, params, acfg, t) for s, t in
             (("train", tr.t_train[:n]), ("val", tr.t_val), ("test", tr.t_test))}
    ys = {"train": np.asarray(tr.y_train[:n]), "val": np.asarray(tr.y_val),
          "test": np.asarray(tr.y_test)}
    race = tr.evaluate(params, "test")
    names = ["input"] + [f"layer {i + 1}" for i in range(len(codes["test"]) - 2)] + ["output"]
    rows = []
    for li, name in enumerate(names):
        best = None
        for decay in DECAYS:
            m, mu, sd = fit_readout(codes["train"][li], ys["train"], decay, a.iters)
            va = accuracy(m, mu, sd, codes["val"][li], ys["val"])
            if best is None or va > best[0]:
                best = (va, decay, m, mu, sd)
        va, decay, m, mu, sd = best
        rows.append({"layer": name, "units": int(codes["test"][li].shape[1]),
                     "fired": float((codes["test"][li] > 0).mean()),
                     "train": accuracy(m, mu, sd, codes["train"][li], ys["train"]),
                     "val": va, "test": accuracy(m, mu, sd, codes["test"][li], ys["test"]),
                     "weight_decay": decay})
    out = {"run": str(ckpt), "algorithm": cfg.algorithm, "dataset": cfg.data.dataset,
           "train_images": n, "readout_iters": a.iters, "seconds": round(time.time() - t0),
           "race_test_honest": race.accuracy, "race_tie_rate": race.tie_rate,
           "race_no_spike_rate": race.no_spike_rate, "layers": rows}
    print(f"{cfg.algorithm} on {cfg.data.dataset} ({ckpt}); read-outs fitted on {n} "
          f"training images, weight decay chosen on {len(ys['val'])} validation images")
    print(f"{'code':<10} {'units':>6} {'fired %':>8} {'train %':>8} {'val %':>7} {'test %':>7}")
    for r in rows:
        print(f"{r['layer']:<10} {r['units']:>6} {100 * r['fired']:>8.1f} {100 * r['train']:>8.2f}"
              f" {100 * r['val']:>7.2f} {100 * r['test']:>7.2f}")
    print(f"the network's own race, honest: {100 * race.accuracy:.2f}% test "
          f"(ties {100 * race.tie_rate:.2f}%, no spike {100 * race.no_spike_rate:.2f}%)")
    if a.json:
        write_json_atomic(out, a.json)
    return out


if __name__ == "__main__":
    main()
