"""The Weights tab (an :class:`~snnviz.ui.dashboard.extensions.Extension`): a layer's (latent)
weight histogram coloured by sign and the first layer's weights, signs or sign-flip counts
tiled as input images; refreshed about once a second while training and the tab is open."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import panel as pn

from snnviz.record import WeightView, weight_view
from snnviz.training.events import RunStart
from snnviz.ui.controls import label
from snnviz.ui.dashboard.extensions import Extension
from snnviz.ui.dashboard.panes import make_pane, show_fig
from snnviz.viz import figures as vf
from snnviz.viz import update as vu

__all__ = ["WeightsTab"]


class WeightsTab(Extension):
    title = "Weights"

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self.view: WeightView | None = None
        self._last = 0.0
        self.layer = pn.widgets.Select(**label("layer"), options={"hidden 1": 0}, width=150)
        self.mode = pn.widgets.Select(**label("tiles show"), width=150,
                                      options=["weights", "sign", "flips"])
        self.panes = {"hist": make_pane(vf.build_weight_hist(None)),
                      "tiles": make_pane(vf.build_weight_tiles(None))}
        self.layer.param.watch(lambda e: self.request(), "value")
        self.mode.param.watch(lambda e: self.draw(), "value")

    def tab(self) -> pn.viewable.Viewable:
        return pn.Column(pn.Row(self.layer, self.mode),
                         pn.Row(self.panes["hist"], self.panes["tiles"]),
                         sizing_mode="stretch_width")

    def on_reset(self) -> None:
        self.view = None

    def on_run(self, run: RunStart) -> None:
        n = len(run.layer_sizes) - 1
        self.layer.options = {name: i for i, name in enumerate(vu.layer_names(n))}

    def on_refresh(self, snap: Any, visible: bool, force: bool) -> None:
        worker = self.app.worker if self.app is not None else None
        due = worker is not None and worker.running and \
            time.perf_counter() - self._last > self.period
        if visible and (force or due):
            self.request()

    def request(self) -> None:
        app = self.app
        if app is None or app.worker is None:
            return
        self._last = time.perf_counter()
        layer, flips = int(self.layer.value or 0), app.worker.flips

        def work(trainer: Any) -> WeightView | None:
            shape = trainer.splits.test_x.shape[1:]
            return weight_view(trainer.params, layer, shape, trainer.step, flips)

        app.request(work, self._received)

    def _received(self, view: WeightView) -> None:
        self.view = view
        self.draw()

    def draw(self) -> None:
        wv = self.view
        if wv is None:
            return
        name = vu.layer_names(max(len(self.layer.options), 1))[wv.layer]
        show_fig(self.panes["hist"], vu.patch_weight_hist, wv.w,
                 title=f"Weights of {name} (step {wv.step})")
        mode = self.mode.value
        tiles = None
        if wv.layer == 0 and wv.w.ndim == 2 and wv.w.shape[1] == int(np.prod(wv.in_shape)):
            z = {"weights": wv.w, "sign": np.where(wv.w >= 0, 1.0, -1.0),
                 "flips": wv.flips}.get(mode)
            tiles = vf.tile_rows(z, wv.in_shape) if z is not None else None
        title = ("first-layer " + mode + " of the first 16 hidden neurons" if tiles is not None
                 else "tiles: dense first layer only (flips: binary-weight runs only)")
        self.panes["tiles"].object = vf.build_weight_tiles(tiles, mode=mode, title=title)
