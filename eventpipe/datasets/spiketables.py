"""What the spike-table datasets (SHD, N-TIDIGITS) share: their recordings (one per published
part), finding their HDF5 files, cutting a part's CSR events into samples, and the synthetic
stand-in's manifest handling.

A *part* (``train`` or ``test``) is one build unit (a recording, also the Parquet partition):
:class:`PartFile` names the part and its HDF5 file. A part's events come from the readers in
:mod:`eventpipe.io.shd` / :mod:`eventpipe.io.ntidigits` as CSR columns plus per-sample
``sample_offsets``; :func:`cut_samples` returns one ``(SampleMeta, events)`` per sample.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventpipe.datasets import synthetic
from eventpipe.datasets.base import SampleMeta, find_here_or_below
from eventpipe.datasets.partnames import SPLITS, SUBSETS, split_of, stems_for_subset

#: the extra keys a part reader adds to its columns
OFFSETS_KEY, LABELS_KEY, SUBJECTS_KEY, GROUPS_KEY, IDS_KEY = (
    "sample_offsets",
    "sample_labels",
    "sample_subjects",
    "sample_groups",
    "sample_ids",
)


@dataclass(frozen=True, eq=False)
class PartFile:
    """One published part of a spike-table dataset (the build unit).

    Attributes:
        stem: ``"train"`` or ``"test"`` (also the split). path: the part's HDF5 file.
    """

    stem: str
    path: Path
    extra: dict = field(default_factory=dict)

    @property
    def split(self) -> str:
        """The published part."""
        return self.stem

    @property
    def files(self) -> tuple[Path, ...]:
        """The input file (hashed into the cache's source digest)."""
        return (self.path,)


def find_file(raw_dir: str | os.PathLike, name: str, title: str, hint: str) -> Path:
    """``raw_dir/name``, else ``raw_dir/<one subfolder>/name``.

    Raises:
        LayoutError: no raw directory, no such file at either level, or several subfolders
            holding it (one line naming the file and where it was looked for).
    """
    folder, _ = find_here_or_below(
        raw_dir,
        lambda d: (d / name).is_file(),
        f"expected the {title} files or `{hint}`",
        f"{name} in several subfolders ({{names}}); keep one",
        f"missing {name} ({title}) here or one folder down; a synthetic stand-in: `{hint}`",
    )
    return folder / name


def cut_samples(
    rec: PartFile, events: Mapping[str, np.ndarray], class_names: Sequence[str]
) -> list[tuple[SampleMeta, dict[str, np.ndarray]]]:
    """One ``(SampleMeta, column views)`` per sample of a part reader's result.

    ``events`` holds the columns ``x, y, t, p`` and the per-sample arrays :data:`OFFSETS_KEY`
    (int64 ``[n + 1]``), :data:`IDS_KEY`, :data:`LABELS_KEY`, :data:`SUBJECTS_KEY` and
    :data:`GROUPS_KEY` (strings). A sample without events has ``t_start_us = t_end_us = 0``.
    """
    missing = [k for k in (OFFSETS_KEY, IDS_KEY, LABELS_KEY) if k not in events]
    if missing:
        raise ValueError(f"{rec.path}: events lack {missing}; pass read_recording's result")
    offsets = np.asarray(events[OFFSETS_KEY], np.int64)
    cols = {k: events[k] for k in ("x", "y", "t", "p")}
    t = cols["t"]
    if offsets[-1] != len(t):
        raise ValueError(f"{rec.path}: {len(t)} events but offsets end at {int(offsets[-1])}")
    groups = events.get(GROUPS_KEY)
    out = []
    for i, sid in enumerate(np.asarray(events[IDS_KEY]).tolist()):
        a, b = int(offsets[i]), int(offsets[i + 1])
        label = int(events[LABELS_KEY][i])
        meta = SampleMeta(
            sample_id=sid,
            recording=rec.stem,
            subject=int(events[SUBJECTS_KEY][i]),
            group=groups[i] if groups is not None else "",
            lighting="",
            class_id=label,
            class_name=class_names[label],
            t_start_us=int(t[a]) if b > a else 0,
            t_end_us=int(t[b - 1]) if b > a else 0,
            n_events=b - a,
            split=rec.split,
        )
        out.append((meta, {k: v[a:b] for k, v in cols.items()}))
    return out


def _parts_present(out_dir: Path, manifest: dict[str, Any]) -> bool:
    """Every part file of ``manifest`` exists (N-TIDIGITS keeps both parts in one file, so the
    entries' sizes are not the files')."""
    return all((out_dir / e["file"]).is_file() for e in manifest.get("recordings", {}).values())


def check_target(
    out_dir: Path, generator: str, wanted: dict, force: bool, files: Sequence[str], what: str
) -> tuple[bool, dict | None]:
    """(skip, old manifest) for a synthetic run into ``out_dir``; LayoutError to protect real or
    other data (a folder with any entry and no manifest of ``generator``; ``files`` are the
    dataset's own file names, refused as real data)."""
    return synthetic.check_target(
        out_dir, generator, wanted, force, _parts_present, what, real=files, advice=""
    )


def finish_manifest(out_dir: Path, manifest: dict, entries: dict[str, dict]) -> dict:
    """Add the part entries and their totals, mark complete, write; returns the manifest."""
    totals = {
        "recordings": len(entries),
        "samples": sum(e["samples"] for e in entries.values()),
        "events": sum(e["events"] for e in entries.values()),
        "bytes": sum(e["bytes"] for e in entries.values()),
        "splits": {s: {"samples": e["samples"], "events": e["events"]} for s, e in entries.items()},
    }
    return synthetic.finish_manifest(out_dir, manifest, entries, totals)


def chosen_parts(names: Sequence[str] | None) -> tuple[str, ...]:
    """The parts a synthetic run writes (``names`` None: both); ValueError for others."""
    if names is None:
        return SPLITS
    unknown = sorted(set(names) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown recordings {unknown}; expected train, test")
    return tuple(s for s in SPLITS if s in set(names))


def scale_sizes(scales: dict[str, Any], scale: str) -> Any:
    """``scales[scale]``; ValueError naming the scales otherwise."""
    try:
        return scales[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(scales)}") from None


def run_parts(
    fn: Callable[..., dict],
    tasks: list[tuple],
    parts: Sequence[str],
    workers: int | None,
    progress: bool,
    label: str,
) -> list[dict]:
    """Run one writing task per part (in a pool of ``workers`` when > 1)."""
    workers = 1 if workers is None else workers
    return synthetic.run_tasks(fn, tasks, list(parts), min(workers, len(tasks)), progress, label)


__all__ = [
    "GROUPS_KEY",
    "IDS_KEY",
    "LABELS_KEY",
    "OFFSETS_KEY",
    "SPLITS",
    "SUBJECTS_KEY",
    "SUBSETS",
    "PartFile",
    "check_target",
    "chosen_parts",
    "cut_samples",
    "find_file",
    "finish_manifest",
    "run_parts",
    "scale_sizes",
    "split_of",
    "stems_for_subset",
]
