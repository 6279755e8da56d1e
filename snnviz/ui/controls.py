"""Widgets generated from the configs' field metadata, for Panel and for ipywidgets.

Every hyperparameter is a dataclass field declared with :func:`snnviz.config.hp`, whose
metadata (``doc``, ``bounds``, ``step``, ``choices``, ``ui``) is the single source of truth.
:func:`controls_for` turns a config instance into :class:`Control` descriptions,
:func:`make_widget` turns one into a Panel or ipywidgets widget (ipywidgets is imported only
when asked for), and :class:`ConfigForm` keeps the widgets of a whole run and validates their
values through :func:`snnviz.make_run_config`, returning a readable message instead of
raising.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from snnviz.algorithms import ALGORITHMS, get_algorithm
from snnviz.api import make_run_config
from snnviz.config import RunConfig, field_specs
from snnviz.data import DATASETS, resolve_data_root

__all__ = ["Control", "SECTIONS", "SEED", "controls_for", "make_widget", "widget_value",
           "available_datasets", "algorithm_options", "label", "ConfigForm"]

SECTIONS = ("algorithm", "training", "data", "recording")
_SECTION_OF = {"algorithm": "algo", "training": "train", "data": "data", "recording": "record"}
_NOT_IN_FORM = {"dataset"}            # chosen by its own selector


@dataclass(frozen=True)
class Control:
    """One generated widget: ``kind`` is bool, choice, int, float or text (tuples and
    optional values, parsed by :func:`snnviz.config.parse_value`)."""

    section: str
    name: str
    kind: str
    value: Any
    doc: str
    bounds: tuple[float | None, float | None] | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None


SEED = Control("training", "seed", "int", 0, "run seed: initial weights, data order, resets",
               (0, None), 1)


def _kind(tp: Any, meta: dict) -> str:
    if meta.get("choices") is not None:
        return "choice"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return "text"
    return {bool: "bool", int: "int", float: "float"}.get(tp, "text")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def controls_for(cfg: Any, section: str) -> list[Control]:
    """Controls of the ``ui=True`` fields of a config instance, in declaration order."""
    out = []
    for f, tp in field_specs(type(cfg)):
        meta = dict(f.metadata)
        if not meta or not meta.get("ui", True) or f.name in _NOT_IN_FORM:
            continue
        kind = _kind(tp, meta)
        value = getattr(cfg, f.name)
        out.append(Control(section, f.name, kind, _as_text(value) if kind == "text" else value,
                           meta.get("doc", ""), meta.get("bounds"), meta.get("step"),
                           meta.get("choices")))
    return out


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


def label(text: str) -> dict[str, str]:
    """The keyword that names a Panel widget: ``label`` (newer Panel) or ``name``."""
    import panel as pn

    return {"label" if "label" in pn.widgets.Widget.param else "name": text}


def make_widget(ctrl: Control, backend: str = "panel") -> Any:
    """A widget for ``ctrl``: ``backend`` is ``"panel"`` or ``"ipywidgets"``."""
    lo, hi = ctrl.bounds if ctrl.bounds is not None else (None, None)
    lo, hi = _finite(lo), _finite(hi)
    if backend == "panel":
        import panel as pn

        common = {**label(ctrl.name), "description": ctrl.doc, "sizing_mode": "stretch_width"}
        if ctrl.kind == "bool":   # no tooltip parameter: see ConfigForm.section
            return pn.widgets.Checkbox(value=ctrl.value, **label(ctrl.name))
        if ctrl.kind == "choice":
            return pn.widgets.Select(options=list(ctrl.choices), value=ctrl.value, **common)
        if ctrl.kind == "int":
            return pn.widgets.IntInput(value=ctrl.value, start=lo, end=hi,
                                       step=int(ctrl.step or 1), **common)
        if ctrl.kind == "float":
            return pn.widgets.FloatInput(value=ctrl.value, start=lo, end=hi,
                                         step=ctrl.step or 0.1, **common)
        return pn.widgets.TextInput(value=ctrl.value, placeholder="default", **common)
    if backend == "ipywidgets":
        import ipywidgets as ipw

        common = {"description": ctrl.name, "tooltip": ctrl.doc,
                  "style": {"description_width": "initial"}}
        if ctrl.kind == "bool":
            return ipw.Checkbox(value=ctrl.value, **common)
        if ctrl.kind == "choice":
            return ipw.Dropdown(options=list(ctrl.choices), value=ctrl.value, **common)
        if ctrl.kind in ("int", "float"):
            cls = ipw.BoundedIntText if ctrl.kind == "int" else ipw.BoundedFloatText
            big = 2**31 - 1
            return cls(value=ctrl.value, min=-big if lo is None else lo,
                       max=big if hi is None else hi, step=ctrl.step or 1, **common)
        return ipw.Text(value=ctrl.value, placeholder="default", **common)
    raise ValueError(f"backend must be 'panel' or 'ipywidgets', got {backend!r}")


def widget_value(ctrl: Control, value: Any) -> Any:
    """The override value of a widget's ``value`` for :func:`snnviz.make_run_config`."""
    if ctrl.kind == "text":
        return "" if value is None else str(value)
    return value


def available_datasets() -> list[str]:
    """Datasets the dashboard offers: the embedded and synthetic ones always, the full
    ones only when a data root is configured (``SNNVIZ_DATA``)."""
    offline = [d for d in DATASETS if d.endswith("-mini") or d == "synthetic"]
    if resolve_data_root(None) is None:
        return offline
    return offline + [d for d in DATASETS if d not in offline]


class ConfigForm:
    """The widgets of one run configuration and their validation.

    Args:
        algorithm: name in :data:`snnviz.ALGORITHMS`.
        dataset: dataset name.
        overrides: starting values (any config field) on top of the defaults.
        seed: starting run seed.
        backend: ``"panel"`` or ``"ipywidgets"``.
    """

    def __init__(self, algorithm: str, dataset: str, overrides: dict[str, Any] | None = None,
                 seed: int = 0, backend: str = "panel") -> None:
        self.algorithm, self.dataset, self.backend = algorithm, dataset, backend
        cfg = make_run_config(algorithm, dataset, seed=seed, overrides=overrides or {})
        self.controls: list[Control] = [dataclasses.replace(SEED, value=cfg.seed)]
        for section in SECTIONS:
            self.controls += controls_for(getattr(cfg, _SECTION_OF[section]), section)
        self.widgets = {c.name: make_widget(c, backend) for c in self.controls}

    def section(self, name: str) -> list[Any]:
        """Widgets of one section, in order (Panel check boxes get a tooltip icon)."""
        out = []
        for c in self.controls:
            if c.section != name:
                continue
            w = self.widgets[c.name]
            if c.kind == "bool" and self.backend == "panel":
                import panel as pn

                w = pn.Row(w, pn.widgets.TooltipIcon(value=c.doc), margin=0)
            out.append(w)
        return out

    def values(self) -> dict[str, Any]:
        """Current override values of all widgets except the seed."""
        return {c.name: widget_value(c, self.widgets[c.name].value)
                for c in self.controls if c.name != "seed"}

    def carry_over(self, algorithm: str) -> dict[str, Any]:
        """Values of the non-algorithm sections, to start a form for another algorithm."""
        return {c.name: widget_value(c, self.widgets[c.name].value)
                for c in self.controls if c.section != "algorithm" and c.name != "seed"
                and not (c.kind == "text" and self.widgets[c.name].value in ("", None))}

    def build(self) -> tuple[RunConfig | None, str]:
        """``(config, "")`` when the widget values are valid, else ``(None, message)``."""
        try:
            get_algorithm(self.algorithm)
            seed = self.widgets["seed"].value
            if seed is None:
                raise ValueError("seed: enter a non-negative integer")
            cfg = make_run_config(self.algorithm, self.dataset, seed=int(seed),
                                  overrides=self.values())
        except (ValueError, TypeError) as e:
            return None, str(e)
        return cfg, ""


def algorithm_options() -> dict[str, str]:
    """``{title: name}`` of every registered algorithm, for a selector."""
    return {getattr(m, "TITLE", name): name for name, m in ALGORITHMS.items()}
