"""Data-parallel training under ``torchrun``: process group, sharding and result gathering.

``torchrun --nproc_per_node N -m trainers.stbp ...`` starts N copies of the trainer with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in their environment. :class:`DistContext` reads
them; a run with ``WORLD_SIZE`` > 1 joins a process group (``gloo`` on the CPU, ``nccl`` on
CUDA with device ``cuda:LOCAL_RANK``), wraps the model in ``DistributedDataParallel`` and:

* trains each process on its shard of the training set, with
  ``torch.utils.data.distributed.DistributedSampler`` semantics (the same seeded permutation on
  every rank, ``set_epoch`` every epoch, padded with repeated samples to a multiple of the world
  size so every rank runs the same number of batches). ``--batch-size`` is per process (the
  PyTorch convention): one optimiser step sees ``world_size x batch_size`` samples;
* evaluates the validation/test set split into the same batches a single process would use,
  batch ``b`` on rank ``b % world_size``, and gathers every batch's loss and predictions on
  every rank; the metrics are then summed in batch order, so they are those of a
  single-process evaluation of the full set (no padded duplicates) and identical on all ranks
  (the best-checkpoint choice and early stopping cannot diverge);
* lets only rank 0 read and write the run folder: it loads checkpoints and broadcasts them, and
  errors it meets there are raised on every rank.

Without ``WORLD_SIZE`` > 1 every helper here is a no-op and nothing is initialised.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

from eventpipe.data.samplers import IndexBatches  # noqa: F401  (moved; importable from here too)
from eventpipe.errors import EventpipeError

T = TypeVar("T")


class DistributedRunError(EventpipeError):
    """An error met on rank 0 (or a rank divergence), raised on every rank."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise DistributedRunError(
            f"environment variable {name}={value!r} is not an integer"
        ) from None


@dataclass
class DistContext:
    """Where this process sits in a ``torchrun`` job (world size 1: a plain single process).

    Attributes:
        world_size: number of training processes (``WORLD_SIZE``).
        rank: this process's global rank (``RANK``); rank 0 writes the outputs.
        local_rank: rank on this machine (``LOCAL_RANK``): the CUDA device index.
        backend: ``gloo`` / ``nccl`` once :meth:`setup` joined a group, else ``None``.
        owns_group: :meth:`setup` created the process group (so :meth:`shutdown` destroys it).
    """

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = field(default=False, repr=False)

    @classmethod
    def from_env(cls) -> DistContext:
        """Read ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK`` (absent or 1: single process)."""
        world = _env_int("WORLD_SIZE", 1)
        if world <= 1:
            return cls()
        rank = _env_int("RANK", 0)
        local = _env_int("LOCAL_RANK", rank)
        if not 0 <= rank < world:
            raise DistributedRunError(f"RANK={rank} is outside 0..WORLD_SIZE-1={world - 1}")
        return cls(world_size=world, rank=rank, local_rank=local)

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that prints, reads and writes the run folder."""
        return self.rank == 0

    # ---- lifetime ------------------------------------------------------------------------

    def device(self, device: torch.device) -> torch.device:
        """This rank's device: ``cuda:LOCAL_RANK`` for a CUDA run, else ``device``."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def setup(self, device: torch.device) -> None:
        """Join the process group (``nccl`` for CUDA, ``gloo`` otherwise); no-op for 1 process.

        A group the caller already initialised (Python API) is used as it is; its world size
        and rank must match the environment.
        """
        if not self.enabled:
            return
        if not dist.is_available():
            raise DistributedRunError("WORLD_SIZE > 1 but this torch has no torch.distributed")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if dist.is_initialized():
            if (dist.get_world_size(), dist.get_rank()) != (self.world_size, self.rank):
                raise DistributedRunError(
                    f"the initialised process group has world size {dist.get_world_size()} / "
                    f"rank {dist.get_rank()}; the environment says {self.world_size} / {self.rank}"
                )
            self.backend = str(dist.get_backend())
            return
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        kw: dict[str, Any] = {"backend": self.backend}
        if device.type == "cuda":
            kw["device_id"] = device
        dist.init_process_group(**kw)
        self.owns_group = True

    def shutdown(self) -> None:
        """Destroy the process group :meth:`setup` created (safe to call after an error)."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self.owns_group = False

    # ---- collectives (identity for one process) ------------------------------------------

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.enabled:
            dist.barrier()

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (any picklable object)."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and broadcast its result; its exception is raised on every
        rank (as the same :class:`EventpipeError` subclass when it pickles, else as
        :class:`DistributedRunError`), so no rank waits for a rank that failed."""
        if not self.enabled:
            return fn()
        outcome: tuple[bool, Any] = (True, None)
        if self.is_main:
            try:
                outcome = (True, fn())
            except EventpipeError as exc:
                outcome = (False, exc)
            except Exception as exc:  # re-raised below, after telling the other ranks
                self.broadcast((False, DistributedRunError(f"rank 0: {exc!r}")))
                raise
        ok, value = self.broadcast(outcome)
        if not ok:
            raise value
        return value


# ----------------------------------------------------------------------------- weights


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict's keys, dtypes, shapes and bytes (CPU copy), in key order."""
    h = hashlib.sha256()
    for key, value in state.items():
        t = value.detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _to_cpu(obj: Any) -> Any:
    if torch.is_tensor(obj):
        return obj.detach().to("cpu")
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def replica_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The tensors a data-parallel replica must share with the others: the model's state
    dict and the optimiser's per-parameter state (``opt.<param>.<name>``)."""
    state: dict[str, Any] = dict(model.state_dict())
    for index, per_param in optimizer.state_dict()["state"].items():
        for name, value in per_param.items():
            if torch.is_tensor(value):
                state[f"opt.{index}.{name}"] = value
    return state


def sync_replicas(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, ctx: DistContext
) -> list[str] | None:
    """Make every rank hold rank 0's weights and optimiser state.

    ``DistributedDataParallel`` keeps replicas equal only as long as every rank computes the
    same optimiser step from the same averaged gradients. That is checked here (sha256 of
    :func:`replica_state` per rank, one small gather); if the ranks differ, rank 0's model and
    optimiser state are broadcast (as CPU tensors) and loaded by the others.

    Returns ``None`` when the replicas were equal (or one process), else the per-rank hashes
    found before the copy.
    """
    if not ctx.enabled:
        return None
    hashes = ctx.gather(state_sha256(replica_state(model, optimizer)))
    if len(set(hashes)) == 1:
        return None
    state = ctx.broadcast(
        {"model": _to_cpu(model.state_dict()), "optimizer": _to_cpu(optimizer.state_dict())}
        if ctx.is_main
        else None
    )
    if not ctx.is_main:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    return hashes


# ----------------------------------------------------------------------------- sharding


def shard_indices(n: int, world_size: int, rank: int, seed: int, epoch: int) -> list[int]:
    """Dataset indices of ``rank`` for one training epoch, exactly as
    ``DistributedSampler(shuffle=True, seed=seed, drop_last=False)`` after ``set_epoch(epoch)``:
    ``ceil(n / world_size)`` indices per rank, the permutation padded with its first indices."""
    sampler = DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=int(seed)
    )
    sampler.set_epoch(int(epoch))
    return list(sampler)


def eval_batches(n: int, batch_size: int, world_size: int, rank: int) -> list[tuple[int, list]]:
    """``(batch number, dataset indices)`` of the evaluation batches ``rank`` runs: the batches
    of a single-process pass in order (``range(n)`` cut every ``batch_size``), batch ``b`` on
    rank ``b % world_size``. Ranks may get one batch more or less; evaluation has no collective
    per batch, so that is fine."""
    n_batches = math.ceil(n / batch_size) if n else 0
    return [
        (b, list(range(b * batch_size, min(n, (b + 1) * batch_size))))
        for b in range(rank, n_batches, world_size)
    ]


def chunk(indices: list[int], batch_size: int) -> list[list[int]]:
    """Consecutive batches of ``batch_size`` (the last one shorter)."""
    return [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]


def merge_eval_batches(
    per_rank: list[list[tuple[int, int, float, np.ndarray, np.ndarray, np.ndarray]]],
) -> tuple[float, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """Combine gathered evaluation batches ``(batch number, size, mean loss, labels,
    predictions, sample ids)`` in batch order, summing exactly as
    :func:`trainers.common.loop.run_epoch` does in one process.

    Returns ``(loss, n, correct, labels, predictions, sample_ids)``.
    """
    batches = sorted((b for rank in per_rank for b in rank), key=lambda b: b[0])
    numbers = [b[0] for b in batches]
    if numbers != list(range(len(numbers))):
        raise DistributedRunError(f"evaluation batches missing or repeated: {numbers}")
    loss_sum, n, correct = 0.0, 0, 0
    for _, bs, loss, labels, pred, _ in batches:
        loss_sum += loss * bs
        n += bs
        correct += int((pred == labels).sum())
    cat = (lambda xs: np.concatenate(xs)) if n else (lambda xs: np.zeros(0, np.int64))
    return (
        loss_sum / n if n else float("nan"),
        n,
        correct,
        cat([b[3] for b in batches]).astype(np.int64),
        cat([b[4] for b in batches]).astype(np.int64),
        cat([b[5] for b in batches]).astype(np.int64),
    )
