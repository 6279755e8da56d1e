"""Widget dashboards for Jupyter notebooks (ipywidgets + Plotly ``FigureWidget``).

All the logic of the notebooks in ``notebooks/`` lives here, so the notebooks stay a few lines
per cell and everything is tested:

- :class:`TrainingLab`: a control row generated from the configs' field metadata (the same
  :class:`~snnviz.ui.controls.ConfigForm` as the Panel dashboard; bounds, steps, choices, the
  field docs as tooltips; invalid values show a red message and disable Start), the buttons
  Start / Pause / Step / Reset and live ``FigureWidget`` views: training curves, the output
  first-spike race, spike raster, output membrane potentials against the threshold,
  spike-time histogram, and per algorithm family sign flips (binary weights), spike-time
  displacements (STiDi-BP) or the ANN-vs-SNN twin scatter and read-out length (proxy).

  Training follows design.md C6: the dashboard's :class:`TrainingWorker` thread advances
  ``trainer.steps()`` and hands events through a bounded :class:`~snnviz.record.EventQueue`;
  a periodic callback on the kernel's event loop drains it into a
  :class:`~snnviz.record.Recorder` and patches the figures in place, so the kernel keeps
  answering while a run trains. With ``threaded=False`` (the default under
  ``SNNVIZ_SMOKE=1``) an :class:`InlineWorker` advances the same run in the caller's thread:
  :meth:`TrainingLab.step`, :meth:`TrainingLab.run_steps` and :meth:`TrainingLab.run` are
  then deterministic, for tests and scripts.
- :class:`NeuronExplorer` (one IF neuron with sliders), :class:`LatencyExplorer` (latency
  code of an image with a time slider) for the tour notebook.
- :func:`compare_algorithms` (all algorithms on the same data and seed),
  :func:`proxy_baselines` (read-out length sweep and ANN-to-SNN conversion), and
  :func:`final_run` (the closing cell of every notebook: the embedded run, or the full data
  set when asked for).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as ipw
import numpy as np
import plotly.graph_objects as go

from snnviz.algorithms import get_algorithm
from snnviz.api import make_run_config, make_trainer
from snnviz.config import RunConfig
from snnviz.data import load_dataset, resolve_data_root
from snnviz.encoders.latency import latency_s4nn
from snnviz.record import EventQueue, Recorder, WeightView, weight_view
from snnviz.training.events import Alert, BatchEnd, Probe, RunEnd, RunStart
from snnviz.ui.controls import SECTIONS, ConfigForm, available_datasets
from snnviz.ui.panel_app import TrainingWorker, WorkerError
from snnviz.viz import figures as vf
from snnviz.viz import learning as vl
from snnviz.viz import update as vu

__all__ = ["SMOKE_ENV", "SMOKE_SETTINGS", "smoke", "lab_settings", "InlineWorker", "FigureWidget",
           "TrainingLab", "NeuronExplorer", "LatencyExplorer", "decision_stats",
           "compare_algorithms", "proxy_baselines", "FULL_RUNS", "final_run"]

log = logging.getLogger(__name__)

SMOKE_ENV = "SNNVIZ_SMOKE"
#: The tiny configuration (``SNNVIZ_SMOKE=1``): a few dozen samples, one epoch.
SMOKE_SETTINGS: dict[str, Any] = {"epochs": 1, "train_size": 48, "val_size": 16,
                                  "test_size": 32, "online_chunk": 8, "every": 1}
#: Embedded-subset runs of the notebooks (2,000 training / 500 test images).
_NOTEBOOK_SETTINGS: dict[str, dict[str, Any]] = {
    "s4nn": {"epochs": 3, "every": 2},
    "bs4nn": {"epochs": 3, "every": 2},
    "stidi-bp": {"epochs": 3, "every": 2},
    "stidi-bp-conv": {"epochs": 2, "every": 2, "online_chunk": 20},
    "stidi-bp-conv-binary": {"epochs": 2, "every": 2, "online_chunk": 20},
    "proxy": {"epochs": 2, "train_size": 1000, "batch_size": 50, "every": 2},
}
#: The full-data-set runs of :func:`final_run` (docs/results.md and docs/algorithms/).
FULL_RUNS: dict[str, dict[str, Any]] = {
    "s4nn": {"dataset": "mnist", "epochs": 40, "order": "fixed"},
    "bs4nn": {"dataset": "mnist", "epochs": 40, "order": "replacement"},
    "stidi-bp": {"dataset": "mnist", "epochs": 20},
    "stidi-bp-conv": {"dataset": "mnist", "epochs": 10},
    "stidi-bp-conv-binary": {"dataset": "mnist", "epochs": 10},
    "proxy": {"dataset": "fashion-mnist", "epochs": 10, "batch_size": 100},
}


def smoke() -> bool:
    """True when ``SNNVIZ_SMOKE=1`` selects the tiny configuration."""
    return os.environ.get(SMOKE_ENV, "") == "1"


def lab_settings(algorithm: str, **extra: Any) -> dict[str, Any]:
    """Settings of a notebook run of ``algorithm`` on an embedded subset; ``extra`` adds or
    replaces settings. Under ``SNNVIZ_SMOKE=1`` the tiny configuration wins over both."""
    get_algorithm(algorithm)
    out = {**_NOTEBOOK_SETTINGS.get(algorithm, {"epochs": 3}), **extra}
    if smoke():
        out.update(SMOKE_SETTINGS)
        if out.get("batch_size", 1) > 1:                 # mini-batch algorithms: 6 steps
            out["batch_size"] = 8
    return out


# ---------------------------------------------------------------------- workers --------
class InlineWorker(TrainingWorker):
    """A :class:`TrainingWorker` without its thread: the same run advanced by the same code
    (``_advance``), but in the caller's thread, one trainer step per :meth:`step`.

    Errors are reported as :class:`WorkerError` on ``out``, as the threaded worker does.
    """

    def __init__(self, cfg: RunConfig, out: EventQueue, nice: int = 0) -> None:
        super().__init__(cfg, out, nice=0)     # its thread runs the empty _main below
        self.thread.join()
        self._guard(self._start)

    def _main(self) -> None:
        """Nothing in the background: the caller's thread trains."""

    def _start(self) -> None:
        self.trainer = make_trainer(self.cfg)
        self._gen = self.trainer.steps()
        self._advance()                                          # RunStart

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as e:  # shown to the user instead of a traceback
            log.exception("training failed")
            self.finished = True
            self.out.put(WorkerError(f"{type(e).__name__}: {e}"))
            return None

    @property
    def running(self) -> bool:
        return False

    def resume(self) -> None:
        """Nothing runs in the background: use :meth:`step`."""

    def pause(self) -> None:
        """Nothing runs in the background."""

    def step(self) -> None:
        if not self.finished and self._gen is not None:
            self._guard(self._advance)

    def request(self, fn: Callable[[Any], Any]) -> None:
        if self.trainer is not None:
            result = self._guard(lambda: fn(self.trainer))
            if result is not None:
                self.out.put(result)

    def stop(self, timeout: float = 0.0) -> None:
        self.finished = True


def _contiguous(obj: Any) -> Any:
    """Arrays as the widget protocol can carry them: 1-D numeric arrays go as binary
    buffers (made contiguous); Plotly sends other arrays as JSON lists, where NaN is not
    valid JSON: there (and in float scalars) NaN becomes None, Plotly's gap."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f" and obj.ndim != 1 and not np.isfinite(obj).all():
            return np.where(np.isfinite(obj), obj, None).tolist()
        return np.ascontiguousarray(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _contiguous(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (np.ndarray, dict, list, tuple,
                                                             float)) for v in obj):
        return type(obj)(_contiguous(v) for v in obj)
    return obj


class FigureWidget(go.FigureWidget):
    """``go.FigureWidget`` whose messages to the browser always carry contiguous arrays.

    Widgets send numpy arrays as binary buffers, which must be contiguous; a patcher that
    hands Plotly a strided view (a column of a 2-D array) would otherwise fail when a
    kernel sends the change.
    """

    def _send_restyle_msg(self, restyle_data, trace_indexes=None, source_view_id=None):
        return super()._send_restyle_msg(_contiguous(restyle_data), trace_indexes,
                                         source_view_id)

    def _send_relayout_msg(self, layout_data, source_view_id=None):
        return super()._send_relayout_msg(_contiguous(layout_data), source_view_id)

    def _send_update_msg(self, restyle_data, relayout_data, trace_indexes=None,
                         source_view_id=None):
        return super()._send_update_msg(_contiguous(restyle_data), _contiguous(relayout_data),
                                        trace_indexes, source_view_id)

    def _send_addTraces_msg(self, new_traces_data):
        return super()._send_addTraces_msg(_contiguous(new_traces_data))


def _config_fields(algorithm: str) -> set[str]:
    return {f.name for f in dataclasses.fields(get_algorithm(algorithm).Config)}


def view_names(algorithm: str) -> tuple[str, ...]:
    """The live views of a :class:`TrainingLab` for ``algorithm``."""
    fields, cfg_cls = _config_fields(algorithm), get_algorithm(algorithm).Config
    proxy = "twin_samples" in fields
    out = ["curves", "race", "raster", "membrane"] + (["twin", "t_sweep"] if proxy
                                                       else ["hist"])
    if getattr(cfg_cls, "BINARY", False):
        out += ["flips", "flip_map"]
    if "displacement_probe" in fields:
        out += ["displacement"]
    return tuple(out)


# ---------------------------------------------------------------------- the lab --------
class TrainingLab:
    """Live training dashboard for a notebook (see the module docstring).

    Args:
        algorithm: a name in :data:`snnviz.ALGORITHMS`.
        dataset: the initial dataset (a selector offers the others).
        overrides: initial values of any config field, e.g. :func:`lab_settings`.
        seed: run seed.
        threaded: train in a worker thread (Start returns at once, views update
            periodically); ``False``: in the caller's thread. Default: threaded unless
            ``SNNVIZ_SMOKE=1``.
        update_ms: period of the view refresh while a threaded run trains.
        views: which views to show (default: :func:`view_names`).
        nice: how much lower the training thread's scheduling priority is (Linux). The
            kernel's own thread is idle while a run trains, so the default is 0; the served
            dashboard, whose one event loop answers many sessions, uses 5.
    """

    def __init__(self, algorithm: str = "s4nn", dataset: str = "mnist-mini",
                 overrides: dict[str, Any] | None = None, seed: int = 0, *,
                 threaded: bool | None = None, update_ms: int = 250,
                 views: Sequence[str] | None = None, nice: int = 0) -> None:
        self.algorithm, self.nice = algorithm, nice
        self.threaded = (not smoke()) if threaded is None else bool(threaded)
        self.update_s = update_ms / 1000
        self.form = ConfigForm(algorithm, dataset, overrides, seed, backend="ipywidgets")
        self.view_names = tuple(views) if views is not None else view_names(algorithm)
        self.queue = EventQueue(512)
        self.recorder = Recorder()
        self.worker: TrainingWorker | None = None
        self.error = ""
        self.updates = 0                      # view refreshes that patched something
        self._snap = self.recorder.snapshot()
        self._run_seen: RunStart | None = None
        self._seen = (-1, -1, -1)
        self._disp: deque[tuple[int, np.ndarray]] = deque(maxlen=2000)
        self._last_extra: dict = {}
        self._batches = 0
        self._last_map = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._tick_until = 0.0
        self._make_controls(dataset)
        self._make_views()
        self.reset()

    # ---------------------------------------------------------------- controls --------
    def _make_controls(self, dataset: str) -> None:
        datasets = available_datasets()
        self.dataset = ipw.Dropdown(options=datasets,
                                    value=dataset if dataset in datasets else datasets[0],
                                    description="dataset", tooltip="data set of the run")
        self.buttons = {name: ipw.Button(description=name, button_style=style, tooltip=tip)
                        for name, style, tip in (
                            ("Start", "primary", "train continuously"),
                            ("Pause", "warning", "stop after the current trainer step"),
                            ("Step", "", "one trainer step, then pause"),
                            ("Reset", "danger", "a new run from the settings"))}
        actions = {"Start": self.start, "Pause": self.pause, "Step": self.step,
                   "Reset": self.reset}
        for name, button in self.buttons.items():
            button.on_click(lambda _b, f=actions[name]: self._safely(f))
        self.status = ipw.HTML("")
        self.message = ipw.HTML("")
        self.dataset.observe(lambda _c: self._safely(self.reset), names="value")
        boxes = []
        for section in SECTIONS:
            ws = [self.form.widgets[c.name] for c in self.form.controls if c.section == section]
            for w in ws:
                w.layout.width = "240px"
                w.observe(lambda _c: self._validate(), names="value")
            boxes.append(ipw.Box(ws, layout=ipw.Layout(flex_flow="row wrap")))
        self.settings = ipw.Accordion(children=boxes, titles=tuple(s.capitalize()
                                                                    for s in SECTIONS))
        self.controls = ipw.VBox([
            ipw.HBox([self.dataset, *self.buttons.values()]), self.status, self.message,
            self.settings])

    def _safely(self, fn: Callable[[], Any]) -> None:
        """Run a button action; an unexpected error becomes the red message."""
        try:
            fn()
        except Exception as e:
            log.exception("notebook action failed")
            self._show(f"{type(e).__name__}: {e}")

    def _show(self, text: str, kind: str = "error") -> None:
        color = {"error": "#b91c1c", "warning": "#b45309", "info": "#1d4ed8"}[kind]
        self.error = text if kind == "error" else self.error
        self.message.value = (f'<div style="color:{color};font-weight:600">{html.escape(text)}'
                              "</div>") if text else ""

    def _validate(self) -> RunConfig | None:
        """The run config of the widget values, or None (and the message shown)."""
        self.form.dataset = self.dataset.value
        cfg, err = self.form.build()
        self.error = err
        self._show(err)
        self._buttons()
        return cfg

    def _buttons(self) -> None:
        w = self.worker
        running = w is not None and w.running
        done = w is not None and w.finished
        b = self.buttons
        b["Start"].disabled = running or done or bool(self.error)
        b["Pause"].disabled = not running
        b["Step"].disabled = running or done or w is None
        self.status.value = self.status_text()

    # ---------------------------------------------------------------- actions ---------
    def start(self) -> None:
        """Train continuously: threaded, in the background (returns at once); otherwise in
        this thread to the end of the run. A run not started yet takes the current
        settings; settings changed during a run apply at the next Reset."""
        cfg = self._validate()
        if cfg is None:
            return
        if self.worker is None or (cfg != self.worker.cfg and not self._batches):
            self.reset()
        elif cfg != self.worker.cfg:
            self._show("Settings changed during the run: press Reset to apply them.", "info")
        if self.worker is None:
            return
        if self.threaded:
            self.worker.resume()
            self._schedule(keep_alive=2.0)
            self._buttons()
        else:
            self.run()

    def pause(self) -> None:
        """Stop after the current trainer step."""
        if self.worker is not None:
            self.worker.pause()
        self._buttons()

    def step(self) -> None:
        """One trainer step (threaded: the views follow at the next refresh)."""
        if self.worker is None or self.worker.finished:
            return
        self.worker.step()
        if self.threaded:
            self._schedule(keep_alive=5.0)
        else:
            self.drain()
            self.refresh()
        self._buttons()

    def reset(self) -> None:
        """Throw the current run away and prepare a new one from the widget values."""
        self.close()
        self.queue = EventQueue(512)
        cfg = self._validate()
        self.recorder = Recorder(cfg.record if cfg is not None else None)
        self._disp.clear()
        self._last_extra, self._batches = {}, 0
        if cfg is not None:
            self.worker = (TrainingWorker(cfg, self.queue, nice=self.nice) if self.threaded
                           else InlineWorker(cfg, self.queue))
            self._schedule(keep_alive=5.0)
        self.drain()
        self.refresh(force=True)

    def close(self) -> None:
        """Stop the view refresh and the training thread (after its current step)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.worker is not None:
            self.worker.stop(timeout=0.0)
            self.worker = None
        self._buttons()

    def run_steps(self, n: int, timeout: float = 600.0) -> int:
        """Advance ``n`` trainer steps (fewer if the run ends), then refresh the views;
        returns the steps done. Threaded: waits for each step; ``timeout`` bounds the
        wait for one step (``TimeoutError``)."""
        done = 0
        if self.worker is None:
            return done
        for _ in range(int(n)):
            if self.worker is None or self.worker.finished:
                break
            before = self._batches
            self.worker.step()
            if self.threaded:
                self._wait(lambda b=before, w=self.worker: self._batches > b or w.finished,
                           timeout)
            else:
                self.drain()
            if self._batches == before:
                break
            done += 1
        self.drain()
        self.refresh()
        return done

    def run(self, max_steps: int | None = None, timeout: float = 600.0) -> int:
        """Train to the end of the run (or ``max_steps``), refreshing the views after each
        step; returns the steps done."""
        done = 0
        while self.worker is not None and not self.worker.finished:
            if max_steps is not None and done >= max_steps:
                break
            if not self.run_steps(1, timeout):
                break
            done += 1
        self.drain()
        self.refresh()
        return done

    def wait(self, timeout: float = 600.0) -> bool:
        """Threaded: block until the run has finished (True) or ``timeout`` passed."""
        try:
            self._wait(lambda: self.worker is None or self.worker.finished, timeout)
        except TimeoutError:
            return False
        self.drain()
        self.refresh()
        return True

    def _wait(self, done: Callable[[], bool], timeout: float) -> None:
        end = time.monotonic() + timeout
        while not done():
            self.drain()
            if self.error and self.worker is not None and self.worker.finished:
                return
            if isinstance(self.worker, TrainingWorker) and self.worker.thread is not None \
                    and not self.worker.thread.is_alive():
                self.drain()
                return
            if time.monotonic() > end:
                raise TimeoutError(f"no progress within {timeout} s")
            time.sleep(0.01)
        self.drain()

    def call(self, fn: Callable[[Any], Any], timeout: float = 60.0) -> Any:
        """``fn(trainer)`` run between two trainer steps (in the worker's thread when
        threaded); returns its result (None when there is no run)."""
        if self.worker is None:
            return None
        box: list[Any] = []
        if not self.threaded:
            self.worker.request(lambda tr: box.append(fn(tr)))
            return box[0] if box else None
        ready = threading.Event()

        def work(trainer: Any) -> None:
            try:
                box.append(fn(trainer))
            finally:
                ready.set()

        self.worker.request(work)
        ready.wait(timeout)
        return box[0] if box else None

    # ---------------------------------------------------------------- data ------------
    @property
    def trainer(self) -> Any:
        """The run's trainer (read it between steps, e.g. through :meth:`call`)."""
        return self.worker.trainer if self.worker is not None else None

    def snapshot(self):
        """The recorder's current :class:`~snnviz.record.Snapshot`."""
        return self.recorder.snapshot()

    @property
    def summary(self) -> dict | None:
        """The finished run's summary (``RunEnd``), else None."""
        return self.recorder.snapshot().summary

    def drain(self, budget_s: float | None = None) -> int:
        """Move queued events into the recorder (at most ``budget_s`` seconds); returns the
        number of items taken."""
        end = None if budget_s is None else time.perf_counter() + budget_s
        n = 0
        while end is None or time.perf_counter() < end:
            item = self.queue.get()
            if item is None:
                break
            n += 1
            if isinstance(item, WorkerError):
                self._show(item.message)
            elif isinstance(item, WeightView):
                self._patch_flip_map(item)
            else:
                self.recorder(item)
                if isinstance(item, BatchEnd):
                    self._batches += 1
                    self._last_extra = item.extra
                    if "disp_requested_mean_abs" in item.extra:
                        self._disp.append((item.step,
                                           np.asarray(item.extra["disp_requested_mean_abs"])))
                elif isinstance(item, Alert):
                    self._show(item.message, "warning")
        return n

    # ---------------------------------------------------------------- periodic --------
    def _schedule(self, keep_alive: float = 0.0) -> None:
        """Keep the periodic refresh on the kernel's event loop alive (threaded runs)."""
        if not self.threaded:
            return
        self._tick_until = max(self._tick_until, time.monotonic() + keep_alive)
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:                 # a notebook cell runs inside the kernel's loop
            try:
                loop = asyncio.get_event_loop_policy().get_event_loop()
            except RuntimeError:
                return
            if not loop.is_running():
                return                   # a plain script: call drain()/refresh() or wait()
        self._handle = loop.call_later(self.update_s, self._tick)

    def _tick(self) -> None:
        self._handle = None
        try:
            self.drain(budget_s=0.05)
            self.refresh()
        except Exception as e:
            log.exception("view refresh failed")
            self._show(f"{type(e).__name__}: {e}")
            return
        w = self.worker
        if w is not None and (w.running or len(self.queue) or
                              time.monotonic() < self._tick_until):
            self._schedule()

    # ---------------------------------------------------------------- views -----------
    def _make_views(self) -> None:
        self.figures: dict[str, FigureWidget] = {}
        self._slots: dict[str, ipw.Box] = {}
        for name in self.view_names:
            self.figures[name] = FigureWidget(self._build(name, None))
            self._slots[name] = ipw.Box([self.figures[name]],
                                        layout=ipw.Layout(width="100%" if name in (
                                            "curves", "displacement") else "50%"))
        self.views = ipw.Box(list(self._slots.values()),
                             layout=ipw.Layout(flex_flow="row wrap", width="100%"))
        self.widget = ipw.VBox([self.controls, self.views])

    def _build(self, name: str, run: RunStart | None) -> go.Figure:
        n = len(run.layer_sizes) - 1 if run else 2
        t_max = int(run.config["algo"].get("t_max", 1)) if run else 1
        classes = tuple(run.classes) if run else ()
        snap = self._snap
        if name == "curves":
            return vf.build_curves(snap)
        if name == "race":
            return vf.build_race(None, classes)
        if name == "membrane":
            return vf.build_membrane(None, t_max, names=classes,
                                     title="Membrane potential: output layer")
        if name == "raster":
            return vf.build_raster(None, n_layers=n)
        if name == "hist":
            return vf.build_spike_hist(None, t_max, n_layers=n)
        if name == "flips":
            return vf.build_sign_flips(snap)
        if name == "flip_map":
            return vf.build_weight_tiles(None, mode="flips",
                                         title="sign flips per first-layer weight")
        if name == "displacement":
            return vl.build_displacement(n)
        if name == "twin":
            return vl.build_twin(n)
        if name == "t_sweep":
            return vl.build_acc_vs_t(("SNN (this batch)",),
                                     title="Accuracy vs read-out time (last batch)")
        raise ValueError(f"unknown view {name!r}; views: {', '.join(view_names('s4nn'))}")

    def refresh(self, force: bool = False) -> None:
        """Patch the views to the recorder's state (only the parts that changed)."""
        snap = self.recorder.snapshot()
        self._snap = snap
        if snap.run is not self._run_seen:
            self._run_seen = snap.run
            for name in self.view_names:
                self.figures[name] = FigureWidget(self._build(name, snap.run))
                self._slots[name].children = (self.figures[name],)
            force = True
        seen = (snap.version, snap.probe_version, snap.eval_version)
        old, self._seen = self._seen, seen
        figs, run = self.figures, snap.run
        if force or seen[0] != old[0]:
            self.updates += 1
            vu.patch_curves(figs["curves"], snap) if "curves" in figs else None
            if "flips" in figs:
                vu.patch_sign_flips(figs["flips"], snap)
                self._request_flip_map(force)
            if "displacement" in figs:
                steps = np.array([s for s, _ in self._disp], np.float64)
                vals = np.array([v for _, v in self._disp]) if self._disp else np.zeros((0, 0))
                vl.patch_displacement(figs["displacement"], steps, vals, self._last_extra)
            ex = self._last_extra
            if "twin" in figs and "twin_ann" in ex:
                vl.patch_twin(figs["twin"], ex["twin_ann"], ex["twin_rate"],
                              float(ex.get("thr", 1.0)))
            if "t_sweep" in figs and "acc_vs_t" in ex:
                ann = ex.get("ann_accuracy")
                vl.patch_acc_vs_t(figs["t_sweep"], {"SNN (this batch)": ex["acc_vs_t"]},
                                  {"ANN (this batch)": ann} if ann is not None else None,
                                  t_train=len(ex["acc_vs_t"]))
        if run is not None and (force or seen[1] != old[1]):
            p = snap.probe
            if "race" in figs:
                vu.patch_race(figs["race"], p, run.classes, targets=_targets(p))
            if "membrane" in figs:
                vu.patch_membrane(figs["membrane"], p.layers[-1] if p else None,
                                  p.t_max if p else 1, names=run.classes)
            if "raster" in figs:
                vu.patch_raster(figs["raster"], p)
        if run is not None and "hist" in figs and (force or seen[2] != old[2]):
            vu.patch_spike_hist(figs["hist"], snap.val, int(run.config["algo"].get("t_max", 1)))
        self._buttons()

    def _request_flip_map(self, force: bool) -> None:
        if self.worker is None or (not force and time.monotonic() - self._last_map < 2.0
                                   and self.worker.running):
            return
        self._last_map = time.monotonic()
        flips = self.worker.flips

        def work(trainer: Any) -> WeightView | None:
            return weight_view(trainer.params, 0, trainer.splits.test_x.shape[1:],
                               trainer.step, flips)

        self.worker.request(work)
        if not self.threaded:
            self.drain()

    def _patch_flip_map(self, wv: WeightView) -> None:
        fig = self.figures.get("flip_map")
        if fig is None:
            return
        tiles = None
        if wv.flips is not None and wv.w.ndim == 2 and \
                wv.w.shape[1] == int(np.prod(wv.in_shape)):
            tiles = vf.tile_rows(wv.flips, wv.in_shape)
        vu.patch_weight_tiles(fig, tiles,
                              title=f"sign flips per first-layer weight, 16 hidden neurons "
                                    f"(after step {wv.step})" if tiles is not None else
                              "flip map: dense first layer only")

    def status_text(self) -> str:
        """One line: state, epoch, step, samples, speed, accuracies (HTML)."""
        snap, w = self._snap, self.worker
        if w is None:
            return "<b>fix the settings to start</b>"
        run = snap.run
        if run is None:
            return "<b>preparing the run...</b>"
        if snap.status not in ("empty", "running"):
            acc = (snap.summary or {}).get("test_accuracy")
            tail = f", test accuracy {acc:.1%} (honest read-out)" if acc is not None else ""
            return f"<b>finished ({html.escape(snap.status)})</b>{tail}"
        state = "running" if w.running else "paused"
        last = snap.last
        if last is None:
            return (f"<b>{state}</b>: {html.escape(run.algorithm)} on "
                    f"{html.escape(run.dataset)}, {run.n_train} training samples: "
                    "press Start or Step")
        val = snap.val_accuracy[-1] if snap.val_accuracy.size else np.nan
        val_s = f", val {val:.1%}" if np.isfinite(val) else ""
        epochs = run.config["train"]["epochs"]
        return (f"<b>{state}</b>: epoch {last.epoch + 1}/{epochs}, step {last.step + 1}, "
                f"{last.seen}/{last.epoch_size} samples, "
                f"{last.samples_per_second:,.0f} samples/s, "
                f"train {last.running_accuracy:.1%}{val_s}")

    def report(self) -> str:
        """The finished run's test accuracies under each read-out policy, as text."""
        s = self.summary
        if not s:
            return "the run has not finished"
        if s.get("status") != "ok":
            return f"run ended: {s.get('status')}: {s.get('message', '')}"
        lines = [f"{s['algorithm']} on {s['dataset']}: {s['epochs_run']} epoch(s), "
                 f"{s['train_size']} training samples, {s['train_seconds']:.1f} s training"]
        for name, acc in s.get("test_by_policy", {}).items():
            lines.append(f"  test accuracy {acc:6.1%}  {name} read-out")
        lines.append(f"  no output spike {s['no_spike_rate']:.1%}, tie {s['tie_rate']:.1%}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _targets(probe: Probe | None) -> np.ndarray | None:
    return None if probe is None else probe.extra.get("t_target")


# ---------------------------------------------------------------------- the tour -------
class NeuronExplorer:
    """One non-leaky IF neuron: sliders for the input spike times, the weights and the
    threshold; the membrane potential and the firing time follow as you drag.

    ``V[k] = sum_i w_i [t_i <= k]``; the neuron fires one step after ``V`` first exceeds
    the threshold (S4NN's reference rule), computed with the same code as the figure.
    """

    def __init__(self, t_in: Sequence[int] = (2, 6, 9, 14), w: Sequence[float] = (0.4, 0.3,
                 -0.2, 0.5), thr: float = 0.8, t_max: int = 25) -> None:
        if len(t_in) != len(w):
            raise ValueError(f"{len(t_in)} spike times but {len(w)} weights")
        self.t_max = int(t_max)
        self.times = [ipw.IntSlider(value=int(t), min=0, max=self.t_max, description=f"t{i}",
                                    tooltip=f"spike time of input {i} ({self.t_max}: never)",
                                    continuous_update=True) for i, t in enumerate(t_in)]
        self.weights = [ipw.FloatSlider(value=float(x), min=-1.0, max=1.0, step=0.05,
                                        description=f"w{i}", tooltip=f"weight of input {i}")
                        for i, x in enumerate(w)]
        self.threshold = ipw.FloatSlider(value=float(thr), min=0.05, max=2.0, step=0.05,
                                         description="threshold", tooltip="firing threshold")
        self.figure = FigureWidget(vl.build_neuron(t_in, w, thr, self.t_max))
        self.fire_time = vl.patch_neuron(self.figure, t_in, w, thr, self.t_max)
        for s in (*self.times, *self.weights, self.threshold):
            s.observe(lambda _c: self.update(), names="value")
        cols = [ipw.VBox([a, b]) for a, b in zip(self.times, self.weights)]
        self.widget = ipw.VBox([ipw.HBox(cols), self.threshold, self.figure])

    def update(self) -> int:
        """Redraw from the sliders; returns the spike time (``t_max``: silent)."""
        self.fire_time = vl.patch_neuron(self.figure, [s.value for s in self.times],
                                         [s.value for s in self.weights],
                                         self.threshold.value, self.t_max)
        return self.fire_time

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class LatencyExplorer:
    """Latency code of a test image (S4NN: ``t = floor((255 - p) t_max / 255)``, bright
    pixels first, black never) with a time slider: the right panel shows the pixels that have
    spiked by then."""

    def __init__(self, dataset: str = "mnist-mini", index: int = 0, t_max: int = 256) -> None:
        ds = load_dataset(dataset)
        self.t_max, self.classes = int(t_max), ds.classes
        self.images, self.labels = ds.test_x, ds.test_y
        self.index = ipw.BoundedIntText(value=int(index), min=0, max=len(ds.test_y) - 1,
                                        description="test image")
        self.time = ipw.IntSlider(value=self.t_max, min=0, max=self.t_max,
                                  description="time step", continuous_update=True)
        self.figure = FigureWidget(vf.build_input(None, None))
        self.index.observe(lambda _c: self.update(), names="value")
        self.time.observe(lambda _c: self.update(), names="value")
        self.widget = ipw.VBox([ipw.HBox([self.index, self.time]), self.figure])
        self.update()

    def spike_times(self) -> np.ndarray:
        """Spike times of the current image's pixels ``[H*W]``."""
        return latency_s4nn(self.images[self.index.value: self.index.value + 1], self.t_max)[0]

    def update(self) -> int:
        """Redraw; returns how many pixels have spiked by the slider's time."""
        i = int(self.index.value)
        t = self.spike_times()
        probe = Probe(i, int(self.labels[i]), t, (), self.t_max)
        cursor = None if self.time.value >= self.t_max else int(self.time.value)
        vu.patch_input(self.figure, self.images[i].mean(axis=0), probe, t_cursor=cursor)
        return int(((t < self.t_max) & (t <= (cursor if cursor is not None else self.t_max))
                    ).sum())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


# ---------------------------------------------------------------------- comparisons ----
def decision_stats(trainer: Any, max_samples: int = 512) -> dict[str, float]:
    """Mean decision time and spikes per sample of the trainer's selected weights on (up to
    ``max_samples`` of) the test split.

    Time-to-first-spike networks: the decision is the first output spike, so the decision
    time is the mean step of the earliest output spike over samples with one, and the
    spikes are the neurons that fired (one spike at most each). Proxy learning reads spike
    counts after all ``T`` steps: its decision time is ``T`` and its spikes are all spikes of
    all IF layers.
    """
    algo, cfg, params = trainer.algo, trainer.cfg.algo, trainer.best_params
    x = trainer.t_test[:max_samples]
    if "twin_samples" in {f.name for f in dataclasses.fields(cfg)}:
        from snnviz.algorithms import proxy

        p = proxy._on_device(params, cfg)
        xi = proxy.intensities(x, cfg)
        import torch

        with torch.no_grad():
            snn = proxy._snn(p, xi, cfg, keep=len(xi))
        spikes = sum(float(k.sum()) for k in snn.kept) / max(len(xi), 1)
        return {"decision_time": float(cfg.t_max), "spikes_per_sample": spikes}
    fwd = algo.forward(params, x, cfg)
    t_max = int(cfg.t_max)
    times = [np.asarray(t) for t in fwd.times]
    first = times[-1].min(axis=1)
    fired = first < t_max
    return {"decision_time": float(first[fired].mean()) if fired.any() else float("nan"),
            "spikes_per_sample": float(sum((t < t_max).sum() for t in times) / max(len(x), 1))}


def compare_algorithms(algorithms: Sequence[str] = ("s4nn", "bs4nn", "stidi-bp", "proxy"),
                       dataset: str = "mnist-mini", seed: int = 0,
                       settings: dict[str, dict[str, Any]] | None = None,
                       progress: Callable[[str], None] | None = print, full: bool = False
                       ) -> tuple[list[dict], go.Figure]:
    """Train each algorithm on the same data split and seed (:func:`lab_settings`, then
    ``settings[name]``), one after the other; returns one row per algorithm (test accuracy
    under the honest read-out, validation accuracy per epoch, decision time, spikes per
    sample, training wall time) and :func:`snnviz.viz.learning.build_compare` of them.

    ``full=True``: all of MNIST (``SNNVIZ_DATA`` must point at the data sets) with the
    epochs and options of :data:`FULL_RUNS`, for every algorithm."""
    if full:
        _need_data("mnist")
        dataset = "mnist"
    rows = []
    for name in algorithms:
        if full:
            base = {k: v for k, v in FULL_RUNS.get(name, {}).items() if k != "dataset"}
        else:
            base = lab_settings(name)
        over = {**base, **(settings or {}).get(name, {})}
        cfg = make_run_config(name, dataset, seed=seed, overrides=over)
        trainer = make_trainer(cfg)
        t0 = time.perf_counter()
        end = None
        for ev in trainer.steps():
            end = ev
        wall = time.perf_counter() - t0
        s = end.summary if isinstance(end, RunEnd) else {}
        if s.get("status") != "ok":
            raise RuntimeError(f"{name}: the run ended with {s.get('status')}: "
                               f"{s.get('message', '')}")
        row = {"name": name, "test_accuracy": float(s["test_accuracy"]),
               "val_accuracy": [h["val_accuracy"] for h in s["history"]],
               "wall_seconds": wall, "train_seconds": float(s["train_seconds"]),
               **decision_stats(trainer)}
        rows.append(row)
        if progress is not None:
            progress(f"{name:>10}: test {row['test_accuracy']:.1%} (honest), decision at "
                     f"step {row['decision_time']:.1f}, {row['spikes_per_sample']:.0f} spikes "
                     f"per sample, {wall:.1f} s")
    return rows, vl.build_compare(rows)


def proxy_baselines(proxy_lab: TrainingLab, ann_lab: TrainingLab | None = None,
                    t_eval: int | None = None, percentile: float = 99.9
                    ) -> tuple[dict, go.Figure]:
    """Side by side on the test split (``proxy.compare``): the proxy-trained SNN read out
    after 1..``t_eval`` steps (default ``4 T``), its ANN, and, given a lab trained with
    ``mode=ann``, that ANN alone and converted to an SNN by threshold balancing."""
    from snnviz.algorithms import proxy

    tr = proxy_lab.trainer
    ann_tr = ann_lab.trainer if ann_lab is not None else None
    if tr is None or "twin_samples" not in {f.name for f in dataclasses.fields(tr.cfg.algo)}:
        raise ValueError("proxy_baselines needs a TrainingLab of the proxy algorithm")
    cfg = tr.cfg.algo
    t_eval = t_eval or 4 * cfg.t_max
    res = proxy_lab.call(lambda t: proxy.compare(
        t.best_params, ann_tr.best_params if ann_tr is not None else None, cfg,
        t.t_train[:500], t.t_test, np.asarray(t.y_test), percentile, t_eval))
    curves = {"proxy SNN": res["proxy_snn"]["acc_vs_t"]}
    levels = {"its ANN": res["proxy_snn"]["ann"]}
    if "converted_snn" in res:
        curves["converted SNN"] = res["converted_snn"]["acc_vs_t"]
        levels["ANN alone"] = res["ann_alone"]
    fig = vl.build_acc_vs_t(tuple(curves), title="Test accuracy vs read-out time (honest)")
    vl.patch_acc_vs_t(fig, curves, levels, t_train=cfg.t_max)
    return res, fig


# ---------------------------------------------------------------------- final cell -----
def _need_data(dataset: str) -> None:
    if resolve_data_root(None) is None:
        raise ValueError(f"the full {dataset} run needs the data sets: set SNNVIZ_DATA to "
                         "the folder holding them (torchvision layout, see the README) and "
                         "restart the kernel, or keep FULL = False")


def final_run(algorithm: str, full: bool = False, seed: int = 0, **settings: Any
              ) -> TrainingLab:
    """The closing run of a notebook, through the same API as the rest.

    ``full=False``: the notebook's embedded run (:func:`lab_settings`), trained to the end
    in this cell. ``full=True``: the whole data set of :data:`FULL_RUNS` (it needs the data
    root ``SNNVIZ_DATA``; hours on a CPU), trained in the background thread; the returned
    lab's views follow it and Pause works. ``settings`` override either.
    """
    if not full:
        lab = TrainingLab(algorithm, overrides=lab_settings(algorithm, **settings), seed=seed,
                          threaded=False, views=("curves",))
        lab.run()
        return lab
    spec = {**FULL_RUNS.get(algorithm, {"dataset": "mnist", "epochs": 10}), **settings}
    dataset = spec.pop("dataset")
    _need_data(dataset)
    lab = TrainingLab(algorithm, dataset, overrides=spec, seed=seed, threaded=True)
    lab.start()
    return lab
