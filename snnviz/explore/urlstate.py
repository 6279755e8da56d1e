"""The dashboard's state as a URL query string, and back (pure functions).

A teacher prepares a link such as ``/dashboard?algorithm=bs4nn&dataset=mnist-mini&seed=3&
t_max=64&view=neuron-sandbox&sample=7&present=1`` and opening it reproduces the view.
:func:`encode_state` writes an :class:`ExploreState` as a query string; :func:`decode_state`
reads one back. Decoding never raises: every value that is not acceptable (unknown algorithm,
a number out of range, an unknown or non-settable field such as ``data_root``, an oversized
or malformed value) is dropped with a readable message and the default is kept, so a hostile
or mistyped link opens the normal dashboard with a note saying what was ignored.

Hyperparameters travel under their field names (as in ``snnviz params``); only fields that
have a widget (``ui=True`` in their metadata) can be set, so no path or device setting can
come from a URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

__all__ = ["ExploreState", "HIDEABLE", "RESERVED", "encode_state", "decode_state",
           "settable_fields", "slug"]

#: Controls that presenter mode (or ``hide=``) can hide.
HIDEABLE = ("settings", "buttons", "algorithm", "dataset", "status", "policy")
#: Query keys that are not hyperparameters.
RESERVED = ("algorithm", "dataset", "seed", "view", "sample", "present", "hide", "runs")
DEFAULT_HIDDEN = ("settings",)
MAX_VALUE_LEN = 64
MAX_KEYS = 80
MAX_SEED = 2**31 - 1
MAX_SAMPLE = 10_000_000
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_RUN_NAME = re.compile(rf"^{_SEGMENT}(/{_SEGMENT}){{0,3}}$")
MAX_RUNS_LEN = 400
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


@dataclass(frozen=True)
class ExploreState:
    """Everything a shared link fixes.

    Attributes:
        algorithm, dataset, seed: the run.
        overrides: hyperparameters that differ from the defaults, as text (``{"t_max": "64"}``).
        view: the open tab, as a slug of its title (``"neuron-sandbox"``); None: the first.
        sample: the test sample shown in the inspector and the sandbox.
        present: presenter mode (large fonts, ``hidden`` controls hidden).
        hidden: controls hidden in presenter mode, names from :data:`HIDEABLE`.
        runs: names of library runs opened in the run library (comparison).
    """

    algorithm: str = "s4nn"
    dataset: str = "mnist-mini"
    seed: int = 0
    overrides: Mapping[str, str] = field(default_factory=dict)
    view: str | None = None
    sample: int = 0
    present: bool = False
    hidden: tuple[str, ...] = DEFAULT_HIDDEN
    runs: tuple[str, ...] = ()


def slug(title: str) -> str:
    """``"Neuron sandbox"`` -> ``"neuron-sandbox"`` (tab titles in URLs)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]


def settable_fields(algorithm: str) -> dict[str, Any]:
    """``{name: (config class name, type)}`` of the fields a URL may set for ``algorithm``:
    those with a widget (``ui=True``), except the dataset (its own key)."""
    from snnviz.algorithms import get_algorithm
    from snnviz.config import DataConfig, RecordSpec, TrainConfig, field_specs

    out: dict[str, Any] = {}
    for cls in (get_algorithm(algorithm).Config, TrainConfig, DataConfig, RecordSpec):
        for f, tp in field_specs(cls):
            if f.metadata.get("ui", True) and f.name != "dataset":
                out[f.name] = (cls.__name__, tp)
    return out


def encode_state(state: ExploreState) -> str:
    """The query string (without ``?``) of ``state``; default values are left out and keys
    are in a fixed order, so equal states give equal links."""
    d = ExploreState()
    q: list[tuple[str, str]] = [("algorithm", state.algorithm), ("dataset", state.dataset)]
    if state.seed != d.seed:
        q.append(("seed", str(state.seed)))
    q += sorted((k, str(v)) for k, v in state.overrides.items())
    if state.view:
        q.append(("view", state.view))
    if state.sample != d.sample:
        q.append(("sample", str(state.sample)))
    if state.present:
        q.append(("present", "1"))
        if tuple(state.hidden) != DEFAULT_HIDDEN:
            q.append(("hide", ",".join(state.hidden) or "none"))
    if state.runs:
        q.append(("runs", ",".join(state.runs)))
    return urlencode(q)


def _first(query: Mapping[str, Any], key: str) -> str | None:
    v = query.get(key)
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        if not v:
            return None
        v = v[-1]
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return str(v)


def _int(text: str, lo: int, hi: int) -> int | None:
    t = text.strip()
    if not re.fullmatch(r"\+?\d{1,12}", t):
        return None
    v = int(t)
    return v if lo <= v <= hi else None


def decode_state(query: str | Mapping[str, Any], datasets: Sequence[str] | None = None,
                 default: ExploreState | None = None) -> tuple[ExploreState, list[str]]:
    """Read a query string (or ``pn.state.session_args``-like mapping of lists of bytes).

    Args:
        query: ``"a=1&b=2"`` (a leading ``?`` is allowed) or ``{key: [value, ...]}``.
        datasets: the datasets this server offers (default: all embedded and synthetic ones
            plus those a data root provides, :func:`snnviz.ui.controls.available_datasets`).
        default: the state used for anything missing or rejected.

    Returns:
        ``(state, messages)``; one message per ignored value, nothing raised.
    """
    from snnviz.algorithms import ALGORITHMS
    from snnviz.api import make_run_config

    d = default if default is not None else ExploreState()
    if isinstance(query, str):
        query = parse_qs(query.lstrip("?"), keep_blank_values=True)
    msgs: list[str] = []
    keys = list(query)
    if len(keys) > MAX_KEYS:
        msgs.append(f"the link has {len(keys)} settings; only the first {MAX_KEYS} were read")
        keys = keys[:MAX_KEYS]
    raw: dict[str, str] = {}
    for k in keys:
        v = _first(query, k)
        name = str(k)
        if v is None:
            continue
        if not _PRINTABLE.match(name) or len(name) > 40:
            msgs.append("ignored a setting with an unreadable name")
        elif (len(v) > (MAX_RUNS_LEN if name == "runs" else MAX_VALUE_LEN)
              or not _PRINTABLE.match(v)):
            msgs.append(f"{name}: value too long or not plain text; ignored")
        else:
            raw[name] = v

    if datasets is None:
        from snnviz.ui.controls import available_datasets
        datasets = available_datasets()
    algorithm, dataset, seed = d.algorithm, d.dataset, d.seed
    if "algorithm" in raw:
        if raw["algorithm"] in ALGORITHMS:
            algorithm = raw["algorithm"]
        else:
            msgs.append(f"algorithm {raw['algorithm']!r} is unknown (choose one of "
                        f"{', '.join(ALGORITHMS)}); using {algorithm}")
    if "dataset" in raw:
        if raw["dataset"] in datasets:
            dataset = raw["dataset"]
        else:
            msgs.append(f"dataset {raw['dataset']!r} is not offered here (choose one of "
                        f"{', '.join(datasets)}); using {dataset}")
    if "seed" in raw:
        s = _int(raw["seed"], 0, MAX_SEED)
        if s is None:
            msgs.append(f"seed must be an integer from 0 to {MAX_SEED}; using {seed}")
        else:
            seed = s
    if dataset not in datasets:
        dataset = datasets[0] if datasets else dataset

    settable = settable_fields(algorithm)
    overrides: dict[str, str] = {}
    for k, v in raw.items():
        if k in RESERVED:
            continue
        if k not in settable:
            msgs.append(f"{k}: not a setting of {algorithm} that a link can change; ignored")
            continue
        try:
            make_run_config(algorithm, dataset, seed=seed, overrides={k: v})
        except (ValueError, TypeError) as e:
            msgs.append(f"{k}={v!r} rejected ({_short(e)}); using the default")
            continue
        overrides[k] = v
    if overrides:
        try:
            make_run_config(algorithm, dataset, seed=seed, overrides=dict(overrides))
        except (ValueError, TypeError) as e:
            msgs.append(f"the settings of the link do not fit together ({_short(e)}); "
                        "using the defaults")
            overrides = {}

    view = d.view
    if "view" in raw:
        if _SLUG.match(raw["view"]):
            view = raw["view"]
        else:
            msgs.append(f"view {raw['view']!r} is not a view name; ignored")
    sample = d.sample
    if "sample" in raw:
        s = _int(raw["sample"], 0, MAX_SAMPLE)
        if s is None:
            msgs.append(f"sample must be an integer from 0 to {MAX_SAMPLE}; using {sample}")
        else:
            sample = s
    present = d.present
    if "present" in raw:
        p = raw["present"].strip().lower()
        if p in ("1", "true", "yes", "on"):
            present = True
        elif p in ("0", "false", "no", "off", ""):
            present = False
        else:
            msgs.append(f"present must be 1 or 0, got {raw['present']!r}; ignored")
    hidden = d.hidden
    if "hide" in raw:
        items = [h.strip() for h in raw["hide"].split(",") if h.strip()]
        if items == ["none"]:
            hidden = ()
        else:
            bad = [h for h in items if h not in HIDEABLE]
            if bad:
                msgs.append(f"hide: unknown control(s) {', '.join(map(repr, bad))} (can hide: "
                            f"{', '.join(HIDEABLE)})")
            hidden = tuple(h for h in HIDEABLE if h in items)
    runs = d.runs
    if "runs" in raw:
        names = [r.strip() for r in raw["runs"].split(",") if r.strip()]
        bad = [r for r in names if not _RUN_NAME.match(r) or ".." in r]
        if bad:
            msgs.append(f"runs: {', '.join(map(repr, bad))} not a run name (names only, "
                        "no paths); ignored")
        runs = tuple(dict.fromkeys(r for r in names if r not in bad))
    return ExploreState(algorithm, dataset, seed, overrides, view, sample, present, hidden,
                        runs), msgs


def _short(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:160]
