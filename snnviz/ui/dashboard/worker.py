"""The training side of a dashboard session: a worker thread and the refresh budget.

A :class:`TrainingWorker` owns one trainer and advances ``trainer.steps()`` in a daemon thread;
its events go through a bounded, never-blocking :class:`~snnviz.record.EventQueue`. Pause and
Step are ``threading.Event`` flags checked between trainer steps, so training never waits for
the browser. Work on the trainer's current state (probing a sample, copying weights) is
queued with :meth:`TrainingWorker.request` and runs in the thread between steps.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from snnviz.api import make_trainer
from snnviz.config import DataConfig, RunConfig
from snnviz.data import load_dataset, split_dataset
from snnviz.record import EventQueue, FlipCounter
from snnviz.training.events import BatchEnd, RunEnd, RunStart

__all__ = ["WorkerError", "Reply", "TrainingWorker", "LoopBudget", "LOOP_BUDGET", "splits_for"]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def splits_for(data: DataConfig):
    """Loaded and split data, shared read-only between sessions."""
    ds = load_dataset(data.dataset, data.data_root)
    return split_dataset(ds, data.val_size, data.train_size, data.test_size, data.split_seed)


@dataclass(frozen=True)
class WorkerError:
    """The worker could not build or advance the run; ``message`` is for the user."""

    message: str


@dataclass(frozen=True)
class Reply:
    """The result of a :meth:`TrainingWorker.request`, to hand to ``callback`` on the server."""

    callback: Callable[[Any], None]
    value: Any


class TrainingWorker:
    """Owns one trainer in a daemon thread and advances it on command.

    Args:
        cfg: the run to train (the trainer is built in the thread).
        out: where events, request results and :class:`WorkerError` go.
        nice: on Linux, how much lower than the server's the thread's scheduling priority
            is, so that the event loop answering clicks wins when cores are scarce.
        derive: ``derive(trainer, event)`` -> items to send after ``event`` (e.g.
            :class:`~snnviz.record.Derived` values computed with the weights of that moment);
            its failure is reported as a :class:`WorkerError` and training goes on.
    """

    def __init__(self, cfg: RunConfig, out: EventQueue, nice: int = 5,
                 derive: Callable[[Any, Any], list] | None = None) -> None:
        self.cfg, self.out, self.nice, self.derive = cfg, out, nice, derive
        self.trainer: Any = None
        self.finished = False
        self.flips = FlipCounter()
        self._run, self._step = threading.Event(), threading.Event()
        self._stop, self._wake = threading.Event(), threading.Event()
        self._requests: deque[Callable[[Any], Any]] = deque()
        self._gen: Any = None
        self.thread = threading.Thread(target=self._main, name="snnviz-trainer", daemon=True)
        _LIVE.add(self)
        self.thread.start()

    @property
    def running(self) -> bool:
        return self._run.is_set() and not self.finished

    @property
    def alive(self) -> bool:
        """The training thread may still be running (not yet ended)."""
        return self.thread.is_alive()

    def resume(self) -> None:
        self._run.set()
        self._wake.set()

    def pause(self) -> None:
        self._run.clear()

    def step(self) -> None:
        """Advance exactly one trainer step (then stay paused)."""
        self._run.clear()
        self._step.set()
        self._wake.set()

    def request(self, fn: Callable[[Any], Any]) -> None:
        """Run ``fn(trainer)`` between steps; a non-None result goes to ``out``."""
        self._requests.append(fn)
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self.thread.join(timeout)

    def _lower_priority(self) -> None:
        if self.nice > 0 and sys.platform.startswith("linux"):   # per-thread on Linux only
            try:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid)
                               + self.nice)
            except OSError:
                log.debug("could not lower the training thread's priority")

    def _main(self) -> None:
        self._lower_priority()
        try:
            self.trainer = make_trainer(self.cfg, splits=splits_for(self.cfg.data))
            self._gen = self.trainer.steps()
            self._advance()                                   # RunStart: no training yet
            while not self._stop.is_set():
                self._wake.clear()
                if not self.finished and (self._run.is_set() or self._step.is_set()):
                    self._step.clear()
                    self._advance()
                while self._requests and not self._stop.is_set():
                    result = self._requests.popleft()(self.trainer)
                    if result is not None:
                        self.out.put(result)
                if not self.running:
                    self._wake.wait(0.5)
        except Exception as e:  # shown to the user instead of a traceback
            log.exception("training worker failed")
            self.finished = True                  # the run cannot go on: buttons say so
            self._run.clear()
            self.out.put(WorkerError(f"{type(e).__name__}: {e}"))

    def _advance(self) -> None:
        """Advance the run up to and including the next trainer step (or its end)."""
        for ev in self._gen:
            self.out.put(ev)
            if self.derive is not None:
                self._derive(ev)
            if isinstance(ev, BatchEnd) and ev.sign_flips:
                self.flips.observe(self.trainer.params.w[0])
            if isinstance(ev, (BatchEnd, RunStart)):
                return
            if isinstance(ev, RunEnd):
                break
        self.finished = True
        self._run.clear()


    def _derive(self, ev: Any) -> None:
        try:
            for item in self.derive(self.trainer, ev):
                self.out.put(item)
        except Exception as e:  # a view's data must not stop training
            log.exception("derived view data failed")
            self.out.put(WorkerError(f"view data after {type(ev).__name__}: "
                                     f"{type(e).__name__}: {e}"))


_LIVE: weakref.WeakSet[TrainingWorker] = weakref.WeakSet()


@atexit.register
def _stop_all(timeout: float = 30.0) -> None:
    """At interpreter exit, let running workers finish their step: a daemon thread killed
    inside compiled code aborts the process."""
    workers = list(_LIVE)
    for w in workers:
        w._stop.set()
        w._wake.set()
    end = time.perf_counter() + timeout
    for w in workers:
        w.thread.join(max(end - time.perf_counter(), 0.0))


class LoopBudget:
    """Share of the server's event loop that the view refreshes of all sessions may use.

    Every session's refresh runs on the one event loop that also answers clicks. Refreshes
    are skipped (events are still recorded) while the CPU time they took recently, an
    exponential average over ``window`` seconds, exceeds ``share`` of the wall time, so
    clicks stay responsive when many sessions train at once. Used from the event loop only.
    """

    def __init__(self, share: float = 0.4, window: float = 1.0) -> None:
        self.share, self.window = share, window
        self._spent, self._at = 0.0, time.perf_counter()

    def _decayed(self) -> float:
        now = time.perf_counter()
        self._spent *= float(np.exp(-(now - self._at) / self.window))
        self._at = now
        return self._spent

    def allow(self) -> bool:
        return self._decayed() < self.share * self.window

    def charge(self, seconds: float) -> None:
        self._spent = self._decayed() + seconds


LOOP_BUDGET = LoopBudget()
