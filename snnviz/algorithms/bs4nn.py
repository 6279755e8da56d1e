r"""BS4NN: binarized S4NN (sign weights in the forward pass, real latent weights learn).

Ref: S. R. Kheradpisheh, M. Mirsadeghi, T. Masquelier, "BS4NN: Binarized spiking neural
networks with temporal coding and learning", Neural Processing Letters 54 (2022),
arXiv:2007.04039. Semantics follow the authors' reference code (spec section 2).

Forward (per layer l, learned positive scale alpha_l, BinaryConnect/XNOR-Net style):

    b_ji = sign(w_ji)  (sign(0) = +1)
    V_j[k] = alpha_l * sum_{i : t_i <= k} b_ji ;  t_j = min{k : V_j[k] > theta} + 1, else t_max

computed as the integer count ``sum b_ji > theta / alpha_l`` (identical decision).

Targets as S4NN with gamma = 1, except that when no output fires every target is t_max:
zero error, no learning on that sample (spec 2.5).

Backward (straight-through: d sign/dw := 1 and alpha dropped), per layer, top first:

    w_ji    <- w_ji - lr * delta_j HF_ji,          HF_ji = [t_i < t_j]
    alpha_l <- alpha_l - lr_alpha * mean_{j,i}(delta_j HF_ji sign(w_ji))     (updated w)
    delta_pre_i = sum_j w_ji delta_j HF_ji  (real updated weights), then L2-normalised.

Input coding: ``t = 255 - p`` (black pixels spike at 255, see
:func:`snnviz.encoders.latency.latency_bs4nn`). Exact sign flips per layer per update are
counted by the compiled online kernel and by :func:`snnviz.algorithms._common.sign_flips`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from snnviz.algorithms import s4nn
from snnviz.algorithms._common import binarize
from snnviz.config import hp
from snnviz.encoders.latency import latency_bs4nn

NAME = "bs4nn"
TITLE = "BS4NN (binarized weights, temporal coding)"


@dataclass(frozen=True)
class BS4NNConfig(s4nn.S4NNConfig):
    """BS4NN hyperparameters; defaults are the reference code's MNIST values (spec 2.6)."""

    BINARY: ClassVar[bool] = True
    NO_SPIKE_LABEL: ClassVar[bool] = False

    hidden: tuple[int, ...] = hp((600,), "hidden layer sizes, e.g. 600 or 600,300",
                                 bounds=(1, 100_000))
    lr_hidden: float = hp(0.1, "learning rate of hidden latent weights", bounds=(0.0, 100.0),
                          step=0.01)
    lr_out: float = hp(0.1, "learning rate of output latent weights", bounds=(0.0, 100.0),
                       step=0.01)
    weight_decay: float = hp(0.0, "lambda: w <- w - lr*lambda*w after each update",
                             bounds=(0.0, 0.5), step=1e-6)
    gamma: int = hp(1, "margin (steps) between the winner and the other outputs",
                    bounds=(0, 4096), step=1)
    dead_reset: float = hp(0.0, "after each epoch re-draw hidden neurons firing on fewer "
                           "than this fraction of samples (0 = off)", bounds=(0.0, 1.0),
                           step=0.001)
    alpha_init: float = hp(5.0, "initial layer scale alpha (count threshold theta/alpha)",
                           bounds=(1e-3, 1e6), step=0.5)
    lr_alpha: float = hp(0.01, "learning rate of the layer scales", bounds=(0.0, 100.0),
                         step=0.001)


Config = BS4NNConfig
Params, Forward, StepStats = s4nn.Params, s4nn.Forward, s4nn.StepStats
init, forward, backward, update = s4nn.init, s4nn.forward, s4nn.backward, s4nn.update
loss, train_step, end_epoch = s4nn.loss, s4nn.train_step, s4nn.end_epoch
score, silent, probe, predict = s4nn.score, s4nn.silent, s4nn.probe, s4nn.predict
tied, spike_time_hist = s4nn.tied, s4nn.spike_time_hist
effective_thresholds, output_error = s4nn.effective_thresholds, s4nn.output_error
scale_lr = s4nn.scale_lr


def encode(pixels: np.ndarray | torch.Tensor, cfg: BS4NNConfig) -> torch.Tensor:
    """BS4NN latency code ``t = floor((t_max - 1)(255 - p)/255)`` -> ``[N, D]`` int32."""
    return torch.from_numpy(latency_bs4nn(pixels, cfg.t_max))


def binary_weights(params: s4nn.Params) -> tuple[torch.Tensor, ...]:
    """The weights the forward pass really uses: ``alpha_l * sign(w_l)`` per layer."""
    return tuple(float(a) * binarize(w) for w, a in zip(params.w, params.alpha))
