"""What a run reports: the per-sample details of an evaluation and the ``results.json`` dict.

Layout of ``results.json`` (rewritten atomically after every fold): ``title``, ``labels``
(``SYNTHETIC`` / ``OPTIMISTIC``), ``data``, ``synthetic``, ``optimistic``, ``notes``, ``method``,
``protocol``, ``profile_hash``, ``cache`` (the source's identity), ``config``, ``complete``,
``folds_requested``, ``class_names``, ``summary`` (:func:`trainers.common.outputs.summarize`),
``folds`` (one result per finished fold, as :func:`trainers.common.protocol.run_fold` returns
it) and ``environment`` (device, torch, python, threads, world size).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eventpipe.datasets.base import DatasetSpec
from trainers.common.checkpoints import atomic_write_json
from trainers.common.config import RunConfig
from trainers.common.data import DataSource, lookup
from trainers.common.loop import EpochResult
from trainers.common.method import Method
from trainers.common.metrics import confusion_matrix, per_class_accuracy, per_group_accuracy
from trainers.common.outputs import (
    OPTIMISTIC_NOTE,
    label_suffix,
    run_labels,
    summarize,
    synthetic_note,
    write_summary_files,
)


def run_notes(spec: DatasetSpec, synthetic: bool, optimistic: bool) -> list[str]:
    """The warnings every output of the run repeats (synthetic data, optimistic protocol)."""
    return ([synthetic_note(spec.title)] if synthetic else []) + (
        [OPTIMISTIC_NOTE] if optimistic else []
    )


def eval_details(
    ev: EpochResult, source: DataSource, n_classes: int, groups: Sequence[str]
) -> dict[str, Any]:
    """Per-group and per-class accuracy, confusion matrix and per-sample predictions of an
    evaluation pass (``groups``: the dataset's recording groups, in report order)."""
    sample_groups = lookup(source.samples, ev.sample_ids, "group") if len(ev.sample_ids) else []
    return {
        "per_group_accuracy": per_group_accuracy(
            ev.labels, ev.predictions, np.asarray(sample_groups), groups
        ),
        "per_class_accuracy": per_class_accuracy(ev.labels, ev.predictions, source.class_names),
        "confusion": confusion_matrix(ev.labels, ev.predictions, n_classes).tolist(),
        "predictions": {
            "sample_id": ev.sample_ids.tolist(),
            "label": ev.labels.tolist(),
            "predicted": ev.predictions.tolist(),
        },
    }


def environment(device: torch.device, world_size: int) -> dict[str, Any]:
    """Where the run ran: device and its name, torch and python versions, threads."""
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "world_size": world_size,
    }


def assemble_results(
    config: RunConfig,
    method: Method,
    source: DataSource,
    spec: DatasetSpec,
    fold_results: dict[int, dict[str, Any]],
    device: torch.device,
) -> dict[str, Any]:
    """The results.json dict from the finished folds (``spec``: the source's dataset)."""
    labels = run_labels(source.synthetic, config.optimistic)
    folds = [fold_results[k] for k in sorted(fold_results)]
    describe = getattr(source, "describe", None)
    return {
        "title": f"{method.name} {config.protocol}{label_suffix(labels)}",
        "labels": labels,
        "data": "SYNTHETIC" if source.synthetic else "real",
        "synthetic": bool(source.synthetic),
        "optimistic": config.optimistic,
        "notes": run_notes(spec, source.synthetic, config.optimistic),
        "method": method.name,
        "protocol": config.protocol,
        "profile_hash": source.profile_hash,
        "cache": describe() if describe else {"path": source.path, "view": source.view},
        "config": config.to_dict(),
        "complete": sorted(fold_results) == list(config.folds),
        "folds_requested": list(config.folds),
        "class_names": list(source.class_names),
        "summary": summarize(folds, config.optimistic, spec.groups),
        "folds": folds,
        "environment": environment(device, config.world_size),
    }


def write_results(results: dict[str, Any], out: Path, plots: bool = True) -> None:
    """results.json (atomic), summary.md and (``plots``) curves.png, confusion.png."""
    atomic_write_json(out / "results.json", results)
    write_summary_files(results, out, plots=plots)
