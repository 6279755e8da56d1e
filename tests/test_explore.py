"""Exploration logic: URL state (round trip, hostile values), explanations, drawn digits,
the neuron sandbox (against an independent dense oracle; the network is never mutated)."""

import numpy as np
import pytest
import torch

from snnviz.algorithms import get_algorithm
from snnviz.explore.drawing import canvas_to_image, drawing_input, fit_to_shape, mnist_style
from snnviz.explore.explain import EXPLANATIONS, explanation
from snnviz.explore.figures import build_policy, build_sandbox_trace, policy_rows
from snnviz.explore.sandbox import Edit, NetCopy, clone_params, decision, run_image, sandbox
from snnviz.explore.urlstate import ExploreState, decode_state, encode_state, slug
from snnviz.neurons.if_neuron import integrate

DATASETS = ["mnist-mini", "fashion-mnist-mini", "synthetic"]


# ------------------------------------------------------------------ URL state ----------
@pytest.mark.parametrize("state", [
    ExploreState(),
    ExploreState("bs4nn", "fashion-mnist-mini", 7, {"t_max": "64", "hidden": "30,20",
                                                    "epochs": "3"}, "neuron-sandbox", 12,
                 True, ("settings", "buttons"), ("results/s4nn-mnist", "b")),
    ExploreState("stidi-bp", "synthetic", 0, {"strict_threshold": "true"}, None, 0, True, ()),
    ExploreState("proxy", "mnist-mini", 3, {}, "run-library", 0, False),
])
def test_url_state_round_trip(state):
    q = encode_state(state)
    back, msgs = decode_state(q, DATASETS)
    assert msgs == [] and back == state
    assert encode_state(back) == q
    assert decode_state("?" + q, DATASETS)[0] == state
    assert decode_state({k: [v.encode()] for k, v in
                         [p.split("=", 1) for p in q.split("&")]}, DATASETS)[0].algorithm \
        == state.algorithm


@pytest.mark.parametrize("query,fragment", [
    ("algorithm=evil", "algorithm 'evil' is unknown"),
    ("dataset=/etc/passwd", "not offered here"),
    ("data_root=/etc", "data_root: not a setting"),
    ("device=cuda", "device: not a setting"),
    ("seed=-1", "seed must be an integer"),
    ("seed=1e99", "seed must be an integer"),
    ("t_max=2", "t_max='2' rejected"),
    ("t_max=abc", "t_max='abc' rejected"),
    ("thr_out=nan", "thr_out='nan' rejected"),
    ("hidden=" + "9" * 100, "value too long"),
    ("gamma=10&t_max=8", "do not fit together"),
    ("sample=-3", "sample must be an integer"),
    ("view=../../x", "not a view name"),
    ("present=maybe", "present must be 1 or 0"),
    ("hide=everything", "unknown control"),
    ("runs=../secret,/etc/passwd", "not a run name"),
    ("epochs=%00", "not plain text"),
    ("__import__=1", "not a setting"),
])
def test_url_state_rejects_hostile_values(query, fragment):
    state, msgs = decode_state(query, DATASETS)
    assert any(fragment in m for m in msgs), msgs
    d = ExploreState()
    assert state.algorithm in ("s4nn",) and state.dataset == d.dataset
    assert "data_root" not in state.overrides and "device" not in state.overrides
    assert not any(".." in r or r.startswith("/") for r in state.runs)


def test_url_state_keeps_good_values_next_to_bad_ones():
    state, msgs = decode_state("algorithm=bs4nn&t_max=64&lr_out=-5&data_root=/tmp&seed=4"
                               "&present=1&hide=buttons,status,nonsense", DATASETS)
    assert (state.algorithm, state.seed, dict(state.overrides)) == ("bs4nn", 4, {"t_max": "64"})
    assert state.present and state.hidden == ("buttons", "status")
    assert len(msgs) == 3
    many = "&".join(f"k{i}=1" for i in range(200))
    state, msgs = decode_state(many, DATASETS)
    assert state == ExploreState() and "only the first" in msgs[0]
    assert slug("Neuron sandbox") == "neuron-sandbox" and slug("A/B: runs!") == "a-b-runs"


# ------------------------------------------------------------------ explanations -------
def test_every_explanation_has_text_and_an_equation():
    for key, text in EXPLANATIONS.items():
        assert text.startswith("**") and len(text) > 120, key
        assert "$" in text, key                                   # LaTeX
        assert text.count("$$") % 2 == 0, key
    assert explanation("race") == EXPLANATIONS["race"]
    from snnviz.ui.dashboard.views import VIEWS

    assert {v.key for v in VIEWS} <= set(EXPLANATIONS)         # every live view explained
    with pytest.raises(ValueError, match="no explanation"):
        explanation("nope")


# ------------------------------------------------------------------ drawing ------------
def test_drawing_becomes_a_centred_dataset_image():
    grid = np.zeros((28, 28))
    grid[2:10, 1:4] = 255                                    # a stroke in the corner
    img = canvas_to_image(grid.ravel())
    assert img.dtype == np.uint8 and img.shape == (28, 28)
    c = mnist_style(img)
    ys, xs = np.nonzero(c)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 == 20       # scaled to 20 px
    cy = (c.sum(1) * np.arange(28)).sum() / c.sum()
    cx = (c.sum(0) * np.arange(28)).sum() / c.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1 and c.max() == 255
    assert mnist_style(np.zeros((28, 28), np.uint8)).sum() == 0
    rgb = fit_to_shape(c, (3, 32, 32))
    assert rgb.shape == (3, 32, 32) and rgb.dtype == np.uint8 and (rgb[0] == rgb[2]).all()
    assert drawing_input(grid.ravel(), (1, 28, 28)).shape == (1, 28, 28)
    for bad, msg in ((np.zeros(10), "784"), (["a"] * 784, "numbers"),
                     ([np.nan] * 784, "not numbers")):
        with pytest.raises(ValueError, match=msg):
            canvas_to_image(bad)


# ------------------------------------------------------------------ sandbox ------------
def _net(name, t_max=64, hidden=(12,), **kw):
    algo = get_algorithm(name)
    cfg = algo.Config(n_in=784, n_classes=10, hidden=hidden, t_max=t_max, **kw)
    params = algo.init(cfg, torch.Generator().manual_seed(3))
    return NetCopy(algo, cfg, params, tuple(str(k) for k in range(10)), (1, 28, 28), 0, name)


def _image(seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((1, 28, 28), np.uint8)
    img[0, 6:22, 8:20] = rng.integers(60, 256, (16, 12))
    return img


def _oracle(net, img, layer, neuron, theta):
    """Dense time-stepped TTFS network with one neuron's threshold replaced."""
    cfg, p = net.cfg, net.params
    t = net.algo.encode(img[None], cfg)
    for l, w in enumerate(p.w):
        binary = cfg.BINARY
        alpha = float(p.alpha[l]) if binary else 1.0
        v = integrate(t, w.double(), cfg.t_max, binary=binary)[:, 0].numpy() * alpha   # [T, N]
        thr = np.full(w.shape[0], cfg.thr_out if l == len(p.w) - 1 else cfg.thr_hidden)
        if l == layer:
            thr[neuron] = theta
        cross = v > thr
        cross[cfg.t_max - cfg.spike_delay:] = False
        first = np.where(cross.any(0), cross.argmax(0) + cfg.spike_delay, cfg.t_max)
        t = torch.from_numpy(first[None].astype(np.int32))
    return t[0].numpy()


@pytest.mark.parametrize("name", ["s4nn", "bs4nn"])
def test_sandbox_threshold_matches_a_dense_oracle(name):
    net = _net(name, init_hidden=12.0, init_out=60.0) if name == "s4nn" else _net(name)
    img = _image()
    before_w = [w.clone() for w in net.params.w]
    base = run_image(net, img)
    hidden = np.asarray(base.probe.layers[0].times)
    j = int(np.argsort(hidden)[len(hidden) // 2])
    for theta in (net.cfg.thr_hidden * 0.5, net.cfg.thr_hidden * 1.7):
        r = sandbox(net, img, Edit(layer=0, neuron=j, threshold=theta))
        assert r.thr_after == theta and r.thr_before == net.cfg.thr_hidden
        assert (np.asarray(r.after.probe.layers[-1].times)
                == _oracle(net, img, 0, j, theta)).all()
        assert r.t_after == r.after.probe.layers[0].times[j]
        assert r.trace_after is not None and r.trace_after.shape == (net.cfg.t_max,)
    same = sandbox(net, img, Edit(layer=0, neuron=j))            # no edit: nothing changes
    assert same.changed == (0, 0) and (same.trace_before == same.trace_after).all()
    assert all(torch.equal(a, b) for a, b in zip(before_w, net.params.w))   # never mutated


def test_sandbox_weight_and_pixel_edits():
    net = _net("s4nn", init_hidden=12.0, init_out=60.0)
    img = _image(1)
    base = run_image(net, img)
    k = int(np.argmin(base.probe.layers[-1].times))
    src = int(np.argmin(base.probe.layers[0].times))                 # earliest hidden neuron
    r = sandbox(net, img, Edit(layer=-1, neuron=k, weight=(src, -500.0)))
    assert r.t_after > r.t_before                                     # inhibited: later
    assert r.changed[0] == 0 and r.changed[1] >= 1
    direct = net.params.w[1].clone()
    direct[k, src] = -500.0
    ref = run_image(NetCopy(net.algo, net.cfg, net.params._replace(
        w=(net.params.w[0], direct)), net.classes, net.in_shape, 0), img)
    assert (np.asarray(ref.probe.layers[-1].times)
            == np.asarray(r.after.probe.layers[-1].times)).all()
    p = int(np.flatnonzero(img.ravel() == 0)[0])
    r = sandbox(net, img, Edit(layer=0, neuron=0, pixel=(p, 255)))      # a new bright pixel
    assert r.after.probe.t_in[p] == 0 and base.probe.t_in[p] == net.cfg.t_max
    assert r.after.image.ravel()[p] == 255 and img.ravel()[p] == 0      # input not mutated
    for edit, msg in ((Edit(layer=5), "does not exist"), (Edit(neuron=99), "does not exist"),
                      (Edit(weight=(10_000, 1.0)), "does not exist"),
                      (Edit(weight=(0, float("inf"))), "finite"),
                      (Edit(threshold=-1.0), "positive"), (Edit(pixel=(0, 300)), "0..255")):
        with pytest.raises(ValueError, match=msg):
            sandbox(net, img, edit)


def test_sandbox_threshold_by_rescaling_for_stidi_bp():
    net = _net("stidi-bp", t_max=64, tau1=8, tau2=8, gamma=3)
    img = _image(2)
    base = run_image(net, img)
    t_out = np.asarray(base.probe.layers[-1].times)
    for theta in (net.cfg.thr_out * 0.6, net.cfg.thr_out * 1.5):
        import dataclasses
        ref = run_image(dataclasses.replace(net, cfg=dataclasses.replace(net.cfg,
                                                                         thr_out=theta)), img)
        for j in range(10):
            r = sandbox(net, img, Edit(layer=-1, neuron=j, threshold=theta))
            assert r.t_after == ref.probe.layers[-1].times[j]        # exact spike time
            others = np.delete(np.asarray(r.after.probe.layers[-1].times), j)
            assert (others == np.delete(t_out, j)).all()
            if r.trace_after is not None and r.trace_before is not None:
                assert np.allclose(r.trace_after, r.trace_before, atol=1e-4)


def test_policy_rows_and_figures():
    rows = policy_rows({"honest": 0.8, "reference": 0.86, "tie-potential": 0.82,
                        "reference-no-fallback": 0.84, "fallback-ties-wrong": 0.81},
                       "no_spike=wrong,ties=wrong")
    assert [r["accuracy"] for r in rows] == [0.8, 0.86, 0.82, 0.84, 0.81]
    assert rows[0]["policy"].endswith("(training setting)") and rows[0]["ties"] == "error"
    fig = build_policy({"honest": 0.8}, {"honest": 0.7})
    assert [t.name for t in fig.data] == ["validation", "test"]
    assert list(fig.data[0].y) == [0.8, None, None, None, None]
    assert build_policy(None).layout.annotations[0].text == "no evaluation yet"
    fig = build_sandbox_trace(np.arange(8.0), np.arange(8.0) * 2, 4.0, 4.0, 5, 3, 8)
    assert {t.name for t in fig.data} >= {"V before", "V after", "spike after (t=3)"}


def test_clone_params_and_decision():
    net = _net("s4nn")
    c = clone_params(net.params)
    c.w[0][0, 0] = 123.0
    assert net.params.w[0][0, 0] != 123.0
    sv = run_image(net, _image())
    t = np.asarray(sv.probe.layers[-1].times)
    d = decision(sv.probe)
    assert d is None or d == int(np.argmin(t))
