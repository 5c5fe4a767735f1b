"""The project's own error types.

Every expected failure (bad input file, invalid profile, stale cache...) raises a subclass of
:class:`EventpipeError`. The CLI prints its message without a traceback and exits with status 2.
Messages name the file, the offset or row, and what was expected.
"""

from __future__ import annotations


class EventpipeError(Exception):
    """Base class of every error eventpipe raises on purpose."""


class FormatError(EventpipeError):
    """An event file is truncated, corrupt, or in an unsupported format."""


class TagError(EventpipeError):
    """A tag CSV breaks one of its rules (header, 19 rows, classes, index ranges)."""


class LayoutError(EventpipeError):
    """A raw directory is missing files, has unpaired or unexpected files."""


class ProfileError(EventpipeError):
    """A profile (YAML or override) has an unknown key, a wrong type or a value out of range."""


class CacheError(EventpipeError):
    """A cache file is missing, of another format/version, or does not hold what was asked."""
