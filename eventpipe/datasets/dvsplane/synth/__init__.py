"""A SYNTHETIC stand-in for DVSPlane, in the archive's file format and naming.

Writes ``OUT/<class>_<n>.mat`` (a ``TD`` struct of ``n x 1`` double vectors, 1-based ``x, y``,
``p`` in {-1, 1}, ``ts`` in us; :func:`eventpipe.io.matlab_td.write_td_mat`) and
``OUT/manifest.json`` (``synthetic: true``, the settings and totals). Files are compressed MAT
v7 (MATLAB's default ``save``), except every file with ``n % 10 == 1`` (``F117_1``,
``F117_11``, ..., ``F117_161``...), which is MAT v7.3 (HDF5), so a build reads both layouts.
Each file is one airplane drop (:mod:`.render`, :mod:`.shapes`): a class outline falling
through the view with class-dependent speed and turn, plus sensor noise.

Scales (:data:`SCALE_NUMBERS`, file numbers per class): ``tiny`` 1-3 + 161 (16 files, tests),
``small`` 1-40 + 161-170 (200 files, the quick start), ``full`` 1-200 (the archive's 800).

Everything is a pure function of ``(stem, scale, seed)``: file ``<class>_<n>`` is rendered with
``numpy.random.default_rng([seed, class_id, n])``, whatever else is written and however many
``workers`` write.

>>> import tempfile
>>> res = generate_dataset(tempfile.mkdtemp(), scale="tiny", seed=1, names=["Su24_161"])
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
from eventpipe.datasets.dvsplane.facts import (
    CLASS_NAMES,
    N_PER_CLASS,
    SPLITS,
    STEMS,
    SUFFIX,
    class_id,
    parse_stem,
    split_of,
)
from eventpipe.datasets.synthetic import read_manifest

#: bump when the bytes a (stem, scale, seed) produces change
GENERATOR_VERSION = "1.0"
GENERATOR = "eventpipe.synth.dvsplane"
MANIFEST = synthetic.MANIFEST
#: file numbers (per class) each scale writes by default
SCALE_NUMBERS: dict[str, tuple[int, ...]] = {
    "tiny": (1, 2, 3, 161),
    "small": (*range(1, 41), *range(161, 171)),
    "full": tuple(range(1, N_PER_CLASS + 1)),
}


def mat_version_of(stem: str) -> str:
    """The MAT layout the stand-in writes for ``stem``: ``"7.3"`` when ``n % 10 == 1``."""
    return "7.3" if parse_stem(stem)[1] % 10 == 1 else "5"


def _check_scale(scale: str) -> None:
    if scale not in SCALE_NUMBERS:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALE_NUMBERS)}")


def _names(names: Iterable[str] | None, scale: str) -> tuple[str, ...]:
    if names is None:
        wanted = set(SCALE_NUMBERS[scale])
        return tuple(s for s in STEMS if parse_stem(s)[1] in wanted)
    chosen = set(names)
    unknown = sorted(chosen - set(STEMS))
    if unknown:
        raise ValueError(f"unknown recordings {unknown}; expected names such as F117_1 .. Su35_200")
    return tuple(s for s in STEMS if s in chosen)


def ground_truth(stem: str, scale: str = "small", seed: int = 0) -> np.ndarray:
    """Recompute one file's events in memory (0-based EVENT_DTYPE, as the file holds them)."""
    from eventpipe.datasets.dvsplane.synth.render import render_drop

    _check_scale(scale)
    cid = class_id(stem)
    rng = np.random.default_rng([seed, cid, parse_stem(stem)[1]])
    return render_drop(rng, cid, scale)


def _write_one(out_dir: Path, stem: str, scale: str, seed: int) -> dict[str, Any]:
    """Render and write one file; returns its manifest entry."""
    from eventpipe.io.matlab_td import write_td_mat

    events = ground_truth(stem, scale, seed)
    path = out_dir / f"{stem}{SUFFIX}"
    version = mat_version_of(stem)
    write_td_mat(path, events, version=version)
    return {
        "file": path.name,
        "mat_version": version,
        "events": len(events),
        "bytes": path.stat().st_size,
    }


def is_synthetic(raw_dir: str | os.PathLike) -> bool:
    """True when ``raw_dir`` holds (possibly incomplete) output of :func:`generate_dataset`."""
    return synthetic.is_generated_by(read_manifest(raw_dir), GENERATOR)


def _files_present(out_dir: Path, manifest: dict) -> bool:
    """Every file of ``manifest`` is there with its size."""
    return synthetic.recordings_present(out_dir, manifest, None, "file", "bytes")


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
    """Write the synthetic DVSPlane into ``out_dir`` (the archive's files + ``manifest.json``).

    Args:
        out_dir: target folder (created): empty, or holding an earlier synthetic DVSPlane.
        scale: ``"tiny"``, ``"small"`` or ``"full"`` (:data:`SCALE_NUMBERS`).
        seed: random seed; the same ``(seed, scale)`` gives the same events in every file.
        names: recordings to write (``["F117_1", "Su35_161"]``); None: the scale's files.
        force: rewrite even if up to date; replace synthetic data of other settings (never
            other data).
        workers: processes (default: the CPU count for 64 files or more, else 1).
        progress: show a progress bar over files.

    Returns:
        :class:`~eventpipe.datasets.base.SynthResult`.

    Raises:
        LayoutError: ``out_dir`` holds other data, or synthetic data of other settings.
        ValueError: unknown scale or recording name.
    """
    out_dir = Path(out_dir)
    _check_scale(scale)
    chosen = _names(names, scale)
    wanted = synthetic.settings(GENERATOR_VERSION, scale, seed, chosen)
    skip, old = synthetic.check_target(
        out_dir, GENERATOR, wanted, force, _files_present, "synthetic DVSPlane"
    )
    if skip:
        assert old is not None
        return SynthResult(out_dir, False, old)
    design = {"numbers_per_class": list(SCALE_NUMBERS[scale]), "v73": "n % 10 == 1"}
    manifest = synthetic.new_manifest(GENERATOR, "dvsplane", "DVSPlane", wanted, design)
    synthetic.start_manifest(out_dir, manifest)
    synthetic.remove_stale(out_dir, old, chosen, ("file",))
    if workers is None:
        workers = 1 if len(chosen) < 64 else os.cpu_count() or 1
    results = synthetic.run_tasks(
        _write_one,
        [(out_dir, s, scale, int(seed)) for s in chosen],
        chosen,
        workers,
        progress,
        f"synth dvsplane ({scale}, seed {seed})",
    )
    entries = dict(zip(chosen, results, strict=True))
    manifest = synthetic.finish_manifest(out_dir, manifest, entries, _totals(entries))
    return SynthResult(out_dir, True, manifest)


def _totals(entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Recordings, samples (files), events and bytes, in all, per part and per class."""
    per = {split: [e for s, e in entries.items() if split_of(s) == split] for split in SPLITS}
    return {
        "recordings": len(entries),
        "samples": len(entries),
        "events": sum(e["events"] for e in entries.values()),
        "bytes": sum(e["bytes"] for e in entries.values()),
        "splits": {
            s: {"samples": len(v), "events": sum(e["events"] for e in v)} for s, v in per.items()
        },
        "classes": {c: sum(1 for s in entries if parse_stem(s)[0] == c) for c in CLASS_NAMES},
        "mat_v73_files": sum(1 for e in entries.values() if e["mat_version"] == "7.3"),
    }


__all__ = [
    "GENERATOR",
    "GENERATOR_VERSION",
    "MANIFEST",
    "SCALE_NUMBERS",
    "generate_dataset",
    "ground_truth",
    "is_synthetic",
    "mat_version_of",
    "read_manifest",
]
