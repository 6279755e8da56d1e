"""Panel building blocks shared by the dashboard's views: a Plotly pane that sends in-place
changes, buttons, and :func:`show_fig` (patch a pane's figure in place and send it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import param
import plotly.graph_objects as go
from panel.custom import JSComponent

from snnviz.ui.controls import label

__all__ = ["FigurePane", "PageAck", "fig_height", "make_button", "make_pane", "show_fig"]


def _copy_tree(obj: Any) -> Any:
    """Copy nested dicts and lists; leave arrays and scalars shared."""
    if isinstance(obj, dict):
        return {k: _copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_copy_tree(v) for v in obj]
    return obj


class FigurePane(pn.pane.Plotly):
    """``pn.pane.Plotly`` that also sends in-place changes of nested properties, and keeps
    its height equal to its figure's when made with one (:func:`make_pane`).

    The stock pane keeps a shallow copy of the figure's JSON as the state last sent to the
    browser; nested dicts (``layout.title``, ``marker``) are shared with the figure, so a
    patched title or marker colour compares equal and is never sent, and nested numpy arrays
    are moved out of the figure. Copying the nested containers avoids both.
    """

    #: Page-side state the Plotly view reports after each redraw (autoscaled axis ranges, a
    #: render counter). Nothing on the server reads it, so it is dropped on arrival: three
    #: or four such messages follow every live redraw, and each cost the server's event
    #: loop a parameter update and a flip of Panel's busy indicator (~27 ms of CPU in the
    #: dashboard benchmark's profile).
    PAGE_ONLY = frozenset({"viewport", "relayout_data", "_render_count"})

    def __init__(self, object: Any = None, **params: Any) -> None:
        super().__init__(object, **params)
        self.param.watch(self._follow_height, "object")

    def _process_events(self, events: dict[str, Any]) -> None:
        events = {k: v for k, v in events.items() if k not in self.PAGE_ONLY}
        if events:
            super()._process_events(events)

    def _follow_height(self, event: Any) -> None:
        """Keep the pane as tall as its figure (a new figure or a patched height)."""
        h = fig_height(self.object)
        if h and self.height is not None and h != self.height:
            self.height = h

    @classmethod
    def _plotly_json_wrapper(cls, fig: Any) -> dict:
        return _copy_tree(super()._plotly_json_wrapper(fig))

    def _to_figure(self, obj: Any) -> Any:
        # The stock check also looks up go.FigureWidget, which retries a failing import on
        # every refresh when anywidget is not installed.
        return obj if isinstance(obj, go.Figure) else super()._to_figure(obj)


def make_button(text: str, color: str) -> pn.widgets.Button:
    kind = "color" if "color" in pn.widgets.Button.param else "button_type"   # newer Panel
    return pn.widgets.Button(**label(text), **{kind: color}, sizing_mode="stretch_width",
                             margin=(5, 3))


def fig_height(fig: Any) -> int | None:
    h = getattr(getattr(fig, "layout", None), "height", None)
    return int(h) if h else None


def make_pane(fig: Any, height: int | None = None) -> FigurePane:
    """A pane of the figure's own height (a fixed height keeps the page's layout still while
    a figure is redrawn: a pane that follows its content would make every redraw a layout
    pass of the whole page, which redraws every other figure too)."""
    return FigurePane(fig, link_figure=False, sizing_mode="stretch_width",
                      config={"displaylogo": False, "responsive": True},
                      height=height or fig_height(fig))


def show_fig(pane: pn.pane.Plotly, patch: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """Patch the pane's figure in place and send the changed data to the browser."""
    patch(pane.object, *args, **kw)
    pane.param.trigger("object")


class PageAck(JSComponent):
    """An invisible element that echoes ``seq`` back as ``ack`` once the page has processed
    the message that changed it. Messages to a page are processed in order, so ``ack ==
    seq`` means the page has taken in everything sent before it: the server's flow control
    (``TrainingApp``) sends the next view refresh only then.

    With each answer the page also reports ``busy``: the milliseconds its main thread spent
    in long tasks (over 50 ms: redraws of a slow page) since its previous answer, from the
    browser's Long Tasks API (0 where the browser lacks it, and for a page that keeps up).
    The server leaves a busy page that much idle time, in proportion, before the next
    refresh, so that clicks there are not queued behind redraws."""

    seq = param.Integer(default=0)
    ack = param.Integer(default=0)
    busy = param.Number(default=0.0, bounds=(0, None))

    _busy__ignore = ["ack", "busy"]   # answers from the page, not work the user asked for

    _esm = """
    export function render({ model }) {
      let busy = 0
      const P = window.PerformanceObserver
      if (P && (P.supportedEntryTypes || []).includes("longtask")) {
        new P((list) => { for (const e of list.getEntries()) busy += e.duration })
          .observe({ type: "longtask" })
      }
      model.on("seq", () => {
        model.busy = Math.round(busy)
        busy = 0
        model.ack = model.seq
      })
      const el = document.createElement("span")
      el.style.display = "none"
      return el
    }
    """
