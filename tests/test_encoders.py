"""Latency and rate coding (spec 5.1)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnviz.encoders.latency import latency_bs4nn, latency_s4nn, latency_to_raster, rate_encode


def test_endpoints_and_hand_values():
    p = np.array([[255, 254, 128, 1, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(latency_s4nn(p, 256), [[0, 1, 127, 254, 256]])
    np.testing.assert_array_equal(latency_bs4nn(p, 256), [[0, 1, 127, 254, 255]])


def test_shapes_and_dtype():
    x = np.zeros((3, 1, 28, 28), np.uint8)
    t = latency_s4nn(x)
    assert t.shape == (3, 784) and t.dtype == np.int32 and (t == 256).all()
    with pytest.raises(TypeError, match="uint8"):
        latency_s4nn(x.astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=2, max_size=50), st.integers(4, 1024))
def test_monotone_and_in_range(pixels, t_max):
    p = np.sort(np.array(pixels, dtype=np.uint8))[None]
    for fn, top in ((latency_s4nn, t_max), (latency_bs4nn, t_max - 1)):
        t = fn(p, t_max)[0]
        assert (np.diff(t) <= 0).all()                 # brighter -> earlier
        assert t.min() >= 0 and t.max() <= top
        assert (t[p[0] == 255] == 0).all() and (t[p[0] == 0] == top).all()


def test_raster_roundtrip():
    t = np.array([0, 3, 8, 3])
    r = latency_to_raster(t, 8)
    assert r.shape == (8, 4) and r.sum() == 3 and r[3, 1] and r[3, 3] and not r[:, 2].any()


def test_rate_encode_reproducible_and_rates():
    x = torch.tensor([[0.0, 0.25, 1.0]])
    a = rate_encode(x, 4000, torch.Generator().manual_seed(0))
    b = rate_encode(x, 4000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (4000, 1, 3)
    np.testing.assert_allclose(a.mean(0)[0].numpy(), [0, 0.25, 1], atol=0.03)
    with pytest.raises(ValueError):
        rate_encode(x * 2, 4, torch.Generator())
