"""`python -m eventpipe synth` (stub, replaced by its owner)."""

import click


@click.command(name="synth")
def command() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
