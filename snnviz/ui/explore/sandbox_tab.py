"""The "Neuron sandbox" tab: edit one neuron of a copy of the network and watch the effect.

Pick a test sample, a layer and a neuron; change its threshold, one of its incoming weights,
or one input pixel's intensity. The neuron's membrane potential and firing time are redrawn
at once (before: dotted grey, after: blue) and so is the output race after the edit, next to
the race before it. Everything acts on a copy of the weights taken from the training thread
between two steps (:meth:`TrainingApp.request`); the run itself is never changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn

from snnviz.explore.figures import build_sandbox_trace
from snnviz.explore.sandbox import Edit, NetCopy, SandboxResult, copy_net, edit_limits, sandbox
from snnviz.ui.controls import label
from snnviz.ui.dashboard.extensions import Extension
from snnviz.ui.dashboard.panes import make_pane
from snnviz.ui.explore.common import explained
from snnviz.ui.explore.draw import outcome_text
from snnviz.viz import figures as vf
from snnviz.viz.update import layer_names

__all__ = ["SandboxTab"]


def _take(sample: int):
    """Worker-side request: a copy of the network and test sample ``sample``."""
    def work(trainer: Any) -> tuple[NetCopy, np.ndarray, int, int] | None:
        n = len(trainer.y_test)
        if n == 0:
            return None
        i = int(sample) % n
        return (copy_net(trainer), np.asarray(trainer.splits.test_x[i]).copy(),
                int(trainer.y_test[i]), i)
    return work


class SandboxTab(Extension):
    title = "Neuron sandbox"

    def __init__(self) -> None:
        self.sample_index = pn.widgets.IntInput(**label("test sample"), value=0, start=0,
                                                width=110)
        self.layer = pn.widgets.Select(**label("layer"), options={"output": -1}, width=130)
        self.neuron = pn.widgets.IntInput(**label("neuron"), value=0, start=0, width=100)
        self.threshold = pn.widgets.FloatInput(**label("threshold \u03b8"), value=1.0,
                                               step=1.0, width=130)
        self.input = pn.widgets.IntInput(**label("weight from input"), value=0,
                                         start=0, width=150)
        self.weight = pn.widgets.FloatInput(**label("weight w"), value=0.0, step=1.0,
                                            width=130)
        self.pixel = pn.widgets.IntInput(**label("input pixel"), value=0, start=0, width=110)
        self.intensity = pn.widgets.IntSlider(**label("pixel intensity"), start=0, end=255,
                                              value=0, width=220)
        self.undo_button = pn.widgets.Button(**label("Undo edits"), width=110)
        self.fresh_button = pn.widgets.Button(**label("Use current weights"), width=170)
        self.summary = pn.pane.Markdown("", sizing_mode="stretch_width",
                                        css_classes=["snnviz-sandbox-summary"])
        self.panes = {"trace": make_pane(build_sandbox_trace(None, None, 0, 0, 0, 0, 1)),
                      "before": make_pane(vf.build_race(None, ())),
                      "after": make_pane(vf.build_race(None, ()))}
        self.net: NetCopy | None = None
        self.image: np.ndarray | None = None
        self.label_, self.index = -1, 0
        self.result: SandboxResult | None = None
        self._quiet = False
        self._thr0 = 0.0
        self.sample_index.param.watch(lambda e: self.fetch(), "value")
        self.fresh_button.on_click(lambda e: self.fetch())
        self.undo_button.on_click(lambda e: self.defaults())
        self.layer.param.watch(lambda e: self.defaults(), "value")
        self.neuron.param.watch(lambda e: self.defaults(), "value")
        self.input.param.watch(lambda e: self._weight_default(), "value")
        self.pixel.param.watch(lambda e: self._pixel_default(), "value")
        for w in (self.threshold, self.weight, self.intensity):
            w.param.watch(lambda e: self.update(), "value")

    def tab(self) -> pn.viewable.Viewable:
        p = self.panes
        return pn.Column(
            pn.Row(self.sample_index, self.layer, self.neuron, self.fresh_button,
                   self.undo_button),
            pn.Row(self.threshold, self.input, self.weight, self.pixel, self.intensity),
            self.summary,
            explained(p["trace"], "sandbox"),
            pn.Row(explained(p["before"], "race"), explained(p["after"], "race"),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    # ------------------------------------------------------------------ flow ------------
    def on_reset(self) -> None:
        self.net = None
        self.fetch()

    def on_run(self, run: Any) -> None:
        self.sample_index.end = max(int(run.n_test) - 1, 0)

    def on_refresh(self, snap: Any, visible: bool, force: bool) -> None:
        if visible and force and snap.run is not None and self.net is None:
            self.fetch()

    def fetch(self) -> None:
        """Copy the current network and the chosen test sample from the training thread."""
        app = self.app
        if app is None or not app.request(_take(int(self.sample_index.value or 0)),
                                          self.on_net):
            self.summary.object = "Fix the settings first: there is no network to edit."

    def on_net(self, got: tuple[NetCopy, np.ndarray, int, int]) -> None:
        self.net, self.image, self.label_, self.index = got
        n = len(self.net.params.w)
        names = layer_names(n)
        self._quiet = True
        try:
            options = {name: i for i, name in enumerate(names)}
            if self.layer.options != options:        # a new network: start at the output
                self.layer.options = options
                self.layer.value = n - 1
            self.pixel.end = int(self.image.size) - 1
        finally:
            self._quiet = False
        self.defaults()

    def _limits(self) -> dict:
        assert self.net is not None
        return edit_limits(self.net, int(self.layer.value))

    def defaults(self) -> None:
        """Put every edit control back to the network's own values (no edit) and redraw."""
        if self.net is None or self._quiet:
            return
        lim = self._limits()
        self._quiet = True
        try:
            base = sandbox(self.net, self.image, Edit(layer=lim["layer"], neuron=0))
            n_out = len(base.before.probe.layers[lim["layer"]].times)
            self.neuron.end = n_out - 1
            if (self.neuron.value or 0) > n_out - 1:
                self.neuron.value = 0
            self._thr0 = float(base.thr_before)
            self.threshold.value = self._thr0
            self.threshold.disabled = not lim["threshold"]
            self.input.disabled = self.weight.disabled = lim["fan_in"] is None
            if lim["fan_in"] is not None:
                self.input.end = lim["fan_in"] - 1
                if (self.input.value or 0) > lim["fan_in"] - 1:
                    self.input.value = 0
            self._weight_default(quiet=True)
            self._pixel_default(quiet=True)
        finally:
            self._quiet = False
        self.update()

    def _weight_default(self, quiet: bool = False) -> None:
        if self.net is None:
            return
        lim = self._limits()
        if lim["fan_in"] is not None:
            w = self.net.params.w[lim["layer"]]
            was, self._quiet = self._quiet, True
            self.weight.value = float(w[int(self.neuron.value or 0), int(self.input.value or 0)])
            self._quiet = was
        if not quiet:
            self.update()

    def _pixel_default(self, quiet: bool = False) -> None:
        if self.image is None:
            return
        was, self._quiet = self._quiet, True
        self.intensity.value = int(self.image.reshape(-1)[int(self.pixel.value or 0)])
        self._quiet = was
        if not quiet:
            self.update()

    def edit(self) -> Edit:
        """The edit the controls describe (only values that differ from the network's)."""
        assert self.net is not None and self.image is not None
        lim = self._limits()
        layer, j = lim["layer"], int(self.neuron.value or 0)
        thr = weight = pixel = None
        if lim["threshold"] and self.threshold.value is not None and \
                float(self.threshold.value) != self._thr0:
            thr = float(self.threshold.value)
        if lim["fan_in"] is not None and self.weight.value is not None:
            i = int(self.input.value or 0)
            w0 = float(self.net.params.w[layer][j, i])
            if float(self.weight.value) != w0:
                weight = (i, float(self.weight.value))
        p = int(self.pixel.value or 0)
        if int(self.intensity.value) != int(self.image.reshape(-1)[p]):
            pixel = (p, int(self.intensity.value))
        return Edit(layer=layer, neuron=j, threshold=thr, weight=weight, pixel=pixel)

    def update(self) -> None:
        """Recompute the edited copy and redraw (immediate: one sample, on a copy)."""
        if self.net is None or self._quiet:
            return
        try:
            r = sandbox(self.net, self.image, self.edit(), self.label_, self.index)
        except ValueError as e:
            self.summary.object = f"**Not possible:** {e}"
            return
        self.result = r
        t_max = r.after.probe.t_max
        name = layer_names(len(r.after.probe.layers))[r.layer]
        self.panes["trace"].object = build_sandbox_trace(
            r.trace_before, r.trace_after, r.thr_before, r.thr_after, r.t_before, r.t_after,
            t_max, title=f"Membrane potential of {name} neuron {r.neuron}")
        for key, sv, when in (("before", r.before, "before"), ("after", r.after, "after")):
            fig = vf.build_race(sv.probe, sv.classes)
            fig.layout.title.text = f"Output race {when} the edit: {outcome_text(sv)}"
            self.panes[key].object = fig
        def fire(t: int) -> str:
            return "silent" if t >= t_max else f"t={t}"
        changed = ", ".join(f"{n}: {c}" for n, c in
                            zip(layer_names(len(r.changed)), r.changed))
        label_ = r.before.classes[self.label_] if 0 <= self.label_ < len(r.before.classes) \
            else "?"
        self.summary.object = (
            f"Test sample {self.index} (label {label_}), weights after trainer step "
            f"{self.net.step}. **{name} neuron {r.neuron}** fires {fire(r.t_before)} before "
            f"and **{fire(r.t_after)} after** the edit. Spike times changed: {changed}.")
