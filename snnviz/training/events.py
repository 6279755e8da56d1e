"""Plain-data training events and a tiny synchronous event bus.

Events are frozen dataclasses holding Python scalars, tuples, dicts and detached numpy
arrays only, so any subscriber (recorder, progress bar, dashboard queue, log file) can keep
them without holding on to the trainer or to torch tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ProbeLayer:
    """One layer of a probed sample: spike times ``[N]``, traced neuron indices ``[n]``,
    membrane potentials ``[t_max, n]`` (time first) and the layer's threshold."""

    times: np.ndarray
    neurons: np.ndarray
    v_trace: np.ndarray
    thr: float


@dataclass(frozen=True)
class Probe:
    """Display data of one sample at one training step."""

    sample_index: int
    label: int
    t_in: np.ndarray
    layers: tuple[ProbeLayer, ...]
    t_max: int
    extra: dict = field(default_factory=dict)   # algorithm-specific display data


@dataclass(frozen=True)
class RunStart:
    algorithm: str
    dataset: str
    config: dict
    layer_sizes: tuple[int, ...]
    classes: tuple[str, ...]
    n_train: int
    n_val: int
    n_test: int
    start_epoch: int


@dataclass(frozen=True)
class BatchEnd:
    step: int                     # global trainer step, from 0
    epoch: int                    # from 0
    n: int                        # samples in this step
    seen: int                     # samples seen this epoch, this step included
    epoch_size: int
    loss: float
    accuracy: float               # this step's training accuracy (configured policy)
    running_accuracy: float       # over the epoch so far
    silent_fraction: float        # samples with no output spike in this step
    sign_flips: tuple[int, ...]   # per layer (binary-weight algorithms), else ()
    samples_per_second: float
    probe: Probe | None = None
    extra: dict = field(default_factory=dict)   # algorithm-specific step statistics


@dataclass(frozen=True)
class EvalEnd:
    split: str                    # "val" or "test"
    epoch: int
    n: int
    accuracy: float               # under the configured policy
    by_policy: dict               # policy name -> accuracy
    no_spike_rate: float          # fraction with no output spike
    tie_rate: float               # fraction with a tie for the first output spike
    confusion: np.ndarray         # [K, K+1]: true class x decision (last column: none)
    spike_time_hist: tuple[np.ndarray, ...] = field(default=())  # per layer, t_max+1 bins
    extra: dict = field(default_factory=dict)   # algorithm-specific (``eval_extra`` hook)


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float | None
    seconds: float
    neurons_reset: int
    best_epoch: int
    improved: bool


@dataclass(frozen=True)
class Alert:
    kind: str                     # "nan" | "dead"
    message: str
    epoch: int
    step: int


@dataclass(frozen=True)
class RunEnd:
    status: str                   # "ok" | "nan" | "dead"
    summary: dict


Event = RunStart | BatchEnd | EvalEnd | EpochEnd | Alert | RunEnd
Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous publish/subscribe. Subscribers get events, never the trainer."""

    def __init__(self) -> None:
        self._subs: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Register ``fn``; returns a function that unsubscribes it."""
        self._subs.append(fn)

        def unsubscribe() -> None:
            if fn in self._subs:
                self._subs.remove(fn)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for fn in list(self._subs):
            fn(event)
