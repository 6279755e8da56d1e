"""What a live view of the Training tab is: a figure built for a run and patched from
:class:`~snnviz.record.Snapshot` s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from snnviz.record import Snapshot
from snnviz.training.events import RunStart

__all__ = ["LiveView", "t_max_of", "always"]

SOURCES = ("step", "probe", "eval")


def always(run: RunStart) -> bool:
    return True


def t_max_of(run: RunStart | None) -> int:
    """The run's simulation length (1 when it has none)."""
    if run is None:
        return 1
    return int(run.config.get("algo", {}).get("t_max", 1) or 1)


@dataclass(frozen=True)
class LiveView:
    """One figure of the Training tab.

    Attributes:
        key: unique name (also the pane's key in ``TrainingApp.live``).
        source: which snapshot counter triggers a patch: ``"step"`` (every recorded event),
            ``"probe"`` (a new probe of the watched sample) or ``"eval"`` (a new evaluation).
        build: ``build(run)`` -> a new figure for the run (``run`` is None before one starts).
        patch: ``patch(fig, snap)`` updates the figure in place; returns False when there is
            nothing to show yet (the pane is then hidden if ``hide_empty``).
        applies: ``applies(run)``: is the view part of this run's set (by algorithm, shape)?
        wide: takes a whole row instead of half of one.
        hide_empty: hidden while ``patch`` reports no data.
        every: at most one patch per this many seconds (0: at every refresh that has new
            data); the browser redraws the whole figure for each patch it is sent.
    """

    key: str
    source: str
    build: Callable[[RunStart | None], go.Figure]
    patch: Callable[[go.Figure, Snapshot], Any]
    applies: Callable[[RunStart], bool] = always
    wide: bool = False
    hide_empty: bool = False
    every: float = 0.0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"LiveView source must be one of {SOURCES}, got {self.source!r}")
