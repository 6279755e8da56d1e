"""Tests of the data layer: embedded subsets, full sets, corrupt inputs, CIFAR format, splits."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
import struct
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnviz.data import (
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DatasetError,
    default_cache_dir,
    load_dataset,
    load_embedded,
    make_synthetic,
    resolve_data_root,
    split_dataset,
)
from snnviz.data import images as images_mod

SHARED = Path(
    os.environ.get("SNNVIZ_DATA") or Path(__file__).resolve().parents[2] / "shared" / "datasets"
)
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IDX_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache and no SNNVIZ_DATA."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SNNVIZ_CACHE", str(cache))
    monkeypatch.delenv("SNNVIZ_DATA", raising=False)
    return cache


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every entry under ``root``."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------- embedded subsets


@pytest.mark.parametrize(
    ("name", "classes"),
    [("mnist-mini", MNIST_CLASSES), ("fashion-mnist-mini", FASHION_MNIST_CLASSES)],
)
def test_embedded_sets_load_offline_balanced(name: str, classes: tuple[str, ...]) -> None:
    ds = load_dataset(name)  # no root, no SNNVIZ_DATA, no network
    assert ds.name == name and ds.classes == classes
    assert ds.train_x.shape == (2000, 1, 28, 28) and ds.train_x.dtype == np.uint8
    assert ds.test_x.shape == (500, 1, 28, 28) and ds.test_x.dtype == np.uint8
    assert ds.train_y.dtype == np.int64 and ds.test_y.dtype == np.int64
    assert np.bincount(ds.train_y, minlength=10).tolist() == [200] * 10
    assert np.bincount(ds.test_y, minlength=10).tolist() == [50] * 10
    assert ds.train_x.max() > 200 and ds.train_x.min() == 0
    assert "sha256 verified" in ds.source
    assert (images_mod.EMBEDDED_DIR / f"{name}.npz").stat().st_size < 3_000_000


def test_embedded_manifest_describes_files() -> None:
    manifest = json.loads((images_mod.EMBEDDED_DIR / "manifest.json").read_text())
    assert manifest["per_class"] == {"train": 200, "test": 50} and "seed" in manifest
    for name, entry in manifest["datasets"].items():
        data = (images_mod.EMBEDDED_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["counts"] == {"train": 2000, "test": 500}
        assert len(entry["source_files"]) == 4, name


@pytest.mark.parametrize("name", ["mnist-mini", "fashion-mnist-mini"])
def test_embedded_corruption_detected(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "embedded"
    shutil.copytree(images_mod.EMBEDDED_DIR, copy)
    assert load_embedded(name, directory=copy).train_x.shape == (2000, 1, 28, 28)
    data = bytearray((copy / f"{name}.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / f"{name}.npz").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=rf"corrupt: .*{name}\.npz has sha256 .* reinstall"):
        load_embedded(name, directory=copy)
    monkeypatch.setattr(images_mod, "EMBEDDED_DIR", copy)
    with pytest.raises(DatasetError, match="package data is corrupt"):
        load_dataset(name)
    (copy / "manifest.json").unlink()
    with pytest.raises(DatasetError, match="manifest.json"):
        load_dataset(name)


# ---------------------------------------------------------------- splits


def test_split_defaults_disjoint_and_complete() -> None:
    ds = make_synthetic(n_train=200, n_test=50)
    s = split_dataset(ds)
    assert (len(s.val_index), len(s.train_index), len(s.test_index)) == (20, 180, 50)
    assert not set(s.val_index) & set(s.train_index)
    assert sorted(np.concatenate([s.val_index, s.train_index])) == list(range(200))
    assert s.test_index.tolist() == list(range(50))
    np.testing.assert_array_equal(s.train_x, ds.train_x[s.train_index])
    np.testing.assert_array_equal(s.val_y, ds.train_y[s.val_index])
    assert s.train_x.shape == (180, 1, 28, 28) and s.train_index.dtype == np.int64
    assert s.classes == ds.classes and s.dataset == "synthetic"


def test_split_deterministic_per_seed() -> None:
    ds = make_synthetic(n_train=200, n_test=50)
    a, b = (
        split_dataset(ds, 30, 100, 10, split_seed=3),
        split_dataset(ds, 30, 100, 10, split_seed=3),
    )
    c = split_dataset(ds, 30, 100, 10, split_seed=4)
    for field in ("train_index", "val_index", "test_index"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.train_index, c.train_index)
    assert not np.array_equal(a.test_index, c.test_index)
    assert (len(a.val_index), len(a.train_index), len(a.test_index)) == (30, 100, 10)
    assert len(set(a.test_index)) == 10
    assert len(split_dataset(ds, val_size=0).val_x) == 0


def test_split_rejects_sizes_too_large() -> None:
    ds = make_synthetic(n_train=200, n_test=50)
    with pytest.raises(DatasetError, match=r"val_size=201 .* 200 available"):
        split_dataset(ds, val_size=201)
    with pytest.raises(DatasetError, match=r"train_size=181 .* 180 available"):
        split_dataset(ds, val_size=20, train_size=181)
    with pytest.raises(DatasetError, match=r"test_size=51 .* 50 available"):
        split_dataset(ds, test_size=51)
    with pytest.raises(DatasetError, match="val_size=-1"):
        split_dataset(ds, val_size=-1)


@settings(max_examples=40, deadline=None, database=None)
@given(
    val=st.integers(0, 60),
    train=st.integers(0, 60),
    test=st.integers(0, 20),
    seed=st.integers(0, 2**32),
)
def test_split_property_disjoint(val: int, train: int, test: int, seed: int) -> None:
    ds = make_synthetic(n_train=120, n_test=20, size=8)
    s = split_dataset(ds, val, train, test, split_seed=seed)
    assert (len(s.val_y), len(s.train_y), len(s.test_y)) == (val, train, test)
    assert not set(s.val_index) & set(s.train_index)
    assert len(set(s.test_index)) == test


# ---------------------------------------------------------------- synthetic


def test_synthetic_deterministic_and_learnable() -> None:
    a, b, c = make_synthetic(seed=1), make_synthetic(seed=1), make_synthetic(seed=2)
    np.testing.assert_array_equal(a.train_x, b.train_x)
    np.testing.assert_array_equal(a.test_y, b.test_y)
    assert not np.array_equal(a.train_x, c.train_x)
    assert a.train_x.shape == (200, 1, 28, 28) and a.train_x.dtype == np.uint8
    assert a.test_x.shape == (50, 1, 28, 28) and a.train_y.dtype == np.int64
    assert np.bincount(a.train_y, minlength=10).tolist() == [20] * 10
    assert make_synthetic(10, 5, size=16).train_x.shape == (10, 1, 16, 16)
    assert load_dataset("synthetic").train_x.shape == (200, 1, 28, 28)
    # nearest class mean on raw pixels separates the classes
    x_tr, x_te = a.train_x.reshape(200, -1) / 255.0, a.test_x.reshape(50, -1) / 255.0
    means = np.stack([x_tr[a.train_y == k].mean(0) for k in range(10)])
    pred = ((x_te[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == a.test_y).mean() >= 0.9
    with pytest.raises(DatasetError, match="size=4"):
        make_synthetic(size=4)


# ---------------------------------------------------------------- names, roots, cache


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'mnsit'") as info:
        load_dataset("mnsit")
    assert all(name in str(info.value) for name in DATASETS)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_full_set_without_root_explains(name: str) -> None:
    with pytest.raises(DatasetError, match=r"--data-root DIR.*SNNVIZ_DATA") as info:
        load_dataset(name)
    assert "mnist-mini" in str(info.value)


def test_resolve_root_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_data_root(None) is None
    monkeypatch.setenv("SNNVIZ_DATA", str(tmp_path / "env"))
    assert resolve_data_root(None) == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("SNNVIZ_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "snnviz"


# ---------------------------------------------------------------- full MNIST / Fashion-MNIST


@pytest.mark.full
@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason=f"no MNIST under {SHARED}")
@pytest.mark.parametrize(
    ("name", "folder", "train_counts", "test_counts"),
    [
        ("mnist", "MNIST", MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS),
        ("fashion-mnist", "FashionMNIST", [6000] * 10, [1000] * 10),
    ],
)
def test_full_sets_from_shared_root(
    name: str, folder: str, train_counts: list[int], test_counts: list[int], _isolated_env: Path
) -> None:
    before = snapshot(SHARED)
    ds = load_dataset(name, data_root=SHARED)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.train_x.dtype == np.uint8
    assert ds.test_x.shape == (10000, 1, 28, 28) and ds.test_y.dtype == np.int64
    assert np.bincount(ds.train_y, minlength=10).tolist() == train_counts
    assert np.bincount(ds.test_y, minlength=10).tolist() == test_counts
    raw = _isolated_env / folder / "raw"
    assert files_under(_isolated_env) == sorted(IDX_FILES)
    cached = snapshot(raw)
    again = load_dataset(name, data_root=SHARED)  # reuses the unpacked cache
    np.testing.assert_array_equal(again.test_x, ds.test_x)
    assert snapshot(raw) == cached
    assert snapshot(SHARED) == before


# ---------------------------------------------------------------- corrupt inputs (fake MNIST)


def write_fake_mnist(root: Path, n_train: int = 30, n_test: int = 10, dims=(28, 28)) -> Path:
    """A small MNIST-format set under ``root/MNIST/raw``; returns the raw folder."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, *dims), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        image_bytes = struct.pack(">IIII", 0x803, n, *dims) + x.tobytes()
        label_bytes = struct.pack(">II", 0x801, n) + y.tobytes()
        (raw / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(image_bytes, mtime=0))
        (raw / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(label_bytes, mtime=0))
    return raw


def trust(raw: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make torchvision's MNIST md5 table match the files now in ``raw``."""
    import torchvision

    table = [(f"{f}.gz", md5(raw / f"{f}.gz")) for f in IDX_FILES]
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", table)


def assert_cache_clean(cache: Path) -> None:
    assert files_under(cache) == [], "the cache holds files after a failed load"


def test_fake_mnist_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_env) -> None:
    raw = write_fake_mnist(tmp_path / "root")
    trust(raw, monkeypatch)
    before = snapshot(tmp_path / "root")
    ds = load_dataset("mnist", data_root=tmp_path / "root")
    assert ds.train_x.shape == (30, 1, 28, 28) and ds.test_y.tolist() == list(range(10))
    assert snapshot(tmp_path / "root") == before
    (_isolated_env / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"junk")
    assert load_dataset("mnist", data_root=tmp_path / "root").train_x.shape == (30, 1, 28, 28)


def test_unpacked_root_files_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = write_fake_mnist(tmp_path / "root")
    table = {}
    for f in IDX_FILES:
        (raw / f).write_bytes(gzip.decompress((raw / f"{f}.gz").read_bytes()))
        (raw / f"{f}.gz").unlink()
        table[("MNIST", f)] = md5(raw / f)
    monkeypatch.setattr(images_mod, "_UNPACKED_MD5", table)
    assert load_dataset("mnist", data_root=tmp_path / "root").test_x.shape == (10, 1, 28, 28)


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_env) -> None:
    raw = write_fake_mnist(tmp_path / "root")
    trust(raw, monkeypatch)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"missing file: .*t10k-labels-idx1-ubyte\.gz") as info:
        load_dataset("mnist", data_root=tmp_path / "root")
    assert "MNIST/raw/" in str(info.value) and "--data-root" in str(info.value)
    assert_cache_clean(_isolated_env)
    with pytest.raises(DatasetError, match="data root does not exist"):
        load_dataset("mnist", data_root=tmp_path / "nowhere")


def test_empty_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_env) -> None:
    raw = write_fake_mnist(tmp_path / "root")
    trust(raw, monkeypatch)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty file \(0 bytes\): .*train-labels"):
        load_dataset("mnist", data_root=tmp_path / "root")
    assert_cache_clean(_isolated_env)


def test_wrong_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_env) -> None:
    raw = write_fake_mnist(tmp_path / "root")
    trust(raw, monkeypatch)
    path = raw / "t10k-images-idx3-ubyte.gz"
    expected = md5(path)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(
        DatasetError, match=r"md5 mismatch for .*t10k-images-idx3-ubyte\.gz"
    ) as info:
        load_dataset("mnist", data_root=tmp_path / "root")
    assert expected in str(info.value) and md5(path) in str(info.value)
    assert_cache_clean(_isolated_env)


def test_truncated_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_env) -> None:
    raw = write_fake_mnist(tmp_path / "root")
    path = raw / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    trust(raw, monkeypatch)  # the md5 check passes, so the gzip check is reached
    with pytest.raises(DatasetError, match=r"corrupt or truncated gzip: .*train-images"):
        load_dataset("mnist", data_root=tmp_path / "root")
    assert not any(".part" in name for name in files_under(_isolated_env))
    assert "train-images-idx3-ubyte" not in files_under(_isolated_env)


def test_wrong_idx_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_env) -> None:
    raw = write_fake_mnist(tmp_path / "root", dims=(27, 28))
    trust(raw, monkeypatch)
    with pytest.raises(DatasetError, match=r"wrong IDX shape in .*train-images.*27x28.*Nx28x28"):
        load_dataset("mnist", data_root=tmp_path / "root")
    assert not any(".part" in name for name in files_under(_isolated_env))
    assert "train-images-idx3-ubyte" not in files_under(_isolated_env)


def test_image_label_count_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = write_fake_mnist(tmp_path / "root")
    label_bytes = struct.pack(">II", 0x801, 29) + bytes(29)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(label_bytes, mtime=0))
    trust(raw, monkeypatch)
    with pytest.raises(DatasetError, match="30 images but 29 labels"):
        load_dataset("mnist", data_root=tmp_path / "root")


# ---------------------------------------------------------------- CIFAR-10 on-disk format


def cifar_pickle(obj: dict, bytes_keys: bool) -> bytes:
    return pickle.dumps({(k.encode() if bytes_keys else k): v for k, v in obj.items()}, protocol=2)


def write_tiny_cifar(folder: Path, bytes_keys: bool = True, n: int = 4) -> np.ndarray:
    """CIFAR-10 batch files with ``n`` images per batch; returns all training data rows."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, name in enumerate([*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [(i + k) % 10 for k in range(n)]
        batch = {"batch_label": "batch", "data": data, "labels": labels, "filenames": ["x"] * n}
        (folder / name).write_bytes(cifar_pickle(batch, bytes_keys))
        rows.append(data)
    names = [c.encode() if bytes_keys else c for c in CIFAR10_CLASSES]
    meta = {"label_names": names, "num_cases_per_batch": n, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(cifar_pickle(meta, bytes_keys))
    return np.concatenate(rows[:5])


def test_cifar_tiny_set_builtin_reader(tmp_path: Path) -> None:
    rows = write_tiny_cifar(tmp_path / "root" / "cifar-10-batches-py")
    with pytest.warns(UserWarning, match="does not match torchvision's md5"):
        ds = load_dataset("cifar10", data_root=tmp_path / "root")
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.train_x.dtype == np.uint8
    assert ds.test_x.shape == (4, 3, 32, 32) and ds.test_y.dtype == np.int64
    assert ds.train_x[5, 1, 2, 3] == rows[5, 1024 + 2 * 32 + 3]  # channel-major rows
    assert ds.classes == CIFAR10_CLASSES and "md5 not verified" in ds.source


def test_cifar_via_torchvision_when_md5s_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision

    folder = tmp_path / "root" / "cifar-10-batches-py"
    rows = write_tiny_cifar(folder, bytes_keys=False)
    cls = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[f, md5(folder / f)] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [["test_batch", md5(folder / "test_batch")]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(folder / "batches.meta")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset("cifar10", data_root=tmp_path / "root")
    assert "md5 verified" in ds.source and ds.classes == CIFAR10_CLASSES
    np.testing.assert_array_equal(ds.train_x.reshape(20, -1), rows)
    assert ds.test_x.shape == (4, 3, 32, 32) and ds.train_y.dtype == np.int64


def test_cifar_tarball_extracted_into_cache(tmp_path: Path, _isolated_env: Path) -> None:
    write_tiny_cifar(tmp_path / "src" / "cifar-10-batches-py")
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tf:
        tf.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    before = snapshot(root)
    with pytest.warns(UserWarning):
        ds = load_dataset("cifar10", data_root=root)
    assert ds.train_x.shape == (20, 3, 32, 32)
    assert snapshot(root) == before
    assert (_isolated_env / "cifar-10-batches-py" / "batches.meta").is_file()
    assert not [p for p in _isolated_env.iterdir() if p.name.startswith(".")]


def test_cifar_missing_or_incomplete(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    with pytest.raises(DatasetError, match=r"CIFAR-10 not found .*--download .*--data-root"):
        load_dataset("cifar10", data_root=tmp_path / "root")
    with pytest.raises(DatasetError, match="--download"):
        load_dataset("cifar10")
    folder = tmp_path / "root" / "cifar-10-batches-py"
    write_tiny_cifar(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="incomplete CIFAR-10 folder .*missing data_batch_3"):
        load_dataset("cifar10", data_root=tmp_path / "root")


class _Sneaky:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def test_cifar_reader_refuses_foreign_pickles(tmp_path: Path) -> None:
    folder = tmp_path / "root" / "cifar-10-batches-py"
    write_tiny_cifar(folder)
    (folder / "data_batch_2").write_bytes(pickle.dumps({"data": _Sneaky(), "labels": []}))
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match="refusing to load"):
        load_dataset("cifar10", data_root=tmp_path / "root")
    bad_shape = {"data": np.zeros((2, 10)), "labels": [1, 2]}
    (folder / "data_batch_2").write_bytes(cifar_pickle(bad_shape, bytes_keys=True))
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match=r"wrong CIFAR-10 batch"):
        load_dataset("cifar10", data_root=tmp_path / "root")
