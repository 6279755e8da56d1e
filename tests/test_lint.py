"""The code base passes the project's lint rules (pyproject [tool.ruff])."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "snnviz", "tests", "benchmarks",
                        "apps"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
