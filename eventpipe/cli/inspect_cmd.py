"""`python -m eventpipe inspect` (stub, replaced by its owner)."""

import click


@click.command(name="inspect")
def command() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
