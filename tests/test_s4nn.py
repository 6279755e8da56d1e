"""S4NN / BS4NN: hand-worked steps (spec 5.3-5.5), backward vs independent implementations,
online kernel vs sequential steps, purity, sign flips, dead-neuron reset."""

import dataclasses

import numpy as np
import pytest
import torch

from snnviz.algorithms import bs4nn, s4nn
from snnviz.algorithms._common import normalize_error, relative_targets, sign_flips
from tests.ttfs_reference import autograd_grads, dense_forward, online_step


def test_relative_targets_hand_examples():
    T = relative_targets(np.array([[30, 25, 40, 256, 27]]), np.array([0]), 3, 256, True)
    np.testing.assert_array_equal(T, [[25, 28, 40, 256, 28]])
    d = normalize_error((T - [[30, 25, 40, 256, 27]]) / 256.0)
    np.testing.assert_allclose(d, [[-0.8452, 0.5071, 0, 0, 0.1690]], atol=1e-4)
    T = relative_targets(np.array([[25, 26, 40]]), np.array([0]), 3, 256, True)
    np.testing.assert_array_equal(T, [[25, 28, 40]])
    t = np.array([[256, 256, 256]])
    np.testing.assert_array_equal(relative_targets(t, np.array([2]), 3, 256, True),
                                  [[256, 256, 253]])
    np.testing.assert_array_equal(relative_targets(t, np.array([2]), 1, 256, False),
                                  [[256, 256, 256]])                    # BS4NN: no error


def test_full_step_hand_example():
    """spec 5.4: output + hidden step, code order (updated W_out sends the error down)."""
    cfg = s4nn.Config(n_in=4, hidden=(3,), n_classes=2, weight_decay=0.0, dtype="float64")
    t_in = torch.tensor([[0, 20, 256, 5]], dtype=torch.int32)
    params = s4nn.Params((torch.zeros(3, 4, dtype=torch.float64),
                          torch.tensor([[1.0, 2, 3], [4, 5, 6]], dtype=torch.float64)),
                         torch.ones(2, dtype=torch.float64))
    times = (torch.tensor([[10, 35, 256]], dtype=torch.int32),
             torch.tensor([[40, 30]], dtype=torch.int32))
    fwd = s4nn.Forward(times, s4nn.Readout(times[1].numpy(), np.zeros((1, 2)),
                                           np.zeros((1, 2))))
    new = s4nn.update(params, s4nn.backward(params, fwd, t_in, np.array([0]), cfg), cfg)
    np.testing.assert_allclose(new.w[1], [[1.191565, 2.191565, 3], [3.942530, 5, 6]], atol=1e-6)
    dh = np.array([-0.004018, -0.999992, 0.0])
    expected = -0.2 * dh[:, None] * np.array([[1, 0, 0, 1], [1, 1, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_allclose(new.w[0], expected, atol=1e-6)
    # With the forward-pass weights the first hidden delta changes sign (spec 5.4).
    cfg_f = dataclasses.replace(cfg, delta_weights="forward")
    new_f = s4nn.update(params, s4nn.backward(params, fwd, t_in, np.array([0]), cfg_f), cfg_f)
    assert new_f.w[0][0, 0] < 0 < new.w[0][0, 0]


def test_bs4nn_scale_update_hand_example():
    """spec 5.5: neuron 0 fires too late with HF = (1, 1, 0, 1) and signs (+, -, +, +);
    alpha moves by -lr_alpha * mean_{j,i}(delta_j HF_ji sign(w_ji))."""
    cfg = bs4nn.Config(n_in=4, hidden=(), n_classes=2, lr_out=0.0, lr_alpha=0.01,
                       dtype="float64", t_max=16)
    t_in = torch.tensor([[1, 2, 16, 3]], dtype=torch.int32)   # input 2 never arrives
    w = torch.tensor([[1.0, -1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    params = bs4nn.Params((w,), torch.tensor([5.0], dtype=torch.float64))
    times = (torch.tensor([[16, 1]], dtype=torch.int32),)    # label 0 silent, 1 at t = 1
    fwd = s4nn.Forward(times, s4nn.Readout(times[0].numpy(), np.zeros((1, 2)),
                                           np.zeros((1, 2))))
    new = bs4nn.update(params, bs4nn.backward(params, fwd, t_in, np.array([0]), cfg), cfg)
    d0 = -15 / np.sqrt(226)                  # normalise(((1 - 16), (2 - 1)) / 16)[0]
    hf_sign = 1 - 1 + 0 + 1                  # neuron 1 received no input before t = 1
    np.testing.assert_allclose(float(new.alpha[0]), 5.0 - 0.01 * d0 * hf_sign / 8, atol=1e-15)
    assert float(new.alpha[0]) > 5.0         # net-positive arrived inputs: larger scale
    assert torch.equal(new.w[0], w)          # lr_out = 0


def small_cfg(mod, **kw):
    base = dict(n_in=30, hidden=(12, 6), n_classes=4, t_max=24, thr_hidden=6.0, thr_out=6.0,
                init_hidden=1.5, init_out=4.0, gamma=2, dtype="float64")
    if mod is s4nn:
        base["weight_decay"] = 1e-3
    base.update(kw)
    return mod.Config(**base)


def random_problem(mod, cfg, n, seed):
    gen = torch.Generator().manual_seed(seed)
    params = mod.init(cfg, gen)
    params = params._replace(w=tuple(w - 0.2 * w.mean() for w in params.w))   # mixed signs
    t = torch.randint(0, cfg.t_max + 1, (n, cfg.n_in), generator=gen).to(torch.int32)
    y = torch.randint(0, cfg.n_classes, (n,), generator=gen)
    return params, t, y


@pytest.mark.parametrize("mod", [s4nn, bs4nn])
@pytest.mark.parametrize("delta_weights", ["updated", "forward"])
def test_online_kernel_equals_dense_reference(mod, delta_weights):
    cfg = small_cfg(mod, delta_weights=delta_weights)
    params, t, y = random_problem(mod, cfg, 30, seed=11)
    new, stats = mod.train_step(params, t, y, cfg, online=True)
    ws = [w.numpy() for w in params.w]
    alphas = list(params.alpha.numpy())
    total = np.zeros(len(ws), int)
    for k in range(len(y)):
        ws, alphas, flips = online_step(ws, alphas, t[k].numpy(), int(y[k]), cfg, cfg.BINARY)
        total += flips
    for a, b in zip(new.w, ws):
        np.testing.assert_allclose(a.numpy(), b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(new.alpha.numpy(), alphas, atol=1e-12)
    if cfg.BINARY:
        assert stats.flips == tuple(total) and sum(total) > 0
    else:
        assert stats.flips == ()


@pytest.mark.parametrize("mod", [s4nn, bs4nn])
@pytest.mark.parametrize("online", [True, False])
def test_silent_neurons_and_late_inputs_match_reference(mod, online):
    """Many silent neurons (zero error) and many inputs at ``t_max - 1`` (BS4NN's black
    pixels): the backward loops stop at the last neuron that has an error, exactly."""
    cfg = small_cfg(mod, thr_hidden=9.0 if mod is s4nn else 50.0,
                    delta_weights="updated" if online else "forward")
    params, t, y = random_problem(mod, cfg, 24, seed=21)
    late = torch.rand(t.shape, generator=torch.Generator().manual_seed(2)) < 0.5
    t = torch.where(late, torch.full_like(t, cfg.t_max - 1), t)
    fwd = mod.forward(params, t, cfg)
    assert (fwd.times[0].numpy() == cfg.t_max).mean() > 0.2          # silent hidden neurons
    if not online:                                  # mini-batch: autograd of the surrogate
        grads = mod.backward(params, fwd, t, y.numpy(), cfg)
        ref = autograd_grads(params, t, y, cfg, [x.numpy() for x in fwd.times])
        for g, r in zip(grads.w, ref):
            np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=0, atol=1e-10)
        return
    new, stats = mod.train_step(params, t, y, cfg, online=True)
    ws, alphas = [w.numpy() for w in params.w], list(params.alpha.numpy())
    total = np.zeros(len(ws), int)
    for k in range(len(y)):
        ws, alphas, flips = online_step(ws, alphas, t[k].numpy(), int(y[k]), cfg, cfg.BINARY)
        total += flips
    assert stats.flips == (tuple(total) if cfg.BINARY else ())
    for a, b in zip(new.w, ws):
        np.testing.assert_allclose(a.numpy(), b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(new.alpha.numpy(), alphas, atol=1e-12)


@pytest.mark.parametrize("mod", [s4nn, bs4nn])
def test_forward_equals_dense_reference(mod):
    cfg = small_cfg(mod)
    params, t, y = random_problem(mod, cfg, 40, seed=3)
    fwd = mod.forward(params, t, cfg)
    tt = t.numpy()
    thr = [cfg.thr_hidden] * len(cfg.hidden) + [cfg.thr_out]
    for l, w in enumerate(params.w):
        ref = dense_forward(tt, w.numpy(), thr[l], cfg.t_max, cfg.BINARY,
                            float(params.alpha[l]))
        np.testing.assert_array_equal(fwd.times[l].numpy(), ref)
        tt = ref


@pytest.mark.parametrize("mod", [s4nn, bs4nn])
def test_backward_equals_autograd_surrogate(mod):
    """Hand-written backward == autograd of the surrogate (float64, forward-weight variant)."""
    cfg = small_cfg(mod, delta_weights="forward")
    params, t, y = random_problem(mod, cfg, 16, seed=5)
    fwd = mod.forward(params, t, cfg)
    grads = mod.backward(params, fwd, t, y.numpy(), cfg)
    ref = autograd_grads(params, t, y, cfg, [x.numpy() for x in fwd.times])
    for g, r in zip(grads.w, ref):
        assert float(r.abs().max()) > 0
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("mod", [s4nn, bs4nn])
def test_minibatch_is_mean_of_per_sample_steps(mod):
    cfg = small_cfg(mod)
    params, t, y = random_problem(mod, cfg, 8, seed=9)
    fwd = mod.forward(params, t, cfg)
    g = mod.backward(params, fwd, t, y.numpy(), cfg)
    parts = [mod.backward(params, mod.forward(params, t[k:k + 1], cfg), t[k:k + 1],
                          y[k:k + 1].numpy(), cfg) for k in range(8)]
    for l in range(len(params.w)):
        np.testing.assert_allclose(g.w[l].numpy(), np.mean([p.w[l].numpy() for p in parts], 0),
                                   atol=1e-12)
    np.testing.assert_allclose(g.alpha.numpy(), np.mean([p.alpha.numpy() for p in parts], 0),
                               atol=1e-12)


@pytest.mark.parametrize("mod", [s4nn, bs4nn])
@pytest.mark.parametrize("online", [True, False])
def test_train_step_is_pure(mod, online):
    cfg = small_cfg(mod)
    params, t, y = random_problem(mod, cfg, 10, seed=1)
    before = [w.clone() for w in params.w], params.alpha.clone(), t.clone(), y.clone()
    new, _ = mod.train_step(params, t, y, cfg, online=online)
    for a, b in zip(params.w, before[0]):
        assert torch.equal(a, b)
    assert torch.equal(params.alpha, before[1]) and torch.equal(t, before[2])
    assert any(not torch.equal(a, b) for a, b in zip(new.w, params.w))


def test_minibatch_sign_flips_equal_recount():
    cfg = small_cfg(bs4nn, lr_hidden=0.8, lr_out=0.8)
    params, t, y = random_problem(bs4nn, cfg, 32, seed=2)
    new, stats = bs4nn.train_step(params, t, y, cfg, online=False)
    assert stats.flips == tuple(sign_flips(a, b) for a, b in zip(params.w, new.w))
    recount = tuple(sum(int((x >= 0) != (z >= 0)) for x, z in zip(a.flatten().tolist(),
                                                                  b.flatten().tolist()))
                    for a, b in zip(params.w, new.w))
    assert stats.flips == recount and sum(recount) > 0


def test_bs4nn_forward_uses_only_signs_and_scale():
    cfg = small_cfg(bs4nn)
    params, t, y = random_problem(bs4nn, cfg, 20, seed=4)
    rescaled = params._replace(w=tuple(w * (1 + 3 * torch.rand(w.shape, dtype=w.dtype))
                                       for w in params.w))
    a, b = bs4nn.forward(params, t, cfg), bs4nn.forward(rescaled, t, cfg)
    for x, z in zip(a.times, b.times):
        assert torch.equal(x, z)
    assert torch.equal(bs4nn.binary_weights(params)[0],
                       float(params.alpha[0]) * torch.where(params.w[0] >= 0, 1.0, -1.0))


def test_dead_neuron_reset():
    cfg = small_cfg(s4nn, dead_reset=0.5)
    params, t, y = random_problem(s4nn, cfg, 4, seed=0)
    counts = (np.array([0, 10] * 6), np.zeros(6, np.int64), np.zeros(4, np.int64))
    new, n = s4nn.end_epoch(params, counts, 10, cfg, torch.Generator().manual_seed(1))
    assert n == 6 + 6                      # both hidden layers; never the output layer
    dead = counts[0] < 5
    assert not torch.equal(new.w[0][dead], params.w[0][dead])
    assert torch.equal(new.w[0][~dead], params.w[0][~dead])
    assert torch.equal(new.w[2], params.w[2])
    assert float(new.w[0][dead].min()) >= 0 and float(new.w[0][dead].max()) < cfg.init_hidden
    off = dataclasses.replace(cfg, dead_reset=0.0)
    assert s4nn.end_epoch(params, counts, 10, off, torch.Generator())[1] == 0


def test_config_validation():
    with pytest.raises(ValueError, match="out of range"):
        s4nn.Config(lr_out=-1.0)
    with pytest.raises(TypeError, match="integer"):
        s4nn.Config(t_max=25.5)
    with pytest.raises(ValueError, match="gamma"):
        s4nn.Config(t_max=8, gamma=8)
    with pytest.raises(ValueError, match="finite"):
        s4nn.Config(thr_out=float("nan"))
    with pytest.raises(ValueError, match="one of"):
        s4nn.Config(delta_weights="sideways")
    with pytest.raises(ValueError, match="init_low_hidden"):
        s4nn.Config(init_low_hidden=6.0)


@pytest.mark.parametrize("mod", [s4nn, bs4nn])
def test_init_range(mod):
    """Reference init (lows 0): the same draws as before the lows existed; mixed signs
    with a negative low, and the dead-neuron reset draws from the same range."""
    cfg = mod.Config(n_in=50, hidden=(40,), n_classes=10)
    w = mod.init(cfg, torch.Generator().manual_seed(3)).w
    g = torch.Generator().manual_seed(3)
    ref = torch.rand(40, 50, generator=g, dtype=torch.float64).mul_(cfg.init_hidden)
    assert torch.equal(w[0], ref.to(w[0].dtype))
    mixed = dataclasses.replace(cfg, init_low_hidden=-2.0, init_low_out=-8.0, init_out=8.0,
                                dead_reset=0.5)
    p = mod.init(mixed, torch.Generator().manual_seed(3))
    for x, lo, hi in ((p.w[0], -2.0, cfg.init_hidden), (p.w[1], -8.0, 8.0)):
        assert float(x.min()) >= lo and float(x.max()) < hi and float(x.min()) < 0
    counts = (np.zeros(40, np.int64), np.zeros(10, np.int64))
    new, n = mod.end_epoch(p, counts, 10, mixed, torch.Generator().manual_seed(1))
    assert n == 40 and float(new.w[0].min()) >= -2.0 and float(new.w[0].min()) < 0


def test_scale_lr():
    cfg = bs4nn.Config()
    half = bs4nn.scale_lr(cfg, 0.5)
    assert (half.lr_hidden, half.lr_out, half.lr_alpha) == (0.05, 0.05, 0.005)
    assert s4nn.scale_lr(s4nn.Config(), 1.0) == s4nn.Config()
