"""IF neuron: hand-worked spike times (spec 5.2, 5.5) and fast path == time-stepped oracle."""

import numpy as np
import pytest
import torch

from snnviz.neurons.if_neuron import (
    first_spike_times,
    first_spike_times_naive,
    integrate,
    membrane_trace,
)


def one(times, weights, thr=100.0, t_max=256, **kw):
    """Spike time of one neuron with inputs at ``times`` weighted by ``weights``."""
    t = torch.tensor([times], dtype=torch.int32)
    w = torch.tensor([weights], dtype=torch.float64)
    fast = first_spike_times(t, w, thr, t_max, **kw)
    slow = first_spike_times_naive(t, w, thr, t_max, **kw)
    assert fast.times[0, 0] == slow.times[0, 0]
    return int(fast.times[0, 0])


# spec 5.2: (input times, weights, code t_j, paper-form t_j)
HAND = [
    ((2, 5, 7), (40, 35, 30), 8, 7),
    ((1, 3, 4), (50, 50, 10), 5, 3),
    ((4, 4, 9), (60, 45, -200), 5, 4),
    ((1, 2, 3), (80, -30, 60), 4, 3),
    ((2, 5, 7), (10, 20, 30), 256, 256),
    ((256, 10), (500, 50), 256, 256),
]


@pytest.mark.parametrize("times,weights,code,paper", HAND)
def test_hand_worked_spike_times(times, weights, code, paper):
    assert one(times, weights) == code                                   # strict ">", +1
    assert one(times, weights, strict=False, delay=0) == paper           # ">=", no delay


def test_own_cases():
    # Crossing exactly at the last step gives t_max: indistinguishable from silence.
    assert one((255,), (101,)) == 256
    assert one((254,), (101,)) == 255
    # Potential dips below threshold after crossing: the first crossing counts.
    assert one((1, 2), (150, -100)) == 2
    # Negative first, then recovery above threshold.
    assert one((0, 3, 3), (-50, 100, 51)) == 4
    # No inputs at all.
    assert one((256, 256), (1000, 1000)) == 256
    # Equality is not enough under the strict rule, enough under ">=".
    assert one((0, 1), (50, 50)) == 256
    assert one((0, 1), (50, 50), strict=False) == 2


def test_bs4nn_hand_examples():
    # spec 5.5: alpha = 40 -> count threshold 2.5; signs (+,-,+,+,+)
    t = (0, 1, 1, 3, 5)
    w = (0.3, -2.0, 0.7, 1.1, 0.01)
    assert one(t, w, thr=100 / 40, binary=True) == 6
    assert one(t, w, thr=100 / 40, binary=True, strict=False, delay=0) == 5
    ramp = tuple(range(25))
    assert one(ramp, (1.0,) * 25, thr=100 / 5, binary=True) == 21
    assert one(ramp, (1.0,) * 25, thr=100 / 4, binary=True) == 256
    # sign(0) = +1
    assert one((0, 0, 0), (0.0, 0.0, 0.0), thr=2.5, binary=True) == 1


def random_case(gen, binary):
    B = int(torch.randint(1, 6, (1,), generator=gen))
    n_in = int(torch.randint(1, 40, (1,), generator=gen))
    n_out = int(torch.randint(1, 12, (1,), generator=gen))
    t_max = int(torch.randint(4, 40, (1,), generator=gen))
    # Few distinct times -> many simultaneous inputs and ties between outputs.
    t = torch.randint(0, t_max + 1, (B, n_in), generator=gen) // int(
        torch.randint(1, 4, (1,), generator=gen)) * 1
    t = t.clamp(max=t_max).to(torch.int32)
    w = torch.randint(-24, 40, (n_out, n_in), generator=gen).double() / 8   # dyadic: exact sums
    thr = float(torch.randint(1, 30, (1,), generator=gen)) / (4 if binary else 1)
    return t, w, thr, t_max


@pytest.mark.parametrize("binary", [False, True])
def test_fast_equals_oracle_random(binary):
    gen = torch.Generator().manual_seed(7 + binary)
    n_silent = n_ties = 0
    for _ in range(150):
        t, w, thr, t_max = random_case(gen, binary)
        for strict, delay in ((True, 1), (False, 0), (True, 0), (False, 1)):
            kw = dict(strict=strict, delay=delay, binary=binary, late_step=t_max - 3)
            a = first_spike_times(t, w, thr, t_max, **kw)
            b = first_spike_times_naive(t, w, thr, t_max, **kw)
            np.testing.assert_array_equal(a.times, b.times)
            np.testing.assert_array_equal(a.v_fire, b.v_fire)
            np.testing.assert_array_equal(a.v_late, b.v_late)
        n_silent += int((a.times == t_max).sum())
        first = a.times.min(axis=1, keepdims=True)
        n_ties += int(((a.times == first).sum(axis=1) > 1).sum())
    assert n_silent > 50 and n_ties > 20          # the cases really exercise both


def test_float32_and_float64_agree_on_real_data_scale():
    gen = torch.Generator().manual_seed(3)
    t = torch.randint(0, 257, (64, 784), generator=gen).to(torch.int32)
    w = torch.rand(50, 784, generator=gen, dtype=torch.float64) * 0.5
    a = first_spike_times(t, w, 100.0, 256)
    b = first_spike_times_naive(t, w, 100.0, 256)
    assert (a.times == b.times).mean() > 0.999


def test_membrane_trace_matches_spike_time():
    gen = torch.Generator().manual_seed(5)
    t = torch.randint(0, 30, (20,), generator=gen).to(torch.int32)
    w = torch.randint(-8, 40, (6, 20), generator=gen).double()
    trace = membrane_trace(t, w, 32)                                     # [32, 6]
    times = first_spike_times(t[None], w, 60.0, 32).times[0]
    for j in range(6):
        above = np.nonzero(trace[:, j] > 60.0)[0]
        expected = above[0] + 1 if len(above) and above[0] + 1 < 32 else 32
        assert times[j] == expected
    assert integrate(t[None], w, 32).shape == (32, 1, 6)


def test_shape_error():
    with pytest.raises(ValueError, match="expected"):
        first_spike_times(torch.zeros(2, 3, dtype=torch.int32), torch.zeros(4, 5), 1.0, 8)
