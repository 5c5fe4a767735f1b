"""The SL-Animals training protocol shared by every method (STBP, SLAYER).

``cv`` (default, the published ``sl_animals_*.py``): for each selected fold of
:func:`eventpipe.datasets.slanimals.splits.published_folds` (4-fold KFold over recordings, 15% of
the training
recordings as validation), train for ``epochs`` epochs, keep the weights of the epoch with the
lowest validation loss (``best.pt``; ties keep the earlier epoch), then evaluate the test
recordings once with them. Reported: test accuracy per fold, mean and population std over folds.

``train-test`` (the published ``train_test_only.py``): same KFold test recordings, but trains on
all the KFold training recordings (no validation set), evaluates the test set after every epoch
and reports the **maximum** test accuracy over epochs (and the minimum test loss). Because the
model is selected on the test set, every output of this protocol is labelled ``OPTIMISTIC``.

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

import dataclasses
import json
import math
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch.nn.parallel import DistributedDataParallel

from eventpipe.errors import EventpipeError
from trainers.common.checkpoints import (
    atomic_write_json,
    derive_seed,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from trainers.common.config import RunConfig
from trainers.common.data import (
    CacheSource,
    DataSource,
    lookup,
    make_batch_loader,
    make_loader,
    recordings_of,
)
from trainers.common.distributed import (
    DistContext,
    DistributedRunError,
    eval_batches,
    merge_eval_batches,
    state_sha256,
    sync_replicas,
)
from trainers.common.loop import Assistant, EpochResult, resolve_device, run_epoch
from trainers.common.method import Method
from trainers.common.metrics import confusion_matrix, per_class_accuracy, per_group_accuracy
from trainers.common.outputs import (
    OPTIMISTIC_NOTE,
    SYNTHETIC_NOTE,
    TensorBoard,
    label_suffix,
    print_summary,
    run_labels,
    summarize,
    write_summary_files,
)
from trainers.common.progress import RunProgress

#: stream tags for :func:`derive_seed`
INIT, SHUFFLE, DATA, EVAL, RANK = 1_000_001, 1_000_002, 1_000_003, 1_000_004, 1_000_005
CHECKPOINT_VERSION = 1


class RunError(EventpipeError):
    """A run cannot start or continue (existing run folder, changed configuration, bad split)."""


# ----------------------------------------------------------------------------- run folder


def prepare_out(out: Path, config: RunConfig, console: Console) -> None:
    """Create/validate the run folder and write ``config.json``.

    * no folder or an empty one: start a new run;
    * a folder with ``config.json`` and ``--resume``: the saved configuration must match in
      every result-changing field (:data:`trainers.common.config.RESUME_FREE_FIELDS` may differ);
    * a folder with ``config.json``, no ``--resume``: refused unless ``--overwrite``, which
      deletes that run folder first;
    * a non-empty folder without ``config.json``: refused (not a run folder).

    Temporary files of writes cut short by a kill (``.<name>.*.tmp``, see
    :func:`~trainers.common.checkpoints.atomic_write_bytes`) do not count: a folder holding
    only those is empty, and ``--resume`` deletes them.
    """
    cfg_path = out / "config.json"
    if out.exists() and not any(not _is_temporary(p) for p in out.iterdir()):
        remove_temporaries(out)  # a run killed while writing its first config.json
    if out.exists() and any(out.iterdir()):
        if cfg_path.exists():
            if config.resume:
                remove_temporaries(out)
                saved = json.loads(cfg_path.read_text())
                diff = config.differences(saved.get("config", saved))
                if diff:
                    lines = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diff.items())
                    if "world_size" in diff:
                        lines += " (world_size = torchrun's --nnodes x --nproc_per_node)"
                    raise RunError(
                        f"{out}: --resume with a different configuration ({lines}); "
                        "use the same options, or another --out"
                    )
                console.print(f"resuming the run in {out}")
            elif config.overwrite:
                console.print(f"--overwrite: deleting the previous run in {out}")
                shutil.rmtree(out)
            else:
                raise RunError(
                    f"{out}: already holds a run (config.json); pass --resume to continue it, "
                    "--overwrite to start again, or choose another --out"
                )
        else:
            raise RunError(
                f"{out}: exists, is not empty and is not a run folder (no config.json); "
                "choose another --out"
            )
    elif config.resume:
        console.print(f"--resume: no previous run in {out}; starting a new one")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        cfg_path, {"config": config.to_dict(), "identity_hash": config.identity_hash()}
    )


def _is_temporary(path: Path) -> bool:
    """A temporary file of :func:`~trainers.common.checkpoints.atomic_write_bytes`."""
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file()


def remove_temporaries(out: Path) -> list[Path]:
    """Delete the temporary files that killed writes left in the run folder ``out``
    (the folder and its fold/TensorBoard subfolders); returns what was removed."""
    removed = [p for p in out.rglob(".*.tmp") if _is_temporary(p)]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


# ----------------------------------------------------------------------------- folds


def make_folds(source: DataSource, config: RunConfig) -> list:
    """The folds of the protocol over the recordings present in the cache."""
    from eventpipe.datasets.slanimals.splits import published_folds, train_test_folds

    recs = recordings_of(source.samples)
    try:
        if config.protocol == "train-test":
            folds = train_test_folds(recs, subset=config.subset)
        else:
            folds = published_folds(recs, subset=config.subset)
    except ValueError as exc:
        raise RunError(f"{source.path}: cannot split its recordings into folds: {exc}") from exc
    return folds


def fold_ids(fold: Any, source: DataSource, config: RunConfig) -> dict[str, np.ndarray]:
    """Sample ids of each part of a fold (train-test: train = all KFold training recordings)."""
    ids = fold.sample_ids(source.samples)
    ids = {k: np.asarray(v, dtype=np.int64) for k, v in ids.items()}
    need = ("train", "test") if config.optimistic else ("train", "val", "test")
    for part in need:
        if len(ids[part]) == 0:
            raise RunError(
                f"{source.path}: fold {fold.index} has no {part} sample "
                f"(recordings {list(fold.part(part))}); the cache holds too few recordings"
            )
    return ids


# ----------------------------------------------------------------------------- one fold


def _eval_result(ev: EpochResult, source: DataSource, n_classes: int) -> dict[str, Any]:
    groups = lookup(source.samples, ev.sample_ids, "group") if len(ev.sample_ids) else []
    return {
        "per_group_accuracy": per_group_accuracy(ev.labels, ev.predictions, np.asarray(groups)),
        "per_class_accuracy": per_class_accuracy(ev.labels, ev.predictions, source.class_names),
        "confusion": confusion_matrix(ev.labels, ev.predictions, n_classes).tolist(),
        "predictions": {
            "sample_id": ev.sample_ids.tolist(),
            "label": ev.labels.tolist(),
            "predicted": ev.predictions.tolist(),
        },
    }


def _improves(new: float, old: float | None) -> bool:
    """Strictly lower than ``old`` (None: nothing yet); NaN never improves, anything beats NaN."""
    if math.isnan(new):
        return old is None
    return old is None or math.isnan(old) or new < old


def _neg(v: float | None) -> float | None:
    return None if v is None else -v


def should_stop(config: RunConfig, finished: int, best_epoch: int | None) -> bool:
    """Early stopping (cv only) after ``finished`` epochs: more than ``min_epochs`` done and no
    lower validation loss for ``patience`` epochs (the published SLAYER rule with 200 / 100:
    ``epoch >= 200 and no_improvement >= 100``, ``epoch`` counted from 0)."""
    return bool(
        config.patience
        and not config.optimistic
        and best_epoch is not None
        and finished > config.min_epochs
        and finished - best_epoch >= config.patience
    )


def run_fold(
    fold: Any,
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
    k = fold.index
    fold_dir = out / f"fold{k}"
    if ctx.is_main:
        fold_dir.mkdir(parents=True, exist_ok=True)
    hp = dict(config.hyperparameters)
    ids = fold_ids(fold, source, config)
    n_classes = len(source.class_names)
    t_fold = time.perf_counter()

    seed_everything(derive_seed(config.seed, k, INIT))
    model = method.build_model(hp, n_classes, tuple(source.sensor_size))
    model.to(device)
    optimizer = method.make_optimizer(model.parameters(), config.lr, hp)

    start, history = 0, []
    best: dict[str, Any] = {"epoch": None, "val_loss": None, "val_acc": None}
    top: dict[str, Any] = {"epoch": None, "test_acc": None}  # train-test: max test accuracy
    last_path, best_path = fold_dir / "last.pt", fold_dir / "best.pt"
    # rank 0 reads the checkpoint and every rank gets it: --out need not be shared storage
    ck = ctx.on_main(
        lambda: load_checkpoint(last_path) if config.resume and last_path.exists() else None
    )
    if ck is not None:
        if ck.get("identity_hash") != config.identity_hash():
            raise RunError(f"{last_path}: written by a run with another configuration")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        start, history, best, top = ck["epoch"], ck["history"], ck["best"], ck["top"]
        set_rng_state(ck["rng"])
        console.print(f"fold {k}: resuming after epoch {start} (last.pt)")
    net: torch.nn.Module = model
    if ctx.enabled:  # gradients averaged over the ranks (the wrapper syncs rank 0's weights)
        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    assistant = Assistant(net, method, optimizer, device, hp, amp=config.amp)
    if ck is not None and ck.get("scaler"):
        assistant.scaler.load_state_dict(ck["scaler"])

    eval_bs = config.eval_batch_size or config.batch_size
    loader_kw = {
        "workers": config.workers,
        "pin_memory": device.type == "cuda",
        "collate": source.collate,
    }
    train_ds = source.dataset(ids["train"], train=True, seed=derive_seed(config.seed, k, DATA))
    eval_part = "test" if config.optimistic else "val"
    eval_ds = source.dataset(ids[eval_part], train=False, seed=derive_seed(config.seed, k, EVAL))
    tb = TensorBoard(
        out / "tb" / f"fold{k}", purge_step=start + 1 if start else None, enabled=ctx.is_main
    )
    if not start:
        tb.text("config", "```\n" + json.dumps(config.to_dict(), indent=2) + "\n```")

    stopped_early = False
    resynced: list[int] = []  # epochs after which the replicas had to be made equal again
    try:
        for epoch in range(start + 1, config.epochs + 1):
            if should_stop(config, epoch - 1, best["epoch"]):
                stopped_early = True
                break
            if ctx.enabled:
                seed_everything(derive_seed(config.seed, k, epoch, RANK, ctx.rank))
            else:
                seed_everything(derive_seed(config.seed, k, epoch))
            train_loader = make_loader(
                train_ds,
                batch_size=config.batch_size,
                shuffle=True,
                epoch=epoch,
                seed=derive_seed(config.seed, k, epoch, SHUFFLE),
                shard=(ctx.rank, ctx.world_size) if ctx.enabled else None,
                **loader_kw,
            )
            t0 = time.perf_counter()
            tr = run_epoch(
                assistant,
                train_loader,
                True,
                progress.pass_callback(
                    f"fold {k} epoch {epoch} train",
                    _shard_size(len(ids["train"]), ctx),
                ),
            )
            tr = _combine_train(tr, ctx)
            differed = sync_replicas(model, optimizer, ctx)
            if differed is not None:  # evaluate and save what every rank now holds
                resynced.append(epoch)
                console.print(
                    f"[bold yellow]fold {k} epoch {epoch}: the ranks' weights/optimiser states "
                    f"differed after training (sha256 per rank {[h[:12] for h in differed]}); "
                    "rank 0's were copied to every rank[/]"
                )
            ev = evaluate(
                assistant,
                eval_ds,
                eval_bs,
                loader_kw,
                ctx,
                lambda n, part=eval_part, e=epoch: progress.pass_callback(
                    f"fold {k} epoch {e} {part}", n
                ),
            )
            seconds = time.perf_counter() - t0
            row = {
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
            # Selection: lowest validation loss (cv) / lowest test loss (train-test, as the
            # published script saves its weights); strict improvement, so ties keep the earlier.
            if _improves(ev.loss, best["val_loss"]):
                best = {"epoch": epoch, "val_loss": ev.loss, "val_acc": ev.accuracy}
                state = {"model": model.state_dict(), "epoch": epoch, "loss": ev.loss}
                ctx.on_main(lambda state=state: save_checkpoint(best_path, state))
            if config.optimistic and _improves(-ev.accuracy, _neg(top["test_acc"])):
                top = {
                    "epoch": epoch,
                    "test_acc": ev.accuracy,
                    "test_loss": ev.loss,
                    **_eval_result(ev, source, n_classes),
                }
            history.append(row)
            tb.epoch(epoch, row)
            last = None
            if ctx.is_main:  # the other ranks hold the same state and write nothing
                last = {
                    "version": CHECKPOINT_VERSION,
                    "identity_hash": config.identity_hash(),
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": assistant.scaler.state_dict()
                    if assistant.scaler.is_enabled()
                    else None,
                    "history": history,
                    "best": best,
                    "top": top,
                    "rng": rng_state(),
                }
            ctx.on_main(lambda last=last: save_checkpoint(last_path, last))
            progress.epoch_done(k, epoch, config.epochs, row)

        replicas = None
        if ctx.enabled:  # every rank must end the training with rank 0's weights
            hashes = ctx.gather(state_sha256(model.state_dict()))
            if len(set(hashes)) != 1:
                raise DistributedRunError(
                    f"fold {k}: the ranks' weights differ after training (sha256 per rank: "
                    f"{hashes}); the data-parallel replicas diverged"
                )
            replicas = {
                "world_size": ctx.world_size,
                "backend": ctx.backend,
                "weights_sha256": hashes,
                "resynced_after_epochs": resynced,
            }
        if config.optimistic:
            result_eval = {k2: v for k2, v in top.items() if k2 not in ("epoch", "test_acc")}
            result = {
                "best_epoch": top["epoch"],
                "selection": "epoch of maximum test accuracy (OPTIMISTIC)",
                "val_loss": None,
                "val_accuracy": None,
                "test_loss": top["test_loss"],
                "test_accuracy": top["test_acc"],
                "min_test_loss": best["val_loss"],
                "min_test_loss_epoch": best["epoch"],
                **result_eval,
            }
        else:
            ck = ctx.on_main(lambda: load_checkpoint(best_path))
            model.load_state_dict(ck["model"])
            test_ds = source.dataset(
                ids["test"], train=False, seed=derive_seed(config.seed, k, EVAL)
            )
            te = evaluate(
                assistant,
                test_ds,
                eval_bs,
                loader_kw,
                ctx,
                lambda n: progress.pass_callback(f"fold {k} test (best epoch {best['epoch']})", n),
            )
            result = {
                "best_epoch": best["epoch"],
                "selection": "epoch of minimum validation loss",
                "val_loss": best["val_loss"],
                "val_accuracy": best["val_acc"],
                "test_loss": te.loss,
                "test_accuracy": te.accuracy,
                **_eval_result(te, source, n_classes),
            }
        result = {
            "fold": k,
            **result,
            "epochs_run": len(history),
            "stopped_early": stopped_early,
            "recordings": {p: list(fold.part(p)) for p in ("train", "val", "test")},
            "n_samples": {p: len(v) for p, v in ids.items()},
            "seconds": time.perf_counter() - t_fold,
            "history": history,
        }
        if replicas is not None:
            result["distributed"] = replicas
        tb.final(result)
    finally:
        tb.close()
    ctx.on_main(lambda: atomic_write_json(fold_dir / "result.json", result))
    return result


def _shard_size(n: int, ctx: DistContext) -> int:
    """Training samples one rank sees per epoch (``DistributedSampler`` pads to equal parts)."""
    return -(-n // ctx.world_size) if ctx.enabled else n


def _combine_train(tr: EpochResult, ctx: DistContext) -> EpochResult:
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


# ----------------------------------------------------------------------------- the run


def assemble_results(
    config: RunConfig,
    method: Method,
    source: DataSource,
    fold_results: dict[int, dict[str, Any]],
    device: torch.device,
) -> dict[str, Any]:
    """The results.json dict from the finished folds."""
    labels = run_labels(source.synthetic, config.optimistic)
    folds = [fold_results[k] for k in sorted(fold_results)]
    notes = []
    if source.synthetic:
        notes.append(SYNTHETIC_NOTE)
    if config.optimistic:
        notes.append(OPTIMISTIC_NOTE)
    describe = getattr(source, "describe", None)
    return {
        "title": f"{method.name} {config.protocol}{label_suffix(labels)}",
        "labels": labels,
        "data": "SYNTHETIC" if source.synthetic else "real",
        "synthetic": bool(source.synthetic),
        "optimistic": config.optimistic,
        "notes": notes,
        "method": method.name,
        "protocol": config.protocol,
        "profile_hash": source.profile_hash,
        "cache": describe() if describe else {"path": source.path, "view": source.view},
        "config": config.to_dict(),
        "complete": sorted(fold_results) == list(config.folds),
        "folds_requested": list(config.folds),
        "class_names": list(source.class_names),
        "summary": summarize(folds, config.optimistic),
        "folds": folds,
        "environment": {
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "world_size": config.world_size,
        },
    }


def write_results(results: dict[str, Any], out: Path, plots: bool = True) -> None:
    """results.json (atomic), summary.md and (``plots``) curves.png, confusion.png."""
    atomic_write_json(out / "results.json", results)
    write_summary_files(results, out, plots=plots)


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


def _run(
    config: RunConfig,
    method: Method,
    source: DataSource,
    console: Console,
    device: torch.device,
    ctx: DistContext,
) -> dict[str, Any]:
    out = Path(config.out)
    labels = run_labels(source.synthetic, config.optimistic)
    ctx.on_main(lambda: prepare_out(out, config, console))

    console.rule(f"{method.name} · {config.protocol}{label_suffix(labels)}")
    console.print_json(json.dumps({"config": config.to_dict(), "device": str(device)}))
    for note in ([SYNTHETIC_NOTE] if source.synthetic else []) + (
        [OPTIMISTIC_NOTE] if config.optimistic else []
    ):
        console.print(f"[bold red]{note}[/]")

    folds = {f.index: f for f in make_folds(source, config)}

    def finished_folds() -> tuple[dict[int, dict[str, Any]], int]:
        done_folds: dict[int, dict[str, Any]] = {}
        for k in config.folds:
            path = out / f"fold{k}" / "result.json"
            if config.resume and path.exists():
                done_folds[k] = json.loads(path.read_text())
                console.print(f"fold {k}: finished in the previous run, kept")
        epochs_left = 0
        for k in config.folds:
            if k in done_folds:
                continue
            done = 0
            last = out / f"fold{k}" / "last.pt"
            if config.resume and last.exists():
                done = int(load_checkpoint(last)["epoch"])
            epochs_left += config.epochs - done
        return done_folds, epochs_left

    fold_results, epochs_left = ctx.on_main(finished_folds)  # rank 0 reads --out
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
                partial = assemble_results(config, method, source, fold_results, device)
                ctx.on_main(lambda partial=partial: write_results(partial, out, config.plots))

    results = assemble_results(config, method, source, fold_results, device)
    ctx.on_main(lambda: write_results(results, out, config.plots))
    print_summary(results, console)
    console.print(f"outputs in {out}/ (TensorBoard: tensorboard --logdir {out / 'tb'})")
    return results
