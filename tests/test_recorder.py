"""Recorder: bounded numpy ring buffers, snapshots of plain data, the event queue."""

import dataclasses
import threading

import numpy as np
import pytest
import torch

from snnviz.algorithms._common import sign_flips
from snnviz.config import RecordSpec
from snnviz.record import EventQueue, FlipCounter, Recorder, Ring, Snapshot, weight_view
from snnviz.training.events import (
    Alert,
    BatchEnd,
    EpochEnd,
    EvalEnd,
    Probe,
    ProbeLayer,
    RunEnd,
    RunStart,
)


def run_start(layers=(16, 5, 3)) -> RunStart:
    return RunStart("bs4nn", "synthetic", {"algo": {"t_max": 8}, "train": {"epochs": 2}},
                    layers, ("a", "b", "c"), 100, 10, 10, 0)


def probe(step: int) -> Probe:
    layer = ProbeLayer(np.array([3, 8, 1]), np.array([2, 0]), np.zeros((8, 2)), 1.0)
    return Probe(step, 1, np.arange(16) % 9, (layer,), 8)


def batch(step: int, flips=(4, 1), with_probe=False) -> BatchEnd:
    return BatchEnd(step, step // 10, 10, 10 * (step % 10 + 1), 100, 1.0 / (step + 1),
                    0.5, 0.25, 0.1, flips, 1000.0 + step, probe(step) if with_probe else None)


def evaluation(epoch: int, split="val") -> EvalEnd:
    return EvalEnd(split, epoch, 10, 0.7, {"honest": 0.7}, 0.1, 0.0,
                   np.eye(3, 4, dtype=np.int64), (np.ones(9, np.int64), np.ones(9, np.int64)))


def test_ring_keeps_the_last_rows_in_order():
    ring = Ring(4, (2,), np.int64)
    for i in range(11):
        ring.append((i, -i))
    assert len(ring) == 4 and ring.count == 11
    np.testing.assert_array_equal(ring.values()[:, 0], [7, 8, 9, 10])
    with pytest.raises(ValueError):
        Ring(0)


def test_recorder_is_bounded_and_holds_numpy_only():
    rec = Recorder(RecordSpec(history=50))
    rec(run_start())
    rec(batch(0))
    size = rec.nbytes
    for step in range(1, 5000):
        rec(batch(step, with_probe=step % 100 == 0))
        if step % 10 == 9:
            rec(evaluation(step // 10))
            rec(EpochEnd(step // 10, 0.5, 0.6, 0.7, 1.0, 0, 0, True))
    assert rec.nbytes == size                    # no growth over the run
    snap = rec.snapshot()
    assert isinstance(snap, Snapshot)
    np.testing.assert_array_equal(snap.step, np.arange(4950, 5000))
    assert snap.sign_flips.shape == (50, 2) and snap.sign_flips.dtype == np.int64
    for f in dataclasses.fields(snap):
        v = getattr(snap, f.name)
        assert not isinstance(v, (list, torch.Tensor)), f.name
        if isinstance(v, np.ndarray):
            assert v.dtype != object, f.name
    assert len(snap.epoch_index) == 500 and snap.val_accuracy[-1] == pytest.approx(0.7)
    assert snap.probe.sample_index == 4900 and snap.probe_version == 49
    assert snap.val.epoch == 499 and snap.status == "running"
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.status = "x"


def test_recorder_run_lifecycle_and_alerts():
    rec = Recorder(RecordSpec(history=10))
    assert rec.snapshot().status == "empty" and rec.snapshot().run is None
    rec(run_start())
    rec(batch(0, flips=()))
    rec(Alert("dead", "no output spikes", 0, 1))
    rec(evaluation(0, "test"))
    rec(RunEnd("dead", {"test_accuracy": 0.1}))
    snap = rec.snapshot()
    assert snap.sign_flips.shape == (1, 0)       # real-valued weights: no flip columns
    assert snap.status == "dead" and snap.alerts[0].kind == "dead"
    assert snap.test is not None and snap.val is None and snap.summary["test_accuracy"] == 0.1
    rec(run_start())                             # a new run starts from scratch
    snap = rec.snapshot()
    assert snap.step.size == 0 and snap.alerts == () and snap.status == "running"
    assert snap.version > 0


def test_recorder_accepts_concurrent_writer_and_readers():
    rec = Recorder(RecordSpec(history=100))
    rec(run_start())

    def write():
        for step in range(3000):
            rec(batch(step))

    t = threading.Thread(target=write)
    t.start()
    while t.is_alive():
        snap = rec.snapshot()
        assert len(snap.step) == len(snap.loss) == len(snap.sign_flips)
    t.join()
    assert rec.snapshot().step[-1] == 2999


def test_event_queue_never_blocks_and_drops_oldest_batches_first():
    q = EventQueue(maxsize=5)
    q.put(run_start())
    for step in range(20):
        q.put(batch(step))
    q.put(RunEnd("ok", {}))
    items = []
    while (item := q.get()) is not None:
        items.append(item)
    assert len(items) == 5 and q.dropped == 17
    assert isinstance(items[0], RunStart) and isinstance(items[-1], RunEnd)
    assert [b.step for b in items[1:-1]] == [17, 18, 19]


def test_flip_counter_matches_a_direct_recount():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 7, generator=gen)
    w[0, 0] = 0.0                                # sign(0) counts as +1
    counter = FlipCounter()
    counter.observe(w)
    total = 0
    for _ in range(5):
        new = w + 0.8 * torch.randn(6, 7, generator=gen)
        total += sign_flips(w, new)
        counter.observe(new)
        w = new
    assert counter.counts.dtype == np.int32 and int(counter.counts.sum()) == total


def test_weight_view_copies_one_layer():
    w = (torch.ones(3, 4), -torch.ones(2, 3))

    class P:
        pass

    params = P()
    params.w = w
    counter = FlipCounter()
    counter.observe(w[0])
    view = weight_view(params, 0, (2, 2), step=7, flips=counter)
    assert view.w.shape == (3, 4) and view.flips.shape == (3, 4) and view.step == 7
    view.w[0, 0] = 5.0
    assert float(w[0][0, 0]) == 1.0              # a copy, not a view of the weights
    assert weight_view(params, 1, (2, 2), 0).flips is None
    assert weight_view(object(), 0, (2, 2), 0) is None


def test_step_extras_keep_a_history_aligned_with_the_steps():
    from snnviz.record import Derived
    rec = Recorder(RecordSpec(history=10))
    rec(run_start())
    for step in range(25):
        extra = {"disp_mean": np.array([step, -step]), "label": "x", "big": np.zeros(100),
                 "tuple": (np.zeros(2),)}
        if step >= 20:
            extra["late"] = float(step)
        if step % 2:
            del extra["disp_mean"]
        rec(dataclasses.replace(batch(step), extra=extra))
    snap = rec.snapshot()
    assert set(snap.step_extra) == {"disp_mean", "late"}
    d = snap.step_extra["disp_mean"]
    assert d.shape == (10, 2) and len(snap.step) == 10
    np.testing.assert_array_equal(d[1::2, 0], [16, 18, 20, 22, 24])    # steps 15..24: even ones
    assert np.isnan(d[::2]).all()
    late = snap.step_extra["late"]
    assert np.isnan(late[:5]).all() and list(late[5:]) == [20, 21, 22, 23, 24]
    assert snap.last.extra["label"] == "x"
    v = snap.eval_version
    rec(Derived("curve", np.arange(3)))
    snap = rec.snapshot()
    assert snap.eval_version == v + 1 and list(snap.derived["curve"]) == [0, 1, 2]
    rec(run_start())
    assert rec.snapshot().step_extra == {} and rec.snapshot().derived == {}
