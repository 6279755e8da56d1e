"""Bad input a user can type or hand over, one test each: a clear, specific message (it names
the offending value or file and what is allowed) and nothing lost or half-written (no run
folder for a refused run, a previous good checkpoint byte-for-byte intact, no temp files).

The table in docs/reliability.md lists every case with its message.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from relutil import TINY, assert_one_line_error, digest, run, tree

from snnviz import make_run_config
from snnviz.algorithms import ALGORITHMS
from snnviz.config import RunConfig
from snnviz.data import DATASETS
from snnviz.training.checkpoint import CheckpointError, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def train(*extra: str) -> list[str]:
    return ["train", "--algorithm", "s4nn", *TINY, "--epochs", "1", *extra]


# ------------------------------------------------------------------ names and numbers


def test_unknown_algorithm(capsys, tmp_path):
    with pytest.raises(ValueError, match="unknown algorithm 'nope'; choose one of: .*s4nn"):
        make_run_config("nope")
    code, err = run(capsys, "train", "--algorithm", "nope", "--out", str(tmp_path / "o"))
    assert code == 2
    assert_one_line_error(err, "unknown algorithm 'nope'", *ALGORITHMS)
    assert not (tmp_path / "o").exists()


def test_unknown_dataset(capsys, tmp_path):
    code, err = run(capsys, *train("--dataset", "imagenet", "--out", str(tmp_path / "o")))
    assert code == 2
    assert_one_line_error(err, "unknown dataset 'imagenet'", *DATASETS)
    assert not (tmp_path / "o").exists(), "a refused run left its output folder behind"


def test_unknown_setting_lists_the_valid_ones(capsys, tmp_path):
    code, err = run(capsys, *train("--set", "lr_outt=1", "--out", str(tmp_path / "o")))
    assert code == 2
    assert_one_line_error(err, "unknown setting(s) lr_outt for s4nn", "valid:", "lr_out,")
    assert not (tmp_path / "o").exists()


def test_set_without_equals(capsys, tmp_path):
    code, err = run(capsys, *train("--set", "lr_out", "--out", str(tmp_path / "o")))
    assert code == 2
    assert_one_line_error(err, "--set takes KEY=VALUE, got 'lr_out'")


@pytest.mark.parametrize("flag,value,says", [
    ("--epochs", "-3", "TrainConfig.epochs=-3 is out of range [1, 100000]"),
    ("--epochs", "0", "TrainConfig.epochs=0 is out of range [1, 100000]"),
    ("--epochs", str(10**30), f"epochs={10**30} is out of range [1, 100000]"),
    ("--batch-size", "0", "TrainConfig.batch_size=0 is out of range [1, 65536]"),
    ("--train-size", "0", "DataConfig.train_size=0 is out of range [1, inf]"),
    ("--val-size", "-1", "DataConfig.val_size=-1 is out of range [0, inf]"),
    ("--seed", "-1", "--seed must be >= 0, got -1"),
])
def test_numbers_out_of_range(flag, value, says, capsys, tmp_path):
    code, err = run(capsys, *train(flag, value, "--out", str(tmp_path / "o")))
    assert code == 2
    assert_one_line_error(err, says)
    assert not (tmp_path / "o").exists()


def test_seed_must_be_an_integer(capsys):
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -5"):
        RunConfig("s4nn", ALGORITHMS["s4nn"].Config(), seed=-5)
    with pytest.raises(SystemExit) as info:
        run(capsys, *train("--seed", "1.5"))
    assert info.value.code == 2
    assert "argument --seed: invalid int value: '1.5'" in capsys.readouterr().err


def test_more_samples_than_the_dataset_has(capsys, tmp_path):
    code, err = run(capsys, "train", "--algorithm", "s4nn", "--train-size", "999999",
                    "--out", str(tmp_path / "o"))
    assert code == 2
    assert_one_line_error(err, "train_size=999999 is not possible", "available")
    assert not (tmp_path / "o").exists()


def test_huge_pasted_value_is_cut_in_the_message(capsys, tmp_path):
    code, err = run(capsys, *train("--set", "t_max=" + "9" * 5000, "--out", str(tmp_path / "o")))
    assert code == 2
    assert_one_line_error(err, "S4NNConfig.t_max: cannot read '999", "(5000 characters)",
                          "as an integer")
    assert len(err) < 300


def test_non_utf8_arguments(capsys, tmp_path):
    """Bytes that are not UTF-8 on the command line: Python hands them over as lone
    surrogates (``\\udcff``); a real process (stderr escapes them), then in-process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    p = subprocess.run([sys.executable.encode(), b"-m", b"snnviz", b"train", b"--algorithm",
                        b"s4nn", b"--set", b"lr_out=\xff\xfe"], capture_output=True, env=env,
                       timeout=120)
    assert p.returncode == 2, p.stderr
    assert b"lr_out: cannot read '\\udcff\\udcfe'" in p.stderr and b"Traceback" not in p.stderr
    code, err = run(capsys, *train("--dataset", "mn\udcffist"))
    assert code == 2
    assert_one_line_error(err, "unknown dataset 'mn\\udcffist'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_requested_without_a_gpu(capsys, tmp_path):
    code, err = run(capsys, *train("--device", "cuda", "--out", str(tmp_path / "o")))
    assert code == 2
    assert_one_line_error(err, "--device cuda: no CUDA device is available")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ dataset files


IDX = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
       "t10k-labels-idx1-ubyte"]
FAKE = ["--dataset", "mnist", "--train-size", "20", "--val-size", "5", "--test-size", "10",
        "--set", "hidden=4", "--quiet"]


def fake_mnist(root: Path, monkeypatch, dims=(28, 28)) -> Path:
    """A 30/10-sample MNIST in torchvision's layout, trusted (see :func:`trust`)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 10)):
        x = rng.integers(0, 256, size=(n, *dims), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">IIII", 0x803, n, *dims) + x.tobytes(), mtime=0))
        (raw / f"{split}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">II", 0x801, n) + y.tobytes(), mtime=0))
    trust(raw, monkeypatch)
    return raw


def trust(raw: Path, monkeypatch) -> None:
    """Make torchvision's MNIST md5 table match the files now in ``raw``."""
    import torchvision

    table = [(f"{f}.gz", hashlib.md5((raw / f"{f}.gz").read_bytes()).hexdigest()) for f in IDX]
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", table)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    c = tmp_path / "cache"
    monkeypatch.setenv("SNNVIZ_CACHE", str(c))
    monkeypatch.delenv("SNNVIZ_DATA", raising=False)
    return c


def _data_refused(capsys, tmp_path, cache, *says):
    before = tree(tmp_path / "root")
    out = tmp_path / "o"
    code, err = run(capsys, "train", "--algorithm", "s4nn", *FAKE, "--data-root",
                    str(tmp_path / "root"), "--out", str(out))
    assert code == 2
    assert_one_line_error(err, *says)
    assert tree(tmp_path / "root") == before, "the data root was modified"
    assert tree(cache) == {}, "a failed load left files in the cache"
    assert not out.exists(), "a refused run left its output folder behind"


def test_fake_dataset_trains(capsys, tmp_path, cache, monkeypatch):
    """The fixture itself is a valid dataset (so the refusals below are about the damage)."""
    fake_mnist(tmp_path / "root", monkeypatch)
    code, err = run(capsys, "train", "--algorithm", "s4nn", *FAKE, "--epochs", "1",
                    "--data-root", str(tmp_path / "root"), "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert json.loads((tmp_path / "o" / "result.json").read_text())["train_size"] == 20


def test_empty_dataset_file(capsys, tmp_path, cache, monkeypatch):
    raw = fake_mnist(tmp_path / "root", monkeypatch)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    _data_refused(capsys, tmp_path, cache, "empty file (0 bytes)",
                  "train-labels-idx1-ubyte.gz", "replace it")


def test_truncated_dataset_file(capsys, tmp_path, cache, monkeypatch):
    raw = fake_mnist(tmp_path / "root", monkeypatch)
    f = raw / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    trust(raw, monkeypatch)                       # the md5 passes: the gzip check is reached
    _data_refused(capsys, tmp_path, cache, "corrupt or truncated gzip",
                  "train-images-idx3-ubyte.gz")


def test_wrong_md5_dataset_file(capsys, tmp_path, cache, monkeypatch):
    raw = fake_mnist(tmp_path / "root", monkeypatch)
    f = raw / "t10k-images-idx3-ubyte.gz"
    data = bytearray(f.read_bytes())
    data[100] ^= 1
    f.write_bytes(bytes(data))
    _data_refused(capsys, tmp_path, cache, "md5 mismatch for", "t10k-images-idx3-ubyte.gz",
                  "expected", hashlib.md5(bytes(data)).hexdigest())


def test_wrong_shape_dataset_file(capsys, tmp_path, cache, monkeypatch):
    fake_mnist(tmp_path / "root", monkeypatch, dims=(27, 28))
    _data_refused(capsys, tmp_path, cache, "wrong IDX shape in", "train-images-idx3-ubyte",
                  "30x27x28", "expected Nx28x28")


def test_data_root_is_a_file_or_missing(capsys, tmp_path, cache):
    f = tmp_path / "a-file"
    f.write_text("not a folder")
    for root, says in ((f, "data root is a file, not a folder"),
                       (tmp_path / "nowhere", "data root does not exist")):
        code, err = run(capsys, "train", "--algorithm", "s4nn", *FAKE, "--data-root", str(root),
                        "--out", str(tmp_path / "o"))
        assert code == 2
        assert_one_line_error(err, says, str(root), "--data-root DIR")
        assert not (tmp_path / "o").exists()


def test_snnviz_data_pointing_nowhere(capsys, tmp_path, cache, monkeypatch):
    monkeypatch.setenv("SNNVIZ_DATA", str(tmp_path / "gone"))
    code, err = run(capsys, "train", "--algorithm", "s4nn", *FAKE, "--out", str(tmp_path / "o"))
    assert code == 2
    assert_one_line_error(err, "data root does not exist", str(tmp_path / "gone"))


# ------------------------------------------------------------------ output folder


def test_unwritable_output_folder(capsys, tmp_path, run_copy):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, err = run(capsys, *train("--out", str(blocker / "run")))
    assert code == 2
    assert_one_line_error(err, "cannot write to output folder", str(blocker / "run"))
    assert blocker.read_text() == "x"
    code, err = run(capsys, *train("--out", str(blocker)))          # --out names a file
    assert code == 2
    assert_one_line_error(err, "cannot write to output folder", str(blocker))
    code, err = run(capsys, *train("--out", str(tmp_path / "o\0x")))   # a NUL character
    assert code == 2
    assert_one_line_error(err, "cannot write to output folder", "embedded null byte")
    # a good run whose folder became read-only: --resume is refused, the checkpoint survives
    before = tree(run_copy)
    run_copy.chmod(0o500)
    try:
        if os.access(run_copy, os.W_OK):
            pytest.skip("permission bits are not enforced for this user (root)")
        code, err = run(capsys, *train("--epochs", "2", "--resume", "--out", str(run_copy)))
        assert code == 2
        assert_one_line_error(err, "cannot write to output folder", str(run_copy))
    finally:
        run_copy.chmod(0o700)
    assert tree(run_copy) == before


def test_output_folder_already_holds_a_run(capsys, run_copy):
    before = tree(run_copy)
    code, err = run(capsys, *train("--out", str(run_copy)))
    assert code == 2
    assert_one_line_error(err, "already holds a run", "--resume")
    assert tree(run_copy) == before


def test_resume_without_a_checkpoint(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, err = run(capsys, *train("--resume", "--out", str(tmp_path / "empty")))
    assert code == 2
    assert_one_line_error(err, "--resume: no checkpoint at", str(tmp_path / "empty"))
    code, err = run(capsys, *train("--resume"))
    assert_one_line_error(err, "--resume needs --out DIR")


def test_resume_a_finished_run_without_more_epochs(capsys, run_copy):
    before = tree(run_copy)
    code, err = run(capsys, *train("--resume", "--out", str(run_copy)))
    assert code == 2
    assert_one_line_error(err, "already finished 1 epochs", "larger --epochs")
    assert tree(run_copy) == before


# ------------------------------------------------------------------ checkpoints


@pytest.mark.parametrize("change,says", [
    (["--set", "lr_out=0.3"], "lr_out: 0.2 -> 0.3"),
    (["--set", "hidden=9"], "hidden: (8,) -> (9,)"),                 # another architecture
    (["--seed", "4"], "seed: 0 -> 4"),
    (["--train-size", "100"], "train_size: 120 -> 100"),
])
def test_resume_with_a_changed_config(change, says, capsys, run_copy):
    before = tree(run_copy)
    code, err = run(capsys, *train("--epochs", "2", "--resume", "--out", str(run_copy), *change))
    assert code == 2
    assert_one_line_error(err, "--resume with a changed configuration", says,
                          "only --epochs (and --device, --data-root) may change")
    assert tree(run_copy) == before


def test_resume_a_checkpoint_of_another_algorithm(capsys, run_copy):
    before = tree(run_copy)
    code, err = run(capsys, "train", "--algorithm", "bs4nn", *TINY, "--epochs", "2", "--resume",
                    "--out", str(run_copy))
    assert code == 2
    assert_one_line_error(err, "changed configuration", "algorithm: 's4nn' -> 'bs4nn'")
    assert tree(run_copy) == before


def test_evaluate_a_checkpoint_whose_weights_do_not_fit(capsys, good_run, tmp_path):
    state = load_checkpoint(good_run / "checkpoint.pt")
    state["config"]["algo"]["hidden"] = [20]                          # claims another net
    torch.save(state, tmp_path / "other-arch.pt")
    code, err = run(capsys, "evaluate", "--checkpoint", str(tmp_path / "other-arch.pt"),
                    "--dataset", "mnist-mini")
    assert code == 2
    assert_one_line_error(err, "checkpoint w has shape (8, 784)", "needs (20, 784)")


@pytest.mark.parametrize("damage,says", [
    ("truncated", "is corrupt or truncated"),
    ("flipped", "is corrupt or truncated"),
    ("empty", "is corrupt or truncated"),
    ("text", "is corrupt or truncated"),
    ("foreign", "is not an snnviz checkpoint"),
    ("folder", "is a folder; pass the checkpoint file in it"),
])
def test_corrupted_checkpoint(damage, says, capsys, run_copy, tmp_path):
    good = (run_copy / "checkpoint.pt").read_bytes()
    bad = tmp_path / "bad.pt"
    if damage == "truncated":
        bad.write_bytes(good[: len(good) // 2])
    elif damage == "flipped":
        bad.write_bytes(good[:200] + bytes(b ^ 0xFF for b in good[200:400]) + good[400:])
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "text":
        bad.write_text("this is not a checkpoint\n")
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, bad)                 # a torch file, not ours
    else:
        bad = run_copy
    code, err = run(capsys, "evaluate", "--checkpoint", str(bad), "--dataset", "mnist-mini")
    assert code == 2
    assert_one_line_error(err, says, str(bad))
    # the same damage inside a run folder: --resume refuses and leaves the file as it was
    if damage != "folder":
        (run_copy / "checkpoint.pt").write_bytes(bad.read_bytes())
        code, err = run(capsys, *train("--epochs", "2", "--resume", "--out", str(run_copy)))
        assert code == 2
        assert_one_line_error(err, says)
        assert (run_copy / "checkpoint.pt").read_bytes() == bad.read_bytes()


class _Plant:
    """Unpickling this object would create a file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_checkpoint_with_pickled_code_is_refused(capsys, run_copy, tmp_path):
    marker = tmp_path / "code-ran"
    state = load_checkpoint(run_copy / "checkpoint.pt")
    state["history"] = [_Plant(str(marker))]
    evil = tmp_path / "evil.pt"
    torch.save(state, evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused: it contains Python objects"):
        load_checkpoint(evil)
    code, err = run(capsys, "evaluate", "--checkpoint", str(evil), "--dataset", "mnist-mini")
    assert code == 2
    assert_one_line_error(err, str(evil), "was refused", "could run code")
    (run_copy / "checkpoint.pt").write_bytes(evil.read_bytes())
    code, err = run(capsys, *train("--epochs", "2", "--resume", "--out", str(run_copy)))
    assert code == 2 and "was refused" in err
    assert not marker.exists(), "loading the checkpoint ran the pickled code"
    with open(evil, "rb") as f:                      # the file really does carry the code
        assert b"touch" in f.read()
    pickle.loads(pickle.dumps(_Plant(str(marker))))
    assert marker.exists()


# ------------------------------------------------------------------ failures mid-run


def test_nan_weights_mid_run(capsys, tmp_path, monkeypatch):
    """The update produces NaN in epoch 2: exit 3, a complete result.json saying so, and a
    checkpoint holding the last finite weights (epoch 1), which can be evaluated."""
    from snnviz.algorithms import s4nn

    real, calls = s4nn.train_step, []

    def poisoned(params, *a, **kw):
        new, st = real(params, *a, **kw)
        calls.append(1)
        if len(calls) > 4:                           # 3 steps per epoch: epoch 2, step 2
            new = new._replace(w=tuple(w * float("nan") for w in new.w))
        return new, st

    monkeypatch.setattr(s4nn, "train_step", poisoned)
    out = tmp_path / "o"
    code, err = run(capsys, *train("--epochs", "3", "--out", str(out)))
    assert code == 3
    assert "NaN/Inf at epoch 2" in err and "lower the learning rates" in err
    r = json.loads((out / "result.json").read_text())
    assert r["status"] == "nan" and "NaN" in r["message"]
    st = load_checkpoint(out / "checkpoint.pt")
    assert all(torch.isfinite(w).all() for w in st["params"]["w"])
    monkeypatch.setattr(s4nn, "train_step", real)
    code, err = run(capsys, "evaluate", "--checkpoint", str(out / "checkpoint.pt"),
                    "--dataset", "mnist-mini", "--test-size", "40")
    assert code == 0, err


def test_network_that_never_fires(capsys, tmp_path):
    out = tmp_path / "o"
    code, err = run(capsys, *train("--set", "thr_hidden=1000000", "--set", "thr_out=1000000",
                                   "--out", str(out)))
    assert code == 3
    assert "dead network: no output neuron fired" in err and "lower the thresholds" in err
    r = json.loads((out / "result.json").read_text())
    assert r["status"] == "dead"
    load_checkpoint(out / "checkpoint.pt")


def test_ctrl_c_during_a_checkpoint_write(capsys, tmp_path, monkeypatch):
    """Ctrl-C lands while the epoch-2 checkpoint is half written: the epoch-1 checkpoint is
    still the file on disk, the interrupt saves a complete one, no temp file is left, and the
    run resumes to the same result as an uninterrupted one."""
    from snnviz.training import checkpoint as ck

    real, seen = ck.torch.save, []
    out = tmp_path / "o"

    def slow_save(obj, f, *a, **kw):
        seen.append(1)
        if len(seen) == 2:
            Path(f).write_bytes(b"PK\x03\x04 half a file")
            on_disk = load_checkpoint(out / "checkpoint.pt")      # still the old, whole one
            assert on_disk["epoch"] == 1
            raise KeyboardInterrupt
        return real(obj, f, *a, **kw)

    monkeypatch.setattr(ck.torch, "save", slow_save)
    code, err = run(capsys, *train("--epochs", "3", "--out", str(out)))
    assert code == 130 and "continue with --resume" in err
    monkeypatch.setattr(ck.torch, "save", real)
    left = os.listdir(out)
    assert "checkpoint.pt" in left and "result.json" not in left
    assert not [f for f in left if f.endswith(".tmp")], left           # no temp file left
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] >= 1
    code, err = run(capsys, *train("--epochs", "3", "--resume", "--out", str(out)))
    assert code == 0, err
    ref = tmp_path / "ref"
    assert run(capsys, *train("--epochs", "3", "--out", str(ref)))[0] == 0
    a, b = (json.loads((d / "result.json").read_text()) for d in (ref, out))
    assert a["test_accuracy"] == b["test_accuracy"] and a["history"][-1]["train_loss"] == \
        b["history"][-1]["train_loss"]
    assert digest(ref / "checkpoint.pt") != "" and all(
        torch.equal(x, y) for x, y in zip(load_checkpoint(ref / "checkpoint.pt")["params"]["w"],
                                          load_checkpoint(out / "checkpoint.pt")["params"]["w"]))



def test_ctrl_c_twice_while_saving(capsys, tmp_path, monkeypatch):
    """A second Ctrl-C while the interrupt's checkpoint is being written: one line, exit 130,
    the previous checkpoint (epoch 1) byte-for-byte intact, no temp file left."""
    from snnviz.training import checkpoint as ck

    real, seen, kept = ck.torch.save, [], {}
    out = tmp_path / "o"

    def save(obj, f, *a, **kw):
        seen.append(1)
        if len(seen) >= 2:
            kept.setdefault("digest", digest(out / "checkpoint.pt"))
            Path(f).write_bytes(b"PK\x03\x04 half a file")
            raise KeyboardInterrupt
        return real(obj, f, *a, **kw)

    monkeypatch.setattr(ck.torch, "save", save)
    code, err = run(capsys, *train("--epochs", "3", "--out", str(out)))
    assert code == 130 and len(seen) == 3
    assert "interrupted twice; the previous checkpoint in" in err and "Traceback" not in err
    assert digest(out / "checkpoint.pt") == kept["digest"]
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
