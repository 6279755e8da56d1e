"""benchmarks/layer_probe.py on tiny runs: one read-out per layer, the race as the run scored it."""

import importlib.util
import json
from pathlib import Path

import pytest

from snnviz.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--train-size", "300", "--val-size", "100", "--test-size", "100", "--epochs", "1",
         "--quiet"]


def _probe_module():
    spec = importlib.util.spec_from_file_location("layer_probe", ROOT / "benchmarks" /
                                                  "layer_probe.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("algorithm,extra,layers", [
    ("s4nn", [], ["input", "layer 1", "output"]),
    ("stidi-bp", ["--set", "hidden=64,32"], ["input", "layer 1", "layer 2", "output"]),
])
def test_layer_probe(tmp_path, capsys, algorithm, extra, layers):
    out = tmp_path / "run"
    assert main(["train", "--algorithm", algorithm, *SMALL, *extra, "--out", str(out)]) == 0
    res = _probe_module().main([str(out), "--train-limit", "200", "--iters", "10",
                                "--json", str(tmp_path / "probe.json")])
    printed = capsys.readouterr().out
    assert [r["layer"] for r in res["layers"]] == layers
    assert res["layers"][0]["units"] == 784
    assert res["layers"][-1]["units"] == 10
    for r in res["layers"]:
        assert 0.0 <= r["test"] <= 1.0 and 0.0 <= r["fired"] <= 1.0
        assert r["weight_decay"] in (1e-5, 1e-4, 1e-3)
    # a linear read-out of the pixels' latencies is far above chance on mnist-mini
    assert res["layers"][0]["test"] > 0.6
    # the race is the run's own honest test score, with the weights it selected
    run = json.loads((out / "result.json").read_text())
    assert res["race_test_honest"] == pytest.approx(run["test_accuracy"])
    assert json.loads((tmp_path / "probe.json").read_text()) == json.loads(json.dumps(res))
    assert "the network's own race, honest" in printed
