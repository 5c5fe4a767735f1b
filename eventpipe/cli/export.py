"""``python -m eventpipe export``: a cache -> published ``.npy`` slices or a Parquet dataset.

Thin wrapper over :func:`eventpipe.interop.npy.export_npy` and
:func:`eventpipe.cache.parquet.export_parquet`.
"""

from __future__ import annotations

import click


@click.command(name="export")
@click.option(
    "--cache",
    type=click.Path(dir_okay=False),
    default="data/cache.h5",
    show_default=True,
    help="HDF5 cache to export.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["npy", "parquet"]),
    default="npy",
    show_default=True,
    help="npy = one <recording>_<NN>.npy per sample, as the published slice_data.py writes; "
    "parquet = the Parquet dataset (samples.parquet + events/recording=<stem>/).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Output directory (npy: e.g. SL-animals-DVS-stbp/data/sliced_recordings).",
)
@click.option(
    "--recording",
    "recordings",
    multiple=True,
    metavar="STEM",
    help="Export only this recording (repeatable; npy only).",
)
@click.option(
    "--relative-time",
    is_flag=True,
    help="npy: keep t from 0 per sample instead of the absolute recording clock.",
)
def command(
    cache: str, fmt: str, out: str, recordings: tuple[str, ...], relative_time: bool
) -> None:
    """Export CACHE's samples for tools that do not read eventpipe caches."""
    from eventpipe.cache.hdf5 import CacheFile

    with CacheFile(cache) as c:
        synthetic = c.synthetic
    tag = "SYNTHETIC" if synthetic else "REAL"
    if fmt == "parquet":
        if recordings or relative_time:
            raise click.UsageError("--recording/--relative-time apply to --format npy only")
        from eventpipe.cache.parquet import export_parquet

        root = export_parquet(cache, out)
        click.echo(f"wrote Parquet dataset {root} ({tag} data)")
        return
    from eventpipe.interop.npy import export_npy

    paths = export_npy(
        cache,
        out,
        recordings=recordings or None,
        absolute_time=not relative_time,
        progress=True,
    )
    click.echo(f"wrote {len(paths)} slices <recording>_<NN>.npy to {out} ({tag} data)")
