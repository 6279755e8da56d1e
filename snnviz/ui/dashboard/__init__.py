"""The Panel dashboard (docs/dashboard.md).

- :mod:`.worker`: :class:`TrainingWorker` (the session's trainer in a thread),
  :class:`LoopBudget` (the share of the event loop view refreshes may use).
- :mod:`.process_worker`: :class:`ProcessWorker` (the session's trainer in its own process,
  as the served app runs it).
- :mod:`.views`: the Training tab's live views, per algorithm (:class:`LiveView`).
- :mod:`.extensions`: :class:`Extension`, the way to add tabs and sidebar cards.
- :mod:`.inspector`, :mod:`.weights`: the Sample inspector and Weights tabs (extensions).
- :mod:`.app`: :class:`TrainingApp`, layout and controls.
"""

from snnviz.ui.dashboard.app import TrainingApp
from snnviz.ui.dashboard.extensions import (
    Extension,
    register_extension,
    registered_extensions,
    unregister_extension,
)
from snnviz.ui.dashboard.inspector import SampleInspector
from snnviz.ui.dashboard.panes import FigurePane, make_pane, show_fig
from snnviz.ui.dashboard.process_worker import ProcessWorker, TrainerSnapshot
from snnviz.ui.dashboard.views import VIEWS, LiveView, views_for
from snnviz.ui.dashboard.weights import WeightsTab
from snnviz.ui.dashboard.worker import (
    LOOP_BUDGET,
    LoopBudget,
    Reply,
    TrainingWorker,
    WorkerError,
)

__all__ = ["TrainingApp", "TrainingWorker", "ProcessWorker", "TrainerSnapshot", "WorkerError",
           "Reply", "LoopBudget", "LOOP_BUDGET",
           "FigurePane", "make_pane", "show_fig", "Extension", "register_extension",
           "registered_extensions", "unregister_extension", "SampleInspector", "WeightsTab",
           "LiveView", "VIEWS", "views_for"]
