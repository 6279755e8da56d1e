"""Data-parallel scaling on one machine: 1 process vs 2 processes (torchrun, gloo), same run.

For each algorithm the same training run (same seed, same global batch, so the same
weights) is launched in three layouts, interleaved ``--repeats`` times:

    1p x 1t   one process, one thread (torch and numba)
    1p x 2t   one process, two threads
    2p x 1t   ``torchrun --nproc-per-node 2``, one thread each (data-parallel)

and the median training throughput (samples per second of training steps, communication
included, from ``result.json``) and the median wall time of the whole command (start-up,
evaluation and file writes included) are printed with the ratios to ``1p x 1t``. The load
average at the start and the end is printed too: on a shared machine it says how much else
was competing for the cores.

    python benchmarks/scaling.py                                   # s4nn, stidi-bp, proxy
    python benchmarks/scaling.py --algorithms proxy --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKLOADS = {
    # algorithm: train arguments (embedded data, mini-batches, the default networks)
    "s4nn": ["--dataset", "mnist-mini", "--batch-size", "32", "--epochs", "2",
             "--val-size", "200", "--test-size", "200"],
    "stidi-bp": ["--dataset", "mnist-mini", "--batch-size", "32", "--epochs", "1",
                 "--train-size", "1000", "--val-size", "100", "--test-size", "200"],
    "proxy": ["--dataset", "fashion-mnist-mini", "--batch-size", "100", "--epochs", "1",
              "--val-size", "200", "--test-size", "200"],
}
LAYOUTS = [("1p x 1t", 1, 1), ("1p x 2t", 1, 2), ("2p x 1t", 2, 1)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(algorithm: str, procs: int, threads: int, out: Path) -> dict:
    args = ["train", "--algorithm", algorithm, *WORKLOADS[algorithm], "--threads",
            str(threads), "--out", str(out), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads),
               NUMBA_NUM_THREADS=str(threads))
    if procs == 1:
        cmd = [sys.executable, "-m", "snnviz", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs),
               "--master-port", str(_port()), "-m", "snnviz", *args]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    r = json.loads((out / "result.json").read_text())
    return {"rate": r["train_samples_per_second"], "wall": wall,
            "acc": r["test_accuracy"], "procs": r.get("processes", 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algorithms", default="s4nn,stidi-bp,proxy")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    algos = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = [a for a in algos if a not in WORKLOADS]
    if unknown:
        raise SystemExit(f"no workload for {', '.join(unknown)}; choose from "
                         f"{', '.join(WORKLOADS)}")
    print(f"{os.cpu_count()} CPUs; load average at start: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for algo in algos:
            res: dict[str, list[dict]] = {name: [] for name, _, _ in LAYOUTS}
            for rep in range(args.repeats):
                for name, procs, threads in LAYOUTS:
                    out = Path(tmp) / f"{algo}-{procs}-{threads}-{rep}"
                    res[name].append(run_once(algo, procs, threads, out))
            print(f"\n{algo}: snnviz train {' '.join(WORKLOADS[algo])} "
                  f"(median of {args.repeats})")
            print(f"  {'layout':9} {'train samples/s':>16} {'ratio':>7} {'wall s':>8} "
                  f"{'ratio':>7}  test acc")
            base_rate = statistics.median(r["rate"] for r in res["1p x 1t"])
            base_wall = statistics.median(r["wall"] for r in res["1p x 1t"])
            for name, _, _ in LAYOUTS:
                rate = statistics.median(r["rate"] for r in res[name])
                wall = statistics.median(r["wall"] for r in res[name])
                accs = sorted({round(r["acc"], 6) for r in res[name]})
                print(f"  {name:9} {rate:16.1f} {rate / base_rate:6.2f}x {wall:8.1f} "
                      f"{base_wall / wall:6.2f}x  {', '.join(map(str, accs))}")
            r2 = statistics.median(r["rate"] for r in res["2p x 1t"])
            r12 = statistics.median(r["rate"] for r in res["1p x 2t"])
            print(f"  2 processes vs 1 (one thread each): {r2 / base_rate:.2f}x training "
                  f"throughput; vs one process with 2 threads: {r2 / r12:.2f}x")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
