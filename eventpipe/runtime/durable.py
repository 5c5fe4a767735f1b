"""Durable writes: the one home of eventpipe's fsync and atomic-write helpers.

Two patterns, both crash-safe (a SIGKILL or a power cut leaves the old file or the new one,
never a torn one):

* **atomic small files** (:func:`atomic_write_bytes`, :func:`atomic_write_text`,
  :func:`atomic_write_json`): write a temporary file in the target's folder, flush, fsync, then
  ``os.replace`` it over the target. Used for trainer checkpoints, ``results.json`` and run
  summaries.
* **large files written in place, then committed** (the build, :mod:`eventpipe.build.commit`):
  the writer fills ``<target>.tmp-<pid>``, the build fsyncs it (:func:`fsync_path`, or
  :func:`fsync_fd` on a held-open descriptor from a background thread), renames it over the
  target and fsyncs the directory (:func:`fsync_path` on a directory) so the rename itself is
  durable.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_json(d / "r.json", {"acc": float("nan")})
>>> (d / "r.json").read_text()
'{\\n  "acc": null\\n}\\n'
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def fsync_fd(fd: int, drop: bool = False) -> None:
    """fsync an open file descriptor.

    Args:
        fd: an open file (or directory) descriptor.
        drop: then let the kernel drop the file's now clean page-cache pages
            (``POSIX_FADV_DONTNEED``; the build's drop-behind, see
            :class:`eventpipe.build.commit.BackgroundSync`). Ignored where unsupported.
    """
    os.fsync(fd)
    if drop and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def fsync_path(path: str | os.PathLike, drop: bool = False) -> None:
    """fsync a file, or a directory (its entries: makes a rename in it durable), by path.

    Args:
        path: the file or directory.
        drop: as for :func:`fsync_fd` (files only; a directory is only fsynced).

    Raises:
        OSError: ``path`` cannot be opened (e.g. it does not exist).
    """
    is_dir = Path(path).is_dir()
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if is_dir else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        fsync_fd(fd, drop=drop and not is_dir)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", **open_kw: Any) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on a clean exit flush, fsync and
    ``os.replace`` it over ``path``.

    The temporary file is ``.<name>.<random>.tmp`` in the target's folder (missing parent folders
    are created). On any error inside the block it is removed and the target left as it was.

    Args:
        path: the file to write.
        mode: ``"wb"`` or ``"w"`` (text; pass ``encoding=`` / ``newline=`` in ``open_kw``).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_file(target, "w", encoding="ascii") as fh:
    ...     _ = fh.write("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON (2 spaces, keys in insertion order, trailing newline),
    atomically. NaN floats are written as ``null``; numpy scalars and arrays as plain values."""
    atomic_write_text(path, json.dumps(_nan_to_none(obj), indent=2, sort_keys=False) + "\n")


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, np.generic):
        return _nan_to_none(obj.item())
    if isinstance(obj, np.ndarray):
        return _nan_to_none(obj.tolist())
    return obj


__all__ = [
    "atomic_file",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_fd",
    "fsync_path",
]
