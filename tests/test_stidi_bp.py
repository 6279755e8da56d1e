"""STiDi-BP, fully connected, and the PL-PSP neuron: hand-worked firing times, the exact
forward against the time-stepped oracle, the backward against an independent autograd
implementation of the same approximate gradient, step statistics and a CLI smoke run."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from snnviz.algorithms import stidi_bp as A
from snnviz.neurons.pl_psp import (
    first_spike_times,
    first_spike_times_naive,
    membrane_trace,
    psp,
    psp_tables,
)
from snnviz.rng import make_generator

T = 256


def fire(t_in, w, thr, tau1=4, tau2=4, t_max=T, strict=False):
    """Fast and naive results for one neuron; asserts they agree; returns the fast one."""
    t, w = np.array([t_in]), np.array([w], dtype=np.float64)
    fast = first_spike_times(t, w, thr, t_max, tau1, tau2, strict=strict)
    naive = first_spike_times_naive(t, w, thr, t_max, tau1, tau2, strict=strict)
    for a, b in zip(fast, naive):
        np.testing.assert_array_equal(a, b)
    return tuple(int(a[0, 0]) if a.dtype.kind == "i" else float(a[0, 0]) for a in fast)


# ------------------------------------------------------------------ PL-PSP neuron ----------
def test_psp_kernel_spec_5_7():
    np.testing.assert_array_equal(psp(np.arange(9), 4, 4),
                                  [0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25, 0])
    np.testing.assert_array_equal(psp(np.array([-3, 0, 2, 9, 100]), 4, None), [0, 0, 0.5, 2.25, 25])
    eps, deps, win = psp_tables(16, 4, 4)
    assert win == 8
    np.testing.assert_array_equal(deps[:10], [0, .25, .25, .25, -.25, -.25, -.25, -.25, 0, 0])


def test_spec_5_7_fires_at_4_and_strict_never_fires():
    # V = 0, 0.5, 1, 2, 3, 3, 3, 2, ...: reaches theta = 3 exactly at t = 4.
    assert fire([0, 2], [2, 2], 3.0) == (4, 3.0, 3.0, 4)
    # Strict ">" never fires: the peak is exactly 3 (first reached at t = 4).
    assert fire([0, 2], [2, 2], 3.0, strict=True) == (T, 0.0, 3.0, 4)


def test_crossing_inside_a_segment_and_boundary():
    # One input w = 3 at t = 0, tau1 = 4: V(t) = 0.75 t on the rise.
    assert fire([0], [3], 1.5)[0] == 2                    # V(2) = 1.5 >= 1.5
    assert fire([0], [3], 1.5, strict=True)[0] == 3       # V(3) = 2.25 > 1.5
    assert fire([5], [3], 2.25)[:2] == (8, 2.25)          # shifted by the input time


def test_input_after_the_spike_changes_nothing():
    # Fires at t = 3 from the first input; the huge inhibitory input at 3 and the excitatory
    # one at 6 arrive too late (eps(0) = 0: an input never affects the step it arrives at).
    assert fire([0], [4], 3.0)[0] == 3
    assert fire([0, 3, 6], [4, -100, 50], 3.0)[0] == 3
    assert fire([0, 2], [4, -100], 3.0)[0] == T          # arrives before: silences it


def test_neuron_that_never_fires_reports_its_peak():
    # Peak of 2*eps(t) + 1*eps(t-3) with tau = 4, 4: V = 0, .5, 1, 1.5, 2.25, 2, 1.75, 1.5, ...
    assert fire([0, 3], [2, 1], 10.0) == (T, 0.0, 2.25, 4)
    assert fire([0, 3], [-2, -1], 0.5) == (T, 0.0, 0.0, 0)   # never above 0: peak at t = 0
    assert fire([T, T], [9, 9], 0.5) == (T, 0.0, 0.0, 0)     # inputs at t_max never arrive


def test_no_decay_ramp_is_non_leaky_integration():
    # tau2 = None: V(t) = sum w (t - t_i) / tau1; two inputs of 1 at 0 and 4, tau1 = 4.
    assert fire([0, 4], [1, 1], 3.0, tau2=None)[0] == 8     # V(8) = 2 + 1 = 3
    assert fire([0, 4], [1, 1], 3.0, tau2=4)[0] == T


def test_fast_forward_equals_oracle_random_dense():
    rng = np.random.default_rng(0)
    for case in range(150):
        R, P, C = rng.integers(1, 4), rng.integers(1, 70), rng.integers(1, 6)
        t_max = int(rng.integers(8, 80))
        # Power-of-two time constants keep eps(s) exact in the oracle too (bitwise check).
        tau1, tau2 = int(2 ** rng.integers(0, 4)), [None, 1, 2, 4, 8, 16][case % 6]
        t = rng.integers(0, t_max + 1, (R, P))
        w = rng.integers(-16, 33, (C, P)) / 16.0                   # dyadic: exact sums
        thr, strict = float(rng.integers(1, 40)) / 8, bool(case % 2)
        dtype = np.float32 if case % 3 == 0 else np.float64
        fast = first_spike_times(t, w.astype(dtype), thr, t_max, tau1, tau2, strict=strict)
        naive = first_spike_times_naive(t, w, thr, t_max, tau1, tau2, strict=strict)
        for name, a, b in zip(fast._fields, fast, naive):
            np.testing.assert_array_equal(a, b, err_msg=f"case {case}: {name}")


def test_membrane_trace_matches_spike():
    rng = np.random.default_rng(1)
    t, w = rng.integers(0, 40, 30), rng.integers(-4, 16, (5, 30)) / 8.0
    out = first_spike_times(t[None], w, 4.0, 64, 8, 8)
    v = membrane_trace(t, w, 64, 8, 8)                                     # [T, C]
    assert v.shape == (64, 5)
    for j in range(5):
        tj = out.times[0, j]
        assert np.all(v[:tj, j] < 4.0)
        if tj < 64:
            assert v[tj, j] == out.v_fire[0, j] >= 4.0


# ------------------------------------------------------------------ network ---------------
def small_cfg(**kw) -> A.StidiConfig:
    base = dict(n_in=20, n_classes=4, hidden=(12, 8), t_max=64, tau1=8, tau2=8, thr_hidden=2.0,
                thr_out=2.0, init_hidden=3.0, init_out=3.0, init_std=2.0, dtype="float64",
                displacement_probe=3, gamma=3)
    base.update(kw)
    return A.StidiConfig(**base)


def dyadic(params: A.Params) -> A.Params:
    return A.Params(tuple(torch.round(w * 16) / 16 for w in params.w), params.alpha)


def data(cfg, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, cfg.t_max + 1, (n, cfg.n_in), generator=g, dtype=torch.int32)
    t[t > cfg.t_max * 3 // 4] = cfg.t_max                              # some silent inputs
    return t, torch.randint(0, cfg.n_classes, (n,), generator=g)


def test_network_forward_equals_oracle():
    for seed in range(6):
        cfg = small_cfg(silent_ref=("peak", "t_max")[seed % 2])
        p = dyadic(A.init(cfg, make_generator(seed)))
        t, _ = data(cfg, 7, seed)
        fast, naive = A.forward(p, t, cfg), A.forward_naive(p, t, cfg)
        for a, b in zip(fast.times, naive.times):
            assert torch.equal(a, b)
        for k in ("t_ref", "pre", "pre_ref"):
            for a, b in zip(getattr(fast, k), getattr(naive, k)):
                np.testing.assert_array_equal(a, b)


def eps_ref(s, tau1, tau2):
    """PSP and its right-hand slope written out again (independent of the package)."""
    s = s.to(torch.float64)
    e = torch.where((s > 0) & (s < tau1), s / tau1, torch.zeros_like(s))
    e = torch.where((s >= tau1) & (s < tau1 + tau2), (tau1 + tau2 - s) / tau2, e)
    d = torch.where((s > 0) & (s < tau1), torch.full_like(s, 1 / tau1), torch.zeros_like(s))
    d = torch.where((s >= tau1) & (s < tau1 + tau2), torch.full_like(s, -1 / tau2), d)
    return e, d


def surrogate_times(t_act, t_virt, w, t_post, t_ref, thr, cfg):
    """Spike times whose autograd derivatives are the STiDi-BP approximations:
    dt_j/dV_j = -t_j/theta, dV_j/dw_ji = eps(r_j - t_i), dV_j/dt_i = -w_ji eps'(r_j - t_i)."""
    s_act = t_ref[:, :, None] - t_act[:, None, :]                      # [B, C, P]
    s_virt = t_ref[:, :, None] - t_virt.detach()[:, None, :]
    e_val, _ = eps_ref(s_act, cfg.tau1, cfg.tau2)
    _, d_val = eps_ref(s_virt, cfg.tau1, cfg.tau2)
    eps_st = e_val + d_val * (t_virt.detach() - t_virt)[:, None, :]    # straight-through
    v = (w[None] * eps_st).sum(-1)                                      # [B, C]
    return t_post + (-t_post / thr) * (v - v.detach())


def autograd_reference(params, fwd, y, cfg):
    """The approximate gradient, re-derived with torch autograd (float64)."""
    specs = cfg.layer_specs()
    t_out = torch.as_tensor(fwd.readout.t_out, dtype=torch.float64)
    T_out = torch.as_tensor(A.output_targets(fwd.readout.t_out, y, cfg), dtype=torch.float64)
    disp = T_out - t_out
    B = len(t_out)
    grads, requested = [None] * len(specs), [None] * len(specs)
    for l in range(len(specs) - 1, -1, -1):
        requested[l] = disp.numpy()
        w = params.w[l].detach().clone().requires_grad_(True)
        t_act = torch.as_tensor(fwd.pre[l], dtype=torch.float64)
        t_virt = torch.as_tensor(fwd.pre_ref[l], dtype=torch.float64).requires_grad_(True)
        t_post = fwd.times[l].to(torch.float64)
        t_ref = torch.as_tensor(fwd.t_ref[l], dtype=torch.float64)
        if cfg.grad_ref == "target":     # pulled-earlier neurons: derivatives at the target
            target = torch.round(torch.clamp(t_post + disp, 0, cfg.t_max))
            t_ref = torch.where(disp < 0, torch.minimum(t_ref, target), t_ref)
        t_sur = surrogate_times(t_act, t_virt, w, t_post, t_ref, specs[l].thr, cfg)
        e = disp / cfg.t_max
        e_w = e / e.norm(dim=1, keepdim=True).clamp_min(1e-300) if cfg.error_norm == "l2" else e
        # d/dt of 1/2 ((T - t)/t_max)^2 is -e/t_max: a linear form with that slope.
        loss_w = (-(e_w * t_sur).sum() / cfg.t_max) / B
        loss_t = -(e * t_sur).sum() / cfg.t_max
        (gw,) = torch.autograd.grad(loss_w, w, retain_graph=True)
        grads[l] = gw
        if l:
            (gt,) = torch.autograd.grad(loss_t, t_virt)
            t_pre = t_act
            d_pre = -cfg.beta * cfg.t_max ** 2 * gt
            disp = torch.clamp(t_pre + d_pre, 0, cfg.t_max) - t_pre
    return grads, requested


def check_backward_against_autograd(cfg, seed):
    """Gradients and requested displacements of one random batch equal the autograd
    reference; returns (params, forward, labels, gradients) for further checks."""
    p = A.init(cfg, make_generator(seed))
    t, y = data(cfg, 9, seed)
    fwd = A.forward(p, t, cfg)
    grads, req = A.backward_displacements(p, fwd, y.numpy(), cfg)
    ref_g, ref_req = autograd_reference(p, fwd, y.numpy(), cfg)
    for a, b in zip(grads.w, ref_g):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)
    for a, b in zip(req, ref_req):
        np.testing.assert_allclose(a, b, atol=1e-9, rtol=1e-9)
    return p, fwd, y, grads


@pytest.mark.parametrize("norm", ["l2", "none"])
@pytest.mark.parametrize("silent_ref", ["peak", "t_max"])
def test_backward_equals_autograd(norm, silent_ref):
    cfg = small_cfg(error_norm=norm, silent_ref=silent_ref, beta=0.7)
    checked_silent = False
    for seed in range(4):
        _, fwd, _, _ = check_backward_against_autograd(cfg, seed)
        checked_silent |= any(bool((x.numpy() == cfg.t_max).any()) for x in fwd.times)
    assert checked_silent                    # the silent-neuron rule was exercised


def test_backward_target_reference_equals_autograd():
    cfg = small_cfg(grad_ref="target", beta=0.7)
    moved = False
    for seed in range(4):
        p, fwd, y, grads = check_backward_against_autograd(cfg, seed)
        spike = dataclasses.replace(cfg, grad_ref="spike")
        moved |= any(not torch.equal(a, b) for a, b in
                     zip(grads.w, A.backward_displacements(p, fwd, y.numpy(), spike)[0].w))
    assert moved                             # the option changed some gradient


def test_update_direction_moves_output_toward_target():
    cfg = small_cfg(hidden=(), lr_out=5.0, error_norm="none", n_in=40, init_out=4.0,
                    init_std=0.5)
    p = A.init(cfg, make_generator(3))
    t, y = data(cfg, 1, 3)
    fwd = A.forward(p, t, cfg)
    target = A.output_targets(fwd.readout.t_out, y.numpy(), cfg)
    new = A.update(p, A.backward(p, fwd, t, y, cfg), cfg)
    after = A.forward(new, t, cfg).readout.t_out
    before = fwd.readout.t_out
    assert np.all(np.abs(after - target) <= np.abs(before - target))
    assert np.any(after != before)


def test_hand_computed_update_two_input_neuron():
    """One STiDi-BP step worked out by hand (spec 3.5) on inputs -> 1 hidden -> 2 outputs.

    tau1 = tau2 = 4, t_max = 32, theta = 1, gamma = 1, inputs at t = 0 and 2 with weights
    1, 1: V_h(3) = eps(3) + eps(1) = 3/4 + 1/4 = 1, so t_h = 3. Outputs with weights 2 and 4
    from h: 2 eps(s) = 1 at s = 2 (t_0 = 5), 4 eps(s) = 1 at s = 1 (t_1 = 4). Label 0:
    tau = 4, targets (4, 5), displacements (-1, +1), e = dt / 32.
    Output step: g_j = e_j t_j / (t_max theta), dV/dw = eps(t_j - t_h) = (1/2, 1/4):
    grad = (-1 * 5 * 1/2, 1 * 4 * 1/4) / 1024 = (-2.5, 1) / 1024.
    Displacement of h: sum_j dt_j (t_j / theta) w_j eps'(t_j - t_h)
    = -1 * 5 * 2 / 4 + 1 * 4 * 4 / 4 = +1.5 (h should fire later: the competitor is ahead).
    Hidden step: g_h = (1.5 / 32) * 3 / 32, dV/dw = (eps(3), eps(1)) = (3/4, 1/4):
    grad = (4.5 * 3/4, 4.5 * 1/4) / 1024 = (3.375, 1.125) / 1024 (weights shrink: later)."""
    cfg = A.StidiConfig(n_in=2, n_classes=2, hidden=(1,), t_max=32, tau1=4, tau2=4,
                        thr_hidden=1.0, thr_out=1.0, gamma=1, error_norm="none",
                        dtype="float64")
    p = A.Params((torch.tensor([[1.0, 1.0]], dtype=torch.float64),
                  torch.tensor([[2.0], [4.0]], dtype=torch.float64)),
                 torch.ones(2, dtype=torch.float64))
    t_in, y = torch.tensor([[0, 2]], dtype=torch.int32), np.array([0])
    fwd = A.forward(p, t_in, cfg)
    assert fwd.times[0].tolist() == [[3]] and fwd.times[1].tolist() == [[5, 4]]
    grads, req = A.backward_displacements(p, fwd, y, cfg)
    np.testing.assert_array_equal(req[1], [[-1.0, 1.0]])
    np.testing.assert_array_equal(req[0], [[1.5]])
    np.testing.assert_array_equal(grads.w[1].numpy(), np.array([[-2.5], [1.0]]) / 1024)
    np.testing.assert_array_equal(grads.w[0].numpy(), np.array([[3.375, 1.125]]) / 1024)
    # The l2 rule only rescales each layer's error vector (one hidden neuron: e / |e| = 1).
    g2, _ = A.backward_displacements(p, fwd, y, dataclasses.replace(cfg, error_norm="l2"))
    np.testing.assert_allclose(g2.w[1].numpy(), np.array([[-2.5], [1.0]]) / 32 / 2 ** 0.5)
    np.testing.assert_allclose(g2.w[0].numpy(), np.array([[0.75, 0.25]]) * 3 / 32)
    # The step moves each neuron in the direction of its displacement.
    new = A.update(p, grads, dataclasses.replace(cfg, lr_hidden=0.0, lr_out=100.0))
    t_new = A.forward(new, t_in, cfg).times[1].numpy()
    assert t_new[0, 0] <= 5 and t_new[0, 1] >= 4 and (t_new[0, 0], t_new[0, 1]) != (5, 4)


def test_train_step_is_pure_and_reports_displacements():
    cfg = small_cfg()
    p = A.init(cfg, make_generator(0))
    snapshot = [w.clone() for w in p.w]
    t, y = data(cfg, 24)
    t0 = t.clone()
    for online in (False, True):
        new, st = A.train_step(p, t, y, cfg, online)
        assert all(torch.equal(a, b) for a, b in zip(p.w, snapshot)) and torch.equal(t, t0)
        assert st.n == 24 and st.flips == () and st.readout.t_out.shape == (24, 4)
        assert [len(c) for c in st.fire_counts] == list(cfg.sizes[1:])
        ex = st.extra
        n_bins = len(A.DISP_EDGES) - 1
        assert ex["disp_requested_hist"].shape == (3, n_bins)
        assert ex["disp_requested_hist"].sum(axis=1).tolist() == [24 * n for n in cfg.sizes[1:]]
        assert ex["disp_realised_hist"].sum(axis=1).tolist() == [3 * n for n in cfg.sizes[1:]]
        assert ex["disp_realised_samples"] == 3
        after = A.forward(new, t[:3], cfg).times[-1].numpy()
        before = A.forward(p, t[:3], cfg).times[-1].numpy()
        assert ex["disp_realised_mean"][-1] == pytest.approx((after - before.astype(int)).mean())
    # Online with one sample is the mini-batch step.
    a, _ = A.train_step(p, t[:1], y[:1], cfg, True)
    b, _ = A.train_step(p, t[:1], y[:1], cfg, False)
    assert all(torch.equal(x, z) for x, z in zip(a.w, b.w))


def test_targets_and_config_checks():
    cfg = small_cfg(n_classes=5)
    t = np.array([[30, 25, 40, 64, 27]])
    np.testing.assert_array_equal(A.output_targets(t, np.array([0]), cfg), [[25, 28, 40, 64, 28]])
    ext = dataclasses.replace(cfg, targets="extremes")
    np.testing.assert_array_equal(A.output_targets(t, np.array([2]), ext), [[64, 64, 22, 64, 64]])
    with pytest.raises(ValueError):
        small_cfg(gamma=64)
    with pytest.raises(ValueError):
        small_cfg(targets="nearest")
    assert small_cfg(tau2=None).tau2 is None


def test_probe_traces():
    cfg = small_cfg()
    p = A.init(cfg, make_generator(0))
    t, _ = data(cfg, 1)
    d = A.probe(p, t[0], cfg, max_neurons=5)
    assert len(d["layers"]) == 3 and d["t_in"].shape == (20,)
    for L, n in zip(d["layers"], cfg.sizes[1:]):
        assert L["times"].shape == (n,) and L["v_trace"].shape == (64, min(5, n))
        for k, j in enumerate(L["neurons"]):
            if L["times"][j] < 64:
                assert L["v_trace"][L["times"][j], k] >= L["thr"]


def test_cli_smoke(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "snnviz", "train", "--algorithm", "stidi-bp",
                        "--dataset", "mnist-mini", "--train-size", "200", "--test-size", "100",
                        "--epochs", "1", "--set", "hidden=40", "--out", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "result.json").read_text())
    assert res["status"] == "ok" and res["algorithm"] == "stidi-bp"
    assert res["train_size"] == 200 and res["test_size"] == 100 and res["epochs_run"] == 1
    assert 0.0 <= res["test_accuracy"] <= 1.0 and res["config"]["algo"]["hidden"] == [40]
