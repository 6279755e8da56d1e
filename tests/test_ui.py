"""Generated controls and the Panel dashboard, driven headless (no browser)."""

import dataclasses
import time

import numpy as np
import pytest

pn = pytest.importorskip("panel")

from bokeh.core.serialization import Serializer  # noqa: E402
from bokeh.document import Document  # noqa: E402
from ui_helpers import until  # noqa: E402

from snnviz import ALGORITHMS, TrainConfig  # noqa: E402
from snnviz.record import Recorder, SampleView, Snapshot, WeightView  # noqa: E402
from snnviz.training.events import BatchEnd, Probe, ProbeLayer, RunStart  # noqa: E402
from snnviz.ui.controls import (  # noqa: E402
    ConfigForm,
    available_datasets,
    controls_for,
    make_widget,
)
from snnviz.ui.dashboard import Extension, register_extension, unregister_extension  # noqa: E402
from snnviz.ui.panel_app import FigurePane, LoopBudget, TrainingApp  # noqa: E402
from snnviz.viz import build_curves, build_race, patch_curves, patch_race  # noqa: E402

TINY = {"hidden": "12", "online_chunk": 20, "epochs": 100, "every": 2}   # never ends in a test


@pytest.fixture
def app():
    a = TrainingApp("s4nn", "synthetic", overrides=TINY, loop_budget=LoopBudget(share=1e9),
                    worker_nice=0)
    until(a, lambda: a._snap.run is not None)
    yield a
    a.close()


def test_controls_come_from_field_metadata():
    for name, algo in ALGORITHMS.items():
        cfg = algo.Config()
        ui = {f.name for f in dataclasses.fields(cfg) if f.metadata.get("ui", True)}
        ctrls = {c.name: c for c in controls_for(cfg, "algorithm")}
        assert set(ctrls) == ui, name
        assert all(c.doc for c in ctrls.values()), name
    ctrls = {c.name: c for c in controls_for(ALGORITHMS["s4nn"].Config(), "algorithm")}
    assert "n_in" not in ctrls and "dtype" not in ctrls              # ui=False fields
    assert ctrls["t_max"].kind == "int" and ctrls["t_max"].bounds == (4, 4096)
    assert ctrls["hidden"].kind == "text" and ctrls["delta_weights"].kind == "choice"
    assert ctrls["strict_threshold"].kind == "bool"
    train = {c.name: c for c in controls_for(TrainConfig(), "training")}
    assert "eval_batch" not in train and train["order"].choices == ("shuffle", "fixed",
                                                                    "replacement")
    lr = controls_for(ALGORITHMS["s4nn"].Config(), "algorithm")
    lr = next(c for c in lr if c.name == "lr_hidden")
    w = make_widget(lr)
    assert (w.start, w.end, w.step, w.description) == (0.0, 100.0, 0.01, lr.doc)
    pytest.importorskip("ipywidgets")
    iw = make_widget(lr, backend="ipywidgets")
    assert (iw.min, iw.max, iw.tooltip) == (0.0, 100.0, lr.doc)
    with pytest.raises(ValueError):
        make_widget(lr, backend="tk")


def test_config_form_explains_bad_values():
    form = ConfigForm("s4nn", "synthetic")
    cfg, msg = form.build()
    assert cfg is not None and msg == ""
    form.widgets["gamma"].value = 300
    cfg, msg = form.build()
    assert cfg is None and "gamma" in msg and "t_max" in msg
    form.widgets["gamma"].value = 3
    form.widgets["hidden"].value = "abc"
    assert "hidden" in form.build()[1]
    form.widgets["hidden"].value = "20,10"
    assert form.build()[0].algo.hidden == (20, 10)
    form.widgets["val_size"].value = ""
    assert form.build()[0].data.val_size is None


def test_datasets_offered(monkeypatch, tmp_path):
    monkeypatch.delenv("SNNVIZ_DATA", raising=False)
    offline = available_datasets()
    assert "mnist-mini" in offline and "mnist" not in offline
    monkeypatch.setenv("SNNVIZ_DATA", str(tmp_path))
    assert "mnist" in available_datasets()


def test_figure_pane_sends_in_place_changes():
    fig = build_curves(Snapshot())
    pane = FigurePane(fig, link_figure=False)
    root = pane.get_root(Document())
    model = pane._models[root.ref["id"]][0]
    rec = Recorder()
    rec(RunStart("s4nn", "synthetic", {}, (4, 3), ("a", "b", "c"), 1, 0, 1, 0))
    for s in range(5):
        rec(BatchEnd(s, 0, 1, s + 1, 5, 0.1, 1.0, 1.0, 0.0, (), 1.0))
    patch_curves(fig, rec.snapshot())
    pane.param.trigger("object")
    assert len(model.data_sources[0].data["x"][0]) == 5
    race = build_race(None, ("a", "b", "c"))
    pane.object = race
    out = ProbeLayer(np.array([2, 5, 9]), np.arange(3), np.zeros((9, 3)), 1.0)
    patch_race(race, Probe(7, 0, np.zeros(4), (out,), 9), ("a", "b", "c"))
    pane.param.trigger("object")
    assert "sample 7" in model.layout["title"]["text"]               # nested change sent
    assert model.data[0]["marker"]["color"][0] == "#16a34a"
    assert race.data[0].marker.color[0] == "#16a34a"                 # figure left intact
    Serializer().encode(model.data)


def test_app_start_pause_step_reset(app):
    assert app.live["curves"].object.data[0].x.size == 0
    app.start()
    # each view redraws at its own maximum rate, so the race may follow the probe a tick later
    until(app, lambda: app._snap.step.size >= 3 and app._snap.probe is not None
          and app.live["race"].object.layout.title.text.startswith("Output race: sample"))
    curves = app.live["curves"].object
    assert curves.data[0].x.size >= 3 and app.updates > 0
    assert "running" in app.status_text
    app.pause()
    assert "paused" in app.status_text and app.pause_button.disabled
    time.sleep(0.3)
    until(app, lambda: app.queue.get() is None or True)
    app._tick()
    steps = app.recorder.snapshot().step.size
    time.sleep(0.3)
    app._tick()
    assert app.recorder.snapshot().step.size == steps                # paused: no training
    app.step()
    until(app, lambda: app.recorder.snapshot().step.size == steps + 1
          or app.recorder.snapshot().status != "running")
    old_worker = app.worker
    app.reset()
    assert app.worker is not old_worker and app._snap.step.size == 0
    until(app, lambda: not old_worker.thread.is_alive(), timeout=20)


def test_app_switches_algorithm_and_shows_flips(app):
    app.algorithm.value = "bs4nn"
    assert "alpha_init" in app.form.widgets and "BS4NN" in app.worker.cfg.algo.__class__.__name__
    app.form.widgets["hidden"].value = "12"
    app.start()
    until(app, lambda: app._snap.run is not None and app._snap.run.algorithm == "bs4nn"
          and app.live["flips"].object.data[0].x.size >= 2)      # redrawn every 0.25 s
    assert app.live["flips"].visible


def test_bad_value_shows_a_message(app):
    app.form.widgets["gamma"].value = 10_000
    assert app.message.visible and "gamma" in app.message.object
    assert app.start_button.disabled
    app.start()                                                       # refused, no traceback
    app.form.widgets["gamma"].value = 3
    assert not app.message.visible and not app.start_button.disabled
    app.form.widgets["val_size"].value = "100000"                     # fails when data loads
    app.reset()
    until(app, lambda: app.message.visible)
    assert "val" in app.message.object.lower()


def test_sample_inspector_and_weights(app):
    ins = app.inspector
    ins.sample_index.value = 3
    until(app, lambda: isinstance(ins.sample, SampleView) and ins.sample.probe.sample_index == 3)
    membrane = ins.panes["membrane"].object
    full = membrane.data[0].x.size
    ins.time.value = 5
    assert ins.panes["membrane"].object.data[0].x.size == 6 < full
    ins.on_raster_click(type("E", (), {"new": {"points": [{"y": 4, "curveNumber": 1}]}}))
    assert ins.chosen == [4] and ins.layer.value == 0
    assert ins.panes["membrane"].object.data[0].name == "neuron 4"
    app.tabs.active = 2
    until(app, lambda: isinstance(app.weights.view, WeightView))
    assert app.weights.panes["hist"].object.data[0].x.size > 0
    assert np.isfinite(np.asarray(app.weights.panes["tiles"].object.data[0].z, dtype=float)).any()


class Counter(Extension):
    """An extension with a tab and a card that counts what it is told."""

    title = "Counter"

    def __init__(self):
        self.events, self.runs, self.refreshes, self.replies = [], [], [], []
        self.text = pn.pane.Markdown("")

    def tab(self):
        return pn.Column(self.text)

    def card(self):
        return pn.Card(pn.pane.Markdown("card"), title="Counter")

    def on_run(self, run):
        self.runs.append(run.algorithm)

    def on_event(self, event):
        self.events.append(type(event).__name__)

    def on_refresh(self, snap, visible, force):
        self.refreshes.append(visible)
        if visible:
            self.app.request(lambda trainer: trainer.step, self.replies.append)


class Broken(Extension):
    title = "Broken"

    def on_event(self, event):
        raise RuntimeError("boom")


def test_extensions_get_a_tab_a_card_events_and_replies():
    a = TrainingApp("s4nn", "synthetic", overrides=TINY, loop_budget=LoopBudget(share=1e9),
                    extensions=[Counter, Broken])
    try:
        ext = a.extensions[2]
        assert isinstance(ext, Counter) and ext.app is a
        assert list(a.tabs._names) == ["Training", "Sample inspector", "Weights", "Counter"]
        assert any(isinstance(c, pn.Card) and c.title == "Counter" for c in a.cards)
        until(a, lambda: a.snapshot.run is not None)
        assert ext.runs == ["s4nn"] and ext.events[0] == "RunStart"
        a.step()
        until(a, lambda: "BatchEnd" in ext.events)
        a.tabs.active = 3
        until(a, lambda: bool(ext.replies))
        assert ext.replies[0] >= 1 and True in ext.refreshes
        assert a.message.visible and "Broken" in a.message.object and "boom" in a.message.object
    finally:
        a.close()


def test_registered_extensions_are_built_per_app():
    register_extension(Counter)
    try:
        a, b = (TrainingApp("s4nn", "synthetic", overrides=TINY) for _ in range(2))
        assert isinstance(a.extensions[-1], Counter) and isinstance(b.extensions[-1], Counter)
        assert a.extensions[-1] is not b.extensions[-1]
        a.close()
        b.close()
    finally:
        unregister_extension(Counter)
    c = TrainingApp("s4nn", "synthetic", overrides=TINY)
    assert not any(isinstance(e, Counter) for e in c.extensions)
    c.close()


def test_closing_the_session_stops_the_worker(app):
    app.start()
    worker = app.worker
    app._on_session_destroyed(None)
    until(app, lambda: not worker.thread.is_alive(), timeout=20)


def test_loop_budget_limits_the_refresh_share():
    budget = LoopBudget(share=0.5, window=0.2)
    assert budget.allow()
    budget.charge(0.5)                           # far more than half of 0.2 s
    assert not budget.allow()
    time.sleep(0.5)
    assert budget.allow()                        # spent time decays


# Tiny settings per algorithm: a few trainer steps per epoch, a validation pass each epoch.
SMALL = {"online_chunk": 20, "epochs": 2, "every": 1, "train_size": 60, "val_size": 20,
         "test_size": 20}
PER_ALGORITHM = {
    "s4nn": {"hidden": "12"},
    "bs4nn": {"hidden": "40"},
    # STiDi-BP's default ramp (tau1 = 128) starts silent on the synthetic set's dim images
    # (a dead network after one epoch); a faster ramp fires from the start
    "stidi-bp": {"hidden": "12", "tau1": 32},
    "stidi-bp-conv": {"channels": "2,4", "tau1": 32},
    "stidi-bp-conv-binary": {"channels": "4,8", "tau1": 32},
    "proxy": {"batch_size": 20},
}
EXPECTED_VIEWS = {
    "s4nn": {"decision_time"}, "bs4nn": {"decision_time", "flips"},
    "stidi-bp": {"decision_time", "displacement"},
    "stidi-bp-conv": {"decision_time", "displacement"},
    "stidi-bp-conv-binary": {"decision_time", "displacement", "flips"},
    "proxy": {"twin", "ann_snn", "time_steps"},
}
SPECIFIC = set().union(*EXPECTED_VIEWS.values())


def _settle(app, timeout=60.0):
    """Tick until the worker is paused and its queue is drained."""
    until(app, lambda: not app.worker.running and len(app.queue) == 0, timeout)
    app._tick()
    app._refresh(force=True)                     # views redraw at most every 0.25-0.5 s


@pytest.mark.parametrize("name", sorted(PER_ALGORITHM))
def test_each_algorithm_start_pause_step_reset_switch(name):
    assert set(PER_ALGORITHM) == set(ALGORITHMS)
    app = TrainingApp("s4nn", "synthetic", overrides=TINY, loop_budget=LoopBudget(share=1e9),
                      worker_nice=0)
    try:
        until(app, lambda: app.snapshot.run is not None)
        app.algorithm.value = name                                     # switch
        for field, value in {**SMALL, **PER_ALGORITHM[name]}.items():
            w = app.form.widgets.get(field)
            if w is not None:
                w.value = str(value) if isinstance(w, pn.widgets.TextInput) else value
        app.reset()
        assert not app.message.visible, app.message.object
        until(app, lambda: app.snapshot.run is not None and app.snapshot.run.algorithm == name)
        shown = {v.key for v in app._views}
        assert shown & SPECIFIC == EXPECTED_VIEWS[name]
        assert all(app.live[k] in _panes(app.training) for k in shown)
        app.start()
        until(app, lambda: (app.snapshot.val is not None and app.snapshot.step.size >= 2)
              or app.snapshot.status not in ("empty", "running"), timeout=120)
        assert app.snapshot.status in ("running", "ok"), app.status_text
        until(app, lambda: bool(app.snapshot.derived))                # derived after val
        app.pause()
        _settle(app)
        n = app.recorder.snapshot().step.size
        assert app.live["curves"].object.data[0].x.size == n
        conf = app.live["confusion"].object
        assert conf.data[0].z is not None and "accuracy" in conf.layout.title.text
        _check_specific_views(app, name)
        if not app.worker.finished:
            app.step()
            until(app, lambda: app.recorder.snapshot().step.size == n + 1
                  or app.recorder.snapshot().status != "running")
        app.reset()
        assert app.snapshot.step.size == 0
        until(app, lambda: app.snapshot.run is not None)
        assert app.live["curves"].object.data[0].x.size == 0
        assert not app.message.visible, app.message.object
    finally:
        app.close()


def _panes(obj):
    out = [obj]
    for child in getattr(obj, "objects", []):
        out.extend(_panes(child))
    return out


def _check_specific_views(app, name):
    snap = app.snapshot
    if "decision_time" in EXPECTED_VIEWS[name]:
        fig = app.live["decision_time"].object
        acc, decided = (np.asarray(fig.data[i].y, dtype=float) for i in (0, 1))
        assert acc.size == snap.run.config["algo"]["t_max"] and (np.diff(acc) >= 0).all()
        assert (acc <= decided + 1e-12).all() and "validation samples" in fig.layout.title.text
    if "displacement" in EXPECTED_VIEWS[name]:
        fig = app.live["displacement"].object
        n_layers = len(snap.run.layer_sizes) - 1
        requested, realised = fig.data[0], fig.data[n_layers]
        assert np.asarray(requested.x).size >= 1 and np.asarray(realised.x).size >= 1
        assert np.asarray(fig.data[2 * n_layers].y).sum() == pytest.approx(1.0)
    if "flips" in EXPECTED_VIEWS[name]:
        assert app.live["flips"].visible and app.live["flips"].object.data[0].x.size >= 2
    if name == "proxy":
        twin = app.live["twin"].object
        assert np.asarray(twin.data[0].x).size > 0 and list(twin.data[-1].x) == [0.0, 1.0]
        accs = app.live["ann_snn"].object
        assert np.asarray(accs.data[1].y).size == snap.step.size              # ANN line
        steps = app.live["time_steps"].object
        t_max = snap.run.config["algo"]["t_max"]
        assert np.asarray(steps.data[0].y).size == t_max                     # validation


def test_bad_values_for_every_algorithm_show_a_message():
    app = TrainingApp("s4nn", "synthetic", overrides=TINY, loop_budget=LoopBudget(share=1e9),
                      worker_nice=0)
    try:
        for name in ALGORITHMS:
            app.algorithm.value = name
            w = app.form.widgets
            bad = "abc" if "hidden" in w and name != "stidi-bp-conv" else None
            field = "hidden" if bad else "t_max"
            w[field].value = bad if bad else -5
            assert app.message.visible and app.start_button.disabled, name
            app.start()                                               # refused, no traceback
            assert app.worker is None or not app.worker.running
            w[field].value = "12" if bad else 256
            assert not app.message.visible, (name, app.message.object)
    finally:
        app.close()


def test_refreshes_and_page_reports_do_not_mark_the_server_busy():
    """The view refresh is background work and the Plotly view's own reports (axis ranges,
    render counts) are dropped on arrival: neither flips Panel's busy indicator, whose every
    change is a message to every open page. A click on a trace still reaches the server."""
    import asyncio

    from bokeh.document import Document as Doc
    from panel.io.state import set_curdoc

    import snnviz.ui.dashboard.app as app_mod

    calls = []
    doc = Doc()
    with set_curdoc(doc):
        cb = app_mod._background_callback(lambda: calls.append(pn.state.busy), 20)
    try:
        assert cb._background and cb in pn.state._periodic[doc]
        asyncio.run(cb._periodic_callback())          # as the server's loop runs it
        assert calls == [False] and not pn.state.busy and not pn.state._busy_counter
    finally:
        cb.stop()
        pn.state._periodic.pop(doc, None)

    pane = FigurePane(build_curves(Snapshot()), link_figure=False)
    flips = []
    watcher = pn.state.param.watch(lambda e: flips.append(e.new), "busy")
    try:
        pane._process_events({"viewport": {"xaxis.range": [0, 1]}, "_render_count": 3,
                              "relayout_data": {"xaxis.range[0]": 0}})
    finally:
        pn.state.param.unwatch(watcher)
    assert pane.viewport is None and pane._render_count == 0 and pane.relayout_data is None
    assert flips == []
    pane._process_events({"click_data": {"points": [{"x": 1, "y": 2}]}})
    assert pane.click_data == {"points": [{"x": 1, "y": 2}]}


def test_a_closed_tab_pauses_its_run_and_sends_nothing(app):
    """Between a tab closing and Bokeh destroying its session (its unused-session lifetime)
    the run is paused at once and no view update is sent; a page still loading (never
    connected yet) is not mistaken for a closed one."""
    from types import SimpleNamespace

    session = SimpleNamespace(connection_count=0)
    app._session_ctx = SimpleNamespace(_session=session)
    app.start()
    app._tick()                                  # not connected yet: a loading page
    assert app.worker.running
    session.connection_count = 1
    until(app, lambda: app._snap.step.size > 0)
    session.connection_count = 0                 # the tab closes
    app._tick()
    assert not app.worker.running and app._lost
    sent = app.updates
    time.sleep(0.3)
    for _ in range(5):
        app._tick()
    assert app.updates == sent and len(app.queue) == 0
    session.connection_count = 1                 # a reconnected page sees the paused run
    app._tick()
    assert not app._lost and not app.worker.running


def test_flow_control_waits_for_the_page_to_take_in_each_refresh(app, monkeypatch):
    """Served, a refresh goes out only after the page has echoed the previous one's
    sequence number (at most one in flight, so no backlog builds in front of clicks); a page
    that stops answering still gets one refresh per ``ACK_TIMEOUT_S``."""
    from types import SimpleNamespace

    import snnviz.ui.dashboard.app as app_mod

    app._session_ctx = SimpleNamespace(_session=SimpleNamespace(connection_count=1))
    app.start()
    until(app, lambda: app.page_ack.seq > app.page_ack.ack)     # a refresh went out
    seq, sent = app.page_ack.seq, app.updates
    time.sleep(0.3)                                             # new steps meanwhile
    for _ in range(5):
        app._tick()
    assert app.page_ack.seq == seq and app.updates == sent      # unanswered: held back
    app.page_ack.ack = seq                                      # the page took it in
    until(app, lambda: app.page_ack.seq == seq + 1)
    assert app.updates == sent + 1
    monkeypatch.setattr(app_mod, "ACK_TIMEOUT_S", 0.2)          # a page that never answers
    time.sleep(0.3)
    until(app, lambda: app.page_ack.seq == seq + 2, timeout=5)


class _Timeouts:
    """Stands in for the session's Bokeh document: records ``add_timeout_callback`` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def add_timeout_callback(self, callback, ms: int) -> None:
        self.calls.append((callback, ms))


def _served_with_answers(app) -> _Timeouts:
    """``app`` as if served: a connected page whose answers reach ``_on_ack``."""
    from types import SimpleNamespace

    app._session_ctx = SimpleNamespace(_session=SimpleNamespace(connection_count=1))
    app._doc = _Timeouts()
    app.page_ack.param.watch(app._on_ack, "ack")
    return app._doc


def test_the_page_answer_brings_the_next_refresh_without_waiting_for_a_tick(app):
    """When the page takes a refresh in after the refresh period has passed, the next one
    goes out at once (not at the periodic callback's next tick); an answer that comes
    early schedules the next refresh for the end of the period."""
    doc = _served_with_answers(app)
    app.start()
    until(app, lambda: app.page_ack.seq > app.page_ack.ack)
    seq = app.page_ack.seq
    time.sleep(0.3)                                  # past the period, with new steps
    app.page_ack.ack = seq                           # the answer: no tick in between
    assert app.page_ack.seq == seq + 1 and doc.calls == []
    app._gap_s = 5.0                                 # an answer well within the period
    app.page_ack.ack = seq + 1
    assert app.page_ack.seq == seq + 1              # held back ...
    (callback, ms), = doc.calls                      # ... until the period's end
    assert callback == app._tick and 4000 < ms <= 5000
    app._tick()
    assert app.page_ack.seq == seq + 1              # a tick before then sends nothing


def test_a_busy_page_is_given_rest_before_the_next_refresh(app):
    """A page that reports long tasks (slow redraws) gets ``PAGE_IDLE_SHARE`` of that time
    idle before the next refresh, so that its clicks are not queued behind redraws; one
    that reports none is refreshed as soon as the period allows."""
    import snnviz.ui.dashboard.app as app_mod

    doc = _served_with_answers(app)
    app.start()
    until(app, lambda: app.page_ack.seq > app.page_ack.ack)
    seq = app.page_ack.seq
    time.sleep(0.3)
    app.page_ack.busy = 600.0                        # ms of long tasks since the last answer
    app.page_ack.ack = seq
    assert app.page_ack.seq == seq                   # past the period, but resting
    (_, ms), = doc.calls
    rest = app_mod.PAGE_IDLE_SHARE * 600
    assert rest - 20 <= ms <= rest
    app._tick()
    assert app.page_ack.seq == seq
    time.sleep(ms / 1000)
    app._tick()
    assert app.page_ack.seq == seq + 1               # rested: the next refresh goes out
    app.page_ack.busy = 60_000.0                     # one long stall (a wake-up)
    app.page_ack.ack = seq + 1
    assert doc.calls[-1][1] <= 1000 * app_mod.MAX_REST_S     # the rest has a ceiling


def test_figure_panes_keep_their_figures_height():
    """A pane as tall as its figure keeps the page's layout still while the figure is
    redrawn; it follows a new figure and a patched height."""
    import plotly.graph_objects as go

    from snnviz.ui.dashboard.panes import make_pane

    pane = make_pane(go.Figure(layout={"height": 300}))
    assert pane.height == 300
    pane.object = go.Figure(layout={"height": 500})
    assert pane.height == 500
    pane.object.layout.height = 420
    pane.param.trigger("object")
    assert pane.height == 420


def test_served_refreshes_carry_the_curves_and_take_turns_with_the_rest(app):
    """Flow-controlled, each refresh patches the curves and at most one other figure (the
    longest-waiting), so small refreshes keep the curves moving and the others take turns."""
    from types import SimpleNamespace

    import snnviz.ui.dashboard.app as app_mod

    app._session_ctx = SimpleNamespace(_session=SimpleNamespace(connection_count=1))
    app.start()
    others: set[str] = set()
    end = time.monotonic() + 4.0
    while time.monotonic() < end:
        before = dict(app._seen)
        app.page_ack.ack = app.page_ack.seq                     # the page keeps up
        app._tick()
        changed = {k for k, v in app._seen.items() if before.get(k) != v} - {"curves"}
        assert len(changed) <= app_mod.MAX_OTHER_VIEWS, changed
        others |= changed
        time.sleep(0.05)
    assert len(others) >= 2, others
