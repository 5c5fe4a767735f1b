"""The resolved configuration of a training run, its validation and its identity.

A :class:`RunConfig` holds every choice that changes what a run computes (cache, view, protocol,
folds, epochs, optimiser settings, seed, method hyperparameters) plus a few that do not
(device, workers, output folder). It is printed at start and saved as ``config.json`` in the
run folder; ``--resume`` refuses to continue a run whose saved configuration differs in a
field that changes the result (:data:`RESUME_FREE_FIELDS` may differ).

>>> parse_folds("1,3", 4)
(1, 3)
>>> parse_folds("all", 4)
(1, 2, 3, 4)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PROTOCOLS = ("cv", "train-test")
SUBSETS = ("full", "reduced")
DEVICES = ("auto", "cpu", "cuda")
#: Published protocol: 4-fold KFold over recordings.
N_SPLITS = 4

#: Fields that may differ between a run and its ``--resume`` without changing the result
#: (device may change numerics on CUDA but is allowed so a run can move machines).
RESUME_FREE_FIELDS = frozenset(
    {"resume", "overwrite", "device", "workers", "out", "quiet", "plots"}
)


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the option and what was expected."""


def parse_folds(
    text: str | tuple[int, ...] | list[int], n_splits: int = N_SPLITS
) -> tuple[int, ...]:
    """Parse a ``--folds`` value: ``all``, ``2``, ``1,3`` or ``1-3`` (1-based, sorted, unique).

    Raises:
        ConfigError: empty list, a non-integer, or a fold outside ``1..n_splits``.
    """
    if isinstance(text, (tuple, list)):
        parts = [str(v) for v in text]
    else:
        s = str(text).strip().lower()
        if s == "all":
            return tuple(range(1, n_splits + 1))
        parts = [p.strip() for p in s.split(",")]
    folds: set[int] = set()
    for part in parts:
        if not part:
            raise ConfigError(
                f"--folds {text!r}: empty entry; expected 'all' or fold numbers like 1,2 or 1-3"
            )
        bounds = part.split("-")
        if len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
            raise ConfigError(
                f"--folds {text!r}: {part!r} is not a fold number; "
                f"expected 'all' or numbers in 1..{n_splits} like 1,2 or 1-3"
            )
        lo, hi = int(bounds[0]), int(bounds[-1])
        if lo > hi:
            raise ConfigError(f"--folds {text!r}: range {part!r} is empty (start > end)")
        values = range(lo, hi + 1)
        for v in values:
            if not 1 <= v <= n_splits:
                raise ConfigError(
                    f"--folds {text!r}: fold {v} does not exist; folds are 1..{n_splits}"
                )
            folds.add(v)
    return tuple(sorted(folds))


class RunConfig(BaseModel):
    """Everything a training run needs; see the CLI ``--help`` for each field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    cache: str
    view: str
    protocol: Literal["cv", "train-test"] = "cv"
    subset: Literal["full", "reduced"] = "full"
    folds: tuple[int, ...] = (1, 2, 3, 4)
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    eval_batch_size: int | None = Field(default=None, ge=1)
    lr: float = Field(gt=0)
    patience: int = Field(default=0, ge=0)
    min_epochs: int = Field(default=0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    workers: int = Field(default=0, ge=0)
    seed: int = 0
    in_memory: bool = False
    amp: bool = False
    out: str
    resume: bool = False
    overwrite: bool = False
    quiet: bool = False
    plots: bool = True
    #: training processes (torchrun's WORLD_SIZE; set by :func:`trainers.common.protocol.run`).
    #: Changes the result (``--batch-size`` is per process), so ``--resume`` needs the same.
    world_size: int = Field(default=1, ge=1)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("folds", mode="before")
    @classmethod
    def _folds(cls, v: Any) -> tuple[int, ...]:
        try:
            return parse_folds(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @property
    def optimistic(self) -> bool:
        """True for ``train-test``: max test accuracy over epochs, no validation set."""
        return self.protocol == "train-test"

    def identity(self) -> dict[str, Any]:
        """The fields that determine the result (everything but :data:`RESUME_FREE_FIELDS`).

        ``world_size`` 1 is left out, so single-process runs keep the identity (and
        checkpoints) they had before distributed training existed.
        """
        d = {k: v for k, v in self.to_dict().items() if k not in RESUME_FREE_FIELDS}
        if d.get("world_size") == 1:
            del d["world_size"]
        return d

    def identity_hash(self) -> str:
        """sha256 (hex, 16 chars) of :meth:`identity` as canonical JSON."""
        blob = json.dumps(self.identity(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (folds as a list)."""
        d = self.model_dump()
        d["folds"] = list(d["folds"])
        return d

    def differences(self, other: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Result-changing fields whose value differs from a saved ``config.json`` dict."""
        mine = json.loads(json.dumps(self.identity(), default=str))
        theirs = {k: v for k, v in other.items() if k not in RESUME_FREE_FIELDS}
        mine.setdefault("world_size", 1)  # saved before world_size existed: one process
        theirs.setdefault("world_size", 1)
        keys = set(mine) | set(theirs)
        return {
            k: (theirs.get(k), mine.get(k)) for k in sorted(keys) if mine.get(k) != theirs.get(k)
        }


def default_out(method: str, protocol: str, subset: str, profile_hash: str) -> Path:
    """The default run folder: ``runs/<method>-<protocol>-<subset>-<profile_hash[:8]>``.

    Deterministic, so re-running the same command finds the same folder (and ``--resume``
    continues it); a different cache profile, method, protocol or subset gets its own folder.
    """
    return Path("runs") / f"{method}-{protocol}-{subset}-{(profile_hash or 'noprofile')[:8]}"
