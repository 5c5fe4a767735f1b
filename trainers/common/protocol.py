"""The training protocol shared by every method (STBP, SLAYER, ...) and every dataset.

The folds are the dataset's official ones (:mod:`trainers.common.folds`: the cache names its
dataset, whose :class:`~eventpipe.datasets.base.DatasetSpec` splits the recordings; for
SL-Animals the published 4-fold KFold over recordings with 15% of the training recordings as
validation).

``cv`` (default, the published ``sl_animals_*.py``): for each selected fold, train for
``epochs`` epochs, keep the weights of the epoch with the lowest validation loss (``best.pt``;
ties keep the earlier epoch), then evaluate the test recordings once with them. Reported: test
accuracy per fold, mean and population std over folds.

``train-test`` (the published ``train_test_only.py``): same test recordings, but trains on all
the fold's training recordings (no validation set), evaluates the test set after every epoch
and reports the **maximum** test accuracy over epochs (and the minimum test loss). Because the
model is selected on the test set, every output of this protocol is labelled ``OPTIMISTIC``.

One fold (:func:`run_fold`) is a short sequence over helpers with one concern each: the resume
state (:mod:`trainers.common.resume`), the selection rule and early stopping
(:mod:`trainers.common.selection`), the DDP wrap and the sharded passes
(:mod:`trainers.common.ddp`), checkpoints (:mod:`trainers.common.checkpoints`), the run folder
(:mod:`trainers.common.rundir`) and what is reported (:mod:`trainers.common.results`).

Determinism: see :mod:`trainers.common.checkpoints`. The model of fold ``k`` is initialised from
``derive_seed(seed, k, INIT)``; each epoch reseeds python/numpy/torch from ``(seed, k, epoch)``,
and the training crops and shuffle order are functions of ``(seed, k, epoch)`` too
(:func:`trainers.common.data.make_loader`). So a run resumed from ``last.pt`` after a SIGKILL
computes the same weights as an uninterrupted one.

Distributed (``torchrun --nproc_per_node N -m trainers.stbp ...``): see
:mod:`trainers.common.distributed`. Each rank trains a ``DistributedDataParallel`` copy on its
shard of the training set (``--batch-size`` per process), evaluation is sharded by batch and
gathered so the metrics are those of the full set on every rank, and only rank 0 prints, reads
and writes ``--out``. Within an epoch, rank ``r`` draws dropout etc. from
``(seed, k, epoch, r)``; one process keeps ``(seed, k, epoch)``.

>>> # Python API (what ``python -m trainers.stbp`` calls):
>>> # from trainers.common.protocol import run; results = run(config, METHOD)
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from eventpipe.datasets.base import DatasetSpec, Fold
from trainers.common.checkpoints import (
    atomic_write_json,
    best_checkpoint,
    derive_seed,
    last_checkpoint,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)
from trainers.common.config import N_SPLITS, RunConfig
from trainers.common.data import CacheSource, DataSource, make_loader
from trainers.common.ddp import (
    combine_train,
    evaluate,
    replica_report,
    resync,
    shard_size,
    wrap_model,
)
from trainers.common.distributed import DistContext
from trainers.common.errors import RunError
from trainers.common.folds import dataset_spec, fold_ids, make_folds
from trainers.common.loop import Assistant, EpochResult, resolve_device, run_epoch
from trainers.common.method import Method
from trainers.common.outputs import TensorBoard, label_suffix, print_summary, run_labels
from trainers.common.progress import RunProgress
from trainers.common.results import assemble_results, eval_details, run_notes, write_results
from trainers.common.resume import FoldState, finished_folds, read_last, restore
from trainers.common.rundir import prepare_out
from trainers.common.selection import should_stop

__all__ = [
    "DATA",
    "EVAL",
    "INIT",
    "RANK",
    "SHUFFLE",
    "RunError",
    "evaluate",
    "fold_ids",
    "make_folds",
    "run",
    "run_fold",
    "should_stop",
]

#: stream tags for :func:`derive_seed`
INIT, SHUFFLE, DATA, EVAL, RANK = 1_000_001, 1_000_002, 1_000_003, 1_000_004, 1_000_005


# ----------------------------------------------------------------------------- one fold


@dataclass
class FoldRun:
    """What the epochs of one fold share (built by :func:`start_fold`).

    ``ids`` maps ``train`` / ``val`` / ``test`` to int64 sample ids; ``eval_part`` is the part
    evaluated after every epoch (``val``, or ``test`` for ``train-test``); ``model`` is the bare
    model (``assistant`` may hold it wrapped in ``DistributedDataParallel``).
    """

    fold: Fold
    config: RunConfig
    source: DataSource
    spec: DatasetSpec
    ctx: DistContext
    console: Console
    progress: RunProgress
    fold_dir: Path
    ids: dict[str, np.ndarray]
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    assistant: Assistant
    state: FoldState
    train_ds: Any
    eval_ds: Any
    eval_part: str
    loader_kw: dict[str, Any]
    tb: TensorBoard
    stopped_early: bool = False
    resynced: list[int] = field(default_factory=list)  # epochs after which replicas differed

    @property
    def eval_batch_size(self) -> int:
        return self.config.eval_batch_size or self.config.batch_size

    def details(self, ev: EpochResult) -> dict[str, Any]:
        """Per-group/per-class accuracies, confusion matrix, predictions of a pass."""
        return eval_details(ev, self.source, len(self.source.class_names), self.spec.groups)


def run_fold(
    fold: Fold,
    config: RunConfig,
    method: Method,
    source: DataSource,
    device: torch.device,
    out: Path,
    progress: RunProgress,
    console: Console,
    ctx: DistContext | None = None,
) -> dict[str, Any]:
    """Train and evaluate one fold; returns its result (also written to fold<k>/result.json).

    ``ctx``: the distributed context (default: one process); with several ranks every rank
    calls this and gets the same result, and only rank 0 touches ``out``.
    """
    ctx = ctx or DistContext()
    t_fold = time.perf_counter()
    fr = start_fold(fold, config, method, source, device, out, progress, console, ctx)
    try:
        for epoch in range(fr.state.epoch + 1, config.epochs + 1):
            if fr.state.selection.should_stop(config, epoch - 1):
                fr.stopped_early = True
                break
            train_epoch(fr, epoch)
        result = finish_fold(fr, time.perf_counter() - t_fold)
        fr.tb.final(result)
    finally:
        fr.tb.close()
    ctx.on_main(lambda: atomic_write_json(fr.fold_dir / "result.json", result))
    return result


def start_fold(
    fold: Fold,
    config: RunConfig,
    method: Method,
    source: DataSource,
    device: torch.device,
    out: Path,
    progress: RunProgress,
    console: Console,
    ctx: DistContext,
) -> FoldRun:
    """A fold ready for its next epoch: seeded model and optimiser (restored from ``last.pt``
    on ``--resume``), the DDP wrap, the datasets and the TensorBoard writer."""
    k = fold.index
    fold_dir = out / f"fold{k}"
    if ctx.is_main:
        fold_dir.mkdir(parents=True, exist_ok=True)
    hp = dict(config.hyperparameters)
    ids = fold_ids(fold, source, config)
    seed_everything(derive_seed(config.seed, k, INIT))
    model = method.build_model(hp, len(source.class_names), tuple(source.sensor_size))
    model.to(device)
    optimizer = method.make_optimizer(model.parameters(), config.lr, hp)
    ck = read_last(fold_dir / "last.pt", config, ctx)
    state = restore(ck, model, optimizer)
    if ck is not None:
        console.print(f"fold {k}: resuming after epoch {state.epoch} (last.pt)")
    net = wrap_model(model, device, ctx)
    assistant = Assistant(net, method, optimizer, device, hp, amp=config.amp)
    if state.scaler:
        assistant.scaler.load_state_dict(state.scaler)
    loader_kw = {
        "workers": config.workers,
        "pin_memory": device.type == "cuda",
        "collate": source.collate,
    }
    train_ds = source.dataset(ids["train"], train=True, seed=derive_seed(config.seed, k, DATA))
    eval_part = "test" if config.optimistic else "val"
    eval_ds = source.dataset(ids[eval_part], train=False, seed=derive_seed(config.seed, k, EVAL))
    start = state.epoch
    tb = TensorBoard(
        out / "tb" / f"fold{k}", purge_step=start + 1 if start else None, enabled=ctx.is_main
    )
    if not start:
        tb.text("config", "```\n" + json.dumps(config.to_dict(), indent=2) + "\n```")
    return FoldRun(
        fold=fold,
        config=config,
        source=source,
        spec=dataset_spec(source),
        ctx=ctx,
        console=console,
        progress=progress,
        fold_dir=fold_dir,
        ids=ids,
        model=model,
        optimizer=optimizer,
        assistant=assistant,
        state=state,
        train_ds=train_ds,
        eval_ds=eval_ds,
        eval_part=eval_part,
        loader_kw=loader_kw,
        tb=tb,
    )


def train_epoch(fr: FoldRun, epoch: int) -> None:
    """Epoch ``epoch`` of a fold: reseed, train, evaluate, select, log, save ``last.pt``."""
    cfg, ctx, k = fr.config, fr.ctx, fr.fold.index
    if ctx.enabled:
        seed_everything(derive_seed(cfg.seed, k, epoch, RANK, ctx.rank))
    else:
        seed_everything(derive_seed(cfg.seed, k, epoch))
    train_loader = make_loader(
        fr.train_ds,
        batch_size=cfg.batch_size,
        shuffle=True,
        epoch=epoch,
        seed=derive_seed(cfg.seed, k, epoch, SHUFFLE),
        shard=(ctx.rank, ctx.world_size) if ctx.enabled else None,
        **fr.loader_kw,
    )
    t0 = time.perf_counter()
    on_batch = fr.progress.pass_callback(
        f"fold {k} epoch {epoch} train", shard_size(len(fr.ids["train"]), ctx)
    )
    tr = combine_train(run_epoch(fr.assistant, train_loader, True, on_batch), ctx)
    if resync(fr.model, fr.optimizer, ctx, f"fold {k} epoch {epoch}", fr.console):
        fr.resynced.append(epoch)  # evaluate and save what every rank now holds
    ev = evaluate(
        fr.assistant,
        fr.eval_ds,
        fr.eval_batch_size,
        fr.loader_kw,
        ctx,
        lambda n: fr.progress.pass_callback(f"fold {k} epoch {epoch} {fr.eval_part}", n),
    )
    row = history_row(epoch, tr, ev, fr.eval_part, fr.optimizer, time.perf_counter() - t0)
    select(fr, epoch, ev)
    fr.state.history.append(row)
    fr.state.epoch = epoch
    fr.tb.epoch(epoch, row)
    save_last(fr)
    fr.progress.epoch_done(k, epoch, cfg.epochs, row)


def history_row(
    epoch: int,
    tr: EpochResult,
    ev: EpochResult,
    eval_part: str,
    optimizer: torch.optim.Optimizer,
    seconds: float,
) -> dict[str, Any]:
    """One epoch's line of the history (``results.json``, ``last.pt``, TensorBoard)."""
    return {
        "epoch": epoch,
        "train_loss": tr.loss,
        "train_acc": tr.accuracy,
        f"{eval_part}_loss": ev.loss,
        f"{eval_part}_acc": ev.accuracy,
        "lr": float(optimizer.param_groups[0]["lr"]),
        "seconds": seconds,
        "samples_per_s": (tr.n + ev.n) / seconds if seconds > 0 else float("nan"),
        "train_samples_per_s": tr.samples_per_s,
    }


def select(fr: FoldRun, epoch: int, ev: EpochResult) -> None:
    """Apply the selection rule to epoch ``epoch``'s evaluation ``ev``: ``best.pt`` on a new
    lowest loss; ``train-test`` also keeps the details of a new highest test accuracy."""
    selection = fr.state.selection
    if selection.lower_loss(epoch, ev.loss, ev.accuracy):
        state = best_checkpoint(fr.model, epoch, ev.loss)
        fr.ctx.on_main(lambda: save_checkpoint(fr.fold_dir / "best.pt", state))
    if fr.config.optimistic:
        selection.higher_accuracy(epoch, ev.loss, ev.accuracy, lambda: fr.details(ev))


def save_last(fr: FoldRun) -> None:
    """Write ``last.pt`` after an epoch (rank 0; the others hold the same state)."""
    last = None
    if fr.ctx.is_main:
        last = last_checkpoint(
            fr.config.identity_hash(),
            fr.state.epoch,
            fr.model,
            fr.optimizer,
            fr.assistant.scaler,
            fr.state.history,
            fr.state.selection.best,
            fr.state.selection.top,
        )
    fr.ctx.on_main(lambda: save_checkpoint(fr.fold_dir / "last.pt", last))


def finish_fold(fr: FoldRun, seconds: float) -> dict[str, Any]:
    """The fold's result after training: the selected epoch's figures (``cv``: the test pass
    with ``best.pt``), the recordings and sample counts of each part, and the history."""
    replicas = replica_report(fr.model, fr.ctx, fr.fold.index, fr.resynced)
    if fr.config.optimistic:
        selected = fr.state.selection.optimistic_result()
    else:
        selected = test_best(fr)
    result = {
        "fold": fr.fold.index,
        **selected,
        "epochs_run": len(fr.state.history),
        "stopped_early": fr.stopped_early,
        "recordings": {p: list(fr.fold.part(p)) for p in ("train", "val", "test")},
        "n_samples": {p: len(v) for p, v in fr.ids.items()},
        "seconds": seconds,
        "history": fr.state.history,
    }
    if replicas is not None:
        result["distributed"] = replicas
    return result


def test_best(fr: FoldRun) -> dict[str, Any]:
    """``cv``: load ``best.pt`` and evaluate the test recordings once with it."""
    k, selection = fr.fold.index, fr.state.selection
    ck = fr.ctx.on_main(lambda: load_checkpoint(fr.fold_dir / "best.pt"))
    fr.model.load_state_dict(ck["model"])
    test_ds = fr.source.dataset(
        fr.ids["test"], train=False, seed=derive_seed(fr.config.seed, k, EVAL)
    )
    te = evaluate(
        fr.assistant,
        test_ds,
        fr.eval_batch_size,
        fr.loader_kw,
        fr.ctx,
        lambda n: fr.progress.pass_callback(
            f"fold {k} test (best epoch {selection.best['epoch']})", n
        ),
    )
    return selection.cv_result(te.loss, te.accuracy, fr.details(te))


# ----------------------------------------------------------------------------- the run


def run(
    config: RunConfig,
    method: Method,
    source: DataSource | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the protocol for ``config``; returns the results dict (also in ``out/results.json``).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this: it joins a process group
    (``gloo`` on CPU, ``nccl`` on ``cuda:LOCAL_RANK``), trains data-parallel, and destroys the
    group again on return or error; every rank returns the same results, rank 0 alone prints
    and writes ``out`` (see :mod:`trainers.common.distributed`).

    Args:
        config: the resolved configuration (``world_size`` is taken from the environment).
        method: the training method (model, loss, prediction, hyperparameter defaults).
        source: the data (default: :class:`~trainers.common.data.CacheSource` over
            ``config.cache`` / ``config.view``).
        console: where progress and the summary go (default: stdout; ranks > 0: nowhere).
    """
    ctx = DistContext.from_env()
    if not ctx.is_main:
        console = Console(quiet=True)
    elif console is None:  # logs of unattended runs: wide lines instead of 80-column wrapping
        console = Console() if sys.stdout.isatty() else Console(width=132)
    if config.world_size != ctx.world_size:
        config = config.model_copy(update={"world_size": ctx.world_size})
    if source is None:
        source = CacheSource(
            config.cache, config.view, in_memory=config.in_memory, workers=config.workers
        )
    device = ctx.device(resolve_device(config.device))
    if ctx.enabled and getattr(source, "parallel", False):
        # one thread per rank as torchrun set it: Numba's OpenMP pool would change torch's
        # thread count mid-run (and oversubscribe the cores shared by the ranks)
        source.parallel = False
    ctx.setup(device)
    try:
        return _run(config, method, source, console, device, ctx)
    finally:
        ctx.shutdown()


def fit_folds(config: RunConfig, available: list[int]) -> RunConfig:
    """``config`` with ``--folds all`` (the default ``1..4``) narrowed to the dataset's folds
    (``available``: one for the datasets with an official train/test split).

    Raises:
        RunError: explicitly requested folds the dataset does not have.
    """
    missing = [k for k in config.folds if k not in available]
    if not missing:
        return config
    if tuple(config.folds) == tuple(range(1, N_SPLITS + 1)):
        return config.model_copy(update={"folds": tuple(available)})
    raise RunError(f"--folds: the dataset has folds {available}, not {missing}")


def _run(
    config: RunConfig,
    method: Method,
    source: DataSource,
    console: Console,
    device: torch.device,
    ctx: DistContext,
) -> dict[str, Any]:
    """Every rank's run: prepare ``out``, train the folds not finished yet, write results."""
    out = Path(config.out)
    labels = run_labels(source.synthetic, config.optimistic)
    spec = dataset_spec(source)
    folds = {f.index: f for f in make_folds(source, config)}
    config = fit_folds(config, sorted(folds))
    ctx.on_main(lambda: prepare_out(out, config, console))
    console.rule(f"{method.name} · {config.protocol}{label_suffix(labels)}")
    console.print_json(json.dumps({"config": config.to_dict(), "device": str(device)}))
    for note in run_notes(spec, source.synthetic, config.optimistic):
        console.print(f"[bold red]{note}[/]")

    fold_results, epochs_left = ctx.on_main(lambda: finished_folds(out, config, console))
    todo = [k for k in config.folds if k not in fold_results]
    with RunProgress(console, epochs_left, quiet=config.quiet or not ctx.is_main) as progress:
        for k in todo:
            fold = folds[k]
            console.print(
                f"fold {k}: {len(fold.train)} train / {len(fold.val)} val / {len(fold.test)} "
                f"test recordings{label_suffix(labels)}"
            )
            fold_results[k] = run_fold(
                fold, config, method, source, device, out, progress, console, ctx
            )
            if k != todo[-1]:  # partial results after each fold; the last one is written below
                partial = assemble_results(config, method, source, spec, fold_results, device)
                ctx.on_main(lambda partial=partial: write_results(partial, out, config.plots))

    results = assemble_results(config, method, source, spec, fold_results, device)
    ctx.on_main(lambda: write_results(results, out, config.plots))
    print_summary(results, console)
    console.print(f"outputs in {out}/ (TensorBoard: tensorboard --logdir {out / 'tb'})")
    return results
