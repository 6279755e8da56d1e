"""Collect result.json files into the markdown table of docs/results.md.

    python benchmarks/results_table.py runs/results/*/result.json

Each row: algorithm, dataset, seed, epochs, best epoch (chosen on validation), test accuracy
under the honest policy (no spike = wrong, ties = wrong) and under the reference code's
counting (ties correct, potential fallback), no-spike and tie rates, duration, the command
line that reproduces it, and the paper's number.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from snnviz.algorithms import get_algorithm

PAPER = {("s4nn", "mnist"): "97.4", ("s4nn", "fashion-mnist"): "88.0 (from BS4NN paper)",
         ("bs4nn", "mnist"): "97.0", ("bs4nn", "fashion-mnist"): "87.3",
         ("stidi-bp", "mnist"): "not retrieved (FC)", ("stidi-bp-conv", "mnist"): "99.2",
         ("stidi-bp-conv", "fashion-mnist"): "92.8",
         ("stidi-bp-conv-binary", "mnist"): "about 98.6",
         ("stidi-bp-conv-binary", "fashion-mnist"): "about 92.0"}


def command(r: dict) -> str:
    c = r["config"]
    defaults = {"order": "shuffle", "lr_decay": 1.0}
    sets = " ".join(f"--set {k}={c['train'][k]}" for k in defaults
                    if c["train"].get(k, defaults[k]) != defaults[k])
    algo_defaults = dataclasses.asdict(get_algorithm(r["algorithm"]).Config())
    changed = {k: v for k, v in c["algo"].items() if k not in ("n_in", "n_classes", "in_shape",
                                                               "device")
               and (tuple(v) if isinstance(v, list) else v) != algo_defaults.get(k)
               # settings of dense hidden layers a network does not have (conv stacks)
               and not (k.endswith("_hidden") and c["algo"].get("hidden") == [])}
    sets += "".join(f" --set {k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                    for k, v in changed.items())
    bs = c["train"]["batch_size"]
    sizes = "".join(f"--{k.replace('_', '-')} {c['data'][k]} "
                    for k in ("train_size", "val_size", "test_size") if c["data"].get(k))
    return (f"snnviz train --algorithm {r['algorithm']} --dataset {r['dataset']} --data-root DATA "
            f"{sizes}--epochs {c['train']['epochs']} --seed {r['seed']}"
            + (f" --batch-size {bs}" if bs != 1 else "")
            + (f" {sets.strip()}" if sets.strip() else ""))


def row(path: Path) -> str:
    r = json.loads(path.read_text())
    if r.get("status") != "ok":
        return f"| {r['algorithm']} | {r['dataset']} | stopped: {r.get('message', '')} |"
    by = r["test_by_policy"]
    paper = PAPER.get((r["algorithm"], r["dataset"]), "-")
    return (f"| {r['algorithm']} | {r['dataset']} | {r['seed']} | {r['epochs_run']} | "
            f"{r['best_epoch']} | {100 * r['val_accuracy']:.2f} | {100 * by['honest']:.2f} | "
            f"{100 * by['reference']:.2f} | {100 * by['tie-potential']:.2f} | "
            f"{100 * r['no_spike_rate']:.2f} | {100 * r['tie_rate']:.2f} | "
            f"{r['seconds_total'] / 60:.0f} min | {paper} | `{command(r)}` |")


def main(paths: list[str]) -> None:
    print("| algorithm | dataset | seed | epochs | best epoch (val) | val % | test % honest | "
          "test % reference counting | test % ties by potential | no spike % | ties % | "
          "duration | paper % | command |")
    print("|" + "---|" * 14)
    for p in paths:
        print(row(Path(p)))


if __name__ == "__main__":
    main(sys.argv[1:])
