""":class:`TrainingApp`: the dashboard page of one browser session.

Data flow (docs/dashboard.md): a :class:`~snnviz.ui.dashboard.worker.TrainingWorker` thread
owns the session's trainer; its events go through a bounded, never-blocking
:class:`~snnviz.record.EventQueue`; a periodic callback on the server's event loop drains the
queue for at most ``drain_ms`` into a :class:`~snnviz.record.Recorder` and patches the figures
of the visible tab in place. The Training tab shows the live views that apply to the run's
algorithm (:mod:`snnviz.ui.dashboard.views`); every other tab or sidebar card is an
:class:`~snnviz.ui.dashboard.extensions.Extension`.
"""

from __future__ import annotations

import html
import logging
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import panel as pn
import param

from snnviz.config import RunConfig
from snnviz.record import EventQueue, Recorder, Snapshot
from snnviz.training.events import Alert, RunStart
from snnviz.ui.controls import ConfigForm, algorithm_options, available_datasets, label
from snnviz.ui.dashboard.derive import after_validation
from snnviz.ui.dashboard.extensions import (
    Extension,
    ExtensionFactory,
    instantiate,
    registered_extensions,
)
from snnviz.ui.dashboard.inspector import SampleInspector
from snnviz.ui.dashboard.panes import FigurePane, PageAck, make_button, make_pane
from snnviz.ui.dashboard.process_worker import ProcessWorker
from snnviz.ui.dashboard.views import VIEWS, LiveView, views_for
from snnviz.ui.dashboard.weights import WeightsTab
from snnviz.ui.dashboard.worker import (
    LOOP_BUDGET,
    LoopBudget,
    Reply,
    TrainingWorker,
    WorkerError,
)
from snnviz.viz import figures as vf

__all__ = ["TrainingApp", "WORKERS"]

#: ``TrainingApp(worker=...)``: where a session's trainer runs.
WORKERS = {"thread": TrainingWorker, "process": ProcessWorker}
ACK_TIMEOUT_S = 2.0        # flow control: refresh anyway after this long without an answer
MAX_OTHER_VIEWS = 1        # flow control: figures besides the curves per refresh
GAP_SLACK_S = 0.01         # a periodic tick this much early still refreshes
PAGE_IDLE_SHARE = 1.0      # flow control: rest given to a busy page, per second of long tasks
MAX_REST_S = 1.0           # ... at most (one long stall, a resize or a wake-up, is not a trend)
# The training processes' nice increment: training is the batch work, the event loop (clicks,
# refreshes) the interactive work. With 5 sessions training on 2 cores, nice 5 left the event
# loop waiting up to 229 ms (p95) for a core, nice 15 100 ms (benchmarks/dashboard.py --no-draw,
# docs/benchmarks.md); a session alone trains as fast either way.
WORKER_NICE = 15

log = logging.getLogger(__name__)


class TrainingApp(pn.viewable.Viewer):
    """Live training dashboard for any algorithm in :data:`snnviz.ALGORITHMS`.

    Args:
        algorithm, dataset: the initial choice.
        overrides: initial values of any config field (e.g. ``{"epochs": 5}``).
        seed: initial run seed.
        update_ms: period of the view refresh while served (90 ms: at least 10 refreshes a
            second even when a tick starts late).
        drain_ms: time per refresh spent draining events.
        loop_budget: the refresh budget shared by the sessions of this server
            (default: :data:`~snnviz.ui.dashboard.worker.LOOP_BUDGET`).
        worker_nice: how much lower the training threads' scheduling priority is than the
            server's (Linux), so clicks are answered first when cores are scarce.
        worker: where the session's trainer runs: ``"thread"`` (a
            :class:`~snnviz.ui.dashboard.worker.TrainingWorker` thread of this process) or
            ``"process"`` (a :class:`~snnviz.ui.dashboard.process_worker.ProcessWorker`: its
            own OS process, so training does not share this process's interpreter lock and
            CPU share with the event loop; the served app uses it).
        extensions: extra tabs / sidebar cards: :class:`Extension` factories (or instances),
            added after the built-in Sample inspector and Weights tabs. None: those
            registered with :func:`~snnviz.ui.dashboard.extensions.register_extension`.

    Attributes useful to extensions: ``algorithm``, ``dataset`` (the selects), ``form`` (the
    :class:`~snnviz.ui.controls.ConfigForm` of the settings), ``worker`` (None while the
    settings are invalid), ``recorder``, :attr:`snapshot`, ``tabs``, ``live`` (view key ->
    pane), :meth:`request`, :meth:`show_message`, :meth:`start` / :meth:`pause` /
    :meth:`step` / :meth:`reset`.
    """

    status_text = param.String(default="", doc="one-line run status")

    def __init__(self, algorithm: str = "s4nn", dataset: str = "mnist-mini",
                 overrides: dict[str, Any] | None = None, seed: int = 0,
                 update_ms: int = 90, drain_ms: float = 20.0,
                 loop_budget: LoopBudget | None = None, worker_nice: int = WORKER_NICE,
                 worker: str = "thread",
                 extensions: Sequence[ExtensionFactory | Extension] | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        if worker not in WORKERS:
            raise ValueError(f"worker must be one of {', '.join(WORKERS)}, not {worker!r}")
        self.worker_kind = worker
        self._overrides, self._drain_s = dict(overrides or {}), drain_ms / 1000
        self.loop_budget = loop_budget if loop_budget is not None else LOOP_BUDGET
        self.worker_nice = worker_nice
        self.queue = EventQueue(512)
        self.worker: TrainingWorker | ProcessWorker | None = None
        self._retired: list[TrainingWorker | ProcessWorker] = []   # reset, maybe still ending
        self.recorder = Recorder()
        self._snap, self._run_seen = Snapshot(), None
        self._planned: list[LiveView] = views_for(None)     # the next run's views
        self._seen: dict[str, tuple[int, float]] = {}     # view -> (data version, time)
        self._pending, self._last_refresh, self._next_at = False, 0.0, 0.0
        self._gap_s = update_ms / 1000            # shortest time between two refreshes
        self._views: list[LiveView] = []
        self.live: dict[str, FigurePane] = {}
        self._last_status, self._status_state = 0.0, ()
        self._valid = True
        self.updates = 0                      # live-view refreshes sent (benchmarks, tests)
        self.page_ack = PageAck(width=0, height=0, margin=0)    # flow control, see _page_ready
        self._session_ctx: Any = None             # served: the tab's session (connections)
        self._was_connected = self._lost = False
        self.inspector, self.weights = SampleInspector(), WeightsTab()
        extra = registered_extensions() if extensions is None else extensions
        self.extensions: list[Extension] = [self.inspector, self.weights, *instantiate(extra)]
        self._make_controls(algorithm, dataset, seed)
        self._make_views()
        self.reset()
        self._periodic: Any = None
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            self._session_ctx = pn.state.curdoc.session_context
            self._doc = pn.state.curdoc
            self._periodic = _background_callback(self._tick, update_ms)
            self.page_ack.param.watch(self._on_ack, "ack")
            pn.state.on_session_destroyed(self._on_session_destroyed)

    @property
    def snapshot(self) -> Snapshot:
        """The recorder's snapshot as of the last view refresh."""
        return self._snap

    # ------------------------------------------------------------------ controls -------
    def _make_controls(self, algorithm: str, dataset: str, seed: int) -> None:
        datasets = available_datasets()
        self.algorithm = pn.widgets.Select(**label("algorithm"), options=algorithm_options(),
                                           value=algorithm, sizing_mode="stretch_width")
        self.dataset = pn.widgets.Select(**label("dataset"), options=datasets,
                                         value=dataset if dataset in datasets else datasets[0],
                                         sizing_mode="stretch_width")
        self.form = ConfigForm(algorithm, self.dataset.value, self._overrides, seed)
        self.start_button = make_button("Start", "primary")
        self.pause_button = make_button("Pause", "warning")
        self.step_button = make_button("Step", "default")
        self.reset_button = make_button("Reset", "danger")
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
        self.show_message(error)
        self._valid = cfg is not None
        self._buttons()
        return cfg

    def show_message(self, text: str, kind: str = "danger") -> None:
        """Show ``text`` in the sidebar's message box (empty: hide it); ``kind`` is a
        Bootstrap alert type: danger, warning, info, success."""
        self.message.object, self.message.alert_type = text, kind
        self.message.visible = bool(text)

    _show = show_message

    def _finished(self) -> bool:
        return self.worker is not None and self.worker.finished

    def _state(self) -> tuple:
        """What the status line's wording depends on besides the numbers."""
        snap, w = self._snap, self.worker
        return (snap.run is not None, snap.last is not None, snap.status,
                w is not None and w.running)

    def _buttons(self, status: bool = True) -> None:
        """Refresh the status line (``status``) and the buttons' states; only what changed
        is set, since every change is a message to the browser."""
        if status:
            text = _status(self._snap, self.worker)
            if text != self.status_text:
                self.status_text = text
            self._last_status, self._status_state = time.perf_counter(), self._state()
        running = self.worker is not None and self.worker.running
        finished = self._finished()
        for button, disabled in ((self.start_button, running or finished or not self._valid),
                                 (self.pause_button, not running),
                                 (self.step_button, running or finished or self.worker is None)):
            if button.disabled != disabled:
                button.disabled = disabled

    # ------------------------------------------------------------------ actions --------
    def start(self) -> None:
        """Start, or resume, training (a run not yet started takes the current settings)."""
        cfg = self._validate()
        if cfg is None:
            return
        if self.worker is None or (cfg != self.worker.cfg and not self._snap.step.size):
            self.reset()
        elif cfg != self.worker.cfg:
            self.show_message("Settings changed during the run: press Reset to apply them.",
                              "info")
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
        self._each("on_step")
        self._buttons()

    def reset(self) -> None:
        """Stop the current run and prepare a new one from the widget values."""
        if self.worker is not None:
            self.worker.stop(timeout=0.0)    # a thread ends after its step, a process now
            self._retired = [w for w in self._retired if w.alive] + [self.worker]
            self.worker = None
        self.queue = EventQueue(512)
        cfg = self._validate()
        self.recorder = Recorder(cfg.record if cfg is not None else None)
        if cfg is not None:
            self.worker = WORKERS[self.worker_kind](cfg, self.queue, nice=self.worker_nice,
                                                    derive=after_validation)
        # lay out the run's views now: swapping the layout when its RunStart arrives would
        # remove plots the browser may still be drawing (a page that is still loading)
        self._planned = _planned_views(cfg)
        self._layout_views(self._planned, None)
        self._run_seen = None
        self._each("on_reset")
        self._buttons()
        self._refresh(force=True)

    def request(self, fn: Callable[[Any], Any], callback: Callable[[Any], None]) -> bool:
        """Run ``fn(trainer)`` between trainer steps (in the training thread; in process mode
        on a :class:`~snnviz.ui.dashboard.process_worker.TrainerSnapshot` of the weights at a
        step boundary, in a helper thread of the server) and call
        ``callback(result)`` on the server's event loop at the next refresh (not when the
        result is None, nor when the run was reset meanwhile). False: there is no run."""
        if self.worker is None:
            return False

        def work(trainer: Any) -> Reply | None:
            value = fn(trainer)
            return None if value is None else Reply(callback, value)

        self.worker.request(work)
        return True

    def _on_session_destroyed(self, session_context: Any) -> None:
        self.close(timeout=0.0)         # a thread ends after its step, a process now

    def close(self, timeout: float = 5.0) -> None:
        """Stop the view refresh and the training thread or process, waiting up to
        ``timeout`` seconds for it (a thread ends after its current step; a process not
        ended by then is terminated, at once when the browser tab closes)."""
        if self._periodic is not None:
            self._periodic.stop()
        end = time.perf_counter() + timeout
        for w in [*self._retired, *([self.worker] if self.worker is not None else [])]:
            w.stop(timeout=max(end - time.perf_counter(), 0.0))
        self._retired = []
        self._each("close")

    def _each(self, hook: str, *args: Any, only: Extension | None = None) -> None:
        """Call ``hook`` on every extension; a failing extension shows a message."""
        for ext in [only] if only is not None else self.extensions:
            self._guard(getattr(ext, hook), *args, who=ext)

    def _guard(self, fn: Callable[..., Any], *args: Any, who: Any = None) -> None:
        try:
            fn(*args)
        except Exception as e:  # an extension's bug must not end the session
            name = getattr(who, "title", "") or type(who).__name__
            log.exception("dashboard extension %s failed", name)
            self.show_message(f"{name}: {type(e).__name__}: {e}")

    # ------------------------------------------------------------------ views ----------
    def _make_views(self) -> None:
        self.training = pn.Column(sizing_mode="stretch_width")
        self._layout_views(views_for(None), None)
        tabs: list[tuple[str, Any]] = [("Training", self.training)]
        self._tab_owner: list[Extension | None] = [None]
        self.cards: list[Any] = []
        for ext in list(self.extensions):
            try:
                ext.attach(self)
                tab, card = ext.tab(), ext.card()
            except Exception as e:
                self._guard(_raise, e, who=ext)
                self.extensions.remove(ext)
                continue
            if tab is not None:
                tabs.append((ext.title or type(ext).__name__, tab))
                self._tab_owner.append(ext)
            if card is not None:
                self.cards.append(card)
        self.tabs = pn.Tabs(*tabs, dynamic=True, sizing_mode="stretch_width")
        self.tabs.param.watch(lambda e: self._refresh(force=True), "active")

    def _layout_views(self, views: list[LiveView], run: RunStart | None) -> None:
        """Build the figures of ``views`` for ``run`` and lay them out: wide views take a
        row, the others two to a row, in order."""
        for v in views:
            fig = v.build(run)
            if v.key in self.live:
                self.live[v.key].object = fig
            else:
                self.live[v.key] = make_pane(fig)
            self.live[v.key].visible = not v.hide_empty
        if [v.key for v in views] == [v.key for v in self._views] and len(self.training):
            self._views = views
            return
        self._views = views
        rows: list[Any] = []
        half: list[Any] = []
        for v in views:
            if v.wide:
                if half:
                    rows.append(pn.Row(*half, sizing_mode="stretch_width"))
                    half = []
                rows.append(self.live[v.key])
            else:
                half.append(self.live[v.key])
                if len(half) == 2:
                    rows.append(pn.Row(*half, sizing_mode="stretch_width"))
                    half = []
        if half:
            rows.append(pn.Row(*half, sizing_mode="stretch_width"))
        self.training[:] = rows

    def _sidebar(self) -> pn.Column:
        return pn.Column(self.page_ack, self.algorithm, self.dataset,
                         pn.Row(self.start_button, self.pause_button, sizing_mode="stretch_width"),
                         pn.Row(self.step_button, self.reset_button, sizing_mode="stretch_width"),
                         self.status, self.message, *self.cards, self._cards,
                         sizing_mode="stretch_width")

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
    def _connections(self) -> int | None:
        """Open websocket connections of this tab's session (None: not served, unknown)."""
        n = getattr(getattr(self._session_ctx, "_session", None), "connection_count", None)
        return n if isinstance(n, int) else None

    def _tab_gone(self) -> bool:
        """True while the page that was connected has gone (a closed tab, a lost network).
        Bokeh destroys the session, and :meth:`close` stops the run, only after its
        unused-session lifetime; until then the run is paused at once (its CPU goes to the
        other tabs) and nothing is sent (each message would be logged as undeliverable)."""
        n = self._connections()
        if n is None:
            return False
        if n > 0:
            self._was_connected, self._lost = True, False
            return False
        if not self._was_connected:               # the page is still loading
            return False
        if not self._lost:
            self._lost = True
            log.info("dashboard tab disconnected: its run is paused until the session ends")
            if self.worker is not None:
                self.worker.pause()
        while self.queue.get() is not None:       # keep the worker's queue from filling
            pass
        return True

    def _tick(self) -> None:
        """Drain events for at most ``drain_ms``, then patch the visible views (when the
        shared refresh budget allows)."""
        if self._tab_gone():
            return
        t_end = time.perf_counter() + self._drain_s
        drained = 0
        while time.perf_counter() < t_end:
            item = self.queue.get()
            if item is None:
                break
            drained += 1
            if isinstance(item, Reply):
                self._guard(item.callback, item.value, who=getattr(item.callback, "__self__",
                                                                   None))
            elif isinstance(item, WorkerError):
                self.show_message(item.message)
            else:
                self.recorder(item)
                self._each("on_event", item)
                if isinstance(item, Alert):
                    self.show_message(item.message, "warning")
        idle = not drained and not self._pending and \
            time.perf_counter() - self._last_refresh < 1.0      # nothing new: skip, 1 Hz
        if idle:
            return
        if not self._page_ready() or time.perf_counter() < self._next_at - GAP_SLACK_S:
            self._pending = True                  # drawn once the page has caught up
        elif self.loop_budget.allow():
            t0 = time.thread_time()              # CPU time: a busy machine is not our cost
            self._refresh()
            self.loop_budget.charge(time.thread_time() - t0)
        else:
            self._pending = True                  # drawn when the shared budget allows

    def _on_ack(self, event: Any) -> None:
        """The page has taken in the last refresh: the next one goes out as soon as the
        refresh period allows, not at the next tick of the periodic callback (whose phase
        is unrelated to the page's answer: waiting for it made a fast page wait half a
        period on average, 7-8 refreshes a second instead of 10-11).

        A page that reports long tasks (``PageAck.busy``: redraws on a slow machine or in
        a software-rendered browser) is also left idle for ``PAGE_IDLE_SHARE`` of that
        time before the next refresh, so that a click there is not queued behind redraws:
        a page kept drawing without a pause answered clicks later than one given rests.
        A page that keeps up reports no long tasks and gets no rest."""
        now = time.perf_counter()
        rest = min(PAGE_IDLE_SHARE * self.page_ack.busy / 1000, MAX_REST_S)
        self._next_at = max(self._last_refresh + self._gap_s, now + rest)
        wait = self._next_at - now
        if wait <= 0:
            self._tick()
        else:
            self._doc.add_timeout_callback(self._tick, max(int(wait * 1000), 1))

    def _page_ready(self) -> bool:
        """Flow control: has the page taken in the previous refresh? Each refresh of a
        served page ends by bumping ``page_ack.seq``, which the page echoes back once it
        has processed everything sent before it (:class:`PageAck`). A page that draws
        slower than the refresh rate (a slow laptop, five tabs in one browser) would
        otherwise queue figure updates faster than it draws them, and a click's answer
        would wait behind that queue; with at most one refresh in flight, the page gets the
        newest data as fast as it can draw it and answers clicks at once. Without an
        answer for ``ACK_TIMEOUT_S`` (a page that lost the component) a refresh goes out
        anyway."""
        if self._session_ctx is None:             # not served (tests, notebooks)
            return True
        a = self.page_ack
        return a.ack >= a.seq or time.perf_counter() - self._last_refresh > ACK_TIMEOUT_S

    def _refresh(self, force: bool = False) -> None:
        snap = self.recorder.snapshot()
        self._snap, self._last_refresh = snap, time.perf_counter()
        self._next_at = self._last_refresh + self._gap_s
        owner = self._tab_owner[self.tabs.active] if self.tabs.active < len(self._tab_owner) \
            else None
        with pn.io.hold():
            if snap.run is not self._run_seen:
                self._run_seen = snap.run
                self._layout_views(views_for(snap.run) if snap.run is not None
                                   else self._planned, snap.run)
                if snap.run is not None:
                    self._each("on_run", snap.run)
                force = True
            if self.tabs.active == 0:
                self._patch_live(snap, force)
            for ext in self.extensions:
                self._guard(ext.on_refresh, snap, ext is owner, force, who=ext)
            self._buttons(status=force or time.perf_counter() - self._last_status > 1.0
                          or self._state() != self._status_state)
            if self._session_ctx is not None:
                self.page_ack.seq += 1            # the page echoes it after this refresh

    def _patch_live(self, snap: Snapshot, force: bool) -> None:
        """Patch the views whose data changed, each at most once per its ``every`` seconds
        (the browser redraws a whole figure for every change it is sent)."""
        seen = {"step": snap.version, "probe": snap.probe_version, "eval": snap.eval_version}
        now = time.perf_counter()
        self._pending = False
        # Served (flow-controlled), a refresh carries the curves and at most MAX_OTHER_VIEWS
        # other figures, the longest-waiting first: the page takes in each refresh before
        # the next is sent, so small refreshes keep the curves moving as fast as the page
        # can draw, and the other views take turns.
        budget = None if force or self._session_ctx is None else MAX_OTHER_VIEWS
        order = sorted(self._views, key=lambda v: (v.key != "curves",
                                                   self._seen.get(v.key, (0, -1.0))[1]))
        for v in order:
            last = self._seen.get(v.key)
            if not force and last is not None and last[0] == seen[v.source]:
                continue
            if not force and last is not None and now - last[1] < v.every:
                self._pending = True                 # new data, drawn at a later tick
                continue
            if v.source != "step" and snap.run is None:
                continue
            if budget is not None and v.key != "curves":
                if budget == 0:
                    self._pending = True             # its turn comes at a later refresh
                    continue
                budget -= 1
            self._seen[v.key] = (seen[v.source], now)
            pane = self.live[v.key]
            shown = v.patch(pane.object, snap)
            if v.hide_empty:
                pane.visible = shown is not False
            pane.param.trigger("object")
            if v.key == "curves":
                self.updates += 1


def _background_callback(callback: Callable[[], None], period_ms: int) -> Any:
    """``pn.state.add_periodic_callback`` for the view refresh, marked as background work.

    Panel counts every run of a foreground periodic callback as the server being busy: the
    process-wide ``pn.state.busy`` flips on and off at each tick, and every open page's busy
    indicator is sent the change. At ~11 ticks a second per tab that was about 40% of the
    event loop's CPU time in the dashboard benchmark's profile (and messages that all pages
    had to take in, so it grew with the square of the tabs); the indicator now turns only
    for what the user asked for (clicks and other widget changes)."""
    from panel.io.callbacks import PeriodicCallback

    cb = PeriodicCallback(callback=callback, period=period_ms, background=True)
    cb.start()
    pn.state._periodic.setdefault(pn.state.curdoc, []).append(cb)   # stopped with the session
    return cb


def _planned_views(cfg: RunConfig | None) -> list[LiveView]:
    """The views a run of ``cfg`` will show (``views_for`` its RunStart), known before the
    run starts: ``LiveView.applies`` reads the algorithm's name."""
    if cfg is None:
        return views_for(None)
    planned = types.SimpleNamespace(algorithm=cfg.algorithm)
    try:
        return [v for v in VIEWS if v.applies(planned)]
    except AttributeError:              # a view that needs more of the RunStart
        return views_for(None)


def _raise(e: Exception) -> None:
    raise e


def _status(snap: Snapshot, worker: TrainingWorker | ProcessWorker | None) -> str:
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
