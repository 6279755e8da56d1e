"""The "Draw a digit" tab: a canvas whose drawing runs through the session's current network.

Each finished stroke asks the training thread for a copy of the current weights (between two
trainer steps: :meth:`TrainingApp.request`), so it works before, during and after training;
the drawing is centred like MNIST, encoded with the algorithm's input code and probed. The
output race shows the decision, the raster every layer's spikes (input, hidden, output), the
input panel the image the network sees and its spike times.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn

from snnviz.explore.drawing import drawing_input
from snnviz.explore.sandbox import NetCopy, copy_net, decision, run_image
from snnviz.record import SampleView
from snnviz.ui.controls import label
from snnviz.ui.dashboard.extensions import Extension
from snnviz.ui.dashboard.panes import make_pane
from snnviz.ui.explore.canvas import DrawCanvas
from snnviz.ui.explore.common import explained
from snnviz.viz import figures as vf

__all__ = ["DrawTab", "outcome_text"]


def outcome_text(sv: SampleView) -> str:
    """"the network says 3 (first spike at t=41)" / "no output spike" / "a tie ..."."""
    t = np.asarray(sv.probe.layers[-1].times)
    win = decision(sv.probe)
    names = sv.classes if len(sv.classes) == len(t) else tuple(str(k) for k in range(len(t)))
    if t.min() >= sv.probe.t_max:
        return "no output neuron fired: the network does not decide"
    if win is None:
        tied = ", ".join(names[k] for k in np.flatnonzero(t == t.min()))
        return f"a tie at t={int(t.min())} between {tied}"
    return f"the network says {names[win]} (first output spike at t={int(t.min())})"


class DrawTab(Extension):
    title = "Draw a digit"

    def __init__(self) -> None:
        self.canvas = DrawCanvas()
        self.center = pn.widgets.Checkbox(**label("centre and scale like MNIST"), value=True)
        self.clear_button = pn.widgets.Button(**label("Clear"), width=90)
        self.again_button = pn.widgets.Button(**label("Run again with current weights"), width=240)
        self.info = pn.pane.Markdown("Draw a digit in the black square (white ink).",
                                     sizing_mode="stretch_width",
                                     css_classes=["snnviz-draw-info"])
        self.panes = {"input": make_pane(vf.build_input(None, None)),
                      "race": make_pane(vf.build_race(None, ())),
                      "raster": make_pane(vf.build_raster(None))}
        self.net: NetCopy | None = None
        self.sample: SampleView | None = None
        self.image: np.ndarray | None = None          # the uint8 input the network saw
        self.pending = False
        self.external: NetCopy | None = None          # a library run's trained network
        self.external_name = ""
        self.session_button = pn.widgets.Button(**label("Back to this session's network"),
                                                width=240, visible=False)
        self.session_button.on_click(lambda e: self.use_network(None))
        self.canvas.param.watch(lambda e: self.run(), "pixels")
        self.center.param.watch(lambda e: self.show(), "value")
        self.clear_button.on_click(lambda e: self.canvas.clear())
        self.again_button.on_click(lambda e: self.run())

    def tab(self) -> pn.viewable.Viewable:
        p = self.panes
        left = pn.Column(self.canvas, pn.Row(self.clear_button, self.center),
                         self.again_button, self.session_button, width=320)
        return pn.Column(
            pn.Row(left, pn.Column(self.info, explained(p["race"], "draw"),
                                   sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.Row(explained(p["input"], "input"), explained(p["raster"], "raster"),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    # ------------------------------------------------------------------ flow ------------
    def on_reset(self) -> None:
        self.pending = False
        if self.external is not None:
            return
        self.net = None
        if self.canvas.pixels:
            self.run()

    def use_network(self, net: NetCopy | None, name: str = "") -> None:
        """Draw against ``net`` (a finished run's network) instead of the session's run;
        None: back to the session's run."""
        self.external, self.external_name = net, name
        self.session_button.visible = net is not None
        self.again_button.visible = net is None
        self.net = net
        if net is not None and not self.canvas.pixels:
            self.info.object = (f"Draw a digit: it goes through the trained network of the "
                                f"library run {name} ({net.algorithm}).")
        self.run()

    def run(self) -> None:
        """Fetch the current weights from the training thread, then show the drawing."""
        if not self.canvas.pixels:
            self.sample = None
            if self.external is None:
                self.info.object = "Draw a digit in the black square (white ink)."
            return
        if self.external is not None:
            self.net = self.external
            self.show()
            return
        app = self.app
        if app is None or not app.request(copy_net, self.on_net):
            self.info.object = "Fix the settings first: there is no network to run."
            return
        self.pending = True
        self.info.object = "Reading the current weights..."

    def on_net(self, net: NetCopy) -> None:
        self.net, self.pending = net, False
        self.show()

    def show(self) -> None:
        net, pixels = self.net, self.canvas.pixels
        if net is None or not pixels:
            return
        try:
            img = drawing_input(pixels, net.in_shape, center=bool(self.center.value))
        except ValueError as e:
            self.info.object = f"The drawing could not be read: {e}"
            return
        sv = run_image(net, img)
        self.sample, self.image = sv, img
        n = len(sv.probe.layers)
        race = vf.build_race(sv.probe, sv.classes)
        race.layout.title.text = "Output race for your drawing: " + outcome_text(sv)
        raster = vf.build_raster(sv.probe, n_layers=n)
        raster.layout.title.text = "Spikes of your drawing, layer by layer"
        self.panes["race"].object = race
        self.panes["raster"].object = raster
        inp = vf.build_input(sv.image, sv.probe)
        spiked = int((np.asarray(sv.probe.t_in) < sv.probe.t_max).sum())
        inp.layout.title.text = f"What the network sees: your drawing, {spiked} pixels spike"
        self.panes["input"].object = inp
        if self.external is not None:
            self.info.object = (f"**{outcome_text(sv).capitalize()}.** Best weights of the "
                                f"library run {self.external_name} ({net.algorithm}).")
        else:
            self.info.object = (f"**{outcome_text(sv).capitalize()}.** Weights after trainer "
                                f"step {net.step} of the {net.algorithm} run; draw again or "
                                "press the button to use newer weights.")

    def on_run(self, run: Any) -> None:
        if self.canvas.pixels and self.net is None and not self.pending \
                and self.external is None:
            self.run()
