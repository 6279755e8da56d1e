"""The Python entry points: build a run configuration, make a trainer, reload a run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from snnviz.algorithms import get_algorithm
from snnviz.config import (
    DataConfig,
    RecordSpec,
    RunConfig,
    TrainConfig,
    field_specs,
    with_overrides,
)
from snnviz.training.events import EventBus
from snnviz.training.trainer import Trainer


def make_run_config(algorithm: str = "s4nn", dataset: str = "mnist-mini", *, seed: int = 0,
                    overrides: dict[str, Any] | None = None, **data_train: Any) -> RunConfig:
    """A validated :class:`RunConfig`.

    Args:
        algorithm: a name in :data:`snnviz.ALGORITHMS`.
        dataset: a name in :data:`snnviz.data.DATASETS`.
        seed: run seed (weights, data order, resets).
        overrides: ``{name: value}`` for any field of the algorithm, train, data or record
            configs (values may be strings, as from ``--set`` or a URL, or typed values).
        **data_train: further fields of :class:`DataConfig` / :class:`TrainConfig`
            (``epochs=3, batch_size=32, train_size=500`` ...). ``batch_size`` defaults to the
            algorithm config's ``DEFAULT_BATCH_SIZE`` class attribute when it has one
            (proxy: 100), else to :class:`TrainConfig`'s 1 (the TTFS papers' online rule).
    """
    algo = get_algorithm(algorithm)
    train = TrainConfig()
    default_batch = getattr(algo.Config, "DEFAULT_BATCH_SIZE", None)
    if default_batch is not None:           # the algorithm's own default (proxy: 100)
        train = dataclasses.replace(train, batch_size=int(default_batch))
    parts = [algo.Config(), DataConfig(dataset=dataset), train, RecordSpec()]
    typed = dict(data_train)
    text: dict[str, str] = {}
    for k, v in (overrides or {}).items():
        (text if isinstance(v, str) else typed)[k] = v
    for i, part in enumerate(parts):
        names = {f.name for f, _ in field_specs(type(part))}
        mine = {k: v for k, v in typed.items() if k in names}
        if mine:
            parts[i] = dataclasses.replace(part, **mine)
            typed = {k: v for k, v in typed.items() if k not in names}
        parts[i], text = with_overrides(parts[i], text)
    unknown = sorted(set(typed) | set(text))
    if unknown:
        valid = sorted({f.name for p in parts for f, _ in field_specs(type(p))})
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for {algorithm}; "
                         f"valid: {', '.join(valid)}")
    a, d, t, r = parts
    return RunConfig(algorithm, a, d, t, r, seed)


def run_config_from_dict(d: dict) -> RunConfig:
    """Inverse of :meth:`RunConfig.to_dict` (lists become tuples). A run trained on a GPU
    is loaded onto the CPU on a machine without one (evaluation, inspection)."""
    algo = get_algorithm(d["algorithm"])
    if d["train"].get("device") == "cuda":
        import torch

        if not torch.cuda.is_available():
            d = dict(d, train={**d["train"], "device": "cpu"},
                     algo={**d["algo"], "device": "cpu"} if "device" in d["algo"]
                     else d["algo"])

    def build(cls, values: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        vals = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
                if k in names}
        return cls(**vals)

    return RunConfig(d["algorithm"], build(algo.Config, d["algo"]),
                     build(DataConfig, d["data"]), build(TrainConfig, d["train"]),
                     build(RecordSpec, d["record"]), int(d["seed"]))


def make_trainer(cfg: RunConfig, splits=None, bus: EventBus | None = None,
                 state: dict | None = None, dist=None, init: dict | None = None) -> Trainer:
    """A :class:`~snnviz.training.trainer.Trainer` for ``cfg`` (``dist``: a
    :class:`~snnviz.training.distributed.DistContext` for data-parallel runs; ``init``:
    start weights, see :class:`~snnviz.training.trainer.Trainer`)."""
    return Trainer(cfg, splits=splits, bus=bus, state=state, dist=dist, init=init)


def load_trainer(run: str | Path, data_root: str | None = None) -> Trainer:
    """A finished (or interrupted) run, restored: its configuration, its own training,
    validation and test splits, and its weights (``best_params``: those chosen on
    validation) from ``run`` (the run's folder or its ``checkpoint.pt``). ``data_root``:
    where the dataset is now, if it moved since the run."""
    from snnviz.training.checkpoint import load_checkpoint

    ckpt = Path(run)
    ckpt = ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt
    state = load_checkpoint(ckpt)
    cfg = run_config_from_dict(state["config"])
    if data_root:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, data_root=data_root))
    return make_trainer(cfg, state=state)
