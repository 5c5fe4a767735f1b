"""First-spike coding as a :class:`~trainers.common.method.Method` for the shared protocol.

Model: :class:`trainers.firstspike.model.FirstSpikeNet` (output an
:class:`~trainers.firstspike.coding.FSOutput`). Loss: ``first_time`` or ``rate``
(:mod:`trainers.firstspike.coding`). Prediction: FS (earliest first spike) for ``first_time``,
FR (highest rate) for ``rate``; the final report gives both (:mod:`trainers.firstspike.report`).
Optimiser: Adam with AMSGrad and L2 weight decay 1e-4, gradient norm clipped to 10 before
each step, as published; the protocol zeroes the gradients before every step.

Defaults depend on the cache's dataset (:data:`PUBLISHED`, from the published
``configs/*.yaml`` and ``spkjelly/run.sh``): :func:`method_for` builds the Method of one dataset.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainers.common.method import Method
from trainers.firstspike.coding import LOSSES, FSOutput, first_time_loss, predict_fr, predict_fs
from trainers.firstspike.coding import rate_loss as _rate_loss
from trainers.firstspike.model import NETS, NEURONS, FirstSpikeNet, net_config
from trainers.firstspike.neuron import BACKENDS

#: Published settings per dataset (``spkjelly/run.sh`` where it overrides the yaml: epochs of
#: DVS Gesture 70 and DVSPlane 50, the yaml says 40). ``fs``: (alpha, D, A); ``treg``:
#: (lambda, beta); ``neuron1``/``neuron2``: (tau_m, tau_s, theta) of hidden / output layers.
PUBLISHED: dict[str, dict[str, Any]] = {
    "shd": {
        "protocol": {"epochs": 80, "batch_size": 128, "lr": 1e-3, "eval_batch_size": 256},
        "hp": {
            "net": "fc", "neuron": "adlif", "hidden": "256,256", "T": 100, "T_empty": 0,
            "fs": (0.2, 16.0, 200.0), "fr": 20.0, "neuron1": (5.0, 5.0, 0.5),
            "neuron2": (60.0, 60.0, 10.0),
        },
    },
    "ntidigits": {
        "protocol": {"epochs": 200, "batch_size": 128, "lr": 1e-3, "eval_batch_size": 512},
        "hp": {
            "net": "fc", "neuron": "adlif", "hidden": "256,256", "T": 250, "T_empty": 0,
            "fs": (0.1, 16.0, 500.0), "fr": 20.0, "neuron1": (5.0, 5.0, 0.5),
            "neuron2": (40.0, 40.0, 10.0),
        },
    },
    "dvsgesture": {
        "protocol": {"epochs": 70, "batch_size": 16, "lr": 1e-4, "eval_batch_size": 32},
        "hp": {
            "net": "gesture", "neuron": "culif", "hidden": "", "T": 120, "T_empty": 40,
            "fs": (0.1, 4.0, 300.0), "fr": 10.0, "neuron1": (5.0, 5.0, 0.5),
            "neuron2": (60.0, 60.0, 1.0),
        },
    },
    "dvsplane": {
        "protocol": {"epochs": 50, "batch_size": 16, "lr": 3e-4, "eval_batch_size": 64},
        "hp": {
            "net": "plane", "neuron": "culif", "hidden": "", "T": 135, "T_empty": 0,
            "fs": (0.1, 8.0, 500.0), "fr": 15.0, "neuron1": (5.0, 5.0, 0.5),
            "neuron2": (40.0, 40.0, 2.0),
        },
    },
}  # fmt: skip

#: Settings shared by every dataset (published values).
COMMON_HP: dict[str, Any] = {
    "loss": "first_time",
    "treg": (0.01, 0.02),
    "dropout": 0.25,
    "weight_decay": 1e-4,
    "clip_norm": 10.0,
    "amsgrad": True,
    "pculif_decay": "auto",
    "detach_reset": True,
    "surrogate_alpha": 5.0,
    "backend": "auto",
}

#: hyperparameters given as several numbers on the command line (name -> count)
TUPLE_HP = {"fs": 3, "treg": 2, "neuron1": 3, "neuron2": 3}
DEFAULT_DATASET = "shd"


def parse_hidden(value: Any) -> tuple[int, ...]:
    """``--hidden`` as sizes: ``"256,256"``, ``"256 256"``, a list, or ``""`` (conv nets)."""
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = str(value).replace(",", " ").split()
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"--hidden {value!r}: expected layer sizes like 256 256") from None
    if any(s < 1 for s in sizes):
        raise ValueError(f"--hidden {value!r}: sizes must be positive")
    return sizes


def check_hyperparameters(hp: dict[str, Any]) -> None:
    """Reject combinations the networks cannot build, with the option to change.

    Raises:
        ValueError: the message names the option.
    """
    hidden = parse_hidden(hp["hidden"])
    if hp["net"] == "fc" and not hidden:
        raise ValueError("--hidden: the fc net needs at least one hidden layer size")
    if hp["net"] != "fc" and hidden:
        raise ValueError(f"--hidden: the {hp['net']} net has fixed layers; leave --hidden out")
    if hp["net"] != "fc" and hp["neuron"] == "adlif":
        raise ValueError(f"--neuron adlif: the published {hp['net']} net uses culif or pculif")
    steps = int(hp["T"]) + int(hp["T_empty"])
    if int(hp["T"]) < 1 or int(hp["T_empty"]) < 0:
        raise ValueError("--T must be at least 1 and --T-empty at least 0")
    if int(hp["fs"][1]) < 1 or steps // int(hp["fs"][1]) < 1:
        raise ValueError(f"--fs D={hp['fs'][1]}: (T + T_empty) // D must be at least 1")
    for name in ("neuron1", "neuron2"):
        tau_m, tau_s, _ = hp[name]
        if tau_m <= 0 or tau_s <= 0:
            raise ValueError(f"--{name}: time constants must be positive")
        if hp["neuron"] == "pculif" and (tau_m <= 1 or tau_s <= 1):
            raise ValueError(f"--{name}: pculif needs time constants above 1 bin")
    if not 0 <= float(hp["dropout"]) < 1:
        raise ValueError("--dropout must be in [0, 1)")


class ClippedAdam(torch.optim.Adam):
    """Adam whose :meth:`step` first clips the gradient norm of all its parameters to
    ``clip_norm`` (the published ``clip_grad_norm_`` before ``optimizer.step()``; under AMP the
    protocol's GradScaler unscales before calling it)."""

    def __init__(self, params: Any, clip_norm: float, **kw: Any) -> None:
        super().__init__(params, **kw)
        self.clip_norm = float(clip_norm)

    def step(self, closure: Any = None) -> Any:
        if self.clip_norm > 0:
            params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
            nn.utils.clip_grad_norm_(params, self.clip_norm)
        return super().step(closure)


def build_model(hp: dict[str, Any], n_classes: int, sensor_size: tuple[int, int, int]) -> nn.Module:
    """:class:`FirstSpikeNet` for a ``(W, H, P)`` sensor (audio views: ``(C, 1, 1)``)."""
    w, h, p = (int(v) for v in sensor_size)
    cfg = net_config(hp)
    if cfg.net != "fc" and cfg.hidden:
        raise ValueError(f"--hidden: the {cfg.net} net has fixed layers; leave --hidden empty")
    if cfg.net == "fc" and not cfg.hidden:
        raise ValueError("--hidden: the fc net needs at least one hidden layer")
    return FirstSpikeNet(cfg, int(n_classes), (p, h, w))


def make_optimizer(params: Any, lr: float, hp: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam (AMSGrad, weight decay, gradient-norm clipping) with learning rate ``lr``."""
    return ClippedAdam(
        params,
        clip_norm=float(hp["clip_norm"]),
        lr=float(lr),
        amsgrad=bool(hp["amsgrad"]),
        weight_decay=float(hp["weight_decay"]),
    )


def loss(output: FSOutput, labels: torch.Tensor, hp: dict[str, Any]) -> torch.Tensor:
    """``first_time`` (with ``treg`` in training) or ``rate`` loss, mean over the batch."""
    if output.mode == "first_time":
        lam, beta = hp["treg"]
        steps = output.spikes.shape[-1]
        alpha = float(hp["fs"][0])
        return first_time_loss(output.first, labels, alpha, steps, lam, beta, output.training)
    return _rate_loss(output.rate, labels, float(hp["fr"]))


def predict(output: FSOutput) -> torch.Tensor:
    """FS prediction for the ``first_time`` loss, FR prediction for ``rate``; int64 ``[N]``."""
    return predict_fs(output.first) if output.mode == "first_time" else predict_fr(output.rate)


def method_for(dataset: str | None) -> Method:
    """The Method with the published defaults of ``dataset`` (registry name; unknown or
    ``None``: SHD's)."""
    pub = PUBLISHED.get(dataset or DEFAULT_DATASET, PUBLISHED[DEFAULT_DATASET])
    hp = {**pub["hp"], **COMMON_HP}
    order = ["net", "neuron", "loss", "hidden", "T", "T_empty", "fs", "fr", "treg", "neuron1"]
    order += ["neuron2"] + [k for k in hp if k not in order and k != "neuron2"]
    return Method(
        name="firstspike",
        hyperparameters={k: hp[k] for k in order},
        defaults={**pub["protocol"], "view": "firstspike"},
        build_model=build_model,
        make_optimizer=make_optimizer,
        loss=loss,
        predict=predict,
        choices={
            "net": NETS,
            "neuron": NEURONS,
            "loss": LOSSES,
            "pculif_decay": ("auto", "layer", "neuron"),
            "backend": BACKENDS,
        },
        description=(
            "First-spike coding (lsying009/FS_coding, spkjelly version): CuLIF / PCuLIF / AdLIF "
            "neurons, first_time or rate loss, FS and FR evaluation. Defaults are the published "
            "ones of the cache's dataset (SHD, N-TIDIGITS, DVS Gesture, DVSPlane)."
        ),
        extra={"dataset": dataset or DEFAULT_DATASET},
    )


METHOD = method_for(DEFAULT_DATASET)
