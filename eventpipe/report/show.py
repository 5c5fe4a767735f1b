"""Look at a cache sample: an animated GIF and a PNG grid of its frames (Pillow, no display).

Each frame shows one time bin: pixels with ``p = 1`` events (ON in tonic's convention) in green,
``p = 0`` (OFF) in red, both in yellow, on black. The title names the class, recording, group
and lighting, the sample id, and **SYNTHETIC** or **REAL**; each frame carries its time window.

Frames come from the sample's events binned with ``time_window_us`` (default 50 ms, like the
published ``animate_events``), or from a cache view (``view="stbp"``: that view's bins, whole
sample, no crop).

A 1-D sensor (SHD, N-TIDIGITS: sensor size ``(channels, 1, 1)``) has no image to animate: its
sample is drawn as a raster plot instead (:mod:`eventpipe.report.raster`): ``out`` gets the
events as dots (time against channel), or the view's bins with ``view=``; ``grid`` gets the bins
as an image (channel against bin).

Orientation: images are drawn upright as jAER shows the scene (y up). The published address
orientation stores ``(x, y) = (y_jaer, 127 - x_jaer)``, so its frames are transposed and rotated
for display; ``orient="stored"`` draws the array as stored (row = y, column = x).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eventpipe.cache.hdf5 import CacheFile
from eventpipe.errors import CacheError
from eventpipe.report.raster import is_one_d, write_bin_raster, write_event_raster

ON_RGB = (40, 220, 70)
OFF_RGB = (235, 50, 50)
BOTH_RGB = (240, 220, 40)
HEADER_PX = 34
LABEL_PX = 14


@dataclass(frozen=True)
class ShowResult:
    """What :func:`show_sample` drew.

    Attributes:
        title: the title line. n_frames: frames in the animation (= time bins).
        frame_size: ``(width, height)`` of each GIF frame in pixels. gif, grid: written files.
        grid_size: ``(width, height)`` of the PNG grid (None without a grid).
        grid_frames: indices of the frames shown in the grid.
        kind: ``"frames"`` (an animation) or ``"raster"`` (a 1-D sensor's raster plot; then
            ``frame_size`` is the image size).
    """

    title: str
    n_frames: int
    frame_size: tuple[int, int]
    gif: Path | None
    grid: Path | None
    grid_size: tuple[int, int] | None
    grid_frames: tuple[int, ...]
    kind: str = "frames"


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def colour_frames(frames: np.ndarray) -> np.ndarray:
    """``[T, P, H, W]`` counts -> ``[T, H, W, 3]`` uint8 RGB (p=1 green, p=0 red, both yellow).

    >>> f = np.zeros((1, 2, 1, 3)); f[0, 1, 0, 0] = 1; f[0, 0, 0, 1] = 2; f[0, :, 0, 2] = 1
    >>> colour_frames(f)[0, 0].tolist()
    [[40, 220, 70], [235, 50, 50], [240, 220, 40]]
    """
    frames = np.asarray(frames)
    on = frames[:, 1] > 0 if frames.shape[1] > 1 else frames[:, 0] > 0
    off = frames[:, 0] > 0 if frames.shape[1] > 1 else np.zeros_like(on)
    rgb = np.zeros((*on.shape, 3), dtype=np.uint8)
    rgb[on & ~off] = ON_RGB
    rgb[off & ~on] = OFF_RGB
    rgb[on & off] = BOTH_RGB
    return rgb


def upright(rgb: np.ndarray, orientation: str, orient: str = "upright") -> np.ndarray:
    """``[T, H, W, 3]`` images as stored -> as displayed (see the module docstring)."""
    if orient == "stored":
        return rgb
    if orient != "upright":
        raise ValueError(f"orient must be 'upright' or 'stored', got {orient!r}")
    if orientation == "published":  # image[r, c] = frame[127 - c, 127 - r]
        return rgb.transpose(0, 2, 1, 3)[:, ::-1, ::-1]
    return rgb[:, ::-1]  # jaer: y up


def sample_frames(
    cache: CacheFile, row: int, view: str | None = None, time_window_us: int = 50_000
) -> tuple[np.ndarray, int]:
    """Dense ``[T, P, H, W]`` frames of sample row ``row`` and the bin width in us."""
    if view is not None:
        v = cache.view(view)
        return v.dense(row, dtype=np.uint16), v.dt_us
    from eventpipe.kernels.binning import bin_dense

    events = cache.events(row)
    if len(events) == 0:
        w, h, p = cache.sensor_size
        return np.zeros((1, p, h, w), np.uint16), int(time_window_us)
    return bin_dense(events, cache.sensor_size, int(time_window_us), "SUM"), int(time_window_us)


def _find_row(cache: CacheFile, sample_id: int) -> int:
    ids = cache.samples["sample_id"].to_numpy()
    hit = np.flatnonzero(ids == int(sample_id))
    if not len(hit):
        raise CacheError(
            f"{cache.path}: no sample {sample_id}; this cache holds {len(ids)} samples with ids "
            f"{ids.min() if len(ids) else '-'}..{ids.max() if len(ids) else '-'}"
        )
    return int(hit[0])


def show_sample(
    cache: str | os.PathLike,
    sample: int,
    out: str | os.PathLike | None = "sample.gif",
    grid: str | os.PathLike | None = None,
    view: str | None = None,
    time_window_us: int = 50_000,
    fps: float = 20.0,
    scale: int = 3,
    grid_max_frames: int = 24,
    grid_columns: int = 8,
    orient: str = "upright",
) -> ShowResult:
    """Write an animated GIF (``out``) and/or a PNG grid (``grid``) of sample id ``sample``.

    Args:
        cache: the HDF5 cache.
        sample: the sample id (``/samples.sample_id``; for SL-Animals ``recording * 19 + row``).
        out: GIF path (None: no GIF). grid: PNG path (None: no grid).
        view: draw this view's bins instead of binning the events.
        time_window_us: bin width when drawing events (default 50 ms).
        fps: GIF frame rate. scale: pixel magnification of the GIF (the grid uses ``scale - 1``,
            at least 1).
        grid_max_frames: at most this many frames in the grid, evenly spaced over the sample.
        grid_columns: tiles per grid row. orient: ``"upright"`` or ``"stored"``.

    Returns:
        :class:`ShowResult`.
    """
    with CacheFile(cache) as c:
        row = _find_row(c, sample)
        meta = c.samples.iloc[row]
        frames, dt_us = sample_frames(c, row, view, time_window_us)
        orientation = str(c.profile.get("orientation", "published"))
        tag = "SYNTHETIC" if c.synthetic else "REAL"
        events = c.events(row) if is_one_d(c.sensor_size) and view is None else None
    source = f"view {view}" if view else f"events, {time_window_us / 1000:g} ms bins"
    title = (
        f"{meta['class_name']} (class {int(meta['class_id'])}) | {meta['recording']} | "
        f"{meta['group']} {meta['lighting']} | sample {int(meta['sample_id'])} | {tag}"
    )
    if frames.shape[2] == 1:  # a 1-D sensor: raster plots, not an animation
        return _show_raster(frames, dt_us, events, title, source, out, grid)
    rgb = np.ascontiguousarray(upright(colour_frames(frames), orientation, orient))
    n, h, w = rgb.shape[:3]
    gif_path = grid_path = grid_size = None
    picks: tuple[int, ...] = ()
    frame_size = (w * scale, h * scale + HEADER_PX)
    if out is not None:
        gif_path = _write_gif(Path(out), rgb, title, source, dt_us, scale, fps)
    if grid is not None:
        picks = tuple(np.unique(np.linspace(0, n - 1, min(n, grid_max_frames)).round().astype(int)))
        grid_size = _write_grid(Path(grid), rgb, picks, title, source, dt_us, scale, grid_columns)
        grid_path = Path(grid)
    return ShowResult(title, n, frame_size, gif_path, grid_path, grid_size, picks)


def _show_raster(
    frames: np.ndarray,
    dt_us: int,
    events: np.ndarray | None,
    title: str,
    source: str,
    out: str | os.PathLike | None,
    grid: str | os.PathLike | None,
) -> ShowResult:
    """A 1-D sensor's sample: ``out`` = events as dots (bins with a view), ``grid`` = bins."""
    size = grid_size = None
    if out is not None:
        if events is not None:
            size = write_event_raster(out, events["x"], events["t"], frames.shape[3], title)
        else:
            size = write_bin_raster(out, frames, dt_us, title, source)
    if grid is not None:
        grid_size = write_bin_raster(grid, frames, dt_us, title, source)
    return ShowResult(
        title,
        len(frames),
        size or grid_size or (0, 0),
        Path(out) if out is not None else None,
        Path(grid) if grid is not None else None,
        grid_size,
        (),
        kind="raster",
    )


def _write_gif(
    path: Path, rgb: np.ndarray, title: str, source: str, dt_us: int, scale: int, fps: float
) -> Path:
    """An animated GIF of ``rgb`` frames (``[n, H, W, 3]`` uint8), a caption per frame."""
    from PIL import Image, ImageDraw

    n, h, w = rgb.shape[:3]
    duration_ms = n * dt_us / 1000
    small = _font(10)
    images = []
    for k in range(n):
        im = Image.new("RGB", (w * scale, h * scale + HEADER_PX), (0, 0, 0))
        big = Image.fromarray(rgb[k]).resize((w * scale, h * scale), Image.NEAREST)
        im.paste(big, (0, HEADER_PX))
        d = ImageDraw.Draw(im)
        d.text((3, 2), title, fill=(255, 255, 255), font=small)
        t0, t1 = k * dt_us / 1000, (k + 1) * dt_us / 1000
        d.text(
            (3, 17),
            f"{t0:g}-{t1:g} ms of {duration_ms:g} ms ({source})   ON green / OFF red",
            fill=(200, 200, 200),
            font=small,
        )
        images.append(im)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=max(round(1000 / fps), 20),
        loop=0,
        disposal=1,
        optimize=False,
    )
    return path


def _write_grid(
    path: Path,
    rgb: np.ndarray,
    picks: tuple[int, ...],
    title: str,
    source: str,
    dt_us: int,
    scale: int,
    columns: int,
) -> tuple[int, int]:
    """A PNG sheet of the ``picks`` frames of ``rgb`` (tiles at ``scale - 1``); its size."""
    from PIL import Image, ImageDraw

    n, h, w = rgb.shape[:3]
    font, small = _font(12), _font(10)
    gs = max(scale - 1, 1)
    cols = min(columns, len(picks))
    rows = -(-len(picks) // cols)
    pad = 4
    tw, th = w * gs, h * gs + LABEL_PX
    gw, gh = cols * tw + (cols + 1) * pad, HEADER_PX + rows * (th + pad) + pad
    sheet = Image.new("RGB", (gw, gh), (25, 25, 25))
    d = ImageDraw.Draw(sheet)
    d.text((pad, 2), title, fill=(255, 255, 255), font=font)
    d.text(
        (pad, 18),
        f"{len(picks)} of {n} frames ({source}), ON green / OFF red",
        fill=(200, 200, 200),
        font=small,
    )
    for j, k in enumerate(picks):
        x0 = pad + (j % cols) * (tw + pad)
        y0 = HEADER_PX + (j // cols) * (th + pad)
        tile = Image.fromarray(rgb[k]).resize((w * gs, h * gs), Image.NEAREST)
        sheet.paste(tile, (x0, y0 + LABEL_PX))
        d.text((x0, y0 + 1), f"{k * dt_us / 1000:g} ms", fill=(220, 220, 220), font=small)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return gw, gh


__all__ = ["ShowResult", "colour_frames", "sample_frames", "show_sample", "upright"]
