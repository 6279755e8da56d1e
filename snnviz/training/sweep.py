"""Hyperparameter sweeps as plain processes: ``snnviz sweep``.

A grid (``--grid key=v1,v2 --grid key2=...``) expands to the Cartesian product of its
values; each point runs ``python -m snnviz train ... --out OUT/<name>`` as its own process
(at most ``jobs`` at a time; no scheduler, no shared state between runs). A point whose
folder already holds ``result.json`` is skipped and one holding only ``checkpoint.pt`` is
continued with ``--resume``, so rerunning the same command resumes an interrupted sweep.
Finally every ``OUT/*/result.json`` is collected into ``OUT/results.md`` and
``OUT/results.csv`` (written atomically) with one column per grid key.

Grid keys are the train options (``epochs``, ``batch_size``, ``seed``, ``train_size``,
``val_size``, ``test_size``, ``dataset``) or any ``--set`` key (``snnviz params ALGO``).
Values are separated by commas, or by ``|`` when a value itself holds commas
(``--grid "hidden=400|400,200"``).

``--points FILE`` lists configurations that are not a grid, one per line, as
``KEY=VALUE`` words (``#`` starts a comment; ``-`` alone is the defaults), for instance one
setting changed at a time, each with its own seeds; a ``--grid`` given beside it is
crossed with every line. When the runs differ in ``seed``, ``OUT/summary.md`` (also
printed) gives each setting's mean over its seeds, with the range: on small subsets runs
that differ only in the seed spread over several points, so settings are best compared
by their means.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from snnviz.training.report import load_result, markdown, run_row, to_csv

FLAGS = {"epochs": "--epochs", "batch_size": "--batch-size", "seed": "--seed",
         "train_size": "--train-size", "val_size": "--val-size", "test_size": "--test-size",
         "dataset": "--dataset"}


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """``["lr_out=0.1,0.2", "hidden=400|400,200"]`` -> ``{key: [value strings]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not values.strip():
            raise ValueError(f"--grid takes KEY=V1,V2,..., got {item!r}")
        if key in grid:
            raise ValueError(f"--grid {key} given twice")
        parts = [v.strip() for v in values.split("|" if "|" in values else ",")]
        if any(not v for v in parts):
            raise ValueError(f"--grid {item!r}: empty value")
        if len(set(parts)) != len(parts):
            raise ValueError(f"--grid {item!r}: repeated value")
        grid[key] = parts
    if not grid:
        raise ValueError("give at least one --grid KEY=V1,V2,... (or --points FILE)")
    return grid


def expand(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination, in order (the last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]


def read_points(path: Path) -> list[dict[str, str]]:
    """The configurations of a ``--points`` file: one line each, ``KEY=VALUE`` words,
    ``#`` comments, ``-`` for the defaults."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ValueError(f"cannot read --points file {path}: {e.strerror or e}") from None
    points, seen = [], set()
    for no, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        point: dict[str, str] = {}
        for w in ([] if words == ["-"] else words):
            key, sep, value = w.partition("=")
            key = key.replace("-", "_")
            if not sep or not key or not value:
                raise ValueError(f"{path}:{no}: expected KEY=VALUE words or '-', got {w!r}")
            if key in point:
                raise ValueError(f"{path}:{no}: {key} given twice")
            point[key] = value
        if tuple(point.items()) in seen:
            raise ValueError(f"{path}:{no}: the same configuration appears twice")
        seen.add(tuple(point.items()))
        points.append(point)
    if not points:
        raise ValueError(f"{path}: no configurations")
    return points


def cross(points: list[dict[str, str]], grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every point with every grid combination (a grid key overrides the point's)."""
    combos = expand(grid) if grid else [{}]
    return [{**p, **c} for p in points for c in combos]


def run_name(point: dict[str, str]) -> str:
    """Folder name of a grid point, e.g. ``lr_out=0.1_hidden=400-200``."""
    raw = "_".join(f"{k}={v}" for k, v in point.items()) or "defaults"
    return re.sub(r"[^A-Za-z0-9_.=+-]", "-", raw)[:200]


def train_args(point: dict[str, str], base: list[str]) -> list[str]:
    """``snnviz train`` arguments of a point: ``base`` then its flags and ``--set``s
    (a later flag wins in argparse, so the grid's value overrides the base's)."""
    out = list(base)
    for k, v in point.items():
        out += [FLAGS[k], v] if k in FLAGS else ["--set", f"{k}={v}"]
    return out


def run_points(points: list[dict[str, str]], base: list[str], out: Path, jobs: int,
               threads: int | None, log=print) -> dict[str, int]:
    """Run the points not finished yet, ``jobs`` at a time; return ``{name: exit code}``
    of the processes started (skipped points are absent). Each run's output goes to
    ``OUT/logs/<name>.log``."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    todo = []
    for p in points:
        name = run_name(p)
        d = out / name
        if (d / "result.json").is_file():
            log(f"skip {name}: finished")
            continue
        args = train_args(p, base) + ["--out", str(d), "--quiet"]
        if (d / "checkpoint.pt").is_file():
            args.append("--resume")
        if threads:
            args += ["--threads", str(threads)]
        todo.append((name, args))
    env = dict(os.environ)
    if threads:                 # one process per job: no oversubscription of the cores
        env.setdefault("OMP_NUM_THREADS", str(threads))
        env.setdefault("NUMBA_NUM_THREADS", str(threads))
    codes: dict[str, int] = {}
    running: list[tuple[str, subprocess.Popen, object]] = []
    try:
        while todo or running:
            while todo and len(running) < jobs:
                name, args = todo.pop(0)
                fh = open(out / "logs" / f"{name}.log", "w")     # noqa: SIM115 (closed below)
                log(f"start {name}")
                proc = subprocess.Popen([sys.executable, "-m", "snnviz", "train", *args],
                                        stdout=fh,
                                        stderr=subprocess.STDOUT, env=env)
                running.append((name, proc, fh))
            time.sleep(0.2)
            for item in list(running):
                name, proc, fh = item
                if proc.poll() is not None:
                    fh.close()
                    running.remove(item)
                    codes[name] = proc.returncode
                    log(f"done {name}: exit {proc.returncode}"
                        + ("" if proc.returncode == 0 else f" (see {out}/logs/{name}.log)"))
    except KeyboardInterrupt:
        for _name, proc, fh in running:     # the runs checkpoint on SIGINT and stop
            proc.wait()
            fh.close()
        raise
    return codes


def _value_of(r: dict, key: str) -> str:
    if key == "dataset":
        return str(r.get("dataset", "-"))
    if key == "seed":
        return str(r.get("seed", "-"))
    cfg = r.get("config", {})
    for part in ("algo", "train", "data", "record"):
        if key in cfg.get(part, {}):
            v = cfg[part][key]
            return ",".join(map(str, v)) if isinstance(v, list) else str(v)
    return "-"


def collect(out: Path, keys: list[str]) -> list[dict]:
    """One row per ``OUT/*/result.json`` (sorted by folder): the grid keys' values, then
    the standard columns of :func:`snnviz.training.report.run_row`."""
    rows = []
    for path in sorted(out.glob("*/result.json")):
        r = load_result(path)
        row = {"run": path.parent.name, **{k: _value_of(r, k) for k in keys}}
        row.update({k: v for k, v in run_row(r).items() if k != "run"})
        rows.append(row)
    return rows


def _num(cell: str) -> float | None:
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def summarize(rows: list[dict], keys: list[str]) -> list[dict]:
    """One row per setting (the values of ``keys`` other than ``seed``, in order of first
    appearance): how many runs, which seeds, and the mean (and range) of the honest test
    accuracy and of the validation accuracy over its runs."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys if k != "seed"), []).append(r)
    out = []
    for setting, rs in groups.items():
        tests = [x for x in (_num(r["test % honest"]) for r in rs) if x is not None]
        vals = [x for x in (_num(r["val %"]) for r in rs) if x is not None]
        row = dict(zip([k for k in keys if k != "seed"], setting))
        row.update({
            "runs": str(len(rs)), "seeds": " ".join(r.get("seed", "-") for r in rs),
            "mean test % honest": f"{sum(tests) / len(tests):.2f}" if tests else "-",
            "test range": f"{min(tests):.2f}-{max(tests):.2f}" if len(tests) > 1 else "-",
            "mean val %": f"{sum(vals) / len(vals):.2f}" if vals else "-",
        })
        out.append(row)
    return out


def write_tables(rows: list[dict], out: Path, keys: list[str] | None = None) -> str:
    """Write ``OUT/results.md`` and ``OUT/results.csv`` atomically, and ``OUT/summary.md``
    when the runs differ in ``seed``; return the markdown."""
    from snnviz.training.checkpoint import write_text_atomic

    md = markdown(rows)
    write_text_atomic(md, out / "results.md")
    write_text_atomic(to_csv(rows), out / "results.csv")
    keys = keys or []
    if "seed" in keys and len({r["seed"] for r in rows}) > 1:
        summary = markdown(summarize(rows, keys))
        write_text_atomic(summary, out / "summary.md")
        md += "\nMean over seeds (OUT/summary.md):\n\n" + summary
    return md
