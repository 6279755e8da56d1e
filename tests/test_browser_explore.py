"""Exploration features in a real headless Chromium: draw a digit on the canvas and see the
network's answer; open a shared link (tab, sample, presenter mode, a hostile value) and get
that view back; explanations render their equations.

Same setup as tests/test_browser.py: Debian's ``chromium`` and Playwright for Python (the
system browser is used, nothing is downloaded). Set ``SNNVIZ_ARTIFACTS`` to keep the
screenshots.
"""

import json
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
SMALL = "algorithm=s4nn&dataset=synthetic&hidden=12&online_chunk=20&init_out=60"

# Plotly graphs inside Panel's shadow roots: their titles.
TITLES_JS = """() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('js-plotly-plot') && el.offsetParent !== null)
        out.push((el.layout && el.layout.title && el.layout.title.text) || '');
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return out;
}"""

# Elements matching a selector anywhere, shadow roots included; visible ones only.
COUNT_JS = """(sel) => {
  let n = 0;
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.matches(sel) && el.getClientRects().length) n += 1;
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return n;
}"""


def _text(page, css_class: str) -> str:
    """Rendered text of the Panel pane with ``css_class`` (its content is in a shadow root)."""
    return page.locator("." + css_class).first.evaluate(
        "el => Array.from((el.shadowRoot || el).children)"
        ".filter(c => !['STYLE', 'LINK'].includes(c.tagName)).map(c => c.innerText).join(' ')")


def _titles(page) -> list[str]:
    return page.evaluate(TITLES_JS)


def _wait(page, cond, timeout=120.0, what="", poll_ms=500):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        page.wait_for_timeout(poll_ms)
    raise AssertionError(f"timed out waiting for {what}; plots: {_titles(page)}\n"
                         f"server log:\n{_server_log()}")


SERVER_LOG: list[Path] = []


def _server_log() -> str:
    return SERVER_LOG[0].read_text(errors="replace")[-3000:] if SERVER_LOG else ""


def _library(root: Path) -> None:
    run = root / "old-run"
    run.mkdir(parents=True)
    hist = [{"epoch": e, "train_accuracy": 0.5, "val_accuracy": 0.4 + e / 20,
             "train_loss": 0.1, "seconds": 1.0} for e in (1, 2)]
    run.joinpath("result.json").write_text(json.dumps(
        {"algorithm": "s4nn", "dataset": "synthetic", "seed": 0, "status": "ok",
         "test_accuracy": 0.5, "history": hist}))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                        "(pip install playwright; the system chromium is used)")
    runs = tmp_path_factory.mktemp("runs")
    _library(runs)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "panel", "serve", "apps/dashboard.py", "--address",
           "127.0.0.1", "--port", str(port), f"--allow-websocket-origin=127.0.0.1:{port}",
           f"--allow-websocket-origin=localhost:{port}"]
    log = open(runs.parent / "serve.log", "w+b")                 # noqa: SIM115
    SERVER_LOG[:] = [runs.parent / "serve.log"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "NUMBA_NUM_THREADS": "1",
                                 "SNNVIZ_RUNS": str(runs)})
    url = f"http://127.0.0.1:{port}/dashboard"
    end = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                pytest.fail("panel serve did not start:\n" + _server_log())
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _page(browser, url, errors):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append("request failed: " + r.url))
    page.set_default_timeout(120_000)
    page.goto(url, timeout=120_000)
    return page


def _shot(page, tmp_path, name):
    shot = Path(os.environ.get("SNNVIZ_ARTIFACTS", tmp_path)) / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_draw_a_digit_in_chromium(server, browser, tmp_path):
    errors: list[str] = []
    page = _page(browser, f"{server}?{SMALL}&view=draw-a-digit", errors)
    canvas = page.locator("canvas.snnviz-draw")
    canvas.wait_for()
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + 0.3 * w, y0 + 0.2 * h)                  # a "7": a bar, then down
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x0 + (0.3 + 0.04 * k) * w, y0 + 0.2 * h)
    for k in range(1, 13):
        page.mouse.move(x0 + (0.7 - 0.02 * k) * w, y0 + (0.2 + 0.05 * k) * h)
    page.mouse.up()
    _wait(page, lambda: any(t.startswith("Output race for your drawing") for t in
                            _titles(page)), what="the drawing's output race")
    assert "Spikes of your drawing, layer by layer" in _titles(page)
    info = _text(page, "snnviz-draw-info")
    assert "weights after trainer step" in info.lower()
    # the explanation beside the race renders its equation with KaTeX
    page.get_by_role("button", name="What am I looking at?").first.click()
    _wait(page, lambda: page.evaluate(COUNT_JS, ".katex") > 0, what="a KaTeX equation")
    # the page's own URL now carries the state (shareable)
    _wait(page, lambda: "view=draw-a-digit" in page.url and "hidden=12" in page.url,
          what="the state in the URL")
    _shot(page, tmp_path, "draw.png")
    assert errors == []


def test_shared_link_reproduces_the_view_in_chromium(server, browser, tmp_path):
    errors: list[str] = []
    link = (f"{server}?{SMALL}&seed=4&view=neuron-sandbox&sample=2&present=1"
            "&hide=settings,buttons&data_root=/etc&runs=old-run")
    page = _page(browser, link, errors)
    _wait(page, lambda: any(t.startswith("Membrane potential of output neuron") for t in
                            _titles(page)), what="the sandbox's membrane view")
    summary = _text(page, "snnviz-sandbox-summary")
    assert "Test sample 2" in summary
    notes = _text(page, "snnviz-link-notes")
    assert "data_root" in notes                            # hostile value named, not used
    assert page.get_by_role("button", name="Start").count() == 0 or \
        not page.get_by_role("button", name="Start").first.is_visible()   # presenter mode
    # the link box shows the same state back (minus what was rejected)
    link_box = page.locator(".snnviz-share-link input").first
    _wait(page, lambda: "view=" in link_box.input_value(), what="the link box")
    value = link_box.input_value()
    assert "view=neuron-sandbox" in value and "sample=2" in value and "seed=4" in value
    assert "data_root" not in value and "runs=old-run" in value
    _shot(page, tmp_path, "shared.png")
    assert errors == []
