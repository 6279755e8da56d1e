"""benchmarks/sweep.py: settings files, runs side by side, failures reported per run."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _sweep_module():
    spec = importlib.util.spec_from_file_location("sweep", ROOT / "benchmarks" / "sweep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("text,message", [
    ("base\n", "expected 'NAME SEED"),
    ("base x\n", "expected 'NAME SEED"),
    ("base 0 lr_out\n", "expected 'NAME SEED"),
    ("base 0\nbase 0 lr_out=1\n", "appears twice"),
    ("# only a comment\n", "no runs"),
])
def test_bad_settings_file(tmp_path, text, message):
    f = tmp_path / "settings.txt"
    f.write_text(text)
    with pytest.raises(SystemExit, match=message):
        _sweep_module().read_settings(f)


def test_sweep_runs_and_reports_each_setting(tmp_path, capsys):
    f = tmp_path / "settings.txt"
    f.write_text("# two seeds of the defaults, one bad setting\n"
                 "base 0\nbase 1\nbad 0 lr_out=-1   # out of range\n")
    done = _sweep_module().main([str(f), "--algorithm", "s4nn", "--train-size", "200",
                                 "--val-size", "50", "--test-size", "50", "--epochs", "1",
                                 "--jobs", "2", "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert [(r["name"], r["seed"]) for r in done] == [("base", 0), ("base", 1), ("bad", 0)]
    for r in done[:2]:
        assert r["status"] == "ok" and len(r["history"]) == 1 and r["best_epoch"] == 1
        assert 0.0 <= r["test_accuracy"] <= 1.0
    assert done[2]["status"] == "failed" and "out of range" in done[2]["message"]
    mean = sum(r["test_accuracy"] for r in done[:2]) / 2
    assert f"{100 * mean:.2f}" in next(ln for ln in printed.splitlines()
                                       if ln.startswith("base") and " 2 " in ln)
    saved = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [r["status"] for r in saved["runs"]] == ["ok", "ok", "failed"]
    assert (tmp_path / "out" / "sweep.txt").read_text().strip() == printed.strip()
