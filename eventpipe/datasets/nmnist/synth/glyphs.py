"""Digit glyphs for the synthetic N-MNIST: strokes per digit, per-sample shape jitter, rendering.

Each digit is a few polylines (straight strokes and elliptic arcs) in a unit box (``x`` right,
``y`` down, both 0..1). A sample's glyph is that box scaled to ``height`` x ``width`` pixels,
sheared (slant), wobbled by a smooth per-sample warp and placed at ``(left, top)``; it is drawn
as anti-aliased strokes of ``thickness`` pixels: intensity ``clip(thickness / 2 + 0.5 - d, 0,
1)`` at distance ``d`` (px) from the nearest stroke, bright digit on a dark background (as MNIST
shown on the recording monitor).

Images are rendered on a padded pixel grid (:data:`PAD` pixels on the low sides and 1 on the
high sides) so that the saccade shifts of :mod:`.render` are plain slices.

>>> import numpy as np
>>> p = draw_params(np.random.default_rng(0), 2)
>>> render_glyphs(np.array([1, 8]), p).shape
(2, 43, 43)
"""

from __future__ import annotations

import numpy as np

#: sensor side (px)
SIDE = 34
#: padding (px) on the low x / y side of a rendered glyph (>= the largest saccade shift + 1)
PAD = 8
#: padded grid side: pixel centres ``-PAD .. SIDE`` (the extra one for bilinear shifts)
GRID = SIDE + PAD + 1


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> np.ndarray:
    """Points of an elliptic arc from angle ``a0`` to ``a1`` (degrees; 90 = down), ~30 deg apart."""
    n = max(2, int(abs(a1 - a0) / 30) + 1)
    a = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def _line(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=np.float64)


#: each digit's polylines in the unit box
STROKES: dict[int, list[np.ndarray]] = {
    0: [_arc(0.5, 0.5, 0.42, 0.5, 0, 360)],
    1: [_line((0.25, 0.2), (0.55, 0.0), (0.55, 1.0))],
    2: [np.vstack([_arc(0.5, 0.28, 0.4, 0.28, 190, 400), _line((0.08, 1.0), (0.95, 1.0))])],
    3: [
        np.vstack([_arc(0.48, 0.25, 0.38, 0.25, 200, 450), _arc(0.48, 0.75, 0.42, 0.25, 270, 520)])
    ],
    4: [_line((0.72, 1.0), (0.72, 0.0), (0.05, 0.68), (0.95, 0.68))],
    5: [np.vstack([_line((0.85, 0.0), (0.22, 0.0)), _arc(0.5, 0.68, 0.4, 0.32, 215, 520)])],
    6: [_arc(0.52, 0.55, 0.4, 0.55, 290, 170), _arc(0.5, 0.72, 0.36, 0.28, 180, 540)],
    7: [_line((0.05, 0.0), (0.95, 0.0), (0.35, 1.0))],
    8: [_arc(0.5, 0.26, 0.32, 0.26, 0, 360), _arc(0.5, 0.74, 0.4, 0.26, 0, 360)],
    9: [_arc(0.48, 0.3, 0.36, 0.3, 0, 360), _line((0.84, 0.3), (0.75, 1.0))],
}


def _segments() -> np.ndarray:
    """``[10, S, 4]`` stroke segments ``(x0, y0, x1, y1)`` per digit, padded with far points."""
    per = [np.vstack([np.hstack([p[:-1], p[1:]]) for p in STROKES[d]]) for d in range(10)]
    out = np.full((10, max(len(s) for s in per), 4), 1e4)
    for d, s in enumerate(per):
        out[d, : len(s)] = s
    return out


SEGMENTS = _segments()


def draw_params(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-sample glyph parameters (px): height, width, slant, wobble, thickness, placement."""
    height = rng.uniform(17.0, 21.0, n)
    return {
        "height": height,
        "width": height * rng.uniform(0.55, 0.75, n),
        "slant": rng.uniform(-0.2, 0.1, n),
        "wobble": rng.uniform(0.0, 0.05, (n, 2)),
        "phase": rng.uniform(0.0, 1.0, (n, 2)),
        "thickness": rng.uniform(1.8, 3.0, n),
        "left": rng.uniform(3.0, 6.0, n),
        "top": rng.uniform(2.0, 4.5, n),
    }


def _place(digits: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """``[B, S, 4]`` segments of each sample's glyph in pixel coordinates."""
    seg = SEGMENTS[digits].copy()
    for i in (0, 2):
        ux, uy = seg[..., i], seg[..., i + 1]
        ux = ux + p["wobble"][:, :1] * np.sin(2 * np.pi * (uy + p["phase"][:, :1]))
        uy = uy + p["wobble"][:, 1:] * np.sin(2 * np.pi * (ux + p["phase"][:, 1:]))
        h, w = p["height"][:, None], p["width"][:, None]
        seg[..., i] = p["left"][:, None] + w * ux - p["slant"][:, None] * h * (uy - 1)
        seg[..., i + 1] = p["top"][:, None] + h * uy
    return np.where(SEGMENTS[digits] > 1e3, 1e4, seg)


def render_glyphs(digits: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """Render each sample's glyph on the padded grid.

    Args:
        digits: int ``[B]`` classes.
        params: :func:`draw_params` of ``B`` samples.

    Returns:
        float32 ``[B, GRID, GRID]`` intensity in 0..1 (``[b, PAD + y, PAD + x]`` is pixel
        ``(x, y)`` of the unshifted glyph), indexed ``[sample, row, column]``.
    """
    seg = _place(np.asarray(digits), params).astype(np.float32)
    c = np.arange(-PAD, SIDE + 1, dtype=np.float32)
    py = np.repeat(c, GRID)[None, :, None]  # [1, N, 1] pixel centres, row-major
    px = np.tile(c, GRID)[None, :, None]
    ax, ay = seg[:, None, :, 0], seg[:, None, :, 1]  # [B, 1, S]
    dx, dy = seg[:, None, :, 2] - ax, seg[:, None, :, 3] - ay
    len2 = np.maximum(dx * dx + dy * dy, 1e-6)
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / len2, 0.0, 1.0)
    ex, ey = px - ax - t * dx, py - ay - t * dy
    dist = np.sqrt((ex * ex + ey * ey).min(axis=2))  # [B, N]
    half = params["thickness"].astype(np.float32)[:, None] / 2 + 0.5
    img = np.clip(half - dist, 0.0, 1.0)
    return img.reshape(len(seg), GRID, GRID)


__all__ = ["GRID", "PAD", "SEGMENTS", "SIDE", "STROKES", "draw_params", "render_glyphs"]
