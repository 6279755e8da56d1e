"""Views of proxy learning: the ANN/SNN twins' activations against rates, their accuracies,
and the SNN's accuracy against the number of simulated time steps."""

from __future__ import annotations

from snnviz.record import Snapshot
from snnviz.training.events import RunStart
from snnviz.ui.dashboard.views.base import LiveView
from snnviz.ui.dashboard.views.common import PROBE_EVERY, SECONDARY_EVERY
from snnviz.ui.dashboard.views.ttfs import is_ttfs
from snnviz.viz import figures as vf
from snnviz.viz import update as vu

__all__ = ["PROXY_VIEWS", "is_proxy"]


def is_proxy(run: RunStart) -> bool:
    return not is_ttfs(run)


def _n_layers(run: RunStart | None) -> int:
    return len(run.layer_sizes) - 1 if run else 2


def _ann_val(snap: Snapshot) -> float | None:
    d = snap.derived.get("proxy_val")
    return None if d is None else d.get("ann_accuracy")


def _patch_twin(fig, snap: Snapshot) -> bool:
    vu.patch_twin_scatter(fig, snap.last.extra if snap.last is not None else None)
    return True


def _patch_accuracy(fig, snap: Snapshot) -> bool:
    levels = {"SNN val": snap.val.accuracy if snap.val is not None else None,
              "ANN val": _ann_val(snap)}
    vu.patch_ann_snn_accuracy(fig, snap, levels=levels)
    return True


def _patch_steps(fig, snap: Snapshot) -> bool:
    d = snap.derived.get("proxy_val")
    curves = {}
    if d is not None and len(d["acc_vs_t"]):
        curves["validation"] = d["acc_vs_t"]
    last = snap.last.extra.get("acc_vs_t") if snap.last is not None else None
    if last is not None and len(last):
        curves["training batch"] = last
    ann = _ann_val(snap)
    title = "SNN accuracy vs time steps simulated" + (
        f" ({d['n']} validation samples, epoch {d['epoch'] + 1})" if d is not None else "")
    vu.patch_decision_time(fig, curves, start=1, levels={"ANN val": ann} if ann else {},
                           title=title)
    return True


PROXY_VIEWS = (
    LiveView("twin", "step", lambda run: vf.build_twin_scatter(None, _n_layers(run)),
             _patch_twin, applies=is_proxy, every=PROBE_EVERY),
    LiveView("ann_snn", "step", lambda run: vf.build_ann_snn_accuracy(Snapshot(run=run)),
             _patch_accuracy, applies=is_proxy, every=SECONDARY_EVERY),
    LiveView("time_steps", "step",
             lambda run: vf.build_decision_time(("validation", "training batch"),
                                                title="SNN accuracy vs time steps simulated",
                                                x_title="time steps simulated"),
             _patch_steps, applies=is_proxy, every=PROBE_EVERY),
)
