"""A thin training helper in the spirit of lava-dl's ``slayer.utils.Assistant``.

:class:`Assistant` binds a model, a :class:`~trainers.common.method.Method` (loss and prediction
rule), an optimiser and a device; ``train(x, labels)`` does one optimisation step and
``test(x, labels)`` one evaluation step. :func:`run_epoch` loops over a loader with either.
The user's loop stays visible: the protocol (``trainers.common.protocol``) is a plain ``for``
over epochs that calls these.

Inputs: ``x`` ``[N, T, P, H, W]`` of any dtype (uint8 frames are moved to the device first and
converted there, which is cheaper than moving float32), ``labels`` int64 ``[N]``.

>>> import torch
>>> from trainers.common.toy import METHOD
>>> model = METHOD.build_model(METHOD.hyperparameters, 19, (8, 8, 2))
>>> opt = METHOD.make_optimizer(model.parameters(), 1e-2, METHOD.hyperparameters)
>>> a = Assistant(model, METHOD, opt)
>>> step = a.train(torch.zeros(2, 3, 2, 8, 8, dtype=torch.uint8), torch.tensor([0, 1]))
>>> step.predictions.shape
torch.Size([2])
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from trainers.common.method import Method


def resolve_device(device: str) -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available (torch.cuda.is_available())")
    return torch.device(device)


@dataclass
class Step:
    """Result of one batch: mean loss (float), predictions int64 ``[N]`` on the CPU."""

    loss: float
    predictions: torch.Tensor


class Assistant:
    """One-batch train/test steps for a model under a :class:`Method`.

    Args:
        model: the method's network (moved to ``device`` here).
        method: supplies ``loss(output, labels, hp)`` and ``predict(output)``.
        optimizer: optimiser over ``model.parameters()`` (``None`` for evaluation only).
        device: where the model runs.
        hyperparameters: passed to ``method.loss`` (default: the method's defaults).
        amp: autocast the forward pass (bfloat16 on CPU, float16 + GradScaler on CUDA).

    A ``DistributedDataParallel`` model trains through the wrapper (gradients averaged over the
    ranks) and evaluates through the wrapped module (no collective per batch, so ranks may
    evaluate different numbers of batches).
    """

    def __init__(
        self,
        model: nn.Module,
        method: Method,
        optimizer: torch.optim.Optimizer | None,
        device: torch.device | str = "cpu",
        hyperparameters: dict[str, Any] | None = None,
        amp: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.method = method
        self.optimizer = optimizer
        self.hp = dict(method.hyperparameters if hyperparameters is None else hyperparameters)
        self.amp = amp
        self.amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp and self.device.type == "cuda")

    def to_device(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Move a batch to the device (non-blocking) and convert frames to float32 there."""
        nb = self.device.type == "cuda"
        x = x.to(self.device, non_blocking=nb)
        if not torch.is_floating_point(x):
            x = x.to(torch.float32)
        return x, labels.to(self.device, non_blocking=nb)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @property
    def module(self) -> nn.Module:
        """The network itself (the wrapped module of a ``DistributedDataParallel`` model)."""
        if isinstance(self.model, nn.parallel.DistributedDataParallel):
            return self.model.module
        return self.model

    def _forward_loss(
        self, x: torch.Tensor, labels: torch.Tensor, model: nn.Module | None = None
    ) -> tuple[torch.Tensor, Any]:
        with self._autocast():
            output = (self.model if model is None else model)(x)
        if self.amp and torch.is_tensor(output) and output.dtype != torch.float32:
            output = output.float()
        loss = self.method.loss(output, labels, self.hp)
        return loss, output

    def train(self, x: torch.Tensor, labels: torch.Tensor) -> Step:
        """One optimisation step on a batch; returns its mean loss and predictions."""
        if self.optimizer is None:
            raise RuntimeError("Assistant.train needs an optimizer")
        self.model.train()
        x, labels = self.to_device(x, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss, output = self._forward_loss(x, labels)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with torch.no_grad():
            pred = self.method.predict(output.detach() if torch.is_tensor(output) else output)
        return Step(float(loss.detach()), pred.detach().to("cpu", torch.int64))

    @torch.no_grad()
    def test(self, x: torch.Tensor, labels: torch.Tensor) -> Step:
        """One evaluation step (no gradients, ``model.eval()``)."""
        self.model.eval()
        x, labels = self.to_device(x, labels)
        loss, output = self._forward_loss(x, labels, self.module)
        pred = self.method.predict(output)
        return Step(float(loss), pred.to("cpu", torch.int64))


@dataclass
class EpochResult:
    """One pass over a loader.

    Attributes:
        loss: sample-weighted mean of the per-batch mean losses.
        accuracy: fraction correct.
        n: samples seen.
        seconds: wall time of the pass.
        labels, predictions, sample_ids: int64 ``[n]`` in loader order.
        batches: ``(size, mean loss)`` of each batch, in loader order.
    """

    loss: float
    accuracy: float
    n: int
    seconds: float
    labels: np.ndarray = field(repr=False)
    predictions: np.ndarray = field(repr=False)
    sample_ids: np.ndarray = field(repr=False)
    batches: list[tuple[int, float]] = field(default_factory=list, repr=False)

    @property
    def samples_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("nan")


def _sample_ids(meta: Any, n: int) -> np.ndarray:
    if isinstance(meta, (list, tuple)) and meta and isinstance(meta[0], dict):
        return np.asarray([int(m.get("sample_id", -1)) for m in meta], dtype=np.int64)
    if isinstance(meta, dict) and "sample_id" in meta:
        return np.asarray(meta["sample_id"], dtype=np.int64).reshape(-1)
    return np.full(n, -1, dtype=np.int64)


def run_epoch(
    assistant: Assistant,
    loader: Iterable,
    train: bool,
    on_batch: Callable[[int, float, float], None] | None = None,
) -> EpochResult:
    """Train (``train=True``) or evaluate over every batch of ``loader``.

    ``loader`` yields ``(x [N,T,P,H,W], labels [N], meta)`` (meta: list of dicts with
    ``sample_id``) or ``(x, labels)``. ``on_batch(n_seen, running_loss, running_accuracy)`` is
    called after each batch (progress display).
    """
    step_fn = assistant.train if train else assistant.test
    t0 = time.perf_counter()
    loss_sum, n, correct = 0.0, 0, 0
    all_labels, all_pred, all_ids, batches = [], [], [], []
    for batch in loader:
        x, labels = batch[0], batch[1]
        meta = batch[2] if len(batch) > 2 else None
        labels = torch.as_tensor(labels, dtype=torch.int64)
        step = step_fn(x, labels)
        bs = int(labels.shape[0])
        loss_sum += step.loss * bs
        n += bs
        correct += int((step.predictions == labels).sum())
        all_labels.append(labels.numpy())
        all_pred.append(step.predictions.numpy())
        all_ids.append(_sample_ids(meta, bs))
        batches.append((bs, step.loss))
        if on_batch is not None:
            on_batch(n, loss_sum / n, correct / n)
    seconds = time.perf_counter() - t0
    cat = (lambda xs: np.concatenate(xs)) if n else (lambda xs: np.zeros(0, np.int64))
    return EpochResult(
        loss=loss_sum / n if n else float("nan"),
        accuracy=correct / n if n else float("nan"),
        n=n,
        seconds=seconds,
        labels=cat(all_labels).astype(np.int64),
        predictions=cat(all_pred).astype(np.int64),
        sample_ids=cat(all_ids).astype(np.int64),
        batches=batches,
    )
