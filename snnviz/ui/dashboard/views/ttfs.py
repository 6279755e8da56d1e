"""Views of the TTFS algorithms (S4NN, BS4NN, STiDi-BP and its variants): accuracy as a
function of decision time, and STiDi-BP's requested vs realised spike-time displacement."""

from __future__ import annotations

from snnviz.algorithms import ALGORITHMS
from snnviz.record import Snapshot
from snnviz.training.events import RunStart
from snnviz.ui.dashboard.views.base import LiveView, t_max_of
from snnviz.ui.dashboard.views.common import SECONDARY_EVERY
from snnviz.viz import figures as vf
from snnviz.viz import update as vu

__all__ = ["TTFS_VIEWS", "is_ttfs", "is_stidi"]


def is_ttfs(run: RunStart) -> bool:
    """First-spike read-out: every algorithm except the rate-coded proxy learning."""
    algo = ALGORITHMS.get(run.algorithm)
    return algo is not None and not hasattr(algo, "eval_extra")


def is_stidi(run: RunStart) -> bool:
    return run.algorithm.startswith("stidi")


def _build_decision(run: RunStart | None):
    return vf.build_decision_time(("correct by t", "decided by t"), t_max=t_max_of(run),
                                  title="Accuracy vs decision time")


def _patch_decision(fig, snap: Snapshot) -> bool:
    d = snap.derived.get("decision_time")
    if d is None:
        vu.patch_decision_time(fig, {})
        return False
    levels = {"validation accuracy": snap.val.accuracy} if snap.val is not None else {}
    vu.patch_decision_time(
        fig, {"correct by t": d["accuracy"], "decided by t": d["decided"]}, levels=levels,
        title=f"Accuracy vs decision time: {d['n']} validation samples, epoch {d['epoch'] + 1}")
    return True


def _patch_displacement(fig, snap: Snapshot) -> bool:
    vu.patch_stidi_displacement(fig, snap)
    return True


TTFS_VIEWS = (
    LiveView("decision_time", "eval", _build_decision, _patch_decision, applies=is_ttfs),
    LiveView("displacement", "step", lambda run: vf.build_stidi_displacement(Snapshot(run=run)),
             _patch_displacement, applies=is_stidi, wide=True, every=SECONDARY_EVERY),
)
