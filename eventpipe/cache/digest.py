"""Source identity of a build: names, sizes and sha256 of the input files.

The digest is stored as the cache's ``source`` attribute (JSON)::

    {"digest": "<sha256 over the sorted (name, size, sha256) lines>",
     "files": [{"name": "allusers_aedat/user00_indoor.aedat", "size": 123, "mtime_ns": ...,
                "sha256": "..."}, ...],
     "n_files": 118}

Files are hashed with :mod:`hashlib`, read in 256 KiB pieces into one reused buffer per
thread (it stays in the CPU cache), in a thread pool (reading and hashing release the GIL):
the 859 MB of the full-scale synthetic release cost ~0.6 CPU-s on the 2-core CI machine.
Small files (a 16 KB N-MNIST sample) are hashed one after the other in the calling thread
instead: a pool task per file cost more than the hash (70,000 N-MNIST files: 10 s in a 2-thread
pool, 2.9 s serially, on the 2-core AMD EPYC machine). Hashing
a memory map of the file instead costs ~20% more CPU there (0.36 vs 0.29 CPU-s for 410 MB of
it: page faults, and sha256 reading cold memory at 1.1-1.2 GB/s vs 1.8 GB/s from the cache).
``mtime_ns`` is recorded but is *not* part of the identity: a rebuild check first compares
``(name, size, mtime_ns)`` with the stored digest and re-hashes only the files where one of
those changed (see :func:`source_digest` with ``previous``); a file that was only touched
therefore still counts as unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

#: bytes read and hashed at a time (fits the L2 cache)
_PIECE = 1 << 18
#: files below this size are hashed serially in one read (see module docstring)
_SMALL = 1 << 20
_buffers = threading.local()


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file's bytes (read piece by piece into this thread's buffer)."""
    buf = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(_PIECE)
    view = memoryview(buf)
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _sha256_small(path: Path) -> str:
    """sha256 (hex) of a small file, read in one call."""
    with open(path, "rb", buffering=0) as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _relative_name(path: Path, root: Path, root_resolved: Path) -> str:
    """``path`` relative to ``root`` (posix), lexically when it lies under ``root``.

    Resolving every path costs a ``readlink`` per component (2.5 s for 10,000 N-MNIST files);
    only a path outside ``root`` as written is resolved. A path outside ``root`` even when
    resolved keeps just its file name.
    """
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        pass
    try:
        return path.resolve().relative_to(root_resolved).as_posix()
    except ValueError:
        return path.name


def _combine(files: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["name"]):
        h.update(f"{f['name']}\t{f['size']}\t{f['sha256']}\n".encode())
    return h.hexdigest()


def source_digest(
    paths: Iterable[str | os.PathLike],
    root: str | os.PathLike,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Digest of input files (names relative to ``root``).

    Args:
        paths: the input files (e.g. every ``.aedat`` and tag ``.csv`` of the build).
        root: names are stored relative to this directory (posix separators).
        previous: a digest from an earlier build; files whose ``(name, size, mtime_ns)`` are
            unchanged reuse its sha256 instead of being hashed again.

    Returns:
        ``{"digest", "files", "n_files"}`` (see module docstring).
    """
    root = Path(root)
    root_resolved = root.resolve()
    known = {}
    if previous:
        known = {f["name"]: f for f in previous.get("files", [])}
    entries = []
    for p in paths:
        p = Path(p)
        st = p.stat()
        name = _relative_name(p, root, root_resolved)
        old = known.get(name)
        reuse = old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns
        entries.append((p, name, st, old["sha256"] if reuse else None))
    todo = [(e[0], e[2].st_size) for e in entries if e[3] is None]
    large = [p for p, size in todo if size >= _SMALL]
    hashes = {p: _sha256_small(p) for p, size in todo if size < _SMALL}
    # hashlib releases the GIL while hashing large buffers: threads use every core
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        hashes.update(zip(large, pool.map(sha256_file, large)))
    files = [
        {"name": name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha or hashes[p]}
        for p, name, st, sha in entries
    ]
    files.sort(key=lambda f: f["name"])
    return {"digest": _combine(files), "files": files, "n_files": len(files)}


def digest_to_json(digest: dict[str, Any]) -> str:
    """Serialise a digest for the ``source`` attribute."""
    return json.dumps(digest, sort_keys=True, separators=(",", ":"))


__all__ = ["digest_to_json", "sha256_file", "source_digest"]
