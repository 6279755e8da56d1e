"""Tables of finished runs: ``snnviz compare RUN_DIR...`` and the table of ``snnviz sweep``.

A run folder is what ``snnviz train --out DIR`` leaves: ``DIR/result.json`` (always read)
and ``DIR/checkpoint.pt`` (read only for proxy's baselines). One row per run: the test
accuracy under the honest policy (no spike = wrong, ties = wrong) and under the reference
code's counting, the validation accuracy of the selected epoch, epochs, wall time.

Proxy learning (:mod:`snnviz.algorithms.proxy`): a proxy run's row also shows the accuracy of
its ANN path (same weights, ReLU) when its result has it. When the runs include a proxy run
and an ANN-baseline run (``--set mode=ann``) on the same data, :func:`proxy_baselines` adds
the paper's comparison at the same ``T``: the ANN trained alone and its ANN-to-SNN
conversion with threshold balancing (:func:`snnviz.algorithms.proxy.compare`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path


class RunError(ValueError):
    """A folder that is not a finished run (clear message for the command line)."""


def load_result(run: str | Path) -> dict:
    """``run/result.json`` (or the file itself) as a dict, with ``_dir`` set to the folder."""
    p = Path(run)
    path = p if p.suffix == ".json" else p / "result.json"
    if not path.is_file():
        raise RunError(f"{p}: no result.json (not a finished snnviz train run)")
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"{path}: unreadable result file ({e})") from None
    if not isinstance(r, dict) or "algorithm" not in r or "status" not in r:
        raise RunError(f"{path}: not a snnviz result file")
    r["_dir"] = str(path.parent)
    return r


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def _mode(r: dict) -> str:
    return str(r.get("config", {}).get("algo", {}).get("mode", "")) if r["algorithm"] == "proxy" \
        else ""


def run_row(r: dict) -> dict:
    """The standard columns of one result (strings, ready for a table)."""
    by = r.get("test_by_policy") or {}
    extra = r.get("test_extra") or {}
    wall = r.get("seconds_total", r.get("train_seconds"))
    return {
        "run": Path(r["_dir"]).name, "algorithm": r["algorithm"] + (
            f" ({_mode(r)})" if _mode(r) else ""),
        "dataset": r.get("dataset", "-"), "status": r["status"],
        "test % honest": _pct(by.get("honest", r.get("test_accuracy"))),
        "test % reference": _pct(by.get("reference")),
        "val %": _pct(r.get("val_accuracy")),
        "ANN path %": _pct(extra.get("ann_accuracy")) if r["algorithm"] == "proxy" else "-",
        "epochs": str(r.get("epochs_run", "-")), "best epoch": str(r.get("best_epoch") or "-"),
        "train/test": f"{r.get('train_size', '-')}/{r.get('test_size', '-')}",
        "wall s": "-" if wall is None else f"{wall:.0f}",
    }


def markdown(rows: list[dict]) -> str:
    """A markdown table of rows sharing the first row's keys (missing cells: ``-``)."""
    if not rows:
        return "(no finished runs)\n"
    cols = list(rows[0])
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="-", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def proxy_baselines(results: list[dict], calib: int = 2000, percentile: float = 99.9,
                    t_eval: int | None = None) -> list[dict]:
    """Rows of the paper's comparison when the runs include ANN-baseline proxy runs
    (``--set mode=ann``): per such run, the ANN alone (baseline a) and its conversion to an
    SNN with threshold balancing on ``calib`` training samples (baseline b), and per proxy
    run the same SNN read-outs recomputed (honest, argmax, tie-optimistic at the same ``T``),
    all from the runs' checkpoints (selected weights) on their test split."""
    from snnviz.algorithms import proxy
    from snnviz.api import make_trainer, run_config_from_dict
    from snnviz.training.checkpoint import load_checkpoint

    def trainer(r: dict):
        ckpt = Path(r["_dir"]) / "checkpoint.pt"
        if not ckpt.is_file():
            raise RunError(f"{r['_dir']}: no checkpoint.pt, needed for the proxy baselines")
        state = load_checkpoint(ckpt)
        return make_trainer(run_config_from_dict(state["config"]), state=state)

    def snn_cells(row: dict) -> dict:
        return {"test % honest": _pct(row["honest"]), "argmax %": _pct(row["argmax"]),
                "tie-optimistic %": _pct(row["tie-optimistic"])}

    ok = [r for r in results if r["algorithm"] == "proxy" and r["status"] == "ok"]
    anns = [r for r in ok if _mode(r) == "ann"]
    if not anns:
        return []
    rows = []
    for r in ok:
        t = trainer(r)
        base = {"run": Path(r["_dir"]).name, "dataset": r.get("dataset", "-"), "status": "ok",
                "epochs": str(r.get("epochs_run", "-")),
                "train/test": f"{r.get('train_size', '-')}/{len(t.y_test)}"}
        if _mode(r) == "ann":
            res = proxy.compare(None, t.best_params, t.cfg.algo, t.t_train[:calib], t.t_test,
                                t.y_test, percentile, t_eval, t.cfg.algo)
            rows.append({**base, "algorithm": "ANN alone (baseline a)",
                         "test % honest": _pct(res["ann_alone"])})
            rows.append({**base, "algorithm": f"converted SNN, T={res['T']} (baseline b)",
                         **snn_cells(res["converted_snn"])})
        else:
            res = proxy.compare(t.best_params, None, t.cfg.algo, t.t_train[:0], t.t_test,
                                t.y_test, percentile, t_eval)
            rows.append({**base, "algorithm": f"proxy SNN, T={res['T']} (same read-outs)",
                         **snn_cells(res["proxy_snn"]),
                         "ANN path %": _pct(res["proxy_snn"]["ann"])})
    return rows


def compare_table(runs: list[str], baselines: bool = True, calib: int = 2000,
                  percentile: float = 99.9, t_eval: int | None = None) -> list[dict]:
    """Rows for ``snnviz compare``: one per run, then proxy's baselines when present. A
    folder without ``result.json`` whose sub-folders hold runs (a sweep) stands for them."""
    paths: list[Path] = []
    for r in runs:
        p = Path(r)
        inner = sorted(p.glob("*/result.json")) if p.is_dir() else []
        paths += [q.parent for q in inner] if inner and not (p / "result.json").exists() \
            else [p]
    results = [load_result(r) for r in paths]
    rows = [run_row(r) for r in results]
    if baselines:
        rows += proxy_baselines(results, calib, percentile, t_eval)
    return rows
