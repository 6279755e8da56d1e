"""Helpers of the reliability suite: tiny runs on the embedded data, file snapshots."""

from __future__ import annotations

import hashlib
from pathlib import Path

from snnviz.cli import main

# A tiny, fast run on the embedded MNIST subset (a few hundred samples, 8 hidden neurons).
TINY = ["--train-size", "120", "--val-size", "40", "--test-size", "40", "--set", "hidden=8",
        "--set", "online_chunk=40", "--quiet"]


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` (hidden temp files included)."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def run(capsys, *argv: str) -> tuple[int, str]:
    """``snnviz ARGV`` in-process: (exit code, stderr)."""
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_one_line_error(err: str, *fragments: str) -> None:
    """A single ``snnviz: error:`` line (no traceback) holding every fragment."""
    err = err.strip()
    assert err.startswith("snnviz: error:"), err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, f"{f!r} not in {err!r}"
