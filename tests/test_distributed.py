"""Data-parallel training with torch.distributed (gloo, 2 CPU processes)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnviz.api import make_trainer, run_config_from_dict

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["train", "--algorithm", "s4nn", "--batch-size", "32", "--train-size", "320",
        "--val-size", "100", "--test-size", "100", "--set", "dtype=float64", "--quiet"]


def env(**extra):
    e = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    e.update(extra)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Tiny settings per algorithm (float64 so that rounding never moves a spike). 45 training
# samples in batches of 4 end each epoch on a batch of one sample: the second rank's shard
# is then empty, which must not change anything.
TINY = ["--train-size", "45", "--val-size", "10", "--test-size", "20", "--batch-size", "4",
        "--set", "dtype=float64", "--quiet"]
CASES = {
    "s4nn": ARGS,
    "bs4nn": [a if a != "s4nn" else "bs4nn" for a in ARGS],
    "stidi-bp": ["train", "--algorithm", "stidi-bp", *TINY, "--set", "hidden=20"],
    "stidi-bp-conv-binary": ["train", "--algorithm", "stidi-bp-conv-binary", *TINY,
                             "--set", "channels=4", "--set", "kernel=5", "--set", "pool=2",
                             "--set", "padding=0"],
    # two epochs: synchronised batch norm (epoch 1), then frozen statistics (epoch 2); a
    # learning rate high enough for the weights to move far from their initial values
    "proxy": ["train", "--algorithm", "proxy", *TINY, "--set", "layers=c4,p,f8",
              "--set", "thr=0.5", "--set", "lr=0.01"],
}


def _flat(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        for i, t in enumerate(v if isinstance(v, list) else [v]):
            out[f"{k}[{i}]"] = t
    return out


@pytest.mark.parametrize("algorithm", list(CASES))
def test_two_processes_equal_one(tmp_path, algorithm):
    args = CASES[algorithm] + ["--epochs", "2"]
    single, multi = tmp_path / "single", tmp_path / "multi"
    subprocess.run([sys.executable, "-m", "snnviz", *args, "--out", str(single)], env=env(),
                   check=True, timeout=300, cwd=tmp_path)
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                        "--master-port", str(free_port()), "-m", "snnviz", *args, "--out",
                        str(multi)], env=env(), capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    a = torch.load(single / "checkpoint.pt", weights_only=True)
    b = torch.load(multi / "checkpoint.pt", weights_only=True)
    fa, fb = _flat(a["params"]), _flat(b["params"])
    init = _flat(make_trainer(run_config_from_dict(a["config"])).state_dict()["params"])
    assert fa.keys() == fb.keys()
    for k in fa:
        torch.testing.assert_close(fa[k], fb[k], rtol=0, atol=1e-9, msg=k)
    # the comparison is not vacuous: training moved the weights
    assert max(float((fa[k] - init[k]).abs().max()) for k in fa if k.startswith("w[")) > 1e-3
    ra = json.loads((single / "result.json").read_text())
    rb = json.loads((multi / "result.json").read_text())
    assert ra["test_accuracy"] == rb["test_accuracy"] and rb["processes"] == 2
    assert [h["train_accuracy"] for h in ra["history"]] == \
        [h["train_accuracy"] for h in rb["history"]]
    assert [h["train_loss"] for h in ra["history"]] == \
        pytest.approx([h["train_loss"] for h in rb["history"]], rel=1e-9)
    # only rank 0 wrote files, and nothing else was created next to them
    assert sorted(os.listdir(multi)) == sorted(os.listdir(single))
    assert {"checkpoint.pt", "result.json"} <= set(os.listdir(multi))
    assert not (tmp_path / "runs").exists()


def test_online_mode_is_refused_in_parallel(tmp_path):
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                        "--master-port", str(free_port()), "-m", "snnviz", "train",
                        "--algorithm", "s4nn", "--batch-size", "1", "--out",
                        str(tmp_path / "x"), "--quiet"], env=env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode != 0 and "--batch-size >= 2" in p.stderr


def test_dead_rank_stops_the_run(tmp_path):
    out = tmp_path / "run"
    port = free_port()
    procs = []
    for rank in (0, 1):
        e = env(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port), SNNVIZ_DIST_TIMEOUT="60")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "snnviz", *ARGS, "--epochs", "200", "--out", str(out)],
            env=e, stderr=subprocess.PIPE, text=True))
    deadline = time.time() + 180
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert (out / "checkpoint.pt").exists()
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait()
    try:
        _, err = procs[0].communicate(timeout=120)
    finally:
        procs[0].kill()
    assert procs[0].returncode == 3
    assert "lost contact with the other processes" in err
    assert not (out / "result.json").exists()
    torch.load(out / "checkpoint.pt", weights_only=True)     # last checkpoint is intact
