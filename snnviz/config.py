"""Frozen, validated configuration dataclasses.

Every tunable value is a dataclass field declared with :func:`hp`, whose metadata
(``doc``, ``bounds``, ``step``, ``choices``) is the single source of truth for
validation (``__post_init__``), for ``--set key=value`` parsing on the command line and
for the widgets the notebooks and the dashboard generate.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "hp",
    "Validated",
    "DataConfig",
    "TrainConfig",
    "RecordSpec",
    "EvalPolicy",
    "RunConfig",
    "parse_value",
    "with_overrides",
    "field_specs",
]

_MISSING = object()


def hp(
    default: Any,
    doc: str,
    *,
    bounds: tuple[float | None, float | None] | None = None,
    step: float | None = None,
    choices: tuple[Any, ...] | None = None,
    ui: bool = True,
) -> Any:
    """Declare a hyperparameter field with its documentation and constraints.

    Args:
        default: default value (immutable: tuples, not lists).
        doc: one-line explanation, shown as tooltip and in ``--help``.
        bounds: inclusive ``(low, high)``; ``None`` on a side means unbounded.
        step: suggested widget step.
        choices: allowed values (for strings and enumerations).
        ui: whether a widget is generated for it.
    """
    meta = {"doc": doc, "bounds": bounds, "step": step, "choices": choices, "ui": ui}
    return field(default=default, metadata=meta)


def _resolved_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _short(value: Any, limit: int = 80) -> str:
    r = repr(value)
    return r if len(r) <= limit else f"{r[:limit]}... ({len(r)} characters)"


def _check_one(owner: str, name: str, value: Any, tp: Any, meta: dict) -> None:
    where = f"{owner}.{name}"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where} must be true or false, got {_short(value)}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where} must be an integer, got {_short(value)}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where} must be a number, got {_short(value)}")
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {_short(value)}")
    elif tp is str:
        if not isinstance(value, str):
            raise TypeError(f"{where} must be a string, got {_short(value)}")
    elif origin is tuple:
        if not isinstance(value, tuple):
            raise TypeError(f"{where} must be a tuple, got {_short(value)}")
        item_tp = args[0] if args else Any
        for v in value:
            if item_tp is int and (isinstance(v, bool) or not isinstance(v, int)):
                raise TypeError(f"{where} must hold integers, got {_short(value)}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"{where}={_short(value)} is not one of {', '.join(map(repr, choices))}")
    bounds = meta.get("bounds")
    if bounds is not None:
        lo, hi = bounds
        items = value if isinstance(value, tuple) else (value,)
        for v in items:
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
                raise ValueError(f"{where}={_short(value)} is out of range {rng} ({meta['doc']})")


class Validated:
    """Mixin: validates every ``hp`` field against its metadata after construction."""

    def __post_init__(self) -> None:
        hints = _resolved_types(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            _check_one(type(self).__name__, f.name, getattr(self, f.name), hints[f.name],
                       f.metadata)
        self._check()

    def _check(self) -> None:
        """Cross-field checks; override in subclasses."""


@dataclass(frozen=True)
class DataConfig(Validated):
    dataset: str = hp("mnist-mini", "dataset name (see `snnviz datasets`)")
    data_root: str | None = hp(None, "folder with datasets in torchvision layout", ui=False)
    val_size: int | None = hp(
        None, "validation samples held out from train (default: 10% of train)", bounds=(0, None)
    )
    train_size: int | None = hp(None, "training samples used (default: all)", bounds=(1, None))
    test_size: int | None = hp(None, "test samples used (default: all)", bounds=(1, None))
    split_seed: int = hp(0, "seed of the fixed train/validation/test permutations",
                         bounds=(0, None))
    download: bool = hp(False, "let torchvision download a missing full data set into the "
                        "cache (needs internet)", ui=False)


@dataclass(frozen=True)
class EvalPolicy(Validated):
    """How a TTFS output race is turned into a decision.

    ``no_spike``: what happens when no output neuron fires: ``wrong`` (honest: counts as an
    error) or ``potential`` (reference code: argmax of the output potential at t_max - 3).
    ``ties``: several output neurons fire first at the same step: ``wrong`` (honest),
    ``potential`` (highest potential at the spike step wins, then lowest index),
    ``lowest-index`` or ``optimistic`` (reference code: correct if the label is among them).
    """

    no_spike: str = hp("wrong", "decision when no output neuron fires",
                       choices=("wrong", "potential"))
    ties: str = hp(
        "wrong",
        "decision when output neurons tie for first spike",
        choices=("wrong", "potential", "lowest-index", "optimistic"),
    )

    @property
    def name(self) -> str:
        return f"no_spike={self.no_spike},ties={self.ties}"


HONEST = EvalPolicy("wrong", "wrong")
LENIENT = EvalPolicy("potential", "optimistic")


@dataclass(frozen=True)
class TrainConfig(Validated):
    epochs: int = hp(10, "training epochs", bounds=(1, 100_000))
    batch_size: int = hp(
        1, "samples per weight update (1 = the papers' online rule)", bounds=(1, 65_536)
    )
    online_chunk: int = hp(
        100,
        "with batch_size 1: samples per trainer step (each still its own update)",
        bounds=(1, 100_000),
    )
    order: str = hp(
        "shuffle",
        "training order per epoch: shuffle, fixed, or replacement (draw with replacement)",
        choices=("shuffle", "fixed", "replacement"),
    )
    lr_decay: float = hp(1.0, "multiply the learning rates by this after every epoch "
                         "(1 = constant, as in the papers)", bounds=(0.01, 1.0), step=0.01)
    no_spike: str = hp("wrong", "eval: decision when no output fires",
                       choices=("wrong", "potential"))
    ties: str = hp(
        "wrong",
        "eval: decision when outputs tie for first spike",
        choices=("wrong", "potential", "lowest-index", "optimistic"),
    )
    eval_batch: int = hp(4096, "samples per evaluation chunk", bounds=(1, 1_000_000), ui=False)
    checkpoint_seconds: float = hp(
        120.0, "also checkpoint mid-epoch every this many seconds", bounds=(1.0, None), ui=False
    )
    device: str = hp("cpu", "torch device", choices=("cpu", "cuda"), ui=False)

    @property
    def policy(self) -> EvalPolicy:
        return EvalPolicy(self.no_spike, self.ties)


@dataclass(frozen=True)
class RecordSpec(Validated):
    every: int = hp(50, "compute probe data every this many trainer steps", bounds=(1, None))
    probe_indices: tuple[int, ...] = hp((0,), "test samples probed for views", bounds=(0, None))
    max_neurons: int = hp(32, "neurons per layer in membrane traces", bounds=(1, 4096))
    history: int = hp(2000, "recorder ring-buffer length", bounds=(10, 10_000_000))
    probes: bool = hp(True, "compute probe data at all")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run: algorithm name and config, data, training, recording."""

    algorithm: str
    algo: Any
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    record: RecordSpec = field(default_factory=RecordSpec)
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def to_dict(self) -> dict:
        return {
            "algorithm": self.algorithm,
            "seed": self.seed,
            "algo": dataclasses.asdict(self.algo),
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
            "record": dataclasses.asdict(self.record),
        }


def field_specs(cfg_cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """(field, resolved type) pairs of a config class, in declaration order."""
    hints = _resolved_types(cfg_cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cfg_cls)]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(owner: str, name: str, text: str, tp: Any) -> Any:
    """Parse ``text`` (from ``--set`` or a URL) into a value of type ``tp``."""
    where = f"{owner}.{name}"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.strip().lower() in {"none", "null", ""}:
            return None
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    s = text.strip()
    try:
        if tp is bool:
            if s.lower() in _TRUE:
                return True
            if s.lower() in _FALSE:
                return False
            raise ValueError
        if tp is int:
            return int(s)
        if tp is float:
            v = float(s)
            if not math.isfinite(v):
                raise ValueError(f"{where} must be a finite number, got {shorten(text)}")
            return v
        if origin is tuple:
            parts = [p for p in s.replace("x", ",").split(",") if p.strip()]
            return tuple(int(p) for p in parts)
    except ValueError as e:
        if "finite" in str(e):
            raise
        raise ValueError(f"{where}: cannot read {shorten(text)} as {_type_words(tp)}") from None
    return s


def shorten(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut to about ``limit`` characters for messages (huge pasted values)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def _type_words(tp: Any) -> str:
    if tp is bool:
        return "true/false (also yes/no, on/off, 1/0)"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a finite number"
    if typing.get_origin(tp) is tuple:
        return "comma-separated integers (e.g. 400 or 400,200)"
    return getattr(tp, "__name__", str(tp))


def with_overrides(cfg: Any, overrides: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Apply the string overrides that name fields of ``cfg``; return (new cfg, leftovers)."""
    specs = {f.name: tp for f, tp in field_specs(type(cfg))}
    mine = {k: v for k, v in overrides.items() if k in specs}
    rest = {k: v for k, v in overrides.items() if k not in specs}
    values = {k: parse_value(type(cfg).__name__, k, v, specs[k]) for k, v in mine.items()}
    return dataclasses.replace(cfg, **values), rest
