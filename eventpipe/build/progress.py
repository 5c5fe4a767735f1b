"""The build's progress bar, shown while the run step streams results; or nothing.

A quiet build does not import rich at all (~0.05 CPU-s). The bar itself is
:func:`eventpipe.report.progress.progress_bar`, with the build's own columns.
"""

from __future__ import annotations

from typing import Any

from eventpipe.report.progress import NoProgress, stderr_console
from eventpipe.report.progress import progress_bar as _bar


def make_console(enabled: bool, console: Any = None) -> Any:
    """``console``, or a new rich console on stderr when a bar is wanted and none is given."""
    if enabled and console is None:
        return stderr_console()
    return console


def progress_bar(console: Any, enabled: bool) -> Any:
    """A bar counting recordings, with a ``rate`` field (M raw events/s), elapsed time and ETA."""
    return _bar(
        "recordings", "{task.fields[rate]}", console=console, enabled=enabled, eta_label=True
    )


__all__ = ["NoProgress", "make_console", "progress_bar"]
