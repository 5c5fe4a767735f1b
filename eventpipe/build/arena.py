"""One buffer for the large arrays of a recording result, optionally in shared memory.

A build task (:func:`eventpipe.build.stages.process_recording`) knows, once its samples went through
the events stage, an upper bound for every output column (events: exactly; sparse view entries:
at most one per event). It allocates all of them in one :class:`Arena` and the kernels write
into it directly, so no per-sample pieces are concatenated afterwards.

With ``directory`` (a tmpfs such as ``/dev/shm``) the buffer is a file mapped into the worker:
pickling the arena sends only its path and layout, and unpickling (in the writing process) maps
the same pages and unlinks the file, so the data is never serialised, sent through a pipe and
copied again (measured on 8 full-scale recordings, 268 MB of results: 0.37 CPU-s to pickle and
0.33 to send in the worker, 0.34 to receive and 0.12 to unpickle in the parent). Without it, the
arena is ordinary memory and pickles as plain arrays (remote dask workers, in-process builds).

Files are named ``eventpipe-build-<owner pid>-...``; :func:`clean_stale` removes those of dead
owners (a build killed before it received a result), :func:`clean_owned` those of the current
process.

Recycling (``recycle=True``, what the local build uses): the receiver keeps the file instead of
unlinking it and, once it no longer reads the arrays, :meth:`_Received.release` renames it to
``eventpipe-build-<owner pid>-free-...``; the next task's arena claims such a file (an atomic
rename) instead of creating one. tmpfs then hands out pages that already exist: a new file costs
a page allocation and zeroing per 4 KiB page on first touch (~600 k page faults, 1-3 CPU-s of
kernel time for the ~2.4 GB a full-scale build moves), a reused one a minor fault (measured on
256 MiB: 0.12-0.38 s first touch of a new file, 0.07 s of a reused one).
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import uuid
from pathlib import Path

import numpy as np

from eventpipe.runtime.platform import populate_pages

#: where build workers put their results for the writing process (tmpfs), if usable
SHM_DIR = "/dev/shm"
#: set to "0" to send results through the pipe (pickled) instead of shared memory
SHM_ENV = "EVENTPIPE_BUILD_SHM"
PREFIX = "eventpipe-build-"
#: name part of a released file that the next arena of the same owner may reuse
FREE = "free-"
_ALIGN = 64


def shm_dir() -> str | None:
    """The shared-memory directory to use, or None (disabled, missing or not writable)."""
    if os.environ.get(SHM_ENV, "1") == "0":
        return None
    d = SHM_DIR
    if os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
        return d
    return None


def _free_bytes(directory: str) -> int:
    try:
        st = os.statvfs(directory)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


class Arena:
    """Named 1-D arrays carved out of one buffer.

    Args:
        columns: name -> (dtype, capacity in elements).
        directory: put the buffer in a new file there (shared memory) when it has room for
            twice the buffer; else (or None) in process memory.
        owner: pid in the file name (the process that will receive and unlink it).
        recycle: reuse a released file of the same owner if there is one, and have the
            receiver keep the file for :meth:`_Received.release` instead of unlinking it.
    """

    def __init__(
        self,
        columns: dict[str, tuple[np.dtype | str, int]],
        directory: str | None = None,
        owner: int | None = None,
        recycle: bool = False,
    ) -> None:
        self.layout, pos = _layout(columns)
        self.nbytes = pos
        self.path: str | None = None
        self.recycle = bool(recycle)
        self._mm: mmap.mmap | None = None
        buf = None
        if directory is not None and pos > 0 and _free_bytes(directory) >= 2 * pos:
            who = owner or os.getppid()
            path = os.path.join(directory, f"{PREFIX}{who}-{uuid.uuid4().hex}")
            fd = _claim(directory, who, path) if recycle else -1
            if fd < 0:
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                except OSError:
                    fd = -1
            if fd >= 0:
                try:
                    size = os.fstat(fd).st_size
                    stretch = _stretched(columns, max(size, pos)) if recycle else None
                    if stretch is not None:
                        self.layout, pos = stretch
                    if size < pos:
                        os.ftruncate(fd, pos)
                    if recycle:
                        self._mm, fd = _mapping(fd, pos)
                    else:
                        self._mm = mmap.mmap(fd, pos)
                    self.path = path
                    buf = self._mm
                except OSError:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                finally:
                    if fd >= 0:
                        os.close(fd)
        if buf is None:
            buf = np.empty(pos, dtype=np.uint8)
        # the requested lengths (a stretched layout only moves where the columns start)
        self.lengths = {name: int(n) for name, (_, n) in columns.items()}
        self.arrays = {
            name: np.frombuffer(buf, dtype=dt, count=self.lengths[name], offset=off)
            for name, (off, dt, _) in self.layout.items()
        }

    @property
    def shared(self) -> bool:
        """Whether the buffer is a shared-memory file (pickles as a reference)."""
        return self.path is not None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def trim(self, name: str, n: int) -> np.ndarray:
        """Declare that only the first ``n`` elements of ``name`` are used; returns them."""
        self.lengths[name] = int(n)
        return self.arrays[name][:n]

    def used(self) -> dict[str, np.ndarray]:
        """The arrays, each trimmed to its used length."""
        return {name: a[: self.lengths[name]] for name, a in self.arrays.items()}

    def __reduce__(self):
        if self.path is None:
            return (_from_arrays, (self.used(),))
        return (_attach, (self.path, self.layout, self.lengths, self.recycle))


def _layout(
    columns: dict[str, tuple[np.dtype | str, int]], capacity: int | None = None
) -> tuple[dict[str, tuple[int, str, int]], int]:
    """``(name -> (byte offset, dtype str, capacity), total bytes)`` of columns laid out one
    after the other, each starting on a multiple of 64 bytes; ``capacity`` replaces every
    column's own."""
    layout = {}
    pos = 0
    for name, (dtype, n) in columns.items():
        dt = np.dtype(dtype)
        n = int(n) if capacity is None else capacity
        layout[name] = (pos, dt.str, n)
        pos += -(-n * dt.itemsize // _ALIGN) * _ALIGN
    return layout, pos


def _rounded_capacity(n: int) -> int:
    """``n`` rounded up to the grid ``2**(k / 4)`` (steps of 19%): files grow in a few steps."""
    if n <= 1:
        return n
    return max(n, math.ceil(2 ** (math.ceil(4 * math.log2(n)) / 4)))


def _stretched(
    columns: dict[str, tuple[np.dtype | str, int]], size: int
) -> tuple[dict[str, tuple[int, str, int]], int] | None:
    """``(layout, file size)`` of equally long ``columns`` stretched to fill a recycled file
    of at least ``size`` bytes (None if the columns differ in length).

    A build task's columns are all as long as its recording's raw event count, so the plain
    layout puts each column at an offset that changes with every recording, and a worker's
    kept mapping of the file (:func:`_mapping`) faults on pages it never wrote at those
    offsets (~200 k faults per full-scale build). The stretched layout depends on the file's
    size only (capacity ``(size - 64 * n_columns) // bytes per row``), so every task that
    reuses a file writes each column where the previous ones did, through page-table entries
    that exist. A file too small for the columns grows to exactly their capacity.
    """
    caps = {int(n) for _, n in columns.values()}
    if len(caps) != 1:
        return None
    per = sum(np.dtype(dt).itemsize for dt, _ in columns.values())
    room = _ALIGN * len(columns)
    size = max(size, _rounded_capacity(caps.pop()) * per + room)
    layout, end = _layout(columns, (size - room) // per if per else 0)
    assert end <= size
    return layout, size


class _Received:
    """The receiving side of an arena: the used arrays (views of the mapped file)."""

    def __init__(
        self, arrays: dict[str, np.ndarray], path: str | None = None, recyclable: bool = False
    ) -> None:
        self.arrays = arrays
        self.lengths = {k: len(v) for k, v in arrays.items()}
        self.path = path
        self.recyclable = recyclable

    shared = False

    def release(self) -> None:
        """Hand a recyclable file back for reuse (renamed ``...-free-...``); the arrays must not
        be read any more (the next task overwrites them). No-op otherwise or when repeated."""
        if not self.recyclable or self.path is None:
            return
        self.recyclable = False
        d = os.path.dirname(self.path)
        owner = _owner(Path(self.path))
        free = os.path.join(d, f"{PREFIX}{owner}-{FREE}{uuid.uuid4().hex}")
        try:
            os.rename(self.path, free)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def used(self) -> dict[str, np.ndarray]:
        return dict(self.arrays)

    def __reduce__(self):
        return (_from_arrays, (self.used(),))


def _from_arrays(arrays: dict[str, np.ndarray]) -> _Received:
    return _Received(arrays)


def _attach(path: str, layout: dict, lengths: dict, recycle: bool = False) -> _Received:
    """Map a worker's arena file read-only and unlink it (the mapping keeps the pages), or,
    for a recyclable arena, keep it until :meth:`_Received.release`."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            mm = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ) if size else None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    if not recycle:
        with contextlib.suppress(OSError):
            os.unlink(path)
    arrays = {}
    for name, (off, dt, _cap) in layout.items():
        n = lengths[name]
        if mm is not None and n:
            populate_pages(mm, off, n * np.dtype(dt).itemsize)
        arrays[name] = (
            np.frombuffer(mm, dtype=dt, count=n, offset=off) if mm is not None and n else
            np.zeros(0, dtype=dt)
        )  # fmt: skip
    return _Received(arrays, path, recyclable=recycle)


#: this (worker) process's mappings of recyclable files: (st_dev, st_ino) -> (open fd, mmap)
_MAPPED: dict[tuple[int, int], tuple[int, mmap.mmap]] = {}


def _mapping(fd: int, nbytes: int) -> tuple[mmap.mmap, int]:
    """A writable mapping of the whole file ``fd`` (at least ``nbytes``), kept across tasks.

    A recycled file comes back to the same worker again and again; mapped anew each time, every
    4 KiB page the task writes costs a page fault (~380 k per full-scale build). A kept mapping
    has its page-table entries from the earlier tasks. The entry keeps the file open, so its
    inode (the key) cannot be reused by another file while it exists. Takes ``fd`` over:
    returns the mapping and the fd the caller must still close (-1 if the entry keeps it).
    """
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    hit = _MAPPED.get(key)
    if hit is not None and len(hit[1]) >= nbytes:
        return hit[1], fd
    mm = mmap.mmap(fd, max(st.st_size, nbytes))
    if hit is not None:
        _drop(hit)
    _MAPPED[key] = (fd, mm)
    return mm, -1


def _drop(entry: tuple[int, mmap.mmap]) -> None:
    fd, mm = entry
    with contextlib.suppress(OSError):
        os.close(fd)
    with contextlib.suppress(BufferError):  # arrays still use it: unmapped when they go
        mm.close()


def forget_mappings() -> None:
    """Close this process's kept mappings of recyclable files."""
    while _MAPPED:
        _drop(_MAPPED.popitem()[1])


def _claim(directory: str, owner: int, path: str) -> int:
    """Rename a released file of ``owner`` to ``path`` and open it (largest first); -1 if none."""
    free = []
    for p in Path(directory).glob(f"{PREFIX}{owner}-{FREE}*"):
        with contextlib.suppress(OSError):
            st = p.stat()
            # a file this process has mapped already first (its pages are mapped here)
            free.append(((st.st_dev, st.st_ino) in _MAPPED, st.st_size, str(p)))
    for *_, p in sorted(free, reverse=True):
        try:
            os.rename(p, path)  # atomic: one claimer wins
        except OSError:
            continue
        try:
            return os.open(path, os.O_RDWR)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return -1


def _owner(path: Path) -> int | None:
    rest = path.name[len(PREFIX) :]
    pid = rest.split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def clean_stale(directory: str | None = None, alive=None) -> list[Path]:
    """Remove arena files whose owner process is dead; returns them."""
    directory = directory or shm_dir()
    if directory is None:
        return []
    removed = []
    for p in Path(directory).glob(f"{PREFIX}*"):
        pid = _owner(p)
        if pid is None or (alive or pid_alive)(pid):
            continue
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


def clean_owned(directory: str | None = None, owner: int | None = None) -> None:
    """Remove the arena files of ``owner`` (default: this process) not received yet."""
    forget_mappings()
    directory = directory or shm_dir()
    if directory is None:
        return
    for p in Path(directory).glob(f"{PREFIX}{owner or os.getpid()}-*"):
        with contextlib.suppress(OSError):
            p.unlink()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (ours included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["SHM_DIR", "SHM_ENV", "Arena", "clean_owned", "clean_stale", "shm_dir"]
