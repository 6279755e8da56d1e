"""Pure Plotly figure builders for spiking-network training views.

Every ``build_*`` function takes plain data (a :class:`~snnviz.record.Snapshot` or parts of
it: a ``Probe``, an ``EvalEnd``, numpy arrays) and an explicit ``theme`` dict, and returns a
new ``plotly.graph_objects.Figure``. A builder lays out the traces of a view and fills them
with the matching ``patch_*`` function of :mod:`snnviz.viz.update`, so a figure built from
one snapshot and a figure patched to it are identical. Nothing here touches global Plotly
state (no default template, no pyplot).

Views: training curves, sign flips per layer, the output layer's first-spike race, membrane
potentials against the threshold, spike raster per layer, spike-time histograms, confusion
matrix, input image with its spike times, latent-weight histogram coloured by sign, and
first-layer weights (or sign-flip counts) tiled as input images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from snnviz.record.recorder import Snapshot
from snnviz.training.events import EvalEnd, Probe, ProbeLayer
from snnviz.viz import update as up
from snnviz.viz.update import layer_names

__all__ = [
    "THEME", "layer_names", "tile_rows", "build_curves", "build_sign_flips", "build_race",
    "build_membrane", "build_raster", "build_spike_hist", "build_confusion", "build_input",
    "build_weight_hist", "build_weight_tiles", "build_stidi_displacement",
    "build_twin_scatter", "build_ann_snn_accuracy", "build_decision_time",
]

THEME: dict[str, Any] = {
    "template": "none",           # no Plotly template: small layouts, cheap live updates
    "background": "#ffffff", "grid": "#e5e7eb", "axis": "#9ca3af", "text": "#1f2937",
    "font": {"family": "Inter, 'Segoe UI', Helvetica, Arial, sans-serif", "size": 12},
    "height": 300,
    "margin": {"l": 55, "r": 20, "t": 45, "b": 45},
    "palette": ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777",
                "#65a30d", "#4f46e5", "#a16207"),
    "accent": "#2563eb", "good": "#16a34a", "bad": "#dc2626", "tie": "#f59e0b",
    "muted": "#9ca3af", "threshold": "#111827", "positive": "#2563eb", "negative": "#dc2626",
    "sequential": "Viridis", "diverging": "RdBu", "counts": "Blues", "image": "gray",
}


def tile_rows(w: np.ndarray, in_shape: Sequence[int], n_tiles: int = 16,
              n_cols: int = 4) -> np.ndarray:
    """Tile the first ``n_tiles`` rows of ``w`` ``[N, D]`` as images with NaN gutters.

    Args:
        w: one row per neuron, ``D = prod(in_shape)``.
        in_shape: ``(H, W)`` or ``(C, H, W)`` (channels are averaged).
        n_tiles: neurons shown; n_cols: tiles per row.

    Returns:
        float ``[rows * (H + 1) - 1, n_cols * (W + 1) - 1]``.
    """
    w = np.asarray(w, dtype=np.float64)
    shape = tuple(int(s) for s in in_shape)
    if int(np.prod(shape)) != w.shape[1]:
        raise ValueError(f"tile_rows: rows of length {w.shape[1]} do not fit shape {shape}")
    n = min(n_tiles, w.shape[0])
    imgs = w[:n].reshape(n, *shape)
    if imgs.ndim == 4:
        imgs = imgs.mean(axis=1)                                            # [n, H, W]
    h, wd = imgs.shape[1:]
    n_cols = max(1, min(n_cols, n))
    n_rows = -(-n // n_cols)
    out = np.full((n_rows * (h + 1) - 1, n_cols * (wd + 1) - 1), np.nan)
    for k in range(n):
        r, c = divmod(k, n_cols)
        out[r * (h + 1): r * (h + 1) + h, c * (wd + 1): c * (wd + 1) + wd] = imgs[k]
    return out


def _figure(theme: dict, title: str, height: int | None = None, fig: go.Figure | None = None,
            **layout: Any) -> go.Figure:
    fig = fig if fig is not None else go.Figure()
    colors = {k: theme[k] for k in ("accent", "good", "bad", "tie", "muted", "threshold")}
    fig.update_layout(template=theme["template"], font=dict(theme["font"], color=theme["text"]),
                      margin=theme["margin"], paper_bgcolor=theme["background"],
                      plot_bgcolor=theme["background"], colorway=list(theme["palette"]),
                      height=height or theme["height"], title={"text": title, "x": 0.01},
                      uirevision="keep", meta=dict(colors, palette=list(theme["palette"])),
                      **layout)
    axes = {"gridcolor": theme["grid"], "linecolor": theme["axis"], "zeroline": False,
            "automargin": True}
    fig.update_xaxes(**axes)
    fig.update_yaxes(**axes)
    return fig


def build_curves(snap: Snapshot, theme: dict = THEME) -> go.Figure:
    """Loss (left) and accuracy (right) over trainer steps; validation accuracy per epoch."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"),
                        horizontal_spacing=0.1)
    _figure(theme, "Training curves", fig=fig,
            legend={"orientation": "h", "y": -0.3, "x": 0})
    line = {"width": 1.5}
    fig.add_trace(go.Scatter(name="loss", mode="lines", line=dict(line, color=theme["bad"]),
                             showlegend=False), 1, 1)
    fig.add_trace(go.Scatter(name="batch", mode="lines", opacity=0.35,
                             line=dict(line, color=theme["muted"])), 1, 2)
    fig.add_trace(go.Scatter(name="train (epoch so far)", mode="lines",
                             line=dict(line, color=theme["accent"])), 1, 2)
    fig.add_trace(go.Scatter(name="train (epoch)", mode="markers",
                             marker={"color": theme["accent"], "size": 8, "symbol": "circle"}),
                  1, 2)
    fig.add_trace(go.Scatter(name="validation", mode="lines+markers",
                             line=dict(line, color=theme["good"]),
                             marker={"size": 8, "symbol": "diamond"}), 1, 2)
    fig.update_xaxes(title_text="trainer step")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    up.patch_curves(fig, snap)
    return fig


def build_sign_flips(snap: Snapshot, theme: dict = THEME) -> go.Figure:
    """Weight sign flips per trainer step, one line per layer (binary-weight algorithms)."""
    n = snap.sign_flips.shape[1]
    if n == 0 and snap.run is not None:
        n = len(snap.run.layer_sizes) - 1
    fig = _figure(theme, "Sign flips per trainer step",
                  xaxis={"title": "trainer step"},
                  yaxis={"title": "flipped weights", "rangemode": "tozero"},
                  legend={"orientation": "h", "y": -0.25, "x": 0})
    for i, name in enumerate(layer_names(max(n, 1))[:n]):
        fig.add_trace(go.Scatter(name=name, mode="lines", line={"width": 1.5,
                                 "color": theme["palette"][i % len(theme["palette"])]}))
    up.patch_sign_flips(fig, snap)
    return fig


def build_race(probe: Probe | None, classes: Sequence[str], theme: dict = THEME,
               targets: np.ndarray | None = None) -> go.Figure:
    """First-spike race of the output layer: one bar per class, ending at its spike time.

    The winner is green when it is the label and red otherwise, tied leaders are amber,
    silent classes grey; ``targets`` (``[K]``, optional) are drawn as ticks.
    """
    fig = _figure(theme, "Output race", height=max(theme["height"], 26 * len(classes) + 90),
                  bargap=0.25, showlegend=False,
                  xaxis={"title": "first spike time (steps)"},
                  yaxis={"autorange": "reversed", "type": "category"})
    fig.add_trace(go.Bar(orientation="h", name="spike time", textposition="auto",
                         insidetextanchor="end", hovertemplate="%{y}: %{text}<extra></extra>"))
    fig.add_trace(go.Scatter(name="target", mode="markers",
                             marker={"symbol": "line-ns-open", "size": 18,
                                     "color": theme["threshold"], "line": {"width": 2}},
                             hovertemplate="target %{x}<extra></extra>"))
    up.patch_race(fig, probe, classes, targets=targets)
    return fig


def build_membrane(layer: ProbeLayer | None, t_max: int, theme: dict = THEME, *,
                   n_lines: int = 10, neurons: Sequence[int] | None = None,
                   names: Sequence[str] | None = None, title: str = "Membrane potential",
                   t_cursor: int | None = None) -> go.Figure:
    """Potentials of up to ``n_lines`` neurons of one layer over time, the threshold line and
    a marker at each spike; ``t_cursor`` cuts the traces at a time step (scrubbing)."""
    fig = _figure(theme, title, xaxis={"title": "time step", "range": [0, max(t_max, 1)]},
                  yaxis={"title": "potential V"},
                  legend={"orientation": "v", "x": 1.01, "y": 1})
    pal = theme["palette"]
    for k in range(n_lines):
        fig.add_trace(go.Scatter(mode="lines", line={"width": 1.6, "color": pal[k % len(pal)]}))
    fig.add_trace(go.Scatter(name="threshold", mode="lines",
                             line={"dash": "dash", "color": theme["threshold"], "width": 1.2}))
    fig.add_trace(go.Scatter(name="spike", mode="markers",
                             marker={"symbol": "star", "size": 12,
                                     "line": {"width": 1, "color": theme["threshold"]}}))
    fig.add_vline(x=0, line={"color": theme["muted"], "width": 1}, visible=False)
    up.patch_membrane(fig, layer, t_max, neurons=neurons, names=names, t_cursor=t_cursor)
    return fig


def build_raster(probe: Probe | None, theme: dict = THEME, n_layers: int | None = None,
                 t_cursor: int | None = None) -> go.Figure:
    """Spike-time scatter of one sample: one row per layer (input first), neuron index
    against spike time; silent neurons are left out. Click a point to pick the neuron."""
    n = len(probe.layers) if probe is not None else (n_layers or 2)
    names = layer_names(n, with_input=True)
    fig = make_subplots(rows=n + 1, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=names)
    _figure(theme, "Spike raster", height=max(theme["height"], 150 * (n + 1)), fig=fig,
            showlegend=False, clickmode="event")
    pal = theme["palette"]
    for r, name in enumerate(names):
        fig.add_trace(go.Scatter(name=name, mode="markers",
                                 marker={"size": 4 if r < n else 9, "color": pal[r % len(pal)]},
                                 hovertemplate=f"{name} neuron %{{y}}: t=%{{x}}<extra></extra>"),
                      r + 1, 1)
        fig.update_yaxes(title_text="neuron", row=r + 1, col=1)
    fig.update_xaxes(title_text="spike time (steps)", row=n + 1, col=1)
    fig.add_vline(x=0, line={"color": theme["muted"], "width": 1}, visible=False)
    up.patch_raster(fig, probe, t_cursor=t_cursor)
    return fig


def build_spike_hist(ev: EvalEnd | None, t_max: int, theme: dict = THEME,
                     n_layers: int | None = None) -> go.Figure:
    """Fraction of neurons firing at each time step over an evaluation, one line per layer
    (the legend gives each layer's silent fraction)."""
    n = len(ev.spike_time_hist) if ev is not None and ev.spike_time_hist else (n_layers or 2)
    fig = _figure(theme, "Spike-time histogram",
                  xaxis={"title": "spike time (steps)", "range": [0, max(t_max, 1)]},
                  yaxis={"title": "fraction of neurons", "rangemode": "tozero"},
                  legend={"orientation": "h", "y": -0.25, "x": 0})
    pal = theme["palette"]
    for i in range(n):
        fig.add_trace(go.Scatter(mode="lines", line={"shape": "hv", "width": 1.5,
                                 "color": pal[i % len(pal)]}))
    up.patch_spike_hist(fig, ev, t_max)
    return fig


def build_confusion(ev: EvalEnd | None, classes: Sequence[str], theme: dict = THEME
                    ) -> go.Figure:
    """Confusion matrix: true class (rows) against decision (columns, last: no decision);
    colour is the row-normalised fraction, text the count."""
    fig = _figure(theme, "Confusion", height=max(theme["height"], 28 * len(classes) + 110),
                  xaxis={"title": "decision", "type": "category", "side": "bottom"},
                  yaxis={"title": "true class", "type": "category", "autorange": "reversed"})
    fig.add_trace(go.Heatmap(colorscale=theme["counts"], zmin=0, zmax=1, texttemplate="%{text}",
                             hovertemplate="true %{y}, decided %{x}: %{text}<extra></extra>",
                             colorbar={"title": "row share", "tickformat": ".0%"}))
    up.patch_confusion(fig, ev, classes)
    return fig


def build_input(image: np.ndarray | None, probe: Probe | None, theme: dict = THEME,
                t_cursor: int | None = None) -> go.Figure:
    """The input image (left) and its input spike times (right; silent pixels blank,
    pixels that have not spiked by ``t_cursor`` blank too)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("image", "input spike time"),
                        horizontal_spacing=0.12)
    _figure(theme, "Input", fig=fig, height=theme["height"])
    fig.add_trace(go.Heatmap(colorscale=theme["image"], showscale=False,
                             hovertemplate="(%{y}, %{x}): %{z:.0f}<extra></extra>"), 1, 1)
    fig.add_trace(go.Heatmap(colorscale=theme["sequential"], reversescale=True, zmin=0,
                             colorbar={"title": "t", "x": 1.02},
                             hovertemplate="(%{y}, %{x}): t=%{z}<extra></extra>"), 1, 2)
    for c in (1, 2):
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{'' if c == 1 else 2}",
                         showticklabels=False, showgrid=False, row=1, col=c)
        fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=c)
    up.patch_input(fig, image, probe, t_cursor=t_cursor)
    return fig


def build_weight_hist(w: np.ndarray | None, theme: dict = THEME, bins: int = 60,
                      title: str = "Latent weights") -> go.Figure:
    """Histogram of (latent) weights coloured by sign (``w >= 0`` counts as +1)."""
    fig = _figure(theme, title, barmode="overlay", bargap=0,
                  xaxis={"title": "weight"}, yaxis={"title": "count"},
                  legend={"orientation": "h", "y": -0.25, "x": 0})
    fig.add_trace(go.Bar(name="negative (sign -1)", marker={"color": theme["negative"]}))
    fig.add_trace(go.Bar(name="non-negative (sign +1)", marker={"color": theme["positive"]}))
    up.patch_weight_hist(fig, w, bins=bins, title=title)
    return fig


def build_weight_tiles(tiles: np.ndarray | None, theme: dict = THEME, mode: str = "weights",
                       title: str = "First-layer weights per hidden neuron") -> go.Figure:
    """A tiled image from :func:`tile_rows`: ``mode`` ``weights`` / ``sign`` use a diverging
    scale centred at 0, ``flips`` a sequential one (flip counts)."""
    if mode not in ("weights", "sign", "flips"):
        raise ValueError(f"mode must be weights, sign or flips, got {mode!r}")
    diverging = mode != "flips"
    fig = _figure(theme, title, height=max(theme["height"], 420),
                  xaxis={"showticklabels": False, "showgrid": False},
                  yaxis={"showticklabels": False, "showgrid": False, "autorange": "reversed",
                         "scaleanchor": "x"})
    fig.add_trace(go.Heatmap(colorscale=theme["diverging"] if diverging else theme["sequential"],
                             zmid=0 if diverging else None, hoverongaps=False,
                             colorbar={"title": mode}))
    up.patch_weight_tiles(fig, tiles, title=title)
    return fig


def build_stidi_displacement(snap: Snapshot, n_layers: int | None = None, theme: dict = THEME
                             ) -> go.Figure:
    """STiDi-BP: requested vs realised spike-time displacement per layer, over trainer steps
    (left) and the last step's distribution (right); see
    :func:`snnviz.viz.update.patch_stidi_displacement`."""
    n = n_layers if n_layers is not None else (
        len(snap.run.layer_sizes) - 1 if snap.run is not None else 2)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, column_widths=(0.55, 0.45),
                        subplot_titles=("mean |displacement| per step", "last step"))
    _figure(theme, "Spike-time displacement: requested vs realised", fig=fig,
            barmode="group", legend={"orientation": "h", "y": -0.3, "x": 0})
    pal = theme["palette"]
    names = layer_names(max(n, 1))
    for i, name in enumerate(names):
        fig.add_trace(go.Scatter(name=f"{name} requested", legendgroup=name, mode="lines",
                                 line={"width": 1.5, "color": pal[i % len(pal)]}), 1, 1)
    for i, name in enumerate(names):
        fig.add_trace(go.Scatter(name=f"{name} realised", legendgroup=name, mode="markers",
                                 marker={"size": 6, "symbol": "circle-open",
                                         "color": pal[i % len(pal)]}), 1, 1)
    for i, name in enumerate(names):
        fig.add_trace(go.Bar(name=f"{name} requested", legendgroup=name, showlegend=False,
                             marker={"color": pal[i % len(pal)]}, opacity=0.85), 1, 2)
    for i, name in enumerate(names):
        fig.add_trace(go.Bar(name=f"{name} realised", legendgroup=name, showlegend=False,
                             marker={"color": pal[i % len(pal)], "pattern": {"shape": "/"}},
                             opacity=0.45), 1, 2)
    fig.update_xaxes(title_text="trainer step", row=1, col=1)
    fig.update_yaxes(title_text="steps", rangemode="tozero", row=1, col=1)
    fig.update_xaxes(title_text="displacement (steps; > 0: fire later)", type="category",
                     row=1, col=2)
    fig.update_yaxes(title_text="share", tickformat=".0%", rangemode="tozero", row=1, col=2)
    up.patch_stidi_displacement(fig, snap)
    return fig


def build_twin_scatter(extra: dict | None, n_layers: int = 2, theme: dict = THEME
                       ) -> go.Figure:
    """Proxy learning: ANN activation / threshold against SNN rate of the same neurons, one
    colour per layer, with the identity line (see
    :func:`snnviz.viz.update.patch_twin_scatter`)."""
    fig = _figure(theme, "ANN activation vs SNN rate",
                  xaxis={"title": "ANN activation / threshold", "rangemode": "tozero"},
                  yaxis={"title": "SNN rate (spikes / T)", "range": [-0.02, 1.05]},
                  legend={"orientation": "h", "y": -0.25, "x": 0})
    add_twin_traces(fig, n_layers, "identity", theme)
    up.patch_twin_scatter(fig, extra)
    return fig


def add_twin_traces(fig: go.Figure, n_layers: int, line_name: str, theme: dict = THEME
                    ) -> go.Figure:
    """The traces of an ANN-vs-SNN twin scatter: one marker trace per layer, then the dashed
    reference line named ``line_name`` (shared by the dashboard's and the notebooks' views)."""
    pal = theme["palette"]
    for i, name in enumerate(layer_names(max(n_layers, 1))):
        fig.add_trace(go.Scatter(name=name, mode="markers", opacity=0.6,
                                 marker={"size": 5, "color": pal[i % len(pal)]}))
    fig.add_trace(go.Scatter(name=line_name, mode="lines",
                             line={"dash": "dash", "color": theme["threshold"], "width": 1}))
    return fig


def build_ann_snn_accuracy(snap: Snapshot, theme: dict = THEME) -> go.Figure:
    """Proxy learning: ANN and SNN training accuracy per trainer step (moving averages),
    validation levels (see :func:`snnviz.viz.update.patch_ann_snn_accuracy`)."""
    fig = _figure(theme, "ANN vs SNN accuracy", xaxis={"title": "trainer step"},
                  yaxis={"title": "training accuracy (moving average)", "range": [0, 1.02],
                         "tickformat": ".0%"},
                  legend={"orientation": "h", "y": -0.25, "x": 0})
    fig.add_trace(go.Scatter(name="SNN", mode="lines", line={"width": 1.8,
                                                              "color": theme["accent"]}))
    fig.add_trace(go.Scatter(name="ANN", mode="lines", line={"width": 1.8, "dash": "dash",
                                                              "color": theme["bad"]}))
    up.patch_ann_snn_accuracy(fig, snap)
    return fig


def build_decision_time(names: Sequence[str], theme: dict = THEME, *,
                        title: str = "Accuracy vs decision time",
                        x_title: str = "output read at time step", t_max: int | None = None
                        ) -> go.Figure:
    """One line per named curve of accuracy against the time the output is read (see
    :func:`snnviz.viz.update.patch_decision_time`)."""
    xaxis: dict[str, Any] = {"title": x_title}
    if t_max:
        xaxis["range"] = [0, t_max]
    fig = _figure(theme, title, xaxis=xaxis,
                  yaxis={"title": "share of samples", "range": [0, 1.02], "tickformat": ".0%"},
                  legend={"orientation": "h", "y": -0.25, "x": 0})
    pal = theme["palette"]
    for i, name in enumerate(names):
        fig.add_trace(go.Scatter(name=name, mode="lines", line={"shape": "hv", "width": 1.8,
                                 "color": pal[i % len(pal)]}))
    up.patch_decision_time(fig, {})
    return fig
