"""``python -m eventpipe inspect CACHE [--json]``: what a cache holds (thin wrapper)."""

from __future__ import annotations

import json

import click


@click.command(name="inspect")
@click.argument("cache", type=click.Path(dir_okay=False), default="data/cache.h5")
@click.option(
    "--parquet",
    type=click.Path(file_okay=False),
    default=None,
    help="Parquet dataset to report on (default: CACHE with suffix .parquet).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def command(cache: str, parquet: str | None, as_json: bool) -> None:
    """Show profile and hash, SYNTHETIC or REAL, counts, sample lengths, views and file sizes."""
    from eventpipe.report.inspect import inspect_cache, render

    info = inspect_cache(cache, parquet=parquet)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        render(info)
