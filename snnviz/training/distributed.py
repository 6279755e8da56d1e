"""Data-parallel training on ``torch.distributed`` (launched with ``torchrun``).

Every rank holds the full weights and runs the same trainer with the same seed, so all
ranks draw the same data order. Each global batch of ``B`` samples is split across the
``N`` ranks (rank ``r`` takes samples ``r, r + N, ...``); each rank computes the explicit
gradients of its shard (the hand-written TTFS gradients and autograd ones alike), and

    g = (1 / B) * sum_r  n_r * g_r          (all_reduce SUM of n_r * g_r)

is exactly the gradient of the whole batch, so every rank applies the same update and the
run matches a single process with batch ``B`` (to float rounding). Running tallies (loss,
correct, silent, fire counts) are summed the same way. Only rank 0 writes files.

Backends: gloo on CPU, nccl on CUDA. A rank that dies makes the collectives of the others
fail (or time out after ``SNNVIZ_DIST_TIMEOUT`` seconds, default 120), which stops the run
with a clear message instead of a hang.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int
    world: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str = "cpu") -> DistContext | None:
    """Join the process group described by torchrun's environment, if any.

    Returns None for a plain single-process run.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    backend = "nccl" if device == "cuda" else "gloo"
    if not dist.is_initialized():
        timeout = timedelta(seconds=float(os.environ.get("SNNVIZ_DIST_TIMEOUT", "120")))
        dist.init_process_group(backend, timeout=timeout)
    return DistContext(dist.get_rank(), dist.get_world_size(), backend)


def shard(idx: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's part of a global batch of sample indices."""
    return idx[ctx.rank:: ctx.world]


def _tensors(x):
    return x if isinstance(x, tuple) else (x,)


def make_reduce(ctx: DistContext, total: int):
    """A ``reduce(grads, n_local)`` for ``train_step``: the whole-batch mean gradient."""

    def reduce(grads, n_local: int):
        out = {}
        for name, value in grads._asdict().items():
            parts = []
            for g in _tensors(value):
                buf = g.detach().to(torch.float64) * n_local
                dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                parts.append((buf / total).to(g.dtype))
            out[name] = tuple(parts) if isinstance(value, tuple) else parts[0]
        return type(grads)(**out)

    return reduce


def sum_arrays(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Element-wise sum of numpy arrays over all ranks (float64 on the wire)."""
    if not arrays:
        return arrays
    flat = torch.from_numpy(np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays]))
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    out, k = [], 0
    for a in arrays:
        n = np.asarray(a).size
        out.append(flat[k: k + n].numpy().reshape(np.shape(a)))
        k += n
    return out


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
