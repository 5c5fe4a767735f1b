"""`python -m eventpipe export` (stub, replaced by its owner)."""

import click


@click.command(name="export")
def command() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
