"""Model-agnostic trainer: a generator of plain-data events.

``Trainer.steps()`` yields one event per trainer step (``BatchEnd``), per evaluation
(``EvalEnd``), per epoch (``EpochEnd``), plus ``RunStart``, ``Alert`` and ``RunEnd``. It
never prints, plots or writes files: the command line, the dashboard and the notebooks
consume the events. All randomness derives from ``RunConfig.seed`` and the epoch, so the
state captured by :meth:`Trainer.state_dict` between two events resumes the run exactly.

Protocol: model selection uses the validation split only (best validation accuracy over
epochs; the last epoch when there is no validation split); the test split is evaluated
once, at the end, with the selected weights.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import torch

from snnviz.algorithms import get_algorithm
from snnviz.config import HONEST, LENIENT, EvalPolicy, RunConfig
from snnviz.rng import derive
from snnviz.training.distributed import DistContext, make_reduce, shard, sum_arrays
from snnviz.training.events import (
    Alert,
    BatchEnd,
    EpochEnd,
    EvalEnd,
    Event,
    EventBus,
    Probe,
    ProbeLayer,
    RunEnd,
    RunStart,
)

log = logging.getLogger(__name__)

REPORTED_POLICIES = {
    "honest": HONEST,
    "reference": LENIENT,
    "tie-potential": EvalPolicy("wrong", "potential"),
    "reference-no-fallback": EvalPolicy("wrong", "optimistic"),
    "fallback-ties-wrong": EvalPolicy("potential", "wrong"),
}


def load_splits(cfg: RunConfig):
    """Load and split the dataset named in ``cfg.data`` (see :mod:`snnviz.data`)."""
    from snnviz.data import load_dataset, split_dataset

    d = cfg.data
    ds = load_dataset(d.dataset, d.data_root, download=d.download)
    return split_dataset(ds, d.val_size, d.train_size, d.test_size, d.split_seed)


def plain(x):
    """JSON-ready (and weights-only checkpoint-safe) copy of event data: numpy arrays and
    scalars become lists and Python numbers; dicts, lists and tuples are converted deeply."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


# algorithm settings the trainer sets (from the data and the train config's device)
FITTED = ("n_in", "n_classes", "in_shape", "device")


def fit_config(cfg: RunConfig, splits) -> RunConfig:
    """Set the algorithm's input and output sizes from the data."""
    n_in = int(np.prod(splits.train_x.shape[1:]))
    fit = {"n_in": n_in, "n_classes": len(splits.classes)}
    names = {f.name for f in dataclasses.fields(cfg.algo)}
    if "in_shape" in names:                       # convolutional networks: [C, H, W]
        fit["in_shape"] = tuple(int(v) for v in splits.train_x.shape[1:])
    if "device" in names:                         # algorithms that run on torch devices
        fit["device"] = cfg.train.device
    algo_cfg = dataclasses.replace(cfg.algo, **{k: v for k, v in fit.items() if k in names})
    return dataclasses.replace(cfg, algo=algo_cfg)


class Trainer:
    """Trains one algorithm on one dataset split, as a generator of events.

    Args:
        cfg: the run configuration.
        splits: preloaded :class:`snnviz.data.Splits` (loaded from ``cfg.data`` if None).
        bus: optional :class:`EventBus`; every yielded event is also published on it.
        state: a :meth:`state_dict` to resume from.
        init: ``{"params": ..., "from": {...}}``: start from these weights (a checkpoint's
            ``params`` or ``best_params`` dict, same architecture) instead of the seeded
            initialisation, e.g. to fine-tune a finished run with other settings; ``from``
            describes where they came from and is reported in the summary.
        dist: a :class:`~snnviz.training.distributed.DistContext` for data-parallel runs.
    """

    def __init__(self, cfg: RunConfig, splits=None, bus: EventBus | None = None,
                 state: dict | None = None, dist: DistContext | None = None,
                 init: dict | None = None) -> None:
        self.algo: ModuleType = get_algorithm(cfg.algorithm)
        self.dist = dist
        if dist is not None and cfg.train.batch_size < dist.world:
            raise ValueError(f"data-parallel training on {dist.world} processes needs "
                             f"--batch-size >= {dist.world} (per-sample updates are "
                             "sequential by definition)")
        if not isinstance(cfg.algo, self.algo.Config):
            raise TypeError(f"config for {cfg.algorithm!r} must be {self.algo.Config.__name__}")
        self.splits = splits if splits is not None else load_splits(cfg)
        self.cfg = fit_config(cfg, self.splits)
        self.bus = bus
        a = self.cfg.algo
        s = self.splits
        self.t_train = self.algo.encode(s.train_x, a)                  # [N, D] int32
        self.t_val = self.algo.encode(s.val_x, a)
        self.t_test = self.algo.encode(s.test_x, a)
        self.y_train = torch.from_numpy(np.asarray(s.train_y, dtype=np.int64))
        self.y_val = np.asarray(s.val_y, dtype=np.int64)
        self.y_test = np.asarray(s.test_y, dtype=np.int64)
        self.params = self.algo.init(a, derive(self.cfg.seed, "init"))
        self.init_from: dict | None = None
        if init is not None:
            self.params = self._params_from(init["params"])
            self.init_from = dict(init.get("from") or {})
        self.best_params = self.params
        self.best_epoch, self.best_val = -1, -math.inf
        self.epoch, self.pos, self.step = 0, 0, 0
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self.samples_trained = 0
        self._acc = self._new_epoch_acc()
        self.finished = False
        if state is not None:
            self.load_state_dict(state)

    # ----------------------------------------------------------------- state ----------
    def _new_epoch_acc(self) -> dict:
        sizes = self.cfg.algo.sizes
        return {"loss": 0.0, "correct": 0, "n": 0, "silent": 0, "seconds": 0.0,
                "fire": [np.zeros(n, np.int64) for n in sizes[1:]]}

    def state_dict(self) -> dict:
        """Everything needed to resume, as tensors and plain data (weights-only loadable)."""
        acc = dict(self._acc, fire=[torch.from_numpy(f.copy()) for f in self._acc["fire"]])
        return {
            "format": 1, "algorithm": self.cfg.algorithm, "config": self.cfg.to_dict(),
            "params": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in self.params._asdict().items()},
            "best_params": {k: list(v) if isinstance(v, tuple) else v
                            for k, v in self.best_params._asdict().items()},
            "best_epoch": self.best_epoch, "best_val": self.best_val,
            "epoch": self.epoch, "pos": self.pos, "step": self.step,
            "history": self.history, "train_seconds": self.train_seconds,
            "samples_trained": self.samples_trained, "epoch_acc": acc,
            "finished": self.finished, "init_from": self.init_from,
        }

    def _params_from(self, d: dict):
        fields = self.algo.Params._fields
        if set(d) != set(fields):
            raise ValueError(f"checkpoint params have keys {sorted(d)}, expected {list(fields)}")
        vals = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        p = self.algo.Params(**vals)
        ref = self.algo.init(self.cfg.algo, derive(0, "shape"))
        for name, a, b in zip(fields, p, ref):
            for x, r in zip(a if isinstance(a, tuple) else (a,),
                            b if isinstance(b, tuple) else (b,)):
                if tuple(x.shape) != tuple(r.shape):
                    raise ValueError(f"checkpoint {name} has shape {tuple(x.shape)}, this "
                                     f"architecture needs {tuple(r.shape)}")
        return p

    def load_state_dict(self, st: dict) -> None:
        if st.get("algorithm") != self.cfg.algorithm:
            raise ValueError(f"checkpoint is for algorithm {st.get('algorithm')!r}, "
                             f"not {self.cfg.algorithm!r}")
        self.params = self._params_from(st["params"])
        self.best_params = self._params_from(st["best_params"])
        self.best_epoch, self.best_val = int(st["best_epoch"]), float(st["best_val"])
        self.epoch, self.pos, self.step = int(st["epoch"]), int(st["pos"]), int(st["step"])
        self.history = list(st["history"])
        self.train_seconds = float(st["train_seconds"])
        self.samples_trained = int(st["samples_trained"])
        acc = dict(st["epoch_acc"])
        acc["fire"] = [f.numpy().copy() for f in acc["fire"]]
        self._acc = acc
        self.finished = bool(st.get("finished", False))
        self.init_from = st.get("init_from")

    # ----------------------------------------------------------------- data order -----
    def epoch_order(self, epoch: int) -> torch.Tensor:
        """Training sample order of ``epoch`` (depends only on the seed and the epoch)."""
        n = len(self.y_train)
        gen = derive(self.cfg.seed, "order", epoch)
        order = self.cfg.train.order
        if order == "fixed":
            return torch.arange(n)
        if order == "replacement":
            return torch.randint(0, n, (n,), generator=gen)
        return torch.randperm(n, generator=gen)

    # ----------------------------------------------------------------- evaluation -----
    def evaluate(self, params, split: str) -> EvalEnd:
        """Accuracy of ``params`` on ``split`` ("val" or "test") under every policy."""
        t, y = (self.t_val, self.y_val) if split == "val" else (self.t_test, self.y_test)
        a = self.cfg.algo
        hook = getattr(self.algo, "eval_extra", None)     # optional: plain data for EvalEnd
        outs, hist, fwds = [], None, []
        for k in range(0, len(y), self.cfg.train.eval_batch):
            fwd = self.algo.forward(params, t[k: k + self.cfg.train.eval_batch], a)
            outs.append(fwd.readout)
            if hook is not None:
                fwds.append(fwd)
            h = self.algo.spike_time_hist(fwd, a)
            hist = h if hist is None else tuple(x + z for x, z in zip(hist, h))
        K = a.n_classes
        extra = dict(hook(fwds, y, a)) if hook is not None else {}
        if not outs:
            return EvalEnd(split, self.epoch, 0, float("nan"), {}, 0.0, 0.0,
                           np.zeros((K, K + 1), np.int64), (), extra)
        out = type(outs[0])(*(np.concatenate(parts) for parts in zip(*outs)))
        policy = self.cfg.train.policy
        by_policy = {name: float(self.algo.score(out, y, p, a).mean())
                     for name, p in REPORTED_POLICIES.items()}
        by_policy["configured"] = float(self.algo.score(out, y, policy, a).mean())
        pred = self.algo.predict(out, policy, a)
        conf = np.zeros((K, K + 1), np.int64)
        np.add.at(conf, (y, np.where(pred < 0, K, pred)), 1)
        return EvalEnd(split, self.epoch, len(y), by_policy["configured"], by_policy,
                       float(self.algo.silent(out, a).mean()),
                       float(self.algo.tied(out, a).mean()), conf, hist or (), extra)

    # ----------------------------------------------------------------- training -------
    def _probe(self) -> Probe | None:
        rec = self.cfg.record
        if not rec.probes or len(self.y_test) == 0 or (self.dist and not self.dist.is_main):
            return None
        idx = rec.probe_indices[0] % len(self.y_test)
        d = self.algo.probe(self.params, self.t_test[idx], self.cfg.algo, rec.max_neurons)
        layers = tuple(ProbeLayer(L["times"], L["neurons"], L["v_trace"], L["thr"])
                       for L in d["layers"])
        return Probe(idx, int(self.y_test[idx]), d["t_in"], layers,
                     int(getattr(self.cfg.algo, "t_max", 0)), d.get("extra", {}))

    def _finite(self, params) -> bool:
        return all(bool(torch.isfinite(x).all())
                   for v in params for x in (v if isinstance(v, tuple) else (v,)))

    def _emit(self, ev: Event) -> Event:
        if self.bus is not None:
            self.bus.publish(ev)
        return ev

    def _train_step(self, order: torch.Tensor) -> BatchEnd | None:
        tc, a = self.cfg.train, self.cfg.algo
        online = tc.batch_size == 1
        chunk = tc.online_chunk if online else tc.batch_size
        idx = order[self.pos: self.pos + chunk]
        n_global = len(idx)
        kw = {}
        if self.dist is not None:
            kw["reduce"] = make_reduce(self.dist, n_global)
            idx = shard(idx, self.dist)
        if tc.lr_decay != 1.0:
            a = self.algo.scale_lr(a, tc.lr_decay ** self.epoch)
        t0 = time.perf_counter()
        new, st = self.algo.train_step(self.params, self.t_train[idx], self.y_train[idx],
                                       a, online, **kw)
        dt = time.perf_counter() - t0
        y = self.y_train[idx].numpy()
        correct = self.algo.score(st.readout, y, tc.policy, a)
        silent = self.algo.silent(st.readout, a)
        tallies = [np.array([st.loss * st.n if st.n else 0.0, correct.sum(), st.n, silent.sum()],
                            np.float64),
                   *st.fire_counts]
        if self.dist is not None:
            tallies = sum_arrays(tallies)
        loss_sum, n_correct, n, n_silent = (float(v) for v in tallies[0])
        loss = loss_sum / max(n, 1)
        if not (math.isfinite(loss) and self._finite(new)):
            return None  # keep the last good weights; the caller reports it
        acc = self._acc
        acc["loss"] += loss_sum
        acc["correct"] += int(n_correct)
        acc["n"] += int(n)
        acc["silent"] += int(n_silent)
        acc["seconds"] += dt
        for f, c in zip(acc["fire"], tallies[1:]):
            f += np.asarray(c, np.int64)
        self.params = new
        self.pos += n_global
        self.train_seconds += dt
        self.samples_trained += n_global
        probe = self._probe() if self.step % self.cfg.record.every == 0 else None
        ev = BatchEnd(self.step, self.epoch, n_global, self.pos, len(order), loss,
                      n_correct / max(n, 1), acc["correct"] / max(acc["n"], 1),
                      n_silent / max(n, 1), tuple(st.flips), n_global / max(dt, 1e-9), probe,
                      getattr(st, "extra", {}))
        self.step += 1
        return ev

    def _fail(self, kind: str, message: str) -> Iterator[Event]:
        log.error(message)
        yield self._emit(Alert(kind, message, self.epoch, self.step))
        yield self._emit(RunEnd(kind, self.summary(status=kind, message=message)))

    def steps(self) -> Iterator[Event]:
        """Run (or resume) training, yielding events; stops after ``RunEnd``."""
        c = self.cfg
        yield self._emit(RunStart(c.algorithm, c.data.dataset, c.to_dict(), c.algo.sizes,
                                  tuple(self.splits.classes), len(self.y_train),
                                  len(self.y_val), len(self.y_test), self.epoch))
        while self.epoch < c.train.epochs:
            order = self.epoch_order(self.epoch)
            while self.pos < len(order):
                ev = self._train_step(order)
                if ev is None:
                    yield from self._fail("nan", f"weights or loss became NaN/Inf at epoch "
                                          f"{self.epoch + 1}, step {self.step}; the last "
                                          "finite weights are kept: lower the learning rates")
                    return
                yield self._emit(ev)
            acc = self._acc
            if acc["n"] and acc["silent"] == acc["n"] and not self._dead_stop_off():
                yield from self._fail("dead", f"dead network: no output neuron fired for any "
                                      f"of the {acc['n']} training samples of epoch "
                                      f"{self.epoch + 1}; raise the initial weights or lower "
                                      "the thresholds")
                return
            yield from self._end_epoch()
        yield from self._finish()

    def _dead_stop_off(self) -> bool:
        """Algorithms whose output may legitimately be silent early in training (rate-coded
        outputs) opt out of the dead-network stop with ``DEAD_NETWORK_STOP = False`` on
        their config class; the silent epoch is logged instead."""
        if getattr(type(self.cfg.algo), "DEAD_NETWORK_STOP", True):
            return False
        log.warning("no output neuron fired in epoch %d; %s continues (its config sets "
                    "DEAD_NETWORK_STOP = False)", self.epoch + 1, self.cfg.algorithm)
        return True

    def _end_epoch(self) -> Iterator[Event]:
        """End-of-epoch work (``algo.end_epoch``, validation, model selection, history).
        The new state is computed first (an interruption, e.g. Ctrl-C during the
        validation pass, leaves the state of the epoch's end untouched) and committed all
        at once before the first event is yielded, so a :meth:`state_dict` taken at any
        event or after an interruption resumes exactly: ``end_epoch`` (a dead-neuron reset,
        proxy's epoch count) is never applied twice."""
        a, acc = self.cfg.algo, self._acc
        gen = derive(self.cfg.seed, "reset", self.epoch)
        params, n_reset = self.algo.end_epoch(self.params, tuple(acc["fire"]), acc["n"], a,
                                              gen)
        val = val_ev = None
        improved = False
        if len(self.y_val):
            val_ev = self.evaluate(params, "val")
            val = val_ev.accuracy
            improved = val > self.best_val
        else:
            improved = True
        best_epoch = self.epoch if improved else self.best_epoch
        rec = {"epoch": self.epoch + 1, "train_loss": acc["loss"] / max(acc["n"], 1),
               "train_accuracy": acc["correct"] / max(acc["n"], 1), "val_accuracy": val,
               "seconds": acc["seconds"], "neurons_reset": n_reset,
               "silent_fraction": acc["silent"] / max(acc["n"], 1)}
        if val_ev is not None and val_ev.extra:
            rec["val_extra"] = plain(val_ev.extra)
        ev = EpochEnd(self.epoch, rec["train_loss"], rec["train_accuracy"], val,
                      acc["seconds"], n_reset, best_epoch, improved)
        # commit (no interruptible work from here on)
        self.params = params
        if improved:
            self.best_params, self.best_epoch = params, self.epoch
            self.best_val = val if val is not None else -math.inf
        self.history.append(rec)
        self.epoch += 1
        self.pos = 0
        self._acc = self._new_epoch_acc()
        if val_ev is not None:
            yield self._emit(val_ev)
        yield self._emit(ev)

    def _finish(self) -> Iterator[Event]:
        test = self.evaluate(self.best_params, "test")
        yield self._emit(test)
        self.finished = True
        self.test_eval = test
        yield self._emit(RunEnd("ok", self.summary(status="ok", test=test)))

    def summary(self, status: str, test: EvalEnd | None = None, message: str = "") -> dict:
        """The run's outcome as JSON-ready plain data (the core of result.json)."""
        c = self.cfg
        out = {
            "status": status, "message": message, "algorithm": c.algorithm,
            "dataset": c.data.dataset, "seed": c.seed, "config": c.to_dict(),
            "train_size": len(self.y_train), "val_size": len(self.y_val),
            "test_size": len(self.y_test), "epochs_run": len(self.history),
            "best_epoch": self.best_epoch + 1 if self.best_epoch >= 0 else None,
            "val_accuracy": self.best_val if math.isfinite(self.best_val) else None,
            "eval_policy": c.train.policy.name, "history": list(self.history),
            "train_seconds": self.train_seconds,
            "train_samples_per_second": self.samples_trained / self.train_seconds
            if self.train_seconds > 0 else None,
        }
        if self.init_from is not None:
            out["init_from"] = plain(self.init_from)
        if test is not None:
            out.update({"test_accuracy": test.accuracy, "test_by_policy": test.by_policy,
                        "no_spike_rate": test.no_spike_rate, "tie_rate": test.tie_rate})
            if test.extra:
                out["test_extra"] = plain(test.extra)
        return out

    def run(self, max_steps: int | None = None) -> list[Event]:
        """Consume :meth:`steps` (at most ``max_steps`` events); return the events."""
        events = []
        for ev in self.steps():
            events.append(ev)
            if max_steps is not None and len(events) >= max_steps:
                break
        return events
