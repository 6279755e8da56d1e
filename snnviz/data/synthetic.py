"""A tiny deterministic image data set made in code, for fast tests and demos.

Class ``c`` (0..9) is a bright Gaussian blob placed at angle ``36 * c`` degrees on a ring around
the image centre, jittered by up to one pixel, with a random brightness, on a noisy background.
The classes are easy to learn but not trivially separable by a single pixel.
"""

from __future__ import annotations

import numpy as np

from snnviz.data.images import DatasetError, ImageDataset

N_CLASSES = 10


def _centres(size: int) -> np.ndarray:
    """Blob centres ``[10, 2]`` (row, column) on a ring of radius ``0.3 * size``."""
    angle = 2 * np.pi * np.arange(N_CLASSES) / N_CLASSES
    mid, radius = (size - 1) / 2, 0.3 * size
    return np.stack([mid - radius * np.cos(angle), mid + radius * np.sin(angle)], axis=1)


def _draw(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``[n, 1, size, size]`` uint8 with (almost) balanced int64 labels."""
    labels = rng.permutation(np.arange(n) % N_CLASSES).astype(np.int64)
    centres = _centres(size)[labels] + rng.uniform(-1.0, 1.0, size=(n, 2))
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    dr = rows[None] - centres[:, 0, None, None]
    dc = cols[None] - centres[:, 1, None, None]
    d2 = dr**2 + dc**2
    sigma = size / 14.0
    brightness = rng.uniform(160.0, 255.0, size=(n, 1, 1))
    noise = rng.uniform(0.0, 40.0, size=(n, size, size))
    images = brightness * np.exp(-d2 / (2 * sigma**2)) + noise
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)[:, None], labels


def make_synthetic(
    n_train: int = 200, n_test: int = 50, seed: int = 0, size: int = 28
) -> ImageDataset:
    """A 10-class blob data set, identical for identical arguments.

    Args:
        n_train: Number of training images (classes balanced up to one image).
        n_test: Number of test images.
        seed: Seed of the ``numpy.random.default_rng`` that draws everything.
        size: Image height and width in pixels (at least 8).

    Raises:
        DatasetError: Negative counts or a size under 8.
    """
    if n_train < 0 or n_test < 0:
        raise DatasetError(f"make_synthetic: n_train={n_train}, n_test={n_test} must be >= 0")
    if size < 8:
        raise DatasetError(f"make_synthetic: size={size} is too small; use 8 or more")
    rng = np.random.default_rng(seed)
    train_x, train_y = _draw(rng, n_train, size)
    test_x, test_y = _draw(rng, n_test, size)
    return ImageDataset(
        name="synthetic",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        classes=tuple(f"blob {c}" for c in range(N_CLASSES)),
        source=f"synthetic blobs made in code (seed={seed}, size={size})",
    )
