"""Views every algorithm gets: training curves, the watched sample's output race, membrane
potentials and raster, the validation spike-time histogram and confusion matrix, and sign
flips (shown once a binary-weight run records them)."""

from __future__ import annotations

from snnviz.algorithms import ALGORITHMS
from snnviz.record import Snapshot
from snnviz.training.events import RunStart
from snnviz.ui.dashboard.views.base import LiveView, t_max_of
from snnviz.viz import figures as vf
from snnviz.viz import update as vu

__all__ = ["COMMON_VIEWS", "FLIPS_VIEW", "targets", "is_binary", "PROBE_EVERY",
           "SECONDARY_EVERY"]

PROBE_EVERY = 0.5        # s between redraws of the watched sample's views
SECONDARY_EVERY = 0.25   # s between redraws of per-step views other than the curves


def targets(probe) -> object:
    return None if probe is None else probe.extra.get("t_target")


def _n_layers(run: RunStart | None) -> int:
    return len(run.layer_sizes) - 1 if run else 2


def _classes(run: RunStart | None) -> tuple[str, ...]:
    return tuple(run.classes) if run else ()


def _patch_race(fig, snap: Snapshot) -> bool:
    vu.patch_race(fig, snap.probe, _classes(snap.run), targets=targets(snap.probe))
    return snap.probe is not None


def _patch_membrane(fig, snap: Snapshot) -> bool:
    p = snap.probe
    vu.patch_membrane(fig, p.layers[-1] if p else None, p.t_max if p else 1,
                      names=_classes(snap.run))
    return p is not None


def _patch_flips(fig, snap: Snapshot) -> bool:
    vu.patch_sign_flips(fig, snap)
    return snap.sign_flips.shape[1] > 0


def _patch_confusion(fig, snap: Snapshot) -> bool:
    vu.patch_confusion(fig, snap.val, _classes(snap.run))
    return snap.val is not None


def _patch_hist(fig, snap: Snapshot) -> bool:
    vu.patch_spike_hist(fig, snap.val, t_max_of(snap.run))
    return snap.val is not None


COMMON_VIEWS = (
    LiveView("curves", "step", lambda run: vf.build_curves(Snapshot(run=run)),
             lambda fig, snap: vu.patch_curves(fig, snap), wide=True),
    LiveView("race", "probe", lambda run: vf.build_race(None, _classes(run)), _patch_race,
             every=PROBE_EVERY),
    LiveView("membrane", "probe",
             lambda run: vf.build_membrane(None, t_max_of(run), names=_classes(run),
                                           title="Membrane potential: output layer"),
             _patch_membrane, every=PROBE_EVERY),
    LiveView("raster", "probe", lambda run: vf.build_raster(None, n_layers=_n_layers(run)),
             lambda fig, snap: vu.patch_raster(fig, snap.probe), every=PROBE_EVERY),
    LiveView("hist", "eval",
             lambda run: vf.build_spike_hist(None, t_max_of(run), n_layers=_n_layers(run)),
             _patch_hist),
    LiveView("confusion", "eval", lambda run: vf.build_confusion(None, _classes(run)),
             _patch_confusion),
)

def is_binary(run: RunStart) -> bool:
    """Binary-weight algorithms (``Config.BINARY``): BS4NN, binary STiDi-BP."""
    algo = ALGORITHMS.get(run.algorithm)
    return bool(getattr(getattr(algo, "Config", None), "BINARY", False))


# shown once the run records sign flips
FLIPS_VIEW = LiveView("flips", "step", lambda run: vf.build_sign_flips(Snapshot(run=run)),
                      _patch_flips, applies=is_binary, wide=True, hide_empty=True,
                      every=SECONDARY_EVERY)
