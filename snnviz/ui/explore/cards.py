"""Sidebar cards: the evaluation policy as a visible setting, and the shareable link with
presenter mode.

:class:`PolicyCard` shows the two rules of the evaluation policy (no output spike, tie for the
first spike) as selectors, linked to the training settings, and the accuracy of the last
validation (and test) pass under every reported policy side by side.

:class:`ShareCard` keeps the page's URL query string equal to the session's state (algorithm,
dataset, seed, changed hyperparameters, open tab, inspected sample, presenter mode, runs
picked in the run library; :mod:`snnviz.explore.urlstate`), shows the link to copy, and
applies a decoded link's view, sample, runs and presenter mode when the page opens. Values a
link could not use are listed in the card.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import panel as pn

from snnviz.api import make_run_config
from snnviz.config import EvalPolicy
from snnviz.explore.figures import policy_rows
from snnviz.explore.urlstate import ExploreState, encode_state, slug
from snnviz.ui.controls import SECTIONS, controls_for, label, widget_value
from snnviz.ui.dashboard.extensions import Extension
from snnviz.ui.explore.common import PRESENTER_FONT, color, info_toggle

__all__ = ["PolicyCard", "ShareCard", "PRESENTER_CSS", "app_state"]

log = logging.getLogger(__name__)

_CHOICES = {f: EvalPolicy.__dataclass_fields__[f].metadata["choices"]
            for f in ("no_spike", "ties")}
PRESENTER_CSS = """
:root { --bokeh-font-size: 17px; --pn-font-size: 17px; }
body { font-size: 17px; }
.bk-panel-models-markup-HTML, .markdown { font-size: 1.25em; }
"""


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


class PolicyCard(Extension):
    title = "Evaluation policy"

    def __init__(self) -> None:
        self.no_spike = pn.widgets.Select(**label("no output spike"), options=list(
            _CHOICES["no_spike"]), sizing_mode="stretch_width")
        self.ties = pn.widgets.Select(**label("tie for the first spike"), options=list(
            _CHOICES["ties"]), sizing_mode="stretch_width")
        self.table = pn.pane.Markdown("", sizing_mode="stretch_width",
                                      css_classes=["snnviz-policy-table"])
        self._seen = -1
        self._sync = False
        self.no_spike.param.watch(lambda e: self._to_form("no_spike", e.new), "value")
        self.ties.param.watch(lambda e: self._to_form("ties", e.new), "value")
        self.widget: pn.Card | None = None

    def card(self) -> pn.viewable.Viewable:
        self.widget = pn.Card(
            pn.pane.Markdown("How the output race becomes a decision (applies at the next "
                             "Reset). The accuracy of the last evaluation under each policy:",
                             margin=(0, 5)),
            self.no_spike, self.ties, self.table, info_toggle("policy"),
            title="Evaluation policy", collapsed=False, sizing_mode="stretch_width")
        return self.widget

    def _to_form(self, name: str, value: str) -> None:
        if self._sync or self.app is None:
            return
        w = self.app.form.widgets.get(name)
        if w is not None and w.value != value:
            w.value = value

    def _from_form(self) -> None:
        if self.app is None:
            return
        self._sync = True
        try:
            for name, sel in (("no_spike", self.no_spike), ("ties", self.ties)):
                w = self.app.form.widgets.get(name)
                if w is not None:
                    sel.value = w.value
        finally:
            self._sync = False
        for name in ("no_spike", "ties"):
            w = self.app.form.widgets.get(name)
            if w is not None and not getattr(w, "_snnviz_policy", False):
                w.param.watch(lambda e: self._from_form(), "value")
                w._snnviz_policy = True

    def on_reset(self) -> None:
        self._from_form()
        self._seen = -1
        self.table.object = self.render(None, None, "")

    def on_refresh(self, snap: Any, visible: bool, force: bool) -> None:
        if snap.eval_version == self._seen and not force:
            return
        self._seen = snap.eval_version
        configured = ""
        if snap.run is not None:
            tr = snap.run.config.get("train", {})
            configured = EvalPolicy(tr.get("no_spike", "wrong"), tr.get("ties", "wrong")).name
        self.table.object = self.render(snap.val, snap.test, configured)

    @staticmethod
    def render(val: Any, test: Any, configured: str) -> str:
        """The side-by-side table (Markdown) from the last validation / test EvalEnd."""
        rows = policy_rows(val.by_policy if val is not None else None, configured)
        test_rows = policy_rows(test.by_policy if test is not None else None, configured)
        head = "| policy | no spike | tie | val |" + (" test |" if test is not None else "")
        sep = "|---|---|---|---|" + ("---|" if test is not None else "")
        lines = [head, sep]
        for r, t in zip(rows, test_rows):
            lines.append(f"| {r['policy']} | {r['no_spike']} | {r['ties']} | "
                         f"{_fmt(r['accuracy'])} |" +
                         (f" {_fmt(t['accuracy'])} |" if test is not None else ""))
        note = ("" if val is not None else
                "\n\n*Shown after the first validation pass (end of epoch 1).*")
        if val is not None:
            note = (f"\n\nValidation: {val.n} samples, {val.no_spike_rate:.1%} without an "
                    f"output spike, {val.tie_rate:.1%} tied.")
        return "\n".join(lines) + note


_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {}


def _defaults(algorithm: str, dataset: str) -> dict[str, Any]:
    key = (algorithm, dataset)
    if key not in _DEFAULTS:
        cfg = make_run_config(algorithm, dataset)
        parts = {"algorithm": cfg.algo, "training": cfg.train, "data": cfg.data,
                 "recording": cfg.record}
        _DEFAULTS[key] = {c.name: c.value for s in SECTIONS for c in controls_for(parts[s], s)}
    return _DEFAULTS[key]


def _text(v: Any) -> str:
    """A widget value as URL text (``60.0`` -> ``60``, exact for other floats)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def _tab_titles(app: Any) -> list[str]:
    names = getattr(app.tabs, "_names", None)
    return list(names) if names else ["Training"]


def app_state(app: Any, present: bool = False, hidden: tuple[str, ...] = ("settings",)
              ) -> ExploreState:
    """The :class:`ExploreState` of a :class:`TrainingApp` as it is now."""
    algorithm, dataset = app.algorithm.value, app.dataset.value
    defaults = _defaults(algorithm, dataset)
    overrides = {}
    for c in app.form.controls:
        if c.name == "seed":
            continue
        v = widget_value(c, app.form.widgets[c.name].value)
        if c.name in defaults and v != defaults[c.name] and v is not None:
            overrides[c.name] = _text(v)
    titles = _tab_titles(app)
    active = int(app.tabs.active or 0)
    view = slug(titles[active]) if 0 < active < len(titles) else None
    sample = int(getattr(getattr(app, "inspector", None), "sample_index", None).value or 0) \
        if getattr(app, "inspector", None) is not None else 0
    runs: tuple[str, ...] = ()
    for ext in app.extensions:
        choice = getattr(ext, "choice", None)
        if choice is not None and hasattr(ext, "library"):
            runs = tuple(choice.value)
    seed = app.form.widgets["seed"].value
    return ExploreState(algorithm, dataset, int(seed or 0), overrides, view, sample, present,
                        hidden, runs)


class ShareCard(Extension):
    title = "Share this view"

    def __init__(self, state: ExploreState | None = None, messages: list[str] | None = None
                 ) -> None:
        self.state = state if state is not None else ExploreState()
        self.messages = list(messages or [])
        self.present = pn.widgets.Toggle(**label("Presenter mode"), value=self.state.present,
                                         **color("primary"), width=150)
        self.link = pn.widgets.TextInput(**label("link to this view"), value="",
                                         sizing_mode="stretch_width",
                                         css_classes=["snnviz-share-link"])
        self.notes = pn.pane.Alert("", alert_type="warning", visible=False,
                                   sizing_mode="stretch_width",
                                   css_classes=["snnviz-link-notes"])
        self.query = ""
        self._applied = False
        self._last = 0.0
        self.present.param.watch(lambda e: self.apply_presenter(), "value")

    def card(self) -> pn.viewable.Viewable:
        if self.messages:
            self.notes.object = ("Some values of the link were not used: "
                                 + "; ".join(self.messages))
            self.notes.visible = True
        return pn.Card(self.notes, self.link, self.present,
                       pn.pane.Markdown("Copy the link: it opens this algorithm, dataset, "
                                        "settings, tab and sample. `&present=1` starts in "
                                        "presenter mode; `&hide=settings,buttons,algorithm,"
                                        "dataset,status,policy` picks what it hides.",
                                        margin=(0, 5)),
                       title="Share this view", collapsed=not self.messages,
                       sizing_mode="stretch_width")

    # ------------------------------------------------------------------ hooks ----------
    def on_refresh(self, snap: Any, visible: bool, force: bool) -> None:
        if not self._applied:
            self._applied = True
            self.apply_link()
            self.apply_presenter()
        if force or time.monotonic() - self._last > 0.5:
            self._last = time.monotonic()
            self.publish()
            if force and self.present.value:
                self._fonts()

    def apply_link(self) -> None:
        """Open the link's tab, sample and runs (the run settings were applied when the
        app was built)."""
        app, st = self.app, self.state
        if app is None:
            return
        if st.view:
            titles = [slug(t) for t in _tab_titles(app)]
            if st.view in titles:
                app.tabs.active = titles.index(st.view)
            else:
                self._note(f"view {st.view!r} is not a tab here (tabs: {', '.join(titles)})")
        for ext in app.extensions:
            idx = getattr(ext, "sample_index", None)
            if idx is not None and st.sample:
                end = idx.end if idx.end is not None else st.sample
                idx.value = min(st.sample, end)
            if st.runs and hasattr(ext, "library") and hasattr(ext, "select"):
                missing = ext.select(list(st.runs))
                if missing:
                    self._note(f"runs not in this server's library: {', '.join(missing)}")

    def _note(self, text: str) -> None:
        self.messages.append(text)
        self.notes.object = "Some values of the link were not used: " + "; ".join(
            self.messages)
        self.notes.visible = True

    def publish(self) -> None:
        """Put the current state into the page's URL and the link box."""
        if self.app is None:
            return
        try:
            st = app_state(self.app, bool(self.present.value), self.state.hidden)
        except Exception:   # a half-built form during a reset: try again at the next refresh
            log.debug("state not readable yet", exc_info=True)
            return
        q = encode_state(st)
        if q == self.query:
            return
        self.query = q
        loc = pn.state.location
        base = ""
        if loc is not None and getattr(loc, "pathname", ""):
            port = f":{loc.port}" if getattr(loc, "port", "") else ""
            base = f"{loc.protocol}//{loc.hostname}{port}{loc.pathname}"
        self.link.value = f"{base}?{q}"
        if loc is not None and getattr(loc, "pathname", "") and loc.search != "?" + q:
            try:
                loc.search = "?" + q
            except Exception:   # the link box still shows the state
                log.exception("could not update the page's URL")

    # ------------------------------------------------------------------ presenter ------
    def _controls(self) -> dict[str, list[Any]]:
        app = self.app
        others = [e for e in app.extensions if isinstance(e, PolicyCard)]
        return {
            "settings": [getattr(app, "_cards", None)],
            "buttons": [app.start_button, app.pause_button, app.step_button, app.reset_button],
            "algorithm": [app.algorithm], "dataset": [app.dataset], "status": [app.status],
            "policy": [e.widget for e in others],
        }

    def apply_presenter(self) -> None:
        """Hide the chosen controls and enlarge fonts (or undo it)."""
        if self.app is None:
            return
        on = bool(self.present.value)
        hidden = set(self.state.hidden) if on else set()
        for name, objs in self._controls().items():
            for o in objs:
                if o is not None:
                    o.visible = name not in hidden
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:       # this session only
            css = [c for c in pn.config.global_css if c != PRESENTER_CSS]
            pn.config.global_css = [*css, PRESENTER_CSS] if on else css
        self._fonts()
        self._last = 0.0

    def _fonts(self) -> None:
        """Figure fonts: large in presenter mode, the theme's otherwise."""
        from snnviz.viz.figures import THEME

        size = PRESENTER_FONT if self.present.value else THEME["font"]["size"]
        panes = list(self.app.live.values())
        for ext in self.app.extensions:
            panes += list(getattr(ext, "panes", {}).values())
        for pane in panes:
            fig = getattr(pane, "object", None)
            if fig is not None and hasattr(fig, "layout") and fig.layout.font.size != size:
                fig.layout.font.size = size
                pane.param.trigger("object")

