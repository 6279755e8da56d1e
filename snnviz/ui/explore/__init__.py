"""Exploration and classroom extensions of the Panel dashboard (docs/exploration.md).

Tabs: :class:`~.draw.DrawTab` (draw a digit, run it through the current network),
:class:`~.sandbox_tab.SandboxTab` (edit one neuron of a copy of the network),
:class:`~.runs_tab.RunLibraryTab` (replay and compare finished command-line runs). Sidebar
cards: :class:`~.cards.PolicyCard` (evaluation policy and the accuracy under each) and
:class:`~.cards.ShareCard` (the state in the URL, presenter mode). :func:`explore_extensions`
gives the factories for :class:`~snnviz.ui.dashboard.TrainingApp`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["explore_extensions"]


def explore_extensions(state: Any = None, messages: list[str] | None = None,
                       library: Any = None) -> list[Any]:
    """Extension factories for one session.

    Args:
        state: the :class:`~snnviz.explore.urlstate.ExploreState` decoded from the page's URL
            (view, sample, runs and presenter mode are applied when the page opens).
        messages: what the URL decoder rejected, shown in the Share card.
        library: the :class:`~snnviz.runs.RunLibrary` of the server (default: ``SNNVIZ_RUNS``
            or ``runs``).
    """
    from snnviz.ui.explore.cards import PolicyCard, ShareCard
    from snnviz.ui.explore.common import ExplainViews
    from snnviz.ui.explore.draw import DrawTab
    from snnviz.ui.explore.runs_tab import RunLibraryTab
    from snnviz.ui.explore.sandbox_tab import SandboxTab

    return [DrawTab, SandboxTab, lambda: RunLibraryTab(library), PolicyCard,
            lambda: ShareCard(state, messages), ExplainViews]
