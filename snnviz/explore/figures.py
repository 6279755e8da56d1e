"""Pure Plotly builders of the exploration views (same theme as :mod:`snnviz.viz`).

``build_policy`` (accuracy under each evaluation policy), ``build_sandbox_trace`` (one
neuron's potential before and after an edit), ``build_run_curves`` (recorded runs' accuracy
per epoch with the replay cursor), ``build_run_compare`` (A/B comparison of runs) and
``probe_from_replay`` (a recorded epoch's spikes as a :class:`~snnviz.training.events.Probe`
for the race and raster builders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from snnviz.training.events import Probe, ProbeLayer
from snnviz.viz.figures import THEME, _figure

__all__ = ["POLICY_RULES", "policy_rows", "build_policy", "build_sandbox_trace",
           "build_run_curves", "build_run_compare", "compare_rows", "probe_from_replay"]

#: The reported policies (trainer.REPORTED_POLICIES) in words: (no spike, tie for first).
POLICY_RULES: dict[str, tuple[str, str]] = {
    "honest": ("error", "error"),
    "reference": ("highest potential decides", "correct if the label is among them"),
    "tie-potential": ("error", "highest potential at the spike decides"),
    "reference-no-fallback": ("error", "correct if the label is among them"),
    "fallback-ties-wrong": ("highest potential decides", "error"),
}


def policy_rows(by_policy: Mapping[str, float] | None, configured: str = ""
                ) -> list[dict[str, Any]]:
    """Table rows ``{policy, no_spike, ties, accuracy}`` in a fixed order; ``configured``
    (an :class:`~snnviz.config.EvalPolicy` name) is noted on the row it equals."""
    from snnviz.training.trainer import REPORTED_POLICIES

    rows = []
    for name, pol in REPORTED_POLICIES.items():
        acc = (by_policy or {}).get(name)
        no_spike, ties = POLICY_RULES.get(name, (pol.no_spike, pol.ties))
        rows.append({"policy": name + (" (training setting)" if pol.name == configured else ""),
                     "no_spike": no_spike, "ties": ties,
                     "accuracy": None if acc is None or not np.isfinite(acc) else float(acc)})
    return rows


def build_policy(val: Mapping[str, float] | None, test: Mapping[str, float] | None = None,
                 theme: dict = THEME, title: str = "Accuracy under each evaluation policy"
                 ) -> go.Figure:
    """Grouped bars: validation (and test, when given) accuracy per reported policy."""
    fig = _figure(theme, title, barmode="group", yaxis={"title": "accuracy",
                  "tickformat": ".0%", "range": [0, 1.02]},
                  xaxis={"type": "category"}, legend={"orientation": "h", "y": -0.25, "x": 0})
    names = [r["policy"] for r in policy_rows(None)]
    for split, data, color in (("validation", val, theme["good"]), ("test", test,
                                                                    theme["accent"])):
        if data is None:
            continue
        y = [data.get(n) for n in names]
        fig.add_trace(go.Bar(name=split, x=names, y=y, marker={"color": color},
                             text=[f"{v:.1%}" if v is not None else "" for v in y],
                             textposition="outside"))
    if val is None and test is None:
        fig.add_annotation(text="no evaluation yet", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper", name="note")
    return fig


def build_sandbox_trace(trace_before: np.ndarray | None, trace_after: np.ndarray | None,
                        thr_before: float, thr_after: float, t_before: int, t_after: int,
                        t_max: int, theme: dict = THEME, title: str = "Membrane potential"
                        ) -> go.Figure:
    """One neuron's potential before (grey) and after (blue) an edit, both thresholds
    (dashed) and the firing steps (stars; a neuron that stays silent has none)."""
    fig = _figure(theme, title, xaxis={"title": "time step", "range": [0, max(t_max, 1)]},
                  yaxis={"title": "potential V"}, legend={"orientation": "h", "y": -0.25,
                                                          "x": 0})
    k = np.arange(max(t_max, 1))
    for name, tr, thr, t, color, dash in (
            ("before", trace_before, thr_before, t_before, theme["muted"], "dot"),
            ("after", trace_after, thr_after, t_after, theme["accent"], "solid")):
        if tr is None:
            continue
        tr = np.asarray(tr, dtype=np.float64)
        fig.add_trace(go.Scatter(name=f"V {name}", x=k[: tr.size], y=tr, mode="lines",
                                 line={"color": color, "width": 2, "dash": dash}))
        fig.add_trace(go.Scatter(name=f"threshold {name}", x=[0, t_max], y=[thr, thr],
                                 mode="lines", line={"color": color, "width": 1,
                                                     "dash": "dash"}))
        if t < t_max:
            fig.add_trace(go.Scatter(name=f"spike {name} (t={t})", x=[t], y=[thr],
                                     mode="markers", marker={"symbol": "star", "size": 14,
                                                             "color": color}))
    return fig


def probe_from_replay(entry: Mapping[str, Any] | None, t_max: int) -> Probe | None:
    """A replayed epoch's watched-sample spikes as a Probe (no membrane traces)."""
    p = (entry or {}).get("probe")
    if not p or not p.get("layers"):
        return None
    layers = tuple(ProbeLayer(np.asarray(t, np.int64), np.zeros(0, np.int64),
                              np.zeros((t_max, 0)), float(thr))
                   for t, thr in zip(p["layers"], p.get("thr", [0.0] * len(p["layers"]))))
    return Probe(int(p.get("index", 0)), int(p.get("label", -1)),
                 np.asarray(p.get("t_in", []), np.int64), layers, int(t_max))


def build_run_curves(runs: Sequence[Any], upto: int | None = None, theme: dict = THEME
                     ) -> go.Figure:
    """Training and validation accuracy per epoch of recorded runs (:class:`snnviz.runs.Run`);
    ``upto`` (1-based epoch) draws each run only up to that epoch and marks it."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy", "loss"),
                        horizontal_spacing=0.1)
    _figure(theme, "Recorded runs: accuracy per epoch", fig=fig,
            legend={"orientation": "h", "y": -0.3, "x": 0})
    pal = theme["palette"]
    for r, run in enumerate(runs):
        color = pal[r % len(pal)]
        ep = run.epochs()
        keep = ep <= upto if upto is not None else np.ones(ep.size, bool)
        for key, dash, name in (("val_accuracy", "solid", "val"),
                                ("train_accuracy", "dot", "train")):
            fig.add_trace(go.Scatter(name=f"{run.name} {name}", x=ep[keep],
                                     y=run.series(key)[keep], mode="lines+markers",
                                     line={"color": color, "dash": dash, "width": 1.8},
                                     marker={"size": 5}), 1, 1)
        fig.add_trace(go.Scatter(name=f"{run.name} loss", x=ep[keep],
                                 y=run.series("train_loss")[keep], mode="lines",
                                 line={"color": color, "width": 1.5}, showlegend=False), 1, 2)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    if upto is not None:
        fig.add_vline(x=upto, line={"color": theme["muted"], "width": 1, "dash": "dash"})
    return fig


def build_run_compare(runs: Sequence[Any], theme: dict = THEME) -> go.Figure:
    """A/B comparison: validation accuracy vs epoch and vs wall time, final test accuracy
    under each policy, and (runs with a replay record) spiking neurons per sample and the
    mean output spike time per epoch."""
    fig = make_subplots(rows=2, cols=2, horizontal_spacing=0.1, vertical_spacing=0.22,
                        subplot_titles=("validation accuracy vs epoch",
                                        "validation accuracy vs wall time (s)",
                                        "test accuracy under each policy",
                                        "spiking neurons per sample (validation)"))
    _figure(theme, "A/B comparison", fig=fig, height=640, barmode="group",
            legend={"orientation": "h", "y": -0.12, "x": 0})
    pal = theme["palette"]
    from snnviz.training.trainer import REPORTED_POLICIES

    policies = list(REPORTED_POLICIES)
    for r, run in enumerate(runs):
        color = pal[r % len(pal)]
        ep, acc = run.epochs(), run.series("val_accuracy")
        fig.add_trace(go.Scatter(name=run.name, x=ep, y=acc, mode="lines+markers",
                                 line={"color": color}, legendgroup=run.name), 1, 1)
        fig.add_trace(go.Scatter(name=run.name, x=run.wall_time(), y=acc, mode="lines+markers",
                                 line={"color": color}, legendgroup=run.name,
                                 showlegend=False), 1, 2)
        by = run.result.get("test_by_policy") or {}
        fig.add_trace(go.Bar(name=run.name, x=policies, y=[by.get(p) for p in policies],
                             marker={"color": color}, legendgroup=run.name,
                             showlegend=False), 2, 1)
        spikes = run.replay_series("spikes_per_sample")
        fig.add_trace(go.Scatter(name=run.name, x=ep, y=spikes, mode="lines+markers",
                                 line={"color": color}, legendgroup=run.name,
                                 showlegend=False), 2, 2)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=1, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=2)
    return fig


def compare_rows(runs: Sequence[Any]) -> list[dict[str, Any]]:
    """One summary row per run: test accuracy (configured policy), best epoch, wall time,
    training speed, and the last recorded spiking neurons per sample / mean output time."""
    rows = []
    for run in runs:
        r = run.result
        spikes = run.replay_series("spikes_per_sample")
        mean_t = run.replay_series("mean_output_time")
        rows.append({
            "run": run.name, "algorithm": r.get("algorithm"), "dataset": r.get("dataset"),
            "seed": r.get("seed"), "epochs": len(run.history),
            "test_accuracy": r.get("test_accuracy"), "policy": r.get("eval_policy"),
            "best_epoch": r.get("best_epoch"),
            "wall_seconds": r.get("seconds_total", r.get("train_seconds")),
            "samples_per_second": r.get("train_samples_per_second"),
            "spikes_per_sample": _last(spikes), "mean_output_time": _last(mean_t),
        })
    return rows


def _last(a: np.ndarray) -> float | None:
    ok = np.isfinite(a)
    return float(a[ok][-1]) if ok.any() else None
