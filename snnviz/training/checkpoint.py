"""Atomic result and checkpoint files, and safe (weights-only) checkpoint loading.

Files are written to a temporary file in the same folder, flushed to disk, then renamed
over the target (``os.replace`` is atomic on POSIX), so a reader or a run killed at any
moment sees either the old complete file or the new complete file, never a partial one.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing, corrupt, unsafe or mismatched)."""


@contextlib.contextmanager
def _atomic_target(path: Path):
    path = Path(path)
    if not path.parent.exists():
        raise OSError(f"output folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_json_atomic(data: Any, path: str | os.PathLike) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    with _atomic_target(Path(path)) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` to ``path`` atomically (tables, logs)."""
    with _atomic_target(Path(path)) as tmp:
        tmp.write_text(text)


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """``torch.save`` a state dict (tensors and plain data only) atomically."""
    with _atomic_target(Path(path)) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint with ``torch.load(weights_only=True)``.

    Raises:
        CheckpointError: missing file, not a checkpoint, corrupt or truncated file, or a
            file that contains pickled Python objects (refused: they could run code).
    """
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"checkpoint {p} is a folder; pass the checkpoint file in it "
                              f"(e.g. {p / 'checkpoint.pt'})")
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"checkpoint {p} was refused: it contains Python objects other than tensors and "
            f"plain data, which could run code when loaded ({str(e).splitlines()[0][:120]})"
        ) from None
    except Exception as e:  # torch raises many types for damaged files (IndexError too)
        raise CheckpointError(f"checkpoint {p} is corrupt or truncated ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:120] if str(e) else ''})") from None
    if not isinstance(state, dict) or state.get("format") != 1 or "params" not in state:
        raise CheckpointError(f"{p} is not an snnviz checkpoint")
    return state
