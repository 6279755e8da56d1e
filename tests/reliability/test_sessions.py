"""Concurrent dashboard sessions on a real local server.

``apps/dashboard.py`` is served by a Bokeh/Panel server running in a thread of this process
(as ``panel serve`` does, bound to 127.0.0.1 on a free port), and sessions are opened by
Bokeh's Python client (a real websocket each, as a browser tab). The app objects live in this
process, so the test can check them: five sessions training at once keep their own settings,
runs and training processes (the served app's ``worker="process"``); the server keeps
answering HTTP meanwhile; each closed session's training process ends, and 20 open/close
cycles leave no training process or thread and bounded memory behind.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import socket
import threading
import time
import urllib.request
import weakref
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pn = pytest.importorskip("panel")
from bokeh.client import pull_session  # noqa: E402

import snnviz.ui.panel_app as panel_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "apps" / "dashboard.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait(cond, timeout: float = 60.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")


def trainers() -> list:
    """Training threads and processes of this process still running."""
    return [*(t for t in threading.enumerate() if t.name == "snnviz-trainer" and t.is_alive()),
            *(p for p in mp.active_children() if p.name == "snnviz-trainer")]


class Server:
    """The dashboard served in a thread; ``apps``: every TrainingApp it created (weakly)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.apps: list[weakref.ref] = []
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True, name="test-server")

    def _main(self) -> None:
        from panel.io.server import get_server

        asyncio.set_event_loop(asyncio.new_event_loop())
        self.server = get_server({"dashboard": str(APP)}, port=self.port, address="127.0.0.1",
                                 websocket_origin=[f"127.0.0.1:{self.port}"], show=False,
                                 start=False, check_unused_sessions_milliseconds=100,
                                 unused_session_lifetime_milliseconds=100,
                                 keep_alive_milliseconds=0)
        self.server.start()
        self._ready.set()
        self.server.io_loop.start()

    def __enter__(self) -> Server:
        self.thread.start()
        assert self._ready.wait(60), "the server did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.server.io_loop.add_callback(self.server.io_loop.stop)
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dashboard"

    def live_apps(self) -> list:
        return [a for a in (r() for r in self.apps) if a is not None]

    def open(self, **args: str):
        """A connected client session and the server-side app it created."""
        n = len(self.apps)
        session = pull_session(url=self.url, arguments=args)
        wait(lambda: len(self.apps) > n, 30, "the session's app")
        return session, self.apps[n]()

    def call(self, app, fn) -> None:
        """Run ``fn`` on the server's event loop, inside the app's document lock."""
        done = threading.Event()

        def cb():
            try:
                fn()
            finally:
                done.set()

        app._test_doc.add_next_tick_callback(cb)
        assert done.wait(30), "the server did not run the callback"


@pytest.fixture
def server(monkeypatch):
    srv = Server()
    base = panel_app.TrainingApp

    class Recorded(base):                 # the served script looks the class up per session
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._test_doc = pn.state.curdoc
            srv.apps.append(weakref.ref(self))

    monkeypatch.setattr(panel_app, "TrainingApp", Recorded)
    with srv:
        yield srv


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.status == 200 and b"<html" in r.read(4096).lower()


TINY = {"hidden": "10", "online_chunk": "20", "every": "2", "epochs": "50"}


def test_five_concurrent_sessions_then_open_close_cycles(server):
    base_trainers = len(trainers())
    # ---- five sessions at once, each with its own settings from its URL
    specs = [dict(algorithm=a, seed=str(s), dataset="synthetic", **TINY)
             for a, s in (("s4nn", 1), ("bs4nn", 2), ("s4nn", 3), ("bs4nn", 4), ("s4nn", 5))]
    opened = [server.open(**spec) for spec in specs]
    apps = [app for _, app in opened]
    for app in apps:
        server.call(app, app.start)
    wait(lambda: all(a.snapshot.step.size >= 3 for a in apps), 120, "training in all sessions")
    assert http_ok(server.url)                   # the server answers while five sessions train
    for spec, app in zip(specs, apps):
        run = app.snapshot.run
        assert (run.algorithm, run.config["seed"]) == (spec["algorithm"], int(spec["seed"]))
        assert app.worker.cfg.algo.hidden == (10,) and app.worker.cfg.seed == int(spec["seed"])
    assert len({a.worker.process.pid for a in apps}) == 5               # one process each
    assert len({id(a.recorder) for a in apps}) == 5 and len({id(a.queue) for a in apps}) == 5
    # a setting changed in one session does not reach the others
    server.call(apps[0], lambda: setattr(apps[0].form.widgets["lr_out"], "value", 0.55))
    assert apps[0].form.widgets["lr_out"].value == 0.55
    assert all(a.form.widgets["lr_out"].value != 0.55 for a in apps[1:])
    assert all(a.worker.cfg.algo.lr_out != 0.55 for a in apps)      # running runs unchanged
    workers = [a.worker for a in apps]
    for session, _ in opened:
        session.close()
    opened.clear()
    apps.clear()
    wait(lambda: not any(w.alive for w in workers), 60, "the closed sessions' "
         "training processes to end")
    assert len(trainers()) == base_trainers
    workers.clear()

    # ---- 20 open/close cycles (a page load whose tab closes before it connects: the
    # server discards the session): no thread left behind, memory bounded
    rss, query = [], "?algorithm=s4nn&dataset=synthetic&hidden=10"
    for i in range(20):
        n = len(server.apps)
        assert http_ok(server.url + query)
        wait(lambda n=n: len(server.apps) > n, 30, "the session's app")
        app = server.apps[n]()
        workers.append(app.worker)
        app = None
        wait(lambda: not workers[-1].alive, 60,
             f"cycle {i}: the discarded session's training process to end")
        workers.clear()
        if i in (4, 19):
            wait(lambda: gc.collect() >= 0 and len(server.live_apps()) <= 1, 30,
                 "closed sessions' apps to be freed")
            rss.append(rss_mb())
    assert len(trainers()) == base_trainers
    assert rss[1] - rss[0] < 100, f"memory grew by {rss[1] - rss[0]:.0f} MB over 15 sessions"
    assert http_ok(server.url)
