"""Progress bars for long work (rich, on stderr), in one place; nothing when switched off.

Every long command shows the same kind of bar: a description, the bar, ``done/total``, then
columns of its own (a rate, running losses), elapsed time and ETA. rich is imported only when a
bar is wanted, so quiet runs do not pay for it.

>>> with ItemProgress(False, total=3, title="reading") as advance:
...     advance("user00_indoor")   # does nothing when off
"""

from __future__ import annotations

from typing import Any


class NoProgress:
    """What :func:`progress_bar` gives without a bar: the same calls, doing nothing."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def advance(self, *args: Any, **kwargs: Any) -> None:
        pass


def stderr_console() -> Any:
    """A rich console on stderr (progress never mixes with a command's output on stdout)."""
    from rich.console import Console

    return Console(stderr=True)


def progress_bar(
    *columns: str,
    console: Any = None,
    enabled: bool = True,
    timing: bool = True,
    eta_label: bool = False,
    transient: bool = False,
) -> Any:
    """A rich ``Progress``: description, bar, ``M/N``, then ``columns``, then elapsed and ETA.

    Args:
        columns: extra text columns in rich's template syntax (``"{task.fields[rate]}"``).
        console: where to draw (default: :func:`stderr_console`).
        enabled: ``False`` returns a :class:`NoProgress` and imports nothing.
        timing: show elapsed time and the estimated time remaining.
        eta_label: put the word ``ETA`` before the time remaining.
        transient: remove the bar when it finishes.
    """
    if not enabled:
        return NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    parts: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    parts += [TextColumn(c) for c in columns]
    if timing:
        parts.append(TimeElapsedColumn())
        if eta_label:
            parts.append(TextColumn("ETA"))
        parts.append(TimeRemainingColumn())
    return Progress(*parts, console=console or stderr_console(), transient=transient)


class ItemProgress:
    """``with ItemProgress(on, total, title) as advance: advance(name)``: one bar over named
    items (recordings, files), showing the current item's name; a no-op when ``on`` is false.

    Args:
        on: draw a bar.
        total: number of items.
        title: the bar's description; ``title: <name>`` while an item is being worked on.
        timing: show elapsed time and ETA.
        transient: remove the bar when done (otherwise it stays, showing ``title``).
    """

    def __init__(
        self, on: bool, total: int, title: str, timing: bool = True, transient: bool = False
    ) -> None:
        self.on, self.total, self.title = on, total, title
        self.timing, self.transient = timing, transient
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.on:
            return lambda name: None
        self.bar = progress_bar(timing=self.timing, transient=self.transient)
        self.bar.__enter__()
        task = self.bar.add_task(self.title, total=self.total)

        def advance(name: str) -> None:
            self.bar.update(task, advance=1, description=f"{self.title}: {name}")

        return advance

    def __exit__(self, *exc: Any) -> bool:
        if self.bar is not None:
            self.bar.update(self.bar.task_ids[0], description=self.title)
            self.bar.__exit__(*exc)
        return False


__all__ = ["ItemProgress", "NoProgress", "progress_bar", "stderr_console"]
