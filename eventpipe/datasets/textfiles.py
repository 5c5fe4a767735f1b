"""Reading a dataset's small text files (tag and label CSVs, trials lists) safely, one way.

A raw directory is user input: a "CSV" may be missing, a directory, a FIFO that never ends, a
multi-gigabyte file or binary data. :func:`read_small_text` reads at most ``max_bytes + 1``
bytes of a regular file and turns every such case into one error line naming the file.
"""

from __future__ import annotations

import stat
from pathlib import Path

from eventpipe.errors import EventpipeError, TagError


def read_small_text(
    path: Path,
    *,
    max_bytes: int,
    what: str,
    expected: str,
    error: type[EventpipeError] = TagError,
    missing: str | None = None,
) -> str:
    """The UTF-8 text (BOM dropped) of a small regular file.

    Args:
        path: the file.
        max_bytes: the largest size accepted.
        what: the file's kind for the not-found message (``"tag file"``).
        expected: what the file should be, ending the other messages (``"a tag CSV"``).
        error: the exception raised (``TagError``, ``LayoutError``).
        missing: the whole message for a missing file (default ``"<path>: <what> not found"``).

    Raises:
        ``error``: missing, unreadable, not a regular file (a FIFO would block), larger than
        ``max_bytes`` (also when it grew after the size check), or not UTF-8.
    """
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: cannot read: not a regular file; expected {expected}")
        if st.st_size > max_bytes:
            raise error(
                f"{path}: {st.st_size} bytes; expected {expected} (at most {max_bytes} bytes)"
            )
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(missing or f"{path}: {what} not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:  # grew since stat
        raise error(f"{path}: more than {max_bytes} bytes; expected {expected}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); expected {expected}") from None


__all__ = ["read_small_text"]
