"""Command line: a thin click group over importable functions.

Each subcommand lives in its own module in this package and only parses options and calls a
public function. Expected failures (:class:`~eventpipe.errors.EventpipeError`) are printed as one
clear message, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import click

from eventpipe import __version__
from eventpipe.errors import EventpipeError

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


def run_command(
    command: click.Command,
    argv: list[str] | None,
    prog_name: str,
    expected: tuple[type[BaseException], ...] = (EventpipeError,),
    is_expected: Callable[[BaseException], bool] = lambda exc: False,
) -> None:
    """Run a click command as a program: expected errors become one message and exit status 2.

    Args:
        command: the click command or group.
        argv: arguments (``None``: ``sys.argv[1:]``).
        prog_name: shown in usage lines, e.g. ``"python -m eventpipe"``.
        expected: exception types printed as ``error: ...`` without a traceback.
        is_expected: further exceptions to treat so (e.g. a CUDA ``RuntimeError``).
    """
    try:
        command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:
        if not (isinstance(exc, expected) or is_expected(exc)):
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into a message and exit status 2."""
    run_command(cli, argv, "python -m eventpipe")
