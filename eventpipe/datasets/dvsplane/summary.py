"""What a DVSPlane raw directory holds: samples and events per part and per class, MAT
layouts, sample lengths, events per sample, whether it is synthetic, and every problem found.

Problems are collected, not raised: layout problems (:mod:`.layout`), unreadable or invalid
files (each named with the key at fault; the other files are still counted), files without
events and files whose timestamps decrease.

>>> import tempfile
>>> from eventpipe.datasets.dvsplane.synth import generate_dataset
>>> raw = generate_dataset(tempfile.mkdtemp(), scale="tiny", names=["F117_1", "Su35_161"]).out_dir
>>> s = summarize(raw, subset="full")
>>> s["synthetic"], s["samples"], s["splits"]["test"]["samples"], s["mat_versions"]
(True, 2, 1, {'5': 0, '7.3': 2})
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from eventpipe.datasets.dvsplane.facts import CLASS_NAMES, SPLITS, split_of
from eventpipe.datasets.dvsplane.layout import PlaneFile
from eventpipe.datasets.summary import (
    generator_settings,
    print_head,
    print_problems,
    samples_table,
    stats,
)
from eventpipe.errors import EventpipeError
from eventpipe.report.progress import ItemProgress


def _read_one(rec: PlaneFile, problems: list[str]) -> tuple[np.ndarray, str] | None:
    """``(t, mat version)`` of a readable file; None (and a problem) for a bad one."""
    from eventpipe.io.matlab_td import mat_version, read_td_mat

    try:
        t = read_td_mat(rec.path)["t"]
        version = mat_version(rec.path)
    except EventpipeError as exc:
        problems.append(str(exc))
        return None
    if len(t) == 0:
        problems.append(f"{rec.path}: no events")
    elif (np.diff(t) < 0).any():
        problems.append(
            f"{rec.path}: timestamps decrease at event {int(np.argmax(np.diff(t) < 0)) + 1}"
        )
    return t, version


def _count(recs: list[PlaneFile], problems: list[str], progress: bool) -> dict[str, Any]:
    """Counts per part, class and MAT layout, and per-sample events and lengths (us)."""
    splits = {s: {"samples": 0, "events": 0} for s in SPLITS}
    classes = {c: {s: {"samples": 0, "events": 0} for s in SPLITS} for c in CLASS_NAMES}
    versions = {"5": 0, "7.3": 0}
    n_ev, length = [], []
    with ItemProgress(progress, len(recs), "reading", timing=False, transient=True) as advance:
        for rec in recs:
            advance(rec.stem)
            got = _read_one(rec, problems)
            if got is None:
                continue
            t, version = got
            versions[version] += 1
            for counts in (splits[rec.split], classes[rec.class_name][rec.split]):
                counts["samples"] += 1
                counts["events"] += len(t)
            n_ev.append(len(t))
            length.append(int(t.max() - t.min()) if len(t) else 0)
    return {"splits": splits, "classes": classes, "versions": versions, "n": n_ev, "len": length}


def summarize(
    raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False
) -> dict[str, Any]:
    """Read every file of ``raw_dir`` and describe the dataset.

    Returns:
        JSON-ready dict: ``raw_dir``, ``root`` (the folder holding the files), ``subset``,
        ``synthetic``, ``generator`` (manifest settings or None), ``recordings`` (files found),
        ``expected_recordings`` (the archive's, or those a synthetic manifest lists),
        ``samples`` (readable files), ``events``, ``splits`` (``{"train": {"samples",
        "events", "expected_samples"}, "test": ...}``), ``classes`` (``{"F117": {"train":
        {"samples", "events"}, "test": ...}, ...}``), ``mat_versions`` (readable files per
        layout, ``{"5": n, "7.3": m}``), ``sample_length_ms`` and ``events_per_sample``
        (min/mean/std/max) and ``problems`` (one line each, naming the file).

    Raises:
        LayoutError: no raw directory, or no ``.mat`` file here or one level down.
    """
    from eventpipe.datasets.dvsplane.layout import scan_layout
    from eventpipe.datasets.dvsplane.synth import is_synthetic, read_manifest

    report = scan_layout(raw_dir, subset)
    problems = list(report.problems)
    synthetic = is_synthetic(raw_dir)
    found = _count(report.recordings, problems, progress)
    parts = [s for s in SPLITS if subset in ("full", s)]
    for s in parts:
        found["splits"][s]["expected_samples"] = sum(split_of(r) == s for r in report.expected)
    n = np.asarray(found["n"], dtype=np.float64)
    return {
        "raw_dir": str(raw_dir),
        "root": str(report.root),
        "subset": subset,
        "synthetic": synthetic,
        "generator": generator_settings(read_manifest(raw_dir) if synthetic else None),
        "recordings": len(report.recordings),
        "expected_recordings": len(report.expected),
        "samples": len(n),
        "events": int(n.sum()),
        "splits": {s: found["splits"][s] for s in parts},
        "classes": {c: {s: v[s] for s in parts} for c, v in found["classes"].items()},
        "mat_versions": found["versions"],
        "sample_length_ms": stats(np.asarray(found["len"], dtype=np.float64) / 1e3),
        "events_per_sample": stats(n),
        "problems": problems,
    }


def render(summary: dict[str, Any], console: Any = None) -> None:
    """Print a summary dict as rich tables (what ``python -m eventpipe summary`` shows)."""
    from rich.console import Console

    console = console or Console()
    print_head(console, summary, "DVSPlane")
    v = summary["mat_versions"]
    console.print(f"MAT layouts: v5/v7 {v['5']:,} file(s), v7.3 (HDF5) {v['7.3']:,} file(s)")
    console.print(samples_table(summary, "Samples (one per .mat file)", 1))
    print_problems(console, summary["problems"])


__all__ = ["render", "summarize"]
