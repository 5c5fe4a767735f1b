"""`python -m eventpipe summary` (stub, replaced by its owner)."""

import click


@click.command(name="summary")
def command() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
