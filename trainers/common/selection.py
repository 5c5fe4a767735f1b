"""Which epoch a fold reports: the selection rule of each protocol, and early stopping.

* ``cv``: the epoch of the lowest **validation** loss (its weights are ``best.pt``); the test
  recordings are evaluated once, with those weights, after training.
* ``train-test`` (``OPTIMISTIC``): the test set is evaluated after every epoch and the epoch of
  the **maximum test accuracy** is reported, as the published ``train_test_only.py`` does; the
  lowest test loss is tracked too (and its weights saved as ``best.pt``, as that script does).

Both rules use strict improvement, so ties keep the earlier epoch; a NaN never improves on a
number and any number improves on a NaN.

>>> s = Selection()
>>> s.lower_loss(1, loss=0.9, accuracy=0.5), s.lower_loss(2, loss=0.9, accuracy=0.7)
(True, False)
>>> s.best["epoch"]
1
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trainers.common.config import RunConfig

#: ``selection`` entry of a fold's result
SELECTION_CV = "epoch of minimum validation loss"
SELECTION_OPTIMISTIC = "epoch of maximum test accuracy (OPTIMISTIC)"


def improves(new: float, old: float | None) -> bool:
    """Strictly lower than ``old`` (None: nothing yet); NaN never improves, anything beats NaN."""
    if math.isnan(new):
        return old is None
    return old is None or math.isnan(old) or new < old


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


def _no_best() -> dict[str, Any]:
    return {"epoch": None, "val_loss": None, "val_acc": None}


def _no_top() -> dict[str, Any]:
    return {"epoch": None, "test_acc": None}


@dataclass
class Selection:
    """The selection state of one fold (saved in ``last.pt``, so ``--resume`` continues it).

    Attributes:
        best: ``{"epoch", "val_loss", "val_acc"}`` of the lowest evaluation loss so far (the
            validation set for ``cv``, the test set for ``train-test``).
        top: ``train-test`` only: ``{"epoch", "test_acc", "test_loss", ...}`` of the highest
            test accuracy so far, with that epoch's per-group/per-class accuracies, confusion
            matrix and predictions.
    """

    best: dict[str, Any] = field(default_factory=_no_best)
    top: dict[str, Any] = field(default_factory=_no_top)

    def lower_loss(self, epoch: int, loss: float, accuracy: float) -> bool:
        """Record epoch ``epoch``'s evaluation; True when its loss is the new lowest."""
        if not improves(loss, self.best["val_loss"]):
            return False
        self.best = {"epoch": epoch, "val_loss": loss, "val_acc": accuracy}
        return True

    def higher_accuracy(
        self, epoch: int, loss: float, accuracy: float, details: Callable[[], dict[str, Any]]
    ) -> bool:
        """``train-test``: record epoch ``epoch``'s test result; True (and ``details()`` kept:
        the per-sample results of that epoch) when its accuracy is the new highest."""
        old = self.top["test_acc"]
        if not improves(-accuracy, None if old is None else -old):
            return False
        self.top = {"epoch": epoch, "test_acc": accuracy, "test_loss": loss, **details()}
        return True

    def should_stop(self, config: RunConfig, finished: int) -> bool:
        """:func:`should_stop` with this fold's best epoch."""
        return should_stop(config, finished, self.best["epoch"])

    def optimistic_result(self) -> dict[str, Any]:
        """The fold result of ``train-test``: the epoch of maximum test accuracy."""
        details = {k: v for k, v in self.top.items() if k not in ("epoch", "test_acc")}
        return {
            "best_epoch": self.top["epoch"],
            "selection": SELECTION_OPTIMISTIC,
            "val_loss": None,
            "val_accuracy": None,
            "test_loss": self.top["test_loss"],
            "test_accuracy": self.top["test_acc"],
            "min_test_loss": self.best["val_loss"],
            "min_test_loss_epoch": self.best["epoch"],
            **details,
        }

    def cv_result(self, test_loss: float, test_accuracy: float, details: dict[str, Any]) -> dict:
        """The fold result of ``cv``, given the test pass with the best epoch's weights."""
        return {
            "best_epoch": self.best["epoch"],
            "selection": SELECTION_CV,
            "val_loss": self.best["val_loss"],
            "val_accuracy": self.best["val_acc"],
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            **details,
        }
