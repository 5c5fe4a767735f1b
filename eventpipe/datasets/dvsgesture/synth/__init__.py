"""A deterministic synthetic stand-in for DVS128 Gesture, in the archive's on-disk layout.

``generate_dataset`` writes what ``DvsGesture.tar.gz`` unpacks to, for the chosen recordings::

    OUT/DvsGesture/userNN_<lighting>.aedat         AEDAT 3.1 (cAER-like header, polarity packets)
    OUT/DvsGesture/userNN_<lighting>_labels.csv    class,startTime_usec,endTime_usec (12 rows)
    OUT/DvsGesture/trials_to_train.txt, trials_to_test.txt   the chosen recordings, official split
    OUT/manifest.json                              {"synthetic": true, generator, scale, seed, ...}

Scales (:data:`SCALE_RECORDINGS`): ``tiny`` = 3 recordings (tests), ``small`` = users 1-3 and
24, 26 (22 recordings, the quick start), ``full`` = the 122 official recordings. Event rates
grow with the scale (:data:`~eventpipe.datasets.dvsgesture.synth.render.SCALES`; ``full`` is
about 9k events/s, a fraction of the real sensor's rate). Gestures are blob motions per class
(:mod:`.motion`), events come from moving edges plus sensor noise (:mod:`.render`), and the
schedule of 12 windows per recording from :mod:`.design`. ``user02_lab`` and ``user26_lab``
cross ``t = 2**31 us`` (an ``eventTSOverflow`` step) inside their third window.

Everything is a pure function of ``(stem, scale, seed)``: the same call writes byte-identical
files; a recording does not depend on which others are written.

>>> import tempfile
>>> res = generate_dataset(tempfile.mkdtemp(), "tiny", names=["user01_natural"])
>>> is_synthetic(res.out_dir), res.manifest["totals"]["samples"]
(True, 12)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from eventpipe.datasets import synthetic
from eventpipe.datasets.base import SynthResult
from eventpipe.datasets.dvsgesture.facts import RECORDINGS, TRIALS_FILES, official_split
from eventpipe.datasets.dvsgesture.layout import ARCHIVE_DIR, LABELS_SUFFIX
from eventpipe.datasets.dvsgesture.synth.design import WRAP_STEMS, design_recording
from eventpipe.datasets.dvsgesture.synth.render import SCALES, Scale, render_recording
from eventpipe.datasets.synthetic import read_manifest
from eventpipe.runtime.durable import atomic_write_text

#: bump when the bytes a (stem, scale, seed) produces change
GENERATOR_VERSION = "1.0"
GENERATOR = "eventpipe.synth.dvsgesture"
MANIFEST = synthetic.MANIFEST
EVENTS_PER_PACKET = 4096

#: the recordings each scale writes by default
SCALE_RECORDINGS: dict[str, tuple[str, ...]] = {
    "tiny": ("user01_natural", "user02_lab", "user26_lab"),
    "small": tuple(r for r in RECORDINGS if int(r[4:6]) in (1, 2, 3, 24, 26)),
    "full": RECORDINGS,
}


def _scale(scale: str) -> Scale:
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}") from None


def _names(names: Iterable[str] | None, scale: str) -> tuple[str, ...]:
    if names is None:
        return SCALE_RECORDINGS[scale]
    chosen = set(names)
    unknown = sorted(chosen - set(RECORDINGS))
    if unknown:
        raise ValueError(
            f"unknown recordings {unknown}; expected names such as user01_natural "
            "(eventpipe.datasets.dvsgesture.facts.RECORDINGS)"
        )
    return tuple(r for r in RECORDINGS if r in chosen)


def ground_truth(stem: str, scale: str = "tiny", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic recording in memory, exactly as :func:`generate_dataset` writes it.

    Returns:
        events: ``[n]`` EVENT_DTYPE, time-ordered, ``t`` in us on the recording's clock.
        labels: ``[12]`` :data:`~eventpipe.datasets.dvsgesture.labels.LABELS_DTYPE` rows.
    """
    from eventpipe.datasets.dvsgesture.labels import LABELS_DTYPE

    design = design_recording(stem, seed)
    events = render_recording(design, _scale(scale))
    labels = np.array(
        [(c, design.offset_us + round(s * 1e6), design.offset_us + round(e * 1e6))
         for c, s, e in design.windows],
        dtype=LABELS_DTYPE,
    )  # fmt: skip
    return events, labels


def header_lines(stem: str, scale: str, seed: int) -> list[str]:
    """Header lines between ``Source 1: DVS128`` and ``!END-HEADER`` (cAER's start time, plus
    a SYNTHETIC label)."""
    day = 1 + RECORDINGS.index(stem) % 28
    return [
        f"Start-Time: 2017-02-{day:02d} 10:00:00 (TZ+0000)",
        f"SYNTHETIC recording: {GENERATOR} {GENERATOR_VERSION}, scale={scale}, seed={seed}; "
        "not DVS Gesture data",
    ]


def _write_recording(folder: Path, stem: str, scale: str, seed: int) -> dict[str, Any]:
    """Render and write one recording and its labels; its manifest entry."""
    from eventpipe.datasets.dvsgesture.labels import write_labels
    from eventpipe.io.aedat3 import write_aedat3

    events, labels = ground_truth(stem, scale, seed)
    aedat, csv = folder / f"{stem}.aedat", folder / f"{stem}{LABELS_SUFFIX}"
    write_aedat3(
        aedat, events, events_per_packet=EVENTS_PER_PACKET,
        header_lines=header_lines(stem, scale, seed),
    )  # fmt: skip
    write_labels(csv, labels)
    t = events["t"]
    return {
        "aedat": f"{ARCHIVE_DIR}/{aedat.name}",
        "aedat_bytes": aedat.stat().st_size,
        "aedat_sha256": synthetic.sha256(aedat),
        "labels": f"{ARCHIVE_DIR}/{csv.name}",
        "labels_sha256": synthetic.sha256(csv),
        "split": official_split(stem),
        "n_events": len(events),
        "duration_us": int(t[-1] - t[0]),
        "offset_us": int(t[0]),
        "ts_overflow": bool(t[-1] >> 31 != t[0] >> 31),
        "classes": [int(c) + 1 for c in labels["class_id"]],
    }


def is_synthetic(raw_dir: str | os.PathLike) -> bool:
    """True when ``raw_dir`` holds (possibly incomplete) output of :func:`generate_dataset`."""
    return synthetic.is_generated_by(read_manifest(raw_dir), GENERATOR)


def _up_to_date(out_dir: Path, manifest: dict, wanted: dict) -> bool:
    """The manifest is complete, of these settings, and every recording and trials file is
    there."""
    if not synthetic.has_settings(manifest, wanted):
        return False
    if not synthetic.recordings_present(out_dir, manifest, "labels"):
        return False
    return all((out_dir / ARCHIVE_DIR / n).is_file() for n in TRIALS_FILES.values())


def _real_data(out_dir: Path) -> list[str]:
    """Names of dataset files in ``out_dir`` (a non-synthetic folder): do not touch them."""
    folder = out_dir / ARCHIVE_DIR
    found = [ARCHIVE_DIR + "/"] if folder.is_dir() and any(folder.iterdir()) else []
    found += [p.name for p in sorted(out_dir.glob("*.aedat"))[:3]]
    found += [n for n in TRIALS_FILES.values() if (out_dir / n).exists()]
    return found


def _check_target(out_dir: Path, wanted: dict, force: bool) -> tuple[bool, dict | None]:
    """(skip, old manifest). Raises LayoutError to protect real or different data."""
    synthetic.check_out_dir(out_dir)
    if not is_synthetic(out_dir):
        synthetic.refuse_real_data(out_dir, _real_data(out_dir) if out_dir.is_dir() else [])
        return False, None
    old = read_manifest(out_dir) or {}
    up_to_date = _up_to_date(out_dir, old, wanted)
    return synthetic.check_synthetic(out_dir, old, wanted, force, up_to_date)


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
    """Write the synthetic archive (``DvsGesture/`` + ``manifest.json``) into ``out_dir``.

    Args:
        out_dir: target folder (created); empty of dataset files or an earlier output.
        scale: ``"tiny"``, ``"small"`` or ``"full"`` (recordings and event rates).
        seed: random seed; the same ``(stem, scale, seed)`` gives byte-identical files.
        names: official recording names to write instead of the scale's
            (:data:`SCALE_RECORDINGS`).
        force: regenerate even when up to date, and replace synthetic data of other settings.
            Never overwrites non-synthetic data.
        workers: processes (default: the CPU count for 8 recordings or more, else 1).
        progress: show a progress bar over recordings.

    Raises:
        LayoutError: ``out_dir`` holds non-synthetic data, or synthetic data of other settings
            without ``force``. ValueError: unknown scale or recording name.
    """
    out_dir = Path(out_dir)
    sc = _scale(scale)
    chosen = _names(names, sc.name)
    wanted = synthetic.settings(GENERATOR_VERSION, sc.name, seed, chosen, "stems")
    skip, old = _check_target(out_dir, wanted, force)
    if skip:
        return SynthResult(out_dir, False, old or {})
    folder = out_dir / ARCHIVE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _new_manifest(sc, wanted)
    synthetic.start_manifest(out_dir, manifest)
    # files of an earlier run that this one does not rewrite
    synthetic.remove_stale(out_dir, old, chosen, ("aedat", "labels"))
    entries = _write_all(folder, chosen, sc.name, int(seed), workers, progress)
    _write_trials(folder, chosen)
    manifest = synthetic.finish_manifest(out_dir, manifest, entries, _totals(entries))
    return SynthResult(out_dir, True, manifest)


def _write_trials(folder: Path, chosen: tuple[str, ...]) -> None:
    """``trials_to_train.txt`` / ``trials_to_test.txt``: the chosen recordings, one a line."""
    for split, name in TRIALS_FILES.items():
        lines = [f"{r}.aedat\n" for r in chosen if official_split(r) == split]
        atomic_write_text(folder / name, "".join(lines))


def _new_manifest(sc: Scale, wanted: dict) -> dict[str, Any]:
    """The manifest written before the recordings (``complete: false`` until they are)."""
    design = {
        "wrap_stems": [s for s in WRAP_STEMS if s in wanted["stems"]],
        "scale": {k: getattr(sc, k) for k in sc.__dataclass_fields__},
    }
    return synthetic.new_manifest(GENERATOR, "dvsgesture", "DVS128 Gesture", wanted, design)


def _write_all(
    folder: Path, chosen: tuple[str, ...], scale: str, seed: int, workers: int | None,
    progress: bool,
) -> dict[str, dict]:  # fmt: skip
    """Write each chosen recording (in-process or in a process pool); their manifest entries."""
    if workers is None:
        workers = 1 if len(chosen) < 8 else min(len(chosen), os.cpu_count() or 1)
    tasks = [(folder, stem, scale, seed) for stem in chosen]
    label = f"synth dvsgesture ({scale}, seed {seed})"
    results = synthetic.run_tasks(_write_recording, tasks, chosen, workers, progress, label)
    return dict(zip(chosen, results, strict=True))


def _totals(entries: dict[str, dict]) -> dict[str, Any]:
    """Recordings, samples, events and bytes of the entries, overall and per split."""

    def count(part: list[dict]) -> dict[str, int]:
        return {
            "recordings": len(part),
            "samples": sum(len(e["classes"]) for e in part),
            "events": int(sum(e["n_events"] for e in part)),
        }

    every = list(entries.values())
    return {
        **count(every),
        "bytes": int(sum(e["aedat_bytes"] for e in every)),
        "splits": {s: count([e for e in every if e["split"] == s]) for s in TRIALS_FILES},
    }


__all__ = [
    "GENERATOR",
    "GENERATOR_VERSION",
    "MANIFEST",
    "SCALES",
    "SCALE_RECORDINGS",
    "WRAP_STEMS",
    "generate_dataset",
    "ground_truth",
    "header_lines",
    "is_synthetic",
    "read_manifest",
]
