"""Checkpoints, atomic writes and the seeding that makes a resumed run equal an uninterrupted one.

Seeding scheme (documented because ``--resume`` depends on it): every random stream of a run is
re-derived from ``(seed, fold, epoch)`` at the start of each epoch (:func:`derive_seed`), and the
model of fold ``k`` is initialised from ``(seed, k)``. So epoch ``e`` of fold ``k`` is a pure
function of the weights and optimiser state after epoch ``e-1``, which ``last.pt`` stores; the
RNG states (torch, numpy, python, CUDA) are saved in ``last.pt`` too, and restored on resume.

Writes go through :mod:`eventpipe.runtime.durable` (re-exported here): a temporary file in the
same folder, flushed to disk, then renamed over the target (``os.replace``), so a SIGKILL leaves
either the old or the new file, never a torn one.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

# re-exported: the trainers write their files through these
from eventpipe.runtime.durable import (  # noqa: F401
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU."""
    return torch.load(Path(path), map_location="cpu", weights_only=False)


def derive_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived from ``seed`` and integer keys (fold, epoch, stream tag)."""
    return int(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *map(int, keys)]).generate_state(1)[0]
    )


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - the legacy global RNG is what user code draws from
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Current RNG states of python, numpy, torch CPU and (if present) CUDA."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`rng_state` (CUDA only where available)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- fold checkpoints

#: format version of ``last.pt``
CHECKPOINT_VERSION = 1


def best_checkpoint(model: torch.nn.Module, epoch: int, loss: float) -> dict[str, Any]:
    """Contents of ``fold<k>/best.pt``: the weights of the selected epoch and its loss."""
    return {"model": model.state_dict(), "epoch": epoch, "loss": loss}


def last_checkpoint(
    identity_hash: str,
    epoch: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    top: dict[str, Any],
) -> dict[str, Any]:
    """Contents of ``fold<k>/last.pt``, written after every epoch: everything ``--resume``
    needs to compute the next epoch exactly as an uninterrupted run would.

    Keys: ``version`` (:data:`CHECKPOINT_VERSION`), ``identity_hash`` (of the run's
    configuration), ``epoch`` (finished epochs), ``model``, ``optimizer``, ``scaler`` (the AMP
    ``GradScaler`` state, ``None`` when it is off), ``history`` (one row per epoch), ``best``
    and ``top`` (:class:`trainers.common.selection.Selection`), ``rng`` (:func:`rng_state`).
    """
    return {
        "version": CHECKPOINT_VERSION,
        "identity_hash": identity_hash,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
        "history": history,
        "best": best,
        "top": top,
        "rng": rng_state(),
    }
