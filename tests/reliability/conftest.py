"""Fixtures of the reliability suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from relutil import TINY

from snnviz.cli import main


@pytest.fixture(scope="session")
def good_run(tmp_path_factory) -> Path:
    """A finished tiny S4NN run (1 epoch): its folder holds checkpoint.pt and result.json.

    Tests must not modify it: they copy it (the ``run_copy`` fixture) when they need a writable one.
    """
    out = tmp_path_factory.mktemp("good") / "run"
    assert main(["train", "--algorithm", "s4nn", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_copy(good_run, tmp_path) -> Path:
    """A private copy of :func:`good_run`."""
    import shutil

    dst = tmp_path / "run"
    shutil.copytree(good_run, dst)
    return dst
