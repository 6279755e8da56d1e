"""The dashboard's per-session training process (snnviz.ui.dashboard.process_worker) and the
app driven headless in process mode."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("panel")

from ui_helpers import until  # noqa: E402

from snnviz import make_run_config  # noqa: E402
from snnviz.api import make_trainer  # noqa: E402
from snnviz.record import EventQueue, SampleView, WeightView, weight_view  # noqa: E402
from snnviz.training.events import BatchEnd, RunStart  # noqa: E402
from snnviz.ui.dashboard import TrainingApp, WorkerError, process_worker  # noqa: E402
from snnviz.ui.dashboard.derive import after_validation  # noqa: E402
from snnviz.ui.dashboard.process_worker import ProcessWorker  # noqa: E402
from snnviz.ui.dashboard.worker import LoopBudget, splits_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = {"hidden": "12", "online_chunk": 20, "epochs": 100, "every": 2}   # never ends in a test


class Drain:
    """Collects what a worker puts in its queue."""

    def __init__(self, queue: EventQueue) -> None:
        self.queue, self.items = queue, []

    def until(self, cond, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while (item := self.queue.get()) is not None:
                self.items.append(item)
            if cond():
                return
            time.sleep(0.01)
        raise AssertionError(f"condition not reached; got {[type(i).__name__ for i in self.items]}")

    def of(self, kind) -> list:
        return [i for i in self.items if isinstance(i, kind)]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_process_worker_trains_pauses_steps_and_answers_on_step_boundaries():
    cfg = make_run_config("bs4nn", "synthetic", overrides={**TINY, "hidden": "40"})
    q = EventQueue(4096)
    w = ProcessWorker(cfg, q, nice=0, derive=after_validation)
    d = Drain(q)
    try:
        d.until(lambda: d.of(RunStart))
        assert not d.of(BatchEnd) and not w.running           # nothing trained before Start
        w.resume()
        assert w.running
        d.until(lambda: len(d.of(BatchEnd)) >= 12)            # past one epoch: a validation
        w.pause()
        got: list = []
        w.request(lambda tr: got.append((tr.step, tr.params)) or ("steps", tr.step))
        d.until(lambda: got)
        time.sleep(0.3)
        d.until(lambda: True)
        steps = len(d.of(BatchEnd))
        assert got[0][0] == steps and not w.running            # paused at a step boundary
        assert any(type(i).__name__ == "Derived" for i in d.items)   # derive ran in the child
        w.step()
        w.request(lambda tr: weight_view(tr.params, 0, tr.splits.test_x.shape[1:], tr.step,
                                         w.flips))
        d.until(lambda: d.of(WeightView))
        view = d.of(WeightView)[0]
        assert view.step == steps + 1 and len(d.of(BatchEnd)) == steps + 1
        assert view.flips is not None and view.flips.shape == view.w.shape   # child's counts
        assert view.flips.sum() == w.flips.counts.sum() > 0
    finally:
        w.stop(10)
    assert not w.alive and w.process.exitcode == 0 and gone(w.process.pid)
    # the same run in this process: the weights sent are those of that step boundary
    trainer = make_trainer(cfg, splits=splits_for(cfg.data))
    for ev in trainer.steps():
        if isinstance(ev, BatchEnd) and trainer.step == steps:
            break
    for a, b in zip(got[0][1], trainer.params):
        a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
        for x, y in zip(a, b):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _missing_dataset_config():
    """A run whose dataset folder does not exist: building its trainer fails."""
    cfg = make_run_config("s4nn", "synthetic", overrides=TINY)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset="mnist",
                                                             data_root="/no/such/folder"))


def test_thread_worker_failure_ends_the_run_too():
    """The in-process worker reports a failing run the same way: an error, then finished."""
    from snnviz.ui.dashboard import TrainingWorker

    bad = _missing_dataset_config()
    q = EventQueue(64)
    w = TrainingWorker(bad, q, nice=0)
    w.resume()
    w.thread.join(30)
    errors = [m for m in iter(q.get, None) if isinstance(m, WorkerError)]
    assert len(errors) == 1 and "DatasetError" in errors[0].message
    assert w.finished and not w.running and not w.alive


def test_process_worker_reports_a_failing_run_and_a_killed_process():
    bad = _missing_dataset_config()
    q = EventQueue(64)
    w = ProcessWorker(bad, q, nice=0)
    d = Drain(q)
    d.until(lambda: d.of(WorkerError) and not w.alive)
    assert "DatasetError" in d.of(WorkerError)[0].message and w.finished
    assert len(d.of(WorkerError)) == 1                  # the error, not also "ended"

    q = EventQueue(64)
    w = ProcessWorker(make_run_config("s4nn", "synthetic", overrides=TINY), q, nice=0)
    d = Drain(q)
    d.until(lambda: d.of(RunStart))
    w.resume()
    d.until(lambda: d.of(BatchEnd))
    os.kill(w.process.pid, signal.SIGINT)                # Ctrl-C is for the server
    n = len(d.of(BatchEnd))
    d.until(lambda: len(d.of(BatchEnd)) > n + 2)
    assert w.alive and not d.of(WorkerError)
    os.kill(w.process.pid, signal.SIGKILL)
    d.until(lambda: d.of(WorkerError) and not w.alive)
    assert "killed by signal SIGKILL" in d.of(WorkerError)[-1].message
    assert w.finished and not w.running and gone(w.process.pid)
    w.request(lambda tr: 1)                              # a dead worker takes commands quietly
    w.stop(0.0)


def test_interpreter_exit_ends_training_processes():
    q = EventQueue(64)
    w = ProcessWorker(make_run_config("s4nn", "synthetic", overrides=TINY), q, nice=0)
    d = Drain(q)
    d.until(lambda: d.of(RunStart))
    w.resume()
    d.until(lambda: d.of(BatchEnd))
    process_worker._stop_all()                       # what atexit runs
    assert not w.alive and gone(w.process.pid)


@pytest.mark.slow
def test_a_killed_server_leaves_no_training_process(tmp_path):
    """The training process ends by itself when the server dies (its pipe closes)."""
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, time
        from snnviz import make_run_config
        from snnviz.record import EventQueue
        from snnviz.ui.dashboard.process_worker import ProcessWorker

        if __name__ == "__main__":
            q = EventQueue(64)
            w = ProcessWorker(make_run_config("s4nn", "synthetic",
                                              overrides={TINY!r}), q, nice=0)
            while q.get() is None:
                time.sleep(0.05)
            w.resume()
            print(w.process.pid, flush=True)
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
    """))
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    assert proc.returncode == -signal.SIGKILL and proc.stdout.strip(), proc.stderr
    pid = int(proc.stdout.split()[0])
    end = time.monotonic() + 30
    while not (gone(pid) or _zombie(pid)) and time.monotonic() < end:
        time.sleep(0.1)
    assert gone(pid) or _zombie(pid), f"training process {pid} still running"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_app_in_process_mode():
    with pytest.raises(ValueError, match="worker must be one of"):
        TrainingApp("s4nn", "synthetic", overrides=TINY, worker="fork")
    app = TrainingApp("s4nn", "synthetic", overrides=TINY, loop_budget=LoopBudget(share=1e9),
                      worker_nice=0, worker="process")
    try:
        assert isinstance(app.worker, ProcessWorker)
        rows = [id(r) for r in app.training.objects]
        assert "decision_time" in {v.key for v in app._views}    # laid out before RunStart
        until(app, lambda: app._snap.run is not None)
        assert [id(r) for r in app.training.objects] == rows      # and not swapped then
        app.start()
        until(app, lambda: app._snap.step.size >= 3 and app._snap.probe is not None)
        assert "running" in app.status_text and app.live["curves"].object.data[0].x.size >= 3
        app.pause()
        assert "paused" in app.status_text
        time.sleep(0.3)
        until(app, lambda: len(app.queue) == 0)
        steps = app.recorder.snapshot().step.size
        app.step()                                     # also refreshes the inspector
        until(app, lambda: app.recorder.snapshot().step.size == steps + 1
              and app.inspector.sample is not None
              and app.inspector.sample.step == steps + 1)
        ins = app.inspector
        ins.sample_index.value = 3
        until(app, lambda: isinstance(ins.sample, SampleView)
              and ins.sample.probe.sample_index == 3)
        app.tabs.active = 2
        until(app, lambda: isinstance(app.weights.view, WeightView))
        old = app.worker
        app.algorithm.value = "bs4nn"                  # switch: a new run in a new process
        assert app.worker is not old and isinstance(app.worker, ProcessWorker)
        assert "BS4NN" in type(app.worker.cfg.algo).__name__
        assert "flips" in {v.key for v in app._views}
        until(app, lambda: not old.alive, timeout=20)
        until(app, lambda: app._snap.run is not None and app._snap.run.algorithm == "bs4nn")
        app.start()
        until(app, lambda: app._snap.step.size >= 2)
        app.reset()
        assert app._snap.step.size == 0
        until(app, lambda: app._snap.run is not None)
        workers = [*app._retired, app.worker]
    finally:
        app.close(timeout=10)
    assert all(not w.alive for w in workers) and all(gone(w.process.pid) for w in workers)


def test_explore_tabs_in_process_mode(tmp_path):
    """The sandbox and draw-a-digit tabs read the run through requests: in process mode they
    get a copy of the weights of a step boundary from the training process."""
    from snnviz.explore.sandbox import run_image
    from snnviz.explore.urlstate import decode_state
    from snnviz.runs import RunLibrary
    from snnviz.ui.explore import explore_extensions
    from snnviz.ui.explore.draw import DrawTab
    from snnviz.ui.explore.sandbox_tab import SandboxTab

    state, msgs = decode_state("algorithm=s4nn&dataset=synthetic&hidden=12&online_chunk=20"
                               "&epochs=1000&every=2&view=neuron-sandbox&sample=3")
    assert msgs == []
    app = TrainingApp(state.algorithm, state.dataset, seed=state.seed,
                      overrides=dict(state.overrides), loop_budget=LoopBudget(share=1e9),
                      worker_nice=0, worker="process",
                      extensions=explore_extensions(state, msgs, RunLibrary(tmp_path)))
    try:
        box = next(e for e in app.extensions if isinstance(e, SandboxTab))
        until(app, lambda: box.net is not None and box.result is not None and box.index == 3)
        box.layer.value = 1
        box.neuron.value = 2
        box.threshold.value = box.threshold.value * 3
        assert box.result.thr_after == pytest.approx(box.result.thr_before * 3)
        draw = next(e for e in app.extensions if isinstance(e, DrawTab))
        app.start()
        until(app, lambda: app.snapshot.last is not None and app.snapshot.last.step >= 2)
        g = np.zeros((28, 28))
        g[4:24, 12:16] = 255
        draw.canvas.pixels = g.ravel().tolist()
        until(app, lambda: draw.sample is not None)
        assert draw.net.step >= 2
        again = run_image(draw.net, draw.image)
        assert (again.probe.layers[-1].times == draw.sample.probe.layers[-1].times).all()
    finally:
        app.close(timeout=10)


@pytest.mark.slow
def test_spawn_where_forkserver_is_unavailable(monkeypatch):
    import multiprocessing as mp

    real = mp.get_context

    def no_forkserver(method=None):
        if method == "forkserver":
            raise ValueError("cannot find context for 'forkserver'")
        return real(method)

    process_worker.mp_context.cache_clear()
    monkeypatch.setattr(process_worker.mp, "get_context", no_forkserver)
    try:
        ctx = process_worker.mp_context()
        assert ctx.get_start_method() == "spawn"
    finally:
        process_worker.mp_context.cache_clear()
    monkeypatch.setattr(process_worker, "mp_context", lambda: ctx)
    q = EventQueue(64)
    w = ProcessWorker(make_run_config("s4nn", "synthetic", overrides=TINY), q, nice=0)
    d = Drain(q)
    try:
        w.step()
        d.until(lambda: d.of(BatchEnd), timeout=120)
        assert d.of(RunStart) and len(d.of(BatchEnd)) == 1 and not d.of(WorkerError)
    finally:
        w.stop(10)
    assert not w.alive and gone(w.process.pid)
