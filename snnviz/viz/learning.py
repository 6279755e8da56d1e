"""More Plotly views for the notebooks: one IF neuron, STiDi-BP displacements, the proxy
learning ANN/SNN twins and read-out length, and algorithms side by side.

Same conventions as :mod:`snnviz.viz.figures` and :mod:`snnviz.viz.update`: every
``build_*`` lays out the traces and fills them with its ``patch_*``, which changes a figure
(``go.Figure`` or ``go.FigureWidget``) in place inside ``batch_update``; plain data in, no
global Plotly state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from snnviz.viz.figures import THEME, _figure, add_twin_traces
from snnviz.viz.update import _note, _restyle, layer_names

__all__ = ["neuron_potential", "neuron_fire_time", "build_neuron", "patch_neuron",
           "build_displacement", "patch_displacement", "build_twin", "patch_twin",
           "build_acc_vs_t", "patch_acc_vs_t", "build_compare", "patch_compare"]


def _f(a: Any) -> np.ndarray:
    """Contiguous float64 copy (widgets send arrays as binary buffers, which must be
    contiguous; a column of a 2-D array is not)."""
    return np.ascontiguousarray(a, dtype=np.float64)


# ------------------------------------------------------------------ one IF neuron ------
def neuron_potential(t_in: Sequence[int], w: Sequence[float], t_max: int) -> np.ndarray:
    """``V[k] = sum of w_i over inputs with t_i <= k`` for ``k = 0..t_max-1`` (non-leaky IF,
    instantaneous synapses; inputs at ``t_i >= t_max`` never arrive)."""
    t = np.asarray(t_in, dtype=np.int64).ravel()
    w = np.asarray(w, dtype=np.float64).ravel()
    if t.shape != w.shape:
        raise ValueError(f"{t.size} input spike times but {w.size} weights")
    current = np.zeros(t_max)
    live = (t >= 0) & (t < t_max)
    np.add.at(current, t[live], w[live])
    return np.cumsum(current)


def neuron_fire_time(v: np.ndarray, thr: float, t_max: int, delay: int = 1,
                     strict: bool = True) -> int:
    """First spike time: ``delay`` steps after ``V`` first exceeds ``thr`` (``V > thr`` with
    ``strict``, as the reference code), ``t_max`` when it never does in time."""
    above = np.asarray(v) > thr if strict else np.asarray(v) >= thr
    k = int(np.argmax(above)) if above.any() else t_max
    return min(k + delay, t_max) if k < t_max else t_max


def build_neuron(t_in: Sequence[int], w: Sequence[float], thr: float, t_max: int,
                 theme: dict = THEME) -> go.Figure:
    """Membrane potential of one IF neuron against its threshold, its input spikes (marker
    size: weight; blue excitatory, red inhibitory) and its first spike."""
    fig = _figure(theme, "One IF neuron", xaxis={"title": "time step", "range": [0, t_max]},
                  yaxis={"title": "potential V"}, legend={"orientation": "h", "y": -0.25})
    fig.add_trace(go.Scatter(name="V[k]", mode="lines", line={"shape": "hv", "width": 2,
                                                               "color": theme["accent"]}))
    fig.add_trace(go.Scatter(name="threshold", mode="lines",
                             line={"dash": "dash", "color": theme["threshold"], "width": 1.2}))
    fig.add_trace(go.Scatter(name="input spikes", mode="markers",
                             marker={"symbol": "line-ns-open", "size": 14, "line": {"width": 3}},
                             hovertemplate="t=%{x}, w=%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(name="output spike", mode="markers",
                             marker={"symbol": "star", "size": 16, "color": theme["good"],
                                     "line": {"width": 1, "color": theme["threshold"]}}))
    patch_neuron(fig, t_in, w, thr, t_max)
    return fig


def patch_neuron(fig: go.Figure, t_in: Sequence[int], w: Sequence[float], thr: float,
                 t_max: int) -> int:
    """Redraw the neuron of :func:`build_neuron`; returns its spike time (``t_max``: none)."""
    v = neuron_potential(t_in, w, t_max)
    t_out = neuron_fire_time(v, thr, t_max)
    t = np.asarray(t_in, dtype=np.float64).ravel()
    wt = np.asarray(w, dtype=np.float64).ravel()
    live = t < t_max
    c = _colors_of(fig)
    low = float(min(v.min(initial=0.0), 0.0))
    with fig.batch_update():
        _restyle(fig, {
            0: {"x": np.arange(t_max, dtype=np.float64), "y": v},
            1: {"x": np.array([0.0, t_max]), "y": np.array([thr, thr], dtype=np.float64)},
            2: {"x": t[live], "y": np.full(int(live.sum()), low),
                "text": [f"{x:+.2f}" for x in wt[live]],
                "marker.color": [c["positive"] if x >= 0 else c["negative"] for x in wt[live]],
                "marker.size": list(8 + 14 * np.abs(wt[live]) / max(np.abs(wt).max(), 1e-9))},
            3: {"x": np.array([t_out], np.float64) if t_out < t_max else _f([]),
                "y": np.array([thr], np.float64) if t_out < t_max else _f([])},
        })
        fig.layout.title.text = (f"One IF neuron: fires at t = {t_out}" if t_out < t_max
                                 else "One IF neuron: silent (never exceeds the threshold)")
    return t_out


def _colors_of(fig: go.Figure) -> dict:
    meta = fig.layout.meta
    meta = dict(meta) if isinstance(meta, dict) else {}
    return {"positive": meta.get("accent", THEME["positive"]),
            "negative": meta.get("bad", THEME["negative"]), **meta}


# ------------------------------------------------------------------ STiDi-BP -----------
def build_displacement(n_layers: int, theme: dict = THEME) -> go.Figure:
    """Left: mean |requested displacement| ``T - t`` per layer over trainer steps. Right:
    histogram of the last step's requested displacements per layer (bars) and of the
    realised change of the probed samples' spike times (lines)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("mean |T - t| per step", "last step: T - t"))
    _figure(theme, "Spike-time displacement", fig=fig, barmode="overlay",
            legend={"orientation": "h", "y": -0.3, "x": 0})
    pal = theme["palette"]
    names = layer_names(max(n_layers, 1))
    for i, name in enumerate(names):
        fig.add_trace(go.Scatter(name=name, mode="lines", legendgroup=name,
                                 line={"width": 1.5, "color": pal[i % len(pal)]}), 1, 1)
    for i, name in enumerate(names):
        fig.add_trace(go.Bar(name=f"{name} requested", legendgroup=name, opacity=0.55,
                             marker={"color": pal[i % len(pal)]}, showlegend=False), 1, 2)
    for i, name in enumerate(names):
        fig.add_trace(go.Scatter(name=f"{name} realised", legendgroup=name, mode="lines",
                                 line={"shape": "hvh", "dash": "dot",
                                       "color": pal[i % len(pal)]}, showlegend=False), 1, 2)
    fig.update_xaxes(title_text="trainer step", row=1, col=1)
    fig.update_xaxes(title_text="displacement (steps; > 0: fire later)", row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="share", tickformat=".0%", row=1, col=2)
    patch_displacement(fig, _f([]), np.zeros((0, n_layers)), None)
    return fig


def _shares(hist: np.ndarray) -> np.ndarray:
    h = _f(hist)
    return h / max(h.sum(), 1.0)


def patch_displacement(fig: go.Figure, steps: np.ndarray, mean_abs: np.ndarray,
                       extra: Mapping[str, Any] | None) -> go.Figure:
    """``steps`` ``[n]``, ``mean_abs`` ``[n, L]`` (history of ``disp_requested_mean_abs``)
    and the last step's ``BatchEnd.extra`` (``disp_edges``, ``disp_requested_hist``, and
    ``disp_realised_hist`` when measured)."""
    n_layers = len(fig.data) // 3
    changes: dict[int, dict[str, Any]] = {}
    mean_abs = np.asarray(mean_abs, dtype=np.float64)
    mean_abs = mean_abs.reshape(len(steps), -1) if mean_abs.size else np.zeros((0, n_layers))
    for i in range(n_layers):
        y = mean_abs[:, i] if i < mean_abs.shape[1] else _f([])
        changes[i] = {"x": _f(steps)[: len(y)], "y": _f(y)}
    if extra and "disp_edges" in extra:
        edges = _f(extra["disp_edges"])
        mid = (edges[:-1] + edges[1:]) / 2
        req = np.asarray(extra["disp_requested_hist"])
        real = extra.get("disp_realised_hist")
        for i in range(n_layers):
            changes[n_layers + i] = {"x": mid, "y": _shares(req[i]) if i < len(req) else _f([])}
            ok = real is not None and i < len(real)
            changes[2 * n_layers + i] = {"x": mid if ok else _f([]),
                                         "y": _shares(real[i]) if ok else _f([])}
    else:
        for i in range(n_layers, 3 * n_layers):
            changes[i] = {"x": _f([]), "y": _f([])}
    with fig.batch_update():
        _restyle(fig, changes)
        _note(fig, "" if len(steps) else "no training steps yet")
    return fig


# ------------------------------------------------------------------ proxy learning -----
def build_twin(n_layers: int, theme: dict = THEME) -> go.Figure:
    """ANN activation (x) against SNN firing rate count/T (y) of the same neurons, one
    colour per layer; the dashed curve is ``min(a / thr, 1)``, where an IF neuron driven by a
    constant current ``a`` would sit."""
    fig = _figure(theme, "ANN vs SNN: the same neurons",
                  xaxis={"title": "ANN activation (ReLU)", "rangemode": "tozero"},
                  yaxis={"title": "SNN rate (spikes / T)", "range": [-0.02, 1.05]},
                  legend={"orientation": "h", "y": -0.25, "x": 0})
    add_twin_traces(fig, n_layers, "min(a / thr, 1)", theme)
    patch_twin(fig, (), (), 1.0)
    return fig


def patch_twin(fig: go.Figure, ann: Sequence[np.ndarray], rate: Sequence[np.ndarray],
               thr: float) -> go.Figure:
    """Per layer ``ann[l]`` and ``rate[l]`` (same shape: samples x neurons), as in the proxy
    step's ``BatchEnd.extra`` (``twin_ann``, ``twin_rate``, ``thr``)."""
    n_layers = len(fig.data) - 1
    changes: dict[int, dict[str, Any]] = {}
    a_max = 0.0
    for i in range(n_layers):
        if i < len(ann) and i < len(rate):
            a, r = _f(ann[i]).ravel(), _f(rate[i]).ravel()
            changes[i] = {"x": a, "y": r}
            a_max = max(a_max, float(a.max(initial=0.0)))
        else:
            changes[i] = {"x": _f([]), "y": _f([])}
    a_max = max(a_max, 1.2 * thr)
    xs = np.linspace(0.0, a_max, 50)
    changes[n_layers] = {"x": xs, "y": np.minimum(xs / thr, 1.0)}
    with fig.batch_update():
        _restyle(fig, changes)
        _note(fig, "" if len(ann) else "no training steps yet")
    return fig


def build_acc_vs_t(names: Sequence[str] = ("SNN",), theme: dict = THEME,
                   title: str = "Accuracy vs read-out time") -> go.Figure:
    """Accuracy when the output is read after 1..t steps, one line per named curve, and
    horizontal reference lines (e.g. the ANN) added by :func:`patch_acc_vs_t`."""
    fig = _figure(theme, title, xaxis={"title": "time steps simulated"},
                  yaxis={"title": "accuracy", "range": [0, 1.02], "tickformat": ".0%"},
                  legend={"orientation": "h", "y": -0.25, "x": 0})
    pal = theme["palette"]
    for i, name in enumerate(names):
        fig.add_trace(go.Scatter(name=name, mode="lines+markers", marker={"size": 4},
                                 line={"width": 1.5, "color": pal[i % len(pal)]}))
    patch_acc_vs_t(fig, {})
    return fig


def patch_acc_vs_t(fig: go.Figure, curves: Mapping[str, Sequence[float]],
                   levels: Mapping[str, float] | None = None, t_train: int | None = None
                   ) -> go.Figure:
    """``curves``: name -> accuracy after 1..t steps (matched to the traces by name);
    ``levels``: name -> accuracy drawn as a horizontal line; ``t_train``: a vertical line at
    the training ``T``."""
    changes = {}
    for i, tr in enumerate(fig.data):
        y = curves.get(tr.name)
        changes[i] = {"x": np.arange(1, len(y) + 1, dtype=np.float64), "y": _f(y)} \
            if y is not None else {"x": _f([]), "y": _f([])}
    with fig.batch_update():
        _restyle(fig, changes)
        shapes, notes = [], [a for a in fig.layout.annotations if a.name == "note"]
        for name, acc in (levels or {}).items():
            if np.isfinite(acc):
                shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": acc,
                               "y1": acc, "line": {"dash": "dot", "width": 1,
                                                   "color": "#6b7280"}})
                notes.append({"text": f"{name} {acc:.1%}", "xref": "paper", "x": 1, "y": acc,
                              "xanchor": "right", "yanchor": "bottom", "showarrow": False})
        if t_train is not None:
            shapes.append({"type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": t_train,
                           "x1": t_train, "line": {"dash": "dash", "width": 1,
                                                   "color": "#9ca3af"}})
            notes.append({"text": f"training T = {t_train}", "yref": "paper", "x": t_train,
                          "y": 1, "xanchor": "left", "yanchor": "top", "showarrow": False})
        fig.layout.shapes = shapes
        fig.layout.annotations = notes
        _note(fig, "" if any(len(v) for v in curves.values()) else "nothing evaluated yet")
    return fig


# ------------------------------------------------------------------ comparison ---------
_COMPARE_PANELS = ("test accuracy by epoch (validation)", "decision time (steps)",
                   "spikes per sample", "training wall time (s)")


def build_compare(rows: Sequence[Mapping[str, Any]], theme: dict = THEME) -> go.Figure:
    """Algorithms side by side: validation accuracy per epoch (lines), mean decision time,
    spikes per test sample and training wall time (bars). ``rows``: one mapping per
    algorithm with ``name``, ``val_accuracy`` (per epoch), ``decision_time``,
    ``spikes_per_sample``, ``wall_seconds``."""
    fig = make_subplots(rows=2, cols=2, subplot_titles=_COMPARE_PANELS,
                        vertical_spacing=0.18, horizontal_spacing=0.12)
    _figure(theme, "Algorithms on the same data and seed", fig=fig, height=620,
            showlegend=True, legend={"orientation": "h", "y": -0.12, "x": 0})
    pal = theme["palette"]
    for i, row in enumerate(rows):
        fig.add_trace(go.Scatter(name=str(row["name"]), mode="lines+markers", legendgroup=str(i),
                                 line={"color": pal[i % len(pal)]}), 1, 1)
    for r, c in ((1, 2), (2, 1), (2, 2)):
        fig.add_trace(go.Bar(showlegend=False, marker={"color": [pal[i % len(pal)]
                                                                 for i in range(len(rows))]},
                             texttemplate="%{y:.3~g}", textposition="outside"), r, c)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text="epoch", dtick=1, row=1, col=1)
    patch_compare(fig, rows)
    return fig


def patch_compare(fig: go.Figure, rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Fill :func:`build_compare`'s traces (same rows, same order)."""
    n = len(rows)
    names = [str(r["name"]) for r in rows]
    changes: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        acc = _f([np.nan if a is None else a for a in row.get("val_accuracy", ())])
        changes[i] = {"x": np.arange(1, len(acc) + 1, dtype=np.float64), "y": acc}
    for j, key in enumerate(("decision_time", "spikes_per_sample", "wall_seconds")):
        changes[n + j] = {"x": names, "y": _f([r.get(key, np.nan) for r in rows])}
    with fig.batch_update():
        _restyle(fig, changes)
    return fig
