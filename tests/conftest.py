import os
from pathlib import Path

import pytest

os.environ.setdefault("NUMBA_NUM_THREADS", "2")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never write into the user's cache: every test gets its own cache folder."""
    if "SNNVIZ_CACHE" not in os.environ or os.environ.get("SNNVIZ_TEST_SHARED_CACHE") != "1":
        monkeypatch.setenv("SNNVIZ_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def shared_datasets() -> Path | None:
    root = Path(os.environ.get("SNNVIZ_DATA", SHARED))
    return root if (root / "MNIST" / "raw").is_dir() else None
