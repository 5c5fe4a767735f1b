"""Progress display: a rich bar over the batches of each pass and one line per epoch.

The bar (train / val / test pass: running loss, accuracy, samples/s) is drawn only on a
terminal; the per-epoch line (losses, accuracies, samples/s, epoch time, ETA of the fold and of
the run) is printed everywhere, so logs of unattended runs show it too.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from eventpipe.report.progress import progress_bar


def fmt_duration(seconds: float) -> str:
    """``1d 02:03:04`` / ``02:03:04`` style duration; ``?`` for unknown."""
    if seconds != seconds or seconds < 0:
        return "?"
    return str(_dt.timedelta(seconds=round(seconds)))


class RunProgress:
    """Progress of a whole run.

    Args:
        console: where to print.
        epochs_left: epochs this process still has to run, over all remaining folds.
        quiet: print only the per-epoch lines, never a bar.
    """

    def __init__(self, console: Console, epochs_left: int, quiet: bool = False) -> None:
        self.console = console
        self.epochs_left = epochs_left
        self.epoch_seconds: list[float] = []
        self.bar = None
        if console.is_terminal and not quiet:
            self.bar = progress_bar("{task.fields[stats]}", console=console, transient=True)

    def __enter__(self) -> RunProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def pass_callback(
        self, description: str, n_samples: int
    ) -> Callable[[int, float, float], None]:
        """A ``run_epoch`` ``on_batch`` callback updating a bar over ``n_samples`` samples."""
        if self.bar is None:
            return lambda n, loss, acc: None
        task = self.bar.add_task(description, total=n_samples, stats="")
        t0 = time.perf_counter()

        def update(n: int, loss: float, acc: float) -> None:
            dt = time.perf_counter() - t0
            rate = n / dt if dt > 0 else 0.0
            stats = f"loss {loss:.4g} acc {100 * acc:5.1f}% {rate:6.1f} samples/s"
            self.bar.update(task, completed=n, stats=stats)
            if n >= n_samples:
                self.bar.remove_task(task)

        return update

    def epoch_done(self, fold: int, epoch: int, epochs: int, row: dict[str, Any]) -> None:
        """Print the epoch line with ETAs (mean epoch time of this process x epochs left)."""
        self.epoch_seconds.append(row["seconds"])
        self.epochs_left = max(0, self.epochs_left - 1)
        mean = sum(self.epoch_seconds) / len(self.epoch_seconds)
        parts = [f"fold {fold} epoch {epoch}/{epochs}"]
        for part in ("train", "val", "test"):
            if row.get(f"{part}_loss") is not None:
                parts.append(
                    f"{part} loss {row[f'{part}_loss']:.4g} acc {100 * row[f'{part}_acc']:.1f}%"
                )
        parts.append(f"{row['samples_per_s']:.1f} samples/s")
        parts.append(f"{row['seconds']:.1f} s")
        parts.append(f"ETA fold {fmt_duration(mean * (epochs - epoch))}")
        parts.append(f"run {fmt_duration(mean * self.epochs_left)}")
        self.console.print(" | ".join(parts), highlight=False)
