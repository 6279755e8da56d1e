"""A hand-drawn digit as a dataset image (pure numpy/torch, no UI).

The dashboard's canvas sends a 28x28 grid of ink values (0..255, row-major). MNIST digits are
centred by their centre of mass in a 28x28 frame with the digit scaled into a 20x20 box, so
:func:`mnist_style` does the same to a drawing before :func:`fit_to_shape` resizes it to the
dataset's input shape ``(C, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CANVAS_SIZE", "canvas_to_image", "mnist_style", "fit_to_shape", "drawing_input"]

CANVAS_SIZE = 28


def canvas_to_image(values: Sequence[Any] | np.ndarray, size: int = CANVAS_SIZE) -> np.ndarray:
    """``size * size`` ink values (numbers in 0..255, row-major) -> uint8 ``[size, size]``.

    Raises:
        ValueError: wrong number of values, or values that are not finite numbers.
    """
    try:
        a = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError("the drawing must be a list of numbers") from None
    if a.size != size * size:
        raise ValueError(f"the drawing has {a.size} values, expected {size * size}")
    if not np.isfinite(a).all():
        raise ValueError("the drawing contains values that are not numbers")
    return np.clip(np.rint(a), 0, 255).astype(np.uint8).reshape(size, size)


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    t = torch.from_numpy(np.asarray(img, dtype=np.float32))[None, None]
    if t.shape[-2] >= h and t.shape[-1] >= w:
        out = F.interpolate(t, size=(h, w), mode="area")
    else:
        out = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
    return out[0, 0].numpy()


def mnist_style(img: np.ndarray, box: int = 20, size: int = 28) -> np.ndarray:
    """Scale the drawn strokes into a ``box`` square (aspect kept) and centre their centre of
    mass in a ``size`` frame, as MNIST was prepared. An empty drawing stays empty."""
    a = np.asarray(img, dtype=np.float64)
    ys, xs = np.nonzero(a > 0)
    out = np.zeros((size, size))
    if ys.size == 0:
        return out.astype(np.uint8)
    crop = a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    f = box / max(h, w)
    nh, nw = max(1, round(h * f)), max(1, round(w * f))
    small = _resize(crop, nh, nw)
    small *= a.max() / max(small.max(), 1e-9)           # keep the ink's full intensity
    total = small.sum()
    cy = (small.sum(axis=1) * np.arange(nh)).sum() / total
    cx = (small.sum(axis=0) * np.arange(nw)).sum() / total
    top = int(np.clip(round(size / 2 - cy - 0.5), 0, size - nh))
    left = int(np.clip(round(size / 2 - cx - 0.5), 0, size - nw))
    out[top: top + nh, left: left + nw] = small
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def fit_to_shape(img: np.ndarray, in_shape: Sequence[int]) -> np.ndarray:
    """A 2-D uint8 image resized to ``in_shape`` (``(H, W)`` or ``(C, H, W)``; channels get
    the same grey values), uint8."""
    shape = tuple(int(s) for s in in_shape)
    h, w = shape[-2:]
    a = np.asarray(img, dtype=np.float64)
    if a.shape != (h, w):
        a = _resize(a, h, w)
    a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if len(shape) == 3:
        a = np.broadcast_to(a, shape).copy()
    return a.reshape(shape)


def drawing_input(values: Sequence[Any] | np.ndarray, in_shape: Sequence[int],
                  center: bool = True) -> np.ndarray:
    """Canvas values -> the network's uint8 input image (``center``: MNIST-style)."""
    img = canvas_to_image(values)
    if center:
        img = mnist_style(img)
    return fit_to_shape(img, in_shape)
