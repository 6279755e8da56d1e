"""The notebook dashboards of snnviz.ui.notebook, driven programmatically: generated controls,
fake button clicks, a few training steps, invalid values, and data in the FigureWidgets."""

import asyncio
import json
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from snnviz.algorithms import get_algorithm
from snnviz.config import field_specs
from snnviz.neurons.if_neuron import first_spike_times
from snnviz.ui import notebook as nb

TINY = dict(nb.SMOKE_SETTINGS)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """Tiny torch runs are fastest (and least disturbed by other work) on one thread."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _lab(algorithm="s4nn", **kw):
    over = {**TINY, "batch_size": 8} if algorithm == "proxy" else TINY
    return nb.TrainingLab(algorithm, overrides=over, threaded=kw.pop("threaded", False), **kw)


def _points(fig: go.FigureWidget) -> int:
    n = 0
    for tr in fig.data:
        for key in ("x", "z"):
            v = getattr(tr, key, None)
            if v is not None:
                n += len(v)
    return n


def test_controls_come_from_the_config_metadata():
    lab = _lab()
    meta = {f.name: dict(f.metadata) for f, _ in field_specs(get_algorithm("s4nn").Config)}
    w = lab.form.widgets["t_max"]
    assert (w.min, w.max) == meta["t_max"]["bounds"]
    assert w.tooltip == meta["t_max"]["doc"]
    assert list(lab.form.widgets["delta_weights"].options) == list(meta["delta_weights"]
                                                                   ["choices"])
    assert set(lab.buttons) == {"Start", "Pause", "Step", "Reset"}
    shown = {c for box in lab.settings.children for c in box.children}
    assert set(lab.form.widgets.values()) <= shown
    lab.close()


def test_fake_clicks_train_and_fill_the_views():
    lab = _lab()
    assert lab.snapshot().run is not None and _points(lab.figures["race"]) == 0
    lab.buttons["Step"].click()
    snap = lab.snapshot()
    assert len(snap.step) == 1 and snap.probe is not None
    assert len(lab.figures["curves"].data[0].x) == 1
    assert len(lab.figures["race"].data[0].x) == len(snap.run.classes)
    assert _points(lab.figures["raster"]) > 0 and _points(lab.figures["membrane"]) > 0
    assert "step 1" in lab.status.value
    lab.buttons["Start"].click()               # inline: trains to the end of the run
    assert lab.summary["status"] == "ok" and lab.buttons["Start"].disabled
    assert _points(lab.figures["hist"]) > 0     # the validation pass arrived
    assert "finished" in lab.status.value and "honest" in lab.report()
    before = lab.snapshot().version
    lab.buttons["Step"].click()                 # a finished run does not move
    assert lab.snapshot().version == before
    lab.buttons["Reset"].click()
    assert len(lab.snapshot().step) == 0 and not lab.buttons["Start"].disabled


def test_invalid_values_show_a_message_and_keep_the_run():
    lab = _lab()
    lab.run_steps(1)
    lab.form.widgets["hidden"].value = "abc"
    assert "hidden" in lab.message.value and lab.buttons["Start"].disabled
    lab.buttons["Start"].click()                # no traceback, nothing lost
    assert len(lab.snapshot().step) == 1
    lab.form.widgets["hidden"].value = "400"
    lab.form.widgets["gamma"].value = lab.form.widgets["t_max"].value
    assert "gamma" in lab.message.value and lab.buttons["Start"].disabled
    lab.form.widgets["gamma"].value = 3
    assert lab.message.value == "" and not lab.buttons["Start"].disabled
    lab.form.widgets["epochs"].value = 2        # a change during a run applies at Reset
    lab.buttons["Start"].click()
    assert "Reset" in lab.message.value
    assert lab.snapshot().run.config["train"]["epochs"] == 1
    lab.buttons["Reset"].click()
    assert lab.snapshot().run.config["train"]["epochs"] == 2


def test_threaded_steps_and_periodic_refresh():
    """The worker thread trains; a periodic callback on the running event loop (the
    kernel's, in a notebook) drains the queue and patches the figures without any call."""
    lab = _lab(threaded=True, update_ms=20)
    assert lab.run_steps(2) == 2
    assert len(lab.figures["curves"].data[0].x) == 2
    assert lab.run() == 4                      # to the end, past the last step's events
    assert lab.summary["status"] == "ok" and lab.run_steps(1) == 0
    lab.close()

    async def main():
        lab = _lab(threaded=True, update_ms=20)
        lab.start()
        for _ in range(3000):
            await asyncio.sleep(0.02)
            if lab.summary is not None:
                break
        await asyncio.sleep(0.1)
        return lab

    lab = asyncio.run(main())
    assert lab.summary is not None and lab.summary["status"] == "ok"
    assert lab.updates > 0 and len(lab.figures["curves"].data[0].x) == 6
    assert "finished" in lab.status.value
    lab.close()


@pytest.mark.parametrize("algorithm, view", [("bs4nn", "flips"), ("stidi-bp", "displacement"),
                                             ("proxy", "twin")])
def test_algorithm_views_receive_data(algorithm, view):
    lab = _lab(algorithm)
    assert view in lab.figures
    assert lab.run_steps(2) == 2
    assert _points(lab.figures[view]) > 0
    if algorithm == "bs4nn":
        z = np.asarray(lab.figures["flip_map"].data[0].z, dtype=float)
        assert z.size and np.nanmin(z) >= 0
    if algorithm == "proxy":
        assert len(lab.figures["t_sweep"].data[0].y) == lab.trainer.cfg.algo.t_max


def test_neuron_explorer_matches_the_kernel():
    ex = nb.NeuronExplorer(t_in=(1, 3, 5, 7), w=(0.5, 0.4, -0.2, 0.6), thr=0.8, t_max=20)
    assert ex.fire_time == 4
    ex.weights[1].value = 0.1                   # dragging a slider redraws
    t_in = [s.value for s in ex.times]
    w = [s.value for s in ex.weights]
    want = first_spike_times(np.array([t_in]), np.array([w]), 0.8, 20).times[0, 0]
    assert ex.fire_time == want == 8
    assert "fires at t = 8" in ex.figure.layout.title.text
    ex.threshold.value = 2.0
    assert ex.fire_time == 20 and "silent" in ex.figure.layout.title.text


def test_latency_explorer():
    ex = nb.LatencyExplorer("mnist-mini", index=0, t_max=256)
    t = ex.spike_times()
    ex.time.value = 100
    assert ex.update() == int((t <= 100).sum()) > 0
    z = np.asarray(ex.figure.data[1].z, dtype=float)
    assert np.nanmax(z) <= 100


def test_compare_algorithms(monkeypatch):
    monkeypatch.setenv("SNNVIZ_SMOKE", "1")
    rows, fig = nb.compare_algorithms(("s4nn", "stidi-bp"), progress=None)
    assert [r["name"] for r in rows] == ["s4nn", "stidi-bp"]
    for r in rows:
        assert 0 <= r["test_accuracy"] <= 1 and r["wall_seconds"] > 0
        assert r["spikes_per_sample"] > 0 and len(r["val_accuracy"]) == 1
        assert math.isnan(r["decision_time"]) or 0 <= r["decision_time"] <= 256
    assert list(fig.data[2].x) == ["s4nn", "stidi-bp"]


def test_lab_settings_and_full_runs_need_data(monkeypatch):
    monkeypatch.setenv("SNNVIZ_SMOKE", "1")
    assert nb.lab_settings("proxy")["train_size"] == TINY["train_size"]
    monkeypatch.delenv("SNNVIZ_SMOKE")
    assert nb.lab_settings("proxy")["batch_size"] > 1
    with pytest.raises(ValueError, match="unknown algorithm|no algorithm|algorithm"):
        nb.lab_settings("nope")
    monkeypatch.delenv("SNNVIZ_DATA", raising=False)
    with pytest.raises(ValueError, match="SNNVIZ_DATA"):
        nb.final_run("s4nn", full=True)


def test_widget_messages_carry_contiguous_arrays_and_no_nan(monkeypatch):
    """Kernels send 1-D arrays as binary buffers (must be contiguous) and other arrays as
    JSON (no NaN allowed): the notebook's FigureWidget makes both hold."""
    sent = []
    monkeypatch.setattr(go.FigureWidget, "_send_restyle_msg",
                        lambda self, data, trace_indexes=None, source_view_id=None:
                        sent.append(data))
    fig = nb.FigureWidget(go.Figure([go.Scatter(), go.Heatmap()]))
    a = np.arange(12.0).reshape(3, 4)
    a[0, 0] = np.nan
    fig.plotly_restyle({"x": [a[:, 1]], "y": [a[:, 2]]}, [0])
    fig.plotly_restyle({"z": [a]}, [1])
    assert all(v.flags.c_contiguous for v in (sent[0]["x"][0], sent[0]["y"][0]))
    assert sent[1]["z"][0][0][0] is None and sent[1]["z"][0][2][3] == 11.0
    json.dumps(sent[1], allow_nan=False)
