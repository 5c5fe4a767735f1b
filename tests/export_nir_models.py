"""Tiny models of each method (built by the method's own build_model) and a run folder written
the way the training protocol writes one, for the NIR export tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trainers.common.checkpoints import atomic_write_json, best_checkpoint, save_checkpoint
from trainers.common.config import RunConfig


def stbp_model(seed: int = 0) -> tuple[torch.nn.Module, dict[str, Any], tuple[int, int, int]]:
    """SLANIMALSNet for a 12x12x2 sensor and 5 classes, weights scaled up so that every layer
    fires on random input."""
    from trainers.stbp.method import METHOD, build_model

    hp = {**METHOD.hyperparameters, "bwd_bf16": "off"}
    sensor = (12, 12, 2)
    torch.manual_seed(seed)
    model = build_model(hp, 5, sensor).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model, hp, sensor


def stbp_spikes(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output spikes ``[T, N, classes]`` of an STBP model."""
    with torch.no_grad():
        return model.spikes(x)


def firstspike_model(
    neuron: str, hidden: str = "16", seed: int = 0
) -> tuple[torch.nn.Module, dict[str, Any], tuple[int, int, int]]:
    """First-spike ``fc`` net over a 12-channel audio-like sensor ``(12, 1, 1)``, 4 classes,
    with random batch-norm statistics (so the folded Affine has a bias)."""
    from trainers.firstspike.method import METHOD, build_model

    hp = {
        **METHOD.hyperparameters,
        "neuron": neuron,
        "hidden": hidden,
        "T": 20,
        "T_empty": 0,
        "neuron1": (5.0, 5.0, 0.5),
        "neuron2": (10.0, 10.0, 1.0),
    }
    sensor = (12, 1, 1)
    torch.manual_seed(seed)
    model = build_model(hp, 4, sensor).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                p.mul_(2.0)
            elif "decay" in name:  # PCuLIF: distinct per-neuron decays
                p.add_(torch.empty_like(p).uniform_(-0.3, 0.3))
        for layer in model.fc:
            bn = layer.bn
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.8, 1.2)
            bn.bias.uniform_(-0.1, 0.1)
    return model, hp, sensor


def tsslbp_model(seed: int = 0) -> tuple[torch.nn.Module, dict[str, Any], tuple[int, int, int]]:
    """The published N-MNIST TSSL-BP net (34x34x2, 10 classes) at 4 steps."""
    from trainers.tsslbp.method import HYPERPARAMETERS, build_model

    hp = {**HYPERPARAMETERS, "steps": 4}
    sensor = (34, 34, 2)
    torch.manual_seed(seed)
    return build_model(hp, 10, sensor).eval(), hp, sensor


def make_run(
    out: Path,
    method: str,
    hp: dict[str, Any],
    model: torch.nn.Module,
    sensor: tuple[int, int, int],
    folds: tuple[int, ...] = (1,),
    dt_us: int = 10000,
    n_classes: int = 5,
) -> Path:
    """A run folder as the protocol leaves it after training ``folds``: ``config.json``
    (``{"config", "identity_hash"}``), ``fold<k>/best.pt`` (epoch 4) and ``results.json``
    (cache sensor size and view attributes, class names)."""
    config = RunConfig(
        method=method, cache="data/none.h5", view=method, folds=folds, epochs=5,
        batch_size=2, lr=1e-3, out=str(out), hyperparameters=hp,
    )  # fmt: skip
    out.mkdir(parents=True)
    atomic_write_json(
        out / "config.json", {"config": config.to_dict(), "identity_hash": config.identity_hash()}
    )
    for k in folds:
        (out / f"fold{k}").mkdir()
        save_checkpoint(out / f"fold{k}" / "best.pt", best_checkpoint(model, 4, 0.5))
    results = {
        "cache": {"sensor_size": list(sensor), "view_attrs": {"dt_us": dt_us}},
        "class_names": [f"c{i}" for i in range(n_classes)],
    }
    atomic_write_json(out / "results.json", results)
    return out
