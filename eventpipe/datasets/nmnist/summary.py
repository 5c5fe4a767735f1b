"""What an N-MNIST raw directory holds: samples and events per part and per class, sample
lengths, events per sample, whether it is synthetic, and every problem found.

Problems are collected, not raised: layout problems (:mod:`.layout`), unreadable files (each
bad file named; the other files of its folder are still counted), files without events and
files whose timestamps decrease.

>>> import tempfile
>>> from eventpipe.datasets.nmnist.synth import generate_dataset
>>> raw = generate_dataset(tempfile.mkdtemp(), scale="tiny", names=["train_1", "test_1"]).out_dir
>>> s = summarize(raw, subset="full")
>>> s["synthetic"], s["samples"], s["splits"]["test"]["samples"], len(s["problems"]) > 0
(True, 3, 1, True)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from eventpipe.datasets.nmnist.facts import CLASS_NAMES, N_FILES, SPLITS, stems_for_subset
from eventpipe.datasets.nmnist.layout import DigitFolder
from eventpipe.datasets.summary import (
    generator_settings,
    print_head,
    print_problems,
    samples_table,
    stats,
)
from eventpipe.errors import EventpipeError
from eventpipe.report.progress import ItemProgress


def _read_files(rec: DigitFolder, problems: list[str]) -> tuple[np.ndarray, np.ndarray, list]:
    """``(t, offsets, paths)`` of the folder's readable files; each unreadable file is a
    problem."""
    from eventpipe.io.nmnist import read_nmnist_files

    try:
        cols, offsets = read_nmnist_files(rec.files)
        return cols["t"], offsets, list(rec.files)
    except EventpipeError:
        pass
    ts, counts, paths = [], [], []
    for path in rec.files:
        try:
            cols, _ = read_nmnist_files([path])
        except EventpipeError as exc:
            problems.append(str(exc))
            continue
        ts.append(cols["t"])
        counts.append(len(cols["t"]))
        paths.append(path)
    offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    return (np.concatenate(ts) if ts else np.zeros(0, np.int64)), offsets, paths


def _file_checks(t: np.ndarray, offsets: np.ndarray, paths: list, problems: list[str]):
    """Per-file event counts, then for the files with events their lengths and first and last
    times (us); problems for empty files and decreasing timestamps."""
    n = np.diff(offsets)
    full = n > 0
    length = t[offsets[1:][full] - 1] - t[offsets[:-1][full]]
    empty = np.flatnonzero(~full)
    if len(empty):
        problems.append(f"{paths[empty[0]]}: no events ({len(empty)} such file(s) in its folder)")
    drop = np.flatnonzero(np.diff(t) < 0) + 1
    drop = drop[~np.isin(drop, offsets)]  # a new file may start earlier
    if len(drop):
        files = np.unique(np.searchsorted(offsets, drop, side="right") - 1)
        problems.append(
            f"{paths[files[0]]}: timestamps decrease ({len(files)} such file(s) in its folder)"
        )
    return n, length, t[offsets[:-1][full]], t[offsets[1:][full] - 1]


def _empty_counts() -> dict[str, int]:
    return {"samples": 0, "events": 0}


def _summarize_recordings(recs: list[DigitFolder], problems: list[str], progress: bool) -> dict:
    """Counts per part and class, and per-sample arrays, over the recordings."""
    splits = {s: _empty_counts() for s in SPLITS}
    classes = {c: {s: _empty_counts() for s in SPLITS} for c in CLASS_NAMES}
    per_n, per_len, starts, ends = [], [], [], []
    with ItemProgress(progress, len(recs), "reading", timing=False, transient=True) as advance:
        for rec in recs:
            advance(rec.stem)
            t, offsets, paths = _read_files(rec, problems)
            n, length, t0, t1 = _file_checks(t, offsets, paths, problems)
            for counts in (splits[rec.split], classes[CLASS_NAMES[rec.class_id]][rec.split]):
                counts["samples"] += len(n)
                counts["events"] += int(n.sum())
            per_n.append(n)
            per_len.append(length)
            starts.append(t0)
            ends.append(t1)
    arrays = (per_n, per_len, starts, ends)
    cat = [np.concatenate(a) if a else np.zeros(0, np.int64) for a in arrays]
    return {"splits": splits, "classes": classes, "arrays": cat}


def summarize(
    raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False
) -> dict[str, Any]:
    """Read every file of ``raw_dir`` and describe the dataset.

    Returns:
        JSON-ready dict: ``raw_dir``, ``root`` (the folder holding ``Train/``/``Test/``),
        ``subset``, ``synthetic``, ``generator`` (manifest settings or None), ``recordings``
        (digit folders found), ``expected_recordings``, ``samples``, ``expected_samples``,
        ``events``, ``splits`` (``{"train": {"samples", "events", "expected_samples"}, "test":
        ...}``), ``classes`` (``{"0": {"train": {"samples", "events"}, "test": ...}, ...}``),
        ``sample_length_ms`` and ``events_per_sample`` (min/mean/std/max),
        ``time_span_us`` (earliest first and latest last event time of any sample) and
        ``problems`` (one message per problem, naming its file or folder).

    Raises:
        LayoutError: no raw directory, or no ``Train/``/``Test/`` folder at all.
    """
    from eventpipe.datasets.nmnist.layout import scan_layout
    from eventpipe.datasets.nmnist.synth import is_synthetic, read_manifest

    report = scan_layout(raw_dir, subset)
    problems = list(report.problems)
    synthetic = is_synthetic(raw_dir)
    manifest = read_manifest(raw_dir) if synthetic else None
    found = _summarize_recordings(report.recordings, problems, progress)
    n, length, t0, t1 = found["arrays"]
    parts = [s for s in SPLITS if any(x.startswith(s) for x in stems_for_subset(subset))]
    for s in parts:
        found["splits"][s]["expected_samples"] = N_FILES[s]
    return {
        "raw_dir": str(raw_dir),
        "root": str(report.root),
        "subset": subset,
        "synthetic": synthetic,
        "generator": generator_settings(manifest),
        "recordings": len(report.recordings),
        "expected_recordings": len(stems_for_subset(subset)),
        "samples": len(n),
        "expected_samples": sum(N_FILES[s] for s in parts),
        "events": int(n.sum()),
        "splits": {s: found["splits"][s] for s in parts},
        "classes": {c: {s: v[s] for s in parts} for c, v in found["classes"].items()},
        "sample_length_ms": stats(length / 1e3),
        "events_per_sample": stats(n.astype(np.float64)),
        "time_span_us": ({"first": int(t0.min()), "last": int(t1.max())} if len(t0) else None),
        "problems": problems,
    }


def render(summary: dict[str, Any], console: Any = None) -> None:
    """Print a summary dict as rich tables (what ``python -m eventpipe summary`` shows)."""
    from rich.console import Console

    console = console or Console()
    print_head(console, summary, "N-MNIST")
    console.print(_samples_table(summary))
    print_problems(console, summary["problems"])


def _samples_table(summary: dict[str, Any]) -> Any:
    """Sample length (ms) and events per sample: min, mean +- std, max; the time span."""
    table = samples_table(summary, "Samples (one per .bin file)", 1)
    span = summary["time_span_us"]
    if span:
        table.add_row("time span", f"{span['first']:,} us", "", f"{span['last']:,} us")
    return table


__all__ = ["render", "summarize"]
