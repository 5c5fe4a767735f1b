"""The build's progress bar (rich), shown while the run step streams results; or nothing.

A quiet build does not import rich at all (~0.05 CPU-s).
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


def make_console(enabled: bool, console: Any = None) -> Any:
    """``console``, or a new rich console on stderr when a bar is wanted and none is given."""
    if enabled and console is None:
        from rich.console import Console

        return Console(stderr=True)
    return console


def progress_bar(console: Any, enabled: bool) -> Any:
    """A rich ``Progress`` counting recordings, with a ``rate`` field (M raw events/s), ETA."""
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

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("recordings"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


__all__ = ["NoProgress", "make_console", "progress_bar"]
