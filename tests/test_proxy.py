"""Proxy learning: IF semantics, SNN == naive per-step oracle, rates vs ANN, the gradient of
the substitution against an independent implementation, weight sharing, Adam, read-out rules,
exact resume, the CIFAR-10 code path and a CLI smoke run."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from snnviz import make_run_config, make_trainer
from snnviz.algorithms import _proxy_nets as nets
from snnviz.algorithms import proxy
from snnviz.config import HONEST, LENIENT, EvalPolicy
from snnviz.data import CIFAR10_CLASSES, load_dataset, split_dataset

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one intra-op thread is faster on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def small_cfg(layers="c3,p,f5", shape=(1, 6, 6), k=3, **kw) -> proxy.ProxyConfig:
    return proxy.Config(n_in=int(np.prod(shape)), n_classes=k, in_shape=shape, layers=layers,
                        dtype="float64", **kw)


def random_params(cfg, seed=0, bn_stats=True) -> proxy.Params:
    """Seeded init, with non-trivial BN affine parameters and running statistics."""
    g = torch.Generator().manual_seed(seed)
    p = proxy.init(cfg, g)
    if not bn_stats:
        return p

    def rnd(t, lo, hi):
        return lo + (hi - lo) * torch.rand(t.shape, generator=g, dtype=F64)

    return p._replace(bn_weight=tuple(rnd(t, 0.5, 1.5) for t in p.bn_weight),
                      bn_bias=tuple(rnd(t, -0.2, 0.6) for t in p.bn_bias),
                      ann_mean=tuple(rnd(t, -0.1, 0.1) for t in p.ann_mean),
                      ann_var=tuple(rnd(t, 0.05, 0.3) for t in p.ann_var),
                      snn_mean=tuple(rnd(t, -0.1, 0.1) for t in p.snn_mean),
                      snn_var=tuple(rnd(t, 0.05, 0.3) for t in p.snn_var),
                      w=tuple(3 * w for w in p.w))


def images(n, shape=(1, 6, 6), seed=1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)


# ---------------------------------------------------------------- spec 5.6 hand examples


def test_if_neuron_hand_examples_spec_5_6():
    cur = torch.tensor([0.7, 1.0, 2.5, -1.0, 0.75], dtype=F64).expand(15, 1, 5)
    spk = nets.if_steps(cur, torch.zeros(1, 5, dtype=F64), 2.0, "zero")[:, 0]   # [T, 5]
    steps = [(torch.nonzero(spk[:, j]).flatten() + 1).tolist() for j in range(5)]
    assert steps[0] == [3, 6, 9, 12, 15]                  # 0.7 * 3 = 2.0999... >= 2
    assert steps[1] == list(range(2, 15, 2))              # exactly 2.0 at every 2nd step
    assert steps[2] == list(range(1, 16))                 # surplus lost at each reset
    assert steps[3] == []
    assert steps[4] == [3, 6, 9, 12, 15]                  # 2.25 >= 2
    assert spk.sum(0).tolist() == [5, 7, 15, 0, 5]
    # reset by subtraction keeps the surplus: 1.0 * 15 / 2 -> 7 spikes, 0.75 -> 5
    sub = nets.if_steps(cur, torch.zeros(1, 5, dtype=F64), 2.0, "subtract")[:, 0]
    assert sub.sum(0).tolist() == [5, 7, 15, 0, 5]


def test_loss_substitution_hand_example_spec_5_6():
    c = torch.tensor([[0.0, 3.0, 1.0]], dtype=F64)
    loss, g = proxy.substitute(c, torch.tensor([1]), 3)
    assert float(loss) == pytest.approx(5 / 3, abs=1e-15)
    torch.testing.assert_close(g, torch.tensor([[0.0, 4 / 3, 2 / 3]], dtype=F64))
    # the ANN's own output value plays no part: only its graph routes g
    cfg = small_cfg(layers="f4")
    p, x = random_params(cfg), images(1)
    fwd = proxy.forward(p, x, cfg)
    fwd = fwd._replace(readout=fwd.readout._replace(counts=np.array([[0, 3, 1]], np.int32)))
    grads = proxy.backward(p, fwd, x, np.array([1]), cfg)
    xi = proxy.intensities(x, cfg)
    a = torch.relu(xi.flatten(1) @ p.w[0].T)                                   # [1, 4]
    torch.testing.assert_close(grads.w[1], g.T @ a, rtol=0, atol=1e-14)


# ---------------------------------------------------------------- SNN == naive per-step oracle


def naive_snn(p, x, cfg, bn_train=False, rate_spikes=None):
    """The whole network stepped once per time step, written out plainly."""
    blocks = nets.build_net(cfg.layer_spec, cfg.in_shape, cfg.n_classes)
    mean = [m.clone() for m in p.snn_mean]
    var = [v.clone() for v in p.snn_var]

    def bn(u, i):
        if bn_train:
            mu, sig2 = u.mean((0, 2, 3)), u.var((0, 2, 3), unbiased=False)
            n = u.numel() / u.shape[1]
            mean[i] = 0.9 * mean[i] + 0.1 * mu
            var[i] = 0.9 * var[i] + 0.1 * sig2 * n / (n - 1)
        else:
            mu, sig2 = mean[i], var[i]
        shape = (1, -1, 1, 1)
        return ((u - mu.view(shape)) / torch.sqrt(sig2.view(shape) + 1e-5)
                * p.bn_weight[i].view(shape) + p.bn_bias[i].view(shape))

    v = [torch.zeros(x.shape[0], *b.out_shape, dtype=F64) for b in blocks]
    counts = torch.zeros(x.shape[0], cfg.n_classes, dtype=F64)
    static = None
    if rate_spikes is None:
        static = bn(F.conv2d(x, p.w[0], padding=1), 0)
    for t in range(cfg.t_max):
        h = x if rate_spikes is None else rate_spikes[t]
        for l, b in enumerate(blocks):
            if l == 0 and static is not None:
                cur = static
            else:
                cur = F.conv2d(h, p.w[l], padding=1) if b.kind == "conv" else \
                    h.reshape(h.shape[0], -1) @ p.w[l].T
                if b.bn >= 0:
                    cur = bn(cur, b.bn)
            v[l] = v[l] + cur
            s = (v[l] >= cfg.thr).to(F64)
            v[l] = torch.where(s > 0, torch.zeros_like(v[l]), v[l]) if cfg.reset == "zero" \
                else v[l] - cfg.thr * s
            h = F.max_pool2d(s, 2) if b.pool else s
        counts += h
    return counts, v[-1], mean, var


@pytest.mark.parametrize("bn_train,reset", [(False, "zero"), (True, "zero"),
                                            (True, "subtract")])
def test_snn_forward_equals_naive_per_step(bn_train, reset):
    cfg = small_cfg(layers="c4,p,c3,f6", t_max=12, thr=0.5, reset=reset)
    p, x = random_params(cfg), proxy.intensities(images(5), cfg)
    ref_counts, ref_v, ref_mean, ref_var = naive_snn(p, x, cfg, bn_train)
    assert 0 < ref_counts.sum() < ref_counts.numel() * cfg.t_max        # a non-trivial case
    for chunk in (1, 5, 0):
        out = nets.snn_forward(cfg.net, p.w, p.bn_weight, p.bn_bias, p.snn_mean, p.snn_var, x,
                               t_max=cfg.t_max, thr=cfg.thr, reset=reset, bn_train=bn_train,
                               chunk=chunk)
        assert torch.equal(out.counts, ref_counts)
        torch.testing.assert_close(out.v_out, ref_v, rtol=0, atol=1e-12)
        torch.testing.assert_close(out.counts_t[-1], out.counts)
        for a, b in zip(out.mean + out.var, ref_mean + ref_var, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    fresh = random_params(cfg).snn_mean
    assert all(torch.equal(a, b) for a, b in zip(p.snn_mean, fresh, strict=True))


def test_rate_input_equals_naive_with_the_same_draws():
    cfg = small_cfg(layers="c3,f4", t_max=6, input_coding="rate")
    p, x = random_params(cfg), proxy.intensities(images(3), cfg)
    u = torch.rand((cfg.t_max, *x.shape), generator=torch.Generator().manual_seed(7), dtype=F64)
    ref_counts, _, _, _ = naive_snn(p, x, cfg, rate_spikes=(u < x).to(F64))
    out = nets.snn_forward(cfg.net, p.w, p.bn_weight, p.bn_bias, p.snn_mean, p.snn_var, x,
                           t_max=cfg.t_max, thr=cfg.thr, rate_input=True, chunk=4,
                           gen=torch.Generator().manual_seed(7))
    assert torch.equal(out.counts, ref_counts)


def test_rates_approach_normalised_ann_activations():
    """Constant input, T large: each IF layer's rate tends to the ANN activation divided by
    its balancing scale (clipped at 1) -- the approximation proxy learning relies on."""
    cfg = small_cfg(layers="c4,f12", shape=(1, 5, 5), t_max=2000, reset="subtract")
    p, xb = random_params(cfg, seed=3), images(6, (1, 5, 5))
    xi = proxy.intensities(xb, cfg)
    ann = nets.ann_forward(cfg.net, p.w, p.bn_weight, p.bn_bias, p.ann_mean, p.ann_var, xi,
                           False)
    scales = nets.activation_scales(cfg.net, p.w, p.bn_weight, p.bn_bias, p.ann_mean,
                                    p.ann_var, xi, 100.0)
    conv = proxy.convert(p, xb, cfg, percentile=100.0)
    out = nets.snn_forward(cfg.net, conv.w, conv.bn_weight, conv.bn_bias, conv.snn_mean,
                           conv.snn_var, xi, t_max=cfg.t_max, thr=cfg.thr, reset="subtract",
                           keep=6)
    for l, (a, lam) in enumerate(zip(ann.acts, scales, strict=True)):
        target = (a.flatten(1).clamp(min=0) / lam).clamp(max=1)
        rate = out.kept[l] / cfg.t_max
        assert float((rate - target).abs().max()) < 0.01 * (l + 1), l
        assert float(target.max()) == pytest.approx(1.0)               # max-normalised


# ---------------------------------------------------------------- gradient of the substitution


def reference_modules(p, cfg):
    """The same network as torch.nn modules, parameters copied (an independent path)."""
    mods, bns = [], []
    for b, w in zip(cfg.net, p.w, strict=True):
        if b.kind == "conv":
            conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1, bias=False).double()
            bn = nn.BatchNorm2d(w.shape[0]).double()
            conv.weight.data.copy_(w)
            bn.weight.data.copy_(p.bn_weight[b.bn])
            bn.bias.data.copy_(p.bn_bias[b.bn])
            bn.running_mean.copy_(p.ann_mean[b.bn])
            bn.running_var.copy_(p.ann_var[b.bn])
            mods += [conv, bn, nn.ReLU()] + ([nn.MaxPool2d(2)] if b.pool else [])
            bns.append(bn)
        else:
            lin = nn.Linear(w.shape[1], w.shape[0], bias=False).double()
            lin.weight.data.copy_(w)
            mods += [nn.Flatten(), lin] + ([nn.ReLU()] if b.kind == "fc" else [])
    return nn.Sequential(*mods), bns


@pytest.mark.parametrize("bn_train", [False, True])
def test_gradient_equals_independent_substitution(bn_train):
    cfg = small_cfg(layers="c4,p,c3,f6", t_max=9)
    p, x, y = random_params(cfg), images(5), np.array([0, 2, 1, 1, 0])
    fwd = proxy.forward(p, x, cfg)
    grads = proxy.backward(p, fwd, x, y, cfg, bn_train=bn_train)
    # reference code style: overwrite the ANN output's data with the spike counts
    net, bns = reference_modules(p, cfg)
    net.train(bn_train)
    out = net(proxy.intensities(x, cfg))
    out.data.copy_(torch.as_tensor(fwd.readout.counts, dtype=F64))
    F.mse_loss(out, F.one_hot(torch.as_tensor(y), 3).double()).backward()
    ws = [m.weight for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    for g, m in zip(grads.w, ws, strict=True):
        torch.testing.assert_close(g, m.grad, rtol=0, atol=1e-10)
    for g, bn in zip(grads.bn_weight + grads.bn_bias, [b.weight for b in bns] +
                     [b.bias for b in bns], strict=True):
        torch.testing.assert_close(g, bn.grad, rtol=0, atol=1e-10)
    assert any(float(g.abs().max()) > 0 for g in grads.w)
    # baseline (a): the ANN's own output in the loss is plain MSE backpropagation
    net.zero_grad()
    xi = proxy.intensities(x, cfg)
    F.mse_loss(net(xi), F.one_hot(torch.as_tensor(y), 3).double()).backward()
    own, _ = proxy._vjp(p, xi, cfg, bn_train,
                        lambda out: proxy.substitute(out, torch.as_tensor(y), 3)[1])
    for g, m in zip(own.w, ws, strict=True):
        torch.testing.assert_close(g, m.grad, rtol=0, atol=1e-10)


def test_gradcheck_on_the_smooth_ann_path():
    cfg = small_cfg(layers="c2,p,f3", shape=(1, 4, 4), k=2)
    p = random_params(cfg)
    x = proxy.intensities(images(3, (1, 4, 4)), cfg)
    for bn_train in (False, True):
        def f(*leaves, bn_train=bn_train):
            g = proxy._split(leaves, p)
            return nets.ann_forward(cfg.net, g.w, g.bn_weight, g.bn_bias, p.ann_mean,
                                    p.ann_var, x, bn_train).out
        leaves = tuple(t.clone().requires_grad_(True) for t in proxy._trainable(p))
        assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-7)


def test_adam_update_matches_torch_optim():
    cfg = small_cfg(lr=0.01, weight_decay=0.01)
    p = random_params(cfg)
    leaves = [t.clone().requires_grad_(True) for t in proxy._trainable(p)]
    opt = torch.optim.Adam(leaves, lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.01)
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        gs = [torch.randn(t.shape, generator=g, dtype=F64) for t in leaves]
        for t, gi in zip(leaves, gs, strict=True):
            t.grad = gi.clone()
        opt.step()
        p = proxy.update(p, proxy._split(gs, p), cfg)
    for a, b in zip(proxy._trainable(p), leaves, strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=1e-14)
    assert int(p.step) == 3


# ---------------------------------------------------------------- sharing, purity, read-out


def test_weights_are_shared_and_steps_are_pure():
    cfg = small_cfg(layers="c4,p,f8", lr=0.05, augment_shift=0)
    p, x, y = random_params(cfg), images(8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    assert set(proxy.Params._fields) & {"w", "bn_weight", "bn_bias"} and \
        not any("snn_w" in f for f in proxy.Params._fields)       # one set of weights
    before = [t.clone() for f in p for t in (f if isinstance(f, tuple) else (f,))]
    new, st = proxy.train_step(p, x, y, cfg, online=False)
    after = [t for f in p for t in (f if isinstance(f, tuple) else (f,))]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))   # inputs intact
    f0, f1 = proxy.forward(p, x, cfg), proxy.forward(new, x, cfg)
    assert not np.allclose(f0.readout.ann, f1.readout.ann)                   # the ANN changed
    assert not np.array_equal(f0.readout.counts, f1.readout.counts)          # the SNN changed
    assert int(new.step) == 1 and st.n == 8 and np.isfinite(st.loss)
    assert [len(c) for c in st.fire_counts] == list(cfg.sizes[1:])
    ex = st.extra
    assert len(ex["acc_vs_t"]) == cfg.t_max and np.isfinite(ex["output_gap"])
    assert ex["twin_ann"][0].shape == ex["twin_rate"][0].shape == (4, 64)
    assert all(0 <= r.min() and r.max() <= 1 for r in ex["twin_rate"])


def test_rate_output_in_the_loss():
    cfg = small_cfg(layers="c4,p,f8", thr=0.5, snn_output="rate", augment_shift=0)
    p, x, y = random_params(cfg), images(6), torch.arange(6) % 3
    _, st = proxy.train_step(p, x, y, cfg, online=False)
    c = st.readout.counts / cfg.t_max
    assert st.loss == pytest.approx(((c - np.eye(3)[y.numpy()]) ** 2).mean(), abs=1e-12)
    assert st.readout.counts.max() > 0


def test_augmentation_is_crop_then_zero_pad():
    x = torch.rand(12, 2, 7, 7, generator=torch.Generator().manual_seed(0)) + 0.1
    out = proxy.augment(x, 1, False, torch.Generator().manual_seed(1))
    assert float(out[..., 0, :].abs().sum() + out[..., -1, :].abs().sum()) == 0.0
    assert float(out[..., :, 0].abs().sum() + out[..., :, -1].abs().sum()) == 0.0
    seen = set()
    for i in range(12):
        hits = [(oy, ox) for oy in range(3) for ox in range(3)
                if torch.equal(out[i, :, 1:6, 1:6], x[i, :, oy:oy + 5, ox:ox + 5])]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) > 1
    same = proxy.augment(x, 1, False, torch.Generator().manual_seed(1))
    assert torch.equal(out, same)
    flipped = proxy.augment(x, 0, True, torch.Generator().manual_seed(2))
    assert all(torch.equal(f, a) or torch.equal(f, a.flip(-1)) for f, a in zip(flipped, x,
                                                                                 strict=True))


def test_readout_policies():
    cfg = small_cfg()
    counts = np.array([[0, 3, 3], [0, 0, 0], [1, 4, 2], [2, 2, 0]], np.int32)
    v_out = np.array([[0, 0.5, 1.5], [0.2, 1.9, 0.1], [0, 0, 0], [1.0, 0.0, 0]])
    out = proxy.Readout(counts, v_out, np.zeros((4, 3)))
    y = np.array([1, 1, 1, 0])
    assert proxy.silent(out, cfg).tolist() == [False, True, False, False]
    assert proxy.tied(out, cfg).tolist() == [True, False, False, True]
    assert proxy.predict(out, HONEST, cfg).tolist() == [-1, -1, 1, -1]
    pot = EvalPolicy("potential", "potential")
    assert proxy.predict(out, pot, cfg).tolist() == [2, 1, 1, 0]
    assert proxy.score(out, y, LENIENT, cfg).tolist() == [True, True, True, True]
    low = EvalPolicy("wrong", "lowest-index")
    assert proxy.score(out, y, low, cfg).tolist() == [True, False, True, True]
    ann = dataclasses.replace(cfg, mode="ann")
    out_ann = out._replace(ann=np.array([[0, 1, 0.5], [2, 0, 0], [0, 0, 1], [1, 0, 0.0]]))
    assert proxy.predict(out_ann, HONEST, ann).tolist() == [1, 0, 2, 0]
    assert not proxy.silent(out_ann, ann).any()


def test_accuracy_vs_steps_probe_and_compare():
    cfg = small_cfg(layers="c4,p,f8", t_max=6)
    p, x, y = random_params(cfg), images(20), np.arange(20) % 3
    curve = proxy.accuracy_vs_steps(p, x, y, cfg, t_eval=9)
    fwd = proxy.forward(p, x, cfg)
    assert curve.shape == (9,) and curve[5] == proxy.score(fwd.readout, y, HONEST, cfg).mean()
    ex = proxy.eval_extra([proxy.forward(p, x[:7], cfg), proxy.forward(p, x[7:], cfg)], y, cfg)
    np.testing.assert_array_equal(ex["acc_vs_t"], curve[:6])
    assert ex["ann_accuracy"] == (fwd.readout.ann.argmax(1) == y).mean()
    pr = proxy.probe(p, x[0], cfg, max_neurons=5)
    assert [L["v_trace"].shape for L in pr["layers"]] == [(6, 5), (6, 5), (6, 3)]
    assert pr["extra"]["out_counts_t"].shape == (6, 3)
    np.testing.assert_array_equal(pr["extra"]["out_counts_t"][-1], fwd.readout.counts[0])
    res = proxy.compare(p, p, cfg, x, x, y, t_eval=12)
    assert len(res["proxy_snn"]["acc_vs_t"]) == len(res["converted_snn"]["acc_vs_t"]) == 12
    assert res["proxy_snn"]["honest"] == pytest.approx(float(curve[5]))


def test_presets_and_validation():
    f = proxy.Config(arch="fmnist")
    assert f.sizes == (784, 100352, 100352, 25088, 2560, 1152, 256, 10)
    assert [b.w_shape for b in f.net][3:] == [(2560, 6272), (1152, 2560), (256, 1152),
                                              (10, 256)]
    c = proxy.Config(arch="cifar10", n_in=3072, in_shape=(3, 32, 32))
    assert c.net[0].w_shape == (128, 3, 3, 3) and c.sizes[-1] == 10
    for bad in ("c4,q", "p,c4", "f8,c4", "c4,p,p"):
        with pytest.raises(ValueError):
            proxy.Config(layers=bad)
    with pytest.raises(ValueError):
        proxy.Config(in_shape=(1, 28, 27))


# ---------------------------------------------------------------- trainer, data, CLI


def test_exact_resume_through_a_weights_only_checkpoint(tmp_path):
    splits = split_dataset(load_dataset("synthetic"), val_size=20, train_size=60, test_size=20)
    cfg = make_run_config("proxy", "synthetic", epochs=2, batch_size=20, every=2,
                          overrides={"layers": "c4,p,f8", "thr": "0.5"})
    full = make_trainer(cfg, splits)
    full.run()
    part = make_trainer(cfg, splits)
    part.run(max_steps=8)             # RunStart, 3 batches, val, EpochEnd, 2 batches of epoch 2
    torch.save(part.state_dict(), tmp_path / "ck.pt")
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    rest = make_trainer(cfg, splits, state=state)
    rest.run()
    def flat(p):
        return [t for f in p for t in (f if isinstance(f, tuple) else (f,))]

    assert all(torch.equal(u, v) for u, v in zip(flat(full.params), flat(rest.params),
                                                  strict=True))
    assert int(full.params.epoch) == 2 and int(part.params.epoch) == 1
    assert [h["val_accuracy"] for h in full.history] == [h["val_accuracy"] for h in rest.history]


def write_tiny_cifar(folder, n=6):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [(i + k) % 10 for k in range(n)], b"batch_label": b"x"}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


def test_cifar10_code_path_on_a_tiny_set_in_cifar_format(tmp_path):
    write_tiny_cifar(tmp_path / "root" / "cifar-10-batches-py")
    cfg = make_run_config("proxy", "cifar10", epochs=1, batch_size=4, val_size=6,
                          data_root=str(tmp_path / "root"),
                          overrides={"layers": "c4,p,c4,p,f8", "augment_flip": "true",
                                     "thr": "0.5"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)            # md5 of a hand-made set
        tr = make_trainer(cfg)
    events = tr.run()
    assert tr.cfg.algo.in_shape == (3, 32, 32) and tr.cfg.algo.n_in == 3072
    assert events[-1].status == "ok" and events[-1].summary["test_size"] == 6
    assert tr.cfg.algo.sizes[1] == 4 * 32 * 32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_step_matches_cpu():
    cfg = small_cfg(layers="c4,p,f8")
    p, x, y = random_params(cfg), images(8), torch.arange(8) % 3
    _, st_cpu = proxy.train_step(p, x, y, cfg, False)
    cu = dataclasses.replace(cfg, device="cuda")
    _, st_gpu = proxy.train_step(p, x, y, cu, False)
    np.testing.assert_allclose(st_gpu.readout.ann, st_cpu.readout.ann, atol=1e-9)


def test_cli_smoke_run(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "snnviz", "train", "--algorithm", "proxy",
                        "--dataset", "fashion-mnist-mini", "--train-size", "200",
                        "--test-size", "100", "--epochs", "1", "--out", str(out), "--quiet"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "result.json").read_text())
    assert res["status"] == "ok" and res["algorithm"] == "proxy"
    assert res["train_size"] == 200 and res["test_size"] == 100 and res["epochs_run"] == 1
    assert 0 <= res["test_accuracy"] <= 1 and 0 <= res["tie_rate"] <= 1
    assert {"honest", "reference", "configured"} <= set(res["test_by_policy"])
    assert res["config"]["algo"]["t_max"] == 15 and res["config"]["algo"]["thr"] == 2.0


def test_baselines_command_on_two_runs(tmp_path, capsys):
    from snnviz.cli import main as cli

    small = ["--algorithm", "proxy", "--dataset", "synthetic", "--train-size", "60",
             "--val-size", "20", "--test-size", "20", "--epochs", "1", "--batch-size", "20",
             "--quiet", "--set", "layers=c4,p,f8", "--set", "thr=0.5"]
    assert cli(["train", *small, "--out", str(tmp_path / "px")]) == 0
    assert cli(["train", *small, "--set", "mode=ann", "--out", str(tmp_path / "ann")]) == 0
    capsys.readouterr()
    assert proxy.main(["--proxy-run", str(tmp_path / "px"), "--ann-run", str(tmp_path / "ann"),
                       "--t-eval", "30", "--calib", "40", "--reset", "subtract",
                       "--out", str(tmp_path / "cmp.json")]) == 0
    res = json.loads((tmp_path / "cmp.json").read_text())
    assert res["T"] == 15 and res["reset_converted"] == "subtract" and res["n_calib"] == 40
    assert len(res["converted_snn"]["acc_vs_t"]) == 30 and 0 <= res["ann_alone"] <= 1
    assert {"honest", "argmax", "tie-optimistic"} <= set(res["proxy_snn"])
