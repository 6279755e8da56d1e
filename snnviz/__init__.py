"""snnviz: watch spiking networks learn spike timing.

Public API (re-exports only)::

    from snnviz import make_run_config, make_trainer
    cfg = make_run_config("s4nn", "mnist-mini", epochs=2)
    for event in make_trainer(cfg).steps():
        ...
"""

from snnviz._version import __version__
from snnviz.algorithms import ALGORITHMS, get_algorithm
from snnviz.api import load_trainer, make_run_config, make_trainer, run_config_from_dict
from snnviz.config import DataConfig, EvalPolicy, RecordSpec, RunConfig, TrainConfig
from snnviz.training.events import EventBus

__all__ = [
    "__version__", "ALGORITHMS", "get_algorithm", "make_run_config", "make_trainer",
    "load_trainer", "run_config_from_dict", "DataConfig", "EvalPolicy", "RecordSpec", "RunConfig",
    "TrainConfig", "EventBus",
]
