"""A dashboard session's trainer in its own OS process.

:class:`ProcessWorker` has the interface the app uses on
:class:`~snnviz.ui.dashboard.worker.TrainingWorker` (``cfg``, ``out``, ``running``,
``finished``, ``alive``, ``flips``, :meth:`~ProcessWorker.resume`, :meth:`~ProcessWorker.pause`,
:meth:`~ProcessWorker.step`, :meth:`~ProcessWorker.request`, :meth:`~ProcessWorker.stop`), but
the trainer lives in a child process: its own interpreter (no interpreter lock shared with the
server's event loop), its own scheduling share, at a lower priority (``nice``).

::

    server process                                   child process (one per session)
    --------------                                   -------------------------------
    resume/pause/step/stop/snapshot --commands-->    trainer.steps(), derive(), FlipCounter
    receiver thread  <--pickled events, one message per trainer step--
      -> EventQueue (the app drains it on the event loop)
    request(fn): "snapshot" command; at the next step boundary the child sends the weights
      and counters; a helper thread runs fn(TrainerSnapshot) and puts the result in out

The child is started from a ``forkserver`` context whose server has imported the heavy modules
once (torch, the algorithms), so a session starts in well under a second; where forkserver is
unavailable, ``spawn``. Never a plain fork of the threaded server. The child exits when told to,
when its pipe to the server closes (the server died) or when the server's process is gone.
"""

from __future__ import annotations

import atexit
import functools
import logging
import multiprocessing as mp
import os
import pickle
import queue
import signal
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from snnviz.algorithms import get_algorithm
from snnviz.config import RunConfig
from snnviz.record import EventQueue, FlipCounter
from snnviz.training.events import BatchEnd, RunEnd, RunStart
from snnviz.ui.dashboard.worker import WorkerError, splits_for

__all__ = ["ProcessWorker", "TrainerSnapshot", "PRELOAD"]

log = logging.getLogger(__name__)

#: Modules the forkserver imports once, so that every session's child starts with them loaded.
PRELOAD = ("torch", "numba", "snnviz.api", "snnviz.algorithms", "snnviz.ui.dashboard.derive",
           "snnviz.ui.dashboard.process_worker")

_SAME, _UNCHANGED = "same-as-params", "unchanged"     # best_params markers in snapshots


@functools.lru_cache(maxsize=1)
def mp_context() -> Any:
    """The multiprocessing context for training processes: forkserver with :data:`PRELOAD`,
    else spawn."""
    try:
        ctx = mp.get_context("forkserver")
    except ValueError:
        return mp.get_context("spawn")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def _dumps(*msg: Any) -> bytes:
    # plain pickle: multiprocessing's own pickler would move torch tensors to shared memory
    return pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)


# ====================================================================== child side ========
def _child_main(conn: Any, cfg: RunConfig, nice: int, derive: Any, parent_pid: int) -> None:
    """Entry point of the training process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the server's: it stops us
    if nice > 0:
        try:
            os.nice(nice)
        except OSError:
            log.debug("could not lower the training process's priority")
    _Child(conn, cfg, derive, parent_pid).run()


def _parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Child:
    """The loop of :meth:`TrainingWorker._main`, driven by commands from a pipe."""

    def __init__(self, conn: Any, cfg: RunConfig, derive: Any, parent_pid: int) -> None:
        self.conn, self.cfg, self.derive, self.parent_pid = conn, cfg, derive, parent_pid
        self.trainer: Any = None
        self.gen: Any = None
        self.running = self.step_due = self.finished = False
        self.snapshot_due: int | None = None
        self.flips = FlipCounter()
        self.best_sent: Any = None

    def send(self, *msg: Any) -> None:
        self.conn.send_bytes(_dumps(*msg))

    def run(self) -> None:
        from snnviz.api import make_trainer
        try:
            try:
                self.trainer = make_trainer(self.cfg, splits=splits_for(self.cfg.data))
                self.gen = self.trainer.steps()
                self.advance()                                # RunStart: no training yet
                while self.commands(0.0 if self.busy else 0.5):
                    if self.busy:
                        self.step_due = False
                        self.advance()
            except Exception as e:  # shown to the user instead of a traceback
                log.exception("training process failed")
                self.send("error", f"{type(e).__name__}: {e}")
        except (EOFError, OSError):
            pass                                              # the server went away
        finally:
            self.conn.close()

    @property
    def busy(self) -> bool:
        return not self.finished and (self.running or self.step_due)

    def commands(self, wait: float) -> bool:
        """Handle the commands that arrived (waiting up to ``wait`` s for one), in order;
        False: stop."""
        if not self.conn.poll(wait):
            return _parent_alive(self.parent_pid)
        while True:
            cmd, arg = pickle.loads(self.conn.recv_bytes())
            if cmd == "stop":
                return False
            if cmd == "resume":
                self.running = True
            elif cmd == "pause":
                self.running = False
            elif cmd == "step":
                self.running = False
                if self.step_due and not self.finished:      # the previous Step first
                    self.advance()
                self.step_due = True
            elif cmd == "snapshot":
                if self.step_due and not self.finished:      # a Step asked before it
                    self.step_due = False
                    self.advance()
                self.snapshot_due = arg
            if not self.conn.poll(0):
                break
        self.send_snapshot()
        return True

    def send_snapshot(self) -> None:
        """The state requests read, at this step boundary (if one was asked for)."""
        if self.snapshot_due is None:
            return
        t = self.trainer
        if t.best_params is t.params:
            best = _SAME
        elif t.best_params is self.best_sent:
            best = _UNCHANGED
        else:
            best = self.best_sent = t.best_params
        self.send("snapshot", {
            "seq": self.snapshot_due, "cfg": t.cfg, "params": t.params, "best_params": best,
            "step": t.step, "epoch": t.epoch, "pos": t.pos,
            "samples_trained": t.samples_trained, "best_epoch": t.best_epoch,
            "best_val": t.best_val, "finished": t.finished, "flips": self.flips.counts})
        self.snapshot_due = None

    def advance(self) -> None:
        """Advance the run up to and including the next trainer step (or its end) and send
        its events as one message."""
        self.send_snapshot()                  # a snapshot asked for before this step
        batch: list[Any] = []
        for ev in self.gen:
            batch.append(ev)
            if self.derive is not None:
                batch.extend(self._derive(ev))
            if isinstance(ev, BatchEnd) and ev.sign_flips:
                self.flips.observe(self.trainer.params.w[0])
            if isinstance(ev, (BatchEnd, RunStart)):
                self.send("events", batch)
                return
            if isinstance(ev, RunEnd):
                break
        self.send("events", batch)
        self.finished, self.running = True, False
        self.send("finished", None)

    def _derive(self, ev: Any) -> list:
        try:
            return list(self.derive(self.trainer, ev))
        except Exception as e:  # a view's data must not stop training
            log.exception("derived view data failed")
            return [WorkerError(f"view data after {type(ev).__name__}: "
                                f"{type(e).__name__}: {e}")]


# ====================================================================== server side =======
class _RunData:
    """The parts of a trainer that never change during a run, rebuilt in the server from the
    run's (fitted) config and the cached splits; encodings on first use."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.algo = get_algorithm(cfg.algorithm)
        self.splits = splits_for(cfg.data)
        self.y_val = np.asarray(self.splits.val_y, dtype=np.int64)
        self.y_test = np.asarray(self.splits.test_y, dtype=np.int64)

    @functools.cached_property
    def t_test(self) -> Any:
        return self.algo.encode(self.splits.test_x, self.cfg.algo)

    @functools.cached_property
    def t_val(self) -> Any:
        return self.algo.encode(self.splits.val_x, self.cfg.algo)


class TrainerSnapshot:
    """What a request's ``fn`` reads of a trainer, as of one step boundary of the run in the
    training process: ``params``, ``best_params``, ``step``, ``epoch``, ``pos``,
    ``samples_trained``, ``best_epoch``, ``best_val``, ``finished``, and the run's ``cfg``,
    ``algo``, ``splits``, ``t_test``, ``t_val``, ``y_test``, ``y_val``."""

    def __init__(self, data: _RunData, state: dict) -> None:
        self._data = data
        self.cfg = state["cfg"]
        self.params, self.best_params = state["params"], state["best_params"]
        self.step, self.epoch, self.pos = state["step"], state["epoch"], state["pos"]
        self.samples_trained = state["samples_trained"]
        self.best_epoch, self.best_val = state["best_epoch"], state["best_val"]
        self.finished = state["finished"]

    algo = property(lambda self: self._data.algo)
    splits = property(lambda self: self._data.splits)
    t_test = property(lambda self: self._data.t_test)
    t_val = property(lambda self: self._data.t_val)
    y_test = property(lambda self: self._data.y_test)
    y_val = property(lambda self: self._data.y_val)


class ProcessWorker:
    """Owns one trainer in a child process and drives it on command.

    Args:
        cfg: the run to train (the trainer is built in the child).
        out: where events, request results and :class:`WorkerError` go (a receiver thread
            puts them there; nothing here runs on the server's event loop but the commands).
        nice: how much lower the child's scheduling priority is than the server's.
        derive: ``derive(trainer, event)`` -> items to send after ``event``, run in the child;
            a module-level function (it is pickled by reference).
    """

    def __init__(self, cfg: RunConfig, out: EventQueue, nice: int = 5,
                 derive: Callable[[Any, Any], list] | None = None) -> None:
        self.cfg, self.out, self.nice, self.derive = cfg, out, nice, derive
        self.finished = False
        self.flips = FlipCounter()
        self._run = False
        self._stopping = self._failed = False
        self._send_lock, self._req_lock = threading.Lock(), threading.Lock()
        self._requests: list[tuple[int, Callable[[Any], Any]]] = []
        self._seq = 0
        self._best: Any = None
        self._data: _RunData | None = None
        self._jobs: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        self._helper: threading.Thread | None = None
        self._ended = threading.Event()
        ctx = mp_context()
        self._conn, self._child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_child_main, name="snnviz-trainer", daemon=True,
                                   args=(self._child_conn, cfg, nice, derive, os.getpid()))
        _LIVE.add(self)
        # started by the receiver: the first start waits for the forkserver's imports
        self._receiver = threading.Thread(target=self._receive, name="snnviz-receiver",
                                          daemon=True)
        self._receiver.start()

    # ------------------------------------------------------------------ commands --------
    @property
    def running(self) -> bool:
        return self._run and not self.finished

    @property
    def alive(self) -> bool:
        """The training process may still be running (not yet seen to end)."""
        return not self._ended.is_set()

    def resume(self) -> None:
        self._run = True
        self._send("resume")

    def pause(self) -> None:
        self._run = False
        self._send("pause")

    def step(self) -> None:
        """Advance exactly one trainer step (then stay paused)."""
        self._run = False
        self._send("step")

    def request(self, fn: Callable[[Any], Any]) -> None:
        """Run ``fn(snapshot)`` on a :class:`TrainerSnapshot` of the next step boundary, in a
        helper thread of this process; a non-None result goes to ``out`` (nothing once the
        training process has ended)."""
        if self._ended.is_set():
            return
        with self._req_lock:
            self._seq += 1
            self._requests.append((self._seq, fn))
            seq = self._seq
            if self._helper is None:
                self._helper = threading.Thread(target=self._serve_requests, daemon=True,
                                                name="snnviz-requests")
                self._helper.start()
        self._send("snapshot", seq)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to end after its current step; terminate it if it has not ended
        within ``timeout`` seconds (at once for 0)."""
        self._stopping, self._run = True, False
        self._send("stop")
        if not self._ended.wait(timeout) and self.process.pid is not None:
            self._terminate()

    def _terminate(self) -> None:
        try:
            self.process.terminate()
        except (OSError, AttributeError, ValueError):
            pass                   # already gone (the receiver reaps it)

    def _send(self, cmd: str, arg: Any = None) -> None:
        try:
            with self._send_lock:
                self._conn.send_bytes(_dumps(cmd, arg))
        except (OSError, ValueError):
            pass                   # the child is gone: the receiver reports it

    # ------------------------------------------------------------------ receiving -------
    def _receive(self) -> None:
        try:
            self.process.start()
        except Exception as e:      # e.g. the forkserver was killed with the server
            log.error("could not start the training process: %s: %s", type(e).__name__, e)
            self._end(WorkerError(f"could not start the training process: "
                                  f"{type(e).__name__}: {e}"))
            return
        finally:
            self._child_conn.close()           # ours: the child's end closes when it exits
        if self._stopping:
            self._terminate()
        try:
            while True:
                self._handle(pickle.loads(self._conn.recv_bytes()))
        except (EOFError, OSError):
            pass
        except Exception as e:                  # an undecodable message
            log.exception("training process message")
            self._failed = True
            self.out.put(WorkerError(f"bad message from the training process: {e}"))
            self._terminate()
        self.process.join(2.0)
        if self.process.exitcode is None:       # closed its pipe but did not exit
            self.process.kill()
            self.process.join()
        code = self.process.exitcode
        if self._stopping or self._failed:
            self._end(None)
        elif code is not None and code < 0:
            self._end(WorkerError(f"the training process was killed by signal "
                                  f"{_signal_name(-code)}; press Reset to start a new run"))
        else:
            self._end(WorkerError(f"the training process ended unexpectedly (exit code "
                                  f"{code}); press Reset to start a new run"))

    def _end(self, error: WorkerError | None) -> None:
        if error is not None:
            self.out.put(error)
        self.finished, self._run = True, False
        self._conn.close()
        self._jobs.put(None)
        _LIVE.discard(self)
        self._ended.set()

    def _handle(self, msg: tuple) -> None:
        kind, body = msg
        if kind == "events":
            for item in body:
                self.out.put(item)
        elif kind == "snapshot":
            self._jobs.put(body)
        elif kind == "finished":
            self.finished, self._run = True, False
        elif kind == "error":
            self._failed = True
            self.out.put(WorkerError(body))

    def _serve_requests(self) -> None:
        """Run the requests answered by each snapshot, in order (helper thread)."""
        while True:
            state = self._jobs.get()
            if state is None:
                return
            with self._req_lock:
                due = [fn for seq, fn in self._requests if seq <= state["seq"]]
                self._requests = [(s, fn) for s, fn in self._requests if s > state["seq"]]
            try:
                snap = self._snapshot(state)
            except Exception as e:
                log.exception("run data for requests")
                self.out.put(WorkerError(f"run data: {type(e).__name__}: {e}"))
                continue
            for fn in due:
                try:
                    result = fn(snap)
                except Exception as e:  # one failing request must not end the session
                    log.exception("dashboard request failed")
                    self.out.put(WorkerError(f"request: {type(e).__name__}: {e}"))
                    continue
                if result is not None:
                    self.out.put(result)

    def _snapshot(self, state: dict) -> TrainerSnapshot:
        if self._data is None:
            self._data = _RunData(state["cfg"])
        best = state["best_params"]
        if isinstance(best, str):               # a marker: not sent again
            best = state["params"] if best == _SAME else self._best
        self._best = state["best_params"] = best
        self.flips.counts = state["flips"]
        return TrainerSnapshot(self._data, state)


def _signal_name(num: int) -> str:
    try:
        return f"{signal.Signals(num).name} ({num})"
    except ValueError:
        return str(num)


_LIVE: weakref.WeakSet[ProcessWorker] = weakref.WeakSet()


@atexit.register
def _stop_all(timeout: float = 3.0) -> None:
    """At interpreter exit, end every training process (told to stop, then terminated)."""
    workers = list(_LIVE)
    for w in workers:
        w._stopping = True
        w._send("stop")
    end = time.perf_counter() + timeout
    for w in workers:
        if not w._ended.wait(max(end - time.perf_counter(), 0.0)):
            w._terminate()
            w.process.join(1.0)
