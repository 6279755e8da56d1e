"""Compiled event-driven kernels for single-spike, non-leaky IF layers (numba).

These are the hot loops behind :mod:`snnviz.neurons.if_neuron` and the TTFS engine.
Layout conventions (chosen for contiguous inner loops):

- spike times ``t``: int32, ``t_max`` means "no spike";
- weights ``wT``: ``[n_in, n_out]`` (the transpose of the ``[N_out, N_in]`` torch layout), so
  adding one input's row to all potentials and updating the weights of one input are both
  contiguous;
- a presynaptic spike ``i`` "contributed" to neuron ``j`` iff ``t_i + delay <= t_j`` and
  ``t_i < t_max`` (with the reference delay of 1 this is the papers' ``t_i < t_j``).

Event-driven forward (design C10): the inputs of one sample are counting-sorted by spike
time; each group of equal times adds its weight rows to the potentials, then every neuron
that has not fired yet is tested (``v > thr`` strict, or ``v >= thr``); a crossing after the
group at time ``tau`` gives the spike time ``tau + delay``. The loop stops as soon as every
neuron has fired. Binary layers add ``sign(w)`` (``+1`` for ``w >= 0``), with the threshold
already divided by the layer scale.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_opts = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


@nb.njit(**_opts)
def sort_active(t: np.ndarray, t_max: int, order: np.ndarray, counts: np.ndarray) -> int:
    """Counting-sort the indices of ``t`` with ``t < t_max`` by (time, index).

    Writes them to ``order[:n]`` and returns ``n``. ``counts`` is scratch of size t_max + 1.
    """
    counts[:] = 0
    n = 0
    for i in range(t.shape[0]):
        ti = t[i]
        if ti < t_max:
            counts[ti + 1] += 1
            n += 1
    for k in range(1, t_max + 1):
        counts[k] += counts[k - 1]
    for i in range(t.shape[0]):
        ti = t[i]
        if ti < t_max:
            order[counts[ti]] = i
            counts[ti] += 1
    return n


@nb.njit(**_opts)
def fire_one(t_pre, order, n_act, wT, binary, thr, t_max, delay, strict, late_step,
             t_out, v_fire, v_late, v, fired):
    """First spike times of one layer for one sample (event-driven, early exit).

    ``late_step >= 0`` also records the potential after all inputs with ``t <= late_step``
    into ``v_late`` (the reference code's no-spike read-out) and disables the early exit.
    """
    n_out = wT.shape[1]
    v[:] = 0.0
    v_fire[:] = 0.0
    fired[:] = False
    t_out[:] = t_max
    remaining = n_out
    late_done = late_step < 0
    k = 0
    while k < n_act:
        tau = t_pre[order[k]]
        if not late_done and tau > late_step:
            v_late[:] = v
            late_done = True
        if late_done and (remaining == 0 or tau + delay >= t_max):
            break  # every neuron fired, or a crossing now could only give t_max (silent)
        # Integrate every input spike of this time step (group of equal times).
        while k < n_act and t_pre[order[k]] == tau:
            i = order[k]
            if binary:
                for j in range(n_out):
                    v[j] += 2.0 * (wT[i, j] >= 0.0) - 1.0
            else:
                for j in range(n_out):
                    v[j] += wT[i, j]
            k += 1
        # Threshold test of the neurons that have not fired yet.
        if remaining > 0:
            for j in range(n_out):
                if not fired[j]:
                    hit = v[j] > thr if strict else v[j] >= thr
                    if hit:
                        fired[j] = True
                        remaining -= 1
                        t_out[j] = min(tau + delay, t_max)
                        v_fire[j] = v[j]
    if not late_done:
        v_late[:] = v


@nb.njit(parallel=True, **_opts)
def forward_layer(t_pre, wT, binary, thr, t_max, delay, strict, late_step, t_out, v_fire, v_late):
    """Batched :func:`fire_one`, parallel over samples. ``t_pre`` is ``[B, n_in]``."""
    B, n_in = t_pre.shape
    n_out = wT.shape[1]
    for b in nb.prange(B):
        order = np.empty(n_in, np.int32)
        counts = np.empty(t_max + 1, np.int64)
        v = np.empty(n_out, wT.dtype)
        fired = np.empty(n_out, np.bool_)
        n_act = sort_active(t_pre[b], t_max, order, counts)
        fire_one(t_pre[b], order, n_act, wT, binary, thr, t_max, delay, strict, late_step,
                 t_out[b], v_fire[b], v_late[b], v, fired)


@nb.njit(**_opts)
def _last_learning_time(t_post, delta):
    """Latest spike time among the neurons whose error is non-zero (-1 if none).

    An input spiking at or after it only meets neurons with ``delta = 0``: its weight steps
    ``w - lr * 0``, its share of the error sent down and of the scale gradient are zero, and
    no sign can flip, so the backward loops stop there. This matters for silent neurons
    (``t = t_max``): a silent hidden neuron precedes no output spike, so its error is zero,
    and BS4NN's black pixels (``t = t_max - 1``) would otherwise all be visited for it.
    """
    last = -1
    for j in range(t_post.shape[0]):
        if delta[j] != 0.0 and t_post[j] > last:
            last = t_post[j]
    return last


@nb.njit(**_opts)
def _last_learning_post(t_post, delta):
    """:func:`_last_learning_time` of every sample of a batch ``[B, n]`` -> ``[B]``."""
    out = np.empty(t_post.shape[0], np.int64)
    for b in range(t_post.shape[0]):
        out[b] = _last_learning_time(t_post[b], delta[b])
    return out


@nb.njit(parallel=True, **_opts)
def backward_layer(t_pre, t_post, delta, wT, lr, decay, delay, t_max, updated, binary,
                   grad, delta_pre, alpha_part):
    """Mini-batch gradient of one layer, parallel over presynaptic neurons.

    For every sample b (each with its own normalised ``delta[b]``), with the contribution
    mask ``m[b,i,j] = [t_pre[b,i] + delay <= t_post[b,j]] [t_pre[b,i] < t_max]``:

    - ``grad[i, j] = mean_b delta[b,j] m[b,i,j]``                      (so ``w -= lr * grad``)
    - ``delta_pre[b, i] = sum_j w'[i,j] delta[b,j] m[b,i,j]``  with ``w'`` the weights after
      this sample's own update and decay when ``updated`` (reference code order), else ``w``;
    - binary layers: ``alpha_part[i, b] = sum_j delta[b,j] m[b,i,j] sign(w'[i,j])``.
    """
    B = t_pre.shape[0]
    n_in, n_out = wT.shape
    inv_b = 1.0 / B
    last_post = _last_learning_post(t_post, delta)
    for i in nb.prange(n_in):
        grad[i, :] = 0.0
        for b in range(B):
            ti = t_pre[b, i]
            acc = 0.0
            acc_a = 0.0
            if ti < t_max and ti + delay <= last_post[b]:
                for j in range(n_out):
                    if ti + delay <= t_post[b, j]:
                        d = delta[b, j]
                        grad[i, j] += d * inv_b
                        w_new = (wT[i, j] - lr * d) * decay if updated else wT[i, j]
                        acc += w_new * d
                        if binary:
                            w_upd = (wT[i, j] - lr * d) * decay
                            acc_a += d * (2.0 * (w_upd >= 0.0) - 1.0)
            delta_pre[b, i] = acc
            alpha_part[i, b] = acc_a


@nb.njit(**_opts)
def _targets(t_out, label, gamma, t_max, no_spike_label, target):
    """Relative target times (S4NN eqs.; spec 1.5 / 2.5). Writes ``target``."""
    n = t_out.shape[0]
    tau = t_max
    for j in range(n):
        tau = min(tau, t_out[j])
    if tau >= t_max:
        target[:] = t_max
        if no_spike_label:
            target[label] = t_max - gamma
        return
    late = min(tau + gamma, t_max)
    for j in range(n):
        target[j] = max(t_out[j], late)
    target[label] = tau


@nb.njit(**_opts)
def _normalise(x):
    s = 0.0
    for k in range(x.shape[0]):
        s += x[k] * x[k]
    if s > 0.0:
        r = 1.0 / np.sqrt(s)
        for k in range(x.shape[0]):
            x[k] *= r


@nb.njit(**_opts)
def online_chunk(t_in, labels, w_flat, sizes, alpha, binary, thr, lr, decay, lr_alpha,
                 t_max, delay, strict, gamma, no_spike_label, updated, late_step,
                 out_t, out_vfire, out_vlate, loss, fire_counts, flips):
    """Online (one update per sample) training over a chunk of samples, in order.

    Exactly the reference per-sample loop for any depth: forward every layer, relative
    targets, normalised output error, then from the top layer down: weight step, decay,
    (binary: scale step), error sent to the layer below and normalised.

    ``w_flat`` holds all layers' ``wT`` blocks back to back (``sizes`` = layer widths,
    input first) and is updated in place, as is ``alpha``. Per-sample outputs: ``out_t``,
    ``out_vfire``, ``out_vlate`` (output layer), ``loss``; accumulated: ``fire_counts``
    (per neuron, concatenated over non-input layers) and ``flips`` (per layer).
    """
    n_layers = sizes.shape[0] - 1
    n_samples = t_in.shape[0]
    width = 0
    n_tot = 0
    for l in range(n_layers + 1):
        width = max(width, sizes[l])
        n_tot += sizes[l]
    t_all = np.empty(n_tot, np.int32)          # spike times of every layer, back to back
    orders = np.empty(n_tot, np.int32)         # sorted active indices per layer
    n_act = np.empty(n_layers + 1, np.int64)
    counts = np.empty(t_max + 1, np.int64)
    v = np.empty(width, w_flat.dtype)
    v_fire = np.empty(width, w_flat.dtype)
    v_late = np.empty(width, w_flat.dtype)
    fired = np.empty(width, np.bool_)
    delta = np.empty(width, w_flat.dtype)
    delta_pre = np.empty(width, w_flat.dtype)
    target = np.empty(sizes[n_layers], np.int32)
    n_out_last = sizes[n_layers]
    for s in range(n_samples):
        # ---- forward, layer by layer -------------------------------------------------
        t_all[: sizes[0]] = t_in[s]
        n_act[0] = sort_active(t_all[: sizes[0]], t_max, orders[: sizes[0]], counts)
        off_t = 0
        off_w = 0
        off_f = 0
        for l in range(n_layers):
            n_i, n_o = sizes[l], sizes[l + 1]
            wT = w_flat[off_w: off_w + n_i * n_o].reshape((n_i, n_o))
            t_pre = t_all[off_t: off_t + n_i]
            t_post = t_all[off_t + n_i: off_t + n_i + n_o]
            last = l == n_layers - 1
            fire_one(t_pre, orders[off_t: off_t + n_i], n_act[l], wT, binary, thr[l] / alpha[l]
                     if binary else thr[l], t_max, delay, strict, late_step if last else -1,
                     t_post, v_fire[:n_o], v_late[:n_o], v[:n_o], fired[:n_o])
            for j in range(n_o):
                if t_post[j] < t_max:
                    fire_counts[off_f + j] += 1
            n_act[l + 1] = sort_active(t_post, t_max, orders[off_t + n_i: off_t + n_i + n_o],
                                       counts)
            off_t += n_i
            off_w += n_i * n_o
            off_f += n_o
        t_out = t_all[off_t: off_t + n_out_last]
        out_t[s] = t_out
        out_vfire[s] = v_fire[:n_out_last]
        out_vlate[s] = v_late[:n_out_last]
        # ---- output error: e = (T - t) / t_max, loss = 1/2 sum e^2, delta = e / ||e|| --
        _targets(t_out, labels[s], gamma, t_max, no_spike_label, target)
        acc = 0.0
        for j in range(n_out_last):
            e = (target[j] - t_out[j]) / t_max
            delta[j] = e
            acc += e * e
        loss[s] = 0.5 * acc
        _normalise(delta[:n_out_last])
        # ---- backward, top layer first -----------------------------------------------
        for l in range(n_layers - 1, -1, -1):
            n_i, n_o = sizes[l], sizes[l + 1]
            off_w -= n_i * n_o
            off_t -= n_i
            wT = w_flat[off_w: off_w + n_i * n_o].reshape((n_i, n_o))
            t_pre = t_all[off_t: off_t + n_i]
            t_post = t_all[off_t + n_i: off_t + n_i + n_o]
            order = orders[off_t: off_t + n_i]
            if decay[l] != 1.0:
                for i in range(n_i):
                    if t_pre[i] >= t_max:
                        for j in range(n_o):
                            wT[i, j] *= decay[l]
            delta_pre[:n_i] = 0.0
            g_alpha = 0.0
            last_post = _last_learning_time(t_post, delta[:n_o])
            for k in range(n_act[l]):
                i = order[k]
                ti = t_pre[i]
                if ti + delay > last_post:
                    if decay[l] != 1.0:  # no later input contributed: decay only
                        for k2 in range(k, n_act[l]):
                            for j in range(n_o):
                                wT[order[k2], j] *= decay[l]
                    break
                acc = 0.0
                for j in range(n_o):
                    w_old = wT[i, j]
                    if ti + delay <= t_post[j]:
                        d = delta[j]
                        w_new = (w_old - lr[l] * d) * decay[l]
                        if binary:
                            sgn = 2.0 * (w_new >= 0.0) - 1.0
                            g_alpha += d * sgn
                            if (w_new >= 0.0) != (w_old >= 0.0):
                                flips[l] += 1
                        acc += (w_new if updated else w_old) * d
                        wT[i, j] = w_new
                    elif decay[l] != 1.0:
                        wT[i, j] = w_old * decay[l]
                delta_pre[i] = acc
            if binary:
                alpha[l] -= lr_alpha[l] * g_alpha / (n_i * n_o)
            if l > 0:
                for i in range(n_i):
                    delta[i] = delta_pre[i]
                _normalise(delta[:n_i])
