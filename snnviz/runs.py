"""The library of finished command-line runs, and the per-epoch replay record they keep.

``snnviz train --out DIR`` writes ``DIR/result.json`` (summary, config and per-epoch
``history``), ``DIR/checkpoint.pt`` and, since the replay record was added, ``DIR/replay.json``:
one entry per epoch with the validation pass under every evaluation policy (accuracy,
no-spike and tie rates, confusion, spiking neurons per sample, mean output spike time) and
the spike times of the watched test sample at the epoch's end (:class:`ReplayLog`, an event
subscriber). Runs written before have no ``replay.json``; their curves still replay.

:class:`RunLibrary` lists the runs below one root folder fixed when the server starts (never a
path typed in the browser): a run is named by its folder relative to the root
(``results/s4nn-mnist``), and only names found by the scan can be opened.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["REPLAY_FILE", "ReplayLog", "RunInfo", "Run", "RunLibrary", "load_replay"]

REPLAY_FILE = "replay.json"
REPLAY_VERSION = 1
MAX_PROBE_NEURONS = 4096          # neurons per layer kept of the watched sample
MAX_JSON_BYTES = 64 * 2**20       # larger result/replay files are not opened
MAX_DEPTH = 3                     # folder levels scanned below the root


def _hist_stats(hist: Iterable[np.ndarray], n: int, t_max: int) -> tuple[float | None,
                                                                        float | None]:
    """Spiking neurons per sample (all non-input layers) and the mean spike time of the
    output neurons that fire, from per-layer spike-time histograms (bin ``t_max``: silent)."""
    hs = [np.asarray(h, dtype=np.float64) for h in hist]
    if not hs or n <= 0 or t_max <= 0:
        return None, None
    spikes = sum(float(h[:t_max].sum()) for h in hs) / n
    out = hs[-1][:t_max]
    mean_t = float((out * np.arange(out.size)).sum() / out.sum()) if out.sum() > 0 else None
    return spikes, mean_t


class ReplayLog:
    """Event subscriber that keeps, per epoch, what the run library replays.

    Call it with every event of a run (``bus.subscribe(log)`` or by hand), then
    :meth:`to_dict` / :meth:`save`. Entries are keyed by epoch, so a resumed run continues a
    loaded log (:meth:`load`) and overwrites the epochs it repeats.
    """

    def __init__(self, data: dict | None = None) -> None:
        self.t_max = int((data or {}).get("t_max", 0))
        self.classes: list[str] = list((data or {}).get("classes", []))
        self.epochs: dict[int, dict] = {int(e["epoch"]): e for e in
                                        (data or {}).get("epochs", [])}
        self._probe: dict | None = None
        self._val: dict | None = None

    def __call__(self, ev: Any) -> None:
        from snnviz.training.events import BatchEnd, EpochEnd, EvalEnd, RunStart

        if isinstance(ev, RunStart):
            self.t_max = int(ev.config.get("algo", {}).get("t_max", 0) or 0)
            self.classes = [str(c) for c in ev.classes]
        elif isinstance(ev, BatchEnd) and ev.probe is not None:
            p = ev.probe
            self._probe = {
                "step": int(ev.step), "index": int(p.sample_index), "label": int(p.label),
                "t_in": np.asarray(p.t_in).reshape(-1)[:MAX_PROBE_NEURONS].astype(int).tolist(),
                "layers": [np.asarray(L.times).reshape(-1)[:MAX_PROBE_NEURONS].astype(int)
                           .tolist() for L in p.layers],
                "thr": [float(L.thr) for L in p.layers],
            }
        elif isinstance(ev, EvalEnd) and ev.split == "val":
            spikes, mean_t = _hist_stats(ev.spike_time_hist, ev.n, self.t_max)
            self._val = {
                "n": int(ev.n), "accuracy": _num(ev.accuracy),
                "by_policy": {k: _num(v) for k, v in ev.by_policy.items()},
                "no_spike_rate": _num(ev.no_spike_rate), "tie_rate": _num(ev.tie_rate),
                "confusion": np.asarray(ev.confusion).astype(int).tolist(),
                "spikes_per_sample": spikes, "mean_output_time": mean_t,
            }
        elif isinstance(ev, EpochEnd):
            self.epochs[int(ev.epoch)] = {
                "epoch": int(ev.epoch), "seconds": float(ev.seconds),
                "val": self._val, "probe": self._probe,
            }
            self._val = None

    def to_dict(self) -> dict:
        return {"version": REPLAY_VERSION, "t_max": self.t_max, "classes": self.classes,
                "epochs": [self.epochs[k] for k in sorted(self.epochs)]}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write compact JSON atomically (temp file in the same folder, fsync, rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, separators=(",", ":"))
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReplayLog:
        """A log continued from ``path`` (a fresh one when the file is missing or unreadable)."""
        try:
            return cls(load_replay(Path(path)))
        except (OSError, ValueError):
            return cls()


def _num(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _read_json(path: Path) -> dict:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_JSON_BYTES >> 20} MiB")
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    if not isinstance(d, dict):
        raise ValueError(f"{path.name} does not hold a JSON object")
    return d


def load_replay(path: Path) -> dict:
    """A ``replay.json`` as a dict (ValueError when malformed)."""
    try:
        d = _read_json(path)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path.name} is not valid JSON ({e.msg})") from None
    if not isinstance(d.get("epochs"), list):
        raise ValueError(f"{path.name} has no list of epochs")
    return d


@dataclass(frozen=True)
class RunInfo:
    """One listed run: ``name`` (folder relative to the library root) and a short summary."""

    name: str
    algorithm: str
    dataset: str
    seed: int | None
    status: str
    epochs: int
    test_accuracy: float | None
    has_replay: bool
    has_checkpoint: bool
    error: str = ""

    @property
    def label(self) -> str:
        acc = f", test {self.test_accuracy:.1%}" if self.test_accuracy is not None else ""
        bad = f" (unreadable: {self.error})" if self.error else ""
        return f"{self.name}: {self.algorithm} on {self.dataset}, {self.epochs} epochs{acc}{bad}"


@dataclass(frozen=True)
class Run:
    """An opened run: its ``result.json`` and, when recorded, its replay record."""

    info: RunInfo
    result: dict
    replay: dict | None = None
    replay_error: str = ""
    history: tuple[dict, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.info.name

    def epochs(self) -> np.ndarray:
        """1-based epoch numbers of the history."""
        return np.array([int(h.get("epoch", i + 1)) for i, h in enumerate(self.history)],
                        np.int64)

    def series(self, key: str) -> np.ndarray:
        """A per-epoch history value (NaN where missing)."""
        return np.array([_f(h.get(key)) for h in self.history], np.float64)

    def wall_time(self) -> np.ndarray:
        """Cumulative training seconds at the end of each epoch."""
        return np.cumsum(np.nan_to_num(self.series("seconds")))

    def replay_epoch(self, epoch: int) -> dict | None:
        """The replay entry of 1-based ``epoch`` (None when not recorded)."""
        if not self.replay:
            return None
        for e in self.replay.get("epochs", []):
            if isinstance(e, dict) and int(e.get("epoch", -1)) == epoch - 1:
                return e
        return None

    def replay_series(self, key: str) -> np.ndarray:
        """A validation value of the replay record per history epoch (NaN where missing)."""
        out = []
        for ep in self.epochs():
            e = self.replay_epoch(int(ep))
            out.append(_f(((e or {}).get("val") or {}).get(key)))
        return np.array(out, np.float64)


def _image_shape(n_in: int) -> tuple[int, ...]:
    """``(C, H, W)`` of square grey or colour images with ``n_in`` pixels values."""
    for c in (1, 3):
        side = int(round((n_in / c) ** 0.5))
        if c * side * side == n_in:
            return (c, side, side)
    return (1, 1, n_in)


def _f(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return x


class RunLibrary:
    """The runs below ``root`` (folders holding a ``result.json``, up to three levels deep).

    Args:
        root: the library folder, fixed by the server (``SNNVIZ_RUNS``, default ``runs``).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self._runs: dict[str, RunInfo] = {}

    @classmethod
    def from_env(cls, default: str = "runs") -> RunLibrary:
        return cls(os.environ.get("SNNVIZ_RUNS") or default)

    def scan(self) -> list[RunInfo]:
        """Find the runs (sorted by name); a run whose files are unreadable is listed with
        the reason instead of failing the scan."""
        found: dict[str, RunInfo] = {}
        if self.root.is_dir():
            for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
                here = Path(dirpath)
                depth = len(here.relative_to(self.root).parts)
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                if depth >= MAX_DEPTH:
                    dirnames[:] = []
                if ("result.json" in filenames and depth > 0
                        and (here / "result.json").resolve().is_relative_to(self.root)):
                    name = here.relative_to(self.root).as_posix()
                    found[name] = self._info(name, here)
        self._runs = dict(sorted(found.items()))
        return list(self._runs.values())

    def names(self) -> list[str]:
        return list(self._runs)

    def _info(self, name: str, folder: Path) -> RunInfo:
        replay = (folder / REPLAY_FILE).is_file()
        ckpt = (folder / "checkpoint.pt").is_file()
        try:
            r = _read_json(folder / "result.json")
        except (OSError, ValueError) as e:
            return RunInfo(name, "?", "?", None, "unreadable", 0, None, replay, ckpt,
                           error=str(e)[:120])
        acc = r.get("test_accuracy")
        seed = r.get("seed")
        return RunInfo(name, str(r.get("algorithm", "?")), str(r.get("dataset", "?")),
                       int(seed) if isinstance(seed, int) else None, str(r.get("status", "?")),
                       len(r.get("history") or []),
                       float(acc) if isinstance(acc, (int, float)) else None, replay, ckpt)

    def network(self, name: str) -> Any:
        """The best weights of a listed run's ``checkpoint.pt`` as a
        :class:`~snnviz.explore.sandbox.NetCopy` (to draw digits against a trained network).

        Raises:
            KeyError: not a scanned run name. ValueError: no usable checkpoint.
        """
        import torch

        from snnviz.algorithms import get_algorithm
        from snnviz.api import run_config_from_dict
        from snnviz.explore.sandbox import NetCopy
        from snnviz.training.checkpoint import CheckpointError, load_checkpoint

        if name not in self._runs:
            raise KeyError(f"no run named {name!r} in the library")
        try:
            state = load_checkpoint(self.root / name / "checkpoint.pt")
            cfg = run_config_from_dict(state["config"])
            algo = get_algorithm(cfg.algorithm)
            d = state.get("best_params") or state["params"]
            params = algo.Params(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in d.items()})
            ref = algo.init(cfg.algo, torch.Generator().manual_seed(0))
            for a, b in zip(params, ref):
                for x, r in zip(a if isinstance(a, tuple) else (a,),
                                b if isinstance(b, tuple) else (b,)):
                    if tuple(getattr(x, "shape", ())) != tuple(getattr(r, "shape", ())):
                        raise ValueError("weights do not match the run's configuration")
        except (CheckpointError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{name}: no usable checkpoint ({e})") from None
        a = cfg.algo
        shape = tuple(getattr(a, "in_shape", ()) or ()) or _image_shape(int(a.n_in))
        classes = ()
        replay = self.root / name / REPLAY_FILE
        if replay.is_file():
            try:
                classes = tuple(load_replay(replay).get("classes") or ())
            except (OSError, ValueError):
                classes = ()
        if len(classes) != a.n_classes:
            classes = tuple(str(k) for k in range(a.n_classes))
        return NetCopy(algo, a, params, classes, shape, int(state.get("step", 0)),
                       cfg.algorithm)

    def open(self, name: str) -> Run:
        """Open a listed run by name.

        Raises:
            KeyError: ``name`` is not a run found by the last :meth:`scan` (a path is never
                opened on request; only scanned names are).
            ValueError: its ``result.json`` cannot be read.
        """
        if name not in self._runs:
            raise KeyError(f"no run named {name!r} in the library")
        info = self._runs[name]
        folder = self.root / name
        try:
            result = _read_json(folder / "result.json")
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{name}: result.json cannot be read ({e})") from None
        history = tuple(h for h in (result.get("history") or []) if isinstance(h, dict))
        replay, err = None, ""
        if info.has_replay:
            try:
                replay = load_replay(folder / REPLAY_FILE)
            except (OSError, ValueError) as e:
                err = str(e)[:160]
        return Run(info, result, replay, err, history)
