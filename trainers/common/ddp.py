"""The data-parallel parts of a fold: the DDP wrap, per-rank passes combined, replica checks.

With one process every function here is the identity or the plain single-process pass. With
several ranks (``torchrun``, see :mod:`trainers.common.distributed`):

* :func:`wrap_model` wraps the model in ``DistributedDataParallel`` (gradients averaged over
  the ranks; the wrapper copies rank 0's initial weights to every rank);
* :func:`combine_train` turns each rank's training-pass figures into those of the whole epoch;
* :func:`evaluate` shares the evaluation batches out and gathers them, so every rank gets the
  single-process metrics of the full set;
* :func:`resync` (after each epoch) and :func:`replica_report` (after the fold) check that the
  replicas still hold the same weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from rich.console import Console
from torch.nn.parallel import DistributedDataParallel

from trainers.common.data import make_batch_loader, make_loader
from trainers.common.distributed import (
    DistContext,
    DistributedRunError,
    eval_batches,
    merge_eval_batches,
    state_sha256,
    sync_replicas,
)
from trainers.common.loop import Assistant, EpochResult, run_epoch


def wrap_model(model: torch.nn.Module, device: torch.device, ctx: DistContext) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` when several ranks train, else ``model``."""
    if not ctx.enabled:
        return model
    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def shard_size(n: int, ctx: DistContext) -> int:
    """Training samples one rank sees per epoch (``DistributedSampler`` pads to equal parts)."""
    return -(-n // ctx.world_size) if ctx.enabled else n


def combine_train(tr: EpochResult, ctx: DistContext) -> EpochResult:
    """A training pass's loss and accuracy over every rank's samples (sample-weighted; padded
    repeats included); one process: unchanged."""
    if not ctx.enabled:
        return tr
    parts = ctx.gather(
        (sum(bs * loss for bs, loss in tr.batches), tr.n, int((tr.labels == tr.predictions).sum()))
    )
    loss_sum = sum(p[0] for p in parts)
    n = sum(p[1] for p in parts)
    correct = sum(p[2] for p in parts)
    return dataclasses.replace(
        tr,
        loss=loss_sum / n if n else float("nan"),
        accuracy=correct / n if n else float("nan"),
        n=n,
    )


def resync(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    ctx: DistContext,
    where: str,
    console: Console,
) -> bool:
    """After an epoch's training: make every rank hold rank 0's weights and optimiser state
    (:func:`~trainers.common.distributed.sync_replicas`); True (and a warning naming ``where``,
    e.g. ``"fold 1 epoch 3"``) when the replicas had differed."""
    differed = sync_replicas(model, optimizer, ctx)
    if differed is None:
        return False
    console.print(
        f"[bold yellow]{where}: the ranks' weights/optimiser states "
        f"differed after training (sha256 per rank {[h[:12] for h in differed]}); "
        "rank 0's were copied to every rank[/]"
    )
    return True


def replica_report(
    model: torch.nn.Module, ctx: DistContext, fold: int, resynced: list[int]
) -> dict[str, Any] | None:
    """After a fold: the ``distributed`` entry of its result (``None`` for one process).

    Raises:
        DistributedRunError: the ranks' final weights differ (the replicas diverged).
    """
    if not ctx.enabled:
        return None
    hashes = ctx.gather(state_sha256(model.state_dict()))
    if len(set(hashes)) != 1:
        raise DistributedRunError(
            f"fold {fold}: the ranks' weights differ after training (sha256 per rank: "
            f"{hashes}); the data-parallel replicas diverged"
        )
    return {
        "world_size": ctx.world_size,
        "backend": ctx.backend,
        "weights_sha256": hashes,
        "resynced_after_epochs": resynced,
    }


def evaluate(
    assistant: Assistant,
    ds: Any,
    batch_size: int,
    loader_kw: dict[str, Any],
    ctx: DistContext,
    progress: Callable[[int], Callable[[int, float, float], None]] | None = None,
) -> EpochResult:
    """One evaluation pass over the whole dataset ``ds`` (fixed crops, loader order).

    One process: :func:`run_epoch` over the unshuffled loader. Several ranks: the same batches
    are shared out (batch ``b`` on rank ``b % world_size``), and every batch's loss and
    predictions are gathered on every rank and summed in batch order, so the result is the
    single-process one (exact full set, no padded repeats) and the same on every rank.
    ``progress(n)`` makes the ``on_batch`` callback for a pass over ``n`` samples.
    """
    if not ctx.enabled:
        loader = make_loader(ds, batch_size=batch_size, shuffle=False, epoch=0, seed=0, **loader_kw)
        return run_epoch(assistant, loader, False, progress(len(ds)) if progress else None)
    mine = eval_batches(len(ds), batch_size, ctx.world_size, ctx.rank)
    loader = make_batch_loader(ds, [b for _, b in mine], epoch=0, **loader_kw)
    n_mine = sum(len(b) for _, b in mine)
    ev = run_epoch(assistant, loader, False, progress(n_mine) if progress else None)
    if len(ev.batches) != len(mine):
        raise DistributedRunError(
            f"rank {ctx.rank}: evaluation ran {len(ev.batches)} batches, expected {len(mine)}"
        )
    parts, off = [], 0
    for (number, _), (size, loss) in zip(mine, ev.batches):
        sl = slice(off, off + size)
        parts.append((number, size, loss, ev.labels[sl], ev.predictions[sl], ev.sample_ids[sl]))
        off += size
    gathered = ctx.gather((parts, ev.seconds))
    loss, n, correct, labels, predictions, sample_ids = merge_eval_batches([g[0] for g in gathered])
    batches = sorted((b for g in gathered for b in g[0]), key=lambda b: b[0])
    return EpochResult(
        loss=loss,
        accuracy=correct / n if n else float("nan"),
        n=n,
        seconds=max(g[1] for g in gathered),
        labels=labels,
        predictions=predictions,
        sample_ids=sample_ids,
        batches=[(b[1], b[2]) for b in batches],
    )
