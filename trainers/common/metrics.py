"""Accuracy bookkeeping: overall, per recording group, per class, confusion matrix, fold summary.

All functions take plain numpy arrays of equal length ``N`` (one entry per evaluated sample):
``labels`` and ``predictions`` are int class ids ``0..n_classes-1``; ``groups`` are strings such
as SL-Animals' ``"S1"``; the group names reported are the dataset's
(:attr:`eventpipe.datasets.base.DatasetSpec.groups`). Accuracies are fractions in ``[0, 1]``; a
group or class with no sample gets ``None`` (not 0), so an absent group is never mistaken for a
failed one.

>>> import numpy as np
>>> per_group_accuracy(
...     np.array([0, 1, 1]), np.array([0, 1, 0]), np.array(["S1", "S1", "S2"]), ("S1", "S2", "S3")
... )
{'S1': 1.0, 'S2': 0.0, 'S3': None}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Fraction of ``predictions == labels``; ``nan`` for no samples."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return float("nan")
    return float(np.mean(np.asarray(predictions) == labels))


def per_group_accuracy(
    labels: np.ndarray,
    predictions: np.ndarray,
    groups: np.ndarray,
    group_names: Sequence[str],
) -> dict[str, float | None]:
    """Accuracy within each of ``group_names`` (in that order); ``None`` for a group without
    samples. Samples of a group not in ``group_names`` count for no group."""
    labels, predictions, groups = np.asarray(labels), np.asarray(predictions), np.asarray(groups)
    out: dict[str, float | None] = {}
    for g in group_names:
        m = groups == g
        out[g] = float(np.mean(predictions[m] == labels[m])) if m.any() else None
    return out


def per_class_accuracy(
    labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str]
) -> dict[str, float | None]:
    """Recall of each class (correct / samples of that class); ``None`` for absent classes."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    out: dict[str, float | None] = {}
    for c, name in enumerate(class_names):
        m = labels == c
        out[name] = float(np.mean(predictions[m] == c)) if m.any() else None
    return out


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``[n_classes, n_classes]`` int64 counts; row = true class, column = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (labels, predictions), 1)
    return cm


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and *population* standard deviation (``np.std(ddof=0)``, as the published scripts)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=0))
