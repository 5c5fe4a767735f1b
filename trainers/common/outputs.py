"""Run outputs: results.json, the summary table, curves and confusion PNGs, TensorBoard.

Layout of a run folder (``--out``)::

    config.json           the resolved configuration (written at start)
    results.json          per-fold and overall results (rewritten atomically after each fold)
    summary.md            the printed summary table, as Markdown
    curves.png            loss and accuracy per epoch, one row per fold
    confusion.png         confusion matrix summed over the finished folds
    tb/fold<k>/           TensorBoard event files (``tensorboard --logdir <out>/tb``)
    fold<k>/last.pt       model + optimiser + epoch + RNG states + history (after every epoch)
    fold<k>/best.pt       model of the lowest validation loss (train-test: lowest test loss)
    fold<k>/result.json   the fold's result once it is finished (lets --resume skip it)

Every output carries the labels of :func:`run_labels`: ``SYNTHETIC`` when the cache was built
from generated data, ``OPTIMISTIC`` for the ``train-test`` protocol (maximum test accuracy over
epochs, model selected on the test set).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainers.common.checkpoints import atomic_write_bytes, atomic_write_text
from trainers.common.metrics import mean_std

OPTIMISTIC_NOTE = (
    "OPTIMISTIC: train-test protocol (published train_test_only.py): no validation set, the "
    "reported test accuracy is the maximum over epochs, i.e. selected on the test set"
)


def synthetic_note(title: str) -> str:
    """The note of a run on a synthetic cache of the dataset called ``title``
    (:attr:`~eventpipe.datasets.base.DatasetSpec.title`, e.g. ``"SL-Animals-DVS"``)."""
    return (
        f"SYNTHETIC: the cache was built from generated recordings, not {title}; "
        "these accuracies say nothing about the real dataset"
    )


def run_labels(synthetic: bool, optimistic: bool) -> list[str]:
    """Labels every output of a run carries: ``SYNTHETIC`` and/or ``OPTIMISTIC``."""
    return [w for w, on in (("SYNTHETIC", synthetic), ("OPTIMISTIC", optimistic)) if on]


def label_suffix(labels: Sequence[str]) -> str:
    """``" [SYNTHETIC] [OPTIMISTIC]"`` or ``""``."""
    return "".join(f" [{w}]" for w in labels)


def summarize(
    folds: list[dict[str, Any]], optimistic: bool, groups: Sequence[str]
) -> dict[str, Any]:
    """Overall numbers over finished folds: mean and population std of test accuracy, and the
    mean accuracy of each recording group in ``groups`` (the dataset's, e.g. ``S1`` .. ``S4``)."""
    values = [f["test_accuracy"] for f in folds]
    mean, std = mean_std(values)
    per_group: dict[str, Any] = {}
    for g in groups:
        vals = [f["per_group_accuracy"].get(g) for f in folds]
        vals = [v for v in vals if v is not None]
        per_group[g] = float(np.mean(vals)) if vals else None
    return {
        "metric": "max test accuracy over epochs"
        if optimistic
        else "test accuracy at best val loss",
        "n_folds": len(folds),
        "folds": [f["fold"] for f in folds],
        "test_accuracies": values,
        "test_accuracy_mean": mean,
        "test_accuracy_std": std,
        "std": "population (numpy std, ddof=0), as the published scripts",
        "per_group_accuracy_mean": per_group,
    }


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.1f}" if pct else f"{v:.4g}"


def summary_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table (accuracies in percent); one column per recording
    group of ``results["summary"]["per_group_accuracy_mean"]``."""
    s = results["summary"]
    groups = list(s["per_group_accuracy_mean"])
    header = ["fold", "best epoch", "val loss", "test loss", "test acc %", *groups]
    rows = []
    for f in results["folds"]:
        rows.append(
            [
                str(f["fold"]),
                str(f["best_epoch"]),
                _fmt(f.get("val_loss")),
                _fmt(f.get("test_loss")),
                _fmt(f["test_accuracy"], pct=True),
                *[_fmt(f["per_group_accuracy"].get(g), pct=True) for g in groups],
            ]
        )
    if s["n_folds"]:
        rows.append(
            [
                "mean ± std",
                "",
                "",
                "",
                f"{100 * s['test_accuracy_mean']:.1f} ± {100 * s['test_accuracy_std']:.1f}",
                *[_fmt(s["per_group_accuracy_mean"].get(g), pct=True) for g in groups],
            ]
        )
    return header, rows


def summary_title(results: dict[str, Any]) -> str:
    """One-line title: method, protocol, subset and labels."""
    cfg = results["config"]
    return (
        f"{results['method']} · {results['protocol']} · subset {cfg['subset']} · "
        f"{results['summary']['metric']}{label_suffix(results['labels'])}"
    )


def print_summary(results: dict[str, Any], console: Any) -> None:
    """Print the summary table (rich) followed by the notes."""
    from rich.table import Table

    header, rows = summary_rows(results)
    table = Table(title=summary_title(results), title_style="bold")
    for h in header:
        table.add_column(h, justify="right")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    for note in results["notes"]:
        console.print(f"[bold red]{note}[/]")


def summary_markdown(results: dict[str, Any]) -> str:
    """The summary table as Markdown, with title and notes."""
    header, rows = summary_rows(results)
    lines = [f"# {summary_title(results)}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    lines += [f"**{n}**" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def _save_fig(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def plot_curves(histories: dict[int, list[dict[str, Any]]], title: str, path: Path) -> None:
    """Loss and accuracy per epoch (train / val / test), one row per fold."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    folds = sorted(histories)
    n = max(1, len(folds))
    fig, axes = plt.subplots(n, 2, figsize=(11, 3.2 * n), squeeze=False)
    for row, k in enumerate(folds):
        hist = histories[k]
        ep = [h["epoch"] for h in hist]
        for col, (metric, ylabel) in enumerate((("loss", "loss"), ("acc", "accuracy"))):
            ax = axes[row][col]
            for part in ("train", "val", "test"):
                key = f"{part}_{metric}"
                ys = [h.get(key) for h in hist]
                if any(y is not None for y in ys):
                    ys = [np.nan if y is None else y for y in ys]
                    ax.plot(ep, ys, marker="." if len(ep) < 30 else None, label=part)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(ylabel)
            ax.set_title(f"fold {k}: {ylabel}")
            if metric == "acc":
                ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend()
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], title: str, path: Path) -> None:
    """Confusion matrix (rows true, columns predicted), counts annotated, row-normalised colour."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(9, 8))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    n = len(class_names)
    ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    ax.set_title(title, fontweight="bold", fontsize=10)
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)


def write_summary_files(results: dict[str, Any], out: Path, plots: bool = True) -> None:
    """summary.md, and (``plots``) curves.png and confusion.png, from a results dict."""
    atomic_write_text(out / "summary.md", summary_markdown(results))
    if not plots:
        return
    title = summary_title(results)
    histories = {f["fold"]: f["history"] for f in results["folds"]}
    if histories:
        plot_curves(histories, title, out / "curves.png")
        cm = np.sum([np.asarray(f["confusion"]) for f in results["folds"]], axis=0)
        plot_confusion(
            cm,
            results["class_names"],
            f"{title}\nconfusion over folds {results['summary']['folds']}",
            out / "confusion.png",
        )


class TensorBoard:
    """Per-fold TensorBoard writer (``<out>/tb/fold<k>``); a no-op when disabled.

    ``purge_step`` drops events at or after that step, so a resumed fold does not show the
    epochs that were redone twice.
    """

    def __init__(self, log_dir: Path, purge_step: int | None = None, enabled: bool = True):
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def epoch(self, epoch: int, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if value is None or key in ("epoch",):
                continue
            if key.endswith(("_loss", "_acc")):
                part, metric = key.rsplit("_", 1)
                self.writer.add_scalar(
                    f"{'loss' if metric == 'loss' else 'accuracy'}/{part}", value, epoch
                )
            elif key in ("samples_per_s", "seconds", "lr"):
                self.writer.add_scalar(f"run/{key}", value, epoch)

    def text(self, tag: str, text: str) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, text, 0)

    def final(self, result: dict[str, Any]) -> None:
        if self.writer is None:
            return
        step = int(result.get("best_epoch") or 0)
        self.writer.add_scalar("final/test_accuracy", result["test_accuracy"], step)
        if result.get("test_loss") is not None:
            self.writer.add_scalar("final/test_loss", result["test_loss"], step)
        for g, v in result["per_group_accuracy"].items():
            if v is not None:
                self.writer.add_scalar(f"final/test_accuracy_{g}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
