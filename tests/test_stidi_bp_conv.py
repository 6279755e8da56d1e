"""STiDi-BP convolutional and binary-weight networks: conv forward against the time-stepped
conv oracle, full-size kernel = dense layer, min-time pooling, backward against autograd,
binary weights (forward uses only signs, exact flip counts) and trainer smoke runs."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snnviz import make_run_config, make_trainer
from snnviz.algorithms import stidi_bp, stidi_bp_binary, stidi_bp_conv
from snnviz.algorithms.stidi_bp_conv import Conv
from snnviz.rng import make_generator
from snnviz.training.events import BatchEnd, RunEnd


def conv_cfg(cls=stidi_bp_conv.StidiConvConfig, **kw):
    base = dict(in_shape=(2, 9, 9), n_in=162, n_classes=3, channels=(4, 5), kernel=(3, 2),
                pool=(2, 1), padding=(1, 0), t_max=48, tau1=8, tau2=4, thr_conv=1.5,
                thr_out=2.0, init_conv=3.0, init_out=3.0, init_std=2.0, dtype="float64",
                displacement_probe=2, gamma=2)
    base.update(kw)
    return cls(**base)


def dyadic(p):
    return stidi_bp.Params(tuple(torch.round(w * 16) / 16 for w in p.w), p.alpha)


def data(cfg, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, cfg.t_max + 1, (n, cfg.n_in), generator=g, dtype=torch.int32)
    t[t > cfg.t_max // 2] = cfg.t_max
    return t, torch.randint(0, cfg.n_classes, (n,), generator=g)


# ------------------------------------------------------------------ forward ---------------
def test_conv_layer_equals_time_stepped_oracle():
    rng = np.random.default_rng(0)
    for case in range(110):
        c_in, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
        k = int(rng.integers(1, min(h, w) + 1))
        geom = Conv((c_in, h, w), int(rng.integers(1, 5)), k, int(rng.integers(0, 3)), 1)
        cfg = SimpleNamespace(t_max=int(rng.integers(8, 48)), tau1=int(2 ** rng.integers(0, 4)),
                              tau2=[None, 1, 2, 4, 8][case % 5], strict_threshold=bool(case % 2))
        B = int(rng.integers(1, 4))
        t = rng.integers(0, cfg.t_max + 1, (B, c_in * h * w)).astype(np.int32)
        w = rng.integers(-8, 17, geom.weight_shape) / 8.0                   # [c_out, C, k, k]
        wT = np.ascontiguousarray(w.reshape(geom.c_out, -1).T)             # kernel layout
        thr = float(rng.integers(1, 24)) / 4
        fast, naive = geom.fire(t, wT, thr, cfg), geom.fire(t, wT, thr, cfg, naive=True)
        for name, a, b in zip(fast._fields, fast, naive):
            np.testing.assert_array_equal(a, b, err_msg=f"case {case} {geom}: {name}")


def test_network_forward_equals_oracle():
    cfg = conv_cfg(hidden=(7,))
    for seed in range(3):
        p = dyadic(stidi_bp_conv.init(cfg, make_generator(seed)))
        t, _ = data(cfg, 4, seed)
        fast, naive = stidi_bp_conv.forward(p, t, cfg), stidi_bp_conv.forward_naive(p, t, cfg)
        for a, b in zip(fast.times, naive.times):
            assert torch.equal(a, b)
        for a, b in zip(fast.pre_ref, naive.pre_ref):
            np.testing.assert_array_equal(a, b)


def test_full_size_kernel_equals_dense_layer():
    conv = conv_cfg(in_shape=(2, 5, 5), n_in=50, channels=(6,), kernel=(5,), pool=(1,),
                    padding=(0,), thr_conv=2.0)
    dense = stidi_bp.StidiConfig(**{f.name: getattr(conv, f.name)
                                    for f in dataclasses.fields(stidi_bp.StidiConfig)
                                    if f.name not in ("hidden", "thr_hidden")},
                                 hidden=(6,), thr_hidden=conv.thr_conv)
    assert dense.sizes == conv.sizes == (50, 6, 3)
    pc = stidi_bp_conv.init(conv, make_generator(1))
    pd = stidi_bp.Params((pc.w[0].reshape(6, 50), pc.w[1]), pc.alpha)
    t, y = data(conv, 8, 2)
    fc, fd = stidi_bp_conv.forward(pc, t, conv), stidi_bp.forward(pd, t, dense)
    for a, b in zip(fc.times, fd.times):
        assert torch.equal(a, b)
    gc, rc = stidi_bp.backward_displacements(pc, fc, y.numpy(), conv)
    gd, rd = stidi_bp.backward_displacements(pd, fd, y.numpy(), dense)
    torch.testing.assert_close(gc.w[0].reshape(6, 50), gd.w[0], atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(gc.w[1], gd.w[1], atol=1e-12, rtol=1e-12)
    for a, b in zip(rc, rd):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_min_time_pooling_and_routing():
    geom = Conv((1, 4, 4), 1, 1, 0, 2)
    T = 20
    t = np.array([[3, 9, T, T,
                   7, 3, T, T,
                   T, 5, T, T,
                   T, T, T, T]])
    ref = np.array([[3, 9, 6, 4,
                     7, 3, 2, 8,
                     11, 5, 9, 12,
                     13, 14, 10, 15]])
    pooled, pooled_ref, idx = geom.pool(t, ref, T)
    np.testing.assert_array_equal(pooled, [[3, T, 5, T]])        # earliest spike; silent
    np.testing.assert_array_equal(pooled_ref, [[3, 2, 5, 9]])    # silent: earliest peak
    back = geom.unpool(np.array([[1.0, 2.0, 3.0, 4.0]]), idx)
    expect = np.zeros(16)
    expect[[0, 6, 9, 10]] = [1, 2, 3, 4]                         # ties: first in the window
    np.testing.assert_array_equal(back[0], expect)


# ------------------------------------------------------------------ backward --------------
def eps_ref(s, tau1, tau2):
    e = torch.where((s > 0) & (s < tau1), s / tau1, torch.zeros_like(s))
    e = torch.where((s >= tau1) & (s < tau1 + tau2), (tau1 + tau2 - s) / tau2, e)
    d = torch.where((s > 0) & (s < tau1), torch.full_like(s, 1 / tau1), torch.zeros_like(s))
    d = torch.where((s >= tau1) & (s < tau1 + tau2), torch.full_like(s, -1 / tau2), d)
    return e, d


def patches(t_map, geom, t_max):
    """[B, C*H*W] -> [B, L, P] with autograd (padding is silent)."""
    x = F.pad(t_map.reshape(-1, *geom.in_shape), (geom.pad,) * 4, value=float(t_max))
    return F.unfold(x, geom.k).transpose(1, 2)


def surrogate(geom, t_act, t_virt, w, t_post, t_ref, thr, cfg):
    """Layer times with the STiDi-BP derivatives (straight-through construction)."""
    if isinstance(geom, Conv):
        L = t_post.shape[1] // geom.c_out
        t_post, t_ref = (x.reshape(-1, geom.c_out, L).transpose(1, 2) for x in (t_post, t_ref))
        t_act, t_virt = patches(t_act, geom, cfg.t_max), patches(t_virt, geom, cfg.t_max)
        w = w.reshape(geom.c_out, -1)
    else:                                                         # one "location"
        t_post, t_ref, t_act, t_virt = (x[:, None] for x in (t_post, t_ref, t_act, t_virt))
    e_val, _ = eps_ref(t_ref[..., None] - t_act[:, :, None, :], cfg.tau1, cfg.tau2)
    _, d_val = eps_ref(t_ref[..., None] - t_virt.detach()[:, :, None, :], cfg.tau1, cfg.tau2)
    eps_st = e_val + d_val * (t_virt.detach() - t_virt)[:, :, None, :]   # [B, L, C, P]
    v = (w * eps_st).sum(-1)                                             # [B, L, C]
    t_sur = t_post + (-t_post / thr) * (v - v.detach())
    return t_sur.transpose(1, 2).reshape(len(t_sur), -1)                # channel-major


def route(geom, d_pooled, t, ref, t_max):
    """Independent min-time pooling routing: unfold windows, first argmin of the key."""
    if not isinstance(geom, Conv) or geom.window == 1:
        return d_pooled
    B, (h, w), k = len(t), geom.conv_hw, geom.window
    key = torch.where(t < t_max, t, t_max + 1 + ref).reshape(B * geom.c_out, 1, h, w)
    win = F.unfold(key, k, stride=k)                                    # [B*c, k*k, Lp]
    arg = win.argmin(dim=1)                                             # [B*c, Lp]
    hp, wp = h // k, w // k
    rows = (torch.arange(hp * wp) // wp * k)[None] + arg // k
    cols = (torch.arange(hp * wp) % wp * k)[None] + arg % k
    out = torch.zeros(B * geom.c_out, h * w, dtype=torch.float64)
    out.scatter_(1, rows * w + cols, d_pooled.reshape(B * geom.c_out, -1))
    return out.reshape(B, -1)


def autograd_reference(params, fwd, y, cfg):
    specs = cfg.layer_specs()
    t_out = torch.as_tensor(fwd.readout.t_out, dtype=torch.float64)
    disp = torch.as_tensor(stidi_bp.output_targets(fwd.readout.t_out, y, cfg)) - t_out
    B = len(t_out)
    gw, ga, req = [None] * len(specs), [0.0] * len(specs), [None] * len(specs)
    for l in range(len(specs) - 1, -1, -1):
        geom, thr = specs[l].geom, specs[l].thr
        req[l] = disp.numpy()
        latent = params.w[l].detach().clone().requires_grad_(True)
        alpha = params.alpha[l].clone().requires_grad_(True)
        if cfg.BINARY:      # value alpha*sign(w); d/dw := 1 (alpha dropped); d/dalpha = sign(w)
            w = alpha * torch.where(latent >= 0, 1.0, -1.0).double() + (latent - latent.detach())
        else:
            w = latent + 0 * alpha
        t_act = torch.as_tensor(fwd.pre[l], dtype=torch.float64)
        t_virt = torch.as_tensor(fwd.pre_ref[l], dtype=torch.float64).requires_grad_(True)
        t_post = fwd.times[l].to(torch.float64)
        t_ref = torch.as_tensor(fwd.t_ref[l], dtype=torch.float64)
        t_sur = surrogate(geom, t_act, t_virt, w, t_post, t_ref, thr, cfg)
        e = disp / cfg.t_max
        e_w = e / e.norm(dim=1, keepdim=True).clamp_min(1e-300) if cfg.error_norm == "l2" else e
        loss_w = -(e_w * t_sur).sum() / cfg.t_max
        g_latent, g_alpha = torch.autograd.grad(loss_w, (latent, alpha), retain_graph=True)
        gw[l], ga[l] = g_latent / B, float(g_alpha) / (B * latent.numel())
        if l:
            (gt,) = torch.autograd.grad(-(e * t_sur).sum() / cfg.t_max, t_virt)
            d_pre = torch.clamp(t_act - cfg.beta * cfg.t_max ** 2 * gt, 0, cfg.t_max) - t_act
            prev = specs[l - 1].geom
            disp = route(prev, d_pre, fwd.times[l - 1].to(torch.float64),
                         torch.as_tensor(fwd.t_ref[l - 1], dtype=torch.float64), cfg.t_max)
    return gw, ga, req


@pytest.mark.parametrize("cls", [stidi_bp_conv.StidiConvConfig,
                                 stidi_bp_binary.StidiBinaryConfig])
@pytest.mark.parametrize("norm", ["l2", "none"])
def test_backward_equals_autograd(cls, norm):
    cfg = conv_cfg(cls, error_norm=norm, hidden=(6,), beta=1.3)
    for seed in range(3):
        p = stidi_bp_conv.init(cfg, make_generator(seed))
        t, y = data(cfg, 5, seed)
        fwd = stidi_bp_conv.forward(p, t, cfg)
        grads, req = stidi_bp.backward_displacements(p, fwd, y.numpy(), cfg)
        ref_w, ref_a, ref_req = autograd_reference(p, fwd, y.numpy(), cfg)
        for a, b in zip(grads.w, ref_w):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)
        for a, b in zip(req, ref_req):
            np.testing.assert_allclose(a, b, atol=1e-9, rtol=1e-9)
        if cfg.BINARY:
            np.testing.assert_allclose(grads.alpha.numpy(), ref_a, atol=1e-12, rtol=1e-9)
        assert all(float(g.abs().sum()) > 0 for g in grads.w)


# ------------------------------------------------------------------ binary weights --------
def test_binary_forward_uses_only_signs():
    cfg = conv_cfg(stidi_bp_binary.StidiBinaryConfig)
    p = stidi_bp_binary.init(cfg, make_generator(4))
    np.testing.assert_allclose(p.alpha.numpy(), [float(w.abs().mean()) for w in p.w])
    g = torch.Generator().manual_seed(5)
    rescaled = stidi_bp.Params(tuple(w * (0.01 + 10 * torch.rand(w.shape, generator=g,
                                                                  dtype=w.dtype))
                                     for w in p.w), p.alpha)
    t, _ = data(cfg, 6, 4)
    a, b = stidi_bp_binary.forward(p, t, cfg), stidi_bp_binary.forward(rescaled, t, cfg)
    for x, z in zip(a.times, b.times):
        assert torch.equal(x, z)
    np.testing.assert_array_equal(a.readout.v_fire, b.readout.v_fire)
    for wb, w, al in zip(stidi_bp_binary.binary_weights(p), p.w, p.alpha):
        assert set(torch.unique(wb / al).tolist()) <= {-1.0, 1.0}
        assert torch.equal(wb, al * torch.where(w >= 0, 1.0, -1.0).double())


def recount(old, new):
    return tuple(int((torch.sign(torch.sign(a) + 0.5) != torch.sign(torch.sign(b) + 0.5)).sum())
                 for a, b in zip(old.w, new.w))


def test_binary_flips_equal_direct_recount():
    cfg = conv_cfg(stidi_bp_binary.StidiBinaryConfig, init_conv=0.0, init_out=0.0,
                   lr_conv=200.0, lr_out=200.0, error_norm="none")
    p = stidi_bp_binary.init(cfg, make_generator(6))
    t, y = data(cfg, 6, 6)
    new, st = stidi_bp_binary.train_step(p, t, y, cfg, online=False)
    assert st.flips == recount(p, new) and sum(st.flips) > 0
    assert not torch.equal(new.alpha, p.alpha) and bool((new.alpha > 0).all())
    new_online, st_online = stidi_bp_binary.train_step(p, t, y, cfg, online=True)
    q, total = p, np.zeros(len(p.w), int)
    for k in range(len(t)):                 # replay the per-sample updates one by one
        nxt, _ = stidi_bp_binary.train_step(q, t[k:k + 1], y[k:k + 1], cfg, online=False)
        total += recount(q, nxt)
        q = nxt
    assert st_online.flips == tuple(total.tolist())
    assert all(torch.equal(a, b) for a, b in zip(q.w, new_online.w))


# ------------------------------------------------------------------ runs ------------------
def test_probe_and_step_stats_conv():
    cfg = conv_cfg()
    p = stidi_bp_conv.init(cfg, make_generator(0))
    t, y = data(cfg, 4)
    d = stidi_bp_conv.probe(p, t[0], cfg, max_neurons=6)
    assert [L["v_trace"].shape for L in d["layers"]] == [(48, 6), (48, 6), (48, 3)]
    for L in d["layers"]:
        for k, j in enumerate(L["neurons"]):
            if L["times"][j] < 48:
                assert L["v_trace"][L["times"][j], k] >= L["thr"]
    _, st = stidi_bp_conv.train_step(p, t, y, cfg, online=False)
    assert [len(c) for c in st.fire_counts] == list(cfg.sizes[1:])
    assert st.extra["disp_requested_hist"].shape[0] == len(cfg.sizes) - 1


def test_scale_lr_and_reduce_hook():
    cfg = conv_cfg(stidi_bp_binary.StidiBinaryConfig, lr_conv=0.5, lr_out=2.0, lr_hidden=1.0,
                   lr_alpha=0.25)
    half = stidi_bp_binary.scale_lr(cfg, 0.5)
    assert (half.lr_conv, half.lr_out, half.lr_hidden, half.lr_alpha) == (0.25, 1.0, 0.5, 0.125)
    assert half.thr_conv == cfg.thr_conv and stidi_bp_binary.scale_lr(cfg, 1.0) is cfg
    p = stidi_bp_binary.init(cfg, make_generator(0))
    t, y = data(cfg, 4)
    seen = []

    def reduce(grads, n_local):            # a one-worker all-reduce: the identity
        seen.append(n_local)
        return grads

    a, _ = stidi_bp_binary.train_step(p, t, y, cfg, False, reduce=reduce)
    b, _ = stidi_bp_binary.train_step(p, t, y, cfg, False)
    assert seen == [4] and all(torch.equal(x, z) for x, z in zip(a.w, b.w))
    with pytest.raises(ValueError):
        stidi_bp_binary.train_step(p, t, y, cfg, True, reduce=reduce)


@pytest.mark.parametrize("algo", ["stidi-bp-conv", "stidi-bp-conv-binary"])
def test_trainer_smoke(algo):
    """The run of ``snnviz train --algorithm ALGO --dataset mnist-mini --train-size 200
    --test-size 100 --epochs 1 --set channels=4,8``, in process (the CLI path itself is
    covered by the dense smoke test)."""
    cfg = make_run_config(algo, "mnist-mini", train_size=200, test_size=100, epochs=1,
                          overrides={"channels": "4,8"})
    events = make_trainer(cfg).run()
    end = events[-1]
    assert isinstance(end, RunEnd) and end.status == "ok"
    res = json.loads(json.dumps(end.summary, default=lambda a: a.tolist()))
    assert res["algorithm"] == algo and res["epochs_run"] == 1 and res["best_epoch"] == 1
    assert res["train_size"] == 200 and res["test_size"] == 100
    assert res["config"]["algo"]["in_shape"] == [1, 28, 28]
    assert res["config"]["algo"]["channels"] == [4, 8]
    assert 0.0 <= res["test_accuracy"] <= 1.0 and res["train_samples_per_second"] > 0
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert sum(b.n for b in batches) == 200
    assert all("disp_requested_hist" in b.extra for b in batches)
    assert all(len(b.sign_flips) == (3 if algo.endswith("binary") else 0) for b in batches)
    assert batches[0].probe is not None and len(batches[0].probe.layers) == 3
