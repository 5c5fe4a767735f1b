"""The SL-Animals training protocol shared by every method (STBP, SLAYER).

``cv`` (default, the published ``sl_animals_*.py``): for each selected fold of
:func:`eventpipe.splits.published_folds` (4-fold KFold over recordings, 15% of the training
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

>>> # Python API (what ``python -m trainers.stbp`` calls):
>>> # from trainers.common.protocol import run; results = run(config, METHOD)
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

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
from trainers.common.data import CacheSource, DataSource, lookup, make_loader, recordings_of
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
INIT, SHUFFLE, DATA, EVAL = 1_000_001, 1_000_002, 1_000_003, 1_000_004
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
    """
    cfg_path = out / "config.json"
    if out.exists() and any(out.iterdir()):
        if cfg_path.exists():
            if config.resume:
                saved = json.loads(cfg_path.read_text())
                diff = config.differences(saved.get("config", saved))
                if diff:
                    lines = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diff.items())
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


# ----------------------------------------------------------------------------- folds


def make_folds(source: DataSource, config: RunConfig) -> list:
    """The folds of the protocol over the recordings present in the cache."""
    from eventpipe.splits import published_folds, train_test_folds

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
) -> dict[str, Any]:
    """Train and evaluate one fold; returns its result (also written to fold<k>/result.json)."""
    k = fold.index
    fold_dir = out / f"fold{k}"
    fold_dir.mkdir(parents=True, exist_ok=True)
    hp = dict(config.hyperparameters)
    ids = fold_ids(fold, source, config)
    n_classes = len(source.class_names)
    t_fold = time.perf_counter()

    seed_everything(derive_seed(config.seed, k, INIT))
    model = method.build_model(hp, n_classes, tuple(source.sensor_size))
    model.to(device)
    optimizer = method.make_optimizer(model.parameters(), config.lr, hp)
    assistant = Assistant(model, method, optimizer, device, hp, amp=config.amp)

    start, history = 0, []
    best: dict[str, Any] = {"epoch": None, "val_loss": None, "val_acc": None}
    top: dict[str, Any] = {"epoch": None, "test_acc": None}  # train-test: max test accuracy
    last_path, best_path = fold_dir / "last.pt", fold_dir / "best.pt"
    if config.resume and last_path.exists():
        ck = load_checkpoint(last_path)
        if ck.get("identity_hash") != config.identity_hash():
            raise RunError(f"{last_path}: written by a run with another configuration")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        if ck.get("scaler"):
            assistant.scaler.load_state_dict(ck["scaler"])
        start, history, best, top = ck["epoch"], ck["history"], ck["best"], ck["top"]
        set_rng_state(ck["rng"])
        console.print(f"fold {k}: resuming after epoch {start} (last.pt)")

    eval_bs = config.eval_batch_size or config.batch_size
    loader_kw = {
        "workers": config.workers,
        "pin_memory": device.type == "cuda",
        "collate": source.collate,
    }
    train_ds = source.dataset(ids["train"], train=True, seed=derive_seed(config.seed, k, DATA))
    eval_part = "test" if config.optimistic else "val"
    eval_ds = source.dataset(ids[eval_part], train=False, seed=derive_seed(config.seed, k, EVAL))
    tb = TensorBoard(out / "tb" / f"fold{k}", purge_step=start + 1 if start else None)
    if not start:
        tb.text("config", "```\n" + json.dumps(config.to_dict(), indent=2) + "\n```")

    stopped_early = False
    try:
        for epoch in range(start + 1, config.epochs + 1):
            if should_stop(config, epoch - 1, best["epoch"]):
                stopped_early = True
                break
            seed_everything(derive_seed(config.seed, k, epoch))
            train_loader = make_loader(
                train_ds,
                batch_size=config.batch_size,
                shuffle=True,
                epoch=epoch,
                seed=derive_seed(config.seed, k, epoch, SHUFFLE),
                **loader_kw,
            )
            eval_loader = make_loader(
                eval_ds, batch_size=eval_bs, shuffle=False, epoch=0, seed=0, **loader_kw
            )
            t0 = time.perf_counter()
            tr = run_epoch(
                assistant,
                train_loader,
                True,
                progress.pass_callback(f"fold {k} epoch {epoch} train", len(ids["train"])),
            )
            ev = run_epoch(
                assistant,
                eval_loader,
                False,
                progress.pass_callback(f"fold {k} epoch {epoch} {eval_part}", len(ids[eval_part])),
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
                save_checkpoint(
                    best_path, {"model": model.state_dict(), "epoch": epoch, "loss": ev.loss}
                )
            if config.optimistic and _improves(-ev.accuracy, _neg(top["test_acc"])):
                top = {
                    "epoch": epoch,
                    "test_acc": ev.accuracy,
                    "test_loss": ev.loss,
                    **_eval_result(ev, source, n_classes),
                }
            history.append(row)
            tb.epoch(epoch, row)
            save_checkpoint(
                last_path,
                {
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
                },
            )
            progress.epoch_done(k, epoch, config.epochs, row)

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
            ck = load_checkpoint(best_path)
            model.load_state_dict(ck["model"])
            test_ds = source.dataset(
                ids["test"], train=False, seed=derive_seed(config.seed, k, EVAL)
            )
            test_loader = make_loader(
                test_ds, batch_size=eval_bs, shuffle=False, epoch=0, seed=0, **loader_kw
            )
            te = run_epoch(
                assistant,
                test_loader,
                False,
                progress.pass_callback(
                    f"fold {k} test (best epoch {best['epoch']})", len(ids["test"])
                ),
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
        tb.final(result)
    finally:
        tb.close()
    atomic_write_json(fold_dir / "result.json", result)
    return result


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

    Args:
        config: the resolved configuration.
        method: the training method (model, loss, prediction, hyperparameter defaults).
        source: the data (default: :class:`~trainers.common.data.CacheSource` over
            ``config.cache`` / ``config.view``).
        console: where progress and the summary go (default: stdout).
    """
    if console is None:  # logs of unattended runs: wide lines instead of 80-column wrapping
        console = Console() if sys.stdout.isatty() else Console(width=132)
    if source is None:
        source = CacheSource(
            config.cache, config.view, in_memory=config.in_memory, workers=config.workers
        )
    out = Path(config.out)
    labels = run_labels(source.synthetic, config.optimistic)
    device = resolve_device(config.device)
    prepare_out(out, config, console)

    console.rule(f"{method.name} · {config.protocol}{label_suffix(labels)}")
    console.print_json(json.dumps({"config": config.to_dict(), "device": str(device)}))
    for note in ([SYNTHETIC_NOTE] if source.synthetic else []) + (
        [OPTIMISTIC_NOTE] if config.optimistic else []
    ):
        console.print(f"[bold red]{note}[/]")

    folds = {f.index: f for f in make_folds(source, config)}
    fold_results: dict[int, dict[str, Any]] = {}
    for k in config.folds:
        path = out / f"fold{k}" / "result.json"
        if config.resume and path.exists():
            fold_results[k] = json.loads(path.read_text())
            console.print(f"fold {k}: finished in the previous run, kept")
    todo = [k for k in config.folds if k not in fold_results]
    epochs_left = 0
    for k in todo:
        done = 0
        last = out / f"fold{k}" / "last.pt"
        if config.resume and last.exists():
            done = int(load_checkpoint(last)["epoch"])
        epochs_left += config.epochs - done

    with RunProgress(console, epochs_left, quiet=config.quiet) as progress:
        for k in todo:
            fold = folds[k]
            console.print(
                f"fold {k}: {len(fold.train)} train / {len(fold.val)} val / {len(fold.test)} "
                f"test recordings{label_suffix(labels)}"
            )
            fold_results[k] = run_fold(fold, config, method, source, device, out, progress, console)
            if k != todo[-1]:  # partial results after each fold; the last one is written below
                write_results(
                    assemble_results(config, method, source, fold_results, device),
                    out,
                    config.plots,
                )

    results = assemble_results(config, method, source, fold_results, device)
    write_results(results, out, config.plots)
    print_summary(results, console)
    console.print(f"outputs in {out}/ (TensorBoard: tensorboard --logdir {out / 'tb'})")
    return results
