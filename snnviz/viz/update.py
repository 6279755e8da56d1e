"""In-place updaters for the figures of :mod:`snnviz.viz.figures`.

``patch_*(fig, data)`` rewrites the data of a figure made by the matching ``build_*`` inside
``with fig.batch_update():`` and returns the same object. This serves a ``go.FigureWidget``
in a notebook (one update message per patch) and a ``go.Figure`` shown by
``pn.pane.Plotly`` (refresh the pane afterwards with ``pane.param.trigger("object")``; only
the arrays that changed are sent to the browser). The trace layout of a figure never changes
here: when a run's shape changes (layers, classes), build a new figure.

Per-point values inside nested properties (``marker.color``) are plain lists, never numpy
arrays, because ``pn.pane.Plotly`` moves nested arrays out of the figure it serialises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from snnviz.record.recorder import Snapshot
from snnviz.training.events import EvalEnd, Probe, ProbeLayer

__all__ = [
    "patch_curves", "patch_sign_flips", "patch_race", "patch_membrane", "patch_raster",
    "patch_spike_hist", "patch_confusion", "patch_input", "patch_weight_hist",
    "patch_weight_tiles", "race_outcome", "layer_names",
]

_EMPTY = np.zeros(0)


def _f(a: Any) -> np.ndarray:
    """float64 copy for plotting (int64 and int32 arrays become floats)."""
    return np.asarray(a, dtype=np.float64)


def _note(fig: go.Figure, text: str) -> None:
    """Show ``text`` in the middle of the figure (empty: hide it)."""
    for ann in fig.layout.annotations:
        if ann.name == "note":
            ann.text, ann.visible = text, bool(text)
            return
    if text:
        fig.add_annotation(text=text, name="note", visible=True, showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5, font={"size": 13, "color": "#6b7280"})


def layer_names(n_layers: int, with_input: bool = False) -> list[str]:
    """Display names of ``n_layers`` weight layers: hidden 1..n-1, output (and input)."""
    names = [f"hidden {i + 1}" for i in range(n_layers - 1)] + ["output"]
    return ["input", *names] if with_input else names


def _colors(fig: go.Figure) -> dict:
    """The theme colours a builder stored in ``layout.meta``."""
    meta = fig.layout.meta
    return dict(meta) if isinstance(meta, dict) else {}


def _cursor(fig: go.Figure, t_cursor: int | None) -> None:
    for shape in fig.layout.shapes:
        shape.x0 = shape.x1 = 0 if t_cursor is None else t_cursor
        shape.visible = t_cursor is not None


def patch_curves(fig: go.Figure, snap: Snapshot) -> go.Figure:
    """Loss, batch / running / per-epoch training accuracy and validation accuracy."""
    with fig.batch_update():
        d, step = fig.data, _f(snap.step)
        d[0].x, d[0].y = step, _f(snap.loss)
        d[1].x, d[1].y = step, _f(snap.accuracy)
        d[2].x, d[2].y = step, _f(snap.running_accuracy)
        d[3].x, d[3].y = _f(snap.epoch_step), _f(snap.train_accuracy)
        d[4].x, d[4].y = _f(snap.epoch_step), _f(snap.val_accuracy)
        _note(fig, "" if len(step) else "no training steps yet: press Start or Step")
    return fig


def patch_sign_flips(fig: go.Figure, snap: Snapshot) -> go.Figure:
    """One line per layer: weights whose sign changed during each trainer step."""
    with fig.batch_update():
        n = snap.sign_flips.shape[1]
        for i, trace in enumerate(fig.data):
            has = i < n
            trace.x = _f(snap.step) if has else _EMPTY
            trace.y = _f(snap.sign_flips[:, i]) if has else _EMPTY
        if n == 0:
            _note(fig, "no sign flips recorded (real-valued weights, or no steps yet)")
        else:
            _note(fig, "")
    return fig


def race_outcome(t_out: np.ndarray, t_max: int) -> tuple[str, np.ndarray]:
    """``("winner" | "tie" | "silent", leaders)`` of an output race ``t_out`` ``[K]``."""
    t = np.asarray(t_out)
    fired = t < t_max
    if not fired.any():
        return "silent", np.zeros(0, np.int64)
    leaders = np.flatnonzero(fired & (t == t.min()))
    return ("winner" if len(leaders) == 1 else "tie"), leaders


def patch_race(fig: go.Figure, probe: Probe | None, classes: Sequence[str], *,
               targets: np.ndarray | None = None) -> go.Figure:
    """Bars of the output layer's spike times; winner, ties and silent classes coloured."""
    th = _colors(fig)
    with fig.batch_update():
        bars, tgt = fig.data[0], fig.data[1]
        if probe is None or not probe.layers:
            bars.x, bars.y, bars.text, bars.marker.color = _EMPTY, [], [], []
            tgt.x, tgt.y = _EMPTY, []
            fig.layout.title.text = "Output race"
            _note(fig, "no sample probed yet")
            return fig
        t, t_max = np.asarray(probe.layers[-1].times), probe.t_max
        names = [str(c) for c in classes] if len(classes) == len(t) else [str(k) for k in
                                                                           range(len(t))]
        labels = [f"{n} \u2605" if k == probe.label else n for k, n in enumerate(names)]
        kind, leaders = race_outcome(t, t_max)
        colors, text = [], []
        for k, tk in enumerate(t):
            if tk >= t_max:
                colors.append(th["muted"])
                text.append("no spike")
            elif k in leaders and kind == "tie":
                colors.append(th["tie"])
                text.append(f"t={tk} tie")
            elif k in leaders:
                colors.append(th["good"] if k == probe.label else th["bad"])
                text.append(f"t={tk} first")
            else:
                colors.append(th["accent"])
                text.append(f"t={tk}")
        bars.x, bars.y, bars.text, bars.marker.color = _f(np.minimum(t, t_max)), labels, text, colors
        if targets is not None:
            tgt.x, tgt.y = _f(targets), labels
        else:
            tgt.x, tgt.y = _EMPTY, []
        fig.layout.xaxis.range = [0, t_max]
        if kind == "silent":
            outcome = "no output spike"
        elif kind == "tie":
            outcome = f"tie between {', '.join(names[k] for k in leaders)} at t={t.min()}"
        else:
            outcome = f"first: {names[leaders[0]]} at t={t.min()}"
        label = names[probe.label] if 0 <= probe.label < len(names) else str(probe.label)
        fig.layout.title.text = (f"Output race: sample {probe.sample_index}, "
                                 f"label {label} \u2605, {outcome}")
        _note(fig, "")
    return fig


def patch_membrane(fig: go.Figure, layer: ProbeLayer | None, t_max: int, *,
                   neurons: Sequence[int] | None = None, names: Sequence[str] | None = None,
                   t_cursor: int | None = None) -> go.Figure:
    """Potentials of the chosen ``neurons`` (default: the first traced ones, i.e. the
    earliest to fire), cut at ``t_cursor`` if given, with the threshold and the spikes."""
    pal = _colors(fig).get("palette") or ["#2563eb"]
    n_lines = len(fig.data) - 2
    with fig.batch_update():
        lines, thr_line, spikes = fig.data[:n_lines], fig.data[-2], fig.data[-1]
        cols: list[int] = []
        if layer is not None:
            traced = np.asarray(layer.neurons)
            if neurons is None:
                cols = list(range(min(n_lines, len(traced))))
            else:
                cols = [int(np.flatnonzero(traced == j)[0]) for j in neurons if j in traced]
            cols = cols[:n_lines]
        v = np.asarray(layer.v_trace) if layer is not None else np.zeros((0, 0))
        end = v.shape[0] if t_cursor is None else int(np.clip(t_cursor + 1, 0, v.shape[0]))
        x = np.arange(end, dtype=np.float64)
        sx, sy, sc = [], [], []
        for k, trace in enumerate(lines):
            if k < len(cols):
                j = int(layer.neurons[cols[k]])
                trace.x, trace.y = x, _f(v[:end, cols[k]])
                trace.name = names[j] if names is not None and j < len(names) else f"neuron {j}"
                trace.visible = True
                tj = int(layer.times[j])
                if tj < t_max and (t_cursor is None or tj <= t_cursor):
                    sx.append(tj)
                    sy.append(layer.thr)
                    sc.append(pal[k % len(pal)])
            else:
                trace.x, trace.y, trace.visible = _EMPTY, _EMPTY, False
        thr = layer.thr if layer is not None else np.nan
        thr_line.x, thr_line.y = _f([0, t_max]), _f([thr, thr])
        spikes.x, spikes.y, spikes.marker.color = _f(sx), _f(sy), sc
        fig.layout.xaxis.range = [0, max(t_max, 1)]
        _cursor(fig, t_cursor)
        _note(fig, "" if cols else "no membrane trace yet")
    return fig


def patch_raster(fig: go.Figure, probe: Probe | None, *, t_cursor: int | None = None
                 ) -> go.Figure:
    """Spike times of every layer of one sample (silent neurons, and spikes after
    ``t_cursor``, left out); the row titles count the neurons that spiked."""
    n_rows = len(fig.data)
    names = layer_names(n_rows - 1, with_input=True)
    with fig.batch_update():
        times = [] if probe is None else [probe.t_in, *(L.times for L in probe.layers)]
        titles = [a for a in fig.layout.annotations if a.name != "note"]
        for r, trace in enumerate(fig.data):
            if r >= len(times):
                trace.x, trace.y = _EMPTY, _EMPTY
                continue
            t = np.asarray(times[r])
            keep = t < probe.t_max
            if t_cursor is not None:
                keep &= t <= t_cursor
            idx = np.flatnonzero(keep)
            trace.x, trace.y = _f(t[idx]), _f(idx)
            if r < len(titles):
                titles[r].text = f"{names[r]}: {int((t < probe.t_max).sum())}/{len(t)} spiked"
        if probe is not None:
            fig.layout.title.text = f"Spike raster: sample {probe.sample_index}"
        _cursor(fig, t_cursor)
        _note(fig, "" if times else "no sample probed yet")
    return fig


def patch_spike_hist(fig: go.Figure, ev: EvalEnd | None, t_max: int) -> go.Figure:
    """Per layer, the fraction of (neuron, sample) pairs that fired at each time step."""
    hists = ev.spike_time_hist if ev is not None else ()
    names = layer_names(len(fig.data))
    with fig.batch_update():
        for i, trace in enumerate(fig.data):
            if i >= len(hists):
                trace.x, trace.y = _EMPTY, _EMPTY
                continue
            h = np.asarray(hists[i], dtype=np.float64)
            total = max(h.sum(), 1.0)
            trace.x, trace.y = np.arange(len(h) - 1, dtype=np.float64), h[:-1] / total
            trace.name = f"{names[i]} ({h[-1] / total:.0%} silent)"
        if hists:
            fig.layout.title.text = (f"Spike-time histogram: {ev.split}, epoch {ev.epoch + 1}, "
                                     f"{ev.n} samples")
        fig.layout.xaxis.range = [0, max(t_max, 1)]
        _note(fig, "" if hists else "shown after the first validation pass")
    return fig


def patch_confusion(fig: go.Figure, ev: EvalEnd | None, classes: Sequence[str]) -> go.Figure:
    """Counts (text) and row-normalised shares (colour) of true class x decision."""
    with fig.batch_update():
        hm = fig.data[0]
        if ev is None or ev.confusion.size == 0:
            hm.z, hm.x, hm.y, hm.text = None, [], [], None
            _note(fig, "shown after the first validation pass")
            return fig
        conf = np.asarray(ev.confusion, dtype=np.int64)
        k = conf.shape[0]
        names = [str(c) for c in classes] if len(classes) == k else [str(i) for i in range(k)]
        hm.z = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
        hm.x, hm.y = [*names, "none"], names
        hm.text = [[str(v) for v in row] for row in conf]
        fig.layout.title.text = (f"Confusion: {ev.split}, epoch {ev.epoch + 1}, "
                                 f"accuracy {ev.accuracy:.1%}")
        _note(fig, "")
    return fig


def _spike_image(t_in: np.ndarray, shape: tuple[int, int], t_max: int,
                 t_cursor: int | None) -> np.ndarray:
    t = np.asarray(t_in, dtype=np.float64).reshape(-1, *shape).min(axis=0)  # [H, W]
    hide = t >= t_max if t_cursor is None else (t >= t_max) | (t > t_cursor)
    return np.where(hide, np.nan, t)


def patch_input(fig: go.Figure, image: np.ndarray | None, probe: Probe | None, *,
                t_cursor: int | None = None) -> go.Figure:
    """Image ``[H, W]`` (left) and input spike times (right) of the probed sample."""
    with fig.batch_update():
        img, spk = fig.data
        if image is None or probe is None:
            img.z, spk.z = None, None
            _note(fig, "no sample selected")
            return fig
        image = np.asarray(image, dtype=np.float64)
        img.z = image
        z = _spike_image(probe.t_in, image.shape, probe.t_max, t_cursor)
        spk.z, spk.zmax = z, probe.t_max
        when = "" if t_cursor is None else f" by t={t_cursor}"
        n = int(np.isfinite(z).sum())
        fig.layout.title.text = (f"Input: sample {probe.sample_index}, label {probe.label}, "
                                 f"{n} pixels spiked{when}")
        _note(fig, "")
    return fig


def patch_weight_hist(fig: go.Figure, w: np.ndarray | None, *, bins: int = 60,
                      title: str = "Latent weights") -> go.Figure:
    """Histogram of ``w`` with 0 as a bin edge; negative and non-negative bars apart."""
    with fig.batch_update():
        neg, pos = fig.data
        if w is None or np.size(w) == 0:
            neg.x = neg.y = pos.x = pos.y = _EMPTY
            _note(fig, "no weights yet")
            return fig
        w = np.asarray(w, dtype=np.float64).ravel()
        m = float(np.abs(w).max()) or 1.0
        half = max(bins // 2, 1)
        edges = np.linspace(-m, m, 2 * half + 1)
        centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
        below = w < 0
        neg.x, neg.y, neg.width = centres, _f(np.histogram(w[below], edges)[0]), width
        pos.x, pos.y, pos.width = centres, _f(np.histogram(w[~below], edges)[0]), width
        fig.layout.title.text = f"{title}: {int(below.sum())} negative, {int((~below).sum())} non-negative"
        _note(fig, "")
    return fig


def patch_weight_tiles(fig: go.Figure, tiles: np.ndarray | None, *,
                       title: str = "First-layer weights per hidden neuron") -> go.Figure:
    """Replace the tiled image (see :func:`snnviz.viz.figures.tile_rows`)."""
    with fig.batch_update():
        hm = fig.data[0]
        hm.z = None if tiles is None else _f(tiles)
        fig.layout.title.text = title
        _note(fig, "" if tiles is not None else "no weights yet")
    return fig
