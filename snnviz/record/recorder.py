"""Bounded recording of training events for live views.

:class:`Recorder` is an event-bus subscriber (``bus.subscribe(recorder)``): it keeps the
per-step scalars of the last ``RecordSpec.history`` trainer steps in fixed-size numpy ring
buffers, the per-epoch values in another ring, and only the latest probe and evaluation.
:meth:`Recorder.snapshot` returns a frozen :class:`Snapshot` of plain numpy data for the
figure builders in :mod:`snnviz.viz`. Memory does not grow with the length of the run.

:class:`EventQueue` is the bounded hand-over between a training thread and a UI thread:
putting never blocks; when it is full the oldest ``BatchEnd`` is dropped (rare events such as
``EvalEnd`` or ``RunEnd`` are kept).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnviz.config import RecordSpec
from snnviz.training.events import (
    Alert,
    BatchEnd,
    EpochEnd,
    EvalEnd,
    Event,
    Probe,
    ProbeLayer,
    RunEnd,
    RunStart,
)

__all__ = ["Ring", "Snapshot", "Recorder", "EventQueue", "SampleView", "probe_sample",
           "FlipCounter", "WeightView", "weight_view", "Derived", "MAX_EXTRA_SIZE"]

_STEP_FIELDS = ("loss", "accuracy", "running_accuracy", "silent_fraction", "samples_per_second")
_EPOCH_FIELDS = ("train_loss", "train_accuracy", "val_accuracy", "step")
MAX_EXTRA_SIZE = 16      # BatchEnd.extra values with at most this many numbers get a history


@dataclass(frozen=True)
class Derived:
    """A value computed from the run outside the trainer's events (e.g. by a dashboard's
    worker right after an evaluation), recorded under ``key`` in ``Snapshot.derived``."""

    key: str
    value: Any


def _extra_row(value: Any) -> np.ndarray | None:
    """``value`` as a float row if it is a number or a small numeric array, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.ndarray, np.number)):
        return None
    a = np.asarray(value)
    if a.dtype.kind not in "biuf" or a.size > MAX_EXTRA_SIZE:
        return None
    return a.astype(np.float64)


class Ring:
    """Fixed-capacity ring buffer of rows ``[capacity, *shape]``.

    Args:
        capacity: rows kept; older rows are overwritten.
        shape: shape of one row (``()`` for scalars).
        dtype: numpy dtype of the storage.
    """

    def __init__(self, capacity: int, shape: tuple[int, ...] = (), dtype: Any = np.float64):
        if capacity < 1:
            raise ValueError(f"Ring capacity must be >= 1, got {capacity}")
        self._data = np.zeros((capacity, *shape), dtype=dtype)
        self.count = 0                                 # rows ever appended

    @property
    def capacity(self) -> int:
        return self._data.shape[0]

    @property
    def row_shape(self) -> tuple[int, ...]:
        return self._data.shape[1:]

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    def append(self, row: Any) -> None:
        self._data[self.count % self.capacity] = row
        self.count += 1

    def values(self) -> np.ndarray:
        """A chronological copy of the kept rows ``[len(self), *shape]``."""
        cap, n = self.capacity, self.count
        if n <= cap:
            return self._data[:n].copy()
        i = n % cap
        return np.concatenate((self._data[i:], self._data[:i]))

    @property
    def nbytes(self) -> int:
        return self._data.nbytes


@dataclass(frozen=True)
class Snapshot:
    """What the views need, as plain data (numpy arrays, scalars, frozen events).

    Per step (the last ``history`` trainer steps, oldest first): ``step``, ``epoch`` and the
    :class:`~snnviz.training.events.BatchEnd` scalars; ``sign_flips`` is ``[n, L]`` (``L = 0``
    for real-valued algorithms). Per epoch: ``epoch_step`` (trainer step at the epoch's end),
    ``train_loss``, ``train_accuracy``, ``val_accuracy`` (NaN without a validation split).
    ``step_extra``: the history of each numeric ``BatchEnd.extra`` value with at most
    ``MAX_EXTRA_SIZE`` numbers, ``[n, *shape]`` aligned with ``step`` (NaN where a step did
    not report it); the last step's whole ``extra`` is ``last.extra``. ``derived``: the latest
    :class:`Derived` value per key.
    ``version`` grows with every recorded event, ``probe_version`` / ``eval_version`` when a
    new probe / evaluation (or derived value) arrives, so views can skip work when nothing
    changed.
    """

    run: RunStart | None = None
    status: str = "empty"                      # empty | running | ok | nan | dead
    step: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    epoch: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    running_accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    silent_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0))
    samples_per_second: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sign_flips: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    epoch_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    epoch_step: np.ndarray = field(default_factory=lambda: np.zeros(0))
    train_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    train_accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    val_accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    last: BatchEnd | None = None
    probe: Probe | None = None
    val: EvalEnd | None = None
    test: EvalEnd | None = None
    alerts: tuple[Alert, ...] = ()
    summary: dict | None = None
    version: int = 0
    probe_version: int = 0
    eval_version: int = 0
    step_extra: dict = field(default_factory=dict)
    derived: dict = field(default_factory=dict)


class Recorder:
    """Event-bus subscriber that keeps bounded numpy buffers (see module docstring).

    Args:
        spec: ``spec.history`` is the number of trainer steps kept.
        max_epochs: epochs kept in the per-epoch buffers.
        max_alerts: most recent alerts kept.
    """

    def __init__(self, spec: RecordSpec | None = None, max_epochs: int = 10_000,
                 max_alerts: int = 20) -> None:
        self.spec = spec if spec is not None else RecordSpec()
        self._max_epochs = max_epochs
        self._lock = threading.Lock()
        self._alerts: deque[Alert] = deque(maxlen=max_alerts)
        self._version = self._probe_version = self._eval_version = 0
        self._clear(None)

    def _clear(self, run: RunStart | None) -> None:
        h = self.spec.history
        self._run, self._status = run, "empty" if run is None else "running"
        self._step = Ring(h, (), np.int64)
        self._epoch = Ring(h, (), np.int64)
        self._scalars = {name: Ring(h) for name in _STEP_FIELDS}
        self._flips: Ring | None = None
        self._epochs = {name: Ring(self._max_epochs) for name in _EPOCH_FIELDS}
        self._epoch_index = Ring(self._max_epochs, (), np.int64)
        self._last: BatchEnd | None = None
        self._probe: Probe | None = None
        self._val = self._test = None
        self._summary: dict | None = None
        self._alerts.clear()
        self._extra: dict[str, Ring] = {}
        self._derived: dict[str, Any] = {}

    def __call__(self, ev: Event) -> None:
        """Record one event (thread-safe)."""
        with self._lock:
            self._version += 1
            if isinstance(ev, RunStart):
                self._clear(ev)
            elif isinstance(ev, BatchEnd):
                self._batch(ev)
            elif isinstance(ev, EvalEnd):
                self._val, self._test = (ev, self._test) if ev.split == "val" else (self._val, ev)
                self._eval_version += 1
            elif isinstance(ev, EpochEnd):
                self._epoch_end(ev)
            elif isinstance(ev, Alert):
                self._alerts.append(ev)
            elif isinstance(ev, RunEnd):
                self._status, self._summary = ev.status, ev.summary
            elif isinstance(ev, Derived):
                self._derived[ev.key] = ev.value
                self._eval_version += 1

    def _batch(self, ev: BatchEnd) -> None:
        self._step.append(ev.step)
        self._epoch.append(ev.epoch)
        for name, ring in self._scalars.items():
            ring.append(getattr(ev, name))
        if self._flips is None:
            self._flips = Ring(self.spec.history, (len(ev.sign_flips),), np.int64)
        if self._flips.row_shape == (len(ev.sign_flips),):
            self._flips.append(ev.sign_flips)
        self._batch_extra(ev.extra)
        self._last = ev
        if ev.probe is not None:
            self._probe = ev.probe
            self._probe_version += 1

    def _batch_extra(self, extra: dict) -> None:
        """Append this step's small numeric extras; keep every history one row per step."""
        n = self._step.count                      # steps ever recorded, this one included
        for key, value in (extra or {}).items():
            row = _extra_row(value)
            if row is None:
                continue
            ring = self._extra.get(key)
            if ring is None or ring.row_shape != row.shape:
                ring = Ring(self.spec.history, row.shape)
                ring._data[:] = np.nan            # earlier steps did not report it
                ring.count = n - 1
                self._extra[key] = ring
            ring.append(row)
        for ring in self._extra.values():
            if ring.count < n:
                ring.append(np.nan)

    def _epoch_end(self, ev: EpochEnd) -> None:
        self._epoch_index.append(ev.epoch)
        self._epochs["train_loss"].append(ev.train_loss)
        self._epochs["train_accuracy"].append(ev.train_accuracy)
        self._epochs["val_accuracy"].append(np.nan if ev.val_accuracy is None else ev.val_accuracy)
        self._epochs["step"].append(self._last.step if self._last is not None else 0)

    @property
    def nbytes(self) -> int:
        """Bytes held by the ring buffers (constant over a run)."""
        rings = [self._step, self._epoch, self._epoch_index, *self._scalars.values(),
                 *self._epochs.values(), *self._extra.values()] + \
            ([self._flips] if self._flips is not None else [])
        return sum(r.nbytes for r in rings)

    def snapshot(self) -> Snapshot:
        """A frozen copy of the current state (thread-safe, O(history))."""
        with self._lock:
            flips = self._flips.values() if self._flips is not None else None
            if flips is None or len(flips) != len(self._step):
                flips = np.zeros((len(self._step), 0), np.int64)
            return Snapshot(
                run=self._run, status=self._status,
                step=self._step.values(), epoch=self._epoch.values(),
                **{name: ring.values() for name, ring in self._scalars.items()},
                sign_flips=flips, epoch_index=self._epoch_index.values(),
                epoch_step=self._epochs["step"].values(),
                train_loss=self._epochs["train_loss"].values(),
                train_accuracy=self._epochs["train_accuracy"].values(),
                val_accuracy=self._epochs["val_accuracy"].values(),
                last=self._last, probe=self._probe, val=self._val, test=self._test,
                alerts=tuple(self._alerts), summary=self._summary, version=self._version,
                probe_version=self._probe_version, eval_version=self._eval_version,
                step_extra={k: r.values() for k, r in self._extra.items()},
                derived=dict(self._derived),
            )


class EventQueue:
    """Bounded, never-blocking hand-over of events (and other messages) between threads.

    Args:
        maxsize: items kept; when full, :meth:`put` drops the oldest ``BatchEnd``
            (or, if there is none, the oldest item) and counts it in :attr:`dropped`.
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError(f"EventQueue maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            if len(self._items) > self.maxsize:
                victim = next((i for i, x in enumerate(self._items) if isinstance(x, BatchEnd)), 0)
                del self._items[victim]
                self.dropped += 1

    def get(self) -> Any | None:
        """The oldest item, or None when empty."""
        with self._lock:
            return self._items.popleft() if self._items else None


@dataclass(frozen=True)
class SampleView:
    """Display data of one test sample under the weights of trainer step ``step``:
    the probe (every neuron traced), the image ``[H, W]`` and the class names."""

    probe: Probe
    image: np.ndarray
    classes: tuple[str, ...]
    step: int


def probe_sample(algo: Any, params: Any, algo_cfg: Any, t_in_one: Any, image: np.ndarray,
                 label: int, index: int, classes: tuple[str, ...], step: int,
                 max_neurons: int = 4096) -> SampleView:
    """Probe one sample with the algorithm's own ``probe`` (see the algorithm contract).

    Args:
        algo: the algorithm module.
        params: its current parameters.
        algo_cfg: the fitted algorithm config.
        t_in_one: encoded sample ``[N_in]``.
        image: the raw image ``[C, H, W]`` or ``[H, W]`` (channels are averaged).
        label, index: the sample's class and test index.
        classes: class names.
        step: trainer step the weights belong to.
        max_neurons: neurons traced per layer (default: all of them).
    """
    d = algo.probe(params, t_in_one, algo_cfg, max_neurons)
    layers = tuple(ProbeLayer(L["times"], L["neurons"], L["v_trace"], L["thr"])
                   for L in d["layers"])
    probe = Probe(int(index), int(label), d["t_in"], layers,
                  int(getattr(algo_cfg, "t_max", 0)), d.get("extra", {}))
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:
        img = img.mean(axis=0)                                              # [H, W]
    return SampleView(probe, img, tuple(classes), int(step))


class FlipCounter:
    """Per-weight count of sign changes (``w >= 0`` is +1, as ``binarize``) between the
    weight matrices it is shown; one int32 per weight, whatever the run length.

    Shown once per trainer step, it counts the flips that survive a step: with online
    updates, a weight that flips and flips back within one step is not counted.
    """

    def __init__(self) -> None:
        self.counts: np.ndarray | None = None
        self._sign: np.ndarray | None = None

    def observe(self, w: Any) -> None:
        """Compare the signs of ``w`` (``[N_out, N_in]``) with the previous call's."""
        sign = np.asarray(w) >= 0
        if self._sign is None or self._sign.shape != sign.shape:
            self.counts = np.zeros(sign.shape, np.int32)
        else:
            self.counts += sign != self._sign
        self._sign = sign


@dataclass(frozen=True)
class WeightView:
    """A copy of one layer's (latent) weights ``[N_out, N_in]`` at trainer step ``step``,
    with per-weight sign-flip counts (first layer of binary-weight runs, else None)."""

    layer: int
    w: np.ndarray
    flips: np.ndarray | None
    in_shape: tuple[int, ...]
    step: int


def weight_view(params: Any, layer: int, in_shape: tuple[int, ...], step: int,
                flips: FlipCounter | None = None) -> WeightView | None:
    """The weights of ``layer`` from ``params.w`` (None if the params have no ``w``)."""
    ws = getattr(params, "w", None)
    if ws is None or not 0 <= layer < len(ws):
        return None
    w_l = ws[layer]
    w = w_l.detach().cpu().numpy().copy() if hasattr(w_l, "detach") else np.array(w_l)
    counts = flips.counts.copy() if (flips is not None and layer == 0
                                     and flips.counts is not None) else None
    return WeightView(layer, w, counts, tuple(int(s) for s in in_shape), int(step))
