"""Dashboard cost: training throughput headless vs watched, view refresh rate, click latency.

    python benchmarks/dashboard.py [--seconds 20] [--rounds 2] [--clicks 20] [--worker process]

Runs the Panel server in this process (so it can see each session's events) and drives it
with headless Chromium (the system ``/usr/bin/chromium``; nothing is downloaded) through
Playwright over the DevTools protocol. The browser is started in its own session, so on Linux
(with the usual scheduler autogroups) it takes its CPU share from the machine, not from the
server's share: closer to a classroom, where the browsers run on other machines. It still
runs on the same cores, so on a small machine the numbers stay pessimistic.

``--browser-cpus 1 --server-cpus 0`` pins the browser and the server (with every training
process it starts) to separate cores, so that the server's measurements see only what a
server with remote clients pays: the browser stands in for the client machines.

``--no-draw`` makes the pages skip Plotly's redraws (each figure is drawn once; the page
still takes in every message and acknowledges every refresh): a client that draws in no
time, so that what the server alone can deliver shows (``benchmarks/plotly_redraw.py``
measures what the redraws themselves cost this browser).

``--worker`` picks where each session's trainer runs, as ``TrainingApp(worker=...)``:
``process`` (the served app's choice: one training process per tab) or ``thread`` (a thread
of the server process).

1. Throughput: samples trained per wall-clock second by the same worker code, alone
   ("headless": no session open) and while one browser tab shows the live views
   ("watched"); headless and watched windows alternate ``--rounds`` times and the ratio of
   the sums is reported (target >= 0.8). Samples are counted from the runs' ``BatchEnd``
   events (epoch, position in the epoch), which both worker kinds deliver.
2. View updates per second: live-view refreshes the server sent while watched (target >= 10).
3. Control latency: in the page, time from a Pause/Start click to the status line showing
   the new state, with 1 and with 5 tabs training at once (target p95 <= 200 ms).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import socket
import subprocess
import tempfile
import time

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import panel as pn  # noqa: E402

from snnviz import make_run_config  # noqa: E402
from snnviz.record import EventQueue  # noqa: E402
from snnviz.training.events import BatchEnd  # noqa: E402
from snnviz.ui.dashboard import Extension  # noqa: E402
from snnviz.ui.dashboard.app import WORKER_NICE, WORKERS  # noqa: E402
from snnviz.ui.panel_app import TrainingApp  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OVERRIDES = {"every": 10, "epochs": 1000}          # the dashboard's settings, never ends

# In-page click-to-answer timing (the controls live in Panel's shadow roots).
CLICK_JS = """async ([label, expect]) => {
  const all = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      all.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  const button = all.find(el => el.tagName === 'BUTTON' && el.textContent.trim() === label);
  const host = all.find(el => el.classList && el.classList.contains('snnviz-status'));
  const text = () => (host.shadowRoot || host).textContent;
  const t0 = performance.now();
  button.click();
  while (!text().includes(expect)) {
    await new Promise(r => setTimeout(r, 2));
    if (performance.now() - t0 > 10000) return -1;
  }
  return performance.now() - t0;
}"""


# ``--no-draw``: the page keeps everything but Plotly's redraws. Each figure is drawn once
# (so the view's event hooks and full layout exist); later redraws, relayouts and resizes
# return at once. The page still takes in every message, unpacks the figures' data and
# acknowledges each refresh: a stand-in for a client that draws in no time, so that the
# server's own limits show.
NO_DRAW_JS = """(() => {
  let P;
  const done = (gd) => Promise.resolve(gd);
  Object.defineProperty(window, 'Plotly', {configurable: true, get() { return P; }, set(v) {
    P = v;
    v.react = done; v.relayout = done; v.restyle = done;
    if (v.Plots) v.Plots.resize = done;
  }});
})();"""


def cpu_list(text: str) -> set[int]:
    """``"0"`` or ``"0,2"`` -> a set of core numbers (for ``os.sched_setaffinity``)."""
    return {int(c) for c in text.split(",") if c.strip()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(pw, port: int, timeout: float = 60.0):
    """Attach Playwright to the Chromium listening for DevTools on ``port``."""
    end = time.monotonic() + timeout
    while True:
        try:
            return pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        except Exception:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def trained(ev: BatchEnd | None) -> int:
    """Samples trained by the end of the step of ``ev`` (a run of fixed-size epochs)."""
    return 0 if ev is None else ev.epoch * ev.epoch_size + ev.seen


class LastStep(Extension):
    """Keeps the last ``BatchEnd`` its session recorded (read from the benchmark's thread)."""

    def __init__(self) -> None:
        self.last: BatchEnd | None = None

    def on_reset(self) -> None:
        self.last = None

    def on_event(self, event) -> None:
        if isinstance(event, BatchEnd):
            self.last = event


def worker_cpu(worker) -> float:
    """CPU seconds used so far by a session's training thread or process (Linux)."""
    if hasattr(worker, "thread"):
        return thread_cpu(worker.thread.native_id)
    return stat_cpu(f"/proc/{worker.process.pid}/stat")


def headless_rate(seconds: float, kind: str, nice: int) -> dict:
    """Samples/s of the dashboard's worker with nobody watching, and the share of a core its
    thread or process used (``nice``: the worker's nice increment, as the app's)."""
    queue = EventQueue(512)
    worker = WORKERS[kind](make_run_config("s4nn", "mnist-mini", overrides=OVERRIDES), queue,
                           nice=nice)
    last: list[BatchEnd | None] = [None]

    def drain(wait: float) -> None:
        end = time.perf_counter() + wait
        while True:
            while (ev := queue.get()) is not None:
                if isinstance(ev, BatchEnd):
                    last[0] = ev
            if time.perf_counter() >= end:
                return
            time.sleep(0.02)

    worker.resume()
    while last[0] is None:                                # built and training
        drain(0.05)
    drain(2.0)                                            # compile and warm up
    s0, t0, c0 = trained(last[0]), time.perf_counter(), worker_cpu(worker)
    drain(seconds)
    dt = time.perf_counter() - t0
    out = {"rate": (trained(last[0]) - s0) / dt, "cpu": (worker_cpu(worker) - c0) / dt}
    worker.stop()
    return out


class Sessions:
    """Browser tabs on the in-process server, each with its TrainingApp."""

    def __init__(self, browser, url: str, apps: list, init_js: str | None = None) -> None:
        self.browser, self.url, self.apps, self.init_js = browser, url, apps, init_js

    def open(self, n: int) -> list:
        """``n`` tabs, each in its own browser context (window), as ``(page, app)``."""
        first = len(self.apps)
        pages = []
        for _ in range(n):        # one window each: a background tab would not be drawn
            ctx = self.browser.new_context(viewport={"width": 1400, "height": 1000})
            if self.init_js:
                ctx.add_init_script(self.init_js)
            page = ctx.new_page()
            page.set_default_timeout(180_000)
            page.goto(self.url, timeout=180_000)
            pages.append(page)
        for page in pages:
            page.get_by_role("button", name="Start").wait_for()
        while len(self.apps) < first + n or any(a._snap.run is None
                                                for a in self.apps[first:]):
            time.sleep(0.2)
        return list(zip(pages, self.apps[first:]))

    @staticmethod
    def close(tabs: list) -> None:
        for page, app in tabs:
            app.close()
            page.context.close()


def start_all(tabs: list) -> None:
    for page, _ in tabs:
        page.evaluate(CLICK_JS, ["Start", "running"])
    time.sleep(3.0)                                       # warm up


def stat_cpu(path: str) -> float:
    """CPU seconds (user + system) in a ``/proc/.../stat`` file (Linux)."""
    fields = open(path).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(tid: int) -> float:
    """CPU seconds used so far by thread ``tid`` of this process (Linux)."""
    return stat_cpu(f"/proc/self/task/{tid}/stat")


def browser_cpu() -> float:
    """CPU seconds used so far by all chromium processes (Linux)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if "chromium" in open(f"/proc/{pid}/comm").read():
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


def watched_rate(tabs: list, seconds: float, loop_tid: int) -> dict:
    """Samples/s of the first tab's run, live-view refreshes/s it was sent, and the share of
    a core used by its training thread or process, the server's event loop and the browser."""
    app = tabs[0][1]
    worker = app.worker
    steps = next(e for e in app.extensions if isinstance(e, LastStep))
    first = steps.last
    u0, t0 = app.updates, time.perf_counter()
    c0 = worker_cpu(worker), thread_cpu(loop_tid), browser_cpu()
    time.sleep(seconds)
    dt = time.perf_counter() - t0
    c1 = worker_cpu(worker), thread_cpu(loop_tid), browser_cpu()
    last = steps.last
    return {"rate": (trained(last) - trained(first)) / dt,
            "updates": (app.updates - u0) / dt,
            "steps": (last.step - first.step) / dt if first is not None else 0.0,
            "cpu": [(b - a) / dt for a, b in zip(c0, c1)]}


class LoopLag:
    """How late the server's event loop runs a callback scheduled every ``period`` seconds:
    the wait any click (or any other message) meets on the server before it is handled.
    Measured inside the server, so it excludes the measuring browser's own rendering
    backlog, which on this machine shares the cores with the server and the training."""

    def __init__(self, loop, period: float = 0.01) -> None:
        self.loop, self.period = loop, period               # the server's asyncio loop
        self.lags: list[float] = []
        self.recording = False
        self.loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        self._due = time.perf_counter() + self.period
        self.loop.call_later(self.period, self._tick)

    def _tick(self) -> None:
        if self.recording:
            self.lags.append(max(time.perf_counter() - self._due, 0.0) * 1000.0)
        self._arm()

    def take(self) -> np.ndarray:
        out, self.lags = np.asarray(self.lags), []
        return out


def latencies(tabs: list, clicks: int) -> np.ndarray:
    out = []
    for k in range(clicks):
        page, _ = tabs[k % len(tabs)]
        out.append(page.evaluate(CLICK_JS, ["Pause", "paused"]))
        time.sleep(0.3)
        out.append(page.evaluate(CLICK_JS, ["Start", "running"]))
        time.sleep(0.3)
    return np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput window")
    parser.add_argument("--rounds", type=int, default=4, help="headless/watched pairs")
    parser.add_argument("--clicks", type=int, default=20, help="pause+start pairs per case")
    parser.add_argument("--worker", choices=sorted(WORKERS), default="process",
                        help="where each session's trainer runs (the served app: process)")
    parser.add_argument("--server-cpus", type=cpu_list, default=None,
                        help="pin the server and its training to these cores, e.g. 0")
    parser.add_argument("--browser-cpus", type=cpu_list, default=None,
                        help="pin the browser to these cores, e.g. 1")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="profile the server's event loop (CPU time) during the watched "
                             "windows and write the cProfile statistics to FILE")
    parser.add_argument("--worker-nice", type=int, default=None,
                        help="the training processes' nice increment (default: the app's, "
                             f"{WORKER_NICE})")
    parser.add_argument("--no-draw", action="store_true",
                        help="pages skip Plotly's redraws (a client that draws in no time): "
                             "what the server alone can deliver")
    args = parser.parse_args()
    if args.server_cpus:             # before any thread or process starts: all inherit it
        os.sched_setaffinity(0, args.server_cpus)
    from playwright.sync_api import sync_playwright

    apps: list[TrainingApp] = []
    nice = WORKER_NICE if args.worker_nice is None else args.worker_nice

    def session():
        app = TrainingApp(overrides=OVERRIDES, worker=args.worker, extensions=[LastStep],
                          worker_nice=nice)
        apps.append(app)
        return app.template()

    port = free_port()
    server = pn.serve({"dashboard": session}, port=port, address="127.0.0.1", show=False,
                      threaded=True, websocket_origin=[f"127.0.0.1:{port}"])
    time.sleep(1.0)
    url = f"http://127.0.0.1:{port}/dashboard"
    results = {}
    load0 = os.getloadavg()
    cdp = free_port()
    profile = tempfile.TemporaryDirectory()
    chromium = subprocess.Popen(
        [CHROMIUM, *ARGS, f"--remote-debugging-port={cdp}", f"--user-data-dir={profile.name}",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, args.browser_cpus))
        if args.browser_cpus else None)
    lag = LoopLag(server.asyncio_loop)
    # cProfile sees only the thread that enables it: the event loop enables it itself.
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    with sync_playwright() as pw:
        browser = connect(pw, cdp)
        sessions = Sessions(browser, url, apps, NO_DRAW_JS if args.no_draw else None)
        head, watched = [], []
        for _ in range(args.rounds):
            head.append(headless_rate(args.seconds, args.worker, nice))
            tabs = sessions.open(1)
            start_all(tabs)
            if profiler is not None:
                server.asyncio_loop.call_soon_threadsafe(profiler.enable)
            watched.append(watched_rate(tabs, args.seconds, server.native_id))
            if profiler is not None:
                server.asyncio_loop.call_soon_threadsafe(profiler.disable)
            sessions.close(tabs)
        for n in (1, 5):
            tabs = sessions.open(n)
            start_all(tabs)
            lag.take()
            lag.recording = True
            lat = latencies(tabs, args.clicks)
            lag.recording = False
            results[n] = lat[lat >= 0], int((lat < 0).sum()), lag.take()
            sessions.close(tabs)
        browser.close()
    chromium.terminate()
    chromium.wait(10)
    profile.cleanup()
    server.stop()
    if profiler is not None:
        profiler.dump_stats(args.profile)

    rates = [w["rate"] for w in watched]
    head_rates = [h["rate"] for h in head]
    cpu = np.mean([w["cpu"] for w in watched], axis=0)
    load1 = os.getloadavg()
    print(f"dashboard benchmark (s4nn on mnist-mini, 784-400-10, online chunks of 100; "
          f"training in a {args.worker} per session)")
    print(f"  machine: {os.cpu_count()} cores, load average (1/5/15 min) at the start "
          f"{load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f}, at the end "
          f"{load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f}")
    if args.no_draw:
        print("  client: pages skip Plotly's redraws (--no-draw): the server's own limits")
    if args.server_cpus or args.browser_cpus:
        print(f"  pinned: server and training on cores {sorted(args.server_cpus or [])}, "
              f"browser on cores {sorted(args.browser_cpus or [])}")
    print(f"  headless samples/s per round: {', '.join(f'{r:,.0f}' for r in head_rates)}")
    print(f"  watched  samples/s per round: {', '.join(f'{r:,.0f}' for r in rates)}")
    print(f"  throughput ratio watched/headless: {sum(rates) / sum(head_rates):.2f}"
          " (target >= 0.8)")
    print(f"  live-view updates per second: {np.mean([w['updates'] for w in watched]):.1f}"
          f" (target >= 10; at most one per trainer step: "
          f"{np.mean([w['steps'] for w in watched]):.1f} steps/s while watched)")
    print(f"  cores used headless: training {args.worker} "
          f"{np.mean([h['cpu'] for h in head]):.2f}")
    print(f"  cores used while watched: training {args.worker} {cpu[0]:.2f}, server event loop"
          f" {cpu[1]:.2f}, chromium {cpu[2]:.2f}")
    for n, (lat, lost, lags) in results.items():
        print(f"  control latency, {n} session(s) training: p50 {np.percentile(lat, 50):.0f} ms,"
              f" p95 {np.percentile(lat, 95):.0f} ms, max {lat.max():.0f} ms over {len(lat)}"
              f" clicks{f', {lost} unanswered in 10 s' if lost else ''} (target p95 <= 200 ms)")
        print(f"    of which the server: event-loop wait p50 {np.percentile(lags, 50):.0f} ms, "
              f"p95 {np.percentile(lags, 95):.0f} ms, max {lags.max():.0f} ms "
              f"({len(lags)} probes every 10 ms); the rest is the page's own backlog")


if __name__ == "__main__":
    main()
