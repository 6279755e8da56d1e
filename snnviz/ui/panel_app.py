"""The served training dashboard: one :class:`TrainingApp` per browser session.

Data flow (docs/dashboard.md): a :class:`TrainingWorker` thread owns the session's trainer and
advances ``trainer.steps()``; its events go through a bounded, never-blocking
:class:`~snnviz.record.EventQueue`; a periodic callback on the server's event loop drains the
queue for at most ``drain_ms`` into a :class:`~snnviz.record.Recorder` and patches the figures
of the visible tab in place (:mod:`snnviz.viz.update`). Pause and Step are
``threading.Event`` flags the worker checks between trainer steps, so training never waits for
the browser and one session's training never blocks another session's controls. The sample
inspector and the weight views are computed by the worker between steps, on request.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import panel as pn
import param
import plotly.graph_objects as go

from snnviz.api import make_trainer
from snnviz.config import DataConfig, RunConfig
from snnviz.data import load_dataset, split_dataset
from snnviz.record import (
    EventQueue,
    FlipCounter,
    Recorder,
    SampleView,
    Snapshot,
    WeightView,
    probe_sample,
    weight_view,
)
from snnviz.training.events import Alert, BatchEnd, RunEnd, RunStart
from snnviz.ui.controls import ConfigForm, algorithm_options, available_datasets, label
from snnviz.viz import figures as vf
from snnviz.viz import update as vu

__all__ = ["TrainingWorker", "WorkerError", "FigurePane", "LoopBudget", "TrainingApp"]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _splits(data: DataConfig):
    """Loaded and split data, shared read-only between sessions."""
    ds = load_dataset(data.dataset, data.data_root)
    return split_dataset(ds, data.val_size, data.train_size, data.test_size, data.split_seed)


@dataclass(frozen=True)
class WorkerError:
    """The worker could not build or advance the run; ``message`` is for the user."""

    message: str


class TrainingWorker:
    """Owns one trainer in a daemon thread and advances it on command.

    Args:
        cfg: the run to train (the trainer is built in the thread).
        out: where events, request results and :class:`WorkerError` go.
        nice: on Linux, how much lower than the server's the thread's scheduling priority
            is, so that the event loop answering clicks wins when cores are scarce.
    """

    def __init__(self, cfg: RunConfig, out: EventQueue, nice: int = 5) -> None:
        self.cfg, self.out, self.nice = cfg, out, nice
        self.trainer: Any = None
        self.finished = False
        self.flips = FlipCounter()
        self._run, self._step = threading.Event(), threading.Event()
        self._stop, self._wake = threading.Event(), threading.Event()
        self._requests: deque[Callable[[Any], Any]] = deque()
        self._gen: Any = None
        self.thread = threading.Thread(target=self._main, name="snnviz-trainer", daemon=True)
        self.thread.start()

    @property
    def running(self) -> bool:
        return self._run.is_set() and not self.finished

    def resume(self) -> None:
        self._run.set()
        self._wake.set()

    def pause(self) -> None:
        self._run.clear()

    def step(self) -> None:
        """Advance exactly one trainer step (then stay paused)."""
        self._run.clear()
        self._step.set()
        self._wake.set()

    def request(self, fn: Callable[[Any], Any]) -> None:
        """Run ``fn(trainer)`` between steps; a non-None result goes to ``out``."""
        self._requests.append(fn)
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self.thread.join(timeout)

    def _lower_priority(self) -> None:
        if self.nice > 0 and sys.platform.startswith("linux"):   # per-thread on Linux only
            try:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid)
                               + self.nice)
            except OSError:
                log.debug("could not lower the training thread's priority")

    def _main(self) -> None:
        self._lower_priority()
        try:
            self.trainer = make_trainer(self.cfg, splits=_splits(self.cfg.data))
            self._gen = self.trainer.steps()
            self._advance()                                   # RunStart: no training yet
            while not self._stop.is_set():
                self._wake.clear()
                if not self.finished and (self._run.is_set() or self._step.is_set()):
                    self._step.clear()
                    self._advance()
                while self._requests and not self._stop.is_set():
                    result = self._requests.popleft()(self.trainer)
                    if result is not None:
                        self.out.put(result)
                if not self.running:
                    self._wake.wait(0.5)
        except Exception as e:  # shown to the user instead of a traceback
            log.exception("training worker failed")
            self.out.put(WorkerError(f"{type(e).__name__}: {e}"))

    def _advance(self) -> None:
        """Advance the run up to and including the next trainer step (or its end)."""
        for ev in self._gen:
            self.out.put(ev)
            if isinstance(ev, BatchEnd) and ev.sign_flips:
                self.flips.observe(self.trainer.params.w[0])
            if isinstance(ev, (BatchEnd, RunStart)):
                return
            if isinstance(ev, RunEnd):
                break
        self.finished = True
        self._run.clear()


class LoopBudget:
    """Share of the server's event loop that the view refreshes of all sessions may use.

    Every session's refresh runs on the one event loop that also answers clicks. Refreshes
    are skipped (events are still recorded) while the CPU time they took recently, an
    exponential average over ``window`` seconds, exceeds ``share`` of the wall time, so
    clicks stay responsive when many sessions train at once. Used from the event loop only.
    """

    def __init__(self, share: float = 0.4, window: float = 1.0) -> None:
        self.share, self.window = share, window
        self._spent, self._at = 0.0, time.perf_counter()

    def _decayed(self) -> float:
        now = time.perf_counter()
        self._spent *= float(np.exp(-(now - self._at) / self.window))
        self._at = now
        return self._spent

    def allow(self) -> bool:
        return self._decayed() < self.share * self.window

    def charge(self, seconds: float) -> None:
        self._spent = self._decayed() + seconds


LOOP_BUDGET = LoopBudget()


def _copy_tree(obj: Any) -> Any:
    """Copy nested dicts and lists; leave arrays and scalars shared."""
    if isinstance(obj, dict):
        return {k: _copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_copy_tree(v) for v in obj]
    return obj


class FigurePane(pn.pane.Plotly):
    """``pn.pane.Plotly`` that also sends in-place changes of nested properties.

    The stock pane keeps a shallow copy of the figure's JSON as the state last sent to the
    browser; nested dicts (``layout.title``, ``marker``) are shared with the figure, so a
    patched title or marker colour compares equal and is never sent, and nested numpy arrays
    are moved out of the figure. Copying the nested containers avoids both.
    """

    @classmethod
    def _plotly_json_wrapper(cls, fig: Any) -> dict:
        return _copy_tree(super()._plotly_json_wrapper(fig))

    def _to_figure(self, obj: Any) -> Any:
        # The stock check also looks up go.FigureWidget, which retries a failing import on
        # every refresh when anywidget is not installed.
        return obj if isinstance(obj, go.Figure) else super()._to_figure(obj)


def _button(text: str, color: str) -> pn.widgets.Button:
    kind = "color" if "color" in pn.widgets.Button.param else "button_type"   # newer Panel
    return pn.widgets.Button(**label(text), **{kind: color}, sizing_mode="stretch_width",
                             margin=(5, 3))


def _pane(fig: Any, height: int | None = None) -> FigurePane:
    return FigurePane(fig, link_figure=False, sizing_mode="stretch_width",
                      config={"displaylogo": False, "responsive": True}, height=height)


class TrainingApp(pn.viewable.Viewer):
    """Live training dashboard for any algorithm in :data:`snnviz.ALGORITHMS`.

    Args:
        algorithm, dataset: the initial choice.
        overrides: initial values of any config field (e.g. ``{"epochs": 5}``).
        seed: initial run seed.
        update_ms: period of the view refresh while served.
        drain_ms: time per refresh spent draining events.
        loop_budget: the refresh budget shared by the sessions of this server
            (default: :data:`LOOP_BUDGET`).
    """

    status_text = param.String(default="", doc="one-line run status")

    def __init__(self, algorithm: str = "s4nn", dataset: str = "mnist-mini",
                 overrides: dict[str, Any] | None = None, seed: int = 0,
                 update_ms: int = 100, drain_ms: float = 20.0,
                 loop_budget: LoopBudget | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._overrides, self._drain_s = dict(overrides or {}), drain_ms / 1000
        self.loop_budget = loop_budget if loop_budget is not None else LOOP_BUDGET
        self.queue = EventQueue(512)
        self.worker: TrainingWorker | None = None
        self.recorder = Recorder()
        self._snap, self._run_seen, self._seen = Snapshot(), None, (-1, -1, -1)
        self._sample: SampleView | None = None
        self._weights: WeightView | None = None
        self._chosen: list[int] = []
        self._last_weights = self._last_status = 0.0
        self._valid = True
        self.updates = 0                      # live-view refreshes sent (benchmarks, tests)
        self._make_controls(algorithm, dataset, seed)
        self._make_views()
        self.reset()
        self._periodic: Any = None
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            self._periodic = pn.state.add_periodic_callback(self._tick, period=update_ms)
            pn.state.on_session_destroyed(self._on_session_destroyed)

    # ------------------------------------------------------------------ controls -------
    def _make_controls(self, algorithm: str, dataset: str, seed: int) -> None:
        datasets = available_datasets()
        self.algorithm = pn.widgets.Select(**label("algorithm"), options=algorithm_options(),
                                           value=algorithm, sizing_mode="stretch_width")
        self.dataset = pn.widgets.Select(**label("dataset"), options=datasets,
                                         value=dataset if dataset in datasets else datasets[0],
                                         sizing_mode="stretch_width")
        self.form = ConfigForm(algorithm, self.dataset.value, self._overrides, seed)
        self.start_button = _button("Start", "primary")
        self.pause_button = _button("Pause", "warning")
        self.step_button = _button("Step", "default")
        self.reset_button = _button("Reset", "danger")
        self.start_button.on_click(lambda e: self.start())
        self.pause_button.on_click(lambda e: self.pause())
        self.step_button.on_click(lambda e: self.step())
        self.reset_button.on_click(lambda e: self.reset())
        self.message = pn.pane.Alert("", alert_type="danger", visible=False,
                                     sizing_mode="stretch_width")
        self.status = pn.pane.HTML(self.param.status_text, sizing_mode="stretch_width",
                                   css_classes=["snnviz-status"])
        self.algorithm.param.watch(self._on_algorithm, "value")
        self.dataset.param.watch(lambda e: self.reset(), "value")
        self._cards = pn.Column(sizing_mode="stretch_width")
        self._fill_cards()

    def _fill_cards(self) -> None:
        for w in self.form.widgets.values():
            w.param.watch(lambda e: self._validate(), "value")
        self._cards[:] = [
            pn.Card(*self.form.section(s), title=s.capitalize(), collapsed=s != "algorithm",
                    sizing_mode="stretch_width") for s in ("algorithm", "training", "data",
                                                            "recording")
        ]

    def _on_algorithm(self, event: Any) -> None:
        carry = self.form.carry_over(event.new)
        self.form = ConfigForm(event.new, self.dataset.value, carry,
                               self.form.widgets["seed"].value or 0)
        self._fill_cards()
        self.reset()

    def _validate(self) -> RunConfig | None:
        self.form.dataset = self.dataset.value
        cfg, error = self.form.build()
        self._show(error)
        self._valid = cfg is not None
        self._buttons()
        return cfg

    def _show(self, text: str, kind: str = "danger") -> None:
        self.message.object, self.message.alert_type = text, kind
        self.message.visible = bool(text)

    def _finished(self) -> bool:
        return self.worker is not None and self.worker.finished

    def _buttons(self, status: bool = True) -> None:
        if status:
            self.status_text = _status(self._snap, self.worker)
            self._last_status = time.perf_counter()
        running = self.worker is not None and self.worker.running
        self.start_button.disabled = running or self._finished() or not self._valid
        self.pause_button.disabled = not running
        self.step_button.disabled = running or self._finished() or self.worker is None

    # ------------------------------------------------------------------ actions --------
    def start(self) -> None:
        """Start, or resume, training (a run not yet started takes the current settings)."""
        cfg = self._validate()
        if cfg is None:
            return
        if self.worker is None or (cfg != self.worker.cfg and not self._snap.step.size):
            self.reset()
        elif cfg != self.worker.cfg:
            self._show("Settings changed during the run: press Reset to apply them.", "info")
        if self.worker is not None:
            self.worker.resume()
        self._buttons()

    def pause(self) -> None:
        if self.worker is not None:
            self.worker.pause()
        self._buttons()

    def step(self) -> None:
        """Advance one trainer step, then refresh the sample inspector."""
        if self.worker is None:
            return
        self.worker.step()
        self._inspect()
        self._buttons()

    def reset(self) -> None:
        """Stop the current run and prepare a new one from the widget values."""
        if self.worker is not None:
            self.worker.stop(timeout=0.0)
            self.worker = None
        self.queue = EventQueue(512)
        cfg = self._validate()
        self.recorder = Recorder(cfg.record if cfg is not None else None)
        self._sample = self._weights = None
        self._chosen = []
        if cfg is not None:
            self.worker = TrainingWorker(cfg, self.queue)
            self._inspect()
        self._buttons()
        self._refresh(force=True)

    def _on_session_destroyed(self, session_context: Any) -> None:
        self.close(timeout=0.0)         # the worker ends after its current step

    def close(self, timeout: float = 5.0) -> None:
        """Stop the view refresh and the training thread, waiting up to ``timeout`` seconds
        for it (done without waiting when the browser tab closes)."""
        if self._periodic is not None:
            self._periodic.stop()
        if self.worker is not None:
            self.worker.stop(timeout=timeout)

    # ------------------------------------------------------------------ views ----------
    def _make_views(self) -> None:
        empty = Snapshot()
        self.live = {
            "curves": _pane(vf.build_curves(empty)),
            "race": _pane(vf.build_race(None, ())),
            "membrane": _pane(vf.build_membrane(None, 1)),
            "raster": _pane(vf.build_raster(None)),
            "hist": _pane(vf.build_spike_hist(None, 1)),
            "confusion": _pane(vf.build_confusion(None, ())),
            "flips": _pane(vf.build_sign_flips(empty)),
        }
        self.sample_index = pn.widgets.IntInput(**label("test sample"), value=0, start=0, width=120)
        self.time = pn.widgets.IntSlider(**label("time step"), start=0, end=1, value=1,
                                         sizing_mode="stretch_width")
        self.layer = pn.widgets.Select(**label("traced layer"), options={"output": -1}, width=150)
        refresh = pn.widgets.Button(**label("Refresh with current weights"), width=220)
        clear = pn.widgets.Button(**label("Clear picked neurons"), width=170)
        self.inspect_info = pn.pane.HTML("", margin=(22, 10))
        self.inspect = {
            "input": _pane(vf.build_input(None, None)),
            "raster": _pane(vf.build_raster(None)),
            "race": _pane(vf.build_race(None, ())),
            "membrane": _pane(vf.build_membrane(None, 1)),
        }
        self.sample_index.param.watch(lambda e: self._inspect(), "value")
        refresh.on_click(lambda e: self._inspect())
        clear.on_click(lambda e: self._pick(None))
        self.time.param.watch(lambda e: self._patch_inspector(), "value")
        self.layer.param.watch(lambda e: self._pick(None), "value")
        self.inspect["raster"].param.watch(self._on_raster_click, "click_data")
        self.weight_layer = pn.widgets.Select(**label("layer"), options={"hidden 1": 0}, width=150)
        self.weight_mode = pn.widgets.Select(**label("tiles show"), width=150,
                                             options=["weights", "sign", "flips"])
        self.weights = {"hist": _pane(vf.build_weight_hist(None)),
                        "tiles": _pane(vf.build_weight_tiles(None))}
        self.weight_layer.param.watch(lambda e: self._request_weights(), "value")
        self.weight_mode.param.watch(lambda e: self._rebuild_tiles(), "value")
        lv = self.live
        self.tabs = pn.Tabs(
            ("Training", pn.Column(lv["curves"], pn.Row(lv["race"], lv["membrane"]),
                                   pn.Row(lv["raster"], pn.Column(lv["hist"], lv["confusion"])),
                                   lv["flips"], sizing_mode="stretch_width")),
            ("Sample inspector", pn.Column(
                pn.Row(self.sample_index, self.layer, refresh, clear, self.inspect_info),
                self.time, pn.Row(self.inspect["input"], self.inspect["race"]),
                pn.Row(self.inspect["raster"], self.inspect["membrane"]),
                sizing_mode="stretch_width")),
            ("Weights", pn.Column(pn.Row(self.weight_layer, self.weight_mode),
                                  pn.Row(self.weights["hist"], self.weights["tiles"]),
                                  sizing_mode="stretch_width")),
            dynamic=True, sizing_mode="stretch_width")
        self.tabs.param.watch(lambda e: self._refresh(force=True), "active")

    def _sidebar(self) -> pn.Column:
        return pn.Column(self.algorithm, self.dataset,
                         pn.Row(self.start_button, self.pause_button, sizing_mode="stretch_width"),
                         pn.Row(self.step_button, self.reset_button, sizing_mode="stretch_width"),
                         self.status, self.message, self._cards, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(pn.Column(self._sidebar(), width=340), self.tabs,
                      sizing_mode="stretch_width")

    def template(self) -> pn.template.BootstrapTemplate:
        """The page: controls in the sidebar, views in the main area."""
        return pn.template.BootstrapTemplate(    # its assets are bundled: works offline
            title="snnviz: watch spiking networks learn", sidebar=[self._sidebar()],
            main=[self.tabs], sidebar_width=360, header_background=vf.THEME["accent"],
            busy_indicator=None)   # it would blink at every view refresh

    def servable(self, title: str | None = "snnviz", location: bool = True, area: str = "main",
                 target: str | None = None) -> Any:
        """Mark the page template as the served document (``panel serve``)."""
        return self.template().servable(title=title, location=location, area=area,
                                        target=target)

    # ------------------------------------------------------------------ updates --------
    def _tick(self) -> None:
        """Drain events for at most ``drain_ms``, then patch the visible views (when the
        shared refresh budget allows)."""
        t_end = time.perf_counter() + self._drain_s
        while time.perf_counter() < t_end:
            item = self.queue.get()
            if item is None:
                break
            if isinstance(item, SampleView):
                self._sample = item
                self._rebuild_inspector()
            elif isinstance(item, WeightView):
                self._weights = item
                self._rebuild_tiles()
            elif isinstance(item, WorkerError):
                self._show(item.message)
            else:
                self.recorder(item)
                if isinstance(item, Alert):
                    self._show(item.message, "warning")
        if self.loop_budget.allow():
            t0 = time.thread_time()              # CPU time: a busy machine is not our cost
            self._refresh()
            self.loop_budget.charge(time.thread_time() - t0)

    def _refresh(self, force: bool = False) -> None:
        snap = self.recorder.snapshot()
        self._snap = snap
        tab = self.tabs.active
        with pn.io.hold():
            if snap.run is not self._run_seen:
                self._run_seen = snap.run
                self._rebuild_live(snap)
                force = True
            if tab == 0:
                self._patch_live(snap, force)
            elif tab == 1 and force and snap.run is not None:
                self._inspect()                     # opened: probe with the current weights
            elif tab == 2 and (force or self._weights_due()):
                self._request_weights()
            self._buttons(status=force or time.perf_counter() - self._last_status > 0.25)

    def _rebuild_live(self, snap: Snapshot) -> None:
        run = snap.run
        n = len(run.layer_sizes) - 1 if run else 2
        t_max = int(run.config["algo"].get("t_max", 1)) if run else 1
        classes = run.classes if run else ()
        lv = self.live
        lv["race"].object = vf.build_race(None, classes)
        lv["membrane"].object = vf.build_membrane(None, t_max, names=classes,
                                                  title="Membrane potential: output layer")
        lv["raster"].object = vf.build_raster(None, n_layers=n)
        lv["hist"].object = vf.build_spike_hist(None, t_max, n_layers=n)
        lv["confusion"].object = vf.build_confusion(None, classes)
        lv["flips"].object = vf.build_sign_flips(snap)
        lv["flips"].visible = False                     # shown once flips are recorded
        self.time.param.update(value=0, end=max(t_max - 1, 1))
        self.time.value = self.time.end
        self.layer.options = {name: i for i, name in enumerate(vu.layer_names(n))}
        self.layer.value = n - 1
        self.weight_layer.options = {name: i for i, name in enumerate(vu.layer_names(n))}
        if run:
            self.sample_index.end = max(run.n_test - 1, 0)

    def _patch_live(self, snap: Snapshot, force: bool) -> None:
        seen = (snap.version, snap.probe_version, snap.eval_version)
        old, self._seen = self._seen, seen
        lv, run = self.live, snap.run
        if force or seen[0] != old[0]:
            _show_fig(lv["curves"], vu.patch_curves, snap)
            self.updates += 1
            lv["flips"].visible = snap.sign_flips.shape[1] > 0
            if lv["flips"].visible:
                _show_fig(lv["flips"], vu.patch_sign_flips, snap)
        if run is not None and (force or seen[1] != old[1]):
            p = snap.probe
            _show_fig(lv["race"], vu.patch_race, p, run.classes, targets=_targets(p))
            t_max = p.t_max if p else 1
            _show_fig(lv["membrane"], vu.patch_membrane, p.layers[-1] if p else None, t_max,
                      names=run.classes)
            _show_fig(lv["raster"], vu.patch_raster, p)
        if run is not None and (force or seen[2] != old[2]):
            _show_fig(lv["hist"], vu.patch_spike_hist, snap.val, _t_max(run))
            _show_fig(lv["confusion"], vu.patch_confusion, snap.val, run.classes)

    # ------------------------------------------------------------------ inspector ------
    def _inspect(self) -> None:
        """Ask the worker to probe the chosen test sample with the current weights."""
        if self.worker is None:
            return
        index = int(self.sample_index.value or 0)

        def work(trainer: Any) -> SampleView | None:
            n = len(trainer.y_test)
            if n == 0:
                return None
            i = index % n
            return probe_sample(trainer.algo, trainer.params, trainer.cfg.algo,
                                trainer.t_test[i], trainer.splits.test_x[i],
                                int(trainer.y_test[i]), i, tuple(trainer.splits.classes),
                                trainer.step)

        self.worker.request(work)

    def _rebuild_inspector(self) -> None:
        sv = self._sample
        n = len(sv.probe.layers)
        self.inspect_info.object = f"weights after trainer step {sv.step}"
        ins = self.inspect
        ins["raster"].object = vf.build_raster(sv.probe, n_layers=n)
        ins["race"].object = vf.build_race(sv.probe, sv.classes, targets=_targets(sv.probe))
        self._patch_inspector(rebuild=True)

    def _on_raster_click(self, event: Any) -> None:
        points = (event.new or {}).get("points") or []
        if points:
            self._pick(int(points[0]["y"]), layer=int(points[0]["curveNumber"]) - 1)

    def _pick(self, neuron: int | None, layer: int | None = None) -> None:
        """Add a clicked neuron to the traced ones (``None``: back to the default)."""
        if neuron is None or layer is None or layer < 0:
            self._chosen = []
        else:
            if layer != self.layer.value:
                self._chosen = []
                self.layer.value = layer                       # re-enters with None
            self._chosen = [*self._chosen[-9:], neuron] if neuron not in self._chosen \
                else self._chosen
        self._patch_inspector(rebuild=True)

    def _patch_inspector(self, rebuild: bool = False) -> None:
        sv = self._sample
        if sv is None:
            return
        t, p, ins = int(self.time.value), sv.probe, self.inspect
        layer = p.layers[int(self.layer.value)] if p.layers else None
        names = sv.classes if int(self.layer.value) in (-1, len(p.layers) - 1) else None
        if rebuild:
            ins["membrane"].object = vf.build_membrane(
                layer, p.t_max, n_lines=10, neurons=self._chosen or None, names=names,
                t_cursor=t, title="Membrane potential (click neurons in the raster)")
            ins["input"].object = vf.build_input(sv.image, p, t_cursor=t)
            return
        _show_fig(ins["membrane"], vu.patch_membrane, layer, p.t_max,
                  neurons=self._chosen or None, names=names, t_cursor=t)
        _show_fig(ins["input"], vu.patch_input, sv.image, p, t_cursor=t)
        _show_fig(ins["raster"], vu.patch_raster, p, t_cursor=t)

    # ------------------------------------------------------------------ weights --------
    def _weights_due(self) -> bool:
        return self.worker is not None and self.worker.running and \
            time.perf_counter() - self._last_weights > 1.0

    def _request_weights(self) -> None:
        if self.worker is None:
            return
        self._last_weights = time.perf_counter()
        layer, worker = int(self.weight_layer.value or 0), self.worker

        def work(trainer: Any) -> WeightView | None:
            shape = trainer.splits.test_x.shape[1:]
            return weight_view(trainer.params, layer, shape, trainer.step, worker.flips)

        self.worker.request(work)

    def _rebuild_tiles(self) -> None:
        wv = self._weights
        if wv is None:
            return
        label = vu.layer_names(max(len(self.weight_layer.options), 1))[wv.layer]
        _show_fig(self.weights["hist"], vu.patch_weight_hist, wv.w,
                  title=f"Weights of {label} (step {wv.step})")
        mode = self.weight_mode.value
        tiles = None
        if wv.layer == 0 and wv.w.ndim == 2 and wv.w.shape[1] == int(np.prod(wv.in_shape)):
            z = {"weights": wv.w, "sign": np.where(wv.w >= 0, 1.0, -1.0),
                 "flips": wv.flips}.get(mode)
            tiles = vf.tile_rows(z, wv.in_shape) if z is not None else None
        title = ("first-layer " + mode + " of the first 16 hidden neurons" if tiles is not None
                 else "tiles: dense first layer only (flips: binary-weight runs only)")
        self.weights["tiles"].object = vf.build_weight_tiles(tiles, mode=mode, title=title)


def _show_fig(pane: pn.pane.Plotly, patch: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """Patch the pane's figure in place and send the changed data to the browser."""
    patch(pane.object, *args, **kw)
    pane.param.trigger("object")


def _t_max(run: RunStart) -> int:
    return int(run.config["algo"].get("t_max", 1))


def _targets(probe: Any) -> np.ndarray | None:
    return None if probe is None else probe.extra.get("t_target")


def _status(snap: Snapshot, worker: TrainingWorker | None) -> str:
    if snap.run is None:
        return "Preparing the run..." if worker is not None else "Fix the settings to start."
    run = snap.run
    epochs = run.config["train"]["epochs"]
    if snap.status not in ("empty", "running"):
        acc = (snap.summary or {}).get("test_accuracy")
        done = f" test accuracy {acc:.1%}" if acc is not None else ""
        state = f"finished ({snap.status}){done}"
    else:
        state = "running" if worker is not None and worker.running else "paused"
    last = snap.last
    if last is None:
        return (f"<b>{state}</b>: {html.escape(run.algorithm)} on {html.escape(run.dataset)}, "
                f"{run.n_train} training samples. Press Start or Step.")
    val = snap.val_accuracy[-1] if snap.val_accuracy.size else np.nan
    val_s = f", val {val:.1%}" if np.isfinite(val) else ""
    return (f"<b>{state}</b>: epoch {last.epoch + 1}/{epochs}, step {last.step + 1}, "
            f"{last.seen}/{last.epoch_size} samples, {last.samples_per_second:,.0f} samples/s, "
            f"train {last.running_accuracy:.1%}{val_s}")
