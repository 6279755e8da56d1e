"""Image data sets: MNIST, Fashion-MNIST, CIFAR-10, their embedded subsets, and splits.

``load_dataset(name)`` returns an :class:`ImageDataset` of uint8 images ``[N, C, H, W]`` and
int64 labels. ``mnist-mini`` and ``fashion-mnist-mini`` ship with the package and work offline;
``synthetic`` is made in code; the full sets are read from a data root in torchvision's layout
(``--data-root DIR`` or ``$SNNVIZ_DATA``), which is only ever read, never written.

MNIST / Fashion-MNIST: every source file under ``<root>/MNIST/raw`` (or ``FashionMNIST/raw``) is
md5-checked against torchvision's own table, unpacked into ``<cache>/<Folder>/raw`` through a
temporary file and ``os.replace`` (so the cache never holds a half-written file), its IDX header is
validated, and the arrays are then read by ``torchvision.datasets.MNIST`` / ``FashionMNIST``.

CIFAR-10: ``<root>/cifar-10-batches-py/`` is used in place; ``<root>/cifar-10-python.tar.gz`` is
extracted into the cache; with ``download=True`` torchvision downloads into the cache. When every
batch file matches torchvision's md5 table the set is read by ``torchvision.datasets.CIFAR10``.
Otherwise (e.g. a hand-made or re-pickled copy in the same on-disk format) the batches are read by
a small built-in reader that only unpickles numpy arrays and plain containers, checks the
structure strictly, and emits a ``UserWarning`` naming the first unverified file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import secrets
import shutil
import struct
import tarfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATASETS: tuple[str, ...] = (
    "mnist-mini",
    "fashion-mnist-mini",
    "mnist",
    "fashion-mnist",
    "cifar10",
    "synthetic",
)
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
_REGENERATE = "python -m snnviz.data.make_embedded --source DIR"
MNIST_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
_IDX_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_IDX_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)  # fmt: skip
# md5 of the unpacked files, computed from the md5-verified originals; used when a root holds
# only the unpacked ``*-ubyte`` files (torchvision's table covers the ``.gz`` files only).
_UNPACKED_MD5 = {
    ("MNIST", "train-images-idx3-ubyte"): "6bbc9ace898e44ae57da46a324031adb",
    ("MNIST", "train-labels-idx1-ubyte"): "a25bea736e30d166cdddb491f175f624",
    ("MNIST", "t10k-images-idx3-ubyte"): "2646ac647ad5339dbf082846283269ea",
    ("MNIST", "t10k-labels-idx1-ubyte"): "27ae3e4e09519cfbb04c329615203637",
    ("FashionMNIST", "train-images-idx3-ubyte"): "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    ("FashionMNIST", "train-labels-idx1-ubyte"): "9018921c3c673c538a1fc5bad174d6f9",
    ("FashionMNIST", "t10k-images-idx3-ubyte"): "8181f5470baa50b63fa0f6fddb340f0a",
    ("FashionMNIST", "t10k-labels-idx1-ubyte"): "15d484375f8d13e6eb1aabb0c3f46965",
}
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_TAR = "cifar-10-python.tar.gz"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_FILES = (*_CIFAR_TRAIN, "test_batch", "batches.meta")


class DatasetError(ValueError):
    """A data set is unknown, missing, corrupt or malformed; the message says what to do."""


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image data set with a fixed train/test division."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Splits:
    """Train/validation/test arrays and the indices they were taken from."""

    dataset: str
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    classes: tuple[str, ...]


def resolve_data_root(data_root: str | os.PathLike[str] | None) -> Path | None:
    """The argument if given, else ``$SNNVIZ_DATA`` if set, else None."""
    if data_root is not None and str(data_root) != "":
        return Path(data_root).expanduser()
    env = os.environ.get("SNNVIZ_DATA", "")
    return Path(env).expanduser() if env else None


def default_cache_dir() -> Path:
    """``$SNNVIZ_CACHE`` if set, else ``~/.cache/snnviz``."""
    env = os.environ.get("SNNVIZ_CACHE", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "snnviz"


def load_dataset(
    name: str,
    data_root: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> ImageDataset:
    """Load one of :data:`DATASETS`.

    Args:
        name: Data set name.
        data_root: Folder in torchvision's layout (default: ``$SNNVIZ_DATA``); read only.
        cache_dir: Where unpacked, extracted or downloaded files go (default:
            :func:`default_cache_dir`).
        download: Allow torchvision to download a missing full data set into the cache.

    Raises:
        DatasetError: Unknown name, missing or corrupt files.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; valid names are: {', '.join(DATASETS)}")
    if name in ("mnist-mini", "fashion-mnist-mini"):
        return load_embedded(name)
    if name == "synthetic":
        from snnviz.data.synthetic import make_synthetic

        return make_synthetic()
    root = resolve_data_root(data_root)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if name == "cifar10":
        return _load_cifar10(root, cache, download)
    folder = _IDX_FOLDERS[name]
    if root is None:
        if not download:
            raise DatasetError(
                f"dataset {name!r} needs the original files: pass --data-root DIR or set "
                f"SNNVIZ_DATA to a folder in torchvision's layout (DIR/{folder}/raw/*-ubyte.gz), "
                f"or pass --download (needs internet). 'mnist-mini' and 'fashion-mnist-mini' "
                f"work offline without any files"
            )
        root = _download_idx(folder, cache)
    x_tr, y_tr, x_te, y_te, where = _load_idx_set(folder, root, cache)
    classes = MNIST_CLASSES if name == "mnist" else FASHION_MNIST_CLASSES
    return ImageDataset(name, x_tr, y_tr, x_te, y_te, classes, where)


# ---------------------------------------------------------------- MNIST / Fashion-MNIST (IDX)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_idx(folder: str, cache: Path) -> Path:
    """Let torchvision download MNIST/Fashion-MNIST into ``cache``; returns ``cache`` as root."""
    import torchvision

    try:
        getattr(torchvision.datasets, folder)(root=str(cache), train=True, download=True)
    except Exception as e:  # torchvision raises RuntimeError, URLError or OSError
        raise DatasetError(
            f"could not download {folder} into {cache}: {e}. Downloading needs internet; or pass "
            f"--data-root DIR (or set SNNVIZ_DATA) to a folder with {folder}/raw/*-ubyte.gz"
        ) from e
    return cache


def _find_source(root: Path, folder: str, fname: str) -> tuple[Path, str]:
    """The source file for ``fname`` (``.gz`` preferred) and its expected md5."""
    import torchvision

    raw = root / folder / "raw"
    gz, plain = raw / f"{fname}.gz", raw / fname
    if gz.is_file():
        resources = getattr(torchvision.datasets, folder).resources
        return gz, {os.path.basename(f): md5 for f, md5 in resources}[gz.name]
    if plain.is_file():
        return plain, _UNPACKED_MD5[(folder, fname)]
    names = ", ".join(f"{f}.gz" for f in _IDX_FILES)
    raise DatasetError(
        f"missing file: {gz} (nor the unpacked {plain.name} next to it). Expected torchvision's "
        f"layout {root}/{folder}/raw/{{{names}}}; pass --data-root DIR or set SNNVIZ_DATA to a "
        f"folder with that layout"
    )


def _verify_source(path: Path, expected: str) -> None:
    """Raise unless ``path`` is non-empty and has md5 ``expected``."""
    if path.stat().st_size == 0:
        raise DatasetError(f"empty file (0 bytes): {path}; replace it with the original file")
    actual = _md5(path)
    if actual != expected:
        raise DatasetError(
            f"md5 mismatch for {path}: expected {expected}, got {actual}; the file is damaged or "
            f"not the original distribution file, replace it with the original"
        )


def _check_idx(path: Path, images: bool, label: Path) -> int:
    """Validate an unpacked IDX file's header against its size; return the item count."""
    header = 16 if images else 8
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(header)
    fix = f"replace {label} with the original distribution file"
    if len(head) < header:
        raise DatasetError(f"wrong IDX file {label}: {size} bytes is too short for a header; {fix}")
    magic, n = struct.unpack(">II", head[:8])
    want = 0x803 if images else 0x801
    if magic != want:
        raise DatasetError(f"wrong IDX magic number in {label}: {magic:#x}, not {want:#x}; {fix}")
    rows, cols = struct.unpack(">II", head[8:16]) if images else (1, 1)
    if images and (rows, cols) != (28, 28):
        raise DatasetError(
            f"wrong IDX shape in {label}: {n}x{rows}x{cols} images, expected Nx28x28; {fix}"
        )
    if size != header + n * rows * cols:
        raise DatasetError(
            f"wrong IDX size in {label}: {size} bytes, but the header ({n} items) needs "
            f"{header + n * rows * cols}; {fix}"
        )
    return n


def _temp_name(dest: Path) -> Path:
    """A fresh hidden name next to ``dest`` for writing before ``os.replace``."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")


def _open_temp(dest: Path) -> tuple[int, Path]:
    """Create a new temporary file next to ``dest`` (usual permissions, unlike mkstemp)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(dest)
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp


def _unpack(src: Path, dest: Path, images: bool) -> int:
    """Unpack (or copy) ``src`` to ``dest`` through a temporary file; return the item count."""
    try:
        fd, tmp = _open_temp(dest)
    except OSError as e:
        raise DatasetError(
            f"cannot write to the cache folder {dest.parent} ({e}); pass a writable cache_dir "
            f"or set SNNVIZ_CACHE"
        ) from e
    try:
        opener = gzip.open if src.suffix == ".gz" else open
        with os.fdopen(fd, "wb") as out, opener(src, "rb") as f:
            while True:
                try:
                    chunk = f.read(1 << 22)
                except (OSError, EOFError, zlib.error) as e:
                    raise DatasetError(
                        f"corrupt or truncated gzip: {src} ({e}); replace it with the original"
                    ) from e
                if not chunk:
                    break
                out.write(chunk)
        n = _check_idx(tmp, images, src)
        os.replace(tmp, dest)
        return n
    finally:
        tmp.unlink(missing_ok=True)


def _load_idx_set(
    folder: str, root: Path, cache: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Verify, unpack into the cache and load one IDX data set through torchvision."""
    import torchvision

    if not root.is_dir():
        raise DatasetError(
            f"data root {'is a file, not a folder' if root.exists() else 'does not exist'}: "
            f"{root}; pass --data-root DIR or set SNNVIZ_DATA to a "
            f"folder in torchvision's layout ({folder}/raw/*-ubyte.gz)"
        )
    sources = [_find_source(root, folder, f) for f in _IDX_FILES]
    for src, md5 in sources:
        _verify_source(src, md5)
    raw = cache / folder / "raw"
    counts = {}
    for fname, (src, _) in zip(_IDX_FILES, sources, strict=True):
        dest, images = raw / fname, "images" in fname
        try:
            counts[fname] = _check_idx(dest, images, dest) if dest.is_file() else None
        except DatasetError:  # stale or damaged cache entry: unpack again
            counts[fname] = None
        if counts[fname] is None:
            counts[fname] = _unpack(src, dest, images)
    arrays: list[np.ndarray] = []
    for split in ("train", "t10k"):
        n_img, n_lab = counts[f"{split}-images-idx3-ubyte"], counts[f"{split}-labels-idx1-ubyte"]
        if n_img != n_lab:
            for kind in ("images-idx3", "labels-idx1"):
                (raw / f"{split}-{kind}-ubyte").unlink(missing_ok=True)
            raise DatasetError(
                f"{split} images and labels disagree in {root / folder / 'raw'}: {n_img} images "
                f"but {n_lab} labels; replace the files with the original distribution files"
            )
        ds = getattr(torchvision.datasets, folder)(root=str(cache), train=split == "train")
        if len(ds.data) != n_img:
            raise DatasetError(
                f"torchvision read {len(ds.data)} images, not {n_img}; "
                f"delete {cache / folder / 'processed'} and try again"
            )
        arrays += [ds.data.numpy()[:, None], ds.targets.numpy().astype(np.int64, copy=False)]
    where = f"{folder} from {root / folder / 'raw'} (md5 verified; unpacked in {raw})"
    return arrays[0], arrays[1], arrays[2], arrays[3], where


# ---------------------------------------------------------------- CIFAR-10


def _cifar_missing(folder: Path) -> list[str]:
    return [f for f in _CIFAR_FILES if not (folder / f).is_file()]


def _find_cifar_dir(root: Path | None, cache: Path) -> Path | None:
    """``<root>/cifar-10-batches-py``, else the extracted root tarball, else the cache copy."""
    if root is not None:
        folder = root / _CIFAR_DIR
        if folder.is_dir():
            missing = _cifar_missing(folder)
            if missing:
                raise DatasetError(
                    f"incomplete CIFAR-10 folder {folder}: missing {', '.join(missing)}; put the "
                    f"complete {_CIFAR_DIR}/ (or {_CIFAR_TAR}) under the data root"
                )
            return folder
        if (root / _CIFAR_TAR).is_file():
            return _extract_cifar(root / _CIFAR_TAR, cache)
    folder = cache / _CIFAR_DIR
    return folder if folder.is_dir() and not _cifar_missing(folder) else None


def _extract_cifar(tar: Path, cache: Path) -> Path:
    """Extract the CIFAR-10 batch files of ``tar`` into ``<cache>/cifar-10-batches-py``."""
    dest = cache / _CIFAR_DIR
    if dest.is_dir() and not _cifar_missing(dest):
        return dest
    tmp = _temp_name(dest)
    try:
        tmp.mkdir(parents=True)
    except OSError as e:
        raise DatasetError(
            f"cannot write to the cache folder {cache} ({e}); set SNNVIZ_CACHE"
        ) from e
    try:
        try:
            with tarfile.open(tar, "r:gz") as tf:
                for member in tf:
                    parts = member.name.removeprefix("./").split("/")
                    if (
                        member.isfile()
                        and parts[:1] == [_CIFAR_DIR]
                        and len(parts) == 2
                        and parts[1] in _CIFAR_FILES
                    ):
                        with tf.extractfile(member) as f, open(tmp / parts[1], "wb") as out:
                            shutil.copyfileobj(f, out, 1 << 22)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"corrupt or truncated archive: {tar} ({e}); replace it") from e
        missing = _cifar_missing(tmp)
        if missing:
            raise DatasetError(f"{tar} lacks {_CIFAR_DIR}/{{{', '.join(missing)}}}; replace it")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _load_cifar10(root: Path | None, cache: Path, download: bool) -> ImageDataset:
    """Find CIFAR-10 (root folder, root tarball, cache, download) and load it."""
    folder = _find_cifar_dir(root, cache)
    if folder is None and download:
        import torchvision

        try:
            torchvision.datasets.CIFAR10(root=str(cache), train=True, download=True)
        except Exception as e:  # torchvision raises RuntimeError, URLError or OSError
            raise DatasetError(
                f"could not download CIFAR-10 into {cache}: {e}. Downloading needs internet; or "
                f"put {_CIFAR_DIR}/ or {_CIFAR_TAR} under the data root (--data-root DIR)"
            ) from e
        folder = cache / _CIFAR_DIR
    if folder is None:
        place = f"under {root}" if root is not None else "(no --data-root / SNNVIZ_DATA given)"
        raise DatasetError(
            f"CIFAR-10 not found {place} nor in the cache {cache}. Pass --download (needs "
            f"internet) or put {_CIFAR_DIR}/ or {_CIFAR_TAR} under the data root "
            f"(--data-root DIR or SNNVIZ_DATA)"
        )
    return _load_cifar_dir(folder)


def _load_cifar_dir(folder: Path) -> ImageDataset:
    """Read a complete ``cifar-10-batches-py`` folder (torchvision if md5s match)."""
    import torchvision

    cls = torchvision.datasets.CIFAR10
    table = {f: md5 for f, md5 in cls.train_list + cls.test_list}
    table[cls.meta["filename"]] = cls.meta["md5"]
    bad = [f for f in _CIFAR_FILES if _md5(folder / f) != table.get(f)]
    if not bad:
        tr, te = (cls(root=str(folder.parent), train=t) for t in (True, False))
        x_tr, x_te = (np.ascontiguousarray(d.data.transpose(0, 3, 1, 2)) for d in (tr, te))
        y_tr, y_te = (np.asarray(d.targets, dtype=np.int64) for d in (tr, te))
        return ImageDataset(
            "cifar10",
            x_tr,
            y_tr,
            x_te,
            y_te,
            tuple(tr.classes),
            f"CIFAR-10 from {folder} (md5 verified)",
        )
    warnings.warn(
        f"{folder / bad[0]} does not match torchvision's md5 for CIFAR-10 ({len(bad)} file(s) "
        f"differ); reading the folder with the built-in reader (structure checked only)",
        UserWarning,
        stacklevel=4,
    )
    x_tr, y_tr = _read_cifar_batches([folder / f for f in _CIFAR_TRAIN])
    x_te, y_te = _read_cifar_batches([folder / "test_batch"])
    meta = _unpickle(folder / "batches.meta")
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DatasetError(f"{folder / 'batches.meta'} lacks 10 'label_names'; replace it")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return ImageDataset(
        "cifar10",
        x_tr,
        y_tr,
        x_te,
        y_te,
        classes,
        f"CIFAR-10 format from {folder} (md5 not verified: {', '.join(bad)})",
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that builds numpy arrays and plain containers, nothing else."""

    allowed = frozenset(
        [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
        + [(f"numpy.{c}.multiarray", "_reconstruct") for c in ("core", "_core")]
        + [(f"numpy.{c}.numeric", "_frombuffer") for c in ("core", "_core")]
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, Any]:
    """Load one CIFAR pickle, with str keys (Python 2 pickles give str or bytes keys)."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except Exception as e:  # pickle raises many types on malformed input
        raise DatasetError(f"not a CIFAR-10 pickle: {path} ({e}); replace it") from e
    if not isinstance(obj, dict):
        raise DatasetError(f"not a CIFAR-10 pickle: {path} holds {type(obj).__name__}, not a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _read_cifar_batches(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` and labels of CIFAR-10 batch files."""
    xs, ys = [], []
    for path in paths:
        entry = _unpickle(path)
        x = np.asarray(entry.get("data"))
        y = np.asarray(entry.get("labels", []))
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y.shape != (len(x),):
            raise DatasetError(
                f"wrong CIFAR-10 batch in {path}: data {x.dtype} {list(x.shape)}, labels "
                f"{list(y.shape)}; expected uint8 [N, 3072] and N labels under 'data'/'labels'"
            )
        if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9):
            raise DatasetError(f"wrong CIFAR-10 labels in {path}: expected integers 0..9")
        xs.append(x.reshape(-1, 3, 32, 32))
        ys.append(y.astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys)


# ---------------------------------------------------------------- embedded subsets and splits


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_embedded(name: str, directory: str | os.PathLike[str] | None = None) -> ImageDataset:
    """Load an embedded subset after checking its sha256 against ``manifest.json``.

    Args:
        name: ``"mnist-mini"`` or ``"fashion-mnist-mini"``.
        directory: Folder with ``manifest.json`` and ``<name>.npz`` (default: the package's).
    """
    folder = Path(directory) if directory is not None else EMBEDDED_DIR
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        entry = manifest["datasets"][name]
    except (OSError, ValueError, KeyError) as e:
        raise DatasetError(
            f"package data missing or unreadable: {manifest_path} has no entry for {name!r} "
            f"({e}); reinstall snnviz or regenerate with `{_REGENERATE}`"
        ) from e
    path = folder / entry["file"]
    if not path.is_file():
        raise DatasetError(f"package data missing: {path}; reinstall snnviz or run `{_REGENERATE}`")
    actual = _sha256(path)
    if actual != entry["sha256"]:
        raise DatasetError(
            f"package data is corrupt: {path} has sha256 {actual}, the manifest {manifest_path} "
            f"expects {entry['sha256']}; reinstall snnviz or regenerate with `{_REGENERATE}`"
        )
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("train_x", "train_y", "test_x", "test_y", "classes")}
    return ImageDataset(
        name=name,
        train_x=arrays["train_x"],
        train_y=arrays["train_y"].astype(np.int64, copy=False),
        test_x=arrays["test_x"],
        test_y=arrays["test_y"].astype(np.int64, copy=False),
        classes=tuple(str(c) for c in arrays["classes"]),
        source=f"embedded subset of {entry['source_dataset']} ({path}, sha256 verified)",
    )


def _check_size(what: str, size: int | None, available: int, detail: str) -> None:
    if size is not None and not 0 <= size <= available:
        raise DatasetError(f"{what}={size} is not possible: {available} available ({detail})")


def split_dataset(
    ds: ImageDataset,
    val_size: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
) -> Splits:
    """Split ``ds`` into train/validation/test with a permutation drawn from ``split_seed``.

    ``rng = numpy.random.default_rng(split_seed)``; ``perm = rng.permutation(n_train)``: the
    first ``val_size`` (default 10 %, rounded down) are validation, the next ``train_size``
    (default: the rest) training. Test: the first ``test_size`` of ``rng.permutation(n_test)``
    (the next draw of the same generator), or the whole test set in original order when None.
    """
    n, m = len(ds.train_y), len(ds.test_y)
    n_val = n // 10 if val_size is None else int(val_size)
    _check_size("val_size", n_val, n, f"training set of {ds.name} has {n} images")
    rest = n - n_val
    n_train = rest if train_size is None else int(train_size)
    _check_size("train_size", n_train, rest, f"{n} training images minus {n_val} for validation")
    rng = np.random.default_rng(split_seed)
    perm = rng.permutation(n).astype(np.int64)
    val_index, train_index = perm[:n_val], perm[n_val : n_val + n_train]
    if test_size is None:
        test_index = np.arange(m, dtype=np.int64)
    else:
        _check_size("test_size", int(test_size), m, f"test set of {ds.name} has {m} images")
        test_index = rng.permutation(m).astype(np.int64)[: int(test_size)]
    return Splits(
        dataset=ds.name,
        train_x=ds.train_x[train_index],
        train_y=ds.train_y[train_index],
        val_x=ds.train_x[val_index],
        val_y=ds.train_y[val_index],
        test_x=ds.test_x[test_index],
        test_y=ds.test_y[test_index],
        train_index=train_index,
        val_index=val_index,
        test_index=test_index,
        classes=ds.classes,
    )
