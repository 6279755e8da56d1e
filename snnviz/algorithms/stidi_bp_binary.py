r"""STiDi-BP for binary-weight convolutional SNNs (B-CSNN).

Ref: M. Mirsadeghi, M. Shalchian, S. R. Kheradpisheh, T. Masquelier, "Spike time
displacement-based error backpropagation in convolutional spiking neural networks", Neural
Computing and Applications (2023), arXiv:2108.13621: "binary weights in the forward pass,
real-valued weights updated in the backward pass" (spec 3.5; details as BS4NN, spec 2.3).

The network, neurons and learning rule are those of :mod:`snnviz.algorithms.stidi_bp_conv`;
the config sets ``BINARY = True``, which changes three things in the shared engine:

- forward: every layer uses ``alpha_l * sign(w_l)`` (``sign(0) = +1``,
  :func:`snnviz.algorithms._common.binarize`); ``alpha_l > 0`` is one scale per layer,
  initialised to ``mean |w_l|`` of the initial latent weights (XNOR-Net) and learned (BS4NN);
- backward: straight-through, ``d sign(w)/dw := 1`` and ``alpha`` dropped, so the latent
  weights take the real-valued step; the displacement sent down uses the forward's weights
  ``alpha_l sign(w_l)`` (``delta_weights = "latent"``: the latent weights, as BS4NN's code);
- the scale step ``alpha_l <- alpha_l - lr_alpha * dE/dalpha_l`` with
  ``dV_j/dalpha_l = sum_i sign(w_ji) eps(r_j - t_i)``, averaged over the batch and divided
  by the layer's number of weights (BS4NN's code takes the mean over the weight matrix; a
  convolution's sum over locations is kept, as for its weights).

``StepStats.flips`` counts, per layer, the latent weights whose sign changed in each update
of the step (:func:`snnviz.algorithms._common.sign_flips`), summed over the step's updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from snnviz.algorithms import stidi_bp, stidi_bp_conv
from snnviz.config import hp

NAME = "stidi-bp-conv-binary"
TITLE = "STiDi-BP binary-weight convolutional SNN (sign weights, learned layer scales)"


@dataclass(frozen=True)
class StidiBinaryConfig(stidi_bp_conv.StidiConvConfig):
    """Binary-weight STiDi-BP CSNN. Kit defaults, not the paper's (unknown, spec 3.6)."""

    BINARY: ClassVar[bool] = True

    lr_alpha: float = hp(0.1, "learning rate of the layer scales alpha", bounds=(0.0, 1e6),
                         step=0.001)
    delta_weights: str = hp("effective", "weights in the displacement sent down: the "
                            "forward's alpha*sign(w) or the latent real weights",
                            choices=("effective", "latent"))


Config = StidiBinaryConfig
Params, Forward, StepStats = stidi_bp.Params, stidi_bp.Forward, stidi_bp.StepStats
init, encode, forward, forward_naive = (stidi_bp.init, stidi_bp.encode, stidi_bp.forward,
                                        stidi_bp.forward_naive)
backward, update, loss, train_step = (stidi_bp.backward, stidi_bp.update, stidi_bp.loss,
                                      stidi_bp.train_step)
end_epoch, probe, predict, score = (stidi_bp.end_epoch, stidi_bp.probe, stidi_bp.predict,
                                    stidi_bp.score)
silent, tied, spike_time_hist = stidi_bp.silent, stidi_bp.tied, stidi_bp.spike_time_hist
scale_lr = stidi_bp.scale_lr


def binary_weights(params: stidi_bp.Params) -> tuple[torch.Tensor, ...]:
    """The weights the forward pass really uses: ``alpha_l * sign(w_l)`` per layer."""
    return stidi_bp.forward_weights(params, Config())
