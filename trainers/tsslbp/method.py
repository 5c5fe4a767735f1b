"""TSSL-BP as a :class:`trainers.common.method.Method` (``python -m trainers.tsslbp``).

Published settings (Networks/NMNIST_CNN.yaml and main.py of stonezwr/TSSL-BP): 30 steps,
12C5(pad 1)-P2-64C5-P2-10 with sum pooling of weight 1.1, thresholds 1, ``tau_m`` 8,
``tau_s`` 4, count loss with 15 / 3 desired / undesired spikes, AdamW (lr 5e-4, PyTorch's
default weight decay 0.01), batch 50, gradient-norm clip 1 before each step, weights clipped to
``+-4`` after it, 100 epochs.

Hyperparameters (each a ``--name`` CLI option):

- ``network``: a built-in definition (:data:`trainers.tsslbp.networks.NETWORKS`) or a YAML /
  JSON file (this package's form or the published one).
- ``loss``: ``count`` / ``kernel`` / ``softmax`` (:mod:`.loss`); ``desired_count``,
  ``undesired_count``: the count loss's targets (spikes per sample window).
- ``tau_m``, ``tau_s``: membrane and synaptic time constants in steps; ``steps``: ``T``.
- ``weight_decay``, ``grad_clip``, ``weight_clip``: the optimiser details above (0: off).
- ``backend``: neuron implementation (``auto``: Numba on CPU, torch loop elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from trainers.common.method import Method
from trainers.tsslbp import networks
from trainers.tsslbp.loss import LOSSES, predict, tsslbp_loss
from trainers.tsslbp.model import TSSLBPNet
from trainers.tsslbp.neuron import BACKENDS, LIFParams

HYPERPARAMETERS: dict[str, Any] = {
    "network": "nmnist-cnn",
    "loss": "count",
    "desired_count": 15,
    "undesired_count": 3,
    "tau_m": 8.0,
    "tau_s": 4.0,
    "steps": 30,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
    "weight_clip": 4.0,
    "backend": "auto",
}


class ClippedAdamW(torch.optim.AdamW):
    """AdamW whose ``step`` clips the gradient norm before and the weights after the update.

    The published loop (main.py) runs ``clip_grad_norm_(params, 1)``, ``opti.step()``,
    ``network.weight_clipper()`` (``clamp(-4, 4)``); inside ``step`` the same sequence also
    runs under ``GradScaler`` (which unscales before calling ``step``) and DDP.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        weight_decay: float = 0.01,
        grad_clip: float = 1.0,
        weight_clip: float = 4.0,
    ) -> None:
        super().__init__(params, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay)
        self.grad_clip = float(grad_clip)
        self.weight_clip = float(weight_clip)

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        """Clip the gradient norm, update, clip the weights."""
        if self.grad_clip > 0:
            grads = [p for p in self._params() if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(grads, self.grad_clip)
        result = super().step(closure)
        if self.weight_clip > 0:
            with torch.no_grad():
                for p in self._params():
                    p.clamp_(-self.weight_clip, self.weight_clip)
        return result


def lif_params(hp: dict[str, Any]) -> LIFParams:
    """Neuron constants from the hyperparameters (threshold: per layer in the network)."""
    return LIFParams(tau_m=float(hp["tau_m"]), tau_s=float(hp["tau_s"]))


def build_model(hp: dict[str, Any], n_classes: int, sensor_size: tuple[int, int, int]) -> nn.Module:
    """:class:`TSSLBPNet` of ``hp["network"]`` for a ``(W, H, P)`` sensor."""
    full = {**HYPERPARAMETERS, **hp}
    defn = networks.load(str(full["network"]))
    return TSSLBPNet(
        defn["layers"],
        tuple(int(v) for v in sensor_size),  # type: ignore[arg-type]
        int(n_classes),
        lif_params(full),
        steps=int(full["steps"]),
        backend=str(full["backend"]),
    )


def make_optimizer(params: Any, lr: float, hp: dict[str, Any]) -> torch.optim.Optimizer:
    """:class:`ClippedAdamW` (published: AdamW 5e-4, clip norm 1, weights to +-4)."""
    full = {**HYPERPARAMETERS, **hp}
    return ClippedAdamW(
        params,
        lr=float(lr),
        weight_decay=float(full["weight_decay"]),
        grad_clip=float(full["grad_clip"]),
        weight_clip=float(full["weight_clip"]),
    )


def loss(output: torch.Tensor, labels: torch.Tensor, hp: dict[str, Any]) -> torch.Tensor:
    """The ``hp["loss"]`` loss of the output traces ``[N, T, C]``; value per sample."""
    full = {**HYPERPARAMETERS, **hp}
    return tsslbp_loss(
        output.float(),
        labels,
        str(full["loss"]),
        float(full["desired_count"]),
        float(full["undesired_count"]),
        float(full["tau_s"]),
    )


METHOD = Method(
    name="tsslbp",
    hyperparameters=dict(HYPERPARAMETERS),
    defaults={"epochs": 100, "batch_size": 50, "lr": 5e-4, "view": "tsslbp"},
    build_model=build_model,
    make_optimizer=make_optimizer,
    loss=loss,
    predict=predict,
    choices={"loss": LOSSES, "backend": BACKENDS},
    description=(
        "TSSL-BP (temporal spike sequence learning via backpropagation): LIF neurons with "
        "synaptic-trace outputs, the TSSL-BP gradient, count loss 15/3, AdamW 5e-4 with "
        "gradient-norm clip 1 and weights clipped to +-4; default network the published "
        "N-MNIST 12C5-P2-64C5-P2-10 at 30 steps."
    ),
)
