"""Source identity of a build: names, sizes and sha256 of the input files.

The digest is stored as the cache's ``source`` attribute (JSON)::

    {"digest": "<sha256 over the sorted (name, size, sha256) lines>",
     "files": [{"name": "allusers_aedat/user00_indoor.aedat", "size": 123, "mtime_ns": ...,
                "sha256": "..."}, ...],
     "n_files": 118}

Files are hashed with :mod:`hashlib`, read in 256 KiB pieces into one reused buffer per
thread (it stays in the CPU cache), in a thread pool (reading and hashing release the GIL):
the 859 MB of the full-scale synthetic release cost ~0.6 CPU-s on the 2-core CI machine.
Small files (a 16 KB N-MNIST sample) are hashed in one share per thread instead of a task each
(:func:`_hash_small`). Hashing a memory map of the file instead costs ~20% more CPU there (0.36
vs 0.29 CPU-s for 410 MB of it: page faults, and sha256 reading cold memory at 1.1-1.2 GB/s vs
1.8 GB/s from the cache).
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
from pathlib import Path, PurePath
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


def _sha256_small(path: str) -> str:
    """sha256 (hex) of a small file, read in one call."""
    with open(path, "rb", buffering=0) as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _sha256_many(paths: list[str]) -> list[str]:
    """:func:`_sha256_small` of each path, in order (one thread's share of the small files)."""
    return [_sha256_small(p) for p in paths]


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


def _names(paths: list[str | os.PathLike], root: Path) -> list[tuple[str, str]]:
    """``(path as a string, name relative to root)`` of each path.

    A :class:`~pathlib.Path` under ``root`` as written (what the dataset layouts return) takes
    a string prefix test (its ``str`` is already normal); anything else goes through
    :func:`_relative_name`. Building ``Path`` objects cost ~45 us per file: 3 s of a 70,000-file
    N-MNIST digest on the 2-core AMD EPYC machine.
    """
    prefix = f"{root}/" if str(root) not in (".", "") and os.sep == "/" else None
    root_resolved = root.resolve()
    out = []
    for p in paths:
        s = str(p) if isinstance(p, PurePath) else None
        if prefix is not None and s is not None and s.startswith(prefix):
            out.append((s, s[len(prefix) :]))
            continue
        path = Path(p)
        out.append((str(path), _relative_name(path, root, root_resolved)))
    return out


def _hash_small(paths: list[str], pool: ThreadPoolExecutor, threads: int) -> list[str]:
    """sha256 of many small files: each thread hashes a contiguous share one after the other.

    A pool task per file cost more than the hash (70,000 N-MNIST files: 10 s in a 2-thread
    pool, 2.9 s serially, on the 2-core AMD EPYC machine); a share per thread overlaps the
    reads and hashes (both release the GIL) without that cost.
    """
    if len(paths) < 64 or threads == 1:
        return _sha256_many(paths)
    step = -(-len(paths) // threads)
    shares = [paths[i : i + step] for i in range(0, len(paths), step)]
    return [h for part in pool.map(_sha256_many, shares) for h in part]


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
    known = {}
    if previous:
        known = {f["name"]: f for f in previous.get("files", [])}
    entries = []
    for s, name in _names(list(paths), root):
        st = os.stat(s)
        old = known.get(name)
        reuse = old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns
        entries.append((s, name, st, old["sha256"] if reuse else None))
    todo = [(e[0], e[2].st_size) for e in entries if e[3] is None]
    large = [p for p, size in todo if size >= _SMALL]
    small = [p for p, size in todo if size < _SMALL]
    # hashlib releases the GIL while hashing large buffers: threads use every core
    threads = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        hashes = dict(zip(small, _hash_small(small, pool, threads), strict=True))
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
