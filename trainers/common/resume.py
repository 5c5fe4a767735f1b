"""Where a run continues after ``--resume``: finished folds, and a fold's state from ``last.pt``.

A finished fold has ``fold<k>/result.json`` and is kept as it is. An unfinished fold with
``fold<k>/last.pt`` (:func:`trainers.common.checkpoints.last_checkpoint`) continues after its
last finished epoch with the saved weights, optimiser and AMP scaler states, history, selection
state and RNG states, so it computes what an uninterrupted run would have. Only rank 0 reads the
run folder; the others get what it read (``--out`` need not be shared storage).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from trainers.common.checkpoints import load_checkpoint, set_rng_state
from trainers.common.config import RunConfig
from trainers.common.distributed import DistContext
from trainers.common.errors import RunError
from trainers.common.selection import Selection


@dataclass
class FoldState:
    """A fold between two epochs (fresh: nothing done yet).

    Attributes:
        epoch: finished epochs (the next one is ``epoch + 1``).
        history: one row per finished epoch (losses, accuracies, lr, timings).
        selection: the selection rule's state.
        scaler: the AMP ``GradScaler`` state to restore, or ``None``.
    """

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    selection: Selection = field(default_factory=Selection)
    scaler: dict[str, Any] | None = None


def read_last(path: Path, config: RunConfig, ctx: DistContext) -> dict[str, Any] | None:
    """The fold checkpoint ``path`` to resume from (``None``: no ``--resume`` or no file).

    Raises:
        RunError: the checkpoint was written by a run with another configuration.
    """
    ck = ctx.on_main(lambda: load_checkpoint(path) if config.resume and path.exists() else None)
    if ck is not None and ck.get("identity_hash") != config.identity_hash():
        raise RunError(f"{path}: written by a run with another configuration")
    return ck


def restore(
    ck: dict[str, Any] | None, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> FoldState:
    """Load ``ck`` (from :func:`read_last`) into ``model`` and ``optimizer``, restore the RNG
    states, and return the fold's state; ``ck is None``: a fresh state, nothing touched."""
    if ck is None:
        return FoldState()
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    state = FoldState(
        ck["epoch"], ck["history"], Selection(ck["best"], ck["top"]), ck.get("scaler")
    )
    set_rng_state(ck["rng"])
    return state


def finished_folds(
    out: Path, config: RunConfig, console: Console
) -> tuple[dict[int, dict[str, Any]], int]:
    """Results of the folds of ``config.folds`` a previous run finished (``--resume`` only),
    and the number of epochs left to train over the other folds (for the progress bar)."""
    done: dict[int, dict[str, Any]] = {}
    for k in config.folds:
        path = out / f"fold{k}" / "result.json"
        if config.resume and path.exists():
            done[k] = json.loads(path.read_text())
            console.print(f"fold {k}: finished in the previous run, kept")
    epochs_left = 0
    for k in config.folds:
        if k in done:
            continue
        last = out / f"fold{k}" / "last.pt"
        trained = int(load_checkpoint(last)["epoch"]) if config.resume and last.exists() else 0
        epochs_left += config.epochs - trained
    return done, epochs_left
