"""`python -m eventpipe build` (stub, replaced by its owner)."""

import click


@click.command(name="build")
def command() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
