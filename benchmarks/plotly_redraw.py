"""What one redraw of each live figure costs the browser, without the dashboard around it.

    python benchmarks/plotly_redraw.py [--redraws 20] [--browser-cpus 1]

Trains s4nn on ``mnist-mini`` with the served dashboard's settings for ``--steps`` trainer
steps (the curves then show as many points as a lecture-length run), builds every live view
of the Training tab from that snapshot with the kit's own figure builders and patchers, and
draws each in a bare page (no Panel, no server):
only the plotly.js bundle that Panel serves, in the system's headless Chromium (software
rendering, as in ``benchmarks/dashboard.py``). Each figure is redrawn ``--redraws`` times
with ``Plotly.react`` and changed data, as a live refresh does, with idle gaps between
redraws; the browser's main-thread time (DevTools ``Performance.getMetrics``: TaskDuration)
is divided by the redraws.

A served refresh carries the training curves and at most one other figure
(``MAX_OTHER_VIEWS``), so ``1000 / (curves + mean other)`` is the most refreshes per second
this browser can draw on a whole core, however little the server sends: the ceiling that
``benchmarks/dashboard.py``'s drawn refresh rate is measured against. The script prints
that ceiling and its ratio to the 10/s target.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import panel as pn  # noqa: E402

from snnviz import make_run_config  # noqa: E402
from snnviz.api import make_trainer  # noqa: E402
from snnviz.record import Recorder  # noqa: E402
from snnviz.training.events import BatchEnd, EvalEnd  # noqa: E402
from snnviz.ui.dashboard.app import MAX_OTHER_VIEWS  # noqa: E402
from snnviz.ui.dashboard.views import views_for  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
OVERRIDES = {"every": 10, "epochs": 1000}       # the served dashboard's settings
PLOTLY_JS = Path(pn.__file__).parent / "dist" / "bundled" / "plotlyplot"

PAGE = """<!doctype html><html><body style="margin:0">
<div id="g" style="width:1300px"></div>
<script src="%s"></script>
<script>
// Scale every numeric array of the traces a little: new data, the same structure.
function nudge(v, f) {
  if (Array.isArray(v)) return v.map(x => typeof x === 'number' ? x * f : nudge(x, f));
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v)) {
    const o = {}; for (const k in v) o[k] = nudge(v[k], f); return o;
  }
  return v;
}
window.draw = async (spec) => {
  const gd = document.getElementById('g');
  Plotly.purge(gd);
  await Plotly.newPlot(gd, spec.data, spec.layout, {displaylogo: false, responsive: true});
};
window.redraw = async (spec, i) => {
  const gd = document.getElementById('g');
  const f = 1 + 0.002 * ((i %% 5) + 1);
  await Plotly.react(gd, nudge(spec.data, f), spec.layout, {displaylogo: false, responsive: true});
};
</script></body></html>"""


def snapshot(steps: int):
    """A Recorder snapshot of an s4nn run: ``steps`` trainer steps or more, ending at a
    validation (the curves then hold as many points as a run of that length shows)."""
    cfg = make_run_config("s4nn", "mnist-mini", overrides=OVERRIDES)
    rec = Recorder(cfg.record)
    done = 0
    for ev in make_trainer(cfg).steps():
        rec(ev)
        done += isinstance(ev, BatchEnd)
        if done >= steps and isinstance(ev, EvalEnd) and ev.split == "val":
            break
    return rec.snapshot()


def figures(snap) -> dict[str, dict]:
    """Each live view's figure for ``snap``, as Plotly JSON."""
    out = {}
    for v in views_for(snap.run):
        fig = v.build(snap.run)
        v.patch(fig, snap)
        out[v.key] = json.loads(fig.to_json())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--redraws", type=int, default=20)
    p.add_argument("--steps", type=int, default=500, help="trainer steps recorded first")
    p.add_argument("--browser-cpus", default=None, help="pin the browser, e.g. 1")
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    snap = snapshot(a.steps)
    specs = figures(snap)
    bundle = next(PLOTLY_JS.glob("plotly-*.min.js"))
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "page.html"
        page_file.write_text(PAGE % bundle.as_uri())
        if a.browser_cpus:
            os.sched_setaffinity(0, {int(c) for c in a.browser_cpus.split(",")})
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(page_file.as_uri())
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")

            def busy() -> float:
                m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
                return m["TaskDuration"]

            cost = {}
            for key, spec in specs.items():
                page.evaluate("s => window.draw(s)", spec)
                page.wait_for_timeout(300)
                page.evaluate("s => window.redraw(s, 0)", spec)          # warm up
                page.wait_for_timeout(300)
                t0 = busy()
                for i in range(a.redraws):
                    page.evaluate("([s, i]) => window.redraw(s, i)", [spec, i + 1])
                    page.wait_for_timeout(150)                            # idle gap
                cost[key] = 1000.0 * (busy() - t0) / a.redraws
            browser.close()

    others = [v for k, v in cost.items() if k != "curves"]
    per_refresh = cost["curves"] + MAX_OTHER_VIEWS * sum(others) / max(len(others), 1)
    ceiling = 1000.0 / per_refresh
    print(f"browser main-thread time per redraw (bare Plotly, headless Chromium, software "
          f"rendering; s4nn on mnist-mini, {len(snap.step)} steps recorded; "
          f"{a.redraws} redraws each):")
    for key, ms in cost.items():
        print(f"  {key:<12} {ms:7.1f} ms")
    print(f"  a served refresh (curves + {MAX_OTHER_VIEWS} other view, mean): "
          f"{per_refresh:.1f} ms")
    print(f"most drawn refreshes per second on one core of this browser: {ceiling:.1f} "
          f"(curves alone: {1000.0 / cost['curves']:.1f})")
    print(f"ratio ceiling / target (10 per second): {ceiling / 10.0:.2f}")


if __name__ == "__main__":
    main()
