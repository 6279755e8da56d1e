"""The Training tab's live views, per algorithm.

:data:`VIEWS` lists every :class:`LiveView` in display order; a run shows those whose
``applies(run)`` holds (:func:`views_for`). Algorithm-specific views live in their own
modules and declare which runs they apply to.
"""

from __future__ import annotations

from snnviz.training.events import RunStart
from snnviz.ui.dashboard.views.base import LiveView, t_max_of
from snnviz.ui.dashboard.views.common import COMMON_VIEWS, FLIPS_VIEW
from snnviz.ui.dashboard.views.proxy import PROXY_VIEWS
from snnviz.ui.dashboard.views.ttfs import TTFS_VIEWS

__all__ = ["LiveView", "VIEWS", "views_for", "t_max_of"]

VIEWS: tuple[LiveView, ...] = (*COMMON_VIEWS, *TTFS_VIEWS, *PROXY_VIEWS, FLIPS_VIEW)


def views_for(run: RunStart | None) -> list[LiveView]:
    """The views of ``run`` in display order (before a run starts: the common ones)."""
    if run is None:
        return [v for v in VIEWS if v.key in {"curves", "race", "membrane", "raster", "hist",
                                              "confusion"}]
    return [v for v in VIEWS if v.applies(run)]
