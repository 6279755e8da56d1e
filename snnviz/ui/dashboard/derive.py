"""Values the live views need that the trainer's events do not carry, computed by the
session's worker thread right after a validation pass (same weights as that pass) and
recorded as :class:`~snnviz.record.Derived` values.

- TTFS algorithms (a read-out with output first-spike times ``t_out``): accuracy as a
  function of decision time on the validation split (:func:`decision_time_curves`).
- Proxy learning (an ``eval_extra`` function): the SNN's validation accuracy after each time
  step and the ANN twin's validation accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snnviz.config import HONEST
from snnviz.record import Derived
from snnviz.training.events import EvalEnd, Event

__all__ = ["decision_time_curves", "after_validation", "MAX_SAMPLES"]

MAX_SAMPLES = 1000      # validation samples re-run for these views (bounds the cost)


def decision_time_curves(t_out: np.ndarray, correct: np.ndarray, t_max: int) -> dict:
    """Accuracy when the output layer is read at time ``t = 0 .. t_max - 1``.

    The decision of a TTFS network is its first output spike, so reading the output at time
    ``t`` gives the final decision for samples whose first output spike came by ``t`` and no
    decision for the others.

    Args:
        t_out: output spike times ``[N, K]`` (``t_max``: no spike).
        correct: ``[N]`` whether the final decision is right (honest policy: a tie or no
            spike is wrong).
        t_max: simulation length.

    Returns:
        ``{"accuracy": [t_max], "decided": [t_max], "n": N}``: the share of samples
        decided correctly by ``t`` and the share with any output spike by ``t``.
    """
    t_out = np.asarray(t_out)
    n = len(t_out)
    if n == 0:
        return {"accuracy": np.zeros(0), "decided": np.zeros(0), "n": 0}
    first = t_out.min(axis=1)
    ok = np.asarray(correct, dtype=bool)
    decided = np.bincount(np.minimum(first, t_max), minlength=t_max + 1)[:t_max]
    right = np.bincount(np.minimum(first[ok], t_max), minlength=t_max + 1)[:t_max]
    return {"accuracy": np.cumsum(right) / n, "decided": np.cumsum(decided) / n, "n": n}


def _forward_passes(trainer: Any, n: int) -> list:
    algo, cfg, step = trainer.algo, trainer.cfg.algo, trainer.cfg.train.eval_batch
    return [algo.forward(trainer.params, trainer.t_val[k: min(k + step, n)], cfg)
            for k in range(0, n, step)]


def after_validation(trainer: Any, ev: Event) -> list[Derived]:
    """The derived values for a validation :class:`EvalEnd` (worker thread, weights as in
    that pass); ``[]`` for other events and algorithms without such views."""
    if not isinstance(ev, EvalEnd) or ev.split != "val" or ev.n == 0:
        return []
    n = min(len(trainer.y_val), MAX_SAMPLES)
    if n == 0:
        return []
    algo, cfg = trainer.algo, trainer.cfg.algo
    y = np.asarray(trainer.y_val[:n])
    fwds = _forward_passes(trainer, n)
    if hasattr(algo, "eval_extra"):
        d = algo.eval_extra(fwds, y, cfg)
        return [Derived("proxy_val", {"acc_vs_t": np.asarray(d.get("acc_vs_t", ())),
                                      "ann_accuracy": d.get("ann_accuracy"),
                                      "epoch": ev.epoch, "n": n})]
    out = fwds[0].readout
    if not hasattr(out, "t_out"):
        return []
    out = type(out)(*(np.concatenate([np.asarray(getattr(f.readout, name)) for f in fwds])
                      for name in out._fields))
    t_max = int(cfg.t_max)
    curves = decision_time_curves(out.t_out, algo.score(out, y, HONEST, cfg), t_max)
    return [Derived("decision_time", dict(curves, epoch=ev.epoch, t_max=t_max))]
