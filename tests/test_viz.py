"""Figure builders return the expected traces; patchers change data in place."""

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from snnviz import viz
from snnviz.config import RecordSpec
from snnviz.record import Recorder, Snapshot
from snnviz.training.events import (
    BatchEnd,
    EpochEnd,
    EvalEnd,
    Probe,
    ProbeLayer,
    RunStart,
)

T_MAX = 10
CLASSES = ("zero", "one", "two")


def make_probe(t_out=(4, 6, T_MAX), label=0) -> Probe:
    """A 4x4 input, 5 hidden neurons (2 traced), 3 outputs (all traced)."""
    t_in = np.array([0, 2, T_MAX, 5] * 4, dtype=np.int32)
    v_hid = np.cumsum(np.ones((T_MAX, 2)), axis=0)                        # [T, 2]
    hidden = ProbeLayer(np.array([3, T_MAX, 1, 7, T_MAX]), np.array([2, 0]), v_hid, 2.5)
    v_out = np.linspace(0, 1, T_MAX)[:, None] * np.array([[3.0, 2.0, 0.5]])
    output = ProbeLayer(np.array(t_out), np.array([0, 1, 2]), v_out, 1.0)
    return Probe(7, label, t_in, (hidden, output), T_MAX)


def make_eval(acc=0.5) -> EvalEnd:
    conf = np.array([[3, 1, 0, 0], [0, 2, 0, 2], [1, 0, 1, 0]])
    hist = (np.arange(T_MAX + 1), np.ones(T_MAX + 1, np.int64))
    return EvalEnd("val", 1, 10, acc, {}, 0.2, 0.1, conf, hist)


def make_snapshot(steps=12, flips=(3, 1)) -> Snapshot:
    rec = Recorder(RecordSpec(history=100))
    rec(RunStart("bs4nn", "synthetic", {"algo": {"t_max": T_MAX}, "train": {"epochs": 3}},
                 (16, 5, 3), CLASSES, 40, 10, 10, 0))
    for s in range(steps):
        rec(BatchEnd(s, s // 4, 10, 10 * (s % 4 + 1), 40, 1.0 / (s + 1), 0.1 * (s % 10),
                     0.05 * s, 0.0, flips, 500.0, make_probe() if s == 0 else None))
        if s % 4 == 3:
            rec(make_eval())
            rec(EpochEnd(s // 4, 0.3, 0.4, 0.5 + 0.1 * (s // 4), 1.0, 0, 0, True))
    return rec.snapshot()


def ys(fig, i):
    return np.asarray(fig.data[i].y, dtype=float)


def test_curves_hold_loss_and_accuracies():
    snap = make_snapshot()
    fig = viz.build_curves(snap)
    assert isinstance(fig, go.Figure) and len(fig.data) == 5
    np.testing.assert_allclose(fig.data[0].x, np.arange(12))
    np.testing.assert_allclose(ys(fig, 0), 1.0 / np.arange(1, 13))
    np.testing.assert_allclose(ys(fig, 2), snap.running_accuracy)
    np.testing.assert_allclose(fig.data[4].x, [3, 7, 11])          # one point per epoch
    np.testing.assert_allclose(ys(fig, 4), [0.5, 0.6, 0.7])
    empty = viz.build_curves(Snapshot())
    assert len(empty.data[0].x) == 0
    assert any(a.name == "note" and a.visible for a in empty.layout.annotations)


def test_sign_flips_one_line_per_layer():
    fig = viz.build_sign_flips(make_snapshot())
    assert [t.name for t in fig.data] == ["hidden 1", "output"]
    np.testing.assert_allclose(ys(fig, 0), 3) and np.testing.assert_allclose(ys(fig, 1), 1)
    real = viz.build_sign_flips(make_snapshot(flips=()))
    assert all(len(t.y) == 0 for t in real.data)


@pytest.mark.parametrize("t_out, label, kind, colour", [
    ((4, 6, T_MAX), 0, "winner", "good"),
    ((4, 6, T_MAX), 1, "winner", "bad"),
    ((4, 4, 9), 0, "tie", "tie"),
    ((T_MAX,) * 3, 0, "silent", "muted"),
])
def test_race_marks_winner_ties_and_silence(t_out, label, kind, colour):
    p = make_probe(t_out, label)
    fig = viz.build_race(p, CLASSES, targets=np.array([4, 7, 7]))
    bars, targets = fig.data
    np.testing.assert_allclose(bars.x, np.minimum(t_out, T_MAX))
    assert viz.race_outcome(np.array(t_out), T_MAX)[0] == kind
    first = int(np.argmin(t_out))
    assert bars.marker.color[first] == viz.THEME[colour]
    assert bars.y[label].endswith("\u2605")                          # the label is starred
    np.testing.assert_allclose(targets.x, [4, 7, 7])
    silent = [k for k, t in enumerate(t_out) if t >= T_MAX]
    assert all(bars.text[k] == "no spike" for k in silent)


def test_membrane_lines_threshold_spikes_and_cursor():
    p = make_probe()
    fig = viz.build_membrane(p.layers[0], T_MAX, n_lines=4)
    assert len(fig.data) == 4 + 2
    assert [t.visible for t in fig.data[:4]] == [True, True, False, False]
    assert fig.data[0].name == "neuron 2" and len(fig.data[0].y) == T_MAX
    np.testing.assert_allclose(fig.data[-2].y, [2.5, 2.5])           # threshold line
    np.testing.assert_allclose(fig.data[-1].x, [1, 3])               # spikes of neurons 2, 0
    np.testing.assert_allclose(fig.data[-1].y, [2.5, 2.5])
    same = viz.patch_membrane(fig, p.layers[0], T_MAX, neurons=[0], t_cursor=2)
    assert same is fig
    assert len(fig.data[0].y) == 3 and fig.data[0].name == "neuron 0"
    assert len(fig.data[-1].x) == 0                                   # neuron 0 fires at t=3
    assert fig.layout.shapes[0].visible and fig.layout.shapes[0].x0 == 2
    named = viz.build_membrane(p.layers[1], T_MAX, names=CLASSES)
    assert [t.name for t in named.data[:3]] == list(CLASSES)


def test_raster_rows_hold_the_spikes_of_each_layer():
    p = make_probe()
    fig = viz.build_raster(p)
    assert [t.name for t in fig.data] == ["input", "hidden 1", "output"]
    np.testing.assert_allclose(fig.data[1].x, [3, 1, 7])
    np.testing.assert_allclose(fig.data[1].y, [0, 2, 3])
    assert len(fig.data[0].x) == 12                                   # 4 silent pixels
    titles = [a.text for a in fig.layout.annotations if a.name != "note"]
    assert titles[2] == "output: 2/3 spiked"
    viz.patch_raster(fig, p, t_cursor=2)
    np.testing.assert_allclose(fig.data[1].x, [1])


def test_histogram_and_confusion():
    ev = make_eval()
    hist = viz.build_spike_hist(ev, T_MAX)
    assert len(hist.data) == 2
    np.testing.assert_allclose(ys(hist, 1), np.full(T_MAX, 1 / (T_MAX + 1)))
    assert "silent" in hist.data[0].name
    conf = viz.build_confusion(ev, CLASSES)
    z = np.asarray(conf.data[0].z, dtype=float)
    np.testing.assert_allclose(z.sum(axis=1), 1.0)
    assert list(conf.data[0].x) == [*CLASSES, "none"] and conf.data[0].text[1][3] == "2"
    assert "50.0%" in conf.layout.title.text


def test_input_image_and_spike_times():
    p = make_probe()
    image = np.arange(16.0).reshape(4, 4)
    fig = viz.build_input(image, p, t_cursor=None)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), image)
    spikes = np.asarray(fig.data[1].z, dtype=float)
    assert np.isnan(spikes[:, 2]).all() and spikes[0, 3] == 5
    viz.patch_input(fig, image, p, t_cursor=1)
    spikes = np.asarray(fig.data[1].z, dtype=float)
    assert np.isfinite(spikes).sum() == 4                             # only t=0 pixels


def test_weight_histogram_by_sign_and_tiles():
    w = np.array([[-2.0, -0.5, 0.0, 1.0], [3.0, 0.5, -0.1, 2.0]])
    fig = viz.build_weight_hist(w, bins=8)
    neg, pos = fig.data
    assert ys(fig, 0).sum() == 3 and ys(fig, 1).sum() == 5           # 0 counts as positive
    assert np.all(np.asarray(neg.x)[ys(fig, 0) > 0] < 0)
    tiles = viz.tile_rows(w, (2, 2), n_tiles=2, n_cols=2)
    assert tiles.shape == (2, 5) and np.isnan(tiles[:, 2]).all()
    np.testing.assert_allclose(tiles[:, :2], [[-2.0, -0.5], [0.0, 1.0]])
    heat = viz.build_weight_tiles(tiles, mode="flips")
    np.testing.assert_allclose(np.asarray(heat.data[0].z, dtype=float), tiles)
    with pytest.raises(ValueError):
        viz.tile_rows(w, (3, 3))
    with pytest.raises(ValueError):
        viz.build_weight_tiles(tiles, mode="other")


def test_patchers_keep_the_figure_and_change_its_data():
    snap = make_snapshot(steps=3)
    cases = [
        (viz.build_curves(snap), lambda f: viz.patch_curves(f, make_snapshot(steps=9))),
        (viz.build_sign_flips(snap), lambda f: viz.patch_sign_flips(f, make_snapshot(9))),
        (viz.build_race(None, CLASSES), lambda f: viz.patch_race(f, make_probe(), CLASSES)),
        (viz.build_raster(None), lambda f: viz.patch_raster(f, make_probe())),
        (viz.build_spike_hist(None, T_MAX), lambda f: viz.patch_spike_hist(f, make_eval(),
                                                                           T_MAX)),
        (viz.build_confusion(None, CLASSES), lambda f: viz.patch_confusion(f, make_eval(),
                                                                           CLASSES)),
        (viz.build_weight_hist(None), lambda f: viz.patch_weight_hist(f, np.ones(5))),
        (viz.build_input(None, None), lambda f: viz.patch_input(f, np.ones((4, 4)),
                                                               make_probe())),
    ]
    for fig, patch in cases:
        before = pio.to_json(fig)
        ids = [id(t) for t in fig.data]
        assert patch(fig) is fig
        assert [id(t) for t in fig.data] == ids
        assert pio.to_json(fig) != before


def test_patchers_work_on_figure_widgets():
    pytest.importorskip("anywidget")
    widget = go.FigureWidget(viz.build_curves(make_snapshot(steps=2)))
    viz.patch_curves(widget, make_snapshot(steps=6))
    assert len(widget.data[0].x) == 6


# ------------------------------------------------------------------ algorithm views ----
EDGES = np.array([-np.inf, -4, -1, 1, 4, np.inf])


def stidi_snapshot(steps=6) -> Snapshot:
    """Two layers; the realised displacement is measured on even steps only."""
    rec = Recorder(RecordSpec(history=100))
    rec(RunStart("stidi-bp", "synthetic", {"algo": {"t_max": T_MAX}, "train": {"epochs": 1}},
                 (16, 5, 3), CLASSES, 40, 10, 10, 0))
    for s in range(steps):
        extra = {"disp_edges": EDGES, "disp_requested_mean_abs": np.array([2.0 + s, 1.0]),
                 "disp_requested_hist": np.array([[0, 1, 2, 1, 0], [1, 1, 0, 0, 2]])}
        if s % 2 == 0:
            extra.update({"disp_realised_samples": 3,
                          "disp_realised_mean_abs": np.array([1.0 + s, 0.5]),
                          "disp_realised_hist": np.array([[0, 0, 3, 0, 0], [0, 1, 1, 1, 0]])})
        rec(BatchEnd(s, 0, 10, 10 * (s + 1), 60, 0.5, 0.5, 0.5, 0.0, (), 100.0, None, extra))
    return rec.snapshot()


def test_stidi_displacement_requested_vs_realised_per_layer():
    snap = stidi_snapshot()
    fig = viz.build_stidi_displacement(snap)
    assert len(fig.data) == 8                        # 2 layers x (requested, realised) x 2
    np.testing.assert_array_equal(ys(fig, 0), [2, 3, 4, 5, 6, 7])        # requested, hidden
    np.testing.assert_array_equal(np.asarray(fig.data[2].x, float), [0, 2, 4])  # realised
    np.testing.assert_array_equal(ys(fig, 2), [1, 3, 5])
    assert fig.data[4].type == "bar" and list(fig.data[4].x)[0] == "< -4"
    np.testing.assert_allclose(ys(fig, 4), [0, 0.25, 0.5, 0.25, 0])        # last step, shares
    assert ys(fig, 6).size == 0                      # the last step (odd) measured nothing
    assert "realised" in fig.layout.title.text
    again = viz.patch_stidi_displacement(fig, stidi_snapshot(steps=5))
    assert again is fig and ys(fig, 0).size == 5 and ys(fig, 6).sum() == pytest.approx(1)
    empty = viz.build_stidi_displacement(Snapshot(), n_layers=2)
    assert ys(empty, 0).size == 0 and any(a.text for a in empty.layout.annotations)
    pio.to_json(fig)


def test_twin_scatter_has_the_identity_line():
    extra = {"twin_ann": (np.array([[0.0, 2.0, 4.0]]), np.array([[1.0, 3.0]])),
             "twin_rate": (np.array([[0.0, 0.5, 1.0]]), np.array([[0.4, 1.0]])), "thr": 2.0}
    fig = viz.build_twin_scatter(extra, n_layers=2)
    assert len(fig.data) == 3 and fig.data[-1].name == "identity"
    np.testing.assert_allclose(np.asarray(fig.data[0].x, float), [0, 1, 2])   # a / thr
    np.testing.assert_allclose(ys(fig, 1), [0.4, 1.0])
    assert list(fig.data[-1].x) == [0.0, 1.0] and list(fig.data[-1].y) == [0.0, 1.0]
    assert fig.layout.title.text.endswith("0.167, 0.050")      # mean distance per layer
    assert viz.patch_twin_scatter(fig, None) is fig and ys(fig, 0).size == 0
    pio.to_json(fig)


def test_ann_snn_accuracy_and_levels():
    rec = Recorder(RecordSpec(history=100))
    rec(RunStart("proxy", "synthetic", {"algo": {"t_max": 5}}, (16, 3), CLASSES, 4, 1, 1, 0))
    for s in range(4):
        rec(BatchEnd(s, 0, 1, s + 1, 4, 0.1, 0.25 * s, 0.5, 0.0, (), 1.0, None,
                     {"ann_accuracy": 1.0}))
    snap = rec.snapshot()
    fig = viz.build_ann_snn_accuracy(snap)
    viz.patch_ann_snn_accuracy(fig, snap, levels={"ANN val": 0.8, "SNN val": float("nan")},
                               smooth=1.0)
    np.testing.assert_allclose(ys(fig, 0), [0, 0.25, 0.5, 0.75])             # SNN, unsmoothed
    np.testing.assert_allclose(ys(fig, 1), [1, 1, 1, 1])                     # ANN
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].y0 == 0.8    # NaN level left out
    assert any(a.text == "ANN val 80.0%" for a in fig.layout.annotations)
    pio.to_json(fig)


def test_decision_time_curves_and_figure():
    from snnviz.ui.dashboard.derive import decision_time_curves
    t_out = np.array([[2, 5, 9], [3, 1, 9], [9, 9, 9], [4, 4, 9]])     # t_max 9
    correct = np.array([True, False, False, False])                     # last: a tie
    d = decision_time_curves(t_out, correct, 9)
    np.testing.assert_allclose(d["accuracy"], [0, 0, .25, .25, .25, .25, .25, .25, .25])
    np.testing.assert_allclose(d["decided"], [0, .25, .5, .5, .75, .75, .75, .75, .75])
    fig = viz.build_decision_time(("correct by t", "decided by t"), t_max=9)
    assert ys(fig, 0).size == 0
    viz.patch_decision_time(fig, {"correct by t": d["accuracy"], "decided by t": d["decided"]},
                            levels={"validation accuracy": 0.25}, title="t")
    np.testing.assert_allclose(np.asarray(fig.data[0].x, float), np.arange(9))
    np.testing.assert_allclose(ys(fig, 1), d["decided"])
    viz.patch_decision_time(fig, {"correct by t": [0.5, 1.0]}, start=1)
    np.testing.assert_allclose(np.asarray(fig.data[0].x, float), [1, 2])
    assert ys(fig, 1).size == 0 and fig.layout.title.text == "t"
    pio.to_json(fig)
