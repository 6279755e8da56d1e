"""The "Run library" tab: finished command-line runs, replayed and compared.

The library is the folder given when the server starts (:class:`snnviz.runs.RunLibrary`,
``SNNVIZ_RUNS``, default ``runs``); the browser only picks among the names the scan found.
Pick one or more runs: their accuracy curves, a scrubber over the recorded epochs that
replays the first run's views at that epoch (the watched sample's race and spikes, the
validation confusion and the accuracy under each evaluation policy; runs recorded before
``replay.json`` existed replay their curves only), and an A/B comparison of all picked runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn

from snnviz.explore.figures import (
    build_policy,
    build_run_compare,
    build_run_curves,
    compare_rows,
    probe_from_replay,
)
from snnviz.runs import Run, RunLibrary
from snnviz.training.events import EvalEnd
from snnviz.ui.controls import label
from snnviz.ui.dashboard.extensions import Extension
from snnviz.ui.dashboard.panes import make_pane
from snnviz.ui.explore.common import explained
from snnviz.viz import figures as vf

__all__ = ["RunLibraryTab", "compare_table"]


def _fmt(v: Any, kind: str = "") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if kind == "%":
        return f"{float(v):.2%}"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def compare_table(runs: list[Run]) -> str:
    """The A/B summary as a Markdown table."""
    head = ("| run | algorithm | dataset | seed | epochs | test accuracy | policy | wall time (s) "
            "| samples/s | spiking neurons / sample | mean output spike time |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = [f"| {r['run']} | {r['algorithm']} | {r['dataset']} | {_fmt(r['seed'])} | "
            f"{r['epochs']} | {_fmt(r['test_accuracy'], '%')} | {r['policy'] or '-'} | "
            f"{_fmt(r['wall_seconds'])} | {_fmt(r['samples_per_second'])} | "
            f"{_fmt(r['spikes_per_sample'])} | {_fmt(r['mean_output_time'])} |"
            for r in compare_rows(runs)]
    return head + "\n".join(rows)


class RunLibraryTab(Extension):
    title = "Run library"

    def __init__(self, library: RunLibrary | None = None) -> None:
        self.library = library if library is not None else RunLibrary.from_env()
        self.choice = pn.widgets.MultiChoice(**label("runs (the first is replayed)"), options={},
                                             sizing_mode="stretch_width")
        self.rescan_button = pn.widgets.Button(**label("Rescan"), width=90)
        self.epoch = pn.widgets.IntSlider(**label("replay up to epoch"), start=1, end=2, value=1,
                                          sizing_mode="stretch_width", disabled=True)
        self.where = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.replay_info = pn.pane.Markdown("", sizing_mode="stretch_width",
                                            css_classes=["snnviz-replay-info"])
        self.table = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.draw_button = pn.widgets.Button(
            **label("Draw a digit for the first picked run's trained network"), width=420,
            disabled=True)
        self.draw_button.on_click(lambda e: self.draw_with_run())
        self.panes = {"curves": make_pane(build_run_curves([])),
                      "race": make_pane(vf.build_race(None, ())),
                      "raster": make_pane(vf.build_raster(None)),
                      "confusion": make_pane(vf.build_confusion(None, ())),
                      "policy": make_pane(build_policy(None)),
                      "compare": make_pane(build_run_compare([]))}
        self.runs: list[Run] = []
        self.rescan_button.on_click(lambda e: self.rescan())
        self.choice.param.watch(lambda e: self.open(), "value")
        self.epoch.param.watch(lambda e: self.replay(), "value")
        self.rescan()

    def tab(self) -> pn.viewable.Viewable:
        p = self.panes
        return pn.Column(
            self.where, pn.Row(self.choice, self.rescan_button, sizing_mode="stretch_width"),
            self.draw_button,
            explained(p["curves"], "runs_curves"), self.epoch, self.replay_info,
            pn.Row(explained(p["race"], "race"), explained(p["confusion"], "confusion"),
                   sizing_mode="stretch_width"),
            pn.Row(explained(p["raster"], "raster"), explained(p["policy"], "policy"),
                   sizing_mode="stretch_width"),
            explained(p["compare"], "runs_compare"), self.table,
            sizing_mode="stretch_width")

    def rescan(self) -> None:
        infos = self.library.scan()
        self.choice.options = {i.label: i.name for i in infos}
        self.choice.value = [v for v in self.choice.value if v in self.library.names()]
        self.where.object = (f"{len(infos)} finished runs found in the server's run folder "
                             "(`snnviz train --out runs/NAME` puts them there)."
                             if infos else
                             "No finished runs in the server's run folder yet: train one "
                             "with `snnviz train --out runs/NAME` and press Rescan.")

    def select(self, names: list[str]) -> list[str]:
        """Pick runs by name (as a shared link does); unknown names are returned."""
        known = self.library.names()
        self.choice.value = [n for n in names if n in known]
        return [n for n in names if n not in known]

    def open(self) -> None:
        runs, errors = [], []
        for name in self.choice.value:
            try:
                runs.append(self.library.open(name))
            except (KeyError, ValueError) as e:
                errors.append(str(e).strip("'\""))
        self.runs = runs
        n_epochs = max((len(r.history) for r in runs), default=0)
        self.epoch.disabled = n_epochs < 1
        self.epoch.param.update(start=1, end=max(n_epochs, 2),
                                value=max(min(self.epoch.value, n_epochs), 1))
        self.draw_button.disabled = not (runs and runs[0].info.has_checkpoint)
        self.panes["compare"].object = build_run_compare(runs)
        self.table.object = compare_table(runs) if runs else ""
        if errors and self.app is not None:
            self.app.show_message("; ".join(errors), "warning")
        self.replay()

    def draw_with_run(self) -> None:
        """Load the first picked run's best weights into the "Draw a digit" tab."""
        from snnviz.ui.explore.draw import DrawTab

        app = self.app
        if not self.runs or app is None:
            return
        draw = next((e for e in app.extensions if isinstance(e, DrawTab)), None)
        if draw is None:
            return
        try:
            net = self.library.network(self.runs[0].name)
        except (KeyError, ValueError) as e:
            app.show_message(str(e).strip("'\""), "warning")
            return
        draw.use_network(net, self.runs[0].name)
        titles = list(getattr(app.tabs, "_names", []))
        if draw.title in titles:
            app.tabs.active = titles.index(draw.title)

    def replay(self) -> None:
        """Redraw the views of the first picked run at the scrubbed epoch."""
        runs, k = self.runs, int(self.epoch.value)
        self.panes["curves"].object = build_run_curves(runs, upto=k if runs else None)
        if not runs:
            self.replay_info.object = ""
            return
        run = runs[0]
        entry = run.replay_epoch(k)
        t_max = int((run.replay or {}).get("t_max") or
                    run.result.get("config", {}).get("algo", {}).get("t_max", 1) or 1)
        classes = tuple((run.replay or {}).get("classes") or ())
        probe = probe_from_replay(entry, t_max)
        val = (entry or {}).get("val")
        race = vf.build_race(probe, classes)
        race.layout.title.text = (f"{run.name}, epoch {k}: " + race.layout.title.text
                                  if probe is not None else "Output race (not recorded)")
        self.panes["race"].object = race
        self.panes["raster"].object = vf.build_raster(
            probe, n_layers=len(probe.layers) if probe is not None else None)
        ev = None
        if val and val.get("confusion"):
            conf = np.asarray(val["confusion"], np.int64)
            ev = EvalEnd("val", k - 1, int(val.get("n", conf.sum())),
                         float(val.get("accuracy") or 0.0), dict(val.get("by_policy") or {}),
                         float(val.get("no_spike_rate") or 0.0),
                         float(val.get("tie_rate") or 0.0), conf)
        self.panes["confusion"].object = vf.build_confusion(ev, classes or tuple(
            str(i) for i in range(ev.confusion.shape[0])) if ev is not None else ())
        test = run.result.get("test_by_policy") if k >= len(run.history) else None
        self.panes["policy"].object = build_policy(
            (val or {}).get("by_policy"), test,
            title=f"{run.name}: accuracy under each policy (validation, epoch {k}"
                  + (", test" if test else "") + ")")
        h = run.history[k - 1] if 0 < k <= len(run.history) else {}
        val_acc = h.get("val_accuracy")
        self.replay_info.object = (
            f"**{run.name}**, epoch {k}/{len(run.history)}: train accuracy "
            f"{_fmt(h.get('train_accuracy'), '%')}, validation {_fmt(val_acc, '%')}, "
            f"{_fmt(h.get('seconds'))} s."
            + ("" if run.replay else " This run has no replay record (it was trained before "
               "`replay.json` existed): only its curves replay.")
            + (f" Replay record unreadable: {run.replay_error}" if run.replay_error else ""))
