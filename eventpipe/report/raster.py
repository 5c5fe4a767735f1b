"""Raster plots of 1-D sensors (SHD's 700 channels, N-TIDIGITS' 64): time across, channel up.

A 1-D sensor stores its events as tonic does: sensor size ``(channels, 1, 1)``, the channel in
``x``, ``y = p = 0``. Frames of such a sensor are single rows, so :mod:`eventpipe.report.show`
draws them with this module instead: events as dots (``t`` in ms against channel), or a view's
bins as an image (bin across, channel up, counts as brightness). Rendered with matplotlib's Agg
backend (no display); the file type follows the extension (``.png``, ``.gif``, ``.svg``,
``.pdf``; a GIF is a single still image).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def is_one_d(sensor_size: tuple[int, int, int]) -> bool:
    """True for a 1-D sensor ``(W, 1, P)`` (one row of channels)."""
    return int(sensor_size[1]) == 1


def _figure(title: str, subtitle: str):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.add_subplot()
    fig.suptitle(title, fontsize=9)
    ax.set_title(subtitle, fontsize=8)
    return fig, ax


def _save(fig, path: Path) -> tuple[int, int]:
    """Write ``fig`` to ``path`` (format from the suffix); its size in pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        buf.seek(0)
        with Image.open(buf) as im:
            im.convert("RGB").save(path)
    else:
        fig.savefig(path)
    w, h = fig.get_size_inches() * fig.dpi
    return round(float(w)), round(float(h))


def write_event_raster(
    path: str | Path, x: np.ndarray, t_us: np.ndarray, n_channels: int, title: str
) -> tuple[int, int]:
    """Dots at ``(t / 1000 ms, channel x)`` for every event; returns the image size (px).

    Args:
        path: output image. x: ``[n]`` channels. t_us: ``[n]`` times in us (from the sample's
            start). n_channels: the sensor's channel count (the y range). title: top line.
    """
    fig, ax = _figure(title, f"{len(t_us):,} events")
    ax.scatter(np.asarray(t_us) / 1000.0, np.asarray(x), s=0.5, c="black", linewidths=0)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("channel")
    ax.set_ylim(-0.5, n_channels - 0.5)
    return _save(fig, Path(path))


def write_bin_raster(
    path: str | Path, frames: np.ndarray, dt_us: int, title: str, source: str
) -> tuple[int, int]:
    """A view's bins of a 1-D sensor as an image: ``frames`` ``[T, P, 1, W]`` -> channel x bin.

    Polarities are summed; brightness is the count (0 black). Returns the image size (px).
    """
    counts = np.asarray(frames).sum(axis=(1, 2)).T  # [W, T]
    fig, ax = _figure(title, source)
    t_ms = counts.shape[1] * dt_us / 1000.0
    ax.imshow(counts, aspect="auto", origin="lower", cmap="gray", interpolation="nearest",
              extent=(0.0, t_ms, -0.5, counts.shape[0] - 0.5))  # fmt: skip
    ax.set_xlabel(f"time (ms), {dt_us / 1000:g} ms bins")
    ax.set_ylabel("channel")
    return _save(fig, Path(path))


__all__ = ["is_one_d", "write_bin_raster", "write_event_raster"]
