"""Crash safety of ``snnviz train``: kill -9 at any moment loses at most the work since the
last checkpoint, ``--resume`` then finishes with exactly the weights and result of an
uninterrupted run, and ``checkpoint.pt`` / ``result.json`` are only ever complete files.

A reader thread opens every version of the two files it can catch while the run writes them
(the run checkpoints every second and at every epoch end) and checks that each one parses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from snnviz.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def snnviz(*args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "snnviz", *args], capture_output=True, text=True,
                       env=ENV, timeout=300)
    assert p.returncode == 0, p.stderr
    return p


class Watcher(threading.Thread):
    """Reads ``checkpoint.pt`` and ``result.json`` in ``out`` as often as it can; every
    version seen must parse. ``states``: (epoch, pos) of each checkpoint version seen."""

    def __init__(self, out: Path) -> None:
        super().__init__(daemon=True)
        self.out, self.stop = out, threading.Event()
        self.states: list[tuple[int, int]] = []
        self.results = 0
        self.errors: list[str] = []
        self._seen: set[tuple[int, int]] = set()

    def run(self) -> None:
        ckpt, result = self.out / "checkpoint.pt", self.out / "result.json"
        while not self.stop.is_set():
            try:
                st = ckpt.stat()
            except FileNotFoundError:
                time.sleep(0.01)
                continue
            key = (st.st_ino, st.st_mtime_ns)
            if key not in self._seen:
                self._seen.add(key)
                try:
                    state = load_checkpoint(ckpt)
                    self.states.append((int(state["epoch"]), int(state["pos"])))
                except FileNotFoundError:
                    pass
                except Exception as e:                           # a partial file
                    self.errors.append(f"checkpoint: {e}")
            if result.exists():
                try:
                    json.loads(result.read_text())
                    self.results += 1
                except Exception as e:
                    self.errors.append(f"result.json: {e}")
            time.sleep(0.005)


def _kill_when(proc: subprocess.Popen, watcher: Watcher, cond, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while not cond() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before the moment chosen to kill it"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


ARGS = ["train", "--algorithm", "s4nn", "--train-size", "600", "--val-size", "60",
        "--test-size", "60", "--epochs", "4", "--quiet", "--set", "hidden=20",
        "--set", "online_chunk=25"]


def test_kill_mid_epoch_then_resume_gives_the_uninterrupted_run(tmp_path, monkeypatch, capsys):
    """Ctrl-C after the third trainer step (a mid-epoch checkpoint), ``--resume`` in a
    process that is killed with SIGKILL in the middle of epoch 2, ``--resume`` again: the
    weights, the best weights, the history and the result equal those of a run never
    interrupted."""
    from snnviz.algorithms import s4nn
    from snnviz.cli import main

    ref = tmp_path / "ref"
    assert main([*ARGS, "--out", str(ref)]) == 0
    out = tmp_path / "killed"
    real, calls = s4nn.train_step, []

    def interrupted(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(s4nn, "train_step", interrupted)
    assert main([*ARGS, "--out", str(out)]) == 130
    monkeypatch.setattr(s4nn, "train_step", real)
    state = load_checkpoint(out / "checkpoint.pt")
    assert (state["epoch"], state["pos"]) == (0, 50)                  # mid-epoch
    proc = subprocess.Popen([sys.executable, "-m", "snnviz", *ARGS, "--out", str(out),
                             "--resume"], env=ENV, stderr=subprocess.DEVNULL)
    w = Watcher(out)
    w.start()
    try:                      # the epoch-1 checkpoint appeared: the run is inside epoch 2
        _kill_when(proc, w, lambda: any(e >= 1 for e, _ in w.states))
    finally:
        w.stop.set()
        w.join()
    assert not w.errors, w.errors
    assert not (out / "result.json").exists()
    assert 1 <= load_checkpoint(out / "checkpoint.pt")["epoch"] < 4
    snnviz(*ARGS, "--out", str(out), "--resume")
    a, b = (load_checkpoint(d / "checkpoint.pt") for d in (ref, out))
    for key in ("params", "best_params"):
        for x, y in zip(a[key]["w"], b[key]["w"]):
            assert torch.equal(x, y), key
    ra, rb = (json.loads((d / "result.json").read_text()) for d in (ref, out))
    for k in ("test_accuracy", "val_accuracy", "best_epoch", "epochs_run", "no_spike_rate"):
        assert ra[k] == rb[k], k
    assert [h["train_loss"] for h in ra["history"]] == [h["train_loss"] for h in rb["history"]]
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_files_are_whole_through_many_writes_and_a_kill(tmp_path):
    """Many tiny epochs: a checkpoint write at every epoch end, read concurrently; kill -9
    in the middle of them, resume, and watch the result being written too."""
    args = ["train", "--algorithm", "s4nn", "--train-size", "30", "--val-size", "10",
            "--test-size", "10", "--epochs", "25", "--quiet", "--set", "hidden=4",
            "--set", "online_chunk=10", "--set", "checkpoint_seconds=1"]
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "snnviz", *args, "--out", str(out)],
                            env=ENV, stderr=subprocess.DEVNULL)
    w = Watcher(out)
    w.start()
    try:
        _kill_when(proc, w, lambda: len(w.states) >= 8)
        state = load_checkpoint(out / "checkpoint.pt")
        assert 0 < state["epoch"] < 25
        # a temp file of the write that the kill interrupted may remain; it is never read
        # and --resume removes it
        snnviz(*args, "--out", str(out), "--resume")
        end = time.monotonic() + 30
        while w.results == 0 and time.monotonic() < end:     # let the reader see the result
            time.sleep(0.01)
    finally:
        w.stop.set()
        w.join()
    assert not w.errors, w.errors[:3]
    assert len(w.states) >= 8 and w.results >= 1
    assert [e for e, _ in w.states] == sorted(e for e, _ in w.states)   # never went back
    r = json.loads((out / "result.json").read_text())
    assert r["epochs_run"] == 25 and r["status"] == "ok"
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
