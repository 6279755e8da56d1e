"""Explicit random-number generators: no global seeding anywhere in snnviz.

Every random draw takes a ``torch.Generator``. Generators for independent purposes are
derived from the run seed and a tag (and an epoch), so a run resumed at any epoch draws
exactly what an uninterrupted run would have drawn.
"""

from __future__ import annotations

import hashlib

import torch


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return g


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``tags`` (stable across runs)."""
    text = "/".join([str(int(seed)), *map(str, tags)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def derive(seed: int, *tags: object) -> torch.Generator:
    """A generator for one purpose, e.g. ``derive(seed, "order", epoch)``."""
    return make_generator(derive_seed(seed, *tags))
