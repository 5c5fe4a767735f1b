"""What the synthetic generators of every dataset share: ``manifest.json`` and the writing loop.

Each generator (``eventpipe.datasets.<name>.synth``) writes ``OUT/manifest.json`` twice: first
with ``complete: false``, then with the entries, totals and ``complete: true``. A folder holds
synthetic data when its manifest says ``synthetic: true`` and names that generator. The checks
here keep a generator from writing over real data (never, not even with ``--force``) or over
synthetic data of other settings (only with ``--force``), and let it skip up-to-date output.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from eventpipe.errors import LayoutError
from eventpipe.report.progress import ItemProgress
from eventpipe.runtime.durable import atomic_write_text

MANIFEST = "manifest.json"
#: the settings that need ``--force`` to replace complete synthetic data made with others
SETTINGS = ("generator_version", "scale", "seed")

R = TypeVar("R")


def read_manifest(raw_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The ``manifest.json`` of ``raw_dir`` as a dict, or None if absent/unreadable."""
    try:
        data = json.loads((Path(raw_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sha256(path: Path) -> str:
    """sha256 (hex) of a written file, for its manifest entry."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def is_generated_by(manifest: dict[str, Any] | None, generator: str) -> bool:
    """True when ``manifest`` is a synthetic manifest written by ``generator``."""
    return bool(
        manifest and manifest.get("synthetic") is True and manifest.get("generator") == generator
    )


def write_manifest(path: Path, data: dict) -> None:
    """Write ``data`` as the manifest at ``path`` (atomically; sorted keys, one-space indent)."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def has_settings(manifest: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when ``manifest`` is complete and holds every ``wanted`` setting unchanged."""
    return bool(manifest.get("complete")) and all(manifest.get(k) == v for k, v in wanted.items())


def recordings_present(
    out_dir: Path,
    manifest: dict[str, Any],
    companion: str | None,
    file_key: str = "aedat",
    size_key: str = "aedat_bytes",
) -> bool:
    """True when every manifest entry's ``file_key`` file has its ``size_key`` size and its
    ``companion`` file (the entry key of its tags/labels CSV; None: no companion) exists."""
    for entry in manifest.get("recordings", {}).values():
        path = out_dir / entry[file_key]
        if not path.is_file() or path.stat().st_size != entry[size_key]:
            return False
        if companion is not None and not (out_dir / entry[companion]).is_file():
            return False
    return True


def settings(
    version: str, scale: str, seed: int, chosen: Sequence[str], key: str = "recordings_written"
) -> dict[str, Any]:
    """The settings a run writes into its manifest and compares with an earlier run's:
    ``generator_version``, ``scale``, ``seed`` and the ``chosen`` recordings under ``key``."""
    return {"generator_version": version, "scale": scale, "seed": int(seed), key: list(chosen)}


def check_out_dir(out_dir: Path) -> None:
    """Raise LayoutError when ``out_dir`` exists but is not a directory."""
    if out_dir.exists() and not out_dir.is_dir():
        raise LayoutError(f"{out_dir}: exists and is not a directory")


def refuse_real_data(out_dir: Path, present: Sequence[str]) -> None:
    """Raise LayoutError naming ``present``, the dataset files of a folder without our manifest."""
    if present:
        raise LayoutError(
            f"{out_dir}: holds data that is not synthetic ({', '.join(present)} without an "
            f"eventpipe {MANIFEST}); refusing to overwrite it, even with --force. Choose "
            "another --out, or move that data away yourself."
        )


def check_synthetic(
    out_dir: Path,
    old: dict[str, Any],
    wanted: dict[str, Any],
    force: bool,
    up_to_date: bool,
    what: str = "synthetic data",
) -> tuple[bool, dict[str, Any]]:
    """(skip, old) for a folder that holds our synthetic output with manifest ``old``.

    Skips when ``up_to_date`` (the folder has every file of ``old``) and not ``force``; raises
    LayoutError when ``old`` is complete with other :data:`SETTINGS` and not ``force`` (``what``
    names the data in the message).
    """
    if up_to_date and not force:
        return True, old
    if old.get("complete") and not force and any(old.get(k) != wanted[k] for k in SETTINGS):
        have = ", ".join(f"{k} {old.get(k)!r}" for k in SETTINGS)
        raise LayoutError(
            f"{out_dir}: already holds {what} of other settings ({have}); pass "
            "--force to replace it"
        )
    return False, old


def check_target(
    out_dir: Path,
    generator: str,
    wanted: dict[str, Any],
    force: bool,
    files_ok: Callable[[Path, dict[str, Any]], bool],
    what: str,
    *,
    real: Sequence[str] = (),
    advice: str = " Choose another --out.",
) -> tuple[bool, dict[str, Any] | None]:
    """(skip, old manifest) for a generator that writes into an empty folder or its own output.

    A folder without a manifest must be empty (hidden entries aside); the names of ``real``
    (the dataset's own files) found there are refused first as real data. A manifest of another
    generator is refused. Over our own output, :func:`check_synthetic` decides; it is up to date
    when the settings are ``wanted`` and ``files_ok(out_dir, old)``. ``advice`` ends the
    refusals' messages.
    """
    check_out_dir(out_dir)
    old = read_manifest(out_dir) if out_dir.is_dir() else None
    if old is None:
        entries = out_dir.iterdir() if out_dir.is_dir() else ()
        present = sorted(e.name for e in entries if not e.name.startswith("."))
        refuse_real_data(out_dir, [p for p in present if p in real])
        if present:
            raise LayoutError(
                f"{out_dir}: not empty ({', '.join(present[:4])}) and holds no eventpipe "
                f"{MANIFEST}; refusing to write into it, even with --force{advice}"
            )
        return False, None
    if not is_generated_by(old, generator):
        raise LayoutError(
            f"{out_dir}: holds other data ({MANIFEST} of generator {old.get('generator')!r}); "
            f"refusing to overwrite it, even with --force{advice}"
        )
    up_to_date = has_settings(old, wanted) and files_ok(out_dir, old)
    return check_synthetic(out_dir, old, wanted, force, up_to_date, what)


def new_manifest(
    generator: str, dataset: str, title: str, wanted: dict[str, Any], design: dict[str, Any]
) -> dict[str, Any]:
    """The manifest written before the files (``complete: false`` until they are).

    ``title`` names the real dataset in its note; ``wanted`` holds the settings.
    """
    import numpy as np

    from eventpipe import __version__

    return {
        "synthetic": True,
        "complete": False,
        "generator": generator,
        "dataset": dataset,
        "note": (
            f"SYNTHETIC stand-in for {title} generated by eventpipe; not real recordings. "
            "Results on it say nothing about the real dataset."
        ),
        "eventpipe_version": __version__,
        "numpy_version": np.__version__,
        **wanted,
        "design": design,
        "recordings": {},
    }


def start_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Create ``out_dir`` and write its ``complete: false`` manifest, before any data file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(out_dir / MANIFEST, manifest)


def finish_manifest(
    out_dir: Path, manifest: dict[str, Any], entries: dict[str, Any], totals: dict[str, Any]
) -> dict[str, Any]:
    """Add the recordings' ``entries`` and ``totals``, mark complete, write; the manifest."""
    manifest.update(recordings=entries, totals=totals, complete=True)
    write_manifest(out_dir / MANIFEST, manifest)
    return manifest


def remove_stale(
    out_dir: Path, old: dict[str, Any] | None, chosen: Iterable[str], keys: Sequence[str]
) -> None:
    """Delete the files (manifest entry ``keys``) of old recordings this run does not rewrite."""
    chosen = set(chosen)
    for stem, entry in (old or {}).get("recordings", {}).items():
        if stem not in chosen:
            for key in keys:
                (out_dir / entry[key]).unlink(missing_ok=True)


def run_tasks(
    fn: Callable[..., R],
    tasks: Sequence[tuple],
    names: Sequence[str],
    workers: int,
    progress: bool,
    label: str,
) -> list[R]:
    """``[fn(*task) for task in tasks]``, in-process or in a pool of ``workers`` processes.

    The progress bar (``label``) advances once per task, naming ``names[i]``; the results come
    in task order either way.
    """
    results: list[R] = []
    with ItemProgress(progress, len(tasks), label) as advance:
        if workers <= 1:
            for name, task in zip(names, tasks, strict=True):
                results.append(fn(*task))
                advance(name)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(fn, *task) for task in tasks]
                for name, fut in zip(names, futures, strict=True):
                    results.append(fut.result())
                    advance(name)
    return results


__all__ = [
    "MANIFEST",
    "SETTINGS",
    "check_out_dir",
    "check_synthetic",
    "check_target",
    "finish_manifest",
    "has_settings",
    "is_generated_by",
    "new_manifest",
    "read_manifest",
    "recordings_present",
    "refuse_real_data",
    "remove_stale",
    "run_tasks",
    "settings",
    "sha256",
    "start_manifest",
    "write_manifest",
]
