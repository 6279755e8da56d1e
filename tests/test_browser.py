"""The served dashboard in a real headless Chromium: start, live views, two independent tabs.

Needs Debian's ``chromium`` and Playwright for Python (``pip install playwright``; the system
browser is used, nothing is downloaded). Set ``SNNVIZ_ARTIFACTS`` to keep the screenshot.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Plotly graphs inside Panel's shadow roots: title and per-trace point counts.
PLOTS_JS = """() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('js-plotly-plot')) out.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return out.map(gd => ({
    title: (gd.layout && gd.layout.title && gd.layout.title.text) || '',
    traces: (gd.data || []).map(t => ({n: t.y ? t.y.length : 0, visible: t.visible !== false})),
  }));
}"""


def _plots(page) -> dict:
    return {p["title"]: p["traces"] for p in page.evaluate(PLOTS_JS)}


def _live_views_drawn(page) -> bool:
    plots = _plots(page)
    curves = plots.get("Training curves", [])
    membrane = next((t for title, t in plots.items() if title.startswith("Membrane")), [])
    return (len(curves) > 2 and curves[2]["n"] >= 2
            and any(t["visible"] and t["n"] > 1 for t in membrane[:-2]))


def _status(page) -> str:
    return page.locator(".snnviz-status").first.evaluate(
        "el => Array.from((el.shadowRoot || el).children)"
        ".filter(c => !['STYLE', 'LINK'].includes(c.tagName)).map(c => c.innerText).join(' ')")


def _settled(page) -> str:
    """The status once the last queued events of a paused run are shown."""
    text = ""
    while text != (text := _status(page)):
        page.wait_for_timeout(1500)
    return text


def _wait(page, cond, timeout=120.0, what="", poll_ms=500):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        page.wait_for_timeout(poll_ms)
    plots = {title: [t["n"] for t in traces] for title, traces in _plots(page).items()}
    raise AssertionError(f"timed out waiting for {what}; status: {_status(page)!r}; "
                         f"points per trace: {plots}")


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                        "(pip install playwright; the system chromium is used)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "panel", "serve", "apps/dashboard.py", "--address",
           "127.0.0.1", "--port", str(port), f"--allow-websocket-origin=127.0.0.1:{port}",
           f"--allow-websocket-origin=localhost:{port}",
           # a closed tab's session (and training process) ends 15 s after it disconnects
           "--check-unused-sessions", "1000"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}/dashboard"
    end = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                pytest.fail("panel serve did not start:\n" + proc.stdout.read().decode())
            time.sleep(0.5)
    yield url, proc.pid
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _training_processes(server_pid: int) -> set[int]:
    """The served app's training processes: children of the server's forkserver (Linux)."""
    parent: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent[int(pid)] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
                                   .split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return {pid for pid, pp in parent.items() if parent.get(pp) == server_pid}


def test_dashboard_in_chromium(server, tmp_path, record_property):
    from playwright.sync_api import sync_playwright

    server, server_pid = server

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                     for _ in range(2)]                   # two windows, both visible
            for page in pages:
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("requestfailed", lambda r: errors.append("request failed: " + r.url))
                page.set_default_timeout(120_000)
                page.goto(server, timeout=120_000)
                page.get_by_role("button", name="Start").wait_for()
            first, second = pages
            _wait(first, lambda: "Press Start" in _status(first), what="the run to load")
            first.get_by_role("button", name="Start").click()
            _wait(first, lambda: _live_views_drawn(first), what="accuracy and membrane views")
            first.get_by_role("button", name="Pause").click()
            _wait(first, lambda: "paused" in _status(first), what="tab 1 paused")
            before = _settled(first)
            shot = Path(os.environ.get("SNNVIZ_ARTIFACTS", tmp_path)) / "dashboard.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            first.screenshot(path=str(shot), full_page=True)
            record_property("screenshot", str(shot))
            assert shot.stat().st_size > 10_000

            # The second tab owns another run: one step there leaves the first tab alone.
            _wait(second, lambda: "Press Start" in _status(second), what="second run")
            second.get_by_role("button", name="Step").click()
            _wait(second, lambda: "step 1," in _status(second), what="one step in tab 2")
            assert "paused" in _status(second)
            assert _plots(second)["Training curves"][2]["n"] == 1
            assert _status(first) == before and "step 1," not in before
            assert _plots(first)["Training curves"][2]["n"] >= 2
            assert len(_training_processes(server_pid)) == 2      # one process per tab
        finally:
            browser.close()
    assert errors == []
    end = time.monotonic() + 60                # closed tabs: their processes end
    while _training_processes(server_pid) and time.monotonic() < end:
        time.sleep(0.2)
    assert not _training_processes(server_pid)
