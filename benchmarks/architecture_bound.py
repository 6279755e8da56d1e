"""How far can a run's architecture go? The same network as a ReLU ANN, trained by backprop.

For a conv STiDi-BP run (``stidi-bp-conv``, ``stidi-bp-conv-binary``), builds the ANN with
the run's own layer shapes (conv kernels, feature maps, padding, pooling windows, dense
hidden layers, no biases, as the spiking network has none), feeds it the run's own input
code ``(t_max - t) / t_max`` (what the spiking network sees, 0 for a silent pixel), and
trains it with Adam and cross-entropy on the run's own training split. The epoch is chosen
on the run's validation split and the test split is scored once, as for the runs.

If the ANN reaches far more than the spiking network, the architecture is not what limits
the run: its neuron model, targets or learning rule are. The spiking network's own result
(honest policy) is printed beside it.

    python benchmarks/architecture_bound.py runs/results/RUN --data-root DATA [--epochs 8]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snnviz.api import load_trainer
from snnviz.training.checkpoint import write_json_atomic


def ann_like(acfg) -> nn.Sequential:
    """ReLU ANN with the layer shapes of a conv STiDi-BP config (max-pooling of activations
    is min-pooling of spike times)."""
    layers: list[nn.Module] = []
    c, h, w = acfg.in_shape
    for maps, k, pool, pad in zip(acfg.channels, acfg.kernel, acfg.pool, acfg.padding):
        layers += [nn.Conv2d(c, maps, k, padding=pad, bias=False), nn.ReLU()]
        h, w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
        if pool > 1:
            layers.append(nn.MaxPool2d(pool, ceil_mode=True))
            h, w = -(-h // pool), -(-w // pool)
        c = maps
    layers.append(nn.Flatten())
    n = c * h * w
    for width in acfg.hidden:
        layers += [nn.Linear(n, width, bias=False), nn.ReLU()]
        n = width
    layers.append(nn.Linear(n, acfg.n_classes, bias=False))
    return nn.Sequential(*layers)


def code(t: torch.Tensor, t_max: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The spiking network's input, ``(t_max - t) / t_max``, as images."""
    x = (float(t_max) - t.to(torch.float32)).clamp(min=0.0) / float(t_max)
    return x.reshape(len(t), *shape)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2000) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + chunk]).argmax(1) for i in range(0, len(x), chunk)])
    model.train()
    return float((pred == y).float().mean())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="run folder (or its checkpoint.pt) of a conv STiDi-BP run")
    p.add_argument("--data-root", help="dataset folder, if it moved since the run")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the result here")
    a = p.parse_args(argv)
    ckpt = Path(a.run)
    ckpt = ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt
    tr = load_trainer(ckpt, a.data_root)
    cfg, acfg = tr.cfg, tr.cfg.algo
    if not hasattr(acfg, "channels"):
        p.error(f"{cfg.algorithm} is not a conv STiDi-BP run (no conv layers to copy)")
    shape = tuple(acfg.in_shape)
    xs = {s: code(t, acfg.t_max, shape) for s, t in
          (("train", tr.t_train), ("val", tr.t_val), ("test", tr.t_test))}
    ys = {s: torch.as_tensor(np.asarray(y), dtype=torch.int64) for s, y in
          (("train", tr.y_train), ("val", tr.y_val), ("test", tr.y_test))}
    race = tr.evaluate(tr.best_params, "test")

    gen = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)                  # the layers' initial weights
    model = ann_like(acfg)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    best = None
    curve = []
    t0 = time.time()
    n = len(xs["train"])
    for epoch in range(a.epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, a.batch):
            idx = order[i:i + a.batch]
            loss = nn.functional.cross_entropy(model(xs["train"][idx]), ys["train"][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        va = accuracy(model, xs["val"], ys["val"])
        curve.append(va)
        if best is None or va > best[0]:
            best = (va, epoch + 1, {k: v.clone() for k, v in model.state_dict().items()})
        print(f"epoch {epoch + 1}: validation {100 * va:.2f}% ({time.time() - t0:.0f} s)",
              flush=True)
    va, epoch, weights = best
    model.load_state_dict(weights)
    test = accuracy(model, xs["test"], ys["test"])
    out = {"run": str(ckpt), "algorithm": cfg.algorithm, "dataset": cfg.data.dataset,
           "architecture": str(model), "epochs": a.epochs, "batch": a.batch, "lr": a.lr,
           "seed": a.seed, "val_curve": curve, "best_epoch": epoch, "val": va, "test": test,
           "seconds": round(time.time() - t0), "snn_test_honest": race.accuracy}
    print(f"{cfg.algorithm} on {cfg.data.dataset} ({ckpt}): {len(xs['train'])} training, "
          f"{len(xs['val'])} validation, {len(xs['test'])} test images")
    print(f"the same layers as a ReLU ANN (Adam, lr {a.lr}, batch {a.batch}): chosen at "
          f"epoch {epoch} of {a.epochs} (validation {100 * va:.2f}%), test {100 * test:.2f}%")
    print(f"the spiking network, honest race: test {100 * race.accuracy:.2f}%")
    if a.json:
        write_json_atomic(out, a.json)
    return out


if __name__ == "__main__":
    main()
