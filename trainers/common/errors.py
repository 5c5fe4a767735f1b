"""The error a training run raises when it cannot start or continue.

It is an :class:`~eventpipe.errors.EventpipeError`, so ``python -m trainers.<method>`` prints it
as one ``error:`` line and exits with status 2 (:mod:`eventpipe.runtime.commands`).
"""

from __future__ import annotations

from eventpipe.errors import EventpipeError


class RunError(EventpipeError):
    """A run cannot start or continue (existing run folder, changed configuration, bad split)."""
