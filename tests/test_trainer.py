"""Trainer: event order, determinism, exact resume, NaN and dead-network handling."""

import dataclasses
import io

import numpy as np
import pytest
import torch

from snnviz import EventBus, make_run_config, make_trainer
from snnviz.data import load_dataset, split_dataset
from snnviz.training.events import Alert, BatchEnd, EpochEnd, EvalEnd, RunEnd, RunStart


@pytest.fixture(scope="module")
def splits():
    return split_dataset(load_dataset("mnist-mini"), val_size=100, train_size=300,
                         test_size=100)


def cfg_for(algorithm="s4nn", **kw):
    base = dict(epochs=2, online_chunk=50, every=3)
    base.update(kw)
    return make_run_config(algorithm, "mnist-mini", **base)


def test_event_order_and_counts(splits):
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append)
    events = list(make_trainer(cfg_for(), splits, bus=bus).steps())
    assert events == seen
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStart" and kinds[-1] == "RunEnd" and kinds[-2] == "EvalEnd"
    per_epoch = ["BatchEnd"] * 6 + ["EvalEnd", "EpochEnd"]
    assert kinds[1:-2] == per_epoch * 2
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert [b.step for b in batches] == list(range(12))
    assert [b.probe is not None for b in batches] == [s % 3 == 0 for s in range(12)]
    probe = batches[0].probe
    assert probe.layers[0].v_trace.shape == (256, 32) and probe.layers[1].times.shape == (10,)
    run_end = events[-1]
    assert run_end.status == "ok" and 0 <= run_end.summary["test_accuracy"] <= 1
    assert isinstance(events[-2], EvalEnd) and events[-2].split == "test"
    assert events[-2].confusion.sum() == 100


def test_events_are_plain_data(splits):
    for ev in make_trainer(cfg_for(epochs=1), splits).steps():
        for f in dataclasses.fields(ev):
            v = getattr(ev, f.name)
            assert not isinstance(v, torch.Tensor), f.name


def _final(cfg, splits):
    t = make_trainer(cfg, splits)
    events = list(t.steps())
    return t, events


def test_same_seed_same_result_other_seed_differs(splits):
    a, ea = _final(cfg_for(), splits)
    b, eb = _final(cfg_for(), splits)
    c, ec = _final(dataclasses.replace(cfg_for(), seed=1), splits)
    def strip(h):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in h]

    assert strip(ea[-1].summary["history"]) == strip(eb[-1].summary["history"])
    assert ea[-1].summary["test_accuracy"] == eb[-1].summary["test_accuracy"]
    assert all(torch.equal(x, y) for x, y in zip(a.params.w, b.params.w))
    assert not all(torch.equal(x, y) for x, y in zip(a.params.w, c.params.w))


@pytest.mark.parametrize("algorithm,batch", [("s4nn", 1), ("bs4nn", 1), ("s4nn", 16)])
def test_resume_mid_epoch_is_exact(splits, algorithm, batch):
    cfg = cfg_for(algorithm, batch_size=batch, order="replacement")
    ref, _ = _final(cfg, splits)
    t = make_trainer(cfg, splits)
    gen = t.steps()
    for ev in gen:                        # stop in the middle of epoch 2
        if isinstance(ev, BatchEnd) and ev.epoch == 1 and ev.seen >= 100:
            break
    state = t.state_dict()
    resumed = make_trainer(cfg, splits, state=state)
    events = list(resumed.steps())
    assert isinstance(events[0], RunStart) and events[0].start_epoch == 1
    assert all(torch.equal(x, y) for x, y in zip(ref.params.w, resumed.params.w))
    assert torch.equal(ref.params.alpha, resumed.params.alpha)
    assert [h["val_accuracy"] for h in ref.history] == [h["val_accuracy"] for h in
                                                         resumed.history]


def test_nan_is_reported_and_last_weights_kept(splits):
    t = make_trainer(cfg_for(), splits)
    bad = t.params._replace(w=(t.params.w[0], t.params.w[1] * float("nan")))
    t.params = bad
    good_before = [w.clone() for w in t.params.w]
    events = list(t.steps())
    alert = next(e for e in events if isinstance(e, Alert))
    assert alert.kind == "nan" and "NaN" in alert.message
    assert isinstance(events[-1], RunEnd) and events[-1].status == "nan"
    assert all(torch.equal(a, b) or torch.isnan(a).any() for a, b in zip(t.params.w, good_before))


def test_inf_learning_rate_is_rejected_before_training():
    with pytest.raises(ValueError, match="finite"):
        make_run_config("s4nn", overrides={"lr_out": "inf"})


def test_dead_network_is_reported(splits):
    cfg = cfg_for(overrides={"thr_out": 1e6})
    events = list(make_trainer(cfg, splits).steps())
    alert = next(e for e in events if isinstance(e, Alert))
    assert alert.kind == "dead" and "no output neuron fired" in alert.message
    assert events[-1].status == "dead"
    assert not any(isinstance(e, EpochEnd) for e in events)


def test_model_selection_uses_validation_only(splits):
    t, events = _final(cfg_for(epochs=3), splits)
    vals = [e.accuracy for e in events if isinstance(e, EvalEnd) and e.split == "val"]
    tests = [e for e in events if isinstance(e, EvalEnd) and e.split == "test"]
    assert len(vals) == 3 and len(tests) == 1                 # test evaluated once
    assert t.best_epoch == int(np.argmax(vals))
    assert events[-1].summary["val_accuracy"] == max(vals)


def test_lr_decay_changes_later_epochs_only(splits):
    base, _ = _final(cfg_for(epochs=1), splits)
    decayed, _ = _final(cfg_for(epochs=1, lr_decay=0.5), splits)
    assert all(torch.equal(a, b) for a, b in zip(base.params.w, decayed.params.w))
    base2, _ = _final(cfg_for(epochs=2), splits)
    decayed2, _ = _final(cfg_for(epochs=2, lr_decay=0.5), splits)
    assert not all(torch.equal(a, b) for a, b in zip(base2.params.w, decayed2.params.w))


# ---------------------------------------------------------------- requests from proxy work

@pytest.fixture(scope="module")
def small():
    return split_dataset(load_dataset("fashion-mnist-mini"), val_size=20, train_size=60,
                         test_size=20)


def _tiny_proxy(**kw):
    over = {"layers": "c4,p,f8", "thr": 0.5, "lr": 0.01, "bn_train_epochs": 2,
            "twin_samples": 2, "t_max": 6}
    over.update(kw.pop("overrides", {}))
    base = dict(epochs=2, batch_size=20, every=1000, overrides=over)
    base.update(kw)
    return make_run_config("proxy", "fashion-mnist-mini", **base)


def _leaves(params):
    return [x for v in params for x in (v if isinstance(v, tuple) else (v,))]


def _roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)                              # as a checkpoint file, weights-only
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("algorithm", ["proxy", "s4nn"])
def test_checkpoint_at_every_event_boundary_resumes_exactly(small, algorithm):
    """A state taken after any event (EvalEnd included: end_epoch already applied, the epoch
    counter not yet advanced in older versions) resumes to the uninterrupted run. Proxy's
    end_epoch counts epochs (its BN schedule), so applying it twice would change training;
    S4NN resets dead neurons at every epoch end here."""
    if algorithm == "proxy":
        cfg = _tiny_proxy()
    else:
        cfg = make_run_config("s4nn", "fashion-mnist-mini", epochs=2, batch_size=20,
                              every=1000, overrides={"hidden": (20,), "dead_reset": 0.5,
                                         "init_hidden": 0.5})
    ref = make_trainer(cfg, small)
    ref_events = list(ref.steps())
    kinds = {type(e).__name__ for e in ref_events}
    assert {"BatchEnd", "EvalEnd", "EpochEnd"} <= kinds
    t = make_trainer(cfg, small)
    states = []
    for ev in t.steps():
        if not isinstance(ev, RunEnd):
            states.append((type(ev).__name__, _roundtrip(t.state_dict())))

    def strip(h):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in h]

    for kind, st in states:
        r = make_trainer(cfg, small, state=st)
        events = list(r.steps())
        assert events[-1].status == "ok", kind
        for a, b in zip(_leaves(ref.params), _leaves(r.params), strict=True):
            assert torch.equal(a, b), kind
        for a, b in zip(_leaves(ref.best_params), _leaves(r.best_params), strict=True):
            assert torch.equal(a, b), kind
        assert strip(r.history) == strip(ref.history), kind
        assert events[-1].summary["test_accuracy"] == ref_events[-1].summary["test_accuracy"]
    if algorithm == "s4nn":
        assert sum(h["neurons_reset"] for h in ref.history) > 0   # resets really happened


def test_dead_network_stop_opt_out_and_eval_extra(small):
    """Proxy's config opts out of the dead-network stop (DEAD_NETWORK_STOP = False): a run
    whose output never spikes finishes; its evaluations carry SNN accuracy vs time steps."""
    cfg = _tiny_proxy(epochs=1, overrides={"thr": 1e6})
    events = list(make_trainer(cfg, small).steps())
    assert not any(isinstance(e, Alert) for e in events)
    assert events[-1].status == "ok"
    evals = [e for e in events if isinstance(e, EvalEnd)]
    assert [e.split for e in evals] == ["val", "test"]
    for e in evals:
        assert e.no_spike_rate == 1.0
        assert e.extra["acc_vs_t"].shape == (cfg.algo.t_max,)
        assert 0.0 <= e.extra["ann_accuracy"] <= 1.0
    summary = events[-1].summary
    assert summary["test_extra"]["acc_vs_t"] == evals[-1].extra["acc_vs_t"].tolist()
    assert summary["history"][0]["val_extra"]["ann_accuracy"] == evals[0].extra["ann_accuracy"]
    # algorithms without the hook: an empty dict; the TTFS default still stops dead networks
    s4 = [e for e in make_trainer(cfg_for(epochs=1), small).steps() if isinstance(e, EvalEnd)]
    assert all(e.extra == {} for e in s4)


def test_default_batch_size_per_algorithm():
    assert make_run_config("proxy").train.batch_size == 100
    assert make_run_config("proxy", batch_size=7).train.batch_size == 7
    assert make_run_config("proxy", overrides={"batch_size": "5"}).train.batch_size == 5
    for name in ("s4nn", "bs4nn", "stidi-bp"):
        assert make_run_config(name).train.batch_size == 1


def test_interrupt_during_validation_resumes_exactly(small):
    """Ctrl-C while the epoch's validation pass runs (end_epoch already computed): the state
    saved then is the epoch's end before end_epoch, so the resumed run applies it once."""
    cfg = _tiny_proxy()
    ref = make_trainer(cfg, small)
    list(ref.steps())
    t = make_trainer(cfg, small)
    real = t.evaluate

    def interrupted(params, split):
        if split == "val":
            raise KeyboardInterrupt
        return real(params, split)

    t.evaluate = interrupted
    with pytest.raises(KeyboardInterrupt):
        list(t.steps())
    state = _roundtrip(t.state_dict())
    assert state["epoch"] == 0 and state["pos"] == len(t.y_train)   # epoch 1 trained
    r = make_trainer(cfg, small, state=state)
    assert list(r.steps())[-1].status == "ok"
    assert all(torch.equal(a, b) for a, b in zip(_leaves(ref.params), _leaves(r.params),
                                                  strict=True))
