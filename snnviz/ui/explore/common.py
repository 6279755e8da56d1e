"""Shared pieces of the exploration tabs: Markdown with LaTeX, the "what am I looking at"
toggle beside a figure, and figure styling for presenter mode."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from snnviz.explore.explain import explanation
from snnviz.ui.controls import label
from snnviz.ui.dashboard.extensions import Extension

__all__ = ["math_markdown", "info_toggle", "explained", "wrap_panes", "ExplainViews",
           "PRESENTER_FONT"]

PRESENTER_FONT = 18


def color(kind: str) -> dict[str, str]:
    """The keyword that colours a Panel button: ``color`` (newer Panel) or ``button_type``."""
    return {("color" if "color" in pn.widgets.Button.param else "button_type"): kind}


def _math(content: str, opts: dict) -> str:
    c = html.escape(content, quote=False)
    return f"$${c}$$" if opts.get("display_mode") else f"${c}$"


def _dollarmath(md: Any) -> None:
    """markdown-it plugin: keep ``$...$`` / ``$$...$$`` verbatim for KaTeX instead of letting
    Markdown eat the backslashes."""
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    dollarmath_plugin(md, renderer=_math, allow_space=True, allow_digits=True,
                      double_inline=True)


def markdown_html(text: str) -> str:
    """Markdown with LaTeX -> HTML whose math is still delimited by dollars."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    _dollarmath(md)
    return md.render(text)


def math_markdown(text: str, **kw: Any) -> pn.pane.LaTeX:
    """Markdown with ``$...$`` / ``$$...$$`` equations, rendered in the browser by KaTeX
    (bundled with Panel and served by the dashboard itself, so it works offline)."""
    return pn.pane.LaTeX(markdown_html(text), renderer="katex", **kw)


def info_toggle(key: str) -> pn.Column:
    """An "i" toggle that shows the explanation of view ``key`` (from
    :mod:`snnviz.explore.explain`) under it."""
    text = math_markdown(explanation(key), visible=False, sizing_mode="stretch_width",
                         css_classes=["snnviz-explain"],
                         styles={"background": "#f3f4f6", "border-radius": "6px",
                                 "padding": "0 10px"})
    button = pn.widgets.Toggle(**label("What am I looking at?"), value=False, width=210,
                               **color("light"), css_classes=["snnviz-explain-toggle"])
    button.param.watch(lambda e: setattr(text, "visible", bool(e.new)), "value")
    return pn.Column(button, text, sizing_mode="stretch_width", margin=0)


def explained(pane: Any, key: str) -> pn.Column:
    """``pane`` with its explanation toggle above it; the pair hides with the pane."""
    col = pn.Column(info_toggle(key), pane, sizing_mode="stretch_width", margin=0)
    if hasattr(pane, "visible"):
        col.visible = pane.visible
        pane.param.watch(lambda e: setattr(col, "visible", bool(e.new)), "visible")
    return col


#: Explanation keys of the built-in tabs' panes: (extension attribute, pane key) -> view.
BUILTIN_PANES = {("inspector", "input"): "input", ("inspector", "raster"): "raster",
                 ("inspector", "race"): "race", ("inspector", "membrane"): "membrane",
                 ("weights", "hist"): "weight_hist", ("weights", "tiles"): "tiles"}


def _toggle_row(items: list[Any], keys: dict[int, str]) -> pn.Row:
    """One explanation toggle per item of a row of figures (a spacer where there is none)."""
    cells = []
    for item in items:
        key = keys.get(id(item))
        cells.append(info_toggle(key) if key is not None else pn.Spacer(
            sizing_mode="stretch_width"))
    row = pn.Row(*cells, sizing_mode="stretch_width", margin=0,
                 css_classes=["snnviz-explain-row"])
    row._snnviz_for = tuple(id(x) for x in items)
    for item, cell in zip(items, cells):                     # hidden with its figure
        if keys.get(id(item)) is not None and hasattr(item, "visible"):
            cell.visible = item.visible
            item.param.watch(lambda e, c=cell: setattr(c, "visible", bool(e.new)), "visible")
    return row


def wrap_panes(layout: Any, keys: dict[int, str]) -> int:
    """Insert, inside the column ``layout`` (and columns nested in it), a row of explanation
    toggles above every figure (or row of figures) whose ``id`` is in ``keys``; returns how
    many toggles were added. The figures themselves are not moved (a pane already shown in
    the browser keeps its place); toggles already added are not added again."""
    objects = getattr(layout, "objects", None)
    if objects is None or isinstance(layout, pn.Row):
        return 0
    n, i = 0, 0
    while i < len(layout.objects):
        obj = layout.objects[i]
        items = list(obj.objects) if isinstance(obj, pn.Row) else [obj]
        if any(id(x) in keys for x in items):
            prev = layout.objects[i - 1] if i > 0 else None
            if getattr(prev, "_snnviz_for", None) != tuple(id(x) for x in items):
                layout.insert(i, _toggle_row(items, keys))
                n += sum(id(x) in keys for x in items)
                i += 1
        elif isinstance(obj, pn.Column):
            n += wrap_panes(obj, keys)
        i += 1
    return n


class ExplainViews(Extension):
    """Extension adding the "what am I looking at" toggle to the Training tab's live views
    and to the Sample inspector and Weights tabs (their layouts are re-wrapped whenever the
    Training tab lays its views out again)."""

    title = "Explanations"

    def _wrap(self) -> None:
        from snnviz.explore.explain import EXPLANATIONS

        app = self.app
        keys = {id(p): k for k, p in app.live.items() if k in EXPLANATIONS}
        wrap_panes(app.training, keys)
        for (attr, pane_key), view in BUILTIN_PANES.items():
            ext = getattr(app, attr, None)
            pane = getattr(ext, "panes", {}).get(pane_key)
            if pane is not None:
                keys[id(pane)] = view
        for tab in app.tabs.objects[1:]:
            wrap_panes(tab, keys)

    def on_run(self, run: Any) -> None:
        self._wrap()

    def on_refresh(self, snap: Any, visible: bool, force: bool) -> None:
        if force:
            self._wrap()
