"""A toy method for smoke tests of the shared protocol: a linear layer over time-averaged frames.

Not a spiking network. It trains in milliseconds, so the protocol, outputs and ``--resume`` can
be checked end to end on a tiny cache: ``python -m trainers.common.toy --cache data/cache.h5
--view stbp --epochs 2 --folds 1``. Dropout (``--dropout``) exercises the RNG handling of resume.

Model: ``x [N,T,P,H,W] -> mean over T -> flatten -> dropout -> Linear(P*H*W, n_classes)``;
loss: cross-entropy; prediction: argmax.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainers.common.method import Method


class ToyNet(nn.Module):
    """Linear classifier over time-averaged frames; input ``[N,T,P,H,W]``, output ``[N,C]``."""

    def __init__(self, n_features: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x.float().mean(dim=1).flatten(1)))


def _build(hp: dict[str, Any], n_classes: int, sensor_size: tuple[int, int, int]) -> nn.Module:
    w, h, p = sensor_size
    return ToyNet(int(w) * int(h) * int(p), n_classes, float(hp["dropout"]))


def _optimizer(params: Any, lr: float, hp: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=float(hp["weight_decay"]))


def _loss(output: torch.Tensor, labels: torch.Tensor, hp: dict[str, Any]) -> torch.Tensor:
    return F.cross_entropy(output, labels)


def _predict(output: torch.Tensor) -> torch.Tensor:
    return output.argmax(dim=1)


METHOD = Method(
    name="toy",
    hyperparameters={"dropout": 0.2, "weight_decay": 0.0},
    defaults={"epochs": 3, "batch_size": 8, "lr": 1e-2, "view": "stbp"},
    build_model=_build,
    make_optimizer=_optimizer,
    loss=_loss,
    predict=_predict,
    description="Toy linear classifier over time-averaged frames (protocol smoke tests only).",
)


class ToyDataset(torch.utils.data.Dataset):
    """Tiny class-patterned frames ``[T, P, H, W]`` (uint8) for a list of sample ids.

    Train mode picks a random temporal crop from ``(seed, epoch, sample_id)`` (``set_epoch``),
    like the eventpipe loader; eval mode always takes the first ``T`` bins.
    """

    def __init__(self, source: ToySource, sample_ids: Any, train: bool, seed: int) -> None:
        self.source = source
        self.ids = [int(i) for i in sample_ids]
        self.train, self.seed, self.epoch = train, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, dict[str, Any]]:
        sid = self.ids[i]
        full = self.source.frames[sid]
        t = self.source.crop
        start = 0
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, sid])
            start = int(rng.integers(0, full.shape[0] - t + 1))
        x = torch.from_numpy(full[start : start + t].copy())
        return x, int(self.source.class_of[sid]), {"sample_id": sid}


def toy_collate(batch: list) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """``[(x, label, meta)] -> (x [N,T,P,H,W], labels int64 [N], [meta])``."""
    xs, labels, metas = zip(*batch)
    return torch.stack(xs), torch.tensor(labels, dtype=torch.int64), list(metas)


class ToySource:
    """An in-memory :class:`~trainers.common.data.DataSource` of SL-Animals-shaped toy samples.

    ``n_per_group`` recordings per group (the first stems of S1..S4), 19 samples each with the
    published sample ids (``STEMS.index(stem) * 19 + class``). A sample of class ``c`` lights a
    class-specific set of pixels in most bins, plus seeded noise, so a linear model learns it.

    Args:
        n_per_group: recordings per group.
        size: frames are ``[bins, 2, size, size]`` uint8; datasets return ``crop`` bins.
        noise: probability of a noise pixel.
        synthetic: the flag reported in the outputs.
    """

    def __init__(
        self,
        n_per_group: int = 2,
        size: int = 6,
        bins: int = 6,
        crop: int = 4,
        noise: float = 0.15,
        seed: int = 0,
        synthetic: bool = True,
    ) -> None:
        import pandas as pd

        from eventpipe.datasets.slanimals.facts import CLASS_NAMES, GROUPS, STEMS, parse_stem

        rng = np.random.default_rng(seed)
        stems = [
            s
            for g in GROUPS
            for s in [s for s in STEMS if parse_stem(s)[1].name == g][:n_per_group]
        ]
        n_classes = len(CLASS_NAMES)
        patterns = rng.random((n_classes, 2, size, size)) < 0.3
        rows, self.frames, self.class_of = [], {}, {}
        for stem in stems:
            for c in range(n_classes):
                sid = STEMS.index(stem) * n_classes + c
                on = rng.random((bins, 1, 1, 1)) < 0.8
                x = (patterns[c][None] & on) | (rng.random((bins, 2, size, size)) < noise)
                self.frames[sid] = x.astype(np.uint8)
                self.class_of[sid] = c
                rows.append(
                    {
                        "sample_id": sid,
                        "recording": stem,
                        "group": parse_stem(stem)[1].name,
                        "class_id": c,
                        "class_name": CLASS_NAMES[c],
                    }
                )
        self.samples = pd.DataFrame(rows)
        self.path = f"<toy source: {len(stems)} recordings>"
        self.view = "toy"
        self.synthetic = synthetic
        self.profile_hash = "t0y" + f"{seed:013d}"
        self.sensor_size = (size, size, 2)
        self.class_names = tuple(CLASS_NAMES)
        self.crop = crop
        self.collate = toy_collate

    def dataset(self, sample_ids: Any, train: bool, seed: int) -> ToyDataset:
        return ToyDataset(self, sample_ids, train, seed)

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "view": self.view,
            "profile_hash": self.profile_hash,
            "synthetic": self.synthetic,
            "sensor_size": list(self.sensor_size),
        }


def toy_run(out: str, resume: bool = False, source_kw: dict | None = None, **config: Any) -> dict:
    """Run the protocol with the toy method on a :class:`ToySource` (tests, demos).

    ``config`` entries override the :class:`~trainers.common.config.RunConfig` fields
    (defaults here: CPU, quiet, no PNG plots).
    """
    from trainers.common.config import RunConfig
    from trainers.common.protocol import run

    cfg = {
        "method": METHOD.name,
        "cache": "<toy>",
        "view": "toy",
        "epochs": METHOD.defaults["epochs"],
        "batch_size": METHOD.defaults["batch_size"],
        "lr": METHOD.defaults["lr"],
        "device": "cpu",
        "out": str(out),
        "resume": resume,
        "quiet": True,
        "plots": False,
        "hyperparameters": dict(METHOD.hyperparameters),
        **config,
    }
    return run(RunConfig(**cfg), METHOD, source=ToySource(**(source_kw or {})))


if __name__ == "__main__":
    from trainers.common.cli import main

    main(METHOD)
