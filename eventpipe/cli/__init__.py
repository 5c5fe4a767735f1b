"""Command line: a thin click group over importable functions.

Each subcommand lives in its own module in this package and only parses options and calls a
public function. Expected failures (:class:`~eventpipe.errors.EventpipeError`) are printed as one
clear message, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import importlib

import click

from eventpipe import __version__
from eventpipe.runtime.commands import run_command

#: subcommand name -> module in eventpipe.cli defining a click command called ``command``.
COMMANDS = {
    "synth": "synth",
    "summary": "summary",
    "build": "build",
    "inspect": "inspect_cmd",
    "export": "export",
    "show": "show",
}


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when it is used (keeps ``--help`` fast)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"eventpipe.cli.{COMMANDS[name]}")
        return module.command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eventpipe")
def cli() -> None:
    """eventpipe: event-camera recordings -> versioned training caches."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into a message and exit status 2."""
    run_command(cli, argv, "python -m eventpipe")
