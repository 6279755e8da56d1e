"""Exploration extensions of the dashboard, driven headless: drawn digit (also mid-training),
neuron sandbox, evaluation-policy card, shareable state and presenter mode, run library,
explanation toggles."""

import json

import numpy as np
import pytest
import torch

pn = pytest.importorskip("panel")

from ui_helpers import until  # noqa: E402

from snnviz.api import make_run_config, make_trainer  # noqa: E402
from snnviz.explore.sandbox import run_image  # noqa: E402
from snnviz.explore.urlstate import decode_state  # noqa: E402
from snnviz.runs import ReplayLog, RunLibrary  # noqa: E402
from snnviz.training.checkpoint import save_checkpoint  # noqa: E402
from snnviz.ui.dashboard import LoopBudget, TrainingApp  # noqa: E402
from snnviz.ui.explore import explore_extensions  # noqa: E402
from snnviz.ui.explore.cards import PolicyCard, ShareCard, app_state  # noqa: E402
from snnviz.ui.explore.common import info_toggle  # noqa: E402
from snnviz.ui.explore.draw import DrawTab  # noqa: E402
from snnviz.ui.explore.runs_tab import RunLibraryTab  # noqa: E402
from snnviz.ui.explore.sandbox_tab import SandboxTab  # noqa: E402

DATASETS = ["mnist-mini", "fashion-mnist-mini", "synthetic"]
QUERY = ("algorithm=s4nn&dataset=synthetic&seed=2&hidden=12&online_chunk=20&epochs=1000&every=2"
         "&init_out=60&view=neuron-sandbox&sample=3&present=1&hide=settings,buttons"
         "&runs=old")


def ext(app, cls):
    return next(e for e in app.extensions if isinstance(e, cls))


def _library(tmp_path):
    root = tmp_path / "runs"
    (root / "old").mkdir(parents=True)
    hist = [{"epoch": e, "train_accuracy": 0.5 + e / 10, "val_accuracy": 0.4 + e / 10,
             "train_loss": 0.1 / e, "seconds": 1.0} for e in (1, 2, 3)]
    (root / "old" / "result.json").write_text(json.dumps({
        "algorithm": "s4nn", "dataset": "synthetic", "seed": 0, "status": "ok",
        "test_accuracy": 0.7, "history": hist, "test_by_policy": {"honest": 0.7,
                                                                   "reference": 0.75},
        "config": {"algo": {"t_max": 8}}}))
    k = 3
    log = ReplayLog({"t_max": 8, "classes": ["a", "b", "c"], "epochs": [
        {"epoch": e, "seconds": 1.0,
         "val": {"n": 6, "accuracy": 0.5, "by_policy": {"honest": 0.5, "reference": 0.6},
                 "no_spike_rate": 0.1, "tie_rate": 0.0, "spikes_per_sample": 9.0 + e,
                 "mean_output_time": 4.0, "confusion": np.eye(k, k + 1, dtype=int).tolist()},
         "probe": {"step": e, "index": 0, "label": 1, "t_in": [0, 3, 8, 8],
                   "layers": [[1, 8], [5, 2 + e, 8]], "thr": [1.0, 1.0]}} for e in range(3)]})
    log.save(root / "old" / "replay.json")
    cfg = make_run_config("s4nn", "synthetic", overrides={"hidden": "12"})
    save_checkpoint(make_trainer(cfg).state_dict(), root / "old" / "checkpoint.pt")
    return RunLibrary(root)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """An app built from a shared link, as apps/dashboard.py does."""
    state, msgs = decode_state(QUERY, DATASETS)
    assert msgs == []
    lib = _library(tmp_path_factory.mktemp("lib"))
    app = TrainingApp(state.algorithm, state.dataset, seed=state.seed,
                      overrides=dict(state.overrides), loop_budget=LoopBudget(share=1e9),
                      extensions=explore_extensions(state, msgs, lib))
    until(app, lambda: app.snapshot.run is not None)
    yield app, state
    app.close()


def test_shared_link_reproduces_the_view(served):
    app, state = served
    titles = list(app.tabs._names)
    assert titles[app.tabs.active] == "Neuron sandbox"
    box = ext(app, SandboxTab)
    until(app, lambda: box.net is not None and box.index == 3)
    assert app.inspector.sample_index.value == 3
    assert not app.start_button.visible and not app.step_button.visible
    assert not app._cards.visible and app.algorithm.visible          # hide=settings,buttons
    assert ext(app, RunLibraryTab).choice.value == ["old"]
    share = ext(app, ShareCard)
    share.publish()
    back, msgs = decode_state(share.link.value.split("?", 1)[1], DATASETS)
    assert msgs == [] and back == state                              # link == what is shown
    assert app.form.build()[0].algo.hidden == (12,) and app.form.build()[0].seed == 2
    share.present.value = False                                      # presenter off
    assert app.start_button.visible and app._cards.visible
    assert app_state(app).present is False
    share.present.value = True
    assert not app.start_button.visible


def test_hostile_link_opens_defaults_with_a_message(tmp_path):
    state, msgs = decode_state("algorithm=zzz&data_root=/etc&dataset=../../x&seed=-4"
                               "&runs=/etc/passwd&view=<script>", DATASETS)
    assert len(msgs) == 6 and state.algorithm == "s4nn" and state.runs == ()
    app = TrainingApp("s4nn", "synthetic", overrides={"hidden": "12"},
                      loop_budget=LoopBudget(share=1e9),
                      extensions=[lambda: ShareCard(state, msgs)])
    try:
        card = ext(app, ShareCard)
        assert card.notes.visible and "data_root" in card.notes.object
        until(app, lambda: app.snapshot.run is not None)
        assert app.tabs.active == 0
    finally:
        app.close()


def test_sandbox_edits_a_copy_and_redraws(served):
    app, _ = served
    box = ext(app, SandboxTab)
    until(app, lambda: box.net is not None and box.result is not None)
    w_before = [w.clone() for w in box.net.params.w]
    box.layer.value = 1                                              # output layer
    box.neuron.value = 2
    r0 = box.result
    assert r0.t_before == r0.t_after and r0.changed == (0, 0)
    box.threshold.value = box.threshold.value * 3                    # much harder to fire
    r = box.result
    assert r is not r0 and r.thr_after == pytest.approx(r0.thr_before * 3)
    assert r.t_after >= r.t_before and "after" in box.summary.object
    assert {t.name for t in box.panes["trace"].object.data} >= {"V before", "V after"}
    box.undo_button.clicks += 1
    assert box.result.changed == (0, 0)
    box.input.value = int(np.argmin(box.result.before.probe.layers[0].times))   # earliest
    box.weight.value = -1000.0
    assert box.result.after.probe.layers[-1].times[2] == box.net.cfg.t_max   # silenced
    box.threshold.value = -1.0
    assert "Not possible" in box.summary.object
    assert all(torch.equal(a, b) for a, b in zip(w_before, box.net.params.w))
    trainer = app.worker.trainer
    assert not any(torch.equal(a, b) for a, b in zip(trainer.params.w, box.net.params.w)
                   if a.data_ptr() == b.data_ptr())                  # a copy, not the run's


def _digit():
    g = np.zeros((28, 28))
    g[4:24, 12:16] = 255                                              # a "1"
    return g.ravel().tolist()


def test_drawn_digit_runs_through_the_current_network_mid_training(served):
    app, _ = served
    draw = ext(app, DrawTab)
    draw.canvas.pixels = _digit()
    until(app, lambda: draw.sample is not None)
    sv, net = draw.sample, draw.net
    title = draw.panes["race"].object.layout.title.text
    assert title.startswith("Output race for your drawing")
    assert len(draw.panes["raster"].object.data) == 3                 # input, hidden, output
    again = run_image(net, draw.image)
    assert (again.probe.layers[-1].times == sv.probe.layers[-1].times).all()
    assert draw.image.shape == (1, 28, 28) and draw.image.max() == 255
    app.start()                                                       # training runs ...
    until(app, lambda: app.snapshot.last is not None and app.snapshot.last.step >= 2)
    seven = np.zeros((28, 28))
    seven[5:8, 6:22] = 255
    seven[8:24, 17:20] = 255
    draw.canvas.pixels = seven.ravel().tolist()                       # ... draw meanwhile
    until(app, lambda: draw.sample is not sv and draw.sample is not None)
    assert draw.net.step >= 2 and app.worker.running
    app.pause()
    draw.canvas.clear()
    assert draw.sample is None and draw.canvas.clear_count == 1


def test_policy_card_shows_every_policy_side_by_side(served):
    app, _ = served
    card = ext(app, PolicyCard)
    app.start()
    until(app, lambda: app.snapshot.val is not None, timeout=120)
    app.pause()
    app._tick()
    text = card.table.object
    for name in ("honest", "reference", "tie-potential", "reference-no-fallback",
                 "fallback-ties-wrong"):
        assert f"| {name}" in text
    assert "(training setting)" in text and "%" in text
    card.ties.value = "optimistic"                                    # a visible setting
    assert app.form.widgets["ties"].value == "optimistic"
    app.form.widgets["no_spike"].value = "potential"
    assert card.no_spike.value == "potential"
    app.form.widgets["ties"].value = "wrong"
    app.form.widgets["no_spike"].value = "wrong"


def test_run_library_replays_and_compares(served):
    app, _ = served
    tab = ext(app, RunLibraryTab)
    assert tab.choice.value == ["old"] and len(tab.runs) == 1
    assert "| old | s4nn |" in tab.table.object
    tab.epoch.value = 2
    curves = tab.panes["curves"].object
    assert all(len(t.x) == 2 for t in curves.data)
    race = tab.panes["race"].object
    assert "epoch 2" in race.layout.title.text and list(race.data[0].x) == [5, 3, 8]
    assert "epoch 2/3" in tab.replay_info.object
    tab.epoch.value = 3
    assert [t.name for t in tab.panes["policy"].object.data] == ["validation", "test"]
    draw = ext(app, DrawTab)                                          # draw for that run
    assert not tab.draw_button.disabled
    tab.draw_button.clicks += 1
    assert app.tabs._names[app.tabs.active] == "Draw a digit"
    assert draw.external is not None and draw.external_name == "old"
    draw.canvas.pixels = _digit()
    assert draw.sample is not None and draw.net is draw.external     # no request needed
    assert "library run old" in draw.info.object
    draw.session_button.clicks += 1
    assert draw.external is None and not draw.session_button.visible
    assert tab.select(["nope"]) == ["nope"] and tab.runs == []


def test_every_figure_has_an_explanation_toggle(served):
    app, _ = served
    app._refresh(force=True)

    def toggles(obj):
        n = int(isinstance(obj, pn.widgets.Toggle) and "What am I" in obj.name)
        return n + sum(toggles(o) for o in getattr(obj, "objects", []))

    live = [p for p in app.live.values()]
    assert toggles(app.training) == len(live)
    for title, tab in zip(app.tabs._names[1:], app.tabs.objects[1:]):
        panes = [o for o in _walk(tab) if isinstance(o, pn.pane.Plotly)]
        assert toggles(tab) == len(panes), title
    box = info_toggle("race")
    box[0].value = True
    assert box[1].visible and "first to fire" in box[1].object


def _walk(obj):
    yield obj
    for o in getattr(obj, "objects", []):
        yield from _walk(o)
