"""What a training method (STBP, SLAYER) provides to the shared protocol code.

The protocol (folds, train/val/test loop, checkpoints, resume, outputs) lives in
``trainers.common`` and is identical for every method; a method only supplies its model, loss,
prediction rule and hyperparameters through a :class:`Method`.

Tensors: input frames ``x`` are ``[N, T, P, H, W]`` float32 (batch-first, time second, as the
eventpipe collate returns). ``labels`` are int64 ``[N]`` class ids 0..18.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Method:
    """A training method, as seen by the protocol code.

    Attributes:
        name: "stbp" or "slayer"; also the default cache view.
        hyperparameters: method defaults (e.g. ``{"vth": 0.3, "tau": 0.3, "a1": 0.5}``); each
            becomes a ``--name value`` CLI option and is saved in the run configuration.
        defaults: protocol defaults for this method: epochs, batch_size, lr.
        build_model: ``(hyperparameters: dict, n_classes, sensor_size (W,H,P)) -> nn.Module``
            whose forward takes ``x [N,T,P,H,W]`` and returns the method's raw output.
        make_optimizer: ``(params, lr, hyperparameters) -> torch.optim.Optimizer``.
        loss: ``(output, labels, hyperparameters) -> scalar tensor`` (mean over the batch).
        predict: ``(output) -> int64 [N]`` predicted class ids.
        choices: allowed values of string hyperparameters (the CLI rejects others with a clear
            message instead of failing later in the model).
    """

    name: str
    hyperparameters: dict[str, Any]
    defaults: dict[str, Any]
    build_model: Callable[[dict[str, Any], int, tuple[int, int, int]], nn.Module]
    make_optimizer: Callable[[Any, float, dict[str, Any]], torch.optim.Optimizer]
    loss: Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]
    predict: Callable[[torch.Tensor], torch.Tensor]
    description: str = ""
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
