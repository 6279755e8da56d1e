"""Security: the server binds to localhost unless told otherwise, hostile links open the normal
dashboard, the UI takes no file-system path, drawn input is validated, and no user data is
ever evaluated, executed or unpickled."""

from __future__ import annotations

import ast
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from snnviz.algorithms import ALGORITHMS
from snnviz.config import DataConfig, field_specs

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(port: int, **make_vars: str) -> str:
    """The command ``make serve`` runs (dry run), with ``PORT`` and other variables set."""
    extra = [f"{k}={v}" for k, v in make_vars.items()]
    p = subprocess.run(["make", "-n", "serve", f"PORT={port}", *extra], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    text = p.stdout.replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if "panel serve" in ln)
    return line.strip()


def listeners(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    out = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            addr, state = parts[1], parts[3]
            host, hport = addr.rsplit(":", 1)
            if state == "0A" and int(hport, 16) == port:             # LISTEN
                if name == "tcp":
                    out.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(host)[::-1]))
                else:
                    raw = bytes.fromhex(host)
                    b = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    out.add(socket.inet_ntop(socket.AF_INET6, b))
    return out


def test_make_serve_binds_to_localhost_unless_told_otherwise():
    cmd = serve_command(5999)
    assert "--address 127.0.0.1" in cmd
    assert "--allow-websocket-origin=localhost:5999" in cmd
    assert "--address 0.0.0.0" in serve_command(5999, ADDRESS="0.0.0.0")   # told otherwise


# non-UTF-8 bytes, markup as the algorithm, a path as dataset, non-settable path and device
# fields, a non-finite and a 5,000-digit number, a negative seed, path-like run names
HOSTILE = ("algorithm=%3Cscript%3Ealert(1)%3C%2Fscript%3E&view=%FF%FE"
           "&dataset=..%2F..%2Fetc%2Fpasswd&data_root=%2Fetc&device=cuda&lr_out=nan"
           "&t_max=" + "9" * 5000 + "&seed=-1&runs=..%2F..%2Froot,%2Fetc")


@pytest.mark.slow
def test_served_dashboard_binds_localhost_and_survives_hostile_links(tmp_path):
    """``make serve``'s command (on a free port): it listens on 127.0.0.1 only, and links
    with hostile query strings still open the dashboard (HTTP 200, no error page)."""
    port = free_port()
    env = dict(os.environ, SNNVIZ_RUNS=str(tmp_path / "runs"), NUMBA_NUM_THREADS="1")
    proc = subprocess.Popen(serve_command(port), shell=True, cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        end = time.monotonic() + 180
        while not listeners(port) and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.2)
        assert listeners(port) == {"127.0.0.1"}, listeners(port)
        for query in ("", HOSTILE):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard?{query}",
                                        timeout=120) as r:
                body = r.read().decode("utf-8", "replace")
                assert r.status == 200
            assert "Traceback" not in body and "<script>alert(1)</script>" not in body
            assert "snnviz" in body
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
    assert b"Traceback" not in err, err.decode(errors="replace")[-2000:]


def test_hostile_link_values_are_dropped_with_a_message():
    """The URL parser (used by apps/dashboard.py) never raises and keeps the defaults."""
    from snnviz.explore.urlstate import ExploreState, decode_state, settable_fields

    d = ExploreState()
    query = {"algorithm": [b"\xff\xfe"], "dataset": [b"../../etc/passwd"],
             "data_root": [b"/etc"], "device": [b"cuda"], "lr_out": [b"nan"],
             "t_max": [b"9" * 5000], "seed": [b"-1"], "runs": [b"../../root,/etc"],
             "hidden": [b"1" + b",1" * 5000], "\x00evil": [b"1"]}
    state, msgs = decode_state(query, datasets=["mnist-mini", "synthetic"])
    assert (state.algorithm, state.dataset, state.seed) == (d.algorithm, d.dataset, d.seed)
    assert state.overrides == {} and state.runs == ()
    text = "\n".join(msgs)
    for needle in ("algorithm", "dataset", "data_root", "device", "lr_out", "t_max", "seed",
                   "runs", "hidden", "unreadable name"):
        assert needle in text, (needle, text)
    assert len(text) < 4000                                   # huge values are not echoed
    for algo in ALGORITHMS:                                   # no path or device from a URL
        assert not {"data_root", "device", "dtype", "dataset"} & set(settable_fields(algo))
    many = {f"k{i}": [b"1"] for i in range(500)}
    state, msgs = decode_state(many, datasets=["mnist-mini"])
    assert state.overrides == {} and any("only the first" in m for m in msgs)


def test_the_ui_takes_no_file_system_path():
    """No generated widget edits a path; datasets are chosen by name from a fixed list."""
    pytest.importorskip("panel")
    import panel as pn

    from snnviz.data import DATASETS
    from snnviz.ui.controls import ConfigForm, available_datasets
    from snnviz.ui.panel_app import TrainingApp

    ui_fields = {f.name for f, _ in field_specs(DataConfig) if f.metadata.get("ui", True)}
    assert "data_root" not in ui_fields
    pathish = re.compile(r"root|path|dir|file|folder|checkpoint")
    for algo in ALGORITHMS:
        names = {c.name for c in ConfigForm(algo, "synthetic").controls}
        assert not [n for n in names if pathish.search(n)], (algo, names)
    assert set(available_datasets()) <= set(DATASETS)
    app = TrainingApp("s4nn", "synthetic", overrides={"hidden": "8"})
    try:
        assert set(app.dataset.options) <= set(DATASETS)
        assert not app.__panel__().select(pn.widgets.FileInput)  # nothing to upload a file
    finally:
        app.close()
    # a crafted client could send any string as the selected dataset: names are only looked
    # up in the fixed table, never opened as paths
    from snnviz.data import DatasetError, load_dataset

    for name in ("/etc/passwd", "../../etc/passwd", "mnist/../../x", "~/.ssh/id_rsa"):
        with pytest.raises(DatasetError, match="unknown dataset"):
            load_dataset(name)


def test_drawn_digit_is_validated():
    """The only user data the dashboard takes in: the drawing canvas's 28x28 ink values."""
    from snnviz.explore.drawing import canvas_to_image, drawing_input

    ok = canvas_to_image([300.0] * 784)                       # clipped into 0..255
    assert ok.shape == (28, 28) and ok.dtype == np.uint8 and ok.max() == 255
    for values, says in (([0] * 783, "has 783 values, expected 784"),
                         ([0] * 1_000_000, "has 1000000 values, expected 784"),
                         ([float("nan")] * 784, "not numbers"),
                         ([float("inf")] * 784, "not numbers"),
                         (["<script>"] * 784, "must be a list of numbers"),
                         ([], "has 0 values")):
        with pytest.raises(ValueError, match=re.escape(says)):
            canvas_to_image(values)
    x = drawing_input([0] * 784, (1, 28, 28))
    assert tuple(np.shape(x))[-2:] == (28, 28)


# ------------------------------------------------------------------ no eval/exec/unpickling


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else (
                f"{ast.unparse(f.value)}.{f.attr}" if isinstance(f, ast.Attribute) else "")
            yield node, name


#: Unpickling that reads only the server's private pipe to a training process it started
#: itself (from its own forkserver): both ends are this program, nothing from outside
#: travels on it (multiprocessing pickles on the same kind of pipe). Listed by file and call
#: so that any other use is still caught.
TRUSTED_PIPES = {("snnviz/ui/dashboard/process_worker.py", "pickle.loads")}


def test_no_eval_exec_or_unsafe_unpickling_in_the_package():
    sources = sorted((ROOT / "snnviz").rglob("*.py")) + sorted((ROOT / "apps").rglob("*.py"))
    assert len(sources) > 20
    bad = []
    for path in sources:
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(ROOT)
        for node, name in _calls(tree):
            kw = {k.arg: k.value for k in node.keywords}
            if name in ("eval", "exec", "compile", "__import__", "pickle.load", "pickle.loads",
                        "marshal.load", "marshal.loads", "shelve.open", "dill.load",
                        "yaml.load", "yaml.unsafe_load", "os.system"):
                if (where.as_posix(), name) not in TRUSTED_PIPES:
                    bad.append(f"{where}:{node.lineno}: {name}(")
            if name == "torch.load" and not (isinstance(kw.get("weights_only"), ast.Constant)
                                             and kw["weights_only"].value is True):
                bad.append(f"{where}:{node.lineno}: torch.load without weights_only=True")
            if name in ("np.load", "numpy.load") and not (
                    isinstance(kw.get("allow_pickle"), ast.Constant)
                    and kw["allow_pickle"].value is False):
                bad.append(f"{where}:{node.lineno}: np.load without allow_pickle=False")
            if name.endswith(("subprocess.run", "subprocess.Popen")) and isinstance(
                    kw.get("shell"), ast.Constant) and kw["shell"].value is True:
                bad.append(f"{where}:{node.lineno}: subprocess with shell=True")
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            if any(ast.unparse(b).endswith("Unpickler") for b in cls.bases):
                methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
                if "find_class" not in methods:     # an allow-list is required
                    bad.append(f"{where}:{cls.lineno}: Unpickler without find_class")
    assert not bad, "\n".join(bad)
