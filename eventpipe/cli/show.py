"""`python -m eventpipe show` (stub, replaced by its owner)."""

import click


@click.command(name="show")
def command() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
