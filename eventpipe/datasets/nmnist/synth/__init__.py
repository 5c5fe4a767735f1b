"""A SYNTHETIC stand-in for N-MNIST, in the official layout and byte format.

Writes ``OUT/Train/<digit>/<n>.bin`` and ``OUT/Test/<digit>/<n>.bin`` (5-byte records,
:func:`eventpipe.io.nmnist.write_nmnist`) and ``OUT/manifest.json`` (``synthetic: true``, the
settings and totals). Each file is a digit glyph moved along N-MNIST's three saccades
(:mod:`.render`, :mod:`.glyphs`): 3000-5000 events over 315 ms, nondecreasing timestamps.

Scales (:data:`SCALES`, files per part): ``tiny`` 20 train + 10 test (tests), ``small`` 600 +
200 (the quick start, builds in seconds), ``full`` 60000 + 10000 (the archive's size). File
numbers are ``1..n`` per part; their classes are a seeded balanced permutation
(``default_rng([seed, part]).permutation(n) % 10``).

Everything is a pure function of ``(seed, scale)``: a digit folder's files are rendered in
chunks of :data:`CHUNK` files with generator ``default_rng([seed, part, digit, chunk])``, so
they do not depend on which other folders are written or on ``workers``.

>>> import tempfile
>>> res = generate_dataset(tempfile.mkdtemp(), scale="tiny", seed=1, names=["test_3"])
>>> is_synthetic(res.out_dir), res.manifest["totals"]["samples"]
(True, 1)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from eventpipe.datasets import synthetic
from eventpipe.datasets.base import SynthResult
from eventpipe.datasets.nmnist.facts import SPLIT_DIRS, SPLITS, STEMS, parse_stem
from eventpipe.datasets.synthetic import read_manifest

#: bump when the bytes a (seed, scale) produces change
GENERATOR_VERSION = "1.0"
GENERATOR = "eventpipe.synth.nmnist"
MANIFEST = synthetic.MANIFEST
#: files per part of each scale
SCALES: dict[str, dict[str, int]] = {
    "tiny": {"train": 20, "test": 10},
    "small": {"train": 600, "test": 200},
    "full": {"train": 60000, "test": 10000},
}
#: files rendered together (one generator per chunk)
CHUNK = 64


def file_numbers(split: str, digit: int, scale: str, seed: int) -> np.ndarray:
    """The file numbers (1-based, ascending) of one digit folder at ``scale``."""
    n = _sizes(scale)[split]
    labels = np.random.default_rng([seed, SPLITS.index(split)]).permutation(n) % 10
    return np.flatnonzero(labels == digit) + 1


def _sizes(scale: str) -> dict[str, int]:
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}") from None


def _names(names: Iterable[str] | None) -> tuple[str, ...]:
    if names is None:
        return STEMS
    chosen = set(names)
    unknown = sorted(chosen - set(STEMS))
    if unknown:
        raise ValueError(f"unknown recordings {unknown}; expected train_0..train_9, test_0..test_9")
    return tuple(s for s in STEMS if s in chosen)


def render_chunk(stem: str, chunk: int, scale: str, seed: int) -> tuple[np.ndarray, list]:
    """File numbers and events (EVENT_DTYPE arrays) of chunk ``chunk`` of a digit folder."""
    from eventpipe.datasets.nmnist.synth.render import render_batch

    split, digit = parse_stem(stem)
    numbers = file_numbers(split, digit, scale, seed)[chunk * CHUNK : (chunk + 1) * CHUNK]
    rng = np.random.default_rng([seed, SPLITS.index(split), digit, chunk])
    return numbers, render_batch(rng, np.full(len(numbers), digit))


def ground_truth(stem: str, scale: str = "small", seed: int = 0) -> dict[int, np.ndarray]:
    """Recompute one digit folder in memory: file number -> events, as the files hold them."""
    split, digit = parse_stem(stem)
    n = len(file_numbers(split, digit, scale, seed))
    out: dict[int, np.ndarray] = {}
    for chunk in range(-(-n // CHUNK)):
        numbers, events = render_chunk(stem, chunk, scale, seed)
        out.update((int(k), ev) for k, ev in zip(numbers, events, strict=True))
    return out


def _write_chunk(out_dir: Path, stem: str, chunk: int, scale: str, seed: int) -> dict[str, int]:
    """Render and write one chunk; returns its counts."""
    from eventpipe.io.nmnist import encode_nmnist

    split, digit = parse_stem(stem)
    folder = out_dir / SPLIT_DIRS[split] / str(digit)
    numbers, events = render_chunk(stem, chunk, scale, seed)
    n_bytes = 0
    for number, ev in zip(numbers, events, strict=True):
        data = encode_nmnist(ev)
        with open(folder / f"{number:05d}.bin", "wb") as fh:
            fh.write(data)
        n_bytes += len(data)
    return {"files": len(numbers), "events": sum(len(e) for e in events), "bytes": n_bytes}


def is_synthetic(raw_dir: str | os.PathLike) -> bool:
    """True when ``raw_dir`` holds (possibly incomplete) output of :func:`generate_dataset`."""
    return synthetic.is_generated_by(read_manifest(raw_dir), GENERATOR)


def _folders_full(out_dir: Path, manifest: dict) -> bool:
    """Every digit folder of ``manifest`` is there with its number of files."""
    for stem, entry in manifest.get("recordings", {}).items():
        split, digit = parse_stem(stem)
        folder = out_dir / SPLIT_DIRS[split] / str(digit)
        if not folder.is_dir() or len(os.listdir(folder)) != entry["files"]:
            return False
    return True


def _clear(out_dir: Path) -> None:
    """Remove the ``.bin`` files of an earlier synthetic run (its manifest is ours)."""
    for split in SPLITS:
        for digit in range(10):
            folder = out_dir / SPLIT_DIRS[split] / str(digit)
            if folder.is_dir():
                for name in os.listdir(folder):
                    if name.endswith(".bin"):
                        (folder / name).unlink()


def generate_dataset(
    out_dir: str | os.PathLike,
    scale: str = "small",
    seed: int = 0,
    names: Iterable[str] | None = None,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> SynthResult:
    """Write the synthetic N-MNIST into ``out_dir`` (official layout + ``manifest.json``).

    Args:
        out_dir: target folder (created): empty, or holding an earlier synthetic N-MNIST.
        scale: ``"tiny"``, ``"small"`` or ``"full"`` (:data:`SCALES`).
        seed: random seed; the same ``(seed, scale)`` gives byte-identical files.
        names: recordings (digit folders) to write, e.g. ``["train_3", "test_3"]``; None: all.
        force: rewrite even if up to date; replace synthetic data of other settings (never
            other data).
        workers: processes (default: the CPU count when there are 8 chunks or more, else 1).
        progress: show a progress bar over chunks.

    Returns:
        :class:`~eventpipe.datasets.base.SynthResult`.

    Raises:
        LayoutError: ``out_dir`` holds other data, or synthetic data of other settings.
        ValueError: unknown scale or recording name.
    """
    out_dir = Path(out_dir)
    _sizes(scale)
    chosen = _names(names)
    wanted = synthetic.settings(GENERATOR_VERSION, scale, seed, chosen)
    skip, old = synthetic.check_target(
        out_dir, GENERATOR, wanted, force, _folders_full, "synthetic N-MNIST"
    )
    if skip:
        assert old is not None
        return SynthResult(out_dir, False, old)
    design = {"files_per_split": SCALES[scale], "chunk": CHUNK}
    manifest = synthetic.new_manifest(GENERATOR, "nmnist", "N-MNIST", wanted, design)
    synthetic.start_manifest(out_dir, manifest)
    if old is not None:
        _clear(out_dir)
    for stem in chosen:
        split, digit = parse_stem(stem)
        (out_dir / SPLIT_DIRS[split] / str(digit)).mkdir(parents=True, exist_ok=True)
    entries = _write_all(out_dir, chosen, scale, int(seed), workers, progress)
    manifest = synthetic.finish_manifest(out_dir, manifest, entries, _totals(entries))
    return SynthResult(out_dir, True, manifest)


def _write_all(
    out_dir: Path, chosen: tuple[str, ...], scale: str, seed: int, workers: int | None, progress
) -> dict[str, dict[str, int]]:
    """Write every chunk of the chosen folders; per-folder totals."""
    tasks = []
    for stem in chosen:
        n = len(file_numbers(*parse_stem(stem), scale, seed))
        tasks += [(stem, c) for c in range(-(-n // CHUNK))]
    if workers is None:
        workers = 1 if len(tasks) < 8 else os.cpu_count() or 1
    entries = {s: {"files": 0, "events": 0, "bytes": 0} for s in chosen}
    stems = [stem for stem, _ in tasks]
    results = synthetic.run_tasks(
        _write_chunk,
        [(out_dir, s, c, scale, seed) for s, c in tasks],
        stems,
        workers,
        progress,
        f"synth nmnist ({scale}, seed {seed})",
    )
    for stem, res in zip(stems, results, strict=True):
        _add(entries[stem], res)
    return entries


def _add(entry: dict[str, int], res: dict[str, int]) -> None:
    for k, v in res.items():
        entry[k] += v


def _totals(entries: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Recordings, samples (files), events and bytes, in all and per part."""
    per = {
        split: {
            k: sum(e[k] for s, e in entries.items() if parse_stem(s)[0] == split)
            for k in ("files", "events", "bytes")
        }
        for split in SPLITS
    }
    return {
        "recordings": len(entries),
        "samples": sum(e["files"] for e in entries.values()),
        "events": sum(e["events"] for e in entries.values()),
        "bytes": sum(e["bytes"] for e in entries.values()),
        "splits": {s: {"samples": v["files"], "events": v["events"]} for s, v in per.items()},
    }


__all__ = [
    "CHUNK",
    "GENERATOR",
    "GENERATOR_VERSION",
    "MANIFEST",
    "SCALES",
    "file_numbers",
    "generate_dataset",
    "ground_truth",
    "is_synthetic",
    "read_manifest",
    "render_chunk",
]
