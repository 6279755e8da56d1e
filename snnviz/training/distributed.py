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
    if backend == "nccl":                   # one GPU per process: "cuda" = this rank's GPU
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ValueError(f"process with LOCAL_RANK={local} has no GPU of its own (this "
                             f"node has {torch.cuda.device_count()}): start at most that many "
                             "processes per node (--nproc-per-node)")
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        timeout = timedelta(seconds=float(os.environ.get("SNNVIZ_DIST_TIMEOUT", "120")))
        dist.init_process_group(backend, timeout=timeout)
    return DistContext(dist.get_rank(), dist.get_world_size(), backend)


def _wire() -> torch.device:
    """Where collective buffers live: nccl reduces GPU tensors only, gloo CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def shard(idx: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's part of a global batch of sample indices."""
    return idx[ctx.rank:: ctx.world]


def _tensors(x):
    return x if isinstance(x, tuple) else (x,)


class Reduce:
    """The ``reduce`` an algorithm's ``train_step`` receives in a data-parallel run.

    ``reduce(grads, n_local)`` turns this rank's mean gradient over its ``n_local`` samples
    into the mean gradient of the whole batch of ``total`` samples (one ``all_reduce`` of a
    float64 buffer). Algorithms whose step mixes samples (batch norm, random draws per
    batch) also use :attr:`rank`, :attr:`world`, :attr:`total`, :meth:`rows` and
    :meth:`sum` to make their shard compute exactly its part of the whole-batch step.
    """

    def __init__(self, ctx: DistContext, total: int) -> None:
        self.rank, self.world, self.total = ctx.rank, ctx.world, int(total)

    def rows(self) -> slice:
        """This rank's rows of a quantity drawn for the whole batch (see :func:`shard`)."""
        return slice(self.rank, None, self.world)

    def __call__(self, grads, n_local: int):
        fields = grads._asdict()
        flat = [g for value in fields.values() for g in _tensors(value)]
        buf = self.sum_exact([g.detach().to(torch.float64) * n_local for g in flat])
        out, k = {}, 0
        for name, value in fields.items():
            parts = [(buf[k + i] / self.total).to(g.dtype).to(g.device)
                     for i, g in enumerate(_tensors(value))]
            k += len(parts)
            out[name] = tuple(parts) if isinstance(value, tuple) else parts[0]
        return type(grads)(**out)

    def sum_exact(self, tensors: list[torch.Tensor], wire: torch.dtype = torch.float64
                  ) -> list[torch.Tensor]:
        """Element-wise sums over all ranks of a list of tensors (one collective, summed in
        ``wire`` precision, float64 by default); returned in ``wire`` precision with the
        same shapes, on the same devices."""
        if not tensors:
            return []
        dev = _wire()
        flat = torch.cat([t.detach().to(dev, wire).reshape(-1) for t in tensors])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        out, k = [], 0
        for t in tensors:
            out.append(flat[k: k + t.numel()].reshape(t.shape).to(t.device))
            k += t.numel()
        return out

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """Differentiable element-wise sum over all ranks (its backward sums the incoming
        gradients of every rank, as synchronised batch norm needs)."""
        import warnings

        from torch.distributed.nn.functional import all_reduce

        with warnings.catch_warnings():         # deprecated in favour of a tracing-only API
            warnings.simplefilter("ignore", FutureWarning)
            return all_reduce(t, op=dist.ReduceOp.SUM)


def make_reduce(ctx: DistContext, total: int) -> Reduce:
    """A ``reduce(grads, n_local)`` for ``train_step``: the whole-batch mean gradient."""
    return Reduce(ctx, total)


def sum_arrays(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Element-wise sum of numpy arrays over all ranks (float64 on the wire)."""
    if not arrays:
        return arrays
    flat = torch.from_numpy(np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays]))
    flat = flat.to(_wire())
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat = flat.cpu()
    out, k = [], 0
    for a in arrays:
        n = np.asarray(a).size
        out.append(flat[k: k + n].numpy().reshape(np.shape(a)))
        k += n
    return out


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
