"""In-place updaters for the figures of :mod:`snnviz.viz.figures`.

``patch_*(fig, data)`` rewrites the data of a figure made by the matching ``build_*`` inside
``with fig.batch_update():`` and returns the same object. This serves a ``go.FigureWidget``
in a notebook (one update message per patch) and a ``go.Figure`` shown by
``pn.pane.Plotly`` (refresh the pane afterwards with ``pane.param.trigger("object")``; only
the arrays that changed are sent to the browser). The trace layout of a figure never changes
here: when a run's shape changes (layers, classes), build a new figure.

Per-point values inside nested properties (``marker.color``) are plain lists, never numpy
arrays, because ``pn.pane.Plotly`` moves nested arrays out of the figure it serialises.
Trace data is set with one ``plotly_restyle`` call per figure.
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
    "patch_weight_tiles", "race_outcome", "layer_names", "thin", "patch_stidi_displacement",
    "patch_twin_scatter", "patch_ann_snn_accuracy", "patch_decision_time",
]

_EMPTY = np.zeros(0)


def _f(a: Any) -> np.ndarray:
    """float64 copy for plotting (int64 and int32 arrays become floats)."""
    return np.asarray(a, dtype=np.float64)


def _note(fig: go.Figure, text: str) -> None:
    """Show ``text`` in the middle of the figure (empty: hide it)."""
    raw = fig._layout.get("annotations") or ()        # plain dicts: cheap to compare
    for i, a in enumerate(raw):
        if a.get("name") == "note":
            if a.get("text", "") != text or a.get("visible", True) != bool(text):
                ann = fig.layout.annotations[i]
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


def _restyle(fig: go.Figure, changes: dict[int, dict[str, Any]]) -> None:
    """Set ``{trace index: {property path: value}}`` with one ``plotly_restyle`` call per
    group of traces changing the same properties (much cheaper than one assignment each)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, props in changes.items():
        groups.setdefault(tuple(sorted(props)), []).append(i)
    for keys, idx in groups.items():
        if keys:
            fig.plotly_restyle({k: [changes[i][k] for i in idx] for k in keys}, idx)


def _cursor(fig: go.Figure, t_cursor: int | None) -> None:
    for shape in fig.layout.shapes:
        shape.x0 = shape.x1 = 0 if t_cursor is None else t_cursor
        shape.visible = t_cursor is not None


def thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly strided items of ``n``, the last included."""
    stride = max(1, -(-n // max_points)) if max_points > 0 else 1
    return np.arange(n - 1, -1, -stride)[::-1]


def patch_curves(fig: go.Figure, snap: Snapshot, max_points: int = 500) -> go.Figure:
    """Loss, batch / running / per-epoch training accuracy and validation accuracy
    (per-step curves thinned to ``max_points`` for drawing)."""
    keep = thin(len(snap.step), max_points)
    step, ep = _f(snap.step[keep]), _f(snap.epoch_step)
    with fig.batch_update():
        _restyle(fig, {
            0: {"x": step, "y": _f(snap.loss[keep])},
            1: {"x": step, "y": _f(snap.accuracy[keep])},
            2: {"x": step, "y": _f(snap.running_accuracy[keep])},
            3: {"x": ep, "y": _f(snap.train_accuracy)},
            4: {"x": ep, "y": _f(snap.val_accuracy)},
        })
        _note(fig, "" if len(step) else "no training steps yet: press Start or Step")
    return fig


def patch_sign_flips(fig: go.Figure, snap: Snapshot, max_points: int = 500) -> go.Figure:
    """One line per layer: weights whose sign changed during each trainer step."""
    keep = thin(len(snap.step), max_points)
    n = snap.sign_flips.shape[1]
    with fig.batch_update():
        _restyle(fig, {i: {"x": _f(snap.step[keep]) if i < n else _EMPTY,
                           "y": _f(snap.sign_flips[keep, i]) if i < n else _EMPTY}
                       for i in range(len(fig.data))})
        _note(fig, "" if n else "no sign flips recorded (real-valued weights, or no steps yet)")
    return fig


def race_outcome(t_out: np.ndarray, t_max: int) -> tuple[str, np.ndarray]:
    """``("winner" | "tie" | "silent", leaders)`` of an output race ``t_out`` ``[K]``."""
    t = np.asarray(t_out)
    fired = t < t_max
    if not fired.any():
        return "silent", np.zeros(0, np.int64)
    leaders = np.flatnonzero(fired & (t == t.min()))
    return ("winner" if len(leaders) == 1 else "tie"), leaders


def _race_bars(t: np.ndarray, t_max: int, label: int, kind: str, leaders: np.ndarray,
               th: dict) -> tuple[list[str], list[str]]:
    """Bar colours and texts of a race."""
    colors, text = [], []
    for k, tk in enumerate(t):
        if tk >= t_max:
            colors.append(th["muted"])
            text.append("no spike")
        elif k in leaders and kind == "tie":
            colors.append(th["tie"])
            text.append(f"t={tk} tie")
        elif k in leaders:
            colors.append(th["good"] if k == label else th["bad"])
            text.append(f"t={tk} first")
        else:
            colors.append(th["accent"])
            text.append(f"t={tk}")
    return colors, text


def patch_race(fig: go.Figure, probe: Probe | None, classes: Sequence[str], *,
               targets: np.ndarray | None = None) -> go.Figure:
    """Bars of the output layer's spike times; winner, ties and silent classes coloured."""
    with fig.batch_update():
        if probe is None or not probe.layers:
            _restyle(fig, {0: {"x": _EMPTY, "y": [], "text": [], "marker.color": []},
                           1: {"x": _EMPTY, "y": []}})
            fig.layout.title.text = "Output race"
            _note(fig, "no sample probed yet")
            return fig
        t, t_max = np.asarray(probe.layers[-1].times), probe.t_max
        names = [str(c) for c in classes] if len(classes) == len(t) else [str(k) for k in
                                                                           range(len(t))]
        labels = [f"{n} \u2605" if k == probe.label else n for k, n in enumerate(names)]
        kind, leaders = race_outcome(t, t_max)
        colors, text = _race_bars(t, t_max, probe.label, kind, leaders, _colors(fig))
        _restyle(fig, {
            0: {"x": _f(np.minimum(t, t_max)), "y": labels, "text": text,
                "marker.color": colors},
            1: {"x": _f(targets), "y": labels} if targets is not None else {"x": _EMPTY,
                                                                             "y": []},
        })
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


def _chosen_columns(layer: ProbeLayer | None, neurons: Sequence[int] | None,
                    n_lines: int) -> list[int]:
    """Columns of ``layer.v_trace`` to draw: the chosen neurons, or the first traced."""
    if layer is None:
        return []
    traced = np.asarray(layer.neurons)
    if neurons is None:
        return list(range(min(n_lines, len(traced))))
    return [int(np.flatnonzero(traced == j)[0]) for j in neurons if j in traced][:n_lines]


def patch_membrane(fig: go.Figure, layer: ProbeLayer | None, t_max: int, *,
                   neurons: Sequence[int] | None = None, names: Sequence[str] | None = None,
                   t_cursor: int | None = None) -> go.Figure:
    """Potentials of the chosen ``neurons`` (default: the first traced ones, i.e. the
    earliest to fire), cut at ``t_cursor`` if given, with the threshold and the spikes."""
    pal = _colors(fig).get("palette") or ["#2563eb"]
    n_lines = len(fig.data) - 2
    cols = _chosen_columns(layer, neurons, n_lines)
    v = np.asarray(layer.v_trace) if layer is not None else np.zeros((0, 0))
    end = v.shape[0] if t_cursor is None else int(np.clip(t_cursor + 1, 0, v.shape[0]))
    x = np.arange(end, dtype=np.float64)
    changes: dict[int, dict[str, Any]] = {}
    sx, sy, sc = [], [], []
    for k in range(n_lines):
        if k >= len(cols):
            changes[k] = {"x": _EMPTY, "y": _EMPTY, "visible": False}
            continue
        j = int(layer.neurons[cols[k]])
        name = names[j] if names is not None and j < len(names) else f"neuron {j}"
        changes[k] = {"x": x, "y": _f(v[:end, cols[k]]), "name": name, "visible": True}
        tj = int(layer.times[j])
        if tj < t_max and (t_cursor is None or tj <= t_cursor):
            sx.append(tj)
            sy.append(layer.thr)
            sc.append(pal[k % len(pal)])
    thr = layer.thr if layer is not None else np.nan
    changes[n_lines] = {"x": _f([0, t_max]), "y": _f([thr, thr])}
    changes[n_lines + 1] = {"x": _f(sx), "y": _f(sy), "marker.color": sc}
    with fig.batch_update():
        _restyle(fig, changes)
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
    times = [] if probe is None else [probe.t_in, *(L.times for L in probe.layers)]
    changes: dict[int, dict[str, Any]] = {}
    counts = []
    for r in range(n_rows):
        if r >= len(times):
            changes[r] = {"x": _EMPTY, "y": _EMPTY}
            continue
        t = np.asarray(times[r])
        keep = t < probe.t_max
        counts.append(f"{names[r]}: {int(keep.sum())}/{len(t)} spiked")
        if t_cursor is not None:
            keep &= t <= t_cursor
        idx = np.flatnonzero(keep)
        changes[r] = {"x": _f(t[idx]), "y": _f(idx)}
    with fig.batch_update():
        _restyle(fig, changes)
        titles = [a for a in fig.layout.annotations if a.name != "note"]
        for title, text in zip(titles, counts):
            title.text = text
        if probe is not None:
            fig.layout.title.text = f"Spike raster: sample {probe.sample_index}"
        _cursor(fig, t_cursor)
        _note(fig, "" if times else "no sample probed yet")
    return fig


def patch_spike_hist(fig: go.Figure, ev: EvalEnd | None, t_max: int) -> go.Figure:
    """Per layer, the fraction of (neuron, sample) pairs that fired at each time step."""
    hists = ev.spike_time_hist if ev is not None else ()
    names = layer_names(len(fig.data))
    changes: dict[int, dict[str, Any]] = {}
    for i in range(len(fig.data)):
        if i >= len(hists):
            changes[i] = {"x": _EMPTY, "y": _EMPTY}
            continue
        h = np.asarray(hists[i], dtype=np.float64)
        total = max(h.sum(), 1.0)
        changes[i] = {"x": np.arange(len(h) - 1, dtype=np.float64), "y": h[:-1] / total,
                      "name": f"{names[i]} ({h[-1] / total:.0%} silent)"}
    with fig.batch_update():
        _restyle(fig, changes)
        if hists:
            fig.layout.title.text = (f"Spike-time histogram: {ev.split}, epoch {ev.epoch + 1}, "
                                     f"{ev.n} samples")
        fig.layout.xaxis.range = [0, max(t_max, 1)]
        _note(fig, "" if hists else "shown after the first validation pass")
    return fig


def patch_confusion(fig: go.Figure, ev: EvalEnd | None, classes: Sequence[str]) -> go.Figure:
    """Counts (text) and row-normalised shares (colour) of true class x decision."""
    with fig.batch_update():
        if ev is None or ev.confusion.size == 0:
            _restyle(fig, {0: {"z": None, "x": [], "y": [], "text": None}})
            _note(fig, "shown after the first validation pass")
            return fig
        conf = np.asarray(ev.confusion, dtype=np.int64)
        k = conf.shape[0]
        names = [str(c) for c in classes] if len(classes) == k else [str(i) for i in range(k)]
        _restyle(fig, {0: {"z": conf / np.maximum(conf.sum(axis=1, keepdims=True), 1),
                           "x": [*names, "none"], "y": names,
                           "text": [[str(v) for v in row] for row in conf]}})
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
        if image is None or probe is None:
            _restyle(fig, {0: {"z": None}, 1: {"z": None}})
            _note(fig, "no sample selected")
            return fig
        image = np.asarray(image, dtype=np.float64)
        z = _spike_image(probe.t_in, image.shape, probe.t_max, t_cursor)
        _restyle(fig, {0: {"z": image}, 1: {"z": z, "zmax": probe.t_max}})
        when = "" if t_cursor is None else f" by t={t_cursor}"
        fig.layout.title.text = (f"Input: sample {probe.sample_index}, label {probe.label}, "
                                 f"{int(np.isfinite(z).sum())} pixels spiked{when}")
        _note(fig, "")
    return fig


def patch_weight_hist(fig: go.Figure, w: np.ndarray | None, *, bins: int = 60,
                      title: str = "Latent weights") -> go.Figure:
    """Histogram of ``w`` with 0 as a bin edge; negative and non-negative bars apart."""
    with fig.batch_update():
        if w is None or np.size(w) == 0:
            _restyle(fig, {0: {"x": _EMPTY, "y": _EMPTY}, 1: {"x": _EMPTY, "y": _EMPTY}})
            _note(fig, "no weights yet")
            return fig
        w = np.asarray(w, dtype=np.float64).ravel()
        m = float(np.abs(w).max()) or 1.0
        half = max(bins // 2, 1)
        edges = np.linspace(-m, m, 2 * half + 1)
        centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
        below = w < 0
        _restyle(fig, {0: {"x": centres, "y": _f(np.histogram(w[below], edges)[0]),
                           "width": width},
                       1: {"x": centres, "y": _f(np.histogram(w[~below], edges)[0]),
                           "width": width}})
        n_neg = int(below.sum())
        fig.layout.title.text = f"{title}: {n_neg} negative, {w.size - n_neg} non-negative"
        _note(fig, "")
    return fig


def patch_weight_tiles(fig: go.Figure, tiles: np.ndarray | None, *,
                       title: str = "First-layer weights per hidden neuron") -> go.Figure:
    """Replace the tiled image (see :func:`snnviz.viz.figures.tile_rows`)."""
    with fig.batch_update():
        _restyle(fig, {0: {"z": None if tiles is None else _f(tiles)}})
        fig.layout.title.text = title
        _note(fig, "" if tiles is not None else "no weights yet")
    return fig


# ------------------------------------------------------------------ algorithm views ----
def _bin_labels(edges: np.ndarray) -> list[str]:
    """Category labels of histogram bins with (possibly infinite) ``edges``."""
    def fmt(x: float) -> str:
        return f"{x:g}"
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        out.append(f"< {fmt(b)}" if not np.isfinite(a) else f">= {fmt(a)}" if not np.isfinite(b)
                   else f"{fmt(a)}..{fmt(b)}")
    return out


def _shares(hist: Any) -> np.ndarray:
    h = _f(hist)
    return h / max(float(h.sum()), 1.0)


def patch_stidi_displacement(fig: go.Figure, snap: Snapshot, max_points: int = 500
                             ) -> go.Figure:
    """STiDi-BP requested against realised spike-time displacement per layer.

    Left: per trainer step, the mean magnitude of the requested displacement ``|T - t|``
    (lines) and of the realised change of the re-run samples' spike times (markers; only
    steps that measured it). Right: the last step's distribution of both (shares per bin).
    Reads ``snap.step_extra`` (``disp_requested_mean_abs``, ``disp_realised_mean_abs``) and
    ``snap.last.extra`` (``disp_edges``, ``disp_requested_hist``, ``disp_realised_hist``).
    """
    n = len(fig.data) // 4
    keep = thin(len(snap.step), max_points)
    step = _f(snap.step[keep])
    req = snap.step_extra.get("disp_requested_mean_abs")
    real = snap.step_extra.get("disp_realised_mean_abs")
    extra = snap.last.extra if snap.last is not None else {}
    changes: dict[int, dict[str, Any]] = {}
    for i in range(n):
        for k, series in ((0, req), (1, real)):
            if series is not None and series.ndim == 2 and i < series.shape[1]:
                y = _f(series[keep, i])
                ok = np.isfinite(y)
                changes[k * n + i] = {"x": step[ok], "y": y[ok]}
            else:
                changes[k * n + i] = {"x": _EMPTY, "y": _EMPTY}
    edges = extra.get("disp_edges")
    labels = _bin_labels(_f(edges)) if edges is not None else []
    for k, key in ((2, "disp_requested_hist"), (3, "disp_realised_hist")):
        hist = extra.get(key)
        for i in range(n):
            ok = hist is not None and i < len(hist) and len(labels) == np.shape(hist)[-1]
            changes[k * n + i] = {"x": labels if ok else [],
                                  "y": _shares(hist[i]) if ok else _EMPTY}
    with fig.batch_update():
        _restyle(fig, changes)
        measured = extra.get("disp_realised_samples")
        fig.layout.title.text = ("Spike-time displacement: requested vs realised"
                                 + (f" (realised: {measured} re-run samples per step)"
                                    if measured else ""))
        _note(fig, "" if len(step) else "no training steps yet: press Start or Step")
    return fig


def patch_twin_scatter(fig: go.Figure, extra: dict | None) -> go.Figure:
    """Proxy learning: per layer, each watched neuron's ANN activation divided by the SNN
    threshold (x) against its SNN firing rate, spikes / T (y), for the step's first samples;
    on the identity line the SNN matches its ANN twin (rates saturate at 1). Reads a proxy
    step's ``BatchEnd.extra`` (``twin_ann``, ``twin_rate``, ``thr``)."""
    n = len(fig.data) - 1
    extra = extra or {}
    ann, rate = extra.get("twin_ann", ()), extra.get("twin_rate", ())
    thr = float(extra.get("thr", 1.0) or 1.0)
    changes: dict[int, dict[str, Any]] = {}
    gaps = []
    for i in range(n):
        if i < len(ann) and i < len(rate) and np.size(rate[i]):
            a, r = _f(ann[i]).ravel() / thr, _f(rate[i]).ravel()
            changes[i] = {"x": a, "y": r}
            gaps.append(float(np.abs(np.minimum(a, 1.0) - r).mean()) if a.size else np.nan)
        else:
            changes[i] = {"x": _EMPTY, "y": _EMPTY}
    changes[n] = {"x": _f([0.0, 1.0]), "y": _f([0.0, 1.0])}
    with fig.batch_update():
        _restyle(fig, changes)
        fig.layout.title.text = "ANN activation vs SNN rate" + (
            ": mean |min(a/thr, 1) - rate| " + ", ".join(f"{g:.3f}" for g in gaps)
            if gaps else "")
        _note(fig, "" if gaps else "no SNN rates yet (press Start or Step; the ann mode "
                                   "simulates no SNN during training)")
    return fig


def _ema(y: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average ignoring NaNs (NaN until the first finite value)."""
    out, acc = np.full(len(y), np.nan), np.nan
    for k, v in enumerate(y):
        if np.isfinite(v):
            acc = v if not np.isfinite(acc) else acc + alpha * (v - acc)
        out[k] = acc
    return out


def patch_ann_snn_accuracy(fig: go.Figure, snap: Snapshot, levels: dict | None = None,
                           max_points: int = 500, smooth: float = 0.1) -> go.Figure:
    """Proxy learning: the ANN's and the SNN's training-batch accuracy per trainer step
    (exponential moving averages, weight ``smooth``), and the last validation accuracies
    as dotted levels (``levels``: name -> accuracy)."""
    keep = thin(len(snap.step), max_points)
    step = _f(snap.step[keep])
    snn = _ema(_f(snap.accuracy), smooth)[keep]
    ann_all = snap.step_extra.get("ann_accuracy")
    ann = _ema(_f(ann_all), smooth)[keep] if ann_all is not None and ann_all.ndim == 1 \
        else _EMPTY
    with fig.batch_update():
        _restyle(fig, {0: {"x": step, "y": snn}, 1: {"x": step[: len(ann)], "y": ann}})
        _levels(fig, levels or {})
        _note(fig, "" if len(step) else "no training steps yet: press Start or Step")
    return fig


def _levels(fig: go.Figure, levels: dict) -> None:
    shapes, notes = [], [a for a in fig.layout.annotations if a.name == "note"]
    for name, acc in levels.items():
        if acc is not None and np.isfinite(acc):
            shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": acc,
                           "y1": acc, "line": {"dash": "dot", "width": 1, "color": "#6b7280"}})
            notes.append({"text": f"{name} {acc:.1%}", "xref": "paper", "x": 1, "y": acc,
                          "xanchor": "right", "yanchor": "bottom", "showarrow": False,
                          "font": {"size": 11}})
    fig.layout.shapes = shapes
    fig.layout.annotations = notes


def patch_decision_time(fig: go.Figure, curves: dict, *, start: int = 0,
                        levels: dict | None = None, title: str | None = None) -> go.Figure:
    """Accuracy as a function of when the output is read: ``curves`` maps a trace name to
    values at read-out times ``start, start + 1, ...`` (traces matched by name, missing
    ones emptied); ``levels``: name -> value drawn as a dotted horizontal line."""
    changes: dict[int, dict[str, Any]] = {}
    for i, tr in enumerate(fig.data):
        y = curves.get(tr.name)
        changes[i] = {"x": np.arange(start, start + len(y), dtype=np.float64), "y": _f(y)} \
            if y is not None else {"x": _EMPTY, "y": _EMPTY}
    with fig.batch_update():
        _restyle(fig, changes)
        _levels(fig, levels or {})
        if title is not None:
            fig.layout.title.text = title
        _note(fig, "" if any(len(v) for v in curves.values())
              else "shown after the first validation pass")
    return fig
