"""What a raw directory holds: recordings per group, samples, events, rates, sample lengths,
whether the data is synthetic, and every problem found (collected, not stopping at the first).

>>> import tempfile
>>> from eventpipe.datasets.slanimals.synth import generate
>>> raw = generate(tempfile.mkdtemp(), scale="tiny", stems=["user25_imse", "user40_dc"])
>>> s = summarize(raw)
>>> s["synthetic"], s["recordings"], s["samples"], s["groups"]["S1"]["recordings"]
(True, 2, 38, 1)
>>> len(s["problems"]) > 0  # 57 recordings are missing from the full set
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from eventpipe.datasets.slanimals.facts import (
    GROUPS,
    SAMPLES_PER_RECORDING,
    parse_stem,
    stems_for_subset,
)
from eventpipe.datasets.summary import (
    generator_settings,
    print_origin,
    print_problems,
    samples_table,
    stats,
)
from eventpipe.errors import EventpipeError
from eventpipe.report.progress import ItemProgress

#: groups in the order the dataset paper lists them
GROUP_ORDER = ("S1", "S2", "S3", "S4")


def _empty_groups(expected: tuple[str, ...], subset: str) -> dict[str, dict[str, Any]]:
    """Per group (S1..S4, without S3 for ``reduced``): facts and zeroed counters."""
    groups: dict[str, dict[str, Any]] = {}
    for name in GROUP_ORDER:
        g = GROUPS[name]
        groups[name] = {
            "lighting": g.lighting,
            "description": g.description,
            "recordings": 0,
            "expected": sum(parse_stem(s)[1].name == name for s in expected),
            "samples": 0,
            "events": 0,
            "duration_s": 0.0,
        }
    if subset == "reduced":
        groups.pop("S3")
    return groups


def _read_one(
    rec: Any, grp: dict[str, Any], problems: list[str]
) -> tuple[dict[str, Any], np.ndarray | None, np.ndarray | None]:
    """Read and slice one recording, adding to its group's counters and to ``problems``.

    Returns:
        ``(per-recording entry, sample lengths in ms, events per sample)``; the two arrays are
        None when the recording or its tags could not be read (the problem is recorded).
    """
    from eventpipe.datasets.slanimals.slicing import slice_recording
    from eventpipe.datasets.slanimals.tags import read_tags
    from eventpipe.io import read_events

    entry: dict[str, Any] = {"stem": rec.stem, "group": rec.group, "ok": False}
    try:
        events = read_events(rec.aedat)
    except EventpipeError as exc:
        problems.append(str(exc))
        return entry, None, None
    t = events["t"]
    n = len(events)
    duration = float(t[-1] - t[0]) / 1e6 if n else 0.0
    entry.update(n_events=n, duration_s=round(duration, 3))
    grp["recordings"] += 1
    grp["events"] += n
    grp["duration_s"] += duration
    try:
        tags = read_tags(rec.tags, n_events=n)
        samples = slice_recording(rec, events=events, tags=tags)
    except EventpipeError as exc:
        problems.append(str(exc))
        return entry, None, None
    if len(samples) != SAMPLES_PER_RECORDING:
        problems.append(f"{rec.tags}: {len(samples)} samples; expected 19")
    dur = np.array([m.duration_us for m, _ in samples], dtype=np.float64) / 1e3
    cnt = np.array([m.n_events for m, _ in samples], dtype=np.float64)
    grp["samples"] += len(samples)
    entry.update(ok=True, samples=len(samples))
    return entry, dur, cnt


def summarize(
    raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False
) -> dict[str, Any]:
    """Read every recording and tag file of ``raw_dir`` and describe the dataset.

    Args:
        raw_dir: raw dataset folder (release or published layout).
        subset: ``"full"`` or ``"reduced"`` (expected recordings).
        progress: show a rich progress bar (stderr) over recordings.

    Returns:
        dict (JSON-serialisable) with keys ``raw_dir``, ``layout``, ``subset``, ``synthetic``,
        ``generator`` (manifest settings or None), ``recordings``, ``expected_recordings``,
        ``samples``, ``events``, ``duration_s``, ``event_rate_hz`` (events / recorded time),
        ``groups`` (per S1..S4: lighting, description, recordings, expected, samples, events,
        duration_s), ``sample_length_ms`` (min/mean/std/max of ``t_last - t_first`` per sample),
        ``events_per_sample`` (min/mean/std/max), ``per_recording`` (list of dicts) and
        ``problems`` (list of messages, each naming its file; empty when all is well).

    Raises:
        LayoutError: no raw directory or no recordings folder at all (nothing to summarise).
    """
    from eventpipe.datasets.slanimals.layout import scan_layout
    from eventpipe.datasets.slanimals.synth import is_synthetic, read_manifest

    raw_dir = Path(raw_dir)
    report = scan_layout(raw_dir, subset=subset, strict=False)
    problems: list[str] = [f"{raw_dir}: {line}" for line in report.problems]
    synthetic = is_synthetic(raw_dir)
    manifest = read_manifest(raw_dir) if synthetic else None
    expected = stems_for_subset(subset)
    groups = _empty_groups(expected, subset)
    per_rec: list[dict[str, Any]] = []
    lengths: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    with ItemProgress(
        progress, len(report.pairs), "reading", timing=False, transient=True
    ) as advance:
        for rec in report.pairs:
            advance(rec.stem)
            entry, dur, cnt = _read_one(rec, groups[rec.group], problems)
            per_rec.append(entry)
            if dur is not None:
                lengths.append(dur)
                counts.append(cnt)
    all_len = np.concatenate(lengths) if lengths else np.zeros(0)
    all_cnt = np.concatenate(counts) if counts else np.zeros(0)
    total_events = sum(g["events"] for g in groups.values())
    total_dur = sum(g["duration_s"] for g in groups.values())
    for g in groups.values():
        g["duration_s"] = round(g["duration_s"], 3)
    return {
        "raw_dir": str(raw_dir),
        "layout": report.layout,
        "subset": subset,
        "synthetic": synthetic,
        "generator": generator_settings(manifest),
        "recordings": sum(g["recordings"] for g in groups.values()),
        "expected_recordings": len(expected),
        "samples": len(all_len),
        "expected_samples": len(expected) * SAMPLES_PER_RECORDING,
        "events": int(total_events),
        "duration_s": round(total_dur, 3),
        "event_rate_hz": round(total_events / total_dur, 1) if total_dur > 0 else None,
        "groups": groups,
        "sample_length_ms": stats(all_len),
        "events_per_sample": stats(all_cnt),
        "per_recording": per_rec,
        "problems": problems,
    }


def render(summary: dict[str, Any], console=None) -> None:
    """Print a summary dict as rich tables (what ``python -m eventpipe summary`` shows)."""
    from rich.console import Console

    console = console or Console()
    print_origin(console, summary, "SL-Animals-DVS", default_generator="eventpipe.synth")
    console.print(
        f"raw dir: {summary['raw_dir']}  (layout {summary['layout']}, subset {summary['subset']})"
    )

    console.print(_groups_table(summary, wide=console.width >= 110))
    console.print(samples_table(summary, "Samples (t_last - t_first of each tagged slice)", 0))
    if summary["synthetic"]:
        console.print(
            "published SL-Animals-DVS: 59 recordings, 1121 samples, sample length 880 .. 9466 ms, "
            "mean 4360 +- 1189 ms",
            style="dim",
        )

    print_problems(console, summary["problems"])


def _groups_table(summary: dict[str, Any], wide: bool) -> Any:
    """Recordings, samples, events and event rate per group, and the total."""
    from rich.table import Table

    table = Table(title="Recordings per group")
    for col, just in (
        ("group", "left"),
        ("lighting", "left"),
        *((("description", "left"),) if wide else ()),
        ("recordings", "right"),
        ("samples", "right"),
        ("events", "right"),
        ("events/s", "right"),
    ):
        table.add_column(col, justify=just, no_wrap=col != "description")  # type: ignore[arg-type]
    for name, g in summary["groups"].items():
        rate = g["events"] / g["duration_s"] if g["duration_s"] else 0.0
        rec = f"{g['recordings']}/{g['expected']}"
        if g["recordings"] != g["expected"]:
            rec = f"[red]{rec}[/red]"
        table.add_row(
            name,
            g["lighting"],
            *((g["description"],) if wide else ()),
            rec,
            str(g["samples"]),
            f"{g['events']:,}",
            f"{rate:,.0f}",
        )
    rate = summary["event_rate_hz"] or 0.0
    table.add_row(
        "all",
        "",
        *(("",) if wide else ()),
        f"{summary['recordings']}/{summary['expected_recordings']}",
        f"{summary['samples']}/{summary['expected_samples']}",
        f"{summary['events']:,}",
        f"{rate:,.0f}",
        style="bold",
    )
    return table


__all__ = ["render", "summarize"]
