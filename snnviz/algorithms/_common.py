"""Helpers shared by the algorithms: targets, error normalisation, binarisation, read-out.

Everything here is a pure function of numpy/torch arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from snnviz.config import EvalPolicy


class Readout(NamedTuple):
    """What a TTFS output layer produced for a batch, ``[B, K]`` each.

    t_out: int spike times (``t_max`` = silent); v_fire: potential at the spike step;
    v_late: potential read at the reference code's fallback step (``t_max - 3``).
    """

    t_out: np.ndarray
    v_fire: np.ndarray
    v_late: np.ndarray


def relative_targets(t_out: np.ndarray, y: np.ndarray, gamma: int, t_max: int,
                     no_spike_label: bool) -> np.ndarray:
    """Relative target times (S4NN sec. 2.3; spec 1.5 and 2.5).

    With ``tau = min_j t_j``: the label's target is ``tau``; every other neuron's target is
    ``max(t_j, min(tau + gamma, t_max))`` (only too-early competitors are pushed later).
    If no output fired: all targets are ``t_max``, and with ``no_spike_label`` (S4NN) the
    label's target is ``t_max - gamma``; without it (BS4NN) the error is zero.

    Args:
        t_out: ``[B, K]`` output spike times.
        y: ``[B]`` labels.

    Returns:
        ``[B, K]`` int64 targets.
    """
    t_out = np.asarray(t_out, dtype=np.int64)
    rows = np.arange(t_out.shape[0])
    tau = t_out.min(axis=1, keepdims=True)                                  # [B, 1]
    target = np.maximum(t_out, np.minimum(tau + gamma, t_max))              # [B, K]
    target[rows, y] = tau[:, 0]
    silent = tau[:, 0] >= t_max
    target[silent] = t_max
    if no_spike_label:
        target[rows[silent], y[silent]] = t_max - gamma
    return target


def normalize_error(e: np.ndarray) -> np.ndarray:
    """Per-sample L2 normalisation of an error ``[B, N]`` (rows of zeros stay zero)."""
    norm = np.sqrt((e * e).sum(axis=1, keepdims=True))
    return np.where(norm > 0, e / np.where(norm > 0, norm, 1.0), 0.0).astype(e.dtype)


def binarize(w: torch.Tensor) -> torch.Tensor:
    """``sign(w)`` with ``sign(0) = +1`` (BS4NN, BinaryConnect): values in ``{-1, +1}``."""
    return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)


def sign_flips(w_old: torch.Tensor, w_new: torch.Tensor) -> int:
    """Number of weights whose binarised value differs between ``w_old`` and ``w_new``."""
    return int(((w_old >= 0) != (w_new >= 0)).sum())


def ttfs_predict(out: Readout, policy: EvalPolicy, t_max: int) -> np.ndarray:
    """Class decided by the output race under ``policy``; ``-1`` means "no decision".

    The earliest output spike wins. Ties: ``potential`` picks the highest potential at the
    spike step (then the lowest index); ``lowest-index`` the lowest index; ``wrong`` and
    ``optimistic`` give -1 here (see :func:`ttfs_correct`). No spike at all: ``potential``
    takes the argmax of ``v_late`` (reference code), ``wrong`` gives -1.
    """
    t = np.asarray(out.t_out)
    first = t.min(axis=1)
    winners = t == first[:, None]                                            # [B, K]
    n_win = winners.sum(axis=1)
    if policy.ties == "potential":
        score = np.where(winners, out.v_fire, -np.inf)
        pred = score.argmax(axis=1)
    elif policy.ties == "lowest-index":
        pred = winners.argmax(axis=1)
    else:
        pred = np.where(n_win == 1, winners.argmax(axis=1), -1)
    silent = first >= t_max
    fallback = np.asarray(out.v_late).argmax(axis=1) if policy.no_spike == "potential" else -1
    return np.where(silent, fallback, pred).astype(np.int64)


def ttfs_correct(out: Readout, y: np.ndarray, policy: EvalPolicy, t_max: int) -> np.ndarray:
    """Boolean ``[B]``: is each sample classified correctly under ``policy``."""
    y = np.asarray(y)
    pred = ttfs_predict(out, policy, t_max)
    correct = pred == y
    if policy.ties == "optimistic":
        t = np.asarray(out.t_out)
        first = t.min(axis=1)
        label_first = t[np.arange(len(y)), y] == first
        correct = np.where(first < t_max, label_first, correct)
    return correct
