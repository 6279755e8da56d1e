"""The served training dashboard (kept for existing imports).

The implementation lives in :mod:`snnviz.ui.dashboard`; see docs/dashboard.md.
"""

from snnviz.ui.dashboard import (
    LOOP_BUDGET,
    Extension,
    FigurePane,
    LoopBudget,
    TrainingApp,
    TrainingWorker,
    WorkerError,
    register_extension,
)

__all__ = ["TrainingWorker", "WorkerError", "FigurePane", "LoopBudget", "LOOP_BUDGET",
           "TrainingApp", "Extension", "register_extension"]
