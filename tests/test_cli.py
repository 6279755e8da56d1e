"""Command line: smoke runs on the embedded data, result.json contract, bad input."""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnviz import ALGORITHMS
from snnviz.cli import main

RESULT_KEYS = {"algorithm", "dataset", "seed", "config", "train_size", "val_size", "test_size",
               "epochs_run", "best_epoch", "val_accuracy", "test_accuracy", "no_spike_rate",
               "eval_policy", "history", "seconds_total", "train_samples_per_second",
               "versions"}
SMALL = ["--train-size", "300", "--val-size", "100", "--test-size", "100"]


def run_cli(*args, check=True):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    p = subprocess.run([sys.executable, "-m", "snnviz", *args], capture_output=True,
                       text=True, env=env, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.mark.parametrize("algorithm,dataset", [("s4nn", "mnist-mini"),
                                               ("bs4nn", "fashion-mnist-mini")])
def test_train_smoke_and_result_contract(tmp_path, algorithm, dataset):
    out = tmp_path / "run"
    p = run_cli("train", "--algorithm", algorithm, "--dataset", dataset, *SMALL,
                "--epochs", "2", "--seed", "3", "--out", str(out), "--set", "online_chunk=50")
    assert "test accuracy" in p.stderr and "sample" in p.stderr      # progress bar on stderr
    r = json.loads((out / "result.json").read_text())
    assert RESULT_KEYS <= set(r)
    assert (r["algorithm"], r["dataset"], r["seed"]) == (algorithm, dataset, 3)
    assert (r["train_size"], r["val_size"], r["test_size"], r["epochs_run"]) == (300, 100, 100, 2)
    assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["val_accuracy"] <= 1
    assert 0 <= r["no_spike_rate"] <= 1 and r["eval_policy"] == "no_spike=wrong,ties=wrong"
    assert [set(h) >= {"epoch", "train_loss", "train_accuracy", "val_accuracy", "seconds"}
            for h in r["history"]] == [True, True]
    assert r["config"]["algo"]["t_max"] == 256 and "lr_out" in r["config"]["algo"]
    assert set(r["versions"]) >= {"python", "torch", "snnviz"}
    assert (out / "checkpoint.pt").is_file()
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    ev = json.loads(run_cli("evaluate", "--checkpoint", str(out / "checkpoint.pt"),
                            "--dataset", dataset, "--test-size", "100").stdout)
    assert ev["test_accuracy"] == r["test_accuracy"]


def test_same_seed_same_accuracy_other_seed_differs(tmp_path):
    accs = []
    for i, seed in enumerate(("0", "0", "1")):
        out = tmp_path / str(i)
        assert main(["train", "--algorithm", "s4nn", *SMALL, "--epochs", "1", "--seed", seed,
                     "--out", str(out), "--quiet"]) == 0
        r = json.loads((out / "result.json").read_text())
        accs.append((r["val_accuracy"], r["test_accuracy"], r["history"][0]["train_loss"]))
    assert accs[0] == accs[1] and accs[0] != accs[2]


def test_version_and_module_entry():
    assert run_cli("--version").stdout.startswith("snnviz ")
    assert "train" in run_cli("--help").stdout
    assert "s4nn" in run_cli("train", "--help").stdout


BAD = [
    (["train", "--algorithm", "nope"], "unknown algorithm 'nope'"),
    (["train", "--algorithm", "s4nn", "--dataset", "imagenet"], "imagenet"),
    (["train", "--algorithm", "s4nn", "--set", "lr_outt=1"], "unknown setting"),
    (["train", "--algorithm", "s4nn", "--set", "lr_out=-2"], "out of range"),
    (["train", "--algorithm", "s4nn", "--set", "t_max=abc"], "cannot read 'abc'"),
    (["train", "--algorithm", "s4nn", "--set", "lr_out"], "KEY=VALUE"),
    (["train", "--algorithm", "s4nn", "--set", "lr_out=nan"], "finite"),
    (["train", "--algorithm", "s4nn", "--epochs", "0"], "epochs=0 is out of range"),
    (["train", "--algorithm", "s4nn", "--train-size", "999999"], "999999"),
    (["train", "--algorithm", "s4nn", "--resume"], "--resume needs --out"),
    (["train", "--algorithm", "s4nn", "--dataset", "mnist", "--data-root", "/nonexistent"],
     "nonexistent"),
    (["evaluate", "--checkpoint", "/nonexistent.pt", "--dataset", "mnist-mini"],
     "does not exist"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_one_line_message(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("snnviz: error:") and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["train", "--algorithm", "s4nn", "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert "cannot write to output folder" in err and len(err.strip().splitlines()) == 1
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if not os.access(ro, os.W_OK):       # permission bits are enforced for this user
        assert main(["train", "--algorithm", "s4nn", "--out", str(ro / "x")]) == 2
        assert "cannot write" in capsys.readouterr().err


def _trained(tmp_path, name="run", *extra):
    out = tmp_path / name
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--epochs", "1", "--out", str(out),
                 "--quiet", *extra]) == 0
    return out


def test_checkpoint_refusals(tmp_path, capsys):
    out = _trained(tmp_path)
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes((out / "checkpoint.pt").read_bytes()[:300])
    assert main(["evaluate", "--checkpoint", str(bad), "--dataset", "mnist-mini"]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "params": {}, "x": Path("/")}, evil)    # pickled object
    assert main(["evaluate", "--checkpoint", str(evil), "--dataset", "mnist-mini"]) == 2
    assert "refused" in capsys.readouterr().err
    other = tmp_path / "other"
    assert main(["train", "--algorithm", "bs4nn", *SMALL, "--epochs", "1", "--out",
                 str(other), "--quiet"]) == 0
    capsys.readouterr()
    # a BS4NN checkpoint resumed as S4NN, and a changed hyperparameter on resume
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--out", str(other), "--resume"]) == 2
    assert "changed configuration" in capsys.readouterr().err
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--out", str(out), "--resume",
                 "--set", "lr_out=0.3", "--epochs", "2"]) == 2
    assert "lr_out: 0.2 -> 0.3" in capsys.readouterr().err
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_init_from_fine_tunes_the_validated_weights(tmp_path, capsys):
    """--init-from starts a new run (other settings) from another run's best-on-validation
    weights; with zero learning rates the fine-tuned run keeps them exactly."""
    from snnviz.training.checkpoint import load_checkpoint

    src = _trained(tmp_path, "src", "--epochs", "2")
    out = tmp_path / "tuned"
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--epochs", "1", "--out", str(out),
                 "--quiet", "--init-from", str(src), "--set", "lr_hidden=0", "--set",
                 "lr_out=0", "--set", "weight_decay=0", "--set", "dead_reset=0"]) == 0
    a, b = load_checkpoint(src / "checkpoint.pt"), load_checkpoint(out / "checkpoint.pt")
    for x, y in zip(a["best_params"]["w"], b["params"]["w"]):
        assert torch.equal(x, y)
    r, r0 = (json.loads((d / "result.json").read_text()) for d in (out, src))
    assert r["init_from"] == {"checkpoint": str(src / "checkpoint.pt"),
                              "weights": "best_params", "epoch": r0["best_epoch"]}
    assert r["test_accuracy"] == r0["test_accuracy"]
    capsys.readouterr()
    bad = [("--algorithm", "bs4nn", "holds a 's4nn' run"),
           ("--algorithm", "s4nn", "--set", "hidden=50", "this architecture needs"),
           ("--algorithm", "s4nn", "--init-from", str(tmp_path / "none"), "no checkpoint")]
    for i, (*extra, message) in enumerate(bad):
        args = ["train", *SMALL, "--quiet", "--out", str(tmp_path / f"bad{i}"), *extra]
        if "--init-from" not in extra:
            args += ["--init-from", str(src)]
        assert main(args) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / f"bad{i}").exists()


def test_resume_continues_to_more_epochs(tmp_path):
    out = _trained(tmp_path)
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--epochs", "2", "--out", str(out),
                 "--resume", "--quiet"]) == 0
    r = json.loads((out / "result.json").read_text())
    assert r["epochs_run"] == 2
    ref = _trained(tmp_path, "ref2", "--epochs", "2")
    r2 = json.loads((ref / "result.json").read_text())
    assert r["test_accuracy"] == r2["test_accuracy"]


def test_kill_and_resume_gives_same_weights(tmp_path):
    """kill -9 a CLI run after its first checkpoint, resume: same final weights."""
    args = ["train", "--algorithm", "s4nn", "--train-size", "1500", "--val-size", "100",
            "--test-size", "100", "--epochs", "4", "--quiet", "--set", "checkpoint_seconds=1"]
    ref = tmp_path / "ref"
    run_cli(*args, "--out", str(ref))
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "snnviz", *args, "--out", str(out)],
                            env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "result.json").exists()            # killed before the end
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] < 4
    run_cli(*args, "--out", str(out), "--resume")
    a = torch.load(ref / "checkpoint.pt", weights_only=True)
    b = torch.load(out / "checkpoint.pt", weights_only=True)
    for x, y in zip(a["params"]["w"], b["params"]["w"]):
        assert torch.equal(x, y)
    ra = json.loads((ref / "result.json").read_text())
    rb = json.loads((out / "result.json").read_text())
    assert ra["test_accuracy"] == rb["test_accuracy"] and ra["best_epoch"] == rb["best_epoch"]


TINY = ["--train-size", "60", "--val-size", "20", "--test-size", "20", "--epochs", "1",
        "--quiet"]


def test_sweep_runs_each_point_resumes_and_tabulates(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", "--algorithm", "s4nn", "--grid", "lr_out=0.1,0.4", "--grid", "seed=1",
            *TINY, "--batch-size", "10", "--set", "hidden=20", "--out", str(out), "--jobs", "2"]
    assert main(args) == 0
    names = ["lr_out=0.1_seed=1", "lr_out=0.4_seed=1"]
    results = {n: json.loads((out / n / "result.json").read_text()) for n in names}
    assert {(r["config"]["algo"]["lr_out"], r["seed"]) for r in results.values()} == \
        {(0.1, 1), (0.4, 1)}
    assert all(r["config"]["algo"]["hidden"] == [20] and r["train_size"] == 60
               for r in results.values())
    printed = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert [r["run"] for r in rows] == names
    for r in rows:
        res = results[r["run"]]
        assert (r["lr_out"], r["seed"]) == (str(res["config"]["algo"]["lr_out"]), str(res["seed"]))
        assert r["test % honest"] == f"{100 * res['test_by_policy']['honest']:.2f}"
    assert (out / "results.md").read_text() == printed.out
    assert main(["compare", str(out)]) == 0          # a sweep folder stands for its runs
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 + len(names) and all(n in "".join(table) for n in names)
    # rerun: finished points are skipped; a removed one is run again
    shutil.rmtree(out / names[1])
    stamp = (out / names[0] / "result.json").stat().st_mtime_ns
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("skip ") == 1 and f"start {names[1]}" in err
    assert (out / names[1] / "result.json").is_file()
    assert (out / names[0] / "result.json").stat().st_mtime_ns == stamp
    assert json.loads((out / names[1] / "result.json").read_text())["test_accuracy"] == \
        results[names[1]]["test_accuracy"]


def test_sweep_points_file_and_means_over_seeds(tmp_path, capsys):
    """``--points``: one configuration per line (here one setting changed, two seeds each);
    ``summary.md`` gives each setting's mean over its seeds."""
    points = tmp_path / "points.txt"
    points.write_text("# defaults, then one change\nseed=0\nseed=1   # a second seed\n"
                      "lr_out=0.4 seed=0\nlr_out=0.4 seed=1\n")
    out = tmp_path / "sweep"
    assert main(["sweep", "--algorithm", "s4nn", "--points", str(points), *TINY,
                 "--batch-size", "10", "--set", "hidden=20", "--out", str(out),
                 "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert sorted(r["run"] for r in rows) == ["lr_out=0.4_seed=0", "lr_out=0.4_seed=1",
                                              "seed=0", "seed=1"]
    default_lr = str(ALGORITHMS["s4nn"].Config().lr_out)
    assert {(r["seed"], r["lr_out"]) for r in rows} == \
        {("0", default_lr), ("1", default_lr), ("0", "0.4"), ("1", "0.4")}
    summary = (out / "summary.md").read_text()
    assert summary in printed
    table = {cells[0]: cells for cells in ([c.strip() for c in ln.strip("|").split("|")]
                                           for ln in summary.splitlines()[2:])}
    assert sorted(table) == sorted([default_lr, "0.4"])
    for lr, cells in table.items():
        tests = [float(r["test % honest"]) for r in rows if r["lr_out"] == lr]
        assert cells[1:3] == ["2", "0 1"] and cells[3] == f"{sum(tests) / 2:.2f}"


@pytest.mark.parametrize("text,message", [
    ("lr_out\n", "expected KEY=VALUE"),
    ("lr_out=0.1 lr_out=0.2\n", "given twice"),
    ("seed=0\nseed=0\n", "appears twice"),
    ("# nothing\n", "no configurations"),
    ("no_such_key=1\n", "unknown setting"),
])
def test_sweep_bad_points_file_is_refused_before_any_run(tmp_path, capsys, text, message):
    points = tmp_path / "points.txt"
    points.write_text(text)
    out = tmp_path / "sweep"
    assert main(["sweep", "--algorithm", "s4nn", "--points", str(points),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("grid,message", [
    (["--grid", "no_such_key=1,2"], "unknown setting"),
    (["--grid", "lr_out=0.1,oops"], "lr_out"),
    (["--grid", "lr_out"], "KEY=V1,V2"),
    ([], "at least one --grid"),
])
def test_sweep_bad_grid_is_refused_before_any_run(tmp_path, capsys, grid, message):
    out = tmp_path / "sweep"
    assert main(["sweep", "--algorithm", "s4nn", *grid, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_compare_runs_with_proxy_baselines_and_threads(tmp_path, capsys):
    small = ["--dataset", "synthetic", "--train-size", "60", "--val-size", "20",
             "--test-size", "20", "--epochs", "1", "--batch-size", "20", "--quiet",
             "--set", "layers=c4,p,f8", "--set", "thr=0.5"]
    threads = torch.get_num_threads()
    try:
        assert main(["train", "--algorithm", "proxy", *small, "--threads", "1",
                     "--out", str(tmp_path / "px")]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert main(["train", "--algorithm", "proxy", *small, "--set", "mode=ann",
                 "--out", str(tmp_path / "ann")]) == 0
    assert main(["train", "--algorithm", "s4nn", "--dataset", "synthetic", *TINY,
                 "--batch-size", "10", "--out", str(tmp_path / "s4")]) == 0
    capsys.readouterr()
    runs = [str(tmp_path / n) for n in ("px", "ann", "s4")]
    assert main(["compare", *runs, "--calib", "40", "--t-eval", "30",
                 "--csv", str(tmp_path / "t.csv")]) == 0
    md = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert len(md.strip().splitlines()) == 2 + len(rows)
    algos = [r["algorithm"] for r in rows]
    assert algos[:3] == ["proxy (proxy)", "proxy (ann)", "s4nn"]
    assert "ANN alone (baseline a)" in algos and "converted SNN, T=15 (baseline b)" in algos
    assert "proxy SNN, T=15 (same read-outs)" in algos
    px = json.loads((tmp_path / "px" / "result.json").read_text())
    assert rows[0]["test % honest"] == f"{100 * px['test_by_policy']['honest']:.2f}"
    assert rows[0]["ANN path %"] == f"{100 * px['test_extra']['ann_accuracy']:.2f}"
    recomputed = rows[algos.index("proxy SNN, T=15 (same read-outs)")]
    assert recomputed["test % honest"] == rows[0]["test % honest"]   # same weights, same data
    # --no-baselines: one row per run; a folder that is not a run: one-line refusal
    assert main(["compare", *runs, "--no-baselines"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2 + 3
    (tmp_path / "empty").mkdir()
    assert main(["compare", runs[0], str(tmp_path / "empty")]) == 2
    assert "no result.json" in capsys.readouterr().err


def test_threads_must_be_positive(capsys):
    assert main(["train", "--algorithm", "s4nn", "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err


def test_resume_a_run_written_before_a_field_existed(tmp_path, capsys):
    """A checkpoint whose stored config lacks a field added later (here lr_decay) resumes
    when the field is at its default, and is refused when the user changes it."""
    from snnviz.training.checkpoint import load_checkpoint, save_checkpoint

    out = _trained(tmp_path)
    state = load_checkpoint(out / "checkpoint.pt")
    del state["config"]["train"]["lr_decay"]
    save_checkpoint(state, out / "checkpoint.pt")
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--out", str(out), "--resume",
                 "--set", "lr_decay=0.5", "--epochs", "2"]) == 2
    assert "lr_decay: 1.0 -> 0.5" in capsys.readouterr().err
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--epochs", "2", "--out", str(out),
                 "--resume", "--quiet"]) == 0
    assert json.loads((out / "result.json").read_text())["epochs_run"] == 2


def test_sigterm_checkpoints_like_ctrl_c(tmp_path):
    """A scheduler's or systemd's stop (SIGTERM) saves a checkpoint and exits 130; the run
    then resumes."""
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    p = subprocess.Popen([sys.executable, "-m", "snnviz", "train", "--algorithm", "s4nn",
                          "--dataset", "mnist-mini", "--epochs", "50", "--quiet", "--out",
                          str(out)], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists() and p.poll() is None:
        assert time.monotonic() < deadline, "no first checkpoint"
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 130, err
    assert "checkpoint saved" in err
    from snnviz.training.checkpoint import load_checkpoint

    epochs = load_checkpoint(out / "checkpoint.pt")["epoch"] + 1
    assert main(["train", "--algorithm", "s4nn", "--dataset", "mnist-mini", "--epochs",
                 str(epochs), "--out", str(out), "--resume", "--quiet"]) == 0
    assert json.loads((out / "result.json").read_text())["epochs_run"] == epochs


def test_device_flag_reaches_the_algorithm():
    """``--device cuda`` is the train config's device, which the trainer hands to algorithms
    that run on torch devices (it was once parsed and then dropped)."""
    import types

    from snnviz.cli import _train_config, build_parser
    from snnviz.training.trainer import fit_config

    args = build_parser().parse_args(["train", "--algorithm", "proxy", "--device", "cuda"])
    cfg = _train_config(args)
    assert cfg.train.device == "cuda"
    x = torch.zeros(4, 1, 28, 28)
    fitted = fit_config(cfg, types.SimpleNamespace(train_x=x, classes=list(range(10))))
    assert fitted.algo.device == "cuda"
    cpu = _train_config(build_parser().parse_args(["train", "--algorithm", "proxy"]))
    assert cpu.train.device == "cpu"


def test_a_gpu_run_resumes_and_loads_on_a_cpu(tmp_path, capsys):
    """A run is not tied to its device: a checkpoint written with ``--device cuda`` resumes
    on a CPU with ``--device cpu`` and loads onto the CPU for evaluation here."""
    from snnviz.api import run_config_from_dict
    from snnviz.training.checkpoint import load_checkpoint, save_checkpoint

    out = tmp_path / "run"
    base = ["train", "--algorithm", "proxy", "--dataset", "synthetic", "--train-size", "40",
            "--val-size", "10", "--test-size", "10", "--batch-size", "20", "--quiet",
            "--set", "layers=c4,p,f8", "--set", "thr=0.5", "--out", str(out)]
    assert main([*base, "--epochs", "1"]) == 0
    state = load_checkpoint(out / "checkpoint.pt")
    state["config"]["train"]["device"] = "cuda"      # as written on a GPU machine
    state["config"]["algo"]["device"] = "cuda"
    save_checkpoint(state, out / "checkpoint.pt")
    if not torch.cuda.is_available():
        cfg = run_config_from_dict(state["config"])
        assert cfg.train.device == "cpu" and cfg.algo.device == "cpu"
    assert main([*base, "--epochs", "2", "--resume"]) == 0
    assert json.loads((out / "result.json").read_text())["epochs_run"] == 2
    assert main([*base, "--epochs", "3", "--resume", "--set", "thr=0.6"]) == 2
    assert "thr: 0.5 -> 0.6" in capsys.readouterr().err


def test_download_flag_fetches_a_missing_set_into_the_cache(tmp_path, monkeypatch, capsys):
    """Without --download a missing CIFAR-10 is a clear error naming the flag; with it,
    torchvision's downloader (replaced here: no network in tests) fills the cache and the
    run trains on it."""
    import warnings

    import torchvision

    from tests.test_proxy import write_tiny_cifar

    monkeypatch.setenv("SNNVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SNNVIZ_DATA", raising=False)
    calls = []

    real = torchvision.datasets.CIFAR10

    class FakeCifar(real):                # torchvision's md5 tables, no network
        def __init__(self, root, train=True, download=False, **kw):
            calls.append(download)
            write_tiny_cifar(Path(root) / "cifar-10-batches-py")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCifar)
    args = ["train", "--algorithm", "proxy", "--dataset", "cifar10", "--epochs", "1",
            "--batch-size", "4", "--val-size", "6", "--quiet", "--set", "layers=c4,p,f8",
            "--set", "thr=0.5", "--out", str(tmp_path / "run")]
    assert main(args) == 2
    assert "--download" in capsys.readouterr().err and not calls
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)            # md5 of a hand-made set
        assert main([*args, "--download"]) == 0
    assert calls == [True]
    res = json.loads((tmp_path / "run" / "result.json").read_text())
    assert res["status"] == "ok" and res["config"]["data"]["download"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert main([*args, "--resume", "--epochs", "2"]) == 0  # cache found, no flag needed
    assert calls == [True]


def test_resume_from_a_moved_data_folder(tmp_path, capsys):
    """Where the files live is not part of a run's identity: a run resumes after its data
    folder moved (the data is named by dataset, sizes and split seed, and md5-checked)."""
    for d in ("old", "new"):
        (tmp_path / d).mkdir()
    out = _trained(tmp_path, "run", "--data-root", str(tmp_path / "old"))
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--epochs", "2", "--out", str(out),
                 "--data-root", str(tmp_path / "new"), "--resume", "--quiet"]) == 0
    r = json.loads((out / "result.json").read_text())
    assert r["epochs_run"] == 2
    assert r["config"]["data"]["data_root"] == str(tmp_path / "new")


def test_resume_keeps_the_runs_own_settings(tmp_path, capsys):
    """Settings left off a --resume command line are the run's, not today's defaults: a run
    resumes unchanged after a newer snnviz changed a default (simulated by a checkpoint whose
    stored lr_out, batch size and seed differ from the defaults). Settings spelled out must
    match the run's."""
    from snnviz.training.checkpoint import load_checkpoint, save_checkpoint

    out = _trained(tmp_path, "run", "--seed", "3", "--batch-size", "4")
    state = load_checkpoint(out / "checkpoint.pt")
    state["config"]["algo"]["lr_out"] = 0.25            # "the default when the run started"
    save_checkpoint(state, out / "checkpoint.pt")
    assert main(["train", "--algorithm", "s4nn", "--epochs", "2", "--out", str(out),
                 "--resume", "--quiet"]) == 0
    r = json.loads((out / "result.json").read_text())
    assert r["epochs_run"] == 2 and r["seed"] == 3 and r["train_size"] == 300
    assert r["config"]["algo"]["lr_out"] == 0.25
    assert r["config"]["train"]["batch_size"] == 4
    # spelled out and equal to the run's: fine; spelled out and different: refused
    assert main(["train", "--algorithm", "s4nn", "--epochs", "3", "--out", str(out),
                 "--set", "lr_out=0.25", "--seed", "3", "--resume", "--quiet"]) == 0
    assert main(["train", "--algorithm", "s4nn", "--epochs", "4", "--out", str(out),
                 "--set", "lr_out=0.2", "--resume", "--quiet"]) == 2
    assert "lr_out: 0.25 -> 0.2" in capsys.readouterr().err
