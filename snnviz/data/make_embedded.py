"""Regenerate the embedded ``mnist-mini`` and ``fashion-mnist-mini`` subsets.

Usage::

    python -m snnviz.data.make_embedded --source DIR [--out DIR] [--cache-dir DIR] [--seed N]

``DIR`` holds the original files in torchvision's layout (``MNIST/raw/*.gz`` and
``FashionMNIST/raw/*.gz``); they are md5-checked and read by :func:`snnviz.data.load_dataset`.
From each set, ``200`` training and ``50`` test images per class are drawn without replacement
by ``numpy.random.default_rng(seed)`` (train first, then test, class 0 to 9) and stored in index
order as a compressed ``.npz`` with fixed zip timestamps, so the same inputs give the same bytes.
``manifest.json`` records the source files' md5s, the seed, the counts and each npz's sha256.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnviz.data.images import (
    EMBEDDED_DIR,
    DatasetError,
    _md5,
    _open_temp,
    _sha256,
    load_dataset,
    resolve_data_root,
)

SEED = 0
PER_CLASS = {"train": 200, "test": 50}
SOURCES = {  # embedded name -> (full data set, torchvision folder)
    "mnist-mini": ("mnist", "MNIST"),
    "fashion-mnist-mini": ("fashion-mnist", "FashionMNIST"),
}


def balanced_subset(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``per_class`` randomly chosen items of each class 0..9."""
    picks = []
    for c in range(10):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise DatasetError(f"class {c} has only {len(members)} items, {per_class} needed")
        picks.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(picks)).astype(np.int64)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed ``.npz`` (readable by ``numpy.load``) with fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def build_subset(name: str, root: Path, cache_dir: Path | None, seed: int) -> dict[str, Any]:
    """Arrays of one embedded subset and its manifest entry (without the file hash)."""
    full, folder = SOURCES[name]
    ds = load_dataset(full, data_root=root, cache_dir=cache_dir)
    rng = np.random.default_rng(seed)
    train = balanced_subset(ds.train_y, PER_CLASS["train"], rng)
    test = balanced_subset(ds.test_y, PER_CLASS["test"], rng)
    arrays = {
        "train_x": ds.train_x[train],
        "train_y": ds.train_y[train].astype(np.int64),
        "test_x": ds.test_x[test],
        "test_y": ds.test_y[test].astype(np.int64),
        "classes": np.array(ds.classes),
        "train_index": train,
        "test_index": test,
    }
    raw = root / folder / "raw"
    entry = {
        "file": f"{name}.npz",
        "source_dataset": full,
        "source_files": {f"{folder}/raw/{p.name}": _md5(p) for p in sorted(raw.glob("*.gz"))},
        "counts": {"train": len(train), "test": len(test)},
    }
    return {"arrays": arrays, "entry": entry}


def make_embedded(
    root: Path, out: Path = EMBEDDED_DIR, cache_dir: Path | None = None, seed: int = SEED
) -> dict[str, Any]:
    """Write both ``.npz`` files and ``manifest.json`` into ``out``; return the manifest."""
    manifest: dict[str, Any] = {"format": 1, "seed": seed, "per_class": PER_CLASS, "datasets": {}}
    for name in SOURCES:
        built = build_subset(name, root, cache_dir, seed)
        data = npz_bytes(built["arrays"])
        path = out / built["entry"]["file"]
        _atomic_write(path, data)
        built["entry"].update(bytes=len(data), sha256=_sha256(path))
        manifest["datasets"][name] = built["entry"]
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    _atomic_write(out / "manifest.json", text.encode())
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="root with MNIST/raw and FashionMNIST/raw")
    parser.add_argument("--out", type=Path, default=EMBEDDED_DIR, help="output folder")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where to unpack the sources")
    parser.add_argument("--seed", type=int, default=SEED, help="subset seed")
    args = parser.parse_args(argv)
    root = resolve_data_root(args.source)
    if root is None:
        parser.error("pass --source DIR or set SNNVIZ_DATA")
    manifest = make_embedded(root, args.out, args.cache_dir, args.seed)
    for name, entry in manifest["datasets"].items():
        print(f"{name}: {entry['counts']} -> {args.out / entry['file']} ({entry['bytes']:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
