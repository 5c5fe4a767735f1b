"""STBP as a :class:`~trainers.common.method.Method` for the shared training protocol.

Model: :class:`trainers.stbp.model.SLANIMALSNet` (output: spike rate ``[N, 19]``). Loss:

* ``loss="mse"`` (default, faithful to the published training): ``F.mse_loss(rate, one_hot)``,
  the mean over the ``N x n_classes`` elements. The published code reports validation/test loss as
  the *sum* over classes averaged over samples, i.e. ``n_classes`` (19) times this value.
* ``loss="ce"``: cross-entropy with the rates (times ``ce_scale``) as logits.

Prediction: ``argmax`` of the rate (class 0 when no output neuron fires, as published).

Speed options (forward unchanged): ``bwd_bf16`` (``auto``/``on``/``off``) computes the conv/fc
backward passes in bfloat16 (gradients within ~0.5% of float32); ``auto``, the default, turns it
on for float32 training on CPUs with AMX bfloat16 matrix units, where it makes a training step
~1.3x faster, and leaves exact float32 everywhere else; ``first_layer``
(``auto``/``sparse``/``dense``) picks the fused sparse first-layer kernel on CPU.
Optimiser: Adam. Defaults: ``vth 0.3, tau 0.3, a1 0.5``, 400 epochs, batch 8, lr 1e-3.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from trainers.common.method import Method
from trainers.stbp.model import BWD_BF16_MODES, SLANIMALSNet, bwd_bf16_mode
from trainers.stbp.neuron import LIFParams

LOSSES = ("mse", "ce")


def build_model(hp: dict[str, Any], n_classes: int, sensor_size: tuple[int, int, int]) -> nn.Module:
    """SLANIMALSNet for a ``(W, H, P)`` sensor from the hyperparameters.

    Uses ``vth, tau, a1, dropout`` (the model) and ``bwd_bf16, first_layer`` (speed options
    that do not change the forward pass; see :class:`~trainers.stbp.model.SLANIMALSNet`).
    """
    params = LIFParams(vth=float(hp["vth"]), tau=float(hp["tau"]), a1=float(hp["a1"]))
    return SLANIMALSNet(
        params,
        n_classes=int(n_classes),
        sensor_size=tuple(int(v) for v in sensor_size),
        dropout=float(hp.get("dropout", 0.0)),
        bwd_bf16=bwd_bf16_mode(hp.get("bwd_bf16", "auto")),
        first_layer=str(hp.get("first_layer", "auto")),
    )


def make_optimizer(params: Any, lr: float, hp: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam with learning rate ``lr`` (published: Adam 1e-3)."""
    return torch.optim.Adam(params, lr=float(lr))


def loss(output: torch.Tensor, labels: torch.Tensor, hp: dict[str, Any]) -> torch.Tensor:
    """MSE of spike rate vs one-hot (``loss="mse"``) or cross-entropy on rates (``"ce"``).

    Args:
        output: spike rates ``[N, n_classes]`` in ``[0, 1]``.
        labels: int64 class ids ``[N]``.
        hp: hyperparameters (``loss``, ``ce_scale``).

    Returns:
        scalar loss, averaged over the batch.
    """
    kind = str(hp.get("loss", "mse")).lower()
    if kind == "mse":
        target = F.one_hot(labels, output.shape[1]).to(output.dtype)
        return F.mse_loss(output, target)
    if kind == "ce":
        return F.cross_entropy(output * float(hp.get("ce_scale", 1.0)), labels)
    raise ValueError(f"stbp: unknown loss {kind!r}; expected one of {LOSSES}")


def predict(output: torch.Tensor) -> torch.Tensor:
    """Class with the highest spike rate, int64 ``[N]``."""
    return output.argmax(dim=1)


METHOD = Method(
    name="stbp",
    hyperparameters={
        "vth": 0.3,
        "tau": 0.3,
        "a1": 0.5,
        "dropout": 0.0,
        "loss": "mse",
        "ce_scale": 1.0,
        "bwd_bf16": "auto",
        "first_layer": "auto",
    },
    defaults={"epochs": 400, "batch_size": 8, "lr": 1e-3},
    build_model=build_model,
    make_optimizer=make_optimizer,
    loss=loss,
    predict=predict,
    choices={
        "bwd_bf16": BWD_BF16_MODES,
        "first_layer": ("auto", "sparse", "dense"),
        "loss": LOSSES,
    },
    description=(
        "STBP (spatio-temporal backpropagation) SLANIMALSNet: LIF neurons (Vth 0.3, tau 0.3, "
        "rectangular surrogate width a1 0.5), spike-rate output, MSE vs one-hot, Adam 1e-3."
    ),
)
