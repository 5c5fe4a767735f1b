"""What a DVS Gesture raw directory holds: recordings, samples and events per split and per
class, whether it is synthetic, and every problem found (collected, not stopping at the first).

>>> import tempfile
>>> from eventpipe.datasets.dvsgesture.synth import generate_dataset
>>> raw = generate_dataset(tempfile.mkdtemp(), "tiny", names=["user01_natural"]).out_dir
>>> s = summarize(raw)
>>> s["synthetic"], s["recordings"], s["samples"], s["splits"]["train"]["samples"], s["problems"]
(True, 1, 12, 12, [])
"""

from __future__ import annotations

import os
from typing import Any

from eventpipe.datasets.dvsgesture.facts import CLASS_NAMES, PUBLISHED_SAMPLES, RECORDINGS
from eventpipe.datasets.summary import generator_settings, print_origin, print_problems
from eventpipe.errors import EventpipeError
from eventpipe.report.progress import ItemProgress

SPLITS = ("train", "test")


def _counts() -> dict[str, int]:
    return {"recordings": 0, "samples": 0, "events": 0}


def _read_one(rec: Any, splits: dict, classes: dict, problems: list[str]) -> dict[str, Any]:
    """Read and slice one recording into the counters; its per-recording entry."""
    from eventpipe.datasets.dvsgesture.slicing import read_recording, slice_recording

    entry: dict[str, Any] = {"stem": rec.stem, "split": rec.split, "ok": False}
    try:
        events = read_recording(rec)
        samples = slice_recording(rec, events)
    except EventpipeError as exc:
        problems.append(str(exc))
        return entry
    t = events["t"]
    part = splits[rec.split]
    part["recordings"] += 1
    part["events"] += len(events)
    for meta, _ in samples:
        part["samples"] += 1
        classes[meta.class_name][rec.split] += 1
        part["sample_events"] = part.get("sample_events", 0) + meta.n_events
    entry.update(
        ok=True,
        n_events=len(events),
        duration_s=round((int(t[-1]) - int(t[0])) / 1e6, 3),
        samples=len(samples),
        ts_overflow=bool(int(t[-1]) >> 31 != int(t[0]) >> 31),
    )
    return entry


def summarize(
    raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False
) -> dict[str, Any]:
    """Read every recording the trials files list and describe the dataset.

    Args:
        raw_dir: the raw folder (``DvsGesture/`` in it, or that folder itself).
        subset: ``"full"``.
        progress: show a progress bar (stderr) over recordings.

    Returns:
        JSON-ready dict: ``raw_dir``, ``archive_dir``, ``subset``, ``synthetic``, ``generator``
        (manifest settings or None), ``recordings``, ``expected_recordings`` (122),
        ``samples``, ``events`` (all events of the recordings read), ``splits`` (per
        ``train``/``test``: ``recordings``, ``samples``, ``events``, ``sample_events``),
        ``classes`` (per class name: ``train``, ``test`` sample counts), ``per_recording``,
        ``not_listed`` (official recordings the trials files leave out) and ``problems``
        (messages naming their files; empty when all is well).

    Raises:
        LayoutError: no raw directory, or a trials file missing or malformed.
    """
    from eventpipe.datasets.dvsgesture.layout import scan_layout, split_differences
    from eventpipe.datasets.dvsgesture.synth import is_synthetic, read_manifest

    folder, found, problems = scan_layout(raw_dir, subset)
    problems = problems + split_differences(found)
    splits = {s: {**_counts(), "sample_events": 0} for s in SPLITS}
    classes = {name: dict.fromkeys(SPLITS, 0) for name in CLASS_NAMES}
    per_rec = []
    with ItemProgress(progress, len(found), "reading", timing=False, transient=True) as step:
        for rec in found:
            step(rec.stem)
            per_rec.append(_read_one(rec, splits, classes, problems))
    synthetic = is_synthetic(raw_dir)
    manifest = read_manifest(raw_dir) if synthetic else None
    listed = {r["stem"] for r in per_rec}
    return {
        "raw_dir": str(raw_dir),
        "archive_dir": str(folder),
        "subset": subset,
        "synthetic": synthetic,
        "generator": generator_settings(manifest),
        "recordings": sum(s["recordings"] for s in splits.values()),
        "expected_recordings": len(RECORDINGS),
        "samples": sum(s["samples"] for s in splits.values()),
        "events": int(sum(s["events"] for s in splits.values())),
        "splits": splits,
        "classes": classes,
        "per_recording": per_rec,
        "not_listed": [r for r in RECORDINGS if r not in listed],
        "problems": problems,
    }


def render(summary: dict[str, Any], console: Any = None) -> None:
    """Print a summary dict as rich tables (what ``python -m eventpipe summary`` shows)."""
    from rich.console import Console

    console = console or Console()
    print_origin(console, summary, "DVS128 Gesture")
    console.print(f"raw dir: {summary['raw_dir']}  (archive folder {summary['archive_dir']})")
    console.print(_splits_table(summary))
    console.print(_classes_table(summary))
    published = ", ".join(f"{k} {v}" for k, v in PUBLISHED_SAMPLES.items())
    console.print(f"published DVS128 Gesture: 122 recordings, samples {published}", style="dim")
    if summary["not_listed"]:
        console.print(
            f"{len(summary['not_listed'])} official recordings are not in the trials files",
            style="dim",
        )
    print_problems(console, summary["problems"])


def _splits_table(summary: dict[str, Any]) -> Any:
    """Recordings, samples, events and events per sample per split, and the total."""
    from rich.table import Table

    table = Table(title="Recordings per split")
    for col in ("split", "recordings", "samples", "events", "events/sample"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for name, s in summary["splits"].items():
        per = s["sample_events"] / s["samples"] if s["samples"] else 0
        table.add_row(
            name, str(s["recordings"]), str(s["samples"]), f"{s['events']:,}", f"{per:,.0f}"
        )
    table.add_row(
        "all",
        f"{summary['recordings']}/{summary['expected_recordings']}",
        str(summary["samples"]),
        f"{summary['events']:,}",
        "",
        style="bold",
    )
    return table


def _classes_table(summary: dict[str, Any]) -> Any:
    """Samples per class and split."""
    from rich.table import Table

    table = Table(title="Samples per class")
    for col in ("class", "name", *SPLITS):
        table.add_column(col, justify="left" if col in ("class", "name") else "right")
    for i, (name, n) in enumerate(summary["classes"].items()):
        table.add_row(str(i), name, *(str(n[s]) for s in SPLITS))
    return table


__all__ = ["render", "summarize"]
