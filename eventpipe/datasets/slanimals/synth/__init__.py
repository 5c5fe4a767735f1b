"""A deterministic synthetic stand-in for SL-Animals-DVS, in the published on-disk layout.

The real recordings cannot be downloaded on every machine, so ``generate`` writes 59 recordings
with the same names, format and structure (AEDAT 2.0 bytes like jAER writes them for a DVS128,
tag CSVs with event indices, group lighting differences, device-clock offsets and a 32-bit wrap)
so that every command runs on a fresh machine, and real data is a drop-in replacement::

    OUT/allusers_aedat/<stem>.aedat            59 recordings, 19 signs each
    OUT/tags_updated_19_08_2020/<stem>.csv     class,startTime_ev,endTime_ev (19 rows)
    OUT/manifest.json                          {"synthetic": true, generator, scale, seed, ...}

Each of the 19 classes is a distinct two-arm motion (see
:mod:`eventpipe.datasets.slanimals.synth.gestures`); events come from the moving edges of hands,
forearms and the body (:mod:`eventpipe.datasets.slanimals.synth.render`),
plus per-group sensor noise: S3 neon flicker at 100 Hz, S4 strong background activity and hot
pixels, S1 a keystone warp for the higher lens angle. Sample lengths follow the published
statistics (:mod:`eventpipe.datasets.slanimals.synth.design`). Scales change only the event rates.

Everything is a pure function of ``(stem, scale, seed)``: the same call writes byte-identical
files (same numpy version and platform); :func:`ground_truth` recomputes one recording in memory.

>>> import tempfile
>>> out = generate(tempfile.mkdtemp(), scale="tiny", seed=1, stems=["user25_imse"])
>>> is_synthetic(out), read_manifest(out)["scale"]
(True, 'tiny')
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from eventpipe import __version__
from eventpipe.datasets import synthetic
from eventpipe.datasets.base import SynthResult
from eventpipe.datasets.slanimals.facts import STEMS
from eventpipe.datasets.slanimals.synth.design import (
    TARGET_MAX_MS,
    TARGET_MEAN_MS,
    TARGET_MIN_MS,
    TARGET_STD_MS,
    WRAP_STEMS,
    RecordingDesign,
    design_recording,
)
from eventpipe.datasets.slanimals.synth.render import SCALES, Scale, render_recording
from eventpipe.datasets.synthetic import read_manifest
from eventpipe.events import EVENT_DTYPE

#: bump when the bytes a (stem, scale, seed) produces change (the newest of SCALE_VERSIONS)
GENERATOR_VERSION = "1.1"
#: the version each scale's bytes were last changed in: 1.1 added per-pixel bursts to ``small``
#: and ``full``; ``tiny`` (the test suite's golden caches) still writes the bytes of 1.0
SCALE_VERSIONS = {"tiny": "1.0", "small": "1.1", "full": "1.1"}
GENERATOR = "eventpipe.synth"  # the manifest's generator id (kept stable for existing raw folders)
MANIFEST = synthetic.MANIFEST
AEDAT_DIR, TAGS_DIR = "allusers_aedat", "tags_updated_19_08_2020"
#: folders whose presence without a synthetic manifest means "real data: do not touch"
_DATA_DIRS = (AEDAT_DIR, TAGS_DIR, "recordings", "tags")

_TAGS_DTYPE = np.dtype([("class_id", "<i2"), ("start", "<i8"), ("end", "<i8")])


def _scale(scale: str | Scale) -> Scale:
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}") from None


def _version(scale: str) -> str:
    """The generator version of ``scale``'s bytes (:data:`SCALE_VERSIONS`)."""
    return SCALE_VERSIONS.get(scale, GENERATOR_VERSION)


def _scale_settings(sc: Scale) -> dict[str, Any]:
    """The scale's settings for the manifest; the burst settings only where bursts are on
    (so a ``tiny`` manifest is that of generator 1.0)."""
    out = {k: getattr(sc, k) for k in sc.__dataclass_fields__}
    if sc.burst == 1.0:
        del out["burst"], out["burst_gap_ms"]
    return out


def _stems(stems: Iterable[str] | None) -> tuple[str, ...]:
    if stems is None:
        return STEMS
    stems = list(dict.fromkeys(stems))
    unknown = [s for s in stems if s not in STEMS]
    if unknown:
        raise ValueError(
            f"unknown stems {unknown}; expected names from eventpipe.datasets.slanimals.facts.STEMS"
        )
    return tuple(s for s in STEMS if s in stems)


def header_lines(design: RecordingDesign, scale: str) -> list[str]:
    """AEDAT 2.0 header lines after ``#!AER-DAT2.0`` (jAER's wording, plus a SYNTHETIC label)."""
    return [
        " This is a raw AE data file - do not edit",
        " Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event",
        " Timestamps tick is 1 us",
        f" created {design.created}",
        " HardwareInterface: DVS128-V1 SYNTHETIC",
        " AEChip: ch.unizh.ini.jaer.chip.retina.DVS128",
        f" SYNTHETIC recording: {GENERATOR} {_version(scale)}, scale={scale}, "
        f"seed={design.seed}; not SL-Animals-DVS data",
    ]


def ground_truth(stem: str, scale: str = "small", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Recompute one synthetic recording in memory, exactly as :func:`generate` writes it.

    Returns:
        events: ``[n]`` :data:`~eventpipe.events.EVENT_DTYPE` in file order, as
            ``eventpipe.io.read_events`` returns them (published orientation, ``t`` in us on the
            unwrapped device clock).
        tags: ``[19]`` tag rows (``class_id`` 0-based, ``start``, ``end`` exclusive), in file
            order, dtype ``eventpipe.io.TAGS_DTYPE``.
    """
    design = design_recording(stem, seed)
    events, tags = render_recording(design, _scale(scale))
    out = np.zeros(len(tags), dtype=_TAGS_DTYPE)
    out["class_id"], out["start"], out["end"] = tags[:, 0], tags[:, 1], tags[:, 2]
    return events, out


def _write_recording(out_dir: Path, stem: str, scale: str, seed: int) -> dict[str, Any]:
    """Render and write one recording; returns its manifest entry."""
    from eventpipe.datasets.slanimals.tags import write_tags
    from eventpipe.io import write_aedat2

    design = design_recording(stem, seed)
    events, tags = ground_truth(stem, scale, seed)
    aedat = out_dir / AEDAT_DIR / f"{stem}.aedat"
    csv = out_dir / TAGS_DIR / f"{stem}.csv"
    write_aedat2(aedat, events, header_lines=header_lines(design, scale))
    write_tags(csv, tags)
    t = events["t"]
    lengths = t[tags["end"] - 1] - t[tags["start"]]
    return {
        "aedat": f"{AEDAT_DIR}/{stem}.aedat",
        "aedat_bytes": aedat.stat().st_size,
        "aedat_sha256": synthetic.sha256(aedat),
        "tags": f"{TAGS_DIR}/{stem}.csv",
        "tags_sha256": synthetic.sha256(csv),
        "group": design.group,
        "n_events": len(events),
        "duration_us": int(t[-1] - t[0]),
        "offset_us": int(t[0]),
        "wraps": bool(t[-1] >= 2**32),
        "sample_lengths_us": [int(v) for v in lengths],
    }


def is_synthetic(raw_dir: str | os.PathLike) -> bool:
    """True when ``raw_dir`` holds (possibly incomplete) output of :func:`generate`."""
    return synthetic.is_generated_by(read_manifest(raw_dir), GENERATOR)


def _up_to_date(out_dir: Path, manifest: dict, wanted: dict) -> bool:
    """The manifest is complete, of these settings, and every recording has its files."""
    return synthetic.has_settings(manifest, wanted) and synthetic.recordings_present(
        out_dir, manifest, "tags"
    )


def _check_target(out_dir: Path, wanted: dict, force: bool) -> tuple[bool, dict | None]:
    """(skip, old manifest). Raises LayoutError to protect real or different data."""
    synthetic.check_out_dir(out_dir)
    old = read_manifest(out_dir) if out_dir.is_dir() else None
    if old is None or not synthetic.is_generated_by(old, GENERATOR):
        if out_dir.is_dir():
            present = [
                d for d in _DATA_DIRS if (out_dir / d).is_dir() and any((out_dir / d).iterdir())
            ]
            present += [p.name for p in sorted(out_dir.glob("*.aedat"))[:3]]
            synthetic.refuse_real_data(out_dir, present)
        return False, None
    up_to_date = _up_to_date(out_dir, old, wanted)
    return synthetic.check_synthetic(out_dir, old, wanted, force, up_to_date)


def generate(
    out_dir: str | os.PathLike,
    scale: str = "small",
    seed: int = 0,
    stems: Iterable[str] | None = None,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> Path:
    """Write the synthetic dataset; see :func:`generate_dataset` (this returns its ``out_dir``)."""
    return generate_dataset(
        out_dir, scale, seed, stems, force=force, workers=workers, progress=progress
    ).out_dir


#: what :func:`generate_dataset` returns (``written`` is False when the data was up to date)
GenerateResult = SynthResult


def generate_dataset(
    out_dir: str | os.PathLike,
    scale: str = "small",
    seed: int = 0,
    stems: Iterable[str] | None = None,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> GenerateResult:
    """Write the synthetic dataset (release layout + ``manifest.json``) into ``out_dir``.

    Args:
        out_dir: target folder (created). It must be empty of dataset files, or hold the output
            of an earlier :func:`generate`.
        scale: ``"tiny"`` (test suite), ``"small"`` (quick start) or ``"full"`` (real DVS128
            event rates); see :data:`eventpipe.datasets.slanimals.synth.render.SCALES`.
        seed: random seed; the same ``(stem, scale, seed)`` gives byte-identical files.
        stems: a subset of :data:`~eventpipe.datasets.slanimals.facts.STEMS` (default: all 59).
            A stem's files
            do not depend on which other stems are generated.
        force: regenerate even if ``out_dir`` already holds this exact dataset, and replace
            synthetic data of other settings. Never overwrites non-synthetic data.
        workers: processes (default: the CPU count for 8 recordings or more, else 1).
        progress: show a rich progress bar over recordings.

    Returns:
        :class:`GenerateResult` (``out_dir``, ``written``, the manifest).

    Raises:
        LayoutError: ``out_dir`` holds non-synthetic recordings/tags, or synthetic data of other
            settings without ``force``.
        ValueError: unknown scale or stem.
    """
    out_dir = Path(out_dir)
    sc = _scale(scale)
    chosen = _stems(stems)
    wanted = synthetic.settings(_version(sc.name), sc.name, seed, chosen, "stems")
    skip, old = _check_target(out_dir, wanted, force)
    if skip:
        assert old is not None
        return GenerateResult(out_dir, False, old)
    (out_dir / AEDAT_DIR).mkdir(parents=True, exist_ok=True)
    (out_dir / TAGS_DIR).mkdir(parents=True, exist_ok=True)
    manifest = _new_manifest(sc, wanted, chosen)
    synthetic.start_manifest(out_dir, manifest)
    # remove files of an earlier synthetic run that this one does not rewrite
    synthetic.remove_stale(out_dir, old, chosen, ("aedat", "tags"))
    entries = _write_recordings(out_dir, chosen, sc.name, int(seed), workers, progress)
    manifest = synthetic.finish_manifest(out_dir, manifest, entries, _totals(entries))
    for leftover in (out_dir / AEDAT_DIR).glob("*.tmp"):
        leftover.unlink(missing_ok=True)
    return GenerateResult(out_dir, True, manifest)


def _new_manifest(sc: Scale, wanted: dict, chosen: tuple[str, ...]) -> dict[str, Any]:
    """The manifest written before the recordings (``complete: false`` until they are)."""
    return {
        "synthetic": True,
        "complete": False,
        "generator": GENERATOR,
        "note": (
            "SYNTHETIC stand-in for SL-Animals-DVS generated by eventpipe; not real recordings. "
            "Results on it say nothing about the real dataset."
        ),
        "eventpipe_version": __version__,
        "numpy_version": np.__version__,
        **wanted,
        "event_dtype": str(EVENT_DTYPE.descr),
        "design": {
            "sample_length_ms": {
                "min_at_least": TARGET_MIN_MS,
                "max_at_most": TARGET_MAX_MS,
                "mean": TARGET_MEAN_MS,
                "std": TARGET_STD_MS,
            },
            "wrap_stems": [s for s in WRAP_STEMS if s in chosen],
            "scale": _scale_settings(sc),
        },
        "recordings": {},
    }


def _write_recordings(
    out_dir: Path,
    chosen: tuple[str, ...],
    scale: str,
    seed: int,
    workers: int | None,
    progress: bool,
) -> dict[str, dict]:
    """Write each chosen recording (in-process or in a process pool); their manifest entries."""
    if workers is None:
        workers = 1 if len(chosen) < 8 else min(len(chosen), os.cpu_count() or 1)
    tasks = [(out_dir, stem, scale, seed) for stem in chosen]
    label = f"synth ({scale}, seed {seed})"
    results = synthetic.run_tasks(_write_recording, tasks, chosen, workers, progress, label)
    return dict(zip(chosen, results, strict=True))


def _totals(entries: dict[str, dict]) -> dict[str, Any]:
    """Recordings, samples, events, bytes and sample-length statistics (ms) of the entries."""
    lengths = np.array([v for e in entries.values() for v in e["sample_lengths_us"]]) / 1000.0
    return {
        "recordings": len(entries),
        "samples": len(lengths),
        "events": int(sum(e["n_events"] for e in entries.values())),
        "bytes": int(sum(e["aedat_bytes"] for e in entries.values())),
        "sample_length_ms": {
            "min": round(float(lengths.min()), 3),
            "mean": round(float(lengths.mean()), 3),
            "std": round(float(lengths.std()), 3),
            "max": round(float(lengths.max()), 3),
        },
    }


__all__ = [
    "AEDAT_DIR",
    "GENERATOR_VERSION",
    "MANIFEST",
    "SCALES",
    "SCALE_VERSIONS",
    "TAGS_DIR",
    "WRAP_STEMS",
    "GenerateResult",
    "generate",
    "generate_dataset",
    "ground_truth",
    "header_lines",
    "is_synthetic",
    "read_manifest",
]
