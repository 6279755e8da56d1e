"""Run many short training runs side by side, one core each, and compare their settings.

Each line of the settings file is one run: a name, a seed, then ``KEY=VALUE`` settings as
``snnviz train --set`` takes them (``#`` starts a comment)::

    base    0
    base    1
    lro1    0  lr_out=1.0
    lro1    1  lr_out=1.0

Every run is ``snnviz train`` on the same data split (``--train-size``, ``--val-size``,
``--test-size``: validation picks each run's epoch, the test set is scored once), with one
thread, ``--jobs`` at a time, each stopped after ``--limit`` seconds (it then reports the
epochs it finished, from its checkpoint). The table lists every run, then every setting
with the mean over its seeds: on subsets, runs that differ only in the seed spread over
several points, so compare means over seeds, not single runs.

    python benchmarks/sweep.py SETTINGS --algorithm stidi-bp-conv --dataset fashion-mnist \\
        --data-root DATA --train-size 10000 --val-size 2000 --test-size 2000 --epochs 3 --jobs 16
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from snnviz.training.checkpoint import write_json_atomic, write_text_atomic


def read_settings(path: Path) -> list[dict]:
    """The runs of a settings file: ``[{"name", "seed", "sets": [KEY=VALUE, ...]}]``."""
    runs, names = [], set()
    for no, line in enumerate(path.read_text().splitlines(), 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if len(words) < 2 or not words[1].isdigit() or any("=" not in w for w in words[2:]):
            raise SystemExit(f"{path}:{no}: expected 'NAME SEED [KEY=VALUE ...]', got {line!r}")
        name, seed, sets = words[0], int(words[1]), words[2:]
        if (name, seed) in names:
            raise SystemExit(f"{path}:{no}: run {name} seed {seed} appears twice")
        names.add((name, seed))
        runs.append({"name": name, "seed": seed, "sets": sets})
    if not runs:
        raise SystemExit(f"{path}: no runs")
    return runs


def command(run: dict, args: argparse.Namespace, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "snnviz", "train", "--algorithm", args.algorithm,
           "--dataset", args.dataset, "--epochs", str(args.epochs), "--seed", str(run["seed"]),
           "--threads", "1", "--quiet", "--out", str(out)]
    for flag in ("data_root", "train_size", "val_size", "test_size", "batch_size"):
        value = getattr(args, flag)
        if value is not None:
            cmd += ["--" + flag.replace("_", "-"), str(value)]
    for kv in run["sets"]:
        cmd += ["--set", kv]
    return cmd


def outcome(folder: Path) -> dict:
    """What a run left: its result, or the epochs of its checkpoint if it was stopped."""
    result = folder / "result.json"
    if result.exists():
        r = json.loads(result.read_text())
        return {"status": r["status"], "history": r["history"], "best_epoch": r["best_epoch"],
                "val_accuracy": r["val_accuracy"], "test_accuracy": r["test_accuracy"],
                "samples_per_second": r["train_samples_per_second"], "message": r["message"]}
    ckpt = folder / "checkpoint.pt"
    if ckpt.exists():
        c = torch.load(ckpt, map_location="cpu", weights_only=False)
        best = c["best_epoch"] + 1 if c["best_epoch"] >= 0 else None     # stored 0-based
        return {"status": "stopped", "history": c["history"], "best_epoch": best,
                "val_accuracy": c["best_val"] if best else None, "test_accuracy": None,
                "samples_per_second": None, "message": "stopped at --limit"}
    return {"status": "failed", "history": [], "best_epoch": None, "val_accuracy": None,
            "test_accuracy": None, "samples_per_second": None, "message": "no checkpoint"}


def sweep(runs: list[dict], args: argparse.Namespace, out: Path) -> list[dict]:
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    waiting, active, done = list(runs), [], []
    while waiting or active:
        while waiting and len(active) < args.jobs:
            run = waiting.pop(0)
            folder = out / f"{run['name']}-s{run['seed']}"
            log = open(out / f"{run['name']}-s{run['seed']}.log", "w")
            proc = subprocess.Popen(command(run, args, folder), env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
            active.append((run, folder, proc, log, time.monotonic()))
        time.sleep(0.2)
        for item in list(active):
            run, folder, proc, log, t0 = item
            if proc.poll() is None and time.monotonic() - t0 > args.limit:
                proc.terminate()                 # the CLI checkpoints on SIGTERM
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if proc.poll() is not None:
                log.close()
                active.remove(item)
                res = outcome(folder)
                if proc.returncode not in (0, None) and res["status"] == "failed":
                    tail = (out / f"{run['name']}-s{run['seed']}.log").read_text()[-400:]
                    res["message"] = tail.strip().splitlines()[-1] if tail.strip() else ""
                done.append({**run, **res, "seconds": time.monotonic() - t0})
    order = {(r["name"], r["seed"]): i for i, r in enumerate(runs)}
    return sorted(done, key=lambda r: order[(r["name"], r["seed"])])


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def table(done: list[dict]) -> str:
    lines = ["run                  seed  validation per epoch (%)          best  test (%)"]
    for r in done:
        curve = " ".join(f"{100 * h['val_accuracy']:.1f}" for h in r["history"])
        lines.append(f"{r['name']:20s} {r['seed']:4d}  {curve:32s} {r['best_epoch'] or '-':>4}"
                     f"  {pct(r['test_accuracy']):>7}"
                     + ("" if r["status"] == "ok" else f"  {r['status']}: {r['message']}"))
    lines.append("")
    lines.append("setting              runs  mean best validation  mean test  (min-max)")
    groups: dict[str, list[dict]] = {}
    for r in done:
        groups.setdefault(r["name"], []).append(r)
    for name, rs in groups.items():
        vals = [r["val_accuracy"] for r in rs if r["val_accuracy"] is not None]
        tests = [r["test_accuracy"] for r in rs if r["test_accuracy"] is not None]
        mv = pct(sum(vals) / len(vals)) if vals else "-"
        mt = pct(sum(tests) / len(tests)) if tests else "-"
        span = f"({pct(min(tests))}-{pct(max(tests))})" if len(tests) > 1 else ""
        lines.append(f"{name:20s} {len(rs):4d}  {mv:>20}  {mt:>9}  {span}  "
                     f"{' '.join(rs[0]['sets'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("settings", type=Path, help="file: NAME SEED [KEY=VALUE ...] per line")
    p.add_argument("--algorithm", required=True)
    p.add_argument("--dataset", default="mnist-mini")
    p.add_argument("--data-root")
    p.add_argument("--train-size", type=int)
    p.add_argument("--val-size", type=int)
    p.add_argument("--test-size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="runs at a time, one core each (default: all cores)")
    p.add_argument("--limit", type=float, default=3600.0,
                   help="seconds per run; a run still going is stopped and reports the "
                        "epochs it finished")
    p.add_argument("--out", type=Path, help="folder for the runs (default runs/sweep-<time>)")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    runs = read_settings(args.settings)
    out = args.out or Path("runs") / time.strftime("sweep-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    done = sweep(runs, args, out)
    text = table(done)
    print(text)
    write_json_atomic({"arguments": {k: str(v) for k, v in vars(args).items()}, "runs": done},
                      out / "sweep.json")
    write_text_atomic(text + "\n", out / "sweep.txt")
    return done


if __name__ == "__main__":
    main()
