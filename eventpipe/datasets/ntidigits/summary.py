"""What an N-TIDIGITS raw directory holds (``eventpipe summary --dataset ntidigits``): the
single-digit samples per part and class (see :mod:`eventpipe.datasets.partsummary`), plus
``rows`` (all keys per part, multi-digit ones included)."""

from __future__ import annotations

import os
from typing import Any

from eventpipe.datasets.ntidigits.facts import CLASS_NAMES, N_SINGLE
from eventpipe.datasets.partsummary import render_parts, summarize_parts


def _summarize(raw_dir, subset: str, label_map: str) -> dict[str, Any]:
    from eventpipe.datasets.ntidigits import parts
    from eventpipe.datasets.ntidigits.synth import GENERATOR
    from eventpipe.errors import EventpipeError
    from eventpipe.io.ntidigits import read_labels

    out = summarize_parts(
        raw_dir,
        subset,
        parts.discover,
        lambda r: parts.read_with_map(r, label_map),
        CLASS_NAMES[label_map],
        N_SINGLE,
        GENERATOR,
    )
    out["rows"] = {}
    try:
        for rec in parts.discover(raw_dir, subset, False):
            out["rows"][rec.stem] = len(read_labels(rec.path, rec.split))
    except EventpipeError:
        pass
    return out


def summarize_firstspike(
    raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False
) -> dict[str, Any]:
    """The summary dict with first-spike coding's classes (dataset ``ntidigits``)."""
    return _summarize(raw_dir, subset, "firstspike")


def summarize_tonic(
    raw_dir: str | os.PathLike, subset: str = "full", progress: bool = False
) -> dict[str, Any]:
    """The summary dict with tonic's classes (dataset ``ntidigits-tonic``)."""
    return _summarize(raw_dir, subset, "tonic")


def render(summary: dict[str, Any], console: Any = None) -> None:
    """Print a summary dict."""
    render_parts(summary, console, "N-TIDIGITS18")


__all__ = ["render", "summarize_firstspike", "summarize_tonic"]
