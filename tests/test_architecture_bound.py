"""benchmarks/architecture_bound.py on a tiny conv STiDi-BP run: the ANN copies the run's
layer shapes, is chosen on the run's validation split and scored once on its test split."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from snnviz import load_trainer
from snnviz.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--train-size", "300", "--val-size", "100", "--test-size", "100", "--epochs", "1",
         "--quiet"]


def _module():
    spec = importlib.util.spec_from_file_location("architecture_bound",
                                                  ROOT / "benchmarks" / "architecture_bound.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_architecture_bound_copies_the_conv_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--algorithm", "stidi-bp-conv", *SMALL, "--set", "channels=4,6",
                 "--set", "padding=1,0", "--out", str(out)]) == 0
    mod = _module()
    tr = load_trainer(out)
    net = mod.ann_like(tr.cfg.algo)
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 6] and [c.padding for c in convs] == \
        [(1, 1), (0, 0)]
    assert all(m.bias is None for m in net if hasattr(m, "bias"))
    assert net(torch.zeros(2, *tr.cfg.algo.in_shape)).shape == (2, tr.cfg.algo.n_classes)
    res = mod.main([str(out), "--epochs", "6", "--batch", "16",
                    "--json", str(tmp_path / "bound.json")])
    assert len(res["val_curve"]) == 6 and res["val"] == max(res["val_curve"])
    assert res["best_epoch"] == res["val_curve"].index(res["val"]) + 1
    assert res["test"] > 0.5                          # far above chance on mnist-mini
    run = json.loads((out / "result.json").read_text())
    assert res["snn_test_honest"] == pytest.approx(run["test_accuracy"])
    assert json.loads((tmp_path / "bound.json").read_text()) == json.loads(json.dumps(res))
    assert "the same layers as a ReLU ANN" in capsys.readouterr().out


def test_architecture_bound_refuses_a_dense_run(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--algorithm", "s4nn", *SMALL, "--out", str(out)]) == 0
    with pytest.raises(SystemExit):
        _module().main([str(out)])
