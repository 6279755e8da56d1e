"""The Sample inspector tab (an :class:`~snnviz.ui.dashboard.extensions.Extension`).

Pick a test sample; the worker probes it with the current weights (every neuron traced).
Click neurons in the raster to trace their membrane potentials; the time slider scrubs time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn

from snnviz.record import SampleView, probe_sample
from snnviz.training.events import RunStart
from snnviz.ui.controls import label
from snnviz.ui.dashboard.extensions import Extension
from snnviz.ui.dashboard.panes import make_pane, show_fig
from snnviz.ui.dashboard.views import t_max_of
from snnviz.ui.dashboard.views.common import targets
from snnviz.viz import figures as vf
from snnviz.viz import update as vu

__all__ = ["SampleInspector", "traced_neurons"]


def traced_neurons(algorithm: str) -> int:
    """Neurons per layer whose membrane potential the inspector traces (the earliest to
    fire): STiDi-BP's PL-PSP traces cost ``t_max x neurons x inputs``, so fewer there."""
    return 64 if algorithm.startswith("stidi") else 1024


class SampleInspector(Extension):
    title = "Sample inspector"

    def __init__(self) -> None:
        self.sample: SampleView | None = None
        self.chosen: list[int] = []
        self.sample_index = pn.widgets.IntInput(**label("test sample"), value=0, start=0,
                                                width=120)
        self.time = pn.widgets.IntSlider(**label("time step"), start=0, end=1, value=1,
                                         sizing_mode="stretch_width")
        self.layer = pn.widgets.Select(**label("traced layer"), options={"output": -1},
                                       width=150)
        self.refresh_button = pn.widgets.Button(**label("Refresh with current weights"),
                                                width=220)
        self.clear_button = pn.widgets.Button(**label("Clear picked neurons"), width=170)
        self.info = pn.pane.HTML("", margin=(22, 10))
        self.panes = {
            "input": make_pane(vf.build_input(None, None)),
            "raster": make_pane(vf.build_raster(None)),
            "race": make_pane(vf.build_race(None, ())),
            "membrane": make_pane(vf.build_membrane(None, 1)),
        }
        self.sample_index.param.watch(lambda e: self.inspect(), "value")
        self.refresh_button.on_click(lambda e: self.inspect())
        self.clear_button.on_click(lambda e: self.pick(None))
        self.time.param.watch(lambda e: self.patch(), "value")
        self.layer.param.watch(lambda e: self.pick(None), "value")
        self.panes["raster"].param.watch(self.on_raster_click, "click_data")

    def tab(self) -> pn.viewable.Viewable:
        p = self.panes
        return pn.Column(
            pn.Row(self.sample_index, self.layer, self.refresh_button, self.clear_button,
                   self.info),
            self.time, pn.Row(p["input"], p["race"]), pn.Row(p["raster"], p["membrane"]),
            sizing_mode="stretch_width")

    # ------------------------------------------------------------------ hooks ----------
    def on_reset(self) -> None:
        self.sample, self.chosen = None, []
        self.inspect()

    def on_run(self, run: RunStart) -> None:
        n, t_max = len(run.layer_sizes) - 1, t_max_of(run)
        self.time.param.update(value=0, end=max(t_max - 1, 1))
        self.time.value = self.time.end
        self.layer.options = {name: i for i, name in enumerate(vu.layer_names(n))}
        self.layer.value = n - 1
        self.sample_index.end = max(run.n_test - 1, 0)

    def on_refresh(self, snap: Any, visible: bool, force: bool) -> None:
        if visible and force and snap.run is not None:
            self.inspect()                      # opened: probe with the current weights

    def on_step(self) -> None:
        self.inspect()

    # ------------------------------------------------------------------ work -----------
    def inspect(self) -> None:
        """Ask the worker to probe the chosen test sample with the current weights."""
        if self.app is None:
            return
        index = int(self.sample_index.value or 0)
        self.app.request(lambda trainer: probe_test_sample(
            trainer, index, traced_neurons(trainer.cfg.algorithm)), self._received)

    def _received(self, sv: SampleView) -> None:
        self.sample = sv
        n = len(sv.probe.layers)
        self.info.object = f"weights after trainer step {sv.step}"
        self.panes["raster"].object = vf.build_raster(sv.probe, n_layers=n)
        self.panes["race"].object = vf.build_race(sv.probe, sv.classes,
                                                  targets=targets(sv.probe))
        self.patch(rebuild=True)

    def on_raster_click(self, event: Any) -> None:
        points = (event.new or {}).get("points") or []
        if points:
            self.pick(int(points[0]["y"]), layer=int(points[0]["curveNumber"]) - 1)

    def pick(self, neuron: int | None, layer: int | None = None) -> None:
        """Add a clicked neuron to the traced ones (``None``: back to the default)."""
        if neuron is None or layer is None or layer < 0:
            self.chosen = []
        else:
            if layer != self.layer.value:
                self.chosen = []
                self.layer.value = layer                       # re-enters with None
            traced = self._traced(layer)
            if traced is not None and neuron not in traced:
                self.info.object = (f"neuron {neuron} is not traced: the inspector traces the "
                                    f"{len(traced)} earliest-firing neurons of each layer")
                return
            self.chosen = [*self.chosen[-9:], neuron] if neuron not in self.chosen \
                else self.chosen
        self.patch(rebuild=True)

    def _traced(self, layer: int) -> np.ndarray | None:
        sv = self.sample
        if sv is None or not -len(sv.probe.layers) <= layer < len(sv.probe.layers):
            return None
        return np.asarray(sv.probe.layers[layer].neurons)

    def patch(self, rebuild: bool = False) -> None:
        sv = self.sample
        if sv is None:
            return
        t, p, panes = int(self.time.value), sv.probe, self.panes
        layer = p.layers[int(self.layer.value)] if p.layers else None
        names = sv.classes if int(self.layer.value) in (-1, len(p.layers) - 1) else None
        if rebuild:
            panes["membrane"].object = vf.build_membrane(
                layer, p.t_max, n_lines=10, neurons=self.chosen or None, names=names,
                t_cursor=t, title="Membrane potential (click neurons in the raster)")
            panes["input"].object = vf.build_input(sv.image, p, t_cursor=t)
            return
        show_fig(panes["membrane"], vu.patch_membrane, layer, p.t_max,
                 neurons=self.chosen or None, names=names, t_cursor=t)
        show_fig(panes["input"], vu.patch_input, sv.image, p, t_cursor=t)
        show_fig(panes["raster"], vu.patch_raster, p, t_cursor=t)


def probe_test_sample(trainer: Any, index: int, max_neurons: int = 4096) -> SampleView | None:
    """Probe test sample ``index`` (modulo the test size) with the trainer's weights,
    tracing up to ``max_neurons`` neurons per layer."""
    n = len(trainer.y_test)
    if n == 0:
        return None
    i = index % n
    return probe_sample(trainer.algo, trainer.params, trainer.cfg.algo, trainer.t_test[i],
                        trainer.splits.test_x[i], int(trainer.y_test[i]), i,
                        tuple(trainer.splits.classes), trainer.step, max_neurons)
