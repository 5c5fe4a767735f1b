"""``python -m eventpipe show CACHE --sample N --out sample.gif``: look at one sample.

Thin wrapper over :func:`eventpipe.report.show.show_sample`.
"""

from __future__ import annotations

import click


@click.command(name="show")
@click.argument("cache", type=click.Path(dir_okay=False), default="data/cache.h5")
@click.option(
    "--sample",
    type=int,
    required=True,
    help="Sample id (/samples sample_id; SL-Animals-DVS: recording index * 19 + row).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="sample.gif",
    show_default=True,
    help="Animated GIF to write.",
)
@click.option("--grid", type=click.Path(dir_okay=False), default=None, help="Also a PNG grid.")
@click.option("--view", default=None, help="Draw a cache view's bins (stbp, slayer, ...).")
@click.option(
    "--window-ms",
    type=click.FloatRange(min=0.001),
    default=50.0,
    show_default=True,
    help="Bin width when drawing the events (no --view).",
)
@click.option("--fps", type=click.FloatRange(min=1), default=20.0, show_default=True)
@click.option("--scale", type=click.IntRange(min=1, max=8), default=3, show_default=True)
@click.option(
    "--orient",
    type=click.Choice(["upright", "stored"]),
    default="upright",
    show_default=True,
    help="upright = as jAER shows the scene; stored = array rows are y, columns x.",
)
def command(
    cache: str,
    sample: int,
    out: str,
    grid: str | None,
    view: str | None,
    window_ms: float,
    fps: float,
    scale: int,
    orient: str,
) -> None:
    """Animate sample N of CACHE (ON green, OFF red), title with class, recording, group.

    A 1-D sensor (SHD, N-TIDIGITS) is drawn as a raster plot (time against channel) instead;
    the image type follows the --out extension (.gif, .png, .svg, .pdf).
    """
    from eventpipe.report.show import show_sample

    res = show_sample(
        cache,
        sample,
        out=out,
        grid=grid,
        view=view,
        time_window_us=round(window_ms * 1000),
        fps=fps,
        scale=scale,
        orient=orient,
    )
    click.echo(res.title)
    w, h = res.frame_size
    if res.kind == "raster":  # a 1-D sensor (SHD, N-TIDIGITS)
        if res.gif is not None:
            click.echo(f"wrote {res.gif} (raster plot, {w}x{h})")
        if res.grid is not None:
            click.echo(f"wrote {res.grid} (bins as an image, {res.n_frames} bins)")
        return
    click.echo(f"wrote {res.gif} ({res.n_frames} frames, {w}x{h})")
    if res.grid is not None:
        click.echo(f"wrote {res.grid} ({len(res.grid_frames)} frames)")
