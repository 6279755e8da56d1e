r"""Neuron sandbox and hand-drawn input: run one sample through an edited *copy* of a network.

:class:`NetCopy` is a frozen copy of what a forward pass needs (algorithm module, its config,
cloned parameters, class names, input shape), taken from a trainer between two steps by
:func:`copy_net`; nothing here ever touches the training run.

:func:`run_image` encodes an 8-bit image with the algorithm's own input code and probes it
(the dashboard's "Draw your own digit"). :func:`sandbox` applies one :class:`Edit` (a neuron's
threshold, one of its incoming weights, or one input pixel's intensity) and returns the probe
before and after, so the neuron's membrane trace, its firing time and the output race can be
compared.

How a single neuron's threshold is changed:

- time-to-first-spike IF networks (S4NN, BS4NN; modules with ``effective_thresholds``): the
  layer is simulated with the compiled kernel and the edited neuron is simulated again with
  its own threshold (``theta / alpha`` for binary weights, as the algorithm does);
- other real-valued networks whose potential is linear in the incoming weights (STiDi-BP's
  PL-PSP neurons, proxy learning's IF neurons, no biases): crossing
  :math:`\theta'` with weights :math:`w_{j\cdot}` is crossing :math:`\theta` with weights
  :math:`w_{j\cdot}\,\theta/\theta'` (for reset by subtraction too), so the neuron's row is
  rescaled and its displayed potential scaled back: spike times are exact;
- binary-weight networks without a TTFS kernel (binary STiDi-BP) integrate signs, which no
  rescaling changes: a threshold edit is refused with a message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from snnviz.record import SampleView, probe_sample
from snnviz.training.events import Probe

__all__ = ["NetCopy", "Edit", "SandboxResult", "copy_net", "clone_params", "run_image",
           "sandbox", "decision", "edit_limits"]


def clone_params(params: Any) -> Any:
    """A deep copy of a Params NamedTuple (tensors cloned, tuples rebuilt)."""
    def cp(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.detach().clone()
        if isinstance(x, tuple) and not hasattr(x, "_fields"):
            return tuple(cp(v) for v in x)
        if isinstance(x, np.ndarray):
            return x.copy()
        return x
    return type(params)(*(cp(v) for v in params))


@dataclass(frozen=True)
class NetCopy:
    """A network frozen at trainer step ``step``: everything a forward pass needs."""

    algo: Any
    cfg: Any
    params: Any
    classes: tuple[str, ...]
    in_shape: tuple[int, ...]
    step: int
    algorithm: str = ""


def copy_net(trainer: Any) -> NetCopy:
    """Copy a trainer's current network (call it in the training thread, between steps)."""
    return NetCopy(trainer.algo, trainer.cfg.algo, clone_params(trainer.params),
                   tuple(trainer.splits.classes),
                   tuple(int(s) for s in trainer.splits.test_x.shape[1:]), int(trainer.step),
                   trainer.cfg.algorithm)


def _as_input(net: NetCopy, image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"images are 8-bit (uint8), got {img.dtype}")
    if img.size != int(np.prod(net.in_shape)):
        raise ValueError(f"image of {img.size} pixels does not fit the input shape "
                         f"{net.in_shape}")
    return img.reshape(net.in_shape)


def run_image(net: NetCopy, image: np.ndarray, label: int = -1, index: int = -1
              ) -> SampleView:
    """Encode ``image`` (uint8, the network's input shape) with the algorithm's input code and
    probe it: every layer's spike times and membrane traces (``label`` -1: unknown)."""
    img = _as_input(net, image)
    t_in = net.algo.encode(img[None], net.cfg)[0]
    return probe_sample(net.algo, net.params, net.cfg, t_in, img, int(label), int(index),
                        net.classes, net.step)


@dataclass(frozen=True)
class Edit:
    """One change to a copy of the network.

    Attributes:
        layer, neuron: the neuron looked at (``layer`` counts non-input layers from 0; -1 is
            the output layer).
        threshold: its new threshold (None: unchanged).
        weight: ``(input index, new value)`` of one of its incoming weights (dense layers).
        pixel: ``(pixel index, new intensity 0..255)`` of the input image.
    """

    layer: int = -1
    neuron: int = 0
    threshold: float | None = None
    weight: tuple[int, float] | None = None
    pixel: tuple[int, int] | None = None


@dataclass(frozen=True)
class SandboxResult:
    """Probes before and after the edit, and the looked-at neuron's traces.

    ``trace_before`` / ``trace_after``: its potential ``[t_max]`` (None when the algorithm
    does not trace it); ``thr_before`` / ``thr_after``: its threshold; ``t_before`` /
    ``t_after``: its first spike time (``t_max``: silent); ``changed``: per non-input layer,
    how many neurons' first spike times the edit changed.
    """

    before: SampleView
    after: SampleView
    layer: int
    neuron: int
    trace_before: np.ndarray | None
    trace_after: np.ndarray | None
    thr_before: float
    thr_after: float
    t_before: int
    t_after: int
    changed: tuple[int, ...]


def decision(probe: Probe) -> int | None:
    """The output race's winner (None: no output spike or a tie for first)."""
    t = np.asarray(probe.layers[-1].times)
    first = t.min()
    if first >= probe.t_max or int((t == first).sum()) > 1:
        return None
    return int(np.argmin(t))


def edit_limits(net: NetCopy, layer: int) -> dict[str, Any]:
    """What can be edited in ``layer``: its size, fan-in (None for convolutional layers) and
    whether a single neuron's threshold can be changed (with the reason if not)."""
    ws = getattr(net.params, "w", None)
    n_layers = len(ws) if ws is not None else 0
    lay = layer % n_layers if n_layers else 0
    w = ws[lay] if ws is not None else None
    dense = w is not None and w.ndim == 2
    thr_ok, why = True, ""
    if not hasattr(net.algo, "effective_thresholds") and getattr(net.cfg, "BINARY", False):
        thr_ok, why = False, ("binary weights: the potential counts weight signs, which no "
                              "rescaling changes; edit a weight or an input instead")
    elif not hasattr(net.algo, "effective_thresholds") and not dense:
        thr_ok, why = False, "convolutional layer: pick a dense layer"
    return {"layers": n_layers, "layer": lay,
            "n_out": int(w.shape[0]) if w is not None else 0,
            "fan_in": int(w.shape[1]) if dense else None, "threshold": thr_ok, "why": why}


def _ttfs_probe(net: NetCopy, t_in_one: torch.Tensor, thr_over: dict[tuple[int, int], float],
                max_neurons: int) -> dict:
    """The TTFS family's ``probe`` with per-neuron thresholds ``{(layer, neuron): theta}``."""
    from snnviz.neurons.if_neuron import first_spike_times, membrane_trace

    algo, cfg, params = net.algo, net.cfg, net.params
    thr_eff = algo.effective_thresholds(params, cfg)
    binary = bool(getattr(cfg, "BINARY", False))
    t = t_in_one.reshape(1, -1)
    pre, layers = [t_in_one.reshape(-1)], []
    for l, w in enumerate(params.w):
        kw = {"strict": cfg.strict_threshold, "delay": cfg.spike_delay, "binary": binary}
        out = first_spike_times(t, w, thr_eff[l], cfg.t_max, **kw)
        times = out.times.copy()
        alpha = float(params.alpha[l]) if binary else 1.0
        for (ol, j), theta in thr_over.items():
            if ol == l:
                row = first_spike_times(t, w[j:j + 1], theta / alpha, cfg.t_max, **kw)
                times[:, j] = row.times[:, 0]
        t = torch.from_numpy(times)
        pre.append(t[0])
        t_post = t[0]
        neurons = torch.argsort(t_post.to(torch.int64), stable=True)[:max_neurons]
        trace = membrane_trace(pre[l], w, cfg.t_max, neurons=neurons, binary=binary,
                               scale=alpha)
        thr_layer = (cfg.thr_out if l == len(params.w) - 1 else cfg.thr_hidden)
        layers.append({"times": t_post.numpy().copy(), "neurons": neurons.numpy(),
                       "v_trace": trace, "thr": float(thr_layer)})
    return {"t_in": t_in_one.reshape(-1).numpy().copy(), "layers": layers}


class _ProbeWith:
    """An algorithm stand-in whose ``probe`` is a given function (for :func:`probe_sample`)."""

    def __init__(self, fn: Any) -> None:
        self.probe = fn


def _trace_of(sv: SampleView, layer: int, neuron: int) -> tuple[np.ndarray | None, float]:
    L = sv.probe.layers[layer]
    hit = np.nonzero(np.asarray(L.neurons) == neuron)[0]
    trace = np.asarray(L.v_trace)[:, hit[0]].copy() if hit.size else None
    return trace, float(L.thr)


def sandbox(net: NetCopy, image: np.ndarray, edit: Edit, label: int = -1, index: int = -1,
            max_neurons: int = 4096) -> SandboxResult:
    """Apply ``edit`` to a copy of ``net`` and ``image``; probe before and after.

    Raises:
        ValueError: a neuron, input or pixel index out of range, a weight edit in a
            convolutional layer, a non-positive or non-finite threshold, or a threshold edit
            the algorithm cannot express (see the module docstring).
    """
    img = _as_input(net, image)
    before = run_image(net, img, label, index)
    n_layers = len(before.probe.layers)
    if not -n_layers <= edit.layer < n_layers:
        raise ValueError(f"layer {edit.layer} does not exist (the network has {n_layers})")
    lim = edit_limits(net, edit.layer)
    lay = edit.layer % n_layers
    n_out = len(before.probe.layers[lay].times)
    if not 0 <= edit.neuron < n_out:
        raise ValueError(f"neuron {edit.neuron} does not exist (the layer has {n_out})")
    if lim["fan_in"] is not None and (lim["layers"] != n_layers or lim["n_out"] != n_out):
        lim = dict(lim, fan_in=None)         # weights not one row per probed neuron
    if lim["fan_in"] is None and lim["threshold"] and not hasattr(net.algo,
                                                                 "effective_thresholds"):
        lim = dict(lim, threshold=False, why="convolutional layer: pick a dense layer")
    params, image_after = net.params, img
    if edit.pixel is not None:
        p, x = int(edit.pixel[0]), int(edit.pixel[1])
        if not 0 <= p < img.size:
            raise ValueError(f"pixel {p} does not exist (the image has {img.size})")
        if not 0 <= x <= 255:
            raise ValueError(f"pixel intensity must be in 0..255, got {x}")
        flat = img.reshape(-1).copy()
        flat[p] = x
        image_after = flat.reshape(img.shape)
    if edit.weight is not None:
        if lim["fan_in"] is None:
            raise ValueError("weights of convolutional layers are shared: pick a dense layer")
        i, v = int(edit.weight[0]), float(edit.weight[1])
        if not 0 <= i < lim["fan_in"]:
            raise ValueError(f"input {i} does not exist (the neuron has {lim['fan_in']})")
        if not np.isfinite(v):
            raise ValueError("the weight must be a finite number")
        ws = list(params.w)
        w = ws[lay].detach().clone()
        w[edit.neuron, i] = v
        ws[lay] = w
        params = params._replace(w=tuple(ws))
    edited = dataclasses.replace(net, params=params)
    t_in = net.algo.encode(image_after[None], net.cfg)[0]
    scale = 1.0
    theta = edit.threshold
    if theta is not None:
        if not lim["threshold"]:
            raise ValueError(f"cannot change one neuron's threshold here: {lim['why']}")
        theta = float(theta)
        if not (np.isfinite(theta) and theta > 0):
            raise ValueError(f"the threshold must be a positive number, got {theta}")
    if theta is not None and hasattr(net.algo, "effective_thresholds"):
        over = {(lay, edit.neuron): theta}
        algo = _ProbeWith(lambda p_, x_, c_, m_: _ttfs_probe(edited, x_, over, m_))
        after = probe_sample(algo, params, net.cfg, t_in, image_after, label, index,
                             net.classes, net.step, max_neurons)
    else:
        if theta is not None:
            theta0 = float(before.probe.layers[lay].thr)
            scale = theta0 / theta
            ws = list(params.w)
            w = ws[lay].detach().clone()
            w[edit.neuron] *= scale
            ws[lay] = w
            params = params._replace(w=tuple(ws))
        after = probe_sample(net.algo, params, net.cfg, t_in, image_after, label, index,
                             net.classes, net.step, max_neurons)
    tr_b, thr_b = _trace_of(before, lay, edit.neuron)
    tr_a, thr_a = _trace_of(after, lay, edit.neuron)
    if tr_a is not None and scale != 1.0:
        tr_a = tr_a / scale                   # back to the potential against theta'
    if theta is not None:
        thr_a = theta
    changed = tuple(int((np.asarray(a.times) != np.asarray(b.times)).sum())
                    for a, b in zip(after.probe.layers, before.probe.layers))
    return SandboxResult(before, after, lay, int(edit.neuron), tr_b, tr_a, thr_b, thr_a,
                         int(before.probe.layers[lay].times[edit.neuron]),
                         int(after.probe.layers[lay].times[edit.neuron]), changed)


def neuron_choices(net: NetCopy) -> Sequence[str]:
    """Layer names for a selector (hidden 1..n, output)."""
    from snnviz.viz.update import layer_names

    return layer_names(len(net.params.w))
