"""SLAYER as a :class:`trainers.common.method.Method` (``python -m trainers.slayer``).

Published settings (ronichester/SL-animals-DVS-slayer ``network.yaml`` and training script):
SRM-alpha neurons (theta 10, tauSr 10 ms, tauRef 10 ms, scaleRef 20, tauRho 1, scaleRho 1),
Ts 5 ms, numSpikes loss with 180/30 target spikes in 1500 ms, Adam (amsgrad) lr 0.01, batch 8,
up to 1000 epochs (the published loop also stops early after epoch 200 when the validation loss
has not improved for 100 epochs).

Hyperparameters (each a ``--name`` CLI option):

- ``theta, tauSr, tauRef, scaleRef, tauRho, scaleRho``: neuron (:class:`.neuron.NeuronParams`).
- ``Ts_ms``: sampling time; must equal the bin width of the cache view (5 ms for ``slayer``).
- ``true_rate, false_rate``: numSpikes targets in spikes per ms (0.12 and 0.02 = 180 and 30
  spikes per 1500 ms), scaled to each crop's length (:mod:`.loss`).
- ``delay``: learnable axonal delays (off, as published).
- ``conv_weight_scale, dense_weight_scale``: init scale on PyTorch's default init (10 and 10
  in the published network; slayer's own default for conv would be 100).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainers.common.method import Method
from trainers.slayer.loss import FALSE_RATE, TRUE_RATE, num_spikes_loss, predict
from trainers.slayer.model import SlayerNet
from trainers.slayer.neuron import NeuronParams

HYPERPARAMETERS: dict[str, Any] = {
    "theta": 10.0,
    "tauSr": 10.0,
    "tauRef": 10.0,
    "scaleRef": 20.0,
    "tauRho": 1.0,
    "scaleRho": 1.0,
    "Ts_ms": 5.0,
    "true_rate": TRUE_RATE,
    "false_rate": FALSE_RATE,
    "delay": False,
    "conv_weight_scale": 10.0,
    "dense_weight_scale": 10.0,
}


def build_model(hp: dict[str, Any], n_classes: int, sensor_size: tuple[int, int, int]) -> nn.Module:
    """:class:`SlayerNet` for ``sensor_size (W, H, P)`` with ``n_classes`` output neurons."""
    full = {**HYPERPARAMETERS, **hp}
    return SlayerNet(
        NeuronParams.from_hparams(full),
        n_classes=n_classes,
        sensor_size=sensor_size,
        conv_weight_scale=float(full["conv_weight_scale"]),
        dense_weight_scale=float(full["dense_weight_scale"]),
        delay=bool(full["delay"]),
    )


def make_optimizer(params: Any, lr: float, hp: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam with ``amsgrad=True`` (the published optimiser)."""
    return torch.optim.Adam(params, lr=lr, amsgrad=True)


def loss(output: torch.Tensor, labels: torch.Tensor, hp: dict[str, Any]) -> torch.Tensor:
    """numSpikes loss over the whole window, mean over the batch."""
    full = {**HYPERPARAMETERS, **hp}
    return num_spikes_loss(
        output.float(),
        labels,
        NeuronParams.from_hparams(full),
        true_rate=float(full["true_rate"]),
        false_rate=float(full["false_rate"]),
    )


METHOD = Method(
    name="slayer",
    hyperparameters=dict(HYPERPARAMETERS),
    defaults={"epochs": 1000, "batch_size": 8, "lr": 0.01, "view": "slayer"},
    build_model=build_model,
    make_optimizer=make_optimizer,
    loss=loss,
    predict=predict,
    description=(
        "SLAYER (SRM-alpha neurons, numSpikes loss) on the published SL-Animals network: "
        "pool2, conv 2->8 k5, pool2, conv 8->16 k5, pool2, fc 4096->100, fc 100->19."
    ),
    extra={
        "published_early_stopping": {"min_epochs": 200, "patience": 100},
        # SlayerNet pools uint8 event frames directly (no float32 copy of the input)
        "accepts_uint8": True,
    },
)
