"""``eventpipe summary`` for the spike-table datasets (SHD, N-TIDIGITS): samples and events per
part and class, sample lengths, events per sample, whether the data is synthetic, problems.

Problems are collected, not raised: a missing part file, an unreadable or invalid file (the
reader's one-line error), and samples without events (``splits`` holds the published
sample counts beside the ones found).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from eventpipe.datasets import spiketables as st
from eventpipe.datasets.summary import (
    generator_settings,
    print_head,
    print_problems,
    samples_table,
    stats,
)
from eventpipe.datasets.synthetic import read_manifest
from eventpipe.errors import EventpipeError


def _part(events: dict, n_classes: int) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Counts of one part read by a dataset's ``read_recording``."""
    off = np.asarray(events[st.OFFSETS_KEY], np.int64)
    n = np.diff(off)
    t = events["t"]
    full = n > 0
    length = t[off[1:][full] - 1] - t[off[:-1][full]]
    labels = np.asarray(events[st.LABELS_KEY], np.int64)
    per_class_n = np.bincount(labels, minlength=n_classes)
    per_class_e = np.bincount(labels, weights=n, minlength=n_classes).astype(np.int64)
    return (
        {"samples": len(n), "events": int(n.sum())},
        n,
        length,
        np.stack([per_class_n, per_class_e]),
    )


def summarize_parts(
    raw_dir: Any,
    subset: str,
    discover: Callable,
    read: Callable,
    classes: Sequence[str],
    expected: dict[str, int],
    generator: str,
) -> dict[str, Any]:
    """The summary dict (see a dataset's ``summary.summarize``)."""
    from eventpipe.datasets.synthetic import is_generated_by

    problems: list[str] = []
    try:
        recs = discover(raw_dir, subset, True)
    except EventpipeError as exc:
        problems.append(str(exc))
        recs = discover(raw_dir, subset, False) if "missing" in str(exc) else []
    manifest = read_manifest(raw_dir)
    synthetic = is_generated_by(manifest, generator)
    parts = st.stems_for_subset(subset)
    splits = {s: {"samples": 0, "events": 0, "expected_samples": expected[s]} for s in parts}
    per_class = {c: {s: {"samples": 0, "events": 0} for s in parts} for c in classes}
    ns, lengths = [], []
    for rec in recs:
        try:
            counts, n, length, pc = _part(read(rec), len(classes))
        except EventpipeError as exc:
            problems.append(str(exc))
            continue
        splits[rec.stem].update(counts)
        for i, c in enumerate(classes):
            per_class[c][rec.stem] = {"samples": int(pc[0, i]), "events": int(pc[1, i])}
        if (n == 0).any():
            problems.append(f"{rec.path}: {int((n == 0).sum())} sample(s) without events")
        ns.append(n)
        lengths.append(length)
    n_all = np.concatenate(ns) if ns else np.zeros(0, np.int64)
    len_all = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    return {
        "raw_dir": str(raw_dir),
        "subset": subset,
        "synthetic": synthetic,
        "generator": generator_settings(manifest if synthetic else None),
        "recordings": len(recs),
        "expected_recordings": len(parts),
        "samples": len(n_all),
        "expected_samples": sum(expected[s] for s in parts),
        "events": int(n_all.sum()),
        "splits": splits,
        "classes": per_class,
        "sample_length_ms": stats(len_all / 1e3),
        "events_per_sample": stats(n_all.astype(np.float64)),
        "problems": problems,
    }


def render_parts(summary: dict[str, Any], console: Any, title: str) -> None:
    """Print a summary dict as rich tables."""
    from rich.console import Console

    console = console or Console()
    print_head(console, summary, title)
    console.print(samples_table(summary, "Samples", 1))
    print_problems(console, summary["problems"])


__all__ = ["render_parts", "summarize_parts"]
