"""What an SHD raw directory holds (``eventpipe summary --dataset shd``); see
:mod:`eventpipe.datasets.partsummary` for the dict and the problems reported. A file whose
``extra/keys`` differ from the published class names is a problem too."""

from __future__ import annotations

import os
from typing import Any

from eventpipe.datasets.partsummary import render_parts, summarize_parts
from eventpipe.datasets.shd.facts import CLASS_NAMES, N_SAMPLES


def summarize(
    raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False
) -> dict[str, Any]:
    """Read every part of ``raw_dir`` and describe it (JSON-ready dict: ``samples``,
    ``events``, ``splits`` {part: samples, events, expected_samples}, ``classes``,
    ``synthetic``, ``sample_length_ms``, ``events_per_sample``, ``problems``)."""
    from eventpipe.datasets.shd import parts
    from eventpipe.datasets.shd.synth import GENERATOR
    from eventpipe.errors import EventpipeError
    from eventpipe.io.shd import read_meta

    out = summarize_parts(
        raw_dir, subset, parts.discover, parts.read_recording, CLASS_NAMES, N_SAMPLES, GENERATOR
    )
    try:
        recs = parts.discover(raw_dir, subset, False)
    except EventpipeError:
        recs = []
    for rec in recs:
        try:
            keys = read_meta(rec.path).keys
        except EventpipeError:
            continue
        if keys and keys != CLASS_NAMES:
            out["problems"].append(
                f"{rec.path}: extra/keys {list(keys)} differ from the "
                f"published class names {list(CLASS_NAMES)}"
            )
    return out


def render(summary: dict[str, Any], console: Any = None) -> None:
    """Print :func:`summarize`'s dict."""
    render_parts(summary, console, "SHD")


__all__ = ["render", "summarize"]
