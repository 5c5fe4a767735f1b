"""Reading a training run folder for export: configuration, the selected checkpoint, the data
facts the model was built for (classes, sensor size) and the time step of the cache view.

A run folder (:mod:`trainers.common.outputs`) holds ``config.json`` (``{"config": RunConfig,
"identity_hash"}``; the method's hyperparameters under ``config.hyperparameters``),
``results.json`` (``cache``: sensor size and the view's attributes, among them ``dt_us``;
``class_names``) and per fold ``fold<k>/best.pt`` (the weights the protocol selected: lowest
validation loss for ``cv``, lowest test loss for ``train-test``) and ``fold<k>/last.pt`` (the
last finished epoch). Without ``results.json`` (no fold finished yet) the facts come from the
cache the run trained on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainers.common.checkpoints import load_checkpoint
from trainers.export.graph import ExportError

CHECKPOINTS = {"best": "best.pt", "last": "last.pt"}


@dataclass(frozen=True)
class RunModel:
    """What an export needs from a run.

    Attributes:
        method: ``"stbp"``, ``"slayer"``, ``"firstspike"`` or ``"tsslbp"``.
        hyperparameters: the run's method hyperparameters (``config.json``).
        n_classes: output classes; sensor_size: ``(W, H, P)`` of the view.
        dt_us: bin width of the cache view (microseconds): one model step.
        fold, checkpoint, epoch: which weights (``epoch`` as stored, 1-based; None if absent).
        state: the model's ``state_dict``.
        protocol, view: of the run (recorded in the graph's metadata).
    """

    method: str
    hyperparameters: dict[str, Any]
    n_classes: int
    sensor_size: tuple[int, int, int]
    dt_us: float
    fold: int
    checkpoint: str
    epoch: int | None
    state: dict[str, torch.Tensor]
    protocol: str
    view: str


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ExportError(f"{path}: missing; is this a training run folder (--run)?") from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable JSON ({exc})") from None


def pick_fold(run_dir: Path, fold: int | None, name: str) -> int:
    """``fold``, or the lowest fold of the run that has the checkpoint ``name``.

    Raises:
        ExportError: no fold has it, or the requested one does not.
    """
    have = sorted(
        int(m.group(1))
        for p in run_dir.glob(f"fold*/{name}")
        if (m := re.fullmatch(r"fold(\d+)", p.parent.name))
    )
    if fold is None:
        if not have:
            raise ExportError(f"{run_dir}: no fold<k>/{name}; has a fold finished an epoch?")
        return have[0]
    if fold not in have:
        raise ExportError(f"{run_dir / f'fold{fold}' / name}: missing; folds with it: {have}")
    return fold


def _data_facts(run_dir: Path, cfg: dict[str, Any]) -> tuple[int, tuple[int, int, int], float]:
    """``(n_classes, sensor_size, dt_us)`` from results.json, else from the run's cache."""
    res_path = run_dir / "results.json"
    if res_path.exists():
        res = _json(res_path)
        cache = res.get("cache", {})
        attrs = cache.get("view_attrs", {})
        if "sensor_size" in cache and "dt_us" in attrs and "class_names" in res:
            size = tuple(int(v) for v in cache["sensor_size"])
            return len(res["class_names"]), size, float(attrs["dt_us"])  # type: ignore[return-value]
    from trainers.common.data import CacheSource

    try:
        src = CacheSource(cfg["cache"], cfg["view"])
    except Exception as exc:  # any failure: one line
        raise ExportError(
            f"{res_path}: missing or incomplete, and the run's cache {cfg['cache']} cannot be "
            f"read ({exc})"
        ) from None
    size = tuple(int(v) for v in src.sensor_size)
    return len(src.class_names), size, float(src.view_attrs["dt_us"])  # type: ignore[return-value]


def read_run(run_dir: str | Path, fold: int | None = None, checkpoint: str = "best") -> RunModel:
    """The model of ``run_dir``'s ``fold`` (default: its lowest fold) at ``checkpoint``.

    Raises:
        ExportError: not a run folder, no such fold or checkpoint, or unreadable files.
    """
    run_dir = Path(run_dir)
    if checkpoint not in CHECKPOINTS:
        raise ExportError(f"--checkpoint {checkpoint!r}: expected one of {sorted(CHECKPOINTS)}")
    saved = _json(run_dir / "config.json")
    cfg = saved.get("config", saved)
    name = CHECKPOINTS[checkpoint]
    k = pick_fold(run_dir, fold, name)
    path = run_dir / f"fold{k}" / name
    try:
        ck = load_checkpoint(path)
    except Exception as exc:
        raise ExportError(f"{path}: unreadable checkpoint ({exc})") from None
    if not isinstance(ck, dict) or "model" not in ck:
        raise ExportError(f"{path}: no 'model' entry; not a checkpoint of this project")
    n_classes, sensor_size, dt_us = _data_facts(run_dir, cfg)
    return RunModel(
        method=str(cfg["method"]),
        hyperparameters=dict(cfg.get("hyperparameters", {})),
        n_classes=n_classes,
        sensor_size=sensor_size,
        dt_us=dt_us,
        fold=k,
        checkpoint=checkpoint,
        epoch=ck.get("epoch"),
        state=ck["model"],
        protocol=str(cfg.get("protocol", "cv")),
        view=str(cfg.get("view", "")),
    )
