"""Run library and replay record: ReplayLog from a real run, the CLI's replay.json,
RunLibrary's scan (known names only), comparison figures."""

import json
import os

import numpy as np
import pytest

from snnviz.api import make_run_config, make_trainer
from snnviz.cli import main
from snnviz.explore.figures import (
    build_run_compare,
    build_run_curves,
    compare_rows,
    probe_from_replay,
)
from snnviz.explore.sandbox import run_image
from snnviz.runs import REPLAY_FILE, ReplayLog, RunLibrary
from snnviz.viz import build_race, build_raster

SMALL = ["--train-size", "120", "--val-size", "40", "--test-size", "40", "--dataset",
         "synthetic", "--set", "hidden=12", "--set", "online_chunk=40", "--set", "every=1",
         "--quiet"]


def _write(folder, result):
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(result))


def test_replay_log_records_every_epoch():
    cfg = make_run_config("s4nn", "synthetic", overrides={"hidden": "12", "online_chunk": 40,
                                                         "every": 1},
                          epochs=2, train_size=120, val_size=40, test_size=40)
    log = ReplayLog()
    events = make_trainer(cfg).run()
    for ev in events:
        log(ev)
    d = log.to_dict()
    assert [e["epoch"] for e in d["epochs"]] == [0, 1]
    assert d["t_max"] == 256 and len(d["classes"]) == 10
    for e in d["epochs"]:
        val = e["val"]
        assert val["n"] == 40 and set(val["by_policy"]) >= {"honest", "reference"}
        assert np.asarray(val["confusion"]).shape == (10, 11)
        assert np.asarray(val["confusion"]).sum() == 40
        assert val["spikes_per_sample"] is not None and val["spikes_per_sample"] >= 0
        p = e["probe"]
        assert len(p["t_in"]) == 784 and [len(t) for t in p["layers"]] == [12, 10]
        probe = probe_from_replay(e, d["t_max"])
        race = build_race(probe, d["classes"])               # the replayed views build
        assert list(race.data[0].x) == [min(t, 256) for t in p["layers"][-1]]
        build_raster(probe)
    val_events = [ev for ev in events if type(ev).__name__ == "EvalEnd" and ev.split == "val"]
    assert [e["val"]["accuracy"] for e in d["epochs"]] == [ev.accuracy for ev in val_events]


def test_cli_writes_replay_and_library_opens_it(tmp_path):
    root = tmp_path / "runs"
    out = root / "a"
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--epochs", "1", "--out",
                 str(out)]) == 0
    assert (out / REPLAY_FILE).is_file()
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    # resume to a second epoch: the record continues
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--epochs", "2", "--out", str(out),
                 "--resume"]) == 0
    rep = json.loads((out / REPLAY_FILE).read_text())
    assert [e["epoch"] for e in rep["epochs"]] == [0, 1]
    assert main(["train", "--algorithm", "stidi-bp", *SMALL, "--epochs", "2", "--out",
                 str(root / "b")]) == 0
    lib = RunLibrary(root)
    infos = lib.scan()
    assert [i.name for i in infos] == ["a", "b"]
    assert all(i.has_replay and i.has_checkpoint and i.epochs == 2 for i in infos)
    runs = [lib.open(n) for n in lib.names()]
    assert runs[0].replay_epoch(2)["epoch"] == 1 and runs[0].replay_epoch(3) is None
    assert np.isfinite(runs[1].replay_series("spikes_per_sample")).all()
    fig = build_run_compare(runs)
    assert {t.name for t in fig.data} == {"a", "b"}
    curves = build_run_curves(runs, upto=1)
    assert all(len(t.x) == 1 for t in curves.data)
    net = lib.network("a")                              # the trained weights, to draw with
    assert net.algorithm == "s4nn" and net.in_shape == (1, 28, 28) and len(net.classes) == 10
    sv = run_image(net, np.zeros((1, 28, 28), np.uint8))
    assert len(sv.probe.layers) == 2
    rows = compare_rows(runs)
    assert [r["algorithm"] for r in rows] == ["s4nn", "stidi-bp"]
    assert rows[0]["wall_seconds"] > 0 and rows[0]["spikes_per_sample"] is not None


def test_library_lists_known_runs_only(tmp_path):
    root = tmp_path / "runs"
    _write(root / "old", {"algorithm": "s4nn", "dataset": "mnist", "seed": 1, "status": "ok",
                          "test_accuracy": 0.9, "history": [
                              {"epoch": 1, "train_accuracy": 0.8, "val_accuracy": 0.85,
                               "train_loss": 0.1, "seconds": 2.0},
                              {"epoch": 2, "train_accuracy": 0.9, "val_accuracy": 0.88,
                               "train_loss": 0.05, "seconds": 3.0}]})
    (root / "broken").mkdir()
    (root / "broken" / "result.json").write_text("{not json")
    (root / "deep" / "a" / "b" / "c").mkdir(parents=True)
    (root / "deep" / "a" / "b" / "c" / "result.json").write_text("{}")   # too deep
    outside = tmp_path / "elsewhere"
    _write(outside, {"algorithm": "s4nn"})
    (root / "link").mkdir()
    os.symlink(outside / "result.json", root / "link" / "result.json")
    lib = RunLibrary(root)
    infos = {i.name: i for i in lib.scan()}
    assert set(infos) == {"old", "broken"}
    assert infos["broken"].error and "unreadable" in infos["broken"].label
    assert not infos["old"].has_replay and infos["old"].test_accuracy == 0.9
    run = lib.open("old")                         # a run from before replay.json: curves only
    assert run.replay is None and list(run.wall_time()) == [2.0, 5.0]
    assert np.isnan(run.replay_series("spikes_per_sample")).all()
    build_run_compare([run])
    for bad in ("../elsewhere", str(outside), "link", "deep/a/b/c", "/etc"):
        with pytest.raises(KeyError):
            lib.open(bad)
    with pytest.raises(ValueError, match="cannot be read"):
        lib.open("broken")
    with pytest.raises(ValueError, match="no usable checkpoint"):
        lib.network("old")
    (root / "old" / "checkpoint.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="no usable checkpoint"):
        lib.network("old")
    with pytest.raises(KeyError):
        lib.network("../old")
    assert RunLibrary(tmp_path / "missing").scan() == []


def test_replay_load_tolerates_bad_files(tmp_path):
    bad = tmp_path / REPLAY_FILE
    bad.write_text("[1, 2]")
    assert ReplayLog.load(bad).epochs == {}
    assert ReplayLog.load(tmp_path / "none.json").epochs == {}
    log = ReplayLog({"t_max": 8, "classes": ["a"], "epochs": [{"epoch": 0, "val": None,
                                                              "probe": None}]})
    log.save(tmp_path / "r.json")
    assert ReplayLog.load(tmp_path / "r.json").to_dict() == log.to_dict()
